"""Call records written by the records queue's workers: queue entries from the ACD's
events, and exactly-once records whatever order or how often jobs and callbacks come."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

from queueing import recording
from records import calls, entries
from records.models import CallEvent, QueueEntry
from tests.conftest import AUTH_TOKEN, OPEN

MS_WANG_PHONE = "+8613800138000"


def ev(seconds: float, kind: str, sequence: int, **detail) -> calls.Event:
    return calls.Event(sequence, OPEN + timedelta(seconds=seconds), kind, detail)


def signed_post(app, path: str, form: dict):
    signature = RequestValidator(AUTH_TOKEN).compute_signature("http://localhost" + path, form)
    return app.test_client().post(path, data=form, headers={"X-Twilio-Signature": signature})


def status(app, call_sid: str, call_status: str, sequence: int, duration: int | None = None):
    form = {"CallSid": call_sid, "CallStatus": call_status, "SequenceNumber": str(sequence)}
    if duration is not None:
        form["CallDuration"] = str(duration)
    response = signed_post(app, "/ivr/status", form)
    assert response.status_code == 204


def stored(db, call_sid: str):
    db.rollback()
    db.expire_all()
    record = calls.find_call(db, call_sid)
    assert record is not None
    queue_entries = db.scalars(select(QueueEntry).where(QueueEntry.call_id == record.id).order_by(QueueEntry.position))
    return record, list(queue_entries)


# ---- queue entries from events (pure) -------------------------------------------------------


def test_an_answered_entry_has_every_time_and_figure():
    built = entries.build(
        [
            ev(0, "enqueue", 1, queue="general", priority=2),
            ev(3, "offer", 2, queue="general", agent_id=5),
            ev(18, "missed_offer", 3, queue="general", agent_id=5, reason="no answer"),
            ev(19, "offer", 4, queue="general", agent_id=6),
            ev(25, "answer", 5, queue="general", agent_id=6, waited=25),
            ev(205, "talk_end", 6, queue="general", agent_id=6, talk=170, hold=10),
            ev(265, "wrap_up_end", 7, queue="general", agent_id=6, wrap_up=60, disposition="booking"),
            ev(300, "survey", 8, queue="general", agent_id=6, score=5),
        ]
    )
    (entry,) = built
    assert (entry.queue, entry.priority, entry.result, entry.agent_id) == ("general", 2, "answered", 6)
    assert entry.enqueued_at == OPEN and entry.answered_at == entry.left_at == OPEN + timedelta(seconds=25)
    assert [(o["agent_id"], o["missed"]) for o in entry.offers] == [(5, "no answer"), (6, None)]
    assert (entry.talk_seconds, entry.hold_seconds, entry.wrap_up_seconds) == (170, 10, 60)
    assert entry.hung_up_at == OPEN + timedelta(seconds=205)
    assert entry.wrap_up_end_at == OPEN + timedelta(seconds=265)
    assert (entry.disposition, entry.survey_score, entry.waited) == ("booking", 5, 25)


def test_a_transfer_opens_a_new_entry_and_the_acds_enqueue_does_not_open_a_third():
    built = entries.build(
        [
            ev(0, "enqueue", 1, queue="general"),
            ev(10, "answer", 2, queue="general", agent_id=1, waited=10),
            ev(60, "transfer", 3, queue="general", to_queue="complaints"),
            ev(60, "enqueue", 4, queue="complaints", priority=1),
            ev(90, "voicemail", 5, queue="complaints", recording_sid="RE1", recording_url="http://r/1", duration=20),
        ]
    )
    assert [(e.position, e.queue, e.result) for e in built] == [
        (1, "general", "answered"),
        (2, "complaints", "voicemail"),
    ]
    assert (built[1].voicemail_sid, built[1].voicemail_seconds, built[1].waited) == ("RE1", 20, 30)


def test_a_caller_still_queued_when_the_call_ended_abandoned():
    built = entries.build([ev(0, "enqueue", 1, queue="general")], ended_at=OPEN + timedelta(seconds=42))
    assert (built[0].result, built[0].waited, built[0].hung_up_at) == ("abandoned", 42, OPEN + timedelta(seconds=42))
    assert entries.outcome(built, "self_service") == "abandoned"


def test_a_message_left_out_of_hours_is_kept_but_never_offered():
    from contactcentre import metrics

    built = entries.build([ev(5, "voicemail", 1, queue="general", recording_sid="RE9", recording_url="u", duration=30)])
    assert [(e.result, e.voicemail_sid, e.left_at) for e in built] == [("voicemail", "RE9", None)]
    assert entries.outcome(built, "self_service") == "voicemail"
    assert metrics.figures(built, metrics.Thresholds()).offered == 0


def test_flow_outs_and_events_without_an_entry():
    built = entries.build(
        [
            ev(0, "answer", 1, queue="general", agent_id=1),  # its enqueue never came: ignored
            ev(1, "enqueue", 2, queue="general"),
            ev(31, "callback_requested", 3, queue="general", waited=30),
            ev(40, "enqueue", 4, queue="complaints"),
            ev(100, "queue_timeout", 5, queue="complaints", waited=60),
            ev(3600, "answer", 6, queue="general", agent_id=4),  # the agent reached the patient on the callback
        ]
    )
    assert [(e.result, e.waited) for e in built] == [("callback", 30), ("timeout", 60)]
    assert (built[0].answered_at, built[0].agent_id) == (OPEN + timedelta(seconds=3600), 4)
    assert entries.outcome(built, "self_service") == "callback"
    assert entries.outcome([], "transferred") == "transferred"


# ---- the jobs -------------------------------------------------------------------------------


def test_queue_events_from_the_acd_land_once_as_events_and_a_queue_entry(app, db, records_worker):
    hotline = app.extensions["hotline"]
    hotline.calls.open(
        calls.CallOpened(
            call_sid="CAacd",
            from_number="13800138000",
            to_number="+861065281000",
            caller=calls.CallerMatch(MS_WANG_PHONE, (1,)),
            language="zh",
            at=OPEN,
            direction="inbound",
        )
    )
    hotline.calls.add_events("CAacd", OPEN, [("menu", {"step": "menu.main"}), ("enqueue", {"queue": "general"})])
    hotline.calls.add_events("CAacd", OPEN + timedelta(seconds=12), [("answer", {"queue": "general", "agent_id": 3})])
    records_worker.work()
    db.rollback()
    assert calls.find_call(db, "CAacd") is None  # during the call nothing is written (issue 17)
    status(app, "CAacd", "completed", 3, duration=240)
    records_worker.work()
    record, (entry,) = stored(db, "CAacd")
    assert [event.kind for event in record.events] == ["menu", "enqueue", "answer"]
    # Numbered in one epoch, by their place in the call's list (ivr/state.py).
    numbers = [calls.epoch_and_position(event.sequence) for event in record.events]
    assert [position for _, position in numbers] == [1, 2, 3] and len({epoch for epoch, _ in numbers}) == 1
    assert (record.outcome, record.patient_id, record.from_number) == ("answered", 1, MS_WANG_PHONE)
    assert (entry.result, entry.waited, entry.agent_id) == ("answered", 12, 3)
    # Wrap-up comes after the caller hung up: the entry is completed, not doubled.
    hotline.calls.add_events(
        "CAacd",
        OPEN + timedelta(minutes=5),
        [("wrap_up_end", {"queue": "general", "wrap_up": 30, "disposition": "info"})],
    )
    status(app, "CAacd", "completed", 3, duration=240)  # and the final status again
    records_worker.work()
    record, (entry,) = stored(db, "CAacd")
    assert (record.status, entry.disposition, entry.wrap_up_seconds) == ("completed", "info", 30)
    assert db.scalar(select(func.count()).select_from(CallEvent).where(CallEvent.call_id == record.id)) == 4


def test_jobs_in_reverse_order_write_the_same_record(app, db, records_worker):
    """Status first, then events, then the call's opening: the worker pool runs jobs
    side by side, and the carrier's callbacks may come in any order."""
    status(app, "CArev", "completed", 4, duration=61)
    status(app, "CArev", "in-progress", 2)
    recording.write_events(call_sid="CArev", events=[[2, OPEN.isoformat(), "enqueue", {"queue": "general"}]])
    recording.write_events(call_sid="CArev", events=[[1, OPEN.isoformat(), "menu", {"step": "menu.main"}]])
    records_worker.work()
    recording.open_call(
        call_sid="CArev",
        from_number="13800138000",
        to_number="+861065281000",
        e164=MS_WANG_PHONE,
        patient_ids=[1],
        language="zh",
        at=(OPEN - timedelta(seconds=1)).isoformat(),
        direction="inbound",
    )
    record, (entry,) = stored(db, "CArev")
    assert (record.status, record.status_sequence, record.duration_seconds) == ("completed", 4, 61)
    assert (record.from_number, record.patient_id, record.menu_path) == (MS_WANG_PHONE, 1, "menu.main")
    assert record.started_at == OPEN - timedelta(seconds=1)
    # Nobody answered and the call is over: the caller abandoned the queue when the call ended.
    assert (entry.result, record.outcome) == ("abandoned", "abandoned")


def test_every_job_twice_changes_nothing(app, db, records_worker):
    hotline = app.extensions["hotline"]
    hotline.calls.add_events(
        "CAtwice", OPEN, [("enqueue", {"queue": "general"}), ("abandon", {"queue": "general", "waited": 4})]
    )
    status(app, "CAtwice", "completed", 2, duration=9)
    jobs = [hotline.records_queue.fetch_job(job_id) for job_id in hotline.records_queue.job_ids]
    for job in jobs:  # what an RQ retry after a commit (a worker killed before it said 'done') does
        hotline.records_queue.enqueue_job(
            job.__class__.create(job.func_name, kwargs=job.kwargs, connection=job.connection)
        )
    assert hotline.records_queue.count == 2 * len(jobs)
    records_worker.work()
    record, queue_entries = stored(db, "CAtwice")
    assert len(record.events) == 2 and len(queue_entries) == 1
    assert (queue_entries[0].result, queue_entries[0].waited) == ("abandoned", 4)


def test_a_job_that_fails_for_good_waits_in_the_failed_registry_with_its_reason(app, db, records_worker):
    hotline = app.extensions["hotline"]
    hotline.records_queue.enqueue(
        "queueing.recording.write_events", kwargs={"call_sid": "CAbad", "events": [["x", "not a time", "menu", {}]]}
    )
    records_worker.work()
    registry = hotline.records_queue.failed_job_registry
    assert registry.count == 1
    (job,) = recording.failed_jobs(hotline.queue_redis, hotline.settings.env.redis_prefix)
    assert "ValueError" in job.latest_result().exc_string
    with app.app_context():
        listed = app.test_cli_runner().invoke(args=["records", "failed"])
        assert "CAbad" in listed.output and "ValueError" in listed.output
        retried = app.test_cli_runner().invoke(args=["records", "retry-failed"])
    assert "requeued 1 failed record jobs" in retried.output
    assert registry.count == 0 and hotline.records_queue.count == 1


@pytest.mark.parametrize("order", [("completed", "ringing"), ("ringing", "completed")])
def test_reordered_status_callbacks_end_completed(app, db, records_worker, order):
    sequences = {"ringing": 1, "completed": 3}
    for name in order:
        status(app, "CAord", name, sequences[name], duration=30 if name == "completed" else None)
    status(app, "CAord", "completed", 3, duration=30)  # and a duplicate
    records_worker.work()
    record, _ = stored(db, "CAord")
    assert (record.status, record.status_sequence, record.duration_seconds) == ("completed", 3, 30)
