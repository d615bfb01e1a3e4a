"""Calls that lost part of their record (issue 16: a Redis that lost its data loses the
record jobs queued with it) are completed by the reconstruction sweep from what is known,
the carrier's Calls API here (the emulator's REST API), and the call's pages say
"补全 Reconstructed" instead of showing a silently truncated call."""

from __future__ import annotations

import json
from datetime import datetime, timedelta

import pytest
from sqlalchemy import func, select

from emulator.clock import VirtualClock
from queueing import context, reconstruction, recording
from records import calls
from records.models import CallRecord
from tests.conftest import AUTH_TOKEN, OPEN
from tests.web import log_in, make_staff

UNKNOWN = "+8613912345678"
MS_WANG = "13800138000"


@pytest.fixture
def carrier(server, settings):
    """The carrier emulator on the test's clock (its call times are the hotline's), its
    REST API served for the sweep's Calls API requests."""
    from emulator import Carrier

    carrier = Carrier(account_sid=settings.env.twilio_account_sid, auth_token=AUTH_TOKEN, clock=VirtualClock(OPEN))
    carrier.add_number(settings.hospital.main_number, voice_url=f"{server}/ivr/voice",
                       status_callback=f"{server}/ivr/status", status_events=("completed",))  # fmt: skip
    carrier.serve()
    yield carrier
    carrier.stop()


@pytest.fixture
def sweep(records_worker, carrier, clock, monkeypatch):
    """The sweep as RQ's cron has a records worker run it, QUIET after the calls."""
    from queueing.reconstruction import reconstruct_calls

    monkeypatch.setenv("TWILIO_API_BASE", carrier.base_url)
    context.reset(clock=clock)

    def run() -> str:
        clock.now += timedelta(minutes=15)
        return reconstruct_calls()

    return run


def lose_final_status(app, monkeypatch) -> list:
    """The calls' final status callbacks never reach the hotline (a carrier's outage, a lost
    request): the calls stay open in Redis.  The callbacks that did not come, for later."""
    missed: list = []

    def lost(callback, read=None) -> list:
        missed.append(callback)
        return []  # nothing read in the round trip that never came

    monkeypatch.setattr(app.extensions["hotline"].calls, "status", lost)
    return missed


def lose_handed_over(app, records_worker, sid: str, *parts: str) -> dict:
    """What a FLUSHALL does after a call was handed over (this test's keys only): its keys
    in Redis (`parts` of them, or all), the finished calls' stream, the drain-pending flag
    and the queued drain job.  What was lost, for a later arrival."""
    store = app.extensions["hotline"].calls
    assert records_worker.queue.count > 0
    records_worker.queue.empty()
    parts = parts or ("opened", "events", "epoch", "sent", "caller", "finished")
    kept = {part: store.redis.dump(store.keys.call(sid, part)) for part in parts}
    store.redis.delete(store.keys.finished, store.keys.drain_pending, *(store.keys.call(sid, p) for p in parts))
    return kept


def hand_over_again(app, records_worker, sid: str, kept: dict) -> None:
    """What was lost comes back (a replica's copy, the spool), and the call is handed over again."""
    store = app.extensions["hotline"].calls
    for part, value in kept.items():
        if value is not None:
            store.redis.restore(store.keys.call(sid, part), 0, value, replace=True)
    store.redis.xadd(store.keys.finished, {"call_sid": sid})
    records_worker.queue.enqueue(recording.drain_finished)
    records_worker.work()


def stored(db, sid):
    db.rollback()
    db.expire_all()
    return calls.find_call(db, sid)


def call_page(app, sid) -> str:
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    return client.get(f"/supervisor/calls/{sid}").get_data(as_text=True)


def test_a_call_whose_final_status_was_lost_is_completed_from_the_carrier(
    app, dial, carrier, db, records_worker, sweep, monkeypatch
):
    lose_final_status(app, monkeypatch)
    call = dial(UNKNOWN)
    call.press("1")
    records_worker.work()
    call.hangup()
    records_worker.work()
    assert stored(db, call.sid) is None  # nothing is written before the final status (issue 17)

    sweep()
    record = stored(db, call.sid)
    ended = carrier.calls[-1]
    assert (record.status, record.duration_seconds) == ("completed", ended.duration)
    assert record.reconstructed and record.reconstructed_why == "final status from the carrier"
    assert record.menu_path == "menu.main > introduction.start"  # what was stored is kept
    html = call_page(app, call.sid)
    assert "补全 Reconstructed: final status from the carrier" in html

    sweep()  # again: nothing more to do, nothing said twice
    again = stored(db, call.sid)
    assert (again.status, again.reconstructed_why, again.status_sequence) == (
        "completed",
        "final status from the carrier",
        record.status_sequence,
    )


def test_a_call_that_lost_events_is_marked_reconstructed(app, dial, db, records_worker, sweep):
    call = dial(UNKNOWN)
    call.press("2")
    call.press("1")
    call.press("#")
    call.hangup()
    records_worker.work()
    # An event lost (what a lost per-webhook events job left before issue 17): a gap.
    record = stored(db, call.sid)
    db.delete(sorted(record.events, key=lambda event: event.sequence)[3])
    db.commit()
    record = stored(db, call.sid)
    assert record.status == "completed" and not record.reconstructed

    sweep()
    record = stored(db, call.sid)
    assert record.reconstructed and record.reconstructed_why == calls.EVENTS_MISSING
    assert 'class="reconstructed"' in call_page(app, call.sid)


def test_a_call_with_no_record_at_all_is_opened_from_the_carrier(app, dial, db, records_worker, sweep):
    call = dial(MS_WANG)
    call.press("1")
    call.hangup()
    lose_handed_over(app, records_worker, call.sid)  # everything Redis held of the call
    assert stored(db, call.sid) is None
    other = dial(UNKNOWN)  # a whole call, left as it is
    other.hangup()
    records_worker.work()

    sweep()
    record = stored(db, call.sid)
    assert (record.status, record.from_number, record.direction) == ("completed", "+8613800138000", "inbound")
    assert record.patient is not None and record.patient.mrn == "M00000001"
    assert record.reconstructed and "opened from the carrier" in record.reconstructed_why
    assert not stored(db, other.sid).reconstructed
    assert db.scalar(select(func.count()).select_from(CallRecord).where(CallRecord.reconstructed)) == 1


def test_lost_events_are_told_by_their_numbers():
    epoch, later = 1_764_990_000_000, 1_764_990_060_000
    numbered = [calls.event_sequence(epoch, position) for position in (1, 2, 3)]
    assert calls.lost_events(numbered) is None
    assert calls.lost_events([numbered[0], numbered[2]]) == calls.EVENTS_MISSING
    assert calls.lost_events([*numbered, calls.event_sequence(later, 1)]) == calls.LOST_FROM_REDIS
    assert calls.lost_events([*numbered, 1_000_000_000 + 7 * 100]) is None  # spooled ones have no place
    assert calls.lost_events([1, 2, 3]) is None and calls.lost_events([]) is None


@pytest.mark.parametrize("status_lost", [False, True], ids=["status-kept", "status-lost-too"])
def test_a_completed_call_in_whose_events_were_all_lost_is_marked_reconstructed(
    app, dial, db, records_worker, sweep, status_lost, monkeypatch
):
    if status_lost:
        lose_final_status(app, monkeypatch)
    call = dial(UNKNOWN)
    call.press("1")
    call.hangup()
    store = app.extensions["hotline"].calls
    kept = {part: store.redis.dump(store.keys.call(call.sid, part)) for part in ("events", "epoch")}
    store.redis.delete(*(store.keys.call(call.sid, part) for part in kept))  # the call's events lost
    records_worker.work()
    record = stored(db, call.sid)
    if status_lost:
        assert record is None  # nothing is written before the final status (issue 17)
    else:
        assert record.events == [] and not record.reconstructed and record.status == "completed"
    sweep()
    record = stored(db, call.sid)
    assert (record.status, record.direction, record.reconstructed) == ("completed", "inbound", True)
    expected = ["final status from the carrier"] if status_lost else []
    assert record.reconstructed_why == "; ".join([*expected, calls.NO_EVENTS])
    assert "补全 Reconstructed" in call_page(app, call.sid)
    sweep()  # again: nothing said twice
    assert stored(db, call.sid).reconstructed_why == record.reconstructed_why
    # The events come after all (Redis's copy back): the call's own events take the reason back.
    hand_over_again(app, records_worker, call.sid, kept)
    record = stored(db, call.sid)
    assert record.menu_path == "menu.main > introduction.start"
    assert record.reconstructed is status_lost
    assert record.reconstructed_why == "; ".join(expected)


def test_a_call_out_not_answered_has_no_events_and_is_not_reconstructed(db, records_worker, sweep, app):
    """No events is a loss only for a completed call in: a reminder call nobody answered has none."""
    hotline = app.extensions["hotline"]
    with hotline.sessions() as session:
        calls._placeholder(session, "CAout", hotline.now())
        record = calls.find_call(session, "CAout")
        record.direction, record.from_number, record.to_number = "outbound-api", "+862000000000", "+8613800138000"
        calls.apply_status(session, "CAout", status="no-answer", sequence=1, duration_seconds=0, at=hotline.now())
        session.commit()
    sweep()
    assert not stored(db, "CAout").reconstructed


def test_late_record_jobs_after_the_sweep_the_calls_own_data_wins_and_the_reasons_are_taken_back(
    app, dial, db, records_worker, sweep, monkeypatch
):
    missed = lose_final_status(app, monkeypatch)
    call = dial(MS_WANG)
    call.press("1")
    call.hangup()
    # The opening and the final status are late (the opening spooled while Redis was away, the
    # callback retried by the carrier): the events make a placeholder record, which the sweep
    # completes from the carrier.
    store = app.extensions["hotline"].calls
    opening = json.loads(store.redis.get(store.keys.call(call.sid, "opened")))
    store.redis.delete(store.keys.call(call.sid, "opened"))
    (callback,) = missed
    status = callback.to_json()
    monkeypatch.delattr(store, "status")  # the callbacks reach the hotline again
    sweep()
    record = stored(db, call.sid)
    assert record.reconstructed_why == "caller from the carrier; final status from the carrier"
    assert record.status == "completed" and record.patient.mrn == "M00000001"
    # By the numbers alone the late callback would be refused as old (the sweep's status took
    # the next number after the placeholder's): the rule says the call's own data wins.
    assert status["sequence"] <= record.status_sequence

    def arrive_late() -> None:
        store.open(calls.CallOpened.from_json(opening))
        store.status(callback)
        records_worker.work()

    arrive_late()
    record = stored(db, call.sid)
    # The call's own status callback replaces what the carrier's Calls API said, whatever the
    # numbers; its own opening replaces the caller taken from the carrier.
    assert (record.status, record.status_sequence, record.duration_seconds) == (
        "completed",
        status["sequence"],
        status["duration_seconds"],
    )
    assert record.ended_at == datetime.fromisoformat(status["at"])
    assert (record.language, record.patient.mrn) == (opening["language"], "M00000001")
    assert (record.reconstructed, record.reconstructed_why) == (False, "")
    assert record.menu_path == "menu.main > introduction.start"

    sweep()  # the sweep checks the call again and finds nothing lost
    assert not stored(db, call.sid).reconstructed
    arrive_late()  # and the same once more changes nothing
    again = stored(db, call.sid)
    assert (again.status_sequence, again.reconstructed) == (status["sequence"], False)


# ---- a Redis that lost the calls handed over and not yet drained (issue 17) ---------------------

REDIS_PARTS = ("opened", "events", "epoch", "sent", "caller", "finished")


def lose_redis(app, redis_url) -> None:
    """Redis restarted without persistence: everything of this test's gone, its keys and
    RQ's for its queues (the queued drain job too); never FLUSHALL, the server is shared."""
    import redis

    from tests.conftest import forget_redis_prefix

    client = redis.Redis.from_url(redis_url)
    forget_redis_prefix(client, app.extensions["hotline"].settings.env.redis_prefix)
    client.close()


def records_of(db, sid) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(CallRecord).where(CallRecord.call_sid == sid))


def test_a_call_redis_lost_between_its_final_status_and_the_drain_is_written_from_the_carriers_list(
    app, dial, carrier, db, records_worker, sweep, redis_url, settings
):
    call = dial(MS_WANG)
    call.press("1")
    call.hangup()  # the final status: handed over to the stream, a drain job queued
    store = app.extensions["hotline"].calls
    assert store.redis.xlen(store.keys.finished) == 1 and records_worker.queue.count == 1
    kept = {part: store.redis.dump(store.keys.call(call.sid, part)) for part in REDIS_PARTS}
    ((_, handed_over),) = store.redis.xrange(store.keys.finished)  # the call, with its final status
    events_kept = store.redis.llen(store.keys.call(call.sid, "events"))
    lose_redis(app, redis_url)  # before the drain wrote it
    records_worker.work()
    assert not store.redis.exists(store.keys.finished) and stored(db, call.sid) is None

    sweep()
    record = stored(db, call.sid)
    carrier_says = context.get().twilio.calls(call.sid).fetch()  # what the carrier knows of it
    assert carrier_says._from == MS_WANG  # as the caller's phone gave it: the record's is E.164
    assert (record.from_number, record.to_number, record.direction, record.status) == (
        "+8613800138000",
        carrier_says.to,
        "inbound",
        "completed",
    )
    assert (record.started_at, record.ended_at, record.duration_seconds) == (
        carrier_says.start_time,
        carrier_says.end_time,
        int(carrier_says.duration),
    )
    assert record.patient.mrn == "M00000001"  # the caller's number matched, as at the call
    assert record.reconstructed and record.reconstructed_why == (
        "no record: opened from the carrier; final status from the carrier; no events kept"
    )
    assert "补全 Reconstructed: no record: opened from the carrier" in call_page(app, call.sid)

    sweep()  # again: the same one record, nothing said twice
    assert records_of(db, call.sid) == 1
    assert stored(db, call.sid).reconstructed_why == record.reconstructed_why

    # Redis's copy comes back after all (a replica) and the drain writes the call: into the
    # same record (the unique CallSid), each event once, and the call's own data wins.
    for _ in range(2):
        for part, value in kept.items():
            if value is not None:
                store.redis.restore(store.keys.call(call.sid, part), 0, value, replace=True)
        store.redis.xadd(store.keys.finished, handed_over)
        records_worker.queue.enqueue(recording.drain_finished)
        records_worker.work()
    record = stored(db, call.sid)
    assert records_of(db, call.sid) == 1 and len(record.events) == events_kept
    assert record.menu_path == "menu.main > introduction.start"
    assert (record.reconstructed, record.reconstructed_why) == (False, "")
    sweep()
    assert records_of(db, call.sid) == 1 and not stored(db, call.sid).reconstructed


def test_the_sweeps_mark_is_kept_in_the_database_so_a_lost_call_is_found_after_hours_without_a_sweep(
    app, dial, carrier, db, records_worker, sweep, redis_url, clock
):
    whole = dial(UNKNOWN)
    whole.hangup()
    records_worker.work()
    sweep()
    quiet = timedelta(minutes=app.extensions["hotline"].settings.records.reconstruct_after_minutes)
    assert calls.calls_listed_through(db) == clock.now - quiet
    first_mark = clock.now - quiet

    carrier.advance(3600)
    clock.now += timedelta(hours=1)
    lost = dial(MS_WANG)
    lost.press("1")
    lost.hangup()
    lose_redis(app, redis_url)  # the calls handed over, the queued drain job: all gone
    # The scheduler was stopped too, for longer than the first listing's look back: only
    # the mark in the database says from where to list.
    clock.now += 2 * reconstruction.CARRIER_LOOKBACK
    sweep()
    db.rollback()
    assert calls.calls_listed_through(db) == clock.now - quiet > first_mark
    record = stored(db, lost.sid)
    assert record.status == "completed" and "opened from the carrier" in record.reconstructed_why
    assert not stored(db, whole.sid).reconstructed
    assert db.scalar(select(func.count()).select_from(CallRecord)) == 2


def test_the_mark_stays_while_the_carrier_cannot_list_its_calls_and_the_next_sweep_finds_them(
    app, dial, carrier, db, records_worker, sweep, redis_url, clock, monkeypatch
):
    from twilio.base.exceptions import TwilioException
    from twilio.rest.api.v2010.account.call import CallList

    sweep()
    mark = calls.calls_listed_through(db)
    lost = dial(MS_WANG)
    lost.hangup()
    lose_redis(app, redis_url)

    def refused(*args, **kwargs):
        raise TwilioException("HTTP 503")

    monkeypatch.setattr(CallList, "list", refused)
    sweep()
    db.rollback()
    assert calls.calls_listed_through(db) == mark and stored(db, lost.sid) is None
    monkeypatch.undo()
    monkeypatch.setenv("TWILIO_API_BASE", carrier.base_url)
    clock.now += reconstruction.CARRIER_LOOKBACK  # the first listing's look back alone no longer reaches it
    sweep()
    assert stored(db, lost.sid).reconstructed


def test_a_lost_call_the_carrier_says_was_canceled_is_found_too(
    app, dial, carrier, db, records_worker, sweep, redis_url
):
    # A caller who hung up while /ivr/voice was answering: "canceled" at the carrier, with a
    # record of their own.  Twilio's list takes one status; the sweep asks for every one.
    call = dial(MS_WANG)
    call.hangup()
    lose_redis(app, redis_url)  # before the drain wrote it
    records_worker.work()
    [carried] = [c for c in carrier.calls if c.sid == call.sid]
    carried.status = "canceled"
    sweep()
    record = stored(db, call.sid)
    assert record is not None and (record.direction, record.status) == ("inbound", "canceled")
    assert record.reconstructed_why.startswith("no record: opened from the carrier")


# ---- an open call that cannot be read or written as it is ---------------------------------------

# What the sweep can meet in an open call's keys that the hotline never writes (the kinds the drain
# sets aside, tests/records/test_pipeline.py): each raised out of the sweep's write of the open
# calls, so no open call after it, in that sweep or any later one, was ever written.  A string:
# an event appended to the call's.
OPEN_MALFORMED = {
    "opening's time not a text": lambda opened: {**opened, "at": 12345},
    "opening cut short": lambda opened: json.dumps(opened)[:20],
    "opening without its CallSid": lambda opened: {k: v for k, v in opened.items() if k != "call_sid"},
    "an event cut short": '{"at": "2026',
}


@pytest.mark.parametrize("damage", OPEN_MALFORMED.values(), ids=OPEN_MALFORMED.keys())
def test_an_open_call_that_cannot_be_read_is_set_aside_and_the_other_open_calls_are_written(
    app, dial, db, records_worker, sweep, monkeypatch, caplog, damage
):
    from queueing.handover import DEAD_LETTER_AFTER

    lose_final_status(app, monkeypatch)
    made = []
    for _ in range(3):
        call = dial(MS_WANG)
        call.press("1")
        call.hangup()
        made.append(call.sid)
    before, bad, after = made
    store = app.extensions["hotline"].calls
    opened_key = store.keys.call(bad, "opened")
    if isinstance(damage, str):  # an event of the call
        store.redis.rpush(store.keys.call(bad, "events"), damage)
    else:
        damaged = damage(json.loads(store.redis.get(opened_key)))
        store.redis.set(opened_key, damaged if isinstance(damaged, str) else json.dumps(damaged))

    sweep()
    for sid in (before, after):
        record = stored(db, sid)
        assert record.menu_path == "menu.main > introduction.start"  # what Redis kept of it
        assert record.status == "completed"
    assert store.redis.zscore(store.keys.open_calls, bad) is not None  # tried again by the next sweeps
    assert store.redis.hget(store.keys.refused, bad) == "1"

    for _ in range(1, DEAD_LETTER_AFTER):
        sweep()
    ((_, letter),) = recording.dead_letters(store.redis, store.keys.prefix)
    assert letter["call_sid"] == bad and letter["error"] in ("TypeError", "ValueError", "KeyError", "JSONDecodeError")
    assert store.redis.zscore(store.keys.open_calls, bad) is None and not store.redis.hexists(store.keys.refused, bad)
    assert f"call {bad}: cannot be read" in caplog.text and "moved to the dead letters" in caplog.text
    assert MS_WANG not in caplog.text and "8613800138000" not in caplog.text
    # The carrier's view of it is written meanwhile, as for a call Redis lost; the letter keeps
    # what Redis kept, and its readers do not fail on it.
    assert stored(db, bad).reconstructed
    (letter,) = recording.letter_calls(store.redis, store.keys.prefix)
    assert letter.call.call_sid == bad
    with app.app_context():
        listed = app.test_cli_runner().invoke(args=["records", "dead-letters"])
    assert listed.exit_code == 0 and bad in listed.output, listed.output
    sweep()  # set aside: no later sweep counts it again or sets it aside twice
    assert len(recording.dead_letters(store.redis, store.keys.prefix)) == 1


def test_an_open_call_whose_record_the_database_refuses_does_not_hold_back_the_others(
    app, dial, db, records_worker, sweep, monkeypatch
):
    from sqlalchemy.exc import DataError

    lose_final_status(app, monkeypatch)
    before, bad, after = (dial(MS_WANG) for _ in range(3))
    for call in (before, bad, after):
        call.press("1")
        call.hangup()
    write = calls.record_finished

    def refuse(session, call, at):
        if call.call_sid == bad.sid:  # a value the database cannot take (its data, not an outage)
            raise DataError("INSERT", {}, Exception("value too long"))
        return write(session, call, at)

    monkeypatch.setattr(calls, "record_finished", refuse)
    sweep()
    assert stored(db, before.sid).menu_path == stored(db, after.sid).menu_path == "menu.main > introduction.start"
    store = app.extensions["hotline"].calls
    assert store.redis.zscore(store.keys.open_calls, bad.sid) is not None
    assert store.redis.hget(store.keys.refused, bad.sid) == "1"
    assert store.redis.zscore(store.keys.open_calls, before.sid) is None
