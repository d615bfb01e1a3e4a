"""An agent books for a caller, in headless Chromium, with a real call through the local carrier
emulator and the routing engine: Ms Wang (aged 70+) presses 0, her file pops up, the agent
answers, opens "book, move, cancel" from the screen pop, finds cardiology's free places and
books one for her; the booking is the agent's, on the call, and audited."""

from __future__ import annotations

from playwright.sync_api import expect
from sqlalchemy import select

from records.models import Appointment, AuditEntry, SmsMessage
from records.seats import set_skills
from tests.acd.conftest import carrier, clock, environ, hotline, network  # noqa: F401  (whole-call fixtures)
from tests.talking import in_talk, soon
from tests.test_sms import MS_WANG, patient
from tests.web import log_in_page, make_staff

MS_WANGS_PHONE = "+8613800138000"


def test_an_agent_books_for_the_caller_from_the_screen_pop(app, db, server, page, dial):
    agent = make_staff(app, "agent", "agent-zhou", display_name="周坐席")
    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, agent.id, {"general": 3, "booking": 3})
    log_in_page(page, server, agent.username, agent.password)
    page.get_by_role("button", name="空闲 Available").click()
    expect(page.locator("#state")).to_have_text("空闲 Available")

    call = dial(MS_WANGS_PHONE)
    call.press("0")
    pop = page.locator("#screen-pop")
    expect(pop.locator(".file-name")).to_contain_text("王秀英")
    page.get_by_role("button", name="接听 Answer").click()
    expect(page.locator("#state")).to_have_text("通话中 On call")
    assert soon(lambda: in_talk(call))

    # The booking page opens in a new tab: the console stays online.
    with page.context.expect_page() as opened:
        pop.get_by_role("link", name="预约、改约、取消、候补 Book, move, cancel, waiting list").click()
    desk = opened.value
    desk.wait_for_load_state()
    expect(desk.locator("h1 .mrn")).to_have_text(MS_WANG)
    desk.get_by_label("科室 Department").select_option("CARD")
    desk.get_by_role("button", name="查找 Search").click()
    first = desk.locator("tr.session").filter(has=desk.get_by_role("button", name="预约 Book")).first
    expect(first).to_be_visible()
    session_id = int(first.get_attribute("data-session-id"))
    first.get_by_role("button").click()
    expect(desk.get_by_role("alert")).to_contain_text("预约成功")
    expect(desk.locator("table.upcoming tr.appointment")).to_have_count(1)
    expect(desk.locator("table.upcoming")).to_contain_text("agent")

    db.rollback()
    wang = patient(db, MS_WANG).id
    [appointment] = db.scalars(select(Appointment).where(Appointment.patient_id == wang)).all()
    assert (appointment.session_id, appointment.channel, appointment.booked_by_id, appointment.call_sid) == (
        session_id,
        "agent",
        agent.id,
        call.sid,
    )
    expect(desk.get_by_role("alert")).to_contain_text(appointment.reference)  # read back to her
    sms = db.scalar(select(SmsMessage).where(SmsMessage.appointment_id == appointment.id))
    assert sms.kind == "confirmation" and sms.call_sid == call.sid
    audit = db.scalars(select(AuditEntry).where(AuditEntry.staff_id == agent.id).order_by(AuditEntry.id)).all()
    assert [(a.action, a.call_sid) for a in audit] == [
        ("view_file", call.sid),  # the screen pop
        ("view_file", call.sid),  # the booking page
        ("view_file", call.sid),  # its search
        ("book_for_patient", call.sid),
        ("view_file", call.sid),  # the page again, with the booking
    ]
    page.get_by_role("button", name="挂断 Hang up").click()
    expect(page.locator("#wrap-up")).to_be_visible()
