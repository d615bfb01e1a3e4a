"""The agent API the console calls, with a real call through the carrier emulator:
go available, see the offer, answer, hang up, wrap up with a disposition."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from records.models import CallEvent, CallRecord, WrapUp
from records.seats import set_skills
from tests.acd.test_seats_calls import UNKNOWN, kinds, queue_events, ringing
from tests.records.helpers import while_another_writes
from tests.talking import in_talk, talking
from tests.web import csrf_token, log_in, make_staff


def agent_with(app, skills, **fields):
    login = make_staff(app, "agent", **fields)
    with app.extensions["hotline"].sessions.begin() as session:
        set_skills(session, login.id, skills)
    return login


class Console:
    """An agent's console: a logged-in test client that sends the CSRF header."""

    def __init__(self, app, login):
        self.client = app.test_client()
        self.login = login
        log_in(self.client, login.username, login.password)
        self.token = csrf_token(self.client.get("/", follow_redirects=True).get_data(as_text=True))

    def post(self, path, **body):
        return self.client.post(f"/agent/api/{path}", json=body, headers={"X-CSRFToken": self.token})

    def status(self):
        response = self.client.get("/agent/api/status")
        assert response.status_code == 200
        return response.get_json()


def test_an_agent_takes_a_call_from_the_console(app, dial, carrier, hotline, db, records_worker):
    login = agent_with(app, {"general": 3, "booking": 2}, display_name="坐席一")
    console = Console(app, login)
    assert console.status()["state"] == "offline"
    response = console.post("state", state="available")
    assert response.status_code == 200 and response.get_json()["state"] == "available"
    assert {q["name"] for q in response.get_json()["queues"]} == {"general", "booking"}

    call = dial(UNKNOWN)
    call.press("0")
    offer = console.status()["offer"]
    assert offer["call_sid"] == call.sid and offer["queue"] == "general"
    assert offer["caller"] != UNKNOWN and offer["caller"].endswith("78")  # masked
    assert console.status()["state"] == "reserved"

    answered = console.post("answer", call_sid=call.sid).get_json()
    assert answered["state"] == "on_call" and answered["call"]["call_sid"] == call.sid
    assert in_talk(call)
    carrier.advance(40)
    hung_up = console.post("hangup", call_sid=call.sid).get_json()
    assert hung_up["state"] == "wrap_up" and hung_up["wrap_up"]["queue"] == "general"
    call.wait(10)
    assert "请您对本次服务进行评价" in call.take_text()  # the satisfaction survey (issue 7)
    call.hangup()

    refused = console.post("wrap-up", call_sid=call.sid, disposition="made-up")
    assert refused.status_code == 409 and refused.get_json()["code"] == "bad_disposition"
    assert (
        "处理结果只能是" in refused.get_json()["error"] and "Disposition must be one of" in refused.get_json()["error"]
    )
    done = console.post("wrap-up", call_sid=call.sid, disposition="information_given", notes="问了门诊时间")
    assert done.status_code == 200 and done.get_json()["state"] == "available"

    records_worker.work()  # call records are written by the records queue's workers
    db.rollback()
    db.expire_all()
    [wrap_up] = db.scalars(select(WrapUp)).all()
    assert (wrap_up.staff_id, wrap_up.disposition, wrap_up.notes) == (login.id, "information_given", "问了门诊时间")
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    stored = [e.kind for e in db.scalars(select(CallEvent).where(CallEvent.call_id == record.id))]
    assert [k for k in stored if k in ("enqueue", "offer", "answer", "talk_end", "wrap_up_end")] == [
        "enqueue", "offer", "answer", "talk_end", "wrap_up_end"
    ]  # fmt: skip
    assert kinds(hotline, call.sid)[-1] == "wrap_up_end"


def test_a_wrap_up_is_kept_while_the_records_worker_writes(app, dial, carrier, hotline, db, database_url, caplog):
    """Issue 22.5: the wrap-up was written in the request's reading transaction; on SQLite,
    with the records worker writing, it failed with 'database is locked' (a 500) and the
    error line printed the notes.  It now waits its turn (records.db.begin_write)."""
    login = agent_with(app, {"general": 3})
    console = Console(app, login)
    console.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    console.post("answer", call_sid=call.sid)
    carrier.advance(20)
    assert console.post("hangup", call_sid=call.sid).get_json()["state"] == "wrap_up"
    notes = "患者诉说夜间胸闷，要求回电"

    done = while_another_writes(
        database_url,
        lambda: console.post("wrap-up", call_sid=call.sid, disposition="information_given", notes=notes),
    )
    assert done.status_code == 200 and done.get_json()["state"] == "available"
    db.rollback()
    assert db.scalar(select(WrapUp.notes).where(WrapUp.call_sid == call.sid)) == notes
    assert "夜间胸闷" not in caplog.text


def test_declining_puts_the_caller_back_for_the_next_agent(app, dial, carrier, hotline):
    first = Console(app, agent_with(app, {"general": 3}))
    first.post("state", state="available")
    second = Console(app, agent_with(app, {"general": 3}))
    second.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    assert first.status()["offer"]["call_sid"] == call.sid  # idle longest
    assert first.post("decline", call_sid=call.sid).get_json()["state"] == "available"
    carrier.advance(1)
    assert second.status()["offer"]["call_sid"] == call.sid
    assert ringing(carrier, first.login.id) is None and ringing(carrier, second.login.id) is not None
    assert first.status()["offer"] is None


def test_the_api_refuses_what_the_agent_cannot_do(app, hotline):
    console = Console(app, agent_with(app, {"general": 3}))
    assert console.post("answer", call_sid="CA" + "0" * 32).status_code == 409
    assert console.post("state", state="asleep").status_code == 409
    assert console.post("state").status_code == 400
    assert console.client.post("/agent/api/state", json={"state": "available"}).status_code == 400  # no CSRF token
    assert console.post("transfer", call_sid="CAx", queue="general", agent_id=3).status_code == 409
    nobody = Console(app, make_staff(app, "agent"))
    assert "This agent has no skills yet" in nobody.post("state", state="available").get_json()["error"]


@pytest.mark.parametrize("role, allowed", [("reviewer", False), ("supervisor", True)])
def test_only_staff_who_take_calls_use_the_agent_api(app, role, allowed):
    """Agents, and supervisors: their console is the phone a listen rings (issue 14)."""
    client = app.test_client()
    assert client.get("/agent/api/status").status_code == 401
    login = make_staff(app, role)
    log_in(client, login.username, login.password)
    assert client.get("/agent/api/status").status_code == (200 if allowed else 403)
    assert client.get("/agent").status_code == (200 if allowed else 403)


def test_a_transfer_to_another_queue_reaches_its_agent(app, dial, carrier, hotline):
    general = Console(app, agent_with(app, {"general": 3}))
    general.post("state", state="available")
    booking = Console(app, agent_with(app, {"booking": 3}))
    call = dial(UNKNOWN)
    call.press("0")
    general.post("answer", call_sid=call.sid)
    booking.post("state", state="available")  # comes in while the call is on
    moved = general.post("transfer", call_sid=call.sid, queue="booking")
    assert moved.status_code == 200 and moved.get_json()["state"] == "wrap_up"
    leg = ringing(carrier, booking.login.id)
    assert leg is not None
    assert booking.post("answer", call_sid=call.sid).get_json()["call"]["queue"] == "booking"
    assert talking(call, leg)
    events = queue_events(hotline, call.sid)
    transfer = [d for k, d in events if k == "transfer"]
    assert transfer == [{"queue": "general", "to_queue": "booking"}]
    assert [k for k, _ in events][-2:] == ["offer", "answer"]


def test_a_wrap_up_the_timer_ends_keeps_the_draft_and_can_still_be_finished(app, dial, carrier, hotline, db):
    """Issue 15: the notes typed are kept as they are typed; when the timer ends the wrap-up
    first, they are saved with the disposition 'not_given', and the agent's late answer
    completes that row rather than adding another."""
    from records.seats import NOT_GIVEN
    from tests.acd.test_seats_calls import sweep

    console = Console(app, agent_with(app, {"general": 3}))
    console.post("state", state="available")
    call = dial(UNKNOWN)
    call.press("0")
    ringing(carrier, console.login.id)
    console.post("answer", call_sid=call.sid)
    assert console.post("hangup", call_sid=call.sid).get_json()["state"] == "wrap_up"
    assert console.post("wrap-up-draft", call_sid=call.sid, notes="约了复诊").status_code == 200
    other = console.post("wrap-up-draft", call_sid="CA" + "0" * 32, notes="不是这通")
    assert other.status_code == 409 and "The wrap-up of this call is over" in other.get_json()["error"]

    carrier.advance(hotline.settings.routing.queues["general"].wrap_up_seconds + 1)
    assert sweep(hotline, console.login.id)["wrapped"] == 1
    assert console.status()["state"] == "available"
    db.rollback()
    [row] = db.scalars(select(WrapUp).where(WrapUp.call_sid == call.sid)).all()
    assert (row.disposition, row.notes) == (NOT_GIVEN, "约了复诊")
    # The timer's row is the agent's to complete; no draft is left over.
    late = console.post("wrap-up", call_sid=call.sid, disposition="resolved", notes="约了复诊，已短信通知")
    assert late.status_code == 200
    db.rollback()
    db.expire_all()
    [row] = db.scalars(select(WrapUp).where(WrapUp.call_sid == call.sid)).all()
    assert (row.disposition, row.notes) == ("resolved", "约了复诊，已短信通知")
    assert hotline.acd.take_draft(console.login.id, call.sid) == ""


def test_one_console_per_agent_the_one_opened_last_counts(app):
    """Two console pages would both ring and both answer: the older is told at its heartbeat."""
    console = Console(app, agent_with(app, {"general": 1}))

    def opened() -> str:
        return console.client.get("/agent").get_data(as_text=True).split('data-console-id="')[1].split('"')[0]

    first, second = opened(), opened()
    replaced = console.post("heartbeat", console=first).get_json()
    assert replaced["replaced"] is True and "This console was opened in another window" in replaced["message"]
    assert "replaced" not in console.post("heartbeat", console=second).get_json()
    assert "replaced" not in console.post("heartbeat").get_json()  # a script's heartbeat names no console
