"""The talk's controls (issue 14) through the carrier emulator, the agents' and supervisors'
API exactly as the console calls it: hold and resume, a consult that becomes a transfer, a
third party, and a supervisor who listens, whispers and barges in.  What each person hears
is the emulator's conference audio (conferencing.audience)."""

from __future__ import annotations

from sqlalchemy import select

from records.models import AuditEntry, CallEvent, CallRecord, QueueEntry
from tests.acd.test_agent_api import Console, agent_with
from tests.acd.test_seats_calls import UNKNOWN, ringing
from tests.talking import in_talk, talking
from tests.web import make_staff


def heard_from(call, speaker) -> list[str]:
    """What `call` heard `speaker` say in the conference."""
    return [u.text for u in call.heard if u.kind == "speech" and u.speaker == speaker.sid]


def events(hotline, call_sid, *names):
    return [(e.kind, e.detail) for e in hotline.calls.events(call_sid) if e.kind in names]


def test_hold_consult_transfer_and_the_records(app, dial, carrier, hotline, db, records_worker):
    first = Console(app, agent_with(app, {"general": 3}, display_name="坐席一"))
    second = Console(app, agent_with(app, {"general": 3}, display_name="坐席二"))
    first.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    first_leg = ringing(carrier, first.login.id)
    assert first.post("answer", call_sid=call.sid).get_json()["call"]["controls"] is True
    assert talking(call, first_leg)
    # The agent alone hears which queue the caller comes from (the Participant's AnnounceUrl).
    first_leg.wait(3)
    assert "综合咨询来电。" in first_leg.take_text()
    assert "综合咨询来电。" not in call.take_text()

    # Hold: the caller hears the hospital's hold message, the agent hears nothing from them.
    held = first.post("hold", call_sid=call.sid)
    assert held.status_code == 200 and held.get_json()["call"]["on_hold"] is True
    call.wait(1)
    assert "请稍候，工作人员马上回来为您服务。" in call.take_text()
    call.speak("喂？还在吗？")
    assert heard_from(first_leg, call) == []
    call.wait(20)
    again = first.post("hold", call_sid=call.sid)
    assert again.status_code == 409 and again.get_json()["error"] == "来电者已在保持中 The caller is already on hold"
    resumed = first.post("resume", call_sid=call.sid).get_json()["call"]
    assert resumed["on_hold"] is False and 20 <= resumed["hold_seconds"] <= 25
    first_leg.speak("让您久等了")
    assert heard_from(call, first_leg) == ["让您久等了"]

    # Consult agent 2: the caller is held while the two agents talk.
    refused = first.post("consult", call_sid=call.sid, agent_id=second.login.id)
    assert refused.status_code == 409 and refused.get_json()["error"] == "该坐席现在不空闲 That agent is not available"
    assert talking(call, first_leg)  # a refused request never drops the caller
    second.post("state", state="available")
    consulting = first.post("consult", call_sid=call.sid, agent_id=second.login.id).get_json()["call"]
    assert consulting["on_hold"] is True and consulting["consult"]["state"] == "ringing"
    offer = second.status()["offer"]
    assert offer["call_sid"] == call.sid and offer["kind"] == "consult"
    early = first.post("complete-transfer", call_sid=call.sid)
    assert early.status_code == 409 and "not answered yet" in early.get_json()["error"]
    second_leg = ringing(carrier, second.login.id)
    assert second.post("answer", call_sid=call.sid).get_json()["state"] == "on_call"
    assert first.status()["call"]["consult"]["state"] == "talking"
    second_leg.speak("这个问题我来处理")
    call.speak("有人吗")
    assert heard_from(first_leg, second_leg) == ["这个问题我来处理"] and heard_from(call, second_leg) == []
    assert heard_from(second_leg, call) == []
    call.wait(30)

    # The transfer completes: agent 2 keeps the caller, agent 1 goes to wrap-up.
    done = first.post("complete-transfer", call_sid=call.sid).get_json()
    assert done["state"] == "wrap_up" and done["wrap_up"]["call_sid"] == call.sid
    assert first_leg.ended and talking(call, second_leg)
    assert second.status()["call"]["call_sid"] == call.sid and second.status()["call"]["on_hold"] is False
    second_leg.speak("您好，我是坐席二")
    assert heard_from(call, second_leg) == ["您好，我是坐席二"]
    assert first.post("wrap-up", call_sid=call.sid, disposition="transferred").status_code == 200

    # Agent 2 hangs up: the caller goes on to the survey, agent 2 wraps up.
    call.wait(60)
    assert second.post("hangup", call_sid=call.sid).get_json()["state"] == "wrap_up"
    call.wait(5)
    assert "请您对本次服务进行评价" in call.take_text()
    call.hangup()
    assert second.post("wrap-up", call_sid=call.sid, disposition="resolved").get_json()["state"] == "available"

    kinds = [k for k, _ in events(hotline, call.sid, "hold", "resume", "consult", "transfer", "talk_end")]
    assert kinds == ["hold", "resume", "hold", "consult", "resume", "talk_end", "transfer", "talk_end"]
    talk_ends = [d for k, d in events(hotline, call.sid, "talk_end")]
    assert [d["agent_id"] for d in talk_ends] == [first.login.id, second.login.id]
    assert talk_ends[0]["hold"] >= 50  # 20 s on hold, then ~30 s while the agents consulted
    assert talk_ends[1]["hold"] == 0 and talk_ends[1]["talk"] >= 60
    [transfer] = [d for k, d in events(hotline, call.sid, "transfer")]
    assert transfer["to_agent"] == second.login.id and transfer["agent_id"] == first.login.id

    records_worker.work()
    db.rollback()
    db.expire_all()
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    stored = [e.kind for e in db.scalars(select(CallEvent).where(CallEvent.call_id == record.id))]
    assert {"hold", "resume", "consult", "transfer"} <= set(stored)
    [entry] = db.scalars(select(QueueEntry).where(QueueEntry.call_id == record.id)).all()
    assert (
        entry.hold_seconds == talk_ends[0]["hold"] and entry.talk_seconds == talk_ends[0]["talk"] + talk_ends[1]["talk"]
    )
    # The reports' hold time (0 before issue 14): the only call handled today, so its hold is the average.
    supervisor = Console(app, make_staff(app, "supervisor"))
    report = supervisor.client.get("/supervisor/reports").get_data(as_text=True)
    assert f'<td class="hold">{talk_ends[0]["hold"]} s</td>' in report


def test_a_consult_that_is_not_answered_gives_the_caller_back(app, dial, carrier, hotline, settings):
    first = Console(app, agent_with(app, {"general": 3}))
    second = Console(app, agent_with(app, {"general": 3}))
    first.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    first_leg = ringing(carrier, first.login.id)
    first.post("answer", call_sid=call.sid)
    second.post("state", state="available")
    first.post("consult", call_sid=call.sid, agent_id=second.login.id)
    carrier.advance(settings.routing.offer_timeout_seconds + 1)
    state = first.status()["call"]
    assert state["consult"] is None and state["on_hold"] is False
    assert second.status()["state"] == "available"
    first_leg.speak("我回来了")
    assert heard_from(call, first_leg) == ["我回来了"]
    assert [d["reason"] for _, d in events(hotline, call.sid, "consult_end")] == ["not answered"]


def test_come_back_from_a_consult_and_a_third_party(app, dial, carrier, hotline, settings):
    nurses = settings.console.consult_numbers[0]
    interpreters = settings.console.consult_numbers[1]
    carrier.set_endpoint(nurses.number, "answer")
    carrier.set_endpoint(interpreters.number, "answer")
    first = Console(app, agent_with(app, {"general": 3}))
    first.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    first_leg = ringing(carrier, first.login.id)
    first.post("answer", call_sid=call.sid)
    directory = first.client.get("/agent/api/directory").get_json()
    assert [o["key"] for o in directory["outside"]] == [nurses.key, interpreters.key]

    consulting = first.post("consult", call_sid=call.sid, outside=nurses.key).get_json()["call"]
    assert consulting["consult"]["outside"] == nurses.key and consulting["consult"]["state"] == "talking"
    nurse = next(c for c in carrier.calls if c.to == nurses.number)
    nurse.speak("护士站，请讲")
    assert heard_from(first_leg, nurse) == ["护士站，请讲"] and heard_from(call, nurse) == []
    back = first.post("consult-cancel", call_sid=call.sid).get_json()["call"]
    assert back["consult"] is None and back["on_hold"] is False and nurse.ended
    assert in_talk(call)

    party = first.post("add-party", call_sid=call.sid, outside=interpreters.key).get_json()["call"]
    assert party["party"]["outside"] == interpreters.key and party["on_hold"] is False
    interpreter = next(c for c in carrier.calls if c.to == interpreters.number)
    call.speak("I need help in English")
    assert heard_from(interpreter, call) == ["I need help in English"]
    assert heard_from(first_leg, call)[-1] == "I need help in English"
    assert first.post("drop-party", call_sid=call.sid).get_json()["call"]["party"] is None
    assert interpreter.ended and talking(call, first_leg)
    assert first.post("drop-party", call_sid=call.sid).status_code == 409
    assert first.post("add-party", call_sid=call.sid, outside="nowhere").status_code == 409
    kinds = [k for k, _ in events(hotline, call.sid, "consult", "consult_end", "party_join", "party_leave")]
    assert kinds == ["consult", "consult_end", "party_join", "party_leave"]


def test_a_supervisor_listens_whispers_and_barges_in_and_each_listen_is_audited(app, dial, carrier, hotline, db):
    agent = Console(app, agent_with(app, {"general": 3}))
    agent.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    agent_leg = ringing(carrier, agent.login.id)
    agent.post("answer", call_sid=call.sid)
    supervisor = Console(app, make_staff(app, "supervisor"))

    refused = agent.post("listen", call_sid=call.sid, reason="质检抽查")
    assert refused.status_code == 403 and refused.get_json()["error"].startswith("只有班长可以监听")
    assert supervisor.post("listen", call_sid=call.sid).status_code == 409  # no reason given
    listening = supervisor.post("listen", call_sid=call.sid, reason="新坐席质检 coaching a new agent")
    assert listening.status_code == 200 and listening.get_json()["monitoring"]["mode"] == "listen"
    # With the emulator the supervisor's phone picks up by itself (the demo); with Twilio, the softphone.
    [sup_leg] = [c for c in carrier.calls if c.to == f"client:agent-{supervisor.login.id}"]
    assert in_talk(sup_leg)
    assert supervisor.client.get("/agent/api/monitoring").get_json()["monitoring"]["state"] == "talking"

    call.speak("我想改约")
    sup_leg.speak("(只听)")
    assert heard_from(sup_leg, call) == ["我想改约"]
    assert heard_from(call, sup_leg) == [] and heard_from(agent_leg, sup_leg) == []
    assert agent.status()["call"]["monitor"]["mode"] == "listen"

    assert supervisor.post("whisper", call_sid=call.sid).get_json()["monitoring"]["mode"] == "whisper"
    sup_leg.speak("先核对身份")
    assert heard_from(agent_leg, sup_leg) == ["先核对身份"] and heard_from(call, sup_leg) == []

    assert supervisor.post("barge", call_sid=call.sid).get_json()["monitoring"]["mode"] == "barge"
    sup_leg.speak("您好，我是值班主管")
    assert heard_from(call, sup_leg) == ["您好，我是值班主管"]
    assert heard_from(agent_leg, sup_leg)[-1] == "您好，我是值班主管"

    assert supervisor.post("stop-monitoring", call_sid=call.sid).get_json()["monitoring"] is None
    assert sup_leg.ended and talking(call, agent_leg)
    modes = [d["mode"] for _, d in events(hotline, call.sid, "monitor")]
    assert modes == ["listen", "whisper", "barge"]

    db.rollback()
    [audit] = db.scalars(select(AuditEntry).where(AuditEntry.action == "listen_call")).all()
    assert (audit.staff_id, audit.call_sid, audit.reason) == (
        supervisor.login.id,
        call.sid,
        "新坐席质检 coaching a new agent",
    )


def test_call_controls_refuse_without_a_call_and_never_drop_the_caller(app, dial, carrier, hotline):
    agent = Console(app, agent_with(app, {"general": 3}))
    response = agent.post("hold", call_sid="CA" + "0" * 32)
    assert response.status_code == 409 and response.get_json()["error"] == "您当前没有这通电话 You are not on this call"
    assert agent.post("consult", call_sid="CAx", agent_id=1, outside="x").status_code == 409
    assert agent.post("consult", call_sid="CAx", agent_id="me").status_code == 400
    agent.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    leg = ringing(carrier, agent.login.id)
    agent.post("answer", call_sid=call.sid)
    both = agent.post("consult", call_sid=call.sid, agent_id=agent.login.id, outside="interpreters")
    assert both.status_code == 409
    assert agent.post("consult", call_sid=call.sid, agent_id=agent.login.id).status_code == 409  # oneself
    assert agent.post("resume", call_sid=call.sid).status_code == 409
    assert talking(call, leg) and hotline.acd.agent(agent.login.id)["state"] == "on_call"


def test_if_the_conference_cannot_be_made_the_caller_still_reaches_the_agent(app, dial, carrier, hotline, monkeypatch):
    from twilio.base.exceptions import TwilioRestException

    from acd import talks

    def refused(*args, **kwargs):
        raise TwilioRestException(503, "https://api.twilio.com/…/Participants.json", "Service unavailable")

    monkeypatch.setattr(talks, "_dial", refused)
    agent = Console(app, agent_with(app, {"general": 3}))
    agent.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    leg = ringing(carrier, agent.login.id)
    assert leg is not None  # rung by the caller's <Dial><Client>, as before the call controls
    # The agent's phone shows the hospital's number, not the patient's.
    assert leg.from_ == app.extensions["hotline"].settings.twilio.caller_id != call.from_
    state = agent.post("answer", call_sid=call.sid).get_json()["call"]
    assert state["controls"] is False and call.waiting_for == "bridge" and call.bridged_with.sid == leg.sid
    refusal = agent.post("hold", call_sid=call.sid)
    assert refusal.status_code == 409 and refusal.get_json()["error"].startswith("这通电话不支持保持或转接")
    assert call.bridged_with.sid == leg.sid  # still together
    leg.wait(30)
    leg.hangup()
    call.wait(5)
    assert "请您对本次服务进行评价" in call.take_text()
