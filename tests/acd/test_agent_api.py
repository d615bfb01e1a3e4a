"""The agent API the console calls, with a real call through the carrier emulator:
go available, see the offer, answer, hang up, wrap up with a disposition."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from records.models import CallEvent, CallRecord, WrapUp
from records.seats import set_skills
from tests.acd.test_seats_calls import UNKNOWN, kinds, queue_events, ringing
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
    assert call.bridged_with is not None
    carrier.advance(40)
    hung_up = console.post("hangup", call_sid=call.sid).get_json()
    assert hung_up["state"] == "wrap_up" and hung_up["wrap_up"]["queue"] == "general"
    call.wait(10)
    assert "请您对本次服务进行评价" in call.take_text()  # the satisfaction survey (issue 7)
    call.hangup()

    refused = console.post("wrap-up", call_sid=call.sid, disposition="made-up")
    assert refused.status_code == 409 and "disposition must be one of" in refused.get_json()["error"]
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
    assert "no skills" in nobody.post("state", state="available").get_json()["error"]


@pytest.mark.parametrize("role", ["supervisor"])
def test_only_agents_use_the_agent_api(app, role):
    client = app.test_client()
    assert client.get("/agent/api/status").status_code == 401
    login = make_staff(app, role)
    log_in(client, login.username, login.password)
    assert client.get("/agent/api/status").status_code == 403


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
    assert call.bridged_with.sid == leg.sid
    events = queue_events(hotline, call.sid)
    transfer = [d for k, d in events if k == "transfer"]
    assert transfer == [{"queue": "general", "to_queue": "booking"}]
    assert [k for k, _ in events][-2:] == ["offer", "answer"]
