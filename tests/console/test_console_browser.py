"""The agent console end to end, in headless Chromium, with a real call through the local
carrier emulator and the routing engine (nothing faked): the agent logs in and goes
available, Ms Wang dials and presses 0, her file pops up before the agent answers, the
agent answers, hangs up, wraps up as a complaint and opens a case, and finds it in
"my cases"."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from records.models import AuditEntry, ComplaintCase, WrapUp
from records.seats import set_skills
from tests.acd.conftest import carrier, clock, environ, hotline, network  # noqa: F401  (whole-call fixtures)
from tests.talking import in_talk, soon
from tests.test_sms import MS_WANG, patient
from tests.web import log_in_page, make_staff

MS_WANGS_PHONE = "+8613800138000"


def test_an_agent_takes_a_call_with_the_callers_file_on_screen_and_opens_a_complaint_case(app, db, server, page, dial):
    agent = make_staff(app, "agent", "agent-wu", display_name="吴坐席")
    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, agent.id, {"general": 3, "complaints": 3})

    log_in_page(page, server, agent.username, agent.password)
    expect(page).to_have_url(f"{server}/agent")
    expect(page.locator("#state")).to_have_text("离线 Offline")
    page.get_by_role("button", name="空闲 Available").click()
    expect(page.locator("#state")).to_have_text("空闲 Available")
    expect(page.locator("#queues")).to_contain_text("综合咨询")

    call = dial(MS_WANGS_PHONE)
    call.press("0")

    # The offer rings, and the caller's file is on screen before the agent answers.
    offer = page.locator("#offer")
    expect(offer).to_be_visible()
    expect(page.locator("#state")).to_have_text("振铃 Ringing")
    expect(page.locator("#offer-caller")).to_have_text("+86****00")
    expect(page.locator("#offer-queue")).to_have_text("综合咨询 general enquiries")
    ring_for = app.extensions["hotline"].settings.routing.offer_timeout_seconds
    countdown = int(page.locator("#offer-countdown").inner_text())
    assert 0 < countdown <= ring_for  # the server's ring time, whatever the browser's clock says
    pop = page.locator("#screen-pop")
    expect(pop.locator(".file-name")).to_contain_text("王秀英")
    expect(pop.locator(".mrn")).to_have_text(MS_WANG)
    expect(pop.locator(".categories")).to_contain_text("70岁以上 Aged 70+")
    assert "13800138000" not in pop.inner_text()

    page.get_by_role("button", name="接听 Answer").click()
    expect(page.locator("#call")).to_be_visible()
    expect(page.locator("#state")).to_have_text("通话中 On call")
    assert soon(lambda: in_talk(call))  # the emulated agent leg picked up: in the talk with Ms Wang
    expect(pop.locator(".file-name")).to_contain_text("王秀英")  # the file stays while they talk

    page.get_by_role("button", name="挂断 Hang up").click()
    expect(page.locator("#wrap-up")).to_be_visible()
    expect(page.locator("#state")).to_have_text("话后处理 Wrap-up")
    wrap_up_for = app.extensions["hotline"].settings.routing.queues["general"].wrap_up_seconds
    assert 0 < int(page.locator("#wrap-up-countdown").inner_text()) <= wrap_up_for

    page.get_by_label("结果 Disposition").select_option("complaint")
    expect(page.get_by_label("建立投诉 Open a complaint case")).to_be_checked()  # complaints offer a case
    expect(page.get_by_label("病历号 Record number")).to_have_value(MS_WANG)  # prefilled from the call
    page.get_by_label("备注 Notes").fill("患者投诉药房取药排队一小时")
    expect(page.get_by_label("投诉内容 What the complaint is about")).to_have_value("患者投诉药房取药排队一小时")
    page.get_by_role("button", name="完成 Finish wrap-up").click()

    expect(page.locator("#case-opened")).to_contain_text("投诉已建立 Complaint case opened")
    expect(page.locator("#state")).to_have_text("空闲 Available")  # wrap-up over, ready for the next caller

    page.once("dialog", lambda dialog: dialog.accept())  # leaving the console: the browser asks first
    page.get_by_role("navigation").get_by_role("link", name="我的投诉 My cases").click()
    row = page.locator("tr.case-row", has_text="患者投诉药房取药排队一小时")
    expect(row).to_contain_text("王秀英")
    expect(row).to_contain_text("处理中 Open")

    db.rollback()
    db.expire_all()
    [case] = db.scalars(select(ComplaintCase)).all()
    wang = patient(db, MS_WANG).id
    assert (case.patient_id, case.owner_id, case.source, case.call_sid) == (wang, agent.id, "call", call.sid)
    assert [link.call_sid for link in case.calls] == [call.sid]
    [wrap_up] = db.scalars(select(WrapUp)).all()
    assert (wrap_up.call_sid, wrap_up.disposition, wrap_up.notes) == (
        call.sid,
        "complaint",
        "患者投诉药房取药排队一小时",
    )
    # One look at the file, for this call, however many times the console polled; and the
    # case opened for her, with the call as its reason.
    audit = db.scalars(select(AuditEntry).order_by(AuditEntry.id)).all()
    assert [(a.staff_id, a.action, a.patient_id, a.call_sid) for a in audit] == [
        (agent.id, "view_file", wang, call.sid),
        (agent.id, "open_case", wang, call.sid),
    ]
