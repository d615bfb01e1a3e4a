"""Issue 17: a call's record is written once, after its final status, by a drain job that
writes finished calls in batches: nothing enqueued during the call, one job per hand-over,
the final status twice recorded once, and a final status Redis could not take spooled and
replayed with what Redis kept of the call."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from sqlalchemy import func, select
from sqlalchemy.exc import DataError, IntegrityError

from queueing import recording
from records import calls
from records.db import begin_write, insert_made, insert_new
from records.models import CallEvent, CallRecord, RecordSpool
from tests.conftest import OPEN
from tests.records.helpers import spool_payload
from tests.records.test_recording import MS_WANG_PHONE, status, stored

MS_WANG = "13800138000"


def test_a_whole_call_through_the_emulator_gives_one_complete_record_after_its_final_status(
    dial, app, db, records_worker
):
    queue = app.extensions["hotline"].records_queue
    call = dial(MS_WANG)
    assert "王女士您好" in call.take_text()
    call.press("1")  # the hospital's introduction
    call.take_text()
    assert queue.count == 0  # nothing enqueued during the call
    records_worker.work()
    db.rollback()
    assert calls.find_call(db, call.sid) is None  # nor written
    call.hangup()
    assert queue.count == 1  # the final status: one drain job
    records_worker.work()
    record, _ = stored(db, call.sid)
    assert (record.status, record.menu_path) == ("completed", "menu.main > introduction.start")
    assert (record.from_number, record.patient.mrn, record.reconstructed) == (MS_WANG_PHONE, "M00000001", False)
    numbers = [calls.epoch_and_position(event.sequence) for event in record.events]
    assert [position for _, position in numbers] == list(range(1, len(numbers) + 1))
    assert len({epoch for epoch, _ in numbers}) == 1


def keep_call(app, sid: str) -> None:
    """A call's webhooks, ended before the test's clock: its opening and events kept in Redis."""
    store = app.extensions["hotline"].calls
    began = OPEN - timedelta(seconds=20)
    opened = calls.CallOpened(sid, MS_WANG, "+861065281000", calls.CallerMatch(MS_WANG_PHONE, (1,)), "zh", began)
    store.add_events(sid, began, [("menu", {"step": "menu.main"}), ("key", {"digits": "0"})], opened=opened)
    store.add_events(sid, began + timedelta(seconds=3), [("enqueue", {"queue": "general"})])


def test_a_final_status_after_redis_lost_its_scripts_is_handed_over(app, db, records_worker, monkeypatch):
    """The hand-over is one Lua script (ivr.state.HAND_OVER): after a restart without it
    (NOSCRIPT) the Script object loads it and the call is recorded as usual."""
    keep_call(app, "CAnoscript")
    monkeypatch.setattr(app.extensions["hotline"].calls._hand_over, "sha", "0" * 40)
    status(app, "CAnoscript", "completed", 5, duration=20)
    assert db.scalar(select(func.count()).select_from(RecordSpool)) == 0  # handed over in Redis, not spooled
    records_worker.work()
    record, (entry,) = stored(db, "CAnoscript")
    assert (record.status, record.duration_seconds, entry.result) == ("completed", 20, "abandoned")


def test_the_final_status_twice_is_recorded_once(app, db, records_worker):
    keep_call(app, "CAtwice")
    status(app, "CAtwice", "completed", 5, duration=20)
    status(app, "CAtwice", "completed", 5, duration=20)  # the carrier sends it again
    assert app.extensions["hotline"].records_queue.count == 1  # a drain job was pending already
    records_worker.work()
    status(app, "CAtwice", "completed", 5, duration=20)  # and once more, after it was written
    records_worker.work()
    record, (entry,) = stored(db, "CAtwice")
    assert (record.status, record.status_sequence, record.duration_seconds) == ("completed", 5, 20)
    assert db.scalar(select(func.count()).select_from(CallEvent).where(CallEvent.call_id == record.id)) == 3
    assert (entry.result, record.outcome) == ("abandoned", "abandoned")


class RedisAway:
    """Every command and every pipeline refused, as a Redis that is down refuses them."""

    def pipeline(self, *args, **kwargs):
        raise redis_lib.ConnectionError("Redis is away")

    def evalsha(self, *args, **kwargs):
        raise redis_lib.ConnectionError("Redis is away")


def test_a_final_status_redis_could_not_take_is_spooled_and_replayed_with_the_call(
    app, db, records_worker, monkeypatch
):
    keep_call(app, "CAaway")
    store = app.extensions["hotline"].calls
    with monkeypatch.context() as away:
        away.setattr(store, "redis", RedisAway())
        status(app, "CAaway", "completed", 5, duration=20)
    db.rollback()
    assert db.scalar(select(func.count()).select_from(RecordSpool)) == 1
    assert app.extensions["hotline"].records_queue.count == 0
    assert recording.replay_spool() == 1  # Redis back: the replay reads what it kept of the call
    record, (entry,) = stored(db, "CAaway")
    assert (record.status, record.from_number, record.patient_id, record.reconstructed) == (
        "completed",
        MS_WANG_PHONE,
        1,
        False,
    )
    assert (record.menu_path, entry.result) == ("menu.main", "abandoned")
    assert store.redis.zscore(store.keys.open_calls, "CAaway") is None  # no longer open for the sweep


def test_a_call_whose_record_is_always_refused_is_set_aside_after_five_attempts_and_shown(
    app, db, records_worker, monkeypatch, caplog
):
    """A finished call the database refuses every time (here its caller's file is gone: the
    foreign key fails) no longer waits unacknowledged, retaken every minute forever: after
    DEAD_LETTER_AFTER refusals it leaves the stream for the dead letters, the log says so
    without the caller's number, and the supervisor pages, the metrics and
    `flask records dead-letters` show it.  The calls beside it are written."""
    from monitoring.metrics import scrape
    from queueing import health
    from queueing.handover import DEAD_LETTER_AFTER, RecordKeys

    hotline = app.extensions["hotline"]
    store, prefix = hotline.calls, hotline.settings.env.redis_prefix
    keep_call(app, "CAgood")
    gone = calls.CallOpened("CAgone", MS_WANG, "", calls.CallerMatch(MS_WANG_PHONE, (999999,)), "zh", OPEN)
    store.add_events("CAgone", OPEN, [("menu", {"step": "menu.main"})], opened=gone)
    status(app, "CAgood", "completed", 5, duration=20)
    status(app, "CAgone", "completed", 5, duration=20)
    monkeypatch.setattr(recording, "CLAIM_IDLE_MS", 0)  # each drain retakes what the last left
    for attempt in range(DEAD_LETTER_AFTER):
        assert len(recording.dead_letters(hotline.redis, prefix)) == 0
        if attempt:
            hotline.records_queue.enqueue(recording.drain_finished)
        records_worker.work()
    stored(db, "CAgood")
    assert calls.find_call(db, "CAgone") is None
    ((_, letter),) = recording.dead_letters(hotline.redis, prefix)
    assert (letter["call_sid"], letter["attempts"], letter["error"]) == ("CAgone", "5", "IntegrityError")
    # The whole call, to be written later: its own keys in Redis expire with their TTL.
    assert json.loads(letter["opened"])["patient_ids"] == [999999]
    assert [json.loads(event)["kind"] for event in json.loads(letter["events"])] == ["menu"]
    assert hotline.redis.xpending(RecordKeys(prefix).finished, "records")["pending"] == 0
    assert hotline.records_queue.failed_job_registry.count == 0
    hotline.records_queue.enqueue(recording.drain_finished)  # nothing left to retake
    records_worker.work()
    assert len(recording.dead_letters(hotline.redis, prefix)) == 1
    assert "moved to the dead letters" in caplog.text and MS_WANG not in caplog.text
    # Each refusal by the error's name (and SQLSTATE), not its text: PostgreSQL's DETAIL of a
    # refused row lists the row's values, the caller's number among them.
    assert "its record not written (IntegrityError" in caplog.text and "DETAIL" not in caplog.text

    assert "1 call records the database refused" in health.check(hotline.queue_redis, prefix).line()
    assert b"hotline_records_dead_letters 1.0" in scrape(hotline)
    with app.app_context():
        listed = app.test_cli_runner().invoke(args=["records", "dead-letters"])
    assert "CAgone  5 attempts  IntegrityError" in listed.output


def test_a_row_the_database_refuses_in_a_batchs_events_is_sqlalchemys_error_on_both_databases(db):
    # On PostgreSQL the events go in by COPY, whose refusals are psycopg's own exceptions: the
    # drain catches SQLAlchemy's, and tells a refused call (IntegrityError, DataError) from an
    # outage by their class, so they are raised as SQLAlchemy's.
    begin_write(db)
    event = {"call_id": 10**9, "sequence": 1, "at": datetime.now(UTC), "kind": "menu", "detail": {}}
    with pytest.raises(IntegrityError):  # no such call: the foreign key refuses it
        insert_made(db, CallEvent, [event])
        db.flush()
    db.rollback()


def test_a_batch_insert_gives_the_columns_it_leaves_out_their_models_defaults_on_both_databases(db):
    # On PostgreSQL the batch goes as one JSON document in a text statement, which SQLAlchemy
    # does not give the models' Python-side defaults as its insert() does.
    begin_write(db)
    rows = [
        {"call_sid": f"CAdefault{i}", "from_number": MS_WANG_PHONE, "to_number": "", "language": "zh",
         "started_at": datetime.now(UTC)}
        for i in range(2)
    ]  # fmt: skip
    made = dict(insert_new(db, CallRecord, rows, ["call_sid"], returning=("call_sid", "id")))
    events = [{"call_id": made["CAdefault0"], "sequence": 1, "at": datetime.now(UTC), "kind": "menu"}]
    insert_new(db, CallEvent, events, ["call_id", "sequence"])
    db.commit()
    record = calls.find_call(db, "CAdefault0")
    assert (record.direction, record.status, record.status_sequence, record.menu_path) == (
        "inbound",
        "in-progress",
        -1,
        "",
    )
    assert (record.reconstructed, record.matched_patients, record.events[0].detail) == (False, 0, {})


def test_an_events_detail_of_none_is_stored_as_json_null_by_every_way_in_on_both_databases(db):
    """The batch's COPY and SQLite store a Python None in a JSON column as JSON null, as
    SQLAlchemy's JSON type does; the one-call path's INSERT from a JSON document stored SQL NULL
    on PostgreSQL (json_populate_recordset reads a null as NULL), which call_events.detail
    refuses: the same call written by the batch, refused when written alone (a rerun, a call
    without its opening, events after its final status) until it went to the dead letters."""
    begin_write(db)
    record = calls.open_call(db, calls.CallOpened("CAnone", MS_WANG, "", calls.CallerMatch(None, ()), "zh", OPEN))
    db.flush()
    event = {"call_id": record.id, "at": datetime.now(UTC), "kind": "menu", "detail": None}
    insert_made(db, CallEvent, [{**event, "sequence": 1}])  # the batch's usual call
    insert_new(db, CallEvent, [{**event, "sequence": 2}], ["call_id", "sequence"])  # one call alone
    db.commit()
    stored = db.execute(
        select(CallEvent.sequence, CallEvent.detail.is_(None)).where(CallEvent.call_id == record.id)
    ).all()
    assert sorted(stored) == [(1, False), (2, False)]  # JSON null both, not SQL NULL


def test_a_nul_in_a_batchs_text_is_refused_before_postgresql_sees_it(db):
    # PostgreSQL would refuse it while reading the rows' JSON, and quote the JSON around it
    # (what the caller said) in its own log; psycopg refused it client-side before the JSON.
    if db.get_bind().dialect.name != "postgresql":
        pytest.skip("SQLite keeps a NUL in a text value; the webhooks refuse one before (ivr.security)")
    begin_write(db)
    row = {"call_sid": "CAnul", "from_number": "+86138\x0000138000", "to_number": "", "language": "zh",
           "started_at": datetime.now(UTC)}  # fmt: skip
    with pytest.raises(DataError) as refused:
        insert_new(db, CallRecord, [row], ["call_sid"])
    assert isinstance(refused.value.orig, ValueError)  # ours, not the server's (psycopg.DataError)
    db.rollback()


def test_only_a_refused_row_counts_towards_the_dead_letters_not_an_outage():
    # A read-only standby after a failover (InternalError), code deployed before its migration
    # (ProgrammingError), an exhausted pool (TimeoutError): the next drain may get past them.
    from sqlalchemy import exc

    def raised(kind):
        return kind("INSERT ...", None, Exception("..."))

    assert recording._refused(raised(exc.IntegrityError)) and recording._refused(raised(exc.DataError))
    for outage in (exc.OperationalError, exc.InterfaceError, exc.InternalError, exc.ProgrammingError):
        assert not recording._refused(raised(outage)), outage
    assert not recording._refused(exc.TimeoutError("QueuePool limit reached"))


def test_calls_a_drain_could_not_write_while_the_database_was_away_are_retaken_by_its_retry(
    app, db, records_worker, monkeypatch
):
    """The database away during a drain: the job fails and RQ retries it 2 s later.  That
    retry writes the calls the failed drain read, at once: they do not wait the claim time
    (a minute) in Redis alone, where a Redis that lost its data would lose them too."""
    from sqlalchemy.exc import OperationalError

    hotline = app.extensions["hotline"]
    queue, store = hotline.records_queue, hotline.calls
    keep_call(app, "CAcut")
    status(app, "CAcut", "completed", 5, duration=20)

    def away(*args, **kwargs):
        raise OperationalError("INSERT ...", None, Exception("connection refused"))

    with monkeypatch.context() as cut:
        cut.setattr(calls, "record_finished_batch", away)
        cut.setattr(calls, "record_finished", away)
        records_worker.work()
    assert queue.scheduled_job_registry.count == 1  # RETRY: tried again in 2 s
    db.rollback()
    assert calls.find_call(db, "CAcut") is None

    for job_id in queue.scheduled_job_registry.get_job_ids():  # the 2 s are up
        queue.scheduled_job_registry.requeue(job_id)
    records_worker.work()
    record, _ = stored(db, "CAcut")
    assert (record.status, record.reconstructed) == ("completed", False)
    assert store.redis.xpending(store.keys.finished, "records")["pending"] == 0


# ---- a finished call that cannot be read or written as it is ---------------------------------------

# What a drain can meet in the finished calls' stream or a call's keys that the hotline never
# writes: each raised a TypeError or ValueError out of the drain job, which RQ retried; the entry
# stayed unacknowledged, the next drain took it over first and failed again, and no call after it
# was ever written.
MALFORMED = {
    "status time not a text": lambda redis, keys: redis.xadd(keys.finished, {"call_sid": "CAbad", "status": json.dumps(
        {"call_sid": "CAbad", "status": "completed", "sequence": 5, "duration_seconds": 20, "at": 12345})}),
    "status not a text": lambda redis, keys: redis.xadd(keys.finished, {"call_sid": "CAbad", "status": json.dumps(
        {"call_sid": "CAbad", "status": 5, "sequence": 5, "duration_seconds": 20, "at": OPEN.isoformat()})}),
    "status cut short": lambda redis, keys: redis.xadd(keys.finished, {"call_sid": "CAbad", "status": '{"call_sid": "CA'}),
    "no CallSid": lambda redis, keys: redis.xadd(keys.finished, {"status": "{}"}),
    "an event cut short": lambda redis, keys: (
        redis.rpush(keys.call("CAbad", "events"), '{"at": "2026'),
        redis.xadd(keys.finished, {"call_sid": "CAbad"}),
    ),
}  # fmt: skip


@pytest.mark.parametrize("malformed", MALFORMED.values(), ids=MALFORMED.keys())
def test_a_finished_call_that_cannot_be_read_or_written_is_set_aside_and_the_calls_after_it_are_written(
    app, db, records_worker, monkeypatch, caplog, malformed
):
    from queueing.handover import DEAD_LETTER_AFTER, RecordKeys

    hotline = app.extensions["hotline"]
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    keep_call(app, "CAbefore")
    status(app, "CAbefore", "completed", 5, duration=20)
    malformed(hotline.redis, keys)
    keep_call(app, "CAafter")
    status(app, "CAafter", "completed", 5, duration=20)
    records_worker.work()
    stored(db, "CAbefore")
    stored(db, "CAafter")
    assert hotline.records_queue.failed_job_registry.count == 0

    monkeypatch.setattr(recording, "CLAIM_IDLE_MS", 0)  # each drain retakes what the last left
    for attempt in range(1, DEAD_LETTER_AFTER):
        keep_call(app, f"CAlater{attempt}")  # a call ending meanwhile is written by the next drain
        status(app, f"CAlater{attempt}", "completed", 5, duration=20)
        hotline.records_queue.enqueue(recording.drain_finished)
        records_worker.work()
        stored(db, f"CAlater{attempt}")
    ((_, letter),) = recording.dead_letters(hotline.redis, keys.prefix)
    assert letter["error"] in ("TypeError", "ValueError", "KeyError", "JSONDecodeError")
    assert hotline.redis.xpending(keys.finished, "records")["pending"] == 0
    assert hotline.records_queue.failed_job_registry.count == 0
    assert "moved to the dead letters" in caplog.text and MS_WANG not in caplog.text
    assert calls.find_call(db, "CAbad") is None
    # The letter's readers do not fail on it: the operator's list and retry, the purge, a copy.
    with app.app_context():
        listed = app.test_cli_runner().invoke(args=["records", "dead-letters"])
        retried = app.test_cli_runner().invoke(args=["records", "dead-letters", "--retry"])
    assert listed.exit_code == 0 and "1 call records the database refused" in listed.output, listed.output
    assert retried.exit_code == 1 and "Written 0, not written 1" in retried.output, retried.output
    assert len(recording.letter_calls(hotline.redis, keys.prefix)) == 1
    assert (
        recording.forget_dead_letters(
            hotline.redis, keys.prefix, datetime.now(UTC) + timedelta(days=1), 10, bool, set()
        )
        == 1
    )


# ---- a spooled part that cannot be replayed ------------------------------------------------------

# Spool rows the replay can never apply: each raised out of replay_spool, which rolled back its
# whole batch; the next replay met the row first again, so no spooled part after it was ever
# written.  (The row: its job and payload; a text is written as the payload's stored JSON, which
# only SQLite keeps unchecked.)
STATUS = {"call_sid": "CAbad", "status": "completed", "sequence": 5, "duration_seconds": 20, "at": OPEN.isoformat()}
OPENING = calls.CallOpened("CAbad", MS_WANG, "", calls.CallerMatch(MS_WANG_PHONE, (999999,)), "zh", OPEN).to_json()
UNREPLAYABLE = {
    "payload not an object": ("finish", [1, 2]),
    "status without its time": ("finish", {k: v for k, v in STATUS.items() if k != "at"}),
    "status time not a text": ("apply_status", {**STATUS, "at": 12345}),
    "an event cut short": ("write_events", {"call_sid": "CAbad", "events": [[None, "2026"]]}),
    "a job this version does not know": ("write_everything", STATUS),
    "an opening the database refuses (its patient's file is gone)": ("open_call", OPENING),
    "payload cut short": ("finish", '{"call_sid": "CA'),
}  # fmt: skip


def spool_row(db, row_id: int) -> tuple[int, str, str]:
    """A spool row's failed replays, job and last error (not its payload, which may not decode)."""
    db.rollback()
    query = select(RecordSpool.attempts, RecordSpool.job, RecordSpool.error).where(RecordSpool.id == row_id)
    return tuple(db.execute(query).one())


@pytest.mark.parametrize("row", UNREPLAYABLE.values(), ids=UNREPLAYABLE.keys())
def test_a_spooled_part_that_cannot_be_replayed_is_set_aside_and_the_parts_after_it_are_replayed(
    app, db, records_worker, monkeypatch, caplog, row
):
    from records import spool

    job, payload = row
    if isinstance(payload, str) and db.get_bind().dialect.name == "postgresql":
        pytest.skip("PostgreSQL's JSON column refuses a payload it cannot decode")
    bad = spool_payload(db, "CAbad", job, payload, OPEN)
    bad_id = bad.id
    keep_call(app, "CAafter")
    store = app.extensions["hotline"].calls
    with monkeypatch.context() as away:
        away.setattr(store, "redis", RedisAway())
        status(app, "CAafter", "completed", 5, duration=20)  # spooled after the bad row

    assert recording.replay_spool() == 1
    record, _ = stored(db, "CAafter")
    assert (record.status, record.menu_path) == ("completed", "menu.main")
    assert calls.find_call(db, "CAbad") is None
    assert spool_row(db, bad_id)[:2] == (1, job)  # counted, tried again by the next replay

    for attempt in range(2, spool.SET_ASIDE_AFTER + 1):
        assert recording.replay_spool() == 0
        assert spool_row(db, bad_id)[0] == attempt
    assert spool_row(db, bad_id)[2] in ("TypeError", "ValueError", "KeyError", "JSONDecodeError", "IntegrityError")
    assert f"spool row {bad_id} (call CAbad, {job}): not replayed 5 times" in caplog.text
    assert "set aside in record_spool" in caplog.text
    assert MS_WANG not in caplog.text and MS_WANG_PHONE not in caplog.text
    # Set aside: kept, no longer taken by the replays, listed for the operator, tried on demand.
    assert recording.replay_spool() == 0
    assert spool_row(db, bad_id)[0] == spool.SET_ASIDE_AFTER
    with app.app_context():
        listed = app.test_cli_runner().invoke(args=["records", "replay-spool"])
    assert listed.exit_code == 0 and f"{bad_id}  CAbad  {job}  5 attempts" in listed.output, listed.output
    assert "1 spooled call records could not be written and are set aside" in listed.output
    assert recording.replay_spool(set_aside=True) == 0
    assert spool_row(db, bad_id)[0] == spool.SET_ASIDE_AFTER + 1


def test_the_spooled_gauge_counts_the_rows_awaiting_replay_and_another_those_set_aside(app, db):
    """The rows set aside were counted as spooled: an alert on the gauge never cleared once
    Redis was back and the replay had run."""
    from monitoring.metrics import scrape
    from records import spool

    begin_write(db)
    spool.spool(db, call_sid="CAwaiting", job="finish", payload=STATUS, at=OPEN)
    for sid in ("CAbad", "CAworse"):
        spool.spool(db, call_sid=sid, job="finish", payload=STATUS, at=OPEN).attempts = spool.SET_ASIDE_AFTER
    db.commit()
    scraped = scrape(app.extensions["hotline"])
    assert b"\nhotline_records_spooled 1.0\n" in scraped
    assert b"\nhotline_records_spool_set_aside 2.0\n" in scraped
