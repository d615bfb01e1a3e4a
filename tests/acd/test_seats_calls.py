"""Whole calls through the carrier emulator: callers who ask for a person reach the
right agent, wait their turn, are called back, leave a voicemail."""

from __future__ import annotations

from ivr.agents import seats

UNKNOWN = "+8613912345678"
MS_WANG = "+8613800138000"  # aged 70+
MR_LI = "+8613910002000"  # VIP, English


def on_duty(hotline, staff_id, skills, name=None):
    assert hotline.acd.set_state(
        staff_id, "available", hotline.now().timestamp(), name=name or f"agent{staff_id}", skills=skills
    ).ok
    seats.dispatch(hotline)


def sweep(hotline, *alive):
    """The scheduler's sweep; the consoles of `alive` agents have kept sending heartbeats."""
    for staff_id in alive:
        hotline.acd.heartbeat(staff_id, hotline.now().timestamp())
    return seats.sweep(hotline)


def ringing(carrier, staff_id):
    try:
        return carrier.ringing(f"client:agent-{staff_id}")
    except LookupError:
        return None


def queue_events(hotline, call_sid):
    kinds = ("enqueue", "offer", "missed_offer", "answer", "abandon", "queue_timeout", "callback_requested",
             "transfer", "talk_end", "wrap_up_end", "voicemail", "callback_failed")  # fmt: skip
    return [(e.kind, e.detail) for e in hotline.calls.events(call_sid) if e.kind in kinds and "queue" in e.detail]


def kinds(hotline, call_sid):
    return [kind for kind, _ in queue_events(hotline, call_sid)]


def test_zero_at_a_department_reaches_an_available_agent_of_its_desk(dial, carrier, hotline):
    on_duty(hotline, 1, {"general": 5})
    on_duty(hotline, 2, {"medicine": 3})
    call = dial(UNKNOWN)
    call.press("2")
    call.press("1")  # the first department: cardiology, at the medicine desk
    call.take_text()
    call.press("0")
    assert "正在为您转接内科咨询台" in call.take_text()
    assert ringing(carrier, 1) is None
    leg = ringing(carrier, 2)
    assert leg is not None and hotline.acd.agent(2)["state"] == "reserved"
    leg.answer()
    assert call.waiting_for == "bridge" and call.bridged_with.sid == leg.sid
    assert hotline.acd.agent(2)["state"] == "on_call"
    leg.wait(90)
    leg.hangup()
    call.wait(10)
    assert call.take_text() == "祝您健康。 感谢您的来电，再见。" and call.ended
    assert hotline.acd.agent(2)["state"] == "wrap_up"
    events = queue_events(hotline, call.sid)
    assert [k for k, _ in events] == ["enqueue", "offer", "answer", "talk_end"]
    assert events[0][1] == {"queue": "medicine", "priority": 0}
    assert events[1][1] == {"queue": "medicine", "agent_id": 2}
    assert 90 <= events[3][1]["talk"] <= 93 and events[3][1]["agent_id"] == 2  # from the answer, whisper included


def test_two_callers_one_agent(dial, carrier, hotline):
    on_duty(hotline, 1, {"general": 2})
    first, second = dial(UNKNOWN), dial("+8613911112222")
    first.press("0")
    second.press("0")
    assert second.queue == "general"
    assert "您是下一位" in second.take_text()
    leg = ringing(carrier, 1)
    leg.answer()
    assert first.bridged_with.sid == leg.sid
    assert ringing(carrier, 1) is None  # one call at a time
    leg.wait(60)
    leg.hangup()
    assert second.queue == "general"  # general wraps up for 30 s
    carrier.advance(31)
    sweep(hotline, 1)
    second_leg = ringing(carrier, 1)
    assert second_leg is not None
    second_leg.answer()
    assert second.bridged_with.sid == second_leg.sid
    assert kinds(hotline, second.sid)[:3] == ["enqueue", "offer", "answer"]
