"""After care with the human seats (acd/): the survey after a real agent call,
and a worrying follow-up answer that puts the patient into the nurse queue as a
callback, which rings a nurse once the patient answers.  The seats' whole-call
fixtures (tests/acd/conftest.py): the carrier's REST API, its clock as the hotline's."""

from __future__ import annotations

from datetime import date

import pytest
from sqlalchemy import select

from queueing import aftercare as jobs
from queueing import context
from records.models import CallEvent, CallRecord, SurveyResponse
from tests.acd.conftest import carrier, clock, environ, hotline, network  # noqa: F401  (the fixtures)
from tests.acd.test_seats_calls import on_duty, ringing
from tests.aftercare.conftest import MS_WANG_PHONE, add_discharges, tasks
from tests.talking import in_talk

UNKNOWN = "+8613912345678"


def test_the_caller_rates_the_agent_after_the_talk(dial, carrier, hotline, db, records_worker):  # noqa: F811
    on_duty(hotline, 1, {"general": 5})
    call = dial(UNKNOWN)
    call.take_text()
    call.press("0")
    leg = ringing(carrier, 1)
    leg.answer()
    leg.wait(60)
    leg.hangup()  # the agent's side ends: the caller stays on for the survey
    call.wait(0)
    assert "请您对本次服务进行评价" in call.take_text()
    call.press("2")
    call.take_text()
    call.press("2")
    assert "再见" in call.take_text() and call.ended
    records_worker.work()
    db.rollback()
    response = db.scalar(select(SurveyResponse).where(SurveyResponse.call_sid == call.sid))
    assert (response.score, response.agent_id, response.queue) == (2, 1, "general")
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    kinds = [e.kind for e in db.scalars(select(CallEvent).where(CallEvent.call_id == record.id))]
    assert kinds.index("answer") < kinds.index("talk_end") < kinds.index("survey")


@pytest.fixture
def job_context(environ, server, clock, monkeypatch):  # noqa: F811
    """The jobs' view of this test: its database, Redis, clock, the carrier and the served hotline."""
    for name, value in {**environ, "PUBLIC_BASE_URL": server}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    context.reset(clock=clock)
    yield
    context.reset()


def test_a_worrying_answer_puts_the_patient_in_the_nurse_queue_for_a_callback(carrier, hotline, db, job_context):  # noqa: F811
    add_discharges(db, [("M00000001", "心内科一病区", date(2026, 10, 20))])
    db.rollback()
    jobs.run_campaigns("2026-10")
    [task] = tasks(db)
    jobs.place_followup_call(task.id)  # what the worker runs
    call = carrier.ringing(MS_WANG_PHONE)
    call.answer()
    call.press("0502#")
    call.press("3")  # unwell
    call.press("1")
    call.press("1")
    assert "护士会尽快给您回电" in call.take_text() and call.ended
    [task] = tasks(db)
    assert task.flagged and task.nurse_reference == call.sid
    assert hotline.acd.entry(call.sid)["queue"] == "nurse"

    on_duty(hotline, 5, {"nurse": 3})  # a nurse logs in: the ACD calls the patient back
    callback = carrier.ringing(MS_WANG_PHONE)
    callback.answer()
    assert "您之前请求回电" in callback.take_text()
    nurse = ringing(carrier, 5)
    assert nurse is not None
    nurse.answer()
    assert in_talk(callback)
    events = [e.kind for e in hotline.calls.events(call.sid)]
    assert "callback_requested" in events and "offer" in events
