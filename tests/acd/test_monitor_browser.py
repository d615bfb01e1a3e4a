"""A supervisor listens to, whispers on and barges into an agent's call from the wallboard,
in headless Chromium (at 1366x768 and at a 390 px phone width), with a real call through the
carrier emulator: what each person hears is the emulator's conference audio."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect
from sqlalchemy import select

from records.models import AuditEntry
from tests.acd.test_agent_api import Console, agent_with
from tests.acd.test_call_controls import heard_from
from tests.acd.test_seats_calls import UNKNOWN, ringing
from tests.web import log_in_page, make_staff


@pytest.mark.parametrize("width,height", [(1366, 768), (390, 844)])
def test_listen_whisper_and_barge_from_the_wallboard(app, db, server, page, dial, carrier, width, height):
    page.set_viewport_size({"width": width, "height": height})
    agent = Console(app, agent_with(app, {"general": 3}, display_name="坐席小赵"))
    agent.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    agent_leg = ringing(carrier, agent.login.id)
    agent.post("answer", call_sid=call.sid)

    supervisor = make_staff(app, "supervisor", display_name="主管甲")
    log_in_page(page, server, supervisor.username, supervisor.password)
    page.goto(f"{server}/supervisor/wallboard")
    row = page.locator("#agent-list tr", has_text="坐席小赵")
    expect(row.locator(".state")).to_have_text("通话中 On call")
    expect(row.locator(".queue")).to_have_text("综合咨询 general enquiries")

    row.get_by_role("button", name="监听 Listen").click()  # no reason yet
    expect(page.locator("#monitor-status")).to_have_text("请填写监听原因 Give a reason for listening")
    page.locator("#monitor-reason").fill("新坐席质检 coaching")
    row.get_by_role("button", name="监听 Listen").click()
    expect(page.locator("#monitor-status")).to_have_text("监听中 Listening")
    [sup_leg] = [c for c in carrier.calls if c.to == f"client:agent-{supervisor.id}"]
    call.speak("我要预约")
    assert heard_from(sup_leg, call) == ["我要预约"]

    row.get_by_role("button", name="密语 Whisper").click()
    expect(page.locator("#monitor-status")).to_have_text("密语中 Whispering")
    sup_leg.speak("请先核对身份")
    assert heard_from(agent_leg, sup_leg) == ["请先核对身份"] and heard_from(call, sup_leg) == []

    row.get_by_role("button", name="插话 Barge in").click()
    expect(page.locator("#monitor-status")).to_have_text("已插话 Barged in")
    sup_leg.speak("您好")
    assert heard_from(call, sup_leg) == ["您好"]

    row.get_by_role("button", name="退出 Stop").click()
    expect(page.locator("#monitor-status")).to_have_text("已退出监听 Stopped listening")
    expect(row.get_by_role("button", name="监听 Listen")).to_be_visible()
    assert sup_leg.ended and not call.ended

    db.rollback()
    [audit] = db.scalars(select(AuditEntry).where(AuditEntry.action == "listen_call")).all()
    assert (audit.staff_id, audit.call_sid, audit.reason) == (supervisor.id, call.sid, "新坐席质检 coaching")
