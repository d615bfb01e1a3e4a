"""The retention purge: with the clock moved past each period, exactly what has expired goes,
on both databases; the reports' totals stay; a second run changes nothing; a run killed
midway is finished by the next; a recording is deleted at the carrier."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select, text
from twilio.rest import Client

from emulator import Carrier, Recording, http_client
from queueing import retention as purge_job
from records import retention, spool
from records.db import begin_write
from records.models import (
    AuditEntry,
    CallEvent,
    CallRecord,
    CaseNote,
    ComplaintCase,
    Patient,
    PatientNote,
    QueueEntry,
    RecordSpool,
    RetentionRun,
    SmsMessage,
    SurveyResponse,
    WrapUp,
)
from tests.conftest import OPEN
from tests.records.helpers import another_writes
from tests.web import make_staff

DAY = timedelta(days=1)


def NO_LETTERS(cutoff, batch, kept):  # noqa: N802  (these tests hold no dead letters in Redis)
    return 0


def _call(db, patient, at, *, n, recording_sid=None, speech="我要挂心内科"):
    """A call at `at` from the patient, with speech, a voicemail and a queue wait."""
    record = CallRecord(
        call_sid=f"CA{n:032d}",
        from_number="+8613800138000",
        to_number="+861065281000",
        patient_id=patient.id,
        matched_patients=1,
        language="zh",
        started_at=at,
        ended_at=at + timedelta(minutes=3),
        status="completed",
        duration_seconds=180,
        outcome="transferred",
    )
    db.add(record)
    db.flush()
    detail = {"queue": "general", "duration": 20}
    if recording_sid:
        detail |= {
            "recording_sid": recording_sid,
            "recording_url": f"https://api.twilio.com/Recordings/{recording_sid}",
        }
    db.add_all(
        [
            CallEvent(
                call_id=record.id, sequence=1, at=at, kind="speech", detail={"step": "main.menu", "text": speech}
            ),
            CallEvent(call_id=record.id, sequence=2, at=at, kind="enqueue", detail={"queue": "general", "priority": 0}),
            CallEvent(call_id=record.id, sequence=3, at=at, kind="voicemail", detail=detail),
        ]
    )
    db.add(
        QueueEntry(
            call_id=record.id,
            position=1,
            queue="general",
            enqueued_at=at,
            left_at=at + timedelta(seconds=40),
            result="voicemail",
            waited=40.0,
            voicemail_sid=recording_sid,
            voicemail_url=detail.get("recording_url"),
        )
    )
    return record


def _seed(db, at, *, n, staff_id, recording_sid=None, case_status="closed"):
    """One of each kind of data, dated `at`."""
    patient = db.scalar(select(Patient).order_by(Patient.id).limit(1))
    _call(db, patient, at, n=n, recording_sid=recording_sid)
    db.add(
        SmsMessage(
            patient_id=patient.id,
            kind="confirmation",
            to_number="+8613800138000",
            body="王女士，您已预约",
            status="delivered",
            created_at=at,
        )
    )
    case = ComplaintCase(
        patient_id=patient.id,
        owner_id=staff_id,
        opened_by_id=staff_id,
        source="call",
        summary="候诊太久",
        status=case_status,
        opened_at=at,
        deadline_at=at + 3 * DAY,
        closed_at=at + DAY if case_status == "closed" else None,
    )
    db.add(case)
    db.flush()
    db.add(CaseNote(case_id=case.id, at=at, staff_id=staff_id, kind="note", text="已致电患者"))
    db.add(
        WrapUp(
            call_sid=f"CA{n:032d}",
            staff_id=staff_id,
            queue="general",
            disposition="resolved",
            notes="患者询问化验结果",
            at=at,
        )
    )
    db.add(PatientNote(patient_id=patient.id, at=at, kind="booking", text="预约心内科"))
    db.add(
        SurveyResponse(
            call_sid=f"CA{n:032d}", patient_id=patient.id, agent_id=staff_id, queue="general", score=4, at=at
        )
    )
    db.add(AuditEntry(at=at, staff_id=staff_id, action="view_file", patient_id=patient.id, reason="来电"))
    db.flush()


def _run(db, when, settings, deleted=None):
    deleted = [] if deleted is None else deleted

    def carrier_delete(sid):
        deleted.append(sid)
        return True

    return purge_job.purge(db, lambda: when, settings.retention, "cli", carrier_delete, NO_LETTERS)


def _totals(db):
    """What the reports count: calls, their outcomes and durations, queue waits, scores, texts."""
    return (
        db.scalar(select(func.count(CallRecord.id))),
        db.scalar(select(func.sum(CallRecord.duration_seconds))),
        db.scalar(select(func.count(QueueEntry.id))),
        db.scalar(select(func.sum(QueueEntry.waited))),
        db.scalar(select(func.sum(SurveyResponse.score))),
        db.scalar(select(func.count(SmsMessage.id)).where(SmsMessage.status == "delivered")),
    )


@pytest.fixture
def staff_id(app):
    return make_staff(app, "agent").id


def test_each_kind_goes_at_its_own_period_and_the_totals_stay(db, settings, staff_id):
    periods = settings.retention
    # Data from long ago (past every period) and from yesterday (within every period).
    old, recent = OPEN - timedelta(days=periods.audit_days + 10), OPEN - DAY
    _seed(db, old, n=1, staff_id=staff_id, recording_sid="RE" + "1" * 32)
    _seed(db, recent, n=2, staff_id=staff_id, recording_sid="RE" + "2" * 32)
    db.commit()
    before = _totals(db)

    deleted = []
    counts = _run(db, OPEN, settings, deleted)

    assert deleted == ["RE" + "1" * 32]  # only the old recording, at the carrier
    old_call = db.scalar(select(CallRecord).where(CallRecord.call_sid == f"CA{1:032d}"))
    new_call = db.scalar(select(CallRecord).where(CallRecord.call_sid == f"CA{2:032d}"))
    assert (old_call.from_number, old_call.patient_id) == (retention.PURGED, None)
    assert db.scalars(select(CallEvent).where(CallEvent.call_id == old_call.id)).all() == []
    assert new_call.from_number == "+8613800138000" and new_call.patient_id is not None
    speech = db.scalar(select(CallEvent).where(CallEvent.call_id == new_call.id, CallEvent.kind == "speech"))
    assert speech.detail["text"] == "我要挂心内科"
    waits = {entry.call_id: entry for entry in db.scalars(select(QueueEntry))}
    assert waits[old_call.id].voicemail_sid is None and waits[new_call.id].voicemail_sid == "RE" + "2" * 32
    texts = {
        sms.created_at.date(): sms for sms in db.scalars(select(SmsMessage).where(SmsMessage.kind == "confirmation"))
    }
    assert texts[old.date()].body == "" and texts[old.date()].to_number == retention.PURGED
    assert texts[recent.date()].body == "王女士，您已预约"
    assert {note.text for note in db.scalars(select(CaseNote))} == {"", "已致电患者"}
    assert {case.summary for case in db.scalars(select(ComplaintCase))} == {"", "候诊太久"}
    assert {wrap.notes for wrap in db.scalars(select(WrapUp))} == {"", "患者询问化验结果"}
    assert {note.text for note in db.scalars(select(PatientNote).where(PatientNote.kind == "booking"))} >= {""}
    assert [entry.at.date() for entry in db.scalars(select(AuditEntry).where(AuditEntry.reason == "来电"))] == [
        recent.date()
    ]
    scores = {response.call_sid: response for response in db.scalars(select(SurveyResponse))}
    assert scores[f"CA{1:032d}"].patient_id is None and scores[f"CA{2:032d}"].patient_id is not None
    assert _totals(db) == before  # the reports count the same
    assert counts["callers"] == 1 and counts["recordings"] == 1 and counts["audit"] >= 1

    run = db.scalar(select(RetentionRun))
    assert run.status == "done" and run.counts == counts and run.trigger == "cli"

    # A second run finds nothing left to do.
    again = _run(db, OPEN, settings)
    assert set(again.values()) == {0}


def test_speech_goes_before_the_call_does(db, settings, staff_id):
    periods = settings.retention
    at = OPEN - timedelta(days=periods.speech_days + 1)  # past speech, within the call's period
    _seed(db, at, n=3, staff_id=staff_id)
    db.commit()
    _run(db, OPEN, settings)
    call = db.scalar(select(CallRecord).where(CallRecord.call_sid == f"CA{3:032d}"))
    assert call.from_number == "+8613800138000"
    speech = db.scalar(select(CallEvent).where(CallEvent.call_id == call.id, CallEvent.kind == "speech"))
    assert "text" not in speech.detail and speech.detail["step"] == "main.menu"


def test_an_open_case_keeps_its_notes_however_old(db, settings, staff_id):
    at = OPEN - timedelta(days=settings.retention.notes_days + 30)
    _seed(db, at, n=4, staff_id=staff_id, case_status="open")
    db.commit()
    _run(db, OPEN, settings)
    case = db.scalar(select(ComplaintCase))
    assert case.summary == "候诊太久" and [note.text for note in case.notes] == ["已致电患者"]


def test_a_run_killed_midway_is_finished_by_the_next(db, settings, staff_id, monkeypatch):
    at = OPEN - timedelta(days=settings.retention.audit_days + 1)
    for n in range(25):
        _seed(db, at, n=100 + n, staff_id=staff_id)
    db.commit()
    small = settings.retention.model_copy(update={"batch": 10})
    real = retention.STEPS["callers"]
    calls = []

    def killed_after_one_batch(session, cutoff, batch, after=0):
        calls.append(batch)
        if len(calls) > 1:
            raise KeyboardInterrupt("the worker was killed")  # not an Exception: as a SIGKILL would
        return real(session, cutoff, batch, after)

    monkeypatch.setitem(retention.STEPS, "callers", killed_after_one_batch)
    with pytest.raises(KeyboardInterrupt):
        purge_job.purge(db, lambda: OPEN, small, "nightly", lambda sid: True, NO_LETTERS)
    db.rollback()
    assert db.scalar(select(func.count(CallRecord.id)).where(CallRecord.from_number == retention.PURGED)) == 10
    running = db.scalar(select(RetentionRun))
    assert running.status == "running" and running.counts["callers"] == 10  # the progress it reached

    monkeypatch.setitem(retention.STEPS, "callers", real)
    counts = purge_job.purge(db, lambda: OPEN, small, "nightly", lambda sid: True, NO_LETTERS)
    assert counts["callers"] == 15
    assert db.scalar(select(func.count(CallRecord.id)).where(CallRecord.from_number != retention.PURGED)) == 0


def test_a_recording_the_carrier_refuses_to_delete_is_kept_and_tried_again(db, settings, staff_id):
    at = OPEN - timedelta(days=settings.retention.audit_days + 1)
    _seed(db, at, n=5, staff_id=staff_id, recording_sid="RE" + "5" * 32)
    db.commit()
    counts = purge_job.purge(db, lambda: OPEN, settings.retention, "nightly", lambda sid: False, NO_LETTERS)
    assert counts["recordings"] == 0
    call = db.scalar(select(CallRecord).where(CallRecord.call_sid == f"CA{5:032d}"))
    # Its call keeps its events (where the recording's address is) until the carrier lets it go.
    voicemail = db.scalar(select(CallEvent).where(CallEvent.call_id == call.id, CallEvent.kind == "voicemail"))
    assert voicemail.detail["recording_sid"] == "RE" + "5" * 32
    assert "1 recordings kept by the carrier" in db.scalar(select(RetentionRun.message))
    assert (
        purge_job.purge(db, lambda: OPEN, settings.retention, "nightly", lambda sid: True, NO_LETTERS)["recordings"]
        == 1
    )


def test_the_recording_is_deleted_at_the_carrier_through_its_rest_api(db, settings, staff_id):
    carrier = Carrier(account_sid=settings.env.twilio_account_sid, auth_token="t")
    base = carrier.serve()
    sid = "RE" + "7" * 32
    carrier.recordings[sid] = Recording(sid, "CA" + "7" * 32, carrier.account_sid, 12, 0.0, carrier.recording_url(sid))
    at = OPEN - timedelta(days=settings.retention.recordings_days + 1)
    _seed(db, at, n=7, staff_id=staff_id, recording_sid=sid)
    db.commit()
    client = Client(carrier.account_sid, "t", http_client=http_client(base))

    first = purge_job.purge(
        db, lambda: OPEN, settings.retention, "nightly", purge_job.delete_recording(client), NO_LETTERS
    )

    assert first["recordings"] == 1 and sid not in carrier.recordings
    # Gone at the carrier before the row was changed (a run killed between the two): 404 counts as gone.
    assert purge_job.delete_recording(client)(sid) is True


def test_the_audit_log_minimum_is_enforced_by_the_config_check():
    import settings as settings_module

    with pytest.raises(settings_module.ConfigError) as refused:
        settings_module.parse({**_minimal_config(), "retention": {"audit_days": 30}})
    assert "180" in str(refused.value) and "访问审计" in str(refused.value)
    with pytest.raises(settings_module.ConfigError) as refused:
        settings_module.parse({**_minimal_config(), "retention": {"speech_days": 400, "call_records_days": 300}})
    assert "speech_days" in str(refused.value)


def _minimal_config():
    import yaml

    from app import ROOT

    return yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))


# ---- the record spool: parts of calls kept in the database while Redis was away -------------------


def _spooled(db, call_sid, at, *, job="open_call", payload=None, set_aside=False):
    row = spool.spool(db, call_sid=call_sid, job=job, payload=payload or {"call_sid": call_sid}, at=at)
    row.attempts = spool.SET_ASIDE_AFTER if set_aside else 1
    return row


def _voicemail(call_sid, at, recording_sid):
    """A `write_events` payload whose voicemail's address is in the spool row alone."""
    event = [None, at.isoformat(), "voicemail", {"queue": "general", "recording_sid": recording_sid}]
    return {"call_sid": call_sid, "events": [event]}


def _spooled_calls(db):
    db.rollback()
    return db.scalars(select(RecordSpool.call_sid).order_by(RecordSpool.id)).all()


def test_spool_rows_past_the_shortest_period_go_set_aside_or_not_their_recordings_first_at_the_carrier(db, settings):
    """Rows set aside (their replay failed five times) stayed for ever, and so did rows stuck
    awaiting a replay: they hold a caller's number and file, what they said, a recording's
    address.  Past the dead letters' period (the shortest: they may hold speech) they go."""
    days = retention.dead_letter_days(settings.retention)
    assert days <= settings.retention.call_records_days
    old, recent = OPEN - timedelta(days=days + 1), OPEN - timedelta(days=days - 1)
    begin_write(db)
    _spooled(db, "CAaside", old, set_aside=True)
    _spooled(db, "CAstuck", old, job="write_events", payload=_voicemail("CAstuck", old, "RE" + "8" * 32))
    _spooled(db, "CArecent", recent, set_aside=True)
    db.commit()

    deleted = []
    counts = _run(db, OPEN, settings, deleted)

    assert _spooled_calls(db) == ["CArecent"]
    assert counts["spool"] == 2 and deleted == ["RE" + "8" * 32]
    assert db.scalar(select(RetentionRun)).counts["spool"] == 2
    assert _run(db, OPEN, settings)["spool"] == 0


def test_a_spool_row_whose_recording_the_carrier_keeps_stays_and_the_rows_after_it_go(db, settings):
    small = settings.retention.model_copy(update={"batch": 10})
    old = OPEN - timedelta(days=retention.dead_letter_days(small) + 1)
    begin_write(db)
    for n in range(small.batch):  # a whole batch the carrier refuses: the walk goes past it
        _spooled(db, f"CAkept{n}", old, job="write_events", payload=_voicemail(f"CAkept{n}", old, f"RE{n:032d}"))
    _spooled(db, "CAaside", old, set_aside=True)
    db.commit()

    counts = purge_job.purge(db, lambda: OPEN, small, "nightly", lambda sid: False, NO_LETTERS)

    assert counts["spool"] == 1 and len(_spooled_calls(db)) == small.batch
    assert f"{small.batch} recordings kept by the carrier" in db.scalar(select(RetentionRun.message))
    assert purge_job.purge(db, lambda: OPEN, small, "nightly", lambda sid: True, NO_LETTERS)["spool"] == small.batch
    assert _spooled_calls(db) == []


def test_a_spool_row_whose_payload_cannot_be_read_goes_too(db, settings):
    if db.get_bind().dialect.name == "postgresql":
        pytest.skip("PostgreSQL's JSON column refuses a payload it cannot decode")
    old = OPEN - timedelta(days=retention.dead_letter_days(settings.retention) + 1)
    begin_write(db)
    row = _spooled(db, "CAbad", old, job="write_events", set_aside=True)
    db.flush()
    db.execute(text('UPDATE record_spool SET payload = \'{"call_sid": "CA\' WHERE id = :id'), {"id": row.id})
    db.commit()
    assert _run(db, OPEN, settings)["spool"] == 1
    assert _spooled_calls(db) == []


def test_the_carrier_deletes_while_the_others_write(db, settings, staff_id, database_url):
    """The carrier's deletions are network calls, seconds each when it is slow, a few hundred a
    night: the purge holds no write transaction meanwhile (SQLite's write lock), or every
    other writer (the webhooks' spool, the desk's saves, the records worker) waits behind it
    past its busy timeout and fails.  Each deletion here is slower than a writer waits."""
    at = OPEN - timedelta(days=settings.retention.audit_days + 1)
    _seed(db, at, n=9, staff_id=staff_id, recording_sid="RE" + "9" * 32)
    begin_write(db)
    _spooled(db, "CAstuck", at, job="write_events", payload=_voicemail("CAstuck", at, "RE" + "8" * 32))
    db.commit()
    deleted = []

    def carrier_delete(sid):
        another_writes(database_url, "UPDATE call_events SET sequence = sequence")  # the desk saves meanwhile
        another_writes(database_url, "UPDATE record_spool SET attempts = attempts")  # the replay counts a failure
        deleted.append(sid)
        return True

    counts = purge_job.purge(db, lambda: OPEN, settings.retention, "nightly", carrier_delete, NO_LETTERS)

    assert deleted == ["RE" + "9" * 32, "RE" + "8" * 32]
    assert counts["recordings"] == 1 and counts["spool"] == 1 and _spooled_calls(db) == []
    db.expire_all()
    assert db.scalar(select(QueueEntry.voicemail_sid)) is None


def test_rows_gone_while_the_carrier_deletes_are_passed_over(db, settings, staff_id, database_url):
    """Between the purge's read and its write, with no transaction open, an erasure may
    delete a call's events and a replay apply (and delete) a spool row: the write asks each
    row again and the run goes on, its counts the recordings gone and the rows it deleted."""
    at = OPEN - timedelta(days=settings.retention.audit_days + 1)
    _seed(db, at, n=10, staff_id=staff_id, recording_sid="RE" + "1" * 32)
    begin_write(db)
    _spooled(db, "CAreplayed", at, job="write_events", payload=_voicemail("CAreplayed", at, "RE" + "2" * 32))
    db.commit()

    meanwhile = {
        "RE" + "1" * 32: "DELETE FROM call_events WHERE kind = 'voicemail'",  # the erasure
        "RE" + "2" * 32: "DELETE FROM record_spool",  # the replay applied it
    }
    deleted = []

    def carrier_delete(sid):
        another_writes(database_url, meanwhile[sid])
        deleted.append(sid)
        return True

    counts = purge_job.purge(db, lambda: OPEN, settings.retention, "nightly", carrier_delete, NO_LETTERS)

    assert deleted == list(meanwhile) and counts["recordings"] == 1 and counts["spool"] == 0
    assert db.scalar(select(RetentionRun.status)) == "done"


def test_a_recording_address_that_is_not_text_does_not_hold_the_purge_in_a_loop(db, settings, staff_id):
    """Events come from JSON (Redis's lists, the spool's payloads, a dead letter retried): a
    recording's address may be a number there.  The write asked each row whether it still held
    the address the carrier deleted, compared as text with a number: never, so the row stayed,
    was found again, deleted again ("not found": gone), and the run went round until RQ's
    timeout killed it, every night, the purge's other steps never reached."""
    at = OPEN - timedelta(days=settings.retention.audit_days + 1)
    _seed(db, at, n=11, staff_id=staff_id, recording_sid="RE" + "3" * 32)
    voicemail = db.scalar(select(CallEvent).where(CallEvent.kind == "voicemail"))
    voicemail.detail = {**voicemail.detail, "recording_sid": 12345}
    db.commit()
    asked = []

    def carrier_delete(sid):
        asked.append(sid)
        if len(asked) > 5:
            raise RuntimeError("the purge asks the carrier for the same recording again and again")
        return True

    counts = purge_job.purge(db, lambda: OPEN, settings.retention, "nightly", carrier_delete, NO_LETTERS)

    assert asked == ["12345"] and counts["recordings"] == 1 and counts["callers"] == 1
    db.expire_all()
    assert db.scalar(select(RetentionRun.status)) == "done"
    assert db.scalar(select(CallRecord.from_number)) == retention.PURGED


def test_recordings_the_carrier_keeps_do_not_hold_back_those_after_them(db, settings, staff_id):
    """A whole batch of the oldest recordings kept by the carrier (refused every night: a
    recording under a legal hold, another account's): the batch was found again at the front
    of every run, and each run stopped there, so no recording after them (and no survey
    comment: read once the batch had room) was ever deleted."""
    small = settings.retention.model_copy(update={"batch": 10})
    at = OPEN - timedelta(days=small.audit_days + 1)
    patient = db.scalar(select(Patient).order_by(Patient.id).limit(1))
    for n in range(small.batch + 1):
        _call(db, patient, at + timedelta(minutes=n), n=200 + n, recording_sid=f"RE{n:032d}")
    comment = f"RE{99:032d}"
    db.add(SurveyResponse(call_sid=f"CA{200:032d}", agent_id=staff_id, queue="general", score=4, at=at,
                          comment_recording_sid=comment, comment_recording_url=f"/recordings/{comment}"))  # fmt: skip
    db.commit()
    held = {f"RE{n:032d}" for n in range(small.batch)}
    deleted = []

    def carrier_delete(sid):
        if sid in held:
            return False
        deleted.append(sid)
        return True

    counts = purge_job.purge(db, lambda: OPEN, small, "nightly", carrier_delete, NO_LETTERS)

    assert sorted(deleted) == sorted([f"RE{small.batch:032d}", comment]) and counts["recordings"] == 2
    db.expire_all()
    assert db.scalar(select(SurveyResponse.comment_recording_sid)) is None
    assert f"{small.batch} recordings kept by the carrier" in db.scalar(select(RetentionRun.message))
    kept = db.scalars(select(CallEvent.detail).where(CallEvent.kind == "voicemail")).all()
    assert sorted(detail["recording_sid"] for detail in kept) == sorted(held)


def test_spool_rows_replayed_while_the_carrier_deletes_do_not_end_the_step(db, settings, database_url):
    """A batch whose rows a replay applied (and deleted) between the purge's read and its write
    deleted nothing: the step took that for "no expired row left" and stopped, the rows after
    that batch left for another night."""
    small = settings.retention.model_copy(update={"batch": 10})
    old = OPEN - timedelta(days=retention.dead_letter_days(small) + 1)
    begin_write(db)
    for n in range(small.batch):
        _spooled(
            db, f"CAreplayed{n}", old, job="write_events", payload=_voicemail(f"CAreplayed{n}", old, f"RE{n:032d}")
        )
    _spooled(db, "CAnext", old, set_aside=True)
    db.commit()
    replayed = []

    def carrier_delete(sid):
        if not replayed:
            replayed.append(sid)
            another_writes(database_url, "DELETE FROM record_spool WHERE call_sid LIKE 'CAreplayed%'")
        return True

    counts = purge_job.purge(db, lambda: OPEN, small, "nightly", carrier_delete, NO_LETTERS)

    assert _spooled_calls(db) == [] and counts["spool"] == 1
