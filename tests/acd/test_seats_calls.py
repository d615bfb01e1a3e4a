"""Whole calls through the carrier emulator: callers who ask for a person reach the
right agent, wait their turn, are called back, leave a voicemail."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from acd import seats
from tests.talking import talking

UNKNOWN = "+8613912345678"
MS_WANG = "+8613800138000"  # aged 70+
MR_LI = "+8613910002000"  # VIP, English


def on_duty(hotline, staff_id, skills, name=None):
    assert hotline.acd.set_state(
        staff_id, "available", hotline.now().timestamp(), name=name or f"agent{staff_id}", skills=skills
    ).ok
    seats.dispatch(hotline)


def on_break(hotline, staff_id, skills):
    """Logged in with these skills, on a break: callers for their queues wait for them."""
    now = hotline.now().timestamp()
    assert hotline.acd.set_state(staff_id, "break", now, reason="meal", name=f"agent{staff_id}", skills=skills).ok


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
    assert talking(call, leg)
    assert hotline.acd.agent(2)["state"] == "on_call"
    leg.wait(90)
    leg.hangup()
    call.wait(10)
    assert call.take_text().startswith("请您对本次服务进行评价")  # the satisfaction survey (issue 7)
    call.hangup()
    assert hotline.acd.agent(2)["state"] == "wrap_up"
    events = queue_events(hotline, call.sid)
    assert [k for k, _ in events] == ["enqueue", "offer", "answer", "talk_end"]
    assert events[0][1] == {"queue": "medicine", "priority": 0}
    assert events[1][1] == {"queue": "medicine", "agent_id": 2}
    assert 90 <= events[3][1]["talk"] <= 93 and events[3][1]["agent_id"] == 2  # from the answer, whisper included
    assert "recording" not in kinds_of(hotline, call.sid)  # routing.record_calls is off here


def test_a_caller_with_an_agent_free_is_put_through_in_the_answer_to_the_key(dial, carrier, hotline):
    """Never on hold nor redirected (issue 17): the agent's phone rings from the one webhook
    that answers the key, and the caller hears that webhook's TwiML into the talk."""
    on_duty(hotline, 1, {"general": 5})
    call = dial(UNKNOWN)
    call.press("0")
    assert call.take_text().endswith("正在为您转接综合咨询，请稍候。")
    leg = ringing(carrier, 1)
    assert leg is not None
    assert "Enqueue" not in call.verbs and call.verbs[-2:] == ["Dial", "Pause"]
    paths = [entry.url.split("?")[0].rsplit("/ivr/", 1)[-1] for entry in call.fetches]
    assert paths[-2:] == ["menu/main", "queue/ringing_wait"]  # no queue/connect, no queue/wait
    leg.answer()
    assert talking(call, leg)
    assert kinds(hotline, call.sid) == ["enqueue", "offer", "answer"]
    call.hangup()


def test_key_0_sent_again_joins_the_talk_the_first_sending_rang(dial, carrier, hotline):
    """nginx resends a request whose web server died in it: the key that put the caller
    through, sent again, joins the talk the first sending started (the agent's phone rings
    once), rather than holding the caller while the agent waits in the talk alone."""
    from tests.test_faults_resent_webhooks import Sendings

    on_duty(hotline, 1, {"general": 5})
    call = dial(UNKNOWN)
    sendings = Sendings(call)
    call.press("0")
    leg = ringing(carrier, 1)
    sendings.sent = [sent for sent in sendings.sent if "/ivr/menu/main" in sent[1]]
    twiml = sendings.again()
    assert "<Conference" in twiml and "<Enqueue" not in twiml
    assert [c for c in carrier.calls if c.to == "client:agent-1" and not c.ended] == [leg]
    leg.answer()
    assert talking(call, leg)
    assert kinds(hotline, call.sid) == ["enqueue", "offer", "answer"]
    call.hangup()


def test_key_0_sent_again_after_the_agent_answered_joins_the_talk(dial, carrier, hotline):
    """The same resending, arriving once the agent has answered the first sending's ring: the
    caller is put into that talk (where the agent waits for them), not on hold."""
    from tests.test_faults_resent_webhooks import Sendings

    on_duty(hotline, 1, {"general": 5})
    call = dial(UNKNOWN)
    sendings = Sendings(call)
    call.press("0")
    leg = ringing(carrier, 1)
    leg.answer()
    assert talking(call, leg) and hotline.acd.agent(1)["state"] == "on_call"
    sendings.sent = [sent for sent in sendings.sent if "/ivr/menu/main" in sent[1]]
    twiml = sendings.again()
    assert f">{call.sid}</Conference>" in twiml and "<Enqueue" not in twiml
    assert "正在为您转接综合咨询，请稍候。" in twiml  # the caller's word that they are connected
    assert [c for c in carrier.calls if c.to == "client:agent-1"] == [leg]  # not rung again
    assert hotline.acd.agent(1)["state"] == "on_call" and talking(call, leg)
    assert kinds(hotline, call.sid) == ["enqueue", "offer", "answer"]
    call.hangup()


def agent_legs(carrier, staff_id):
    return [c for c in carrier.calls if c.to == f"client:agent-{staff_id}"]


def test_an_agent_who_answers_during_the_put_through_line_hears_that_the_call_is_coming(dial, carrier, hotline):
    """The agent's phone rings while the caller still hears "正在为您转接…": an agent who picks
    up at once hears that the call is being put through until the caller is in, not silence."""
    on_duty(hotline, 1, {"general": 5})
    carrier.set_endpoint("client:agent-1", "answer")  # picks up as soon as it rings
    call = dial(UNKNOWN)
    call.press("0")
    assert call.take_text().endswith("正在为您转接综合咨询，请稍候。")
    [leg] = agent_legs(carrier, 1)
    assert talking(call, leg)
    room = carrier.conference(call.conference)
    agent, caller = room.participant(leg.sid), room.participant(call.sid)
    assert agent.joined_at < caller.joined_at  # the agent was in first, alone
    assert "来电转接中" in leg.take_text()
    leg.wait(30)
    assert "来电转接中" not in leg.take_text()  # once the caller is in, the talk
    leg.speak("您好")
    assert "您好" in [u.text for u in call.take_heard() if u.kind == "speech"]
    call.hangup()


def test_a_caller_who_hangs_up_during_the_put_through_line_ends_the_answered_agents_leg(dial, carrier, hotline):
    """The caller gives up while hearing "正在为您转接…", after the agent picked up: the agent
    is not left alone in the talk until they hang up.  They never spoke to the caller, so
    there is nothing to wrap up: free at once for the next caller, not held for general's 30 s
    behind a wrap-up form that asks for a disposition (and saves 'not given' if left)."""
    on_duty(hotline, 1, {"general": 5})
    carrier.set_endpoint("client:agent-1", "answer")
    call = dial(UNKNOWN)
    call.take_text()
    call.hang_up_in(1.0)
    call.press("0", barge_in=True)
    assert call.ended and "Dial" not in call.verbs  # gone during the Say
    [leg] = agent_legs(carrier, 1)
    leg.wait(1)
    assert leg.ended
    agent = hotline.acd.agent(1)
    assert agent["state"] == "available" and not agent.get("wrap_until")
    assert kinds(hotline, call.sid) == ["enqueue", "offer", "answer", "talk_end", "wrap_up_end"]
    wrap_up_end = {"queue": "general", "agent_id": 1, "wrap_up": 0, "disposition": ""}
    assert queue_events(hotline, call.sid)[-1][1] == wrap_up_end


def test_the_next_caller_reaches_an_agent_whose_caller_vanished_before_the_talk(dial, carrier, hotline):
    """The agent freed that way takes the caller waiting next at once."""
    on_duty(hotline, 1, {"general": 5})
    carrier.set_endpoint("client:agent-1", "answer")
    first = dial(UNKNOWN)
    first.take_text()
    first.hang_up_in(1.0)
    first.press("0", barge_in=True)
    assert first.ended and hotline.acd.agent(1)["state"] == "available"
    second = dial(MS_WANG)
    second.press("0")
    legs = [leg for leg in agent_legs(carrier, 1) if not leg.ended]
    assert len(legs) == 1 and talking(second, legs[0])
    second.hangup()


def test_a_caller_gone_after_joining_the_talk_leaves_the_agent_their_wrap_up(dial, carrier, hotline, monkeypatch):
    """The caller's final status may come before their <Dial>'s action after a real talk: the
    agent who spoke with them still wraps up (the talk's conference had started).  The
    agent's leg is left to the talk here, so that the <Dial>'s action cannot end it first."""
    from acd import talks

    on_duty(hotline, 1, {"general": 5})
    call = dial(UNKNOWN)
    call.press("0")
    leg = ringing(carrier, 1)
    leg.answer()
    assert talking(call, leg)
    leg.wait(20)
    monkeypatch.setattr(talks, "end", lambda hotline, entry: None)
    assert seats.caller_gone(hotline, call.sid, call.sid)  # as /ivr/status would, first
    assert hotline.acd.agent(1)["state"] == "wrap_up"
    assert kinds(hotline, call.sid) == ["enqueue", "offer", "answer", "talk_end"]
    call.hangup()


def test_a_caller_who_hangs_up_during_the_put_through_line_stops_the_agents_phone(dial, carrier, hotline):
    """The same before the agent picked up: the phone stops ringing and the agent is free at
    once (not on a 'missed' break when the ring runs out), the caller an abandon."""
    on_duty(hotline, 1, {"general": 5})
    call = dial(UNKNOWN)
    call.take_text()
    call.hang_up_in(1.0)
    call.press("0", barge_in=True)
    assert call.ended and "Dial" not in call.verbs
    carrier.run_pending()
    assert ringing(carrier, 1) is None and all(leg.ended for leg in agent_legs(carrier, 1))
    assert hotline.acd.agent(1)["state"] == "available"
    assert kinds(hotline, call.sid) == ["enqueue", "offer", "abandon"]


def asked_for_a_callback(dial, carrier, hotline):
    """Ms Wang asked to be called back while agent 1 was on a break; her phone is answered
    by hand (the test says when).  Her first call, which asked for it."""
    on_break(hotline, 1, {"general": 2})
    wang = dial(MS_WANG)
    wang.press("0")
    wang.take_text()
    wang.press("1")  # call me back
    assert wang.ended
    carrier.set_endpoint(MS_WANG, behaviour="manual")
    return wang


def test_a_patient_who_hangs_up_during_the_callbacks_greeting_stops_the_agents_phone(dial, carrier, hotline):
    """The same for a callback: the agent's phone rings while the patient hears the greeting."""
    wang = asked_for_a_callback(dial, carrier, hotline)
    on_duty(hotline, 1, {"general": 2})  # the patient is called back
    patient = carrier.ringing(MS_WANG)
    patient.hang_up_in(2.0)
    patient.answer()
    assert patient.ended and "您之前请求回电" in patient.take_text() and "Dial" not in patient.verbs
    carrier.run_pending()
    assert ringing(carrier, 1) is None and all(leg.ended for leg in agent_legs(carrier, 1))
    assert hotline.acd.agent(1)["state"] == "available"
    assert kinds(hotline, wang.sid)[-2:] == ["offer", "abandon"]


def test_a_patient_who_hangs_up_during_the_callbacks_greeting_frees_the_agent_who_picked_up(dial, carrier, hotline):
    """The same once the agent has picked up: their leg is ended and, never having spoken to
    the patient, they are free at once (no wrap-up)."""
    wang = asked_for_a_callback(dial, carrier, hotline)
    carrier.set_endpoint("client:agent-1", "answer")
    on_duty(hotline, 1, {"general": 2})  # the patient is called back
    patient = carrier.ringing(MS_WANG)
    patient.hang_up_in(2.0)
    patient.answer()
    assert patient.ended and "Dial" not in patient.verbs
    carrier.run_pending()
    assert all(leg.ended for leg in agent_legs(carrier, 1))
    assert hotline.acd.agent(1)["state"] == "available"
    assert kinds(hotline, wang.sid)[-4:] == ["offer", "answer", "talk_end", "wrap_up_end"]


def kinds_of(hotline, call_sid):
    return [e.kind for e in hotline.calls.events(call_sid)]


@pytest.mark.parametrize("record_calls", [True])
def test_a_recorded_talk_is_announced_before_the_agent_rings_and_kept_with_the_call(dial, carrier, hotline):
    on_duty(hotline, 1, {"general": 5})
    call = dial(UNKNOWN)
    call.press("0")
    # Said in the TwiML that joins the talk, so a redirect cannot cut it: the caller is only
    # in the conference (and so heard by the agent) once they have heard it.
    assert call.take_text().endswith("为保证服务质量，您的通话将被录音。")
    assert call.verbs[-3:] == ["Say", "Dial", "Pause"]  # the Pause: the wait while the agent's phone rings
    leg = ringing(carrier, 1)
    leg.answer()
    leg.wait(60)
    leg.hangup()
    call.wait(5)
    [recording] = [e.detail for e in hotline.calls.events(call.sid) if e.kind == "recording"]
    assert recording["queue"] == "general" and recording["agent_id"] == 1
    assert recording["recording_sid"] in carrier.recordings and 60 <= recording["duration"] <= 62
    call.hangup()


def test_two_callers_one_agent(dial, carrier, hotline):
    on_duty(hotline, 1, {"general": 2})
    first, second = dial(UNKNOWN), dial("+8613911112222")
    first.press("0")
    second.press("0")
    assert second.queue == "general"
    assert "您是下一位" in second.take_text()
    leg = ringing(carrier, 1)
    leg.answer()
    assert talking(first, leg)
    assert ringing(carrier, 1) is None  # one call at a time
    leg.wait(60)
    leg.hangup()
    assert second.queue == "general"  # general wraps up for 30 s
    carrier.advance(31)
    sweep(hotline, 1)
    second_leg = ringing(carrier, 1)
    assert second_leg is not None
    second_leg.answer()
    assert talking(second, second_leg)
    assert kinds(hotline, second.sid)[:3] == ["enqueue", "offer", "answer"]


def test_priority_beats_time_waited(dial, carrier, hotline):
    """Ms Wang (aged 70+) joins after another caller and is answered first."""
    first = dial(UNKNOWN)
    on_break(hotline, 9, {"general": 3})  # somebody who can answer is logged in, not free yet
    first.press("0")
    wang = dial(MS_WANG)
    wang.press("0")
    assert first.queue == wang.queue == "general"
    assert queue_events(hotline, wang.sid)[0] == ("enqueue", {"queue": "general", "priority": 1})
    on_duty(hotline, 1, {"general": 2})
    leg = ringing(carrier, 1)
    leg.answer()
    assert talking(wang, leg) and first.queue == "general"


def test_overflow_after_the_threshold(dial, carrier, hotline, settings):
    """Booking callers go to the general desk after booking's tier wait (60 s)."""
    on_duty(hotline, 1, {"general": 2})
    call = dial(UNKNOWN)
    call.press("5")  # booking: first, who is calling
    call.take_text()
    call.speak("转人工")
    assert call.queue == "booking" and ringing(carrier, 1) is None
    after = settings.routing.queues["booking"].tiers[0].after_seconds
    waited = hotline.now().timestamp() - float(hotline.acd.entry(call.sid)["enqueued_at"])  # the prompt's length
    carrier.advance(after - 5 - waited)
    sweep(hotline, 1)
    assert ringing(carrier, 1) is None
    carrier.advance(6)
    sweep(hotline, 1)
    leg = ringing(carrier, 1)
    assert leg is not None
    leg.answer()
    assert talking(call, leg)
    answer = next(detail for kind, detail in queue_events(hotline, call.sid) if kind == "answer")
    assert answer["queue"] == "booking" and answer["waited"] >= after


def test_a_missed_offer_moves_on_and_puts_the_agent_on_break(dial, carrier, hotline, settings):
    on_duty(hotline, 1, {"general": 2})
    on_duty(hotline, 2, {"general": 2})
    call = dial(UNKNOWN)
    call.press("0")
    assert ringing(carrier, 1) is not None and ringing(carrier, 2) is None
    carrier.advance(settings.routing.offer_timeout_seconds + 1)  # agent 1 does not pick up
    assert ringing(carrier, 1) is None
    second = ringing(carrier, 2)
    assert second is not None
    agent = hotline.acd.agent(1)
    assert (agent["state"], agent["reason"]) == ("break", "missed")
    assert "工作人员暂时未能接听" in call.take_text()
    second.answer()
    assert talking(call, second)
    events = queue_events(hotline, call.sid)
    assert [k for k, _ in events] == ["enqueue", "offer", "missed_offer", "offer", "answer"]
    assert events[2][1] == {"queue": "general", "agent_id": 1, "reason": "no-answer"}


def test_wrap_up_blocks_new_offers_until_it_ends(dial, carrier, hotline, settings):
    on_duty(hotline, 1, {"general": 2, "complaints": 2})
    complaint = dial(UNKNOWN)
    complaint.press("4")  # the main menu's complaint key
    leg = ringing(carrier, 1)
    leg.answer()
    assert queue_events(hotline, complaint.sid)[0][1] == {"queue": "complaints", "priority": 2}
    leg.wait(30)
    leg.hangup()
    general = dial("+8613911112222")
    general.press("0")
    assert general.queue == "general"
    left = float(hotline.acd.agent(1)["wrap_until"]) - hotline.now().timestamp()
    assert left > 10  # complaints wrap up for 120 s
    carrier.advance(left - 5)
    sweep(hotline, 1)
    assert ringing(carrier, 1) is None and hotline.acd.agent(1)["state"] == "wrap_up"
    carrier.advance(6)
    assert sweep(hotline, 1)["wrapped"] == 1
    assert ringing(carrier, 1) is not None
    wrap = settings.routing.queues["complaints"].wrap_up_seconds
    wrap_end = [d for k, d in queue_events(hotline, complaint.sid) if k == "wrap_up_end"]
    assert wrap_end == [{"queue": "complaints", "agent_id": 1, "wrap_up": wrap, "disposition": ""}]


def test_hold_says_position_and_an_estimate_from_recent_answers_and_repeats(dial, carrier, hotline, settings):
    on_duty(hotline, 1, {"general": 2})
    now = hotline.now().timestamp()
    for i, waited in enumerate((40, 50, 60)):  # three answers in the last 350 s
        hotline.acd.redis.rpush(
            hotline.acd.p + "recent:general", f'{{"at": {now - 350 + i * 100}, "waited": {waited}}}'
        )
    talking = dial("+8613911112222")
    talking.press("0")
    ringing(carrier, 1).answer()
    waiting = [dial(f"+861391111333{i}") for i in range(3)]
    for call in waiting:
        call.press("0")
    heard = waiting[2].take_text()
    # Four answers (the three above and the talking caller's) over about 440 s when the third
    # caller joins (some 90 s in, after the greeting and the callers before): one every 110-odd
    # s, so the third in line waits about 5.5 minutes (316-346 s for a join 72-112 s in): said
    # as 6 (whole minutes, rounded up).
    joined = float(hotline.acd.entry(waiting[2].sid)["enqueued_at"]) - now
    assert 72 <= joined <= 112, joined
    assert "您前面还有2位来电者" in heard and "预计等待约6分钟" in heard and "由我们给您回电，请按1" in heard
    waiting[2].wait(settings.routing.hold_message_seconds + 15)  # the pause between messages, and the message
    assert "您前面还有2位来电者" in waiting[2].take_text()  # said again at the interval


def test_a_callback_keeps_the_place_and_connects(dial, carrier, hotline, settings):
    busy = dial("+8613911112222")
    on_duty(hotline, 1, {"general": 2})
    busy.press("0")
    busy_leg = ringing(carrier, 1)
    busy_leg.answer()
    wang = dial(MS_WANG)
    wang.press("0")
    later = dial(UNKNOWN)
    later.press("0")
    wang.take_text()
    wang.press("1")  # call me back
    assert "回电至尾号8 0 0 0的电话" in wang.take_text()
    assert wang.ended and hotline.acd.position(wang.sid) == 1  # still ahead of the later caller
    carrier.set_endpoint(MS_WANG, behaviour="no-answer")
    busy_leg.hangup()  # agent 1's first call ends...
    carrier.advance(31)
    sweep(hotline, 1)  # ...wrap-up over: the callback comes first, the patient is called
    outbound = [c for c in carrier.calls if c.to == MS_WANG and c.direction == "outbound-api"]
    assert len(outbound) == 1 and ringing(carrier, 1) is None
    carrier.advance(settings.routing.callbacks.ring_seconds + 1)
    assert outbound[0].status == "no-answer"
    assert hotline.acd.position(wang.sid) == 1  # not answered: keeps the place, retried later
    later_leg = ringing(carrier, 1)  # meanwhile the later caller is served
    later_leg.answer()
    assert talking(later, later_leg)
    later_leg.hangup()
    carrier.set_endpoint(MS_WANG, behaviour="answer")
    carrier.advance(settings.routing.callbacks.spacing_seconds)
    sweep(hotline, 1)
    outbound = [c for c in carrier.calls if c.to == MS_WANG and c.direction == "outbound-api"]
    assert len(outbound) == 2
    patient = outbound[-1]
    patient.wait(0)  # greeted, then the agent's phone rings
    assert "您之前请求回电" in patient.take_text()
    leg = ringing(carrier, 1)
    leg.answer()
    assert talking(patient, leg)
    assert kinds(hotline, wang.sid) == ["enqueue", "callback_requested", "offer", "offer", "answer"]


def test_out_of_hours_a_voicemail_is_kept_with_the_call(dial, carrier, hotline, clock, db, records_worker):
    from sqlalchemy import select

    from records.models import CallEvent, CallRecord

    clock.now = datetime(2026, 11, 24, 22, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    call = dial(MS_WANG)
    call.take_text()
    call.press("0")
    heard = call.take_text()
    assert "现在不是人工服务时间" in heard and "人工服务时间为周一至周五" in heard and "留言请按1" in heard
    call.press("1")
    assert "请在提示音后留言" in call.take_text()
    call.speak("我想咨询明天的检查")
    call.press("#")
    assert "您的留言已收到" in call.take_text()
    call.wait(10)
    assert call.ended
    [(kind, detail)] = [(k, d) for k, d in queue_events(hotline, call.sid) if k == "voicemail"]
    assert detail["queue"] == "general" and detail["duration"] > 0 and detail["recording_sid"] in carrier.recordings
    records_worker.work()  # call records are written by the records queue's workers
    db.rollback()
    db.expire_all()
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    assert record.patient_id is not None  # Ms Wang's file
    stored = db.scalar(select(CallEvent).where(CallEvent.call_id == record.id, CallEvent.kind == "voicemail"))
    assert stored.detail["recording_url"] == detail["recording_url"]


def test_a_silent_console_is_logged_out_and_its_offer_moves_on(dial, carrier, hotline, settings):
    on_duty(hotline, 1, {"general": 2})
    on_duty(hotline, 2, {"general": 2})
    carrier.advance(settings.routing.heartbeat_timeout_seconds + 1)
    sweep(hotline, 2)  # agent 1's console stopped sending heartbeats
    assert hotline.acd.agent(1)["state"] == "offline" and hotline.acd.agent(2)["state"] == "available"
    call = dial(UNKNOWN)
    call.press("0")
    assert ringing(carrier, 1) is None and ringing(carrier, 2) is not None


def test_a_caller_who_hangs_up_on_hold_is_an_abandon(dial, carrier, hotline):
    on_break(hotline, 1, {"general": 2})
    call = dial(UNKNOWN)
    call.press("0")
    call.wait(12)
    call.hangup()
    kind, detail = queue_events(hotline, call.sid)[-1]
    assert kind == "abandon" and detail["queue"] == "general" and 12 <= detail["waited"] <= 20  # the hold message too
    assert hotline.acd.position(call.sid) is None


def test_with_nobody_logged_in_who_has_the_skill_zero_offers_a_message_not_a_person(dial, carrier, hotline):
    # Issue 22, 14: a booking agent cannot take a general enquiry; the caller at the main
    # menu (general enquiries) is offered what can happen, and is not queued for nobody.
    on_duty(hotline, 1, {"booking": 3})
    call = dial(UNKNOWN)
    heard = call.take_text()
    assert "留言或回电请按0" in heard and "人工服务请按0" not in heard
    call.press("0")
    options = call.take_text()
    assert "目前没有工作人员可以接听" in options and "留言请按1" in options and "请按0" not in options
    assert call.queue is None and kinds(hotline, call.sid) == []
    call.press("0")
    assert call.take_text().startswith("对不起，您按的0不是有效选项。")
    # Somebody with the skill logs in, even on a break: now 0 offers a person.
    on_break(hotline, 2, {"general": 1})
    call.press("#")
    assert "人工服务请按0" in call.take_text()


def test_english_callers_reach_the_english_desk(dial, carrier, hotline):
    on_duty(hotline, 1, {"general": 5})
    on_duty(hotline, 2, {"english": 3})
    call = dial(MR_LI)  # prefers English, VIP
    call.press("0")
    assert "Connecting you to English service" in call.take_text()
    assert queue_events(hotline, call.sid)[0][1] == {"queue": "english", "priority": 2}
    assert ringing(carrier, 2) is not None and ringing(carrier, 1) is None


def test_max_wait_offers_voicemail_or_callback(dial, carrier, hotline, settings):
    on_break(hotline, 1, {"general": 2})
    call = dial(UNKNOWN)
    call.press("0")
    call.wait(settings.routing.queues["general"].max_wait_seconds + settings.routing.hold_message_seconds + 10)
    assert "目前等待人数较多" in call.take_text()
    assert kinds(hotline, call.sid)[-1] == "queue_timeout"
    call.press("2")
    assert "回电至尾号5 6 7 8的电话" in call.take_text()
    assert hotline.acd.entry(call.sid)["kind"] == "callback"


def test_a_caller_who_hangs_up_while_the_agent_rings_frees_the_agent(dial, carrier, hotline):
    on_duty(hotline, 1, {"general": 2})
    call = dial(UNKNOWN)
    call.press("0")
    assert ringing(carrier, 1) is not None
    call.wait(3)
    call.hangup()
    assert ringing(carrier, 1) is None
    assert hotline.acd.agent(1)["state"] == "available"  # not 'missed': it was not the agent's doing
    kind, detail = queue_events(hotline, call.sid)[-1]
    assert kind == "abandon" and detail["queue"] == "general"
    assert kinds(hotline, call.sid).count("abandon") == 1


def test_on_hold_with_the_routing_state_unreachable_the_caller_stays_queued(dial, carrier, hotline, settings):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    on_break(hotline, 1, {"general": 2})
    call = dial(UNKNOWN)
    call.press("0")
    call.take_text()
    hotline.acd.redis = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 1))
    call.wait(settings.routing.hold_message_seconds * 3)
    assert call.queue == "general" and not call.ended and call.errors == []


def test_at_closing_time_the_next_menu_stops_offering_a_person(dial, carrier, hotline, clock):
    # Issue 17: the menus' offer of a person is remembered per reading of the seats; the
    # minute the seats close, the same reading must not keep promising one.
    on_duty(hotline, 1, {"general": 5})
    clock.now = datetime(2026, 11, 24, 19, 59, 50, tzinfo=ZoneInfo("Asia/Shanghai"))
    call = dial(UNKNOWN)
    assert "人工服务请按0" in call.take_text()
    clock.now = datetime(2026, 11, 24, 20, 0, 5, tzinfo=ZoneInfo("Asia/Shanghai"))
    call.press("*")
    heard = call.take_text()
    assert "留言或回电请按0" in heard and "人工服务请按0" not in heard
