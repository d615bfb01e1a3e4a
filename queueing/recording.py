"""Call records written by RQ workers, once per finished call, never by a webhook while
the caller waits (issue 17).

During the call nothing is enqueued: the call's opening and events stay in Redis
(ivr.state.CallStore; the names in queueing.handover).  At the final status the call is
handed over once: an entry in the finished calls' stream, and a drain job on the
`<REDIS_PREFIX>records` queue only when none is pending.  `drain_finished` reads the
stream through a consumer group, reads each call's opening, epoch and events for the
whole batch in one pipeline, writes the batch in one transaction
(records.calls.record_finished: idempotent), commits, then acknowledges the entries;
entries a killed drain job left unacknowledged are taken over by the next (XAUTOCLAIM).
So duplicate or reordered callbacks, reruns and a worker killed mid-batch neither lose
nor double anything.  A call whose record the database refuses (its data, not an outage)
stays unacknowledged and is retried by the next drains; refused DEAD_LETTER_AFTER times, it
leaves the stream for the dead letters (`flask records dead-letters`, the supervisor pages'
job-health line, the hotline_records_dead_letters gauge) with the whole call, written by
`flask records dead-letters --retry` once the cause is fixed, or deleted by the nightly
retention purge at the shortest period (`forget_dead_letters`).

When Redis cannot take a webhook's part (the opening, the events, the final status), the
Recorder writes it to the record spool (records.spool) in the database; `replay_spool`
applies the spooled parts (the worker pool runs it at start; as soon as Redis is back after
an outage, `replay_soon` has a records worker run it, asked by the workers and the cron
scheduler when they reconnect and by a web process at the first drain job Redis takes after
it spooled; RQ's cron every minute; and `flask --app app records replay-spool` on demand).
The per-webhook jobs of before (`open_call`, `write_events`, `apply_status`) still run if
found queued, and their spooled rows still replay.

`copy_agent_states` copies the agents' state changes, which the ACD's scripts log
in a Redis stream, into agent_state_changes for the occupancy figures (at a
worker's start and every minute from RQ's cron).
"""

from __future__ import annotations

import json
import logging
import os
import re
import socket
import uuid
from contextlib import suppress
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any

from redis.exceptions import LockError, RedisError, ResponseError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from sqlalchemy.exc import DataError, IntegrityError, SQLAlchemyError

from queueing import context, queue_name
from queueing.handover import DEAD_LETTER_AFTER, GROUP, RecordKeys, kept_events
from records import agent_states, calls, spool
from records.db import begin_write
from records.patients import mask
from records.retention import RECORDING_EVENTS

log = logging.getLogger(__name__)

RECORDS = "records"
JOB_TIMEOUT = 60
# Retries for a database that is briefly away (a failover, a lock timeout); after
# these the job waits in RQ's failed registry for `flask records retry-failed`.
RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])
# What reading or writing a call whose kept data is not what the hotline writes raises (a field
# of the wrong type, JSON cut short: json's errors are ValueErrors, a missing key): the call's
# own data, like a record the database refuses, not an outage.
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError)


def records_queue_name(prefix: str) -> str:
    return queue_name(prefix, RECORDS)


class Recorder:
    """Hands finished calls to the records workers (a drain job), and keeps in the record
    spool what Redis could not take."""

    def __init__(self, queue: Queue, sessions, now):
        self.queue = queue
        self.sessions = sessions
        self.now = now
        self.spooled = False  # since Redis last took a job (a hint: a lost one costs a minute)

    def drain_soon(self) -> None:
        """Enqueue a drain job: a call was handed over and no drain job was pending.  If Redis
        cannot take it, the call waits in the stream for the next one (the drain-pending
        flag expires; the minute's reconstruction sweep drains too)."""
        try:
            if self.spooled:
                # The first job Redis takes after this process spooled some: Redis is back,
                # so the spool is written now rather than at the next minute's replay.
                replay_soon(self.queue)
                self.spooled = False
            self.queue.enqueue(
                drain_finished,
                job_timeout=DRAIN_TIMEOUT,
                retry=RETRY,
                result_ttl=60,
                description="drain_finished: write the finished calls",
                failure_ttl=30 * 24 * 3600,  # a month to notice and retry it
            )
        except RedisError as exc:
            log.warning("drain job not enqueued (%s): the finished calls wait in Redis", type(exc).__name__)

    def spool_opening(self, opened: calls.CallOpened) -> None:
        self._spool("open_call", opened.call_sid, opened.to_json())

    def unnumbered_events(self, call_sid: str, at: datetime, events: list[tuple[str, dict]]) -> None:
        """Events Redis could not even number: straight to the spool."""
        for start in range(0, len(events), spool.EVENTS_PER_ROW):
            chunk = events[start : start + spool.EVENTS_PER_ROW]
            rows = [[None, at.isoformat(), kind, detail] for kind, detail in chunk]
            self._spool("write_events", call_sid, {"call_sid": call_sid, "events": rows})

    def spool_status(self, callback: calls.StatusCallback) -> None:
        """A final status Redis could not take: its replay writes the call from what Redis
        kept of it by then (queueing.recording._replay)."""
        self._spool("finish", callback.call_sid, callback.to_json())

    def _spool(self, job: str, call_sid: str, payload: dict[str, Any]) -> None:
        try:
            with self.sessions() as session:
                begin_write(session)
                spool.spool(session, call_sid=call_sid, job=job, payload=payload, at=self.now())
                session.commit()
            self.spooled = True
        except SQLAlchemyError:
            # Neither Redis nor the database: nothing left to keep it in.  The caller
            # still gets the menus; the log says what was lost (no phone number in it).
            log.exception("call %s: %s lost, neither Redis nor the database answer", call_sid, job)


# ---- the jobs (run by RQ workers) -------------------------------------------------------------


def open_call(**opened: Any) -> str:
    """`opened` is a CallOpened's JSON (records.calls)."""
    with context.get().sessions() as session:
        begin_write(session)
        _open_call(session, opened)
        session.commit()
    return f"call {opened['call_sid']} opened"


def write_events(*, call_sid: str, events: list[list[Any]]) -> str:
    with context.get().sessions() as session:
        begin_write(session)
        record = calls.record_events(session, call_sid, _events(events), context.get().now())
        session.commit()
    return f"call {call_sid}: {len(events)} events, outcome {record.outcome}"


def apply_status(*, call_sid: str, status: str, sequence: int | None, duration_seconds: int | None, at: str) -> str:
    with context.get().sessions() as session:
        begin_write(session)
        record = calls.apply_status(
            session,
            call_sid,
            status=status,
            sequence=sequence,
            duration_seconds=duration_seconds,
            at=datetime.fromisoformat(at),
        )
        session.commit()
    return f"call {call_sid}: {record.status}"


# ---- the drain job: finished calls from the stream to the database ---------------------------

BATCH = 200  # finished calls written per transaction
# A drain job goes on while calls come: a backlog after an outage takes longer than one
# job's JOB_TIMEOUT (each batch is acknowledged as it is committed, so a cut loses nothing).
DRAIN_TIMEOUT = 600
# An entry read this long ago and never acknowledged: the drain job that read it was killed
# (RQ's timeout is JOB_TIMEOUT) or its transaction failed; a later drain job takes it over.
CLAIM_IDLE_MS = JOB_TIMEOUT * 1000


def drain_finished(limit: int = 10**6) -> str:
    """Write the finished calls handed over in the stream, a batch per transaction, and
    acknowledge each batch once committed.  Entries a killed drain job read and never
    acknowledged are taken over first (XAUTOCLAIM).  Rerun, or two at once, it stores
    nothing twice (records.calls.record_finished is idempotent)."""
    hotline = context.get()
    client, keys = hotline.redis, RecordKeys(hotline.settings.env.redis_prefix)
    _ensure_group(client, keys)
    consumer = f"{socket.gethostname()}-{os.getpid()}-{uuid.uuid4().hex[:6]}"
    written = sum(_write_batch(hotline, keys, consumer, batch) for batch in _left_over(client, keys, consumer))
    cleared = False
    while written < limit:
        read = client.xreadgroup(GROUP, consumer, {keys.finished: ">"}, count=BATCH)
        entries = read[0][1] if read else []
        if entries:
            written += _write_batch(hotline, keys, consumer, entries)
            cleared = False
            continue
        if cleared:
            break
        # The stream reads empty: clear the drain-pending flag, then read once more.  A call
        # handed over before the DEL found the flag set and enqueued no job: that read takes
        # it.  One handed over after the DEL sets the flag again and enqueues a job of its
        # own.  So no finished call is left in the stream without a drain job to come.
        client.delete(keys.drain_pending)
        cleared = True
    return f"{written} finished calls written"


def write_open_calls(call_sids: list[str]) -> list[str]:
    """Calls whose final status never came but which the carrier says ended (the
    reconstruction sweep): each written from what Redis kept of it, without a status (the
    sweep then applies the carrier's), and taken out of the open calls, marked finished so
    later events follow.  The ones written.

    As the drain does, a call that cannot be read or written as it is (UNREADABLE, or a record
    the database refuses) does not hold back the others: it stays open, its refusal counted,
    and the next sweeps try it again; refused DEAD_LETTER_AFTER times, it leaves the open calls
    for the dead letters with what Redis kept of it (`_dead_letter`).  Logged by CallSid and
    the error's name only.  The database away: the calls not written stay open, and the error
    is raised once the others are done (RQ retries the sweep)."""
    if not call_sids:
        return []
    hotline = context.get()
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    finished, unreadable = _read_each(hotline.redis, keys, [("", {"call_sid": sid}) for sid in call_sids])
    with hotline.sessions() as session:
        try:  # all in one transaction, as before: the usual case
            begin_write(session)
            for _, call in finished:
                calls.record_finished(session, call, hotline.now())
            session.commit()
            written, refused, away = [call.call_sid for _, call in finished], [], None
        except (SQLAlchemyError, *UNREADABLE):
            session.rollback()
            written, refused, away = _open_one_by_one(session, hotline, [call for _, call in finished])
    if written:
        pipe = hotline.redis.pipeline(transaction=False)
        for sid in written:
            pipe.set(keys.call(sid, "finished"), "1", ex=hotline.settings.dialogue.call_state_ttl_seconds)
        pipe.zrem(keys.open_calls, *written)
        pipe.execute()
    _count_refusals(hotline.redis, keys, unreadable + refused, hotline.settings.dialogue.call_state_ttl_seconds)
    if away is not None:
        raise away  # the database is away: RQ retries the sweep, the calls not written stay open
    return written


def _open_one_by_one(
    session, hotline, finished: list[calls.FinishedCall]
) -> tuple[list[str], list[tuple[str, dict, str]], Exception | None]:
    """The open calls each in its own transaction: the CallSids written, the calls refused
    (as `_count_refusals` takes them: no stream entry, so an empty id), and the error that
    stopped the rest when the database is away."""
    written: list[str] = []
    refused: list[tuple[str, dict, str]] = []
    for call in finished:
        try:
            begin_write(session)
            calls.record_finished(session, call, hotline.now())
            session.commit()
            written.append(call.call_sid)
        except (SQLAlchemyError, *UNREADABLE) as exc:
            session.rollback()
            # The error's name and SQLSTATE only (what `_one_by_one` says why).
            log.error(
                "call %s: its record not written (%s %s), left open for a later sweep",
                call.call_sid, type(exc).__name__, getattr(getattr(exc, "orig", None), "sqlstate", None) or "",
            )  # fmt: skip
            if not _refused(exc):
                return written, refused, exc
            refused.append(("", {"call_sid": call.call_sid}, type(exc).__name__))
    return written, refused, None


def _ensure_group(client, keys: RecordKeys) -> None:
    try:
        client.xgroup_create(keys.finished, GROUP, id="0", mkstream=True)
    except ResponseError as exc:
        if "BUSYGROUP" not in str(exc):
            raise


def _left_over(client, keys: RecordKeys, consumer: str):
    """Batches of entries read by a drain job that never acknowledged them."""
    start = "0-0"
    while True:
        answer = client.xautoclaim(keys.finished, GROUP, consumer, CLAIM_IDLE_MS, start, count=BATCH)
        start, entries = answer[0], answer[1]
        if entries:
            yield entries
        if start in ("0-0", b"0-0") or not entries:
            return


def _write_batch(hotline, keys: RecordKeys, consumer: str, entries: list) -> int:
    """One transaction for the batch; should it fail, each call in its own, so one bad call
    does not hold back the others (it stays unacknowledged: a later drain tries it again,
    and after DEAD_LETTER_AFTER refusals moves it to the dead letters).  An entry whose call
    cannot even be read (UNREADABLE) is refused so, without holding back the rest."""
    finished, unreadable = _read_each(hotline.redis, keys, entries)
    _count_refusals(hotline.redis, keys, unreadable)
    done: list[str] = []
    with hotline.sessions() as session:
        try:
            begin_write(session)
            calls.record_finished_batch(session, [call for _, call in finished], hotline.now())
            session.commit()
            done = [entry_id for entry_id, _ in finished]
        except (SQLAlchemyError, *UNREADABLE):
            session.rollback()
            done = _one_by_one(
                session, hotline, keys, consumer, finished, {entry_id: fields for entry_id, fields in entries}
            )
    if done:
        pipe = hotline.redis.pipeline(transaction=False)
        pipe.xack(keys.finished, GROUP, *done)
        pipe.xdel(keys.finished, *done)
        pipe.execute()
    return len(done)


def _one_by_one(session, hotline, keys: RecordKeys, consumer: str, finished: list, handed: dict) -> list[str]:
    done, refused, away, away_ids = [], [], None, []
    for entry_id, call in finished:
        try:
            begin_write(session)
            calls.record_finished(session, call, hotline.now())
            session.commit()
            done.append(entry_id)
        except (SQLAlchemyError, *UNREADABLE) as exc:
            session.rollback()
            # The error's name and SQLSTATE only: PostgreSQL's DETAIL of a refused row ("Failing
            # row contains (...)") holds the caller's number, which hide_parameters does not hide.
            log.error(
                "call %s: its record not written (%s %s), left for a later drain",
                call.call_sid, type(exc).__name__, getattr(getattr(exc, "orig", None), "sqlstate", None) or "",
            )  # fmt: skip
            if _refused(exc):
                refused.append((entry_id, handed[entry_id], type(exc).__name__))
            else:
                away = exc
                away_ids.append(entry_id)
    _count_refusals(hotline.redis, keys, refused)
    _hand_back(hotline.redis, keys, consumer, away_ids)
    if not done and away is not None:
        raise away  # the database is away: RQ retries the job (RETRY)
    return done


def _hand_back(client, keys: RecordKeys, consumer: str, entry_ids: list[str]) -> None:
    """Calls not written because the database was away: marked idle past the claim time, so
    the job's retry (RETRY: 2 s later) takes them over at once.  Left as read, they would
    wait CLAIM_IDLE_MS in Redis alone, and a Redis that lost its data meanwhile (restarted
    without its file) would lose their events with them."""
    if entry_ids:
        client.xclaim(keys.finished, GROUP, consumer, 0, entry_ids, idle=CLAIM_IDLE_MS, justid=True)


def _refused(exc: Exception) -> bool:
    """The database answered and refused this call's record (a constraint, a value it cannot
    take), or the call's data is not what the hotline writes (UNREADABLE): trying again will
    not help.  Not an outage, a lost connection or a lock timeout, which the next attempt may
    well get past."""
    if isinstance(exc, UNREADABLE):
        return True
    # Only these two: a read-only standby after a failover (InternalError), code deployed
    # before its migration (ProgrammingError), an exhausted pool (TimeoutError) would
    # otherwise send every finished call to the dead letters within minutes.
    return isinstance(exc, (IntegrityError, DataError)) and not getattr(exc, "connection_invalidated", False)


REFUSALS_KEPT = 7 * 24 * 3600


def _count_refusals(client, keys: RecordKeys, refused: list[tuple[str, dict, str]], ttl: int = 0) -> None:
    """Count each refused call's refusals; one refused DEAD_LETTER_AFTER times leaves the
    finished calls' stream for the dead letters (acknowledged: no drain takes it again), or
    the open calls when it has no stream entry (the sweep's: marked finished for `ttl` s)."""
    if not refused:
        return
    pipe = client.pipeline(transaction=False)
    for _, fields, _ in refused:
        pipe.hincrby(keys.refused, fields.get("call_sid", ""), 1)
    pipe.expire(keys.refused, REFUSALS_KEPT)  # a call refused once, then written, is forgotten
    counts = pipe.execute()[:-1]
    for (entry_id, fields, error), count in zip(refused, counts, strict=True):
        if count >= DEAD_LETTER_AFTER:
            _dead_letter(client, keys, entry_id, fields, count, error, ttl)


def _dead_letter(client, keys: RecordKeys, entry_id: str, fields: dict, attempts: int, error: str, ttl: int) -> None:
    """Move the call to the dead letters with what Redis keeps of it (its opening, epoch and
    events, as the drain reads them): the call's own keys expire with their TTL, hours from
    now, and a retry days later (`flask records dead-letters --retry`) still has the whole
    call to write."""
    sid = fields.get("call_sid", "")  # none: an entry the hotline did not write (UNREADABLE)
    pipe = client.pipeline(transaction=False)
    _read_kept(pipe, keys, sid)
    opened, epoch, raw = pipe.execute()
    kept = {"events": json.dumps(raw)} | ({"opened": opened} if opened else {}) | ({"epoch": epoch} if epoch else {})
    pipe = client.pipeline(transaction=True)
    pipe.xadd(keys.dead_letters, {**fields, **kept, "attempts": attempts, "error": error, "entry": entry_id or "open"})
    if entry_id:  # from the finished calls' stream: no drain takes it again
        pipe.xack(keys.finished, GROUP, entry_id)
        pipe.xdel(keys.finished, entry_id)
    else:  # an open call (the sweep's write_open_calls): no sweep takes it again, later events follow
        pipe.set(keys.call(sid, "finished"), "1", ex=ttl)
        pipe.zrem(keys.open_calls, sid)
    pipe.hdel(keys.refused, sid)
    pipe.execute()
    # The CallSid and the error's name only: the entry holds the caller's number.
    log.error(
        "call %s: its record refused %d times (%s), moved to the dead letters (flask records dead-letters)",
        sid, attempts, error,
    )  # fmt: skip


def dead_letters(client, prefix: str, call_sid: str | None = None) -> list[tuple[str, dict]]:
    """The finished calls whose record the database kept refusing (or those of one call),
    oldest first."""
    letters = client.xrange(RecordKeys(prefix).dead_letters)
    return [(entry_id, fields) for entry_id, fields in letters if call_sid in (None, fields.get("call_sid"))]


def letter_call(client, keys: RecordKeys, fields: dict) -> calls.FinishedCall:
    """The call a dead letter holds, as the drain would have read it.  A letter set aside
    before letters kept the call (no `events` field) has only its final status: what Redis
    still keeps of the call is read, as the drain does."""
    if "events" in fields:
        return _finished(fields, fields.get("opened"), fields.get("epoch"), json.loads(fields["events"]))
    ((_, call),) = _read_calls(client, keys, [("", fields)])
    return call


def letter_calls(client, prefix: str) -> list[calls.DeadLetter]:
    """Each dead letter with the call it holds (a patient's copy and erasure look through
    them: records.privacy.unwritten_calls says whose each is).  A letter set aside because its
    call could not be read (UNREADABLE) gives what of it can be, and says which parts cannot."""
    keys = RecordKeys(prefix)
    return [_letter_as_read(client, keys, entry_id, fields) for entry_id, fields in dead_letters(client, prefix)]


def _letter_as_read(client, keys: RecordKeys, entry_id: str, fields: dict) -> calls.DeadLetter:
    try:
        return calls.DeadLetter(entry_id, letter_call(client, keys, fields))
    except UNREADABLE:
        return _letter_in_parts(entry_id, fields)


def _letter_in_parts(entry_id: str, fields: dict) -> calls.DeadLetter:
    """A letter whose call cannot be read whole: its opening, final status and events each
    read on its own, from the letter alone (one set aside before letters kept the call: what
    Redis kept of it is not read again), and the parts that cannot be."""
    opened = _or_none(calls.CallOpened, fields.get("opened"))
    status = _or_none(calls.StatusCallback, fields.get("status"))
    events, all_read = _letter_events(fields.get("events"))
    unreadable = {
        part
        for part, held, read in (
            ("opening", fields.get("opened"), opened is not None),
            ("events", fields.get("events"), all_read),
            ("final status", fields.get("status"), status is not None),
        )
        if held and not read
    }
    call = calls.FinishedCall(fields.get("call_sid", ""), opened, tuple(events), status)
    return calls.DeadLetter(entry_id, call, frozenset(unreadable))


def _letter_events(text: str | None) -> tuple[list[calls.Event], bool]:
    """A letter's events that can be read, each on its own, and whether all could."""
    try:
        items = json.loads(text or "[]")
        if not isinstance(items, list):
            raise TypeError("a letter's events: not a list")
    except UNREADABLE:
        return [], False
    events: list[calls.Event] = []
    for item in items:
        try:
            events += kept_events(None, [item])
        except UNREADABLE:
            continue  # nothing of that event can be said
    return events, len(events) == len(items)


def being_written(client, prefix: str) -> list[calls.FinishedCall]:
    """The calls whose record is still to come from Redis: going on (the open calls), or
    ended and handed over to the drain, waiting in the finished calls' stream (read by a drain
    job or not: an entry leaves the stream only once its record is committed).  Each with its
    opening and final status as far as Redis keeps them, no events: enough to say whose it is
    and when it began (records.privacy.being_written).  A patient's erasure waits for them: it
    cannot reach a record not written yet, which the drain would write after it."""
    keys = RecordKeys(prefix)
    # The open calls before the stream: a call's final status moves it from one to the other
    # (one MULTI), and a drain or the sweep takes it out only once its record is committed, so
    # read in this order no call is missed between them.
    going_on = client.zrange(keys.open_calls, 0, -1)
    statuses: dict[str, str | None] = {}
    for _, fields in _all_entries(client, keys.finished):
        sid = fields.get("call_sid")
        if sid:  # one handed over twice (events after its final status): the entry with a status
            statuses[sid] = statuses.get(sid) or fields.get("status")
    for sid in going_on:
        statuses.setdefault(sid, None)
    pipe = client.pipeline(transaction=False)
    for sid in statuses:
        pipe.get(keys.call(sid, "opened"))
    openings = pipe.execute()
    return [
        calls.FinishedCall(sid, _or_none(calls.CallOpened, opened), (), _or_none(calls.StatusCallback, status))
        for (sid, status), opened in zip(statuses.items(), openings, strict=True)
    ]


def _or_none(kind, text: str | None):
    """A CallOpened or StatusCallback from its JSON, or None: not kept, or unreadable."""
    if not text:
        return None
    try:
        return kind.from_json(json.loads(text))
    except UNREADABLE:
        return None


def erase_dead_letters(client, prefix: str, entry_ids: list[str]) -> int:
    """Delete these dead letters whole (a patient's erasure: a letter is its call's unwritten
    record); the number deleted.  One a retry wrote or the purge deleted meanwhile is gone
    already and not counted."""
    return client.xdel(RecordKeys(prefix).dead_letters, *entry_ids) if entry_ids else 0


# A letter's write, or an erasure's reading of the letters, carrier deletes and commit.
LETTERS_LOCK_SECONDS = 120


def letters_lock(client, prefix: str, wait: float = LETTERS_LOCK_SECONDS):
    """The dead letters' lock, taken by what writes or deletes them: a retry's write of one
    letter, a patient's erasure (from reading the letters to its commit), the purge's deletes.
    A retry reads its letter again inside it: one an erasure deleted meanwhile is not written
    back (the erasure committed; the patient's call must not reappear).  `wait`: how long to
    wait for it (redis-py's LockError after)."""
    return client.lock(f"{RecordKeys(prefix).dead_letters}:lock", timeout=LETTERS_LOCK_SECONDS, blocking_timeout=wait)


def retry_dead_letters(call_sid: str | None = None) -> list[tuple[str, str | None]]:
    """Write the dead letters (all, or one call's) once the cause is fixed (a migration ran,
    the caller's file is back): each with the drain's own rules (records.calls.record_finished,
    idempotent), in its own transaction as the drain's one-by-one writes, and taken out of the
    dead letters only once committed.  A letter not written (refused again, or the database
    away) stays as it is.  Each letter's CallSid with None when written, else the error's name
    (never its text: it can hold the caller's number).  Run again, it finds nothing left; killed
    between its commit and the letter's removal, the next run writes nothing twice."""
    hotline = context.get()
    client, keys = hotline.redis, RecordKeys(hotline.settings.env.redis_prefix)
    done: list[tuple[str, str | None]] = []
    for entry_id, listed in dead_letters(client, keys.prefix, call_sid):
        sid = listed.get("call_sid", "")
        try:
            with letters_lock(client, keys.prefix):
                done.append(_retry_letter(hotline, client, keys, entry_id) or (sid, None))
        except LockError:
            done.append((sid, "LockError"))  # an erasure or the purge held it throughout
    return [(sid, error) for sid, error in done if error != "gone"]


def _retry_letter(hotline, client, keys: RecordKeys, entry_id: str) -> tuple[str, str] | None:
    """Write one dead letter, read again under the lock; None when written, else its CallSid
    with "gone" (an erasure or the purge deleted it since it was listed) or the error's name."""
    again = client.xrange(keys.dead_letters, entry_id, entry_id)
    if not again:
        return ("", "gone")
    try:
        call = letter_call(client, keys, again[0][1])
    except UNREADABLE as exc:  # still not what the hotline writes: it stays for the operator
        log.error(
            "call %s: dead letter cannot be read (%s), still set aside", again[0][1].get("call_sid"), type(exc).__name__
        )
        return (again[0][1].get("call_sid", ""), type(exc).__name__)
    with hotline.sessions() as session:
        try:
            begin_write(session)
            calls.record_finished(session, call, hotline.now())
            session.commit()
        except (SQLAlchemyError, *UNREADABLE) as exc:
            session.rollback()
            log.error("call %s: dead letter not written (%s), still set aside", call.call_sid, type(exc).__name__)
            return (call.call_sid, type(exc).__name__)
    client.xdel(keys.dead_letters, entry_id)
    log.info("call %s: dead letter written", call.call_sid)
    return None


# ---- the dead letters under the hospital's retention (queueing.retention's nightly purge) ---------


def letter_began(entry_id: str, fields: dict) -> datetime:
    """When a dead letter's call began, as far as the letter tells: its opening's time, else
    its final status's time less the call's duration, else when it was set aside (a stream
    id is its time in ms).  The earliest of these: the letter must not outlive the period."""
    times = [datetime.fromtimestamp(int(entry_id.split("-")[0]) / 1000, UTC)]
    opened = _or_none(calls.CallOpened, fields.get("opened"))  # None too when it cannot be read
    if opened is not None:
        times.append(opened.at)
    status = _or_none(calls.StatusCallback, fields.get("status"))
    if status is not None:  # a duration not a number (the letter's reason): its time alone
        duration = status.duration_seconds if isinstance(status.duration_seconds, int) else 0
        with suppress(OverflowError):  # nor one no date can be taken from
            times.append(status.at - timedelta(seconds=duration or 0))
    # A time written without its zone (not the hotline's): read as UTC, not compared with the others' in vain.
    return min(time if time.tzinfo is not None else time.replace(tzinfo=UTC) for time in times)


def letter_recordings(fields: dict) -> list[str]:
    """The recordings (voicemail, recorded talk) whose address a dead letter's events hold."""
    try:
        items = json.loads(fields.get("events") or "[]")
    except UNREADABLE:
        return []  # events that cannot be read (the letter's reason) say no address
    found = []
    for item in items if isinstance(items, list) else ():
        try:
            data = json.loads(item)
            if data["kind"] in RECORDING_EVENTS and data["detail"].get("recording_sid"):
                found.append(str(data["detail"]["recording_sid"]))
        except UNREADABLE:
            continue  # an event that cannot be read (the letter's reason) says no address
    return found


def forget_dead_letters(client, prefix: str, cutoff: datetime, batch: int, delete_at_carrier, kept: set[str]) -> int:
    """Delete the dead letters whose call began before `cutoff`, at most `batch`; the ones
    deleted.  A letter is the call's only copy, recordings' addresses included: those are
    deleted at the carrier first, as the purge does for written calls, and a letter whose
    recording the carrier kept stays (its id added to `kept`) for the next run.  By XDEL of
    each id, not XTRIM MINID: the stream is ordered by when a call was set aside, not by
    when it began.  Under the letters' lock (a retry's write of one of them is done first);
    held elsewhere all the while, nothing is deleted this run."""
    try:
        with letters_lock(client, prefix, wait=PURGE_WAITS_SECONDS):
            return _forget_expired(client, prefix, cutoff, batch, delete_at_carrier, kept)
    except LockError:
        log.info("dead letters: not purged this run, their lock was held throughout")
        return 0


PURGE_WAITS_SECONDS = 30


def _forget_expired(client, prefix: str, cutoff: datetime, batch: int, delete_at_carrier, kept: set[str]) -> int:
    key = RecordKeys(prefix).dead_letters
    expired = []
    for entry_id, fields in _all_entries(client, key):
        if len(expired) == batch:
            break
        if entry_id in kept or letter_began(entry_id, fields) >= cutoff:
            continue
        if all(delete_at_carrier(sid) for sid in letter_recordings(fields)):
            expired.append(entry_id)
        else:
            kept.add(entry_id)
    if expired:
        client.xdel(key, *expired)
    return len(expired)


def _all_entries(client, key: str, page: int = 500):
    """A stream's entries, oldest first, read a page at a time."""
    start = "-"
    while True:
        entries = client.xrange(key, min=start, count=page)
        yield from entries
        if len(entries) < page:
            return
        start = "(" + entries[-1][0]


def _read_calls(client, keys: RecordKeys, entries: list) -> list[tuple[str, calls.FinishedCall]]:
    """What Redis kept of each call handed over (its opening, epoch and events), in one
    round trip for the whole batch."""
    kept = _kept(client, keys, entries)
    return [(entry_id, _finished(fields, *kept[fields["call_sid"]])) for entry_id, fields in entries]


def _read_each(
    client, keys: RecordKeys, entries: list
) -> tuple[list[tuple[str, calls.FinishedCall]], list[tuple[str, dict, str]]]:
    """`_read_calls`, each entry on its own: the calls read, and the entries whose call cannot
    be (UNREADABLE), each with its fields and the error's name.  Logged by CallSid and the
    error's name only: what failed to read may hold the caller's number."""
    kept = _kept(client, keys, entries)
    finished, unreadable = [], []
    for entry_id, fields in entries:
        try:
            finished.append((entry_id, _finished(fields, *kept[fields.get("call_sid", "")])))
        except UNREADABLE as exc:
            log.error(
                "call %s: cannot be read (%s), left to be tried again", fields.get("call_sid"), type(exc).__name__
            )
            unreadable.append((entry_id, fields, type(exc).__name__))
    return finished, unreadable


def _kept(client, keys: RecordKeys, entries: list) -> dict[str, list]:
    """Each call's opening, epoch and events as Redis keeps them, by CallSid."""
    sids = list(dict.fromkeys(fields.get("call_sid", "") for _, fields in entries))
    pipe = client.pipeline(transaction=False)
    for sid in sids:
        _read_kept(pipe, keys, sid)
    answers = pipe.execute()
    return {sid: answers[3 * i : 3 * i + 3] for i, sid in enumerate(sids)}


def _read_kept(pipe, keys: RecordKeys, call_sid: str) -> None:
    """Queue the reads of what Redis keeps of a call: its opening, epoch and events."""
    pipe.get(keys.call(call_sid, "opened"))
    pipe.get(keys.call(call_sid, "epoch"))
    pipe.lrange(keys.call(call_sid, "events"), 0, -1)


def _finished(fields: dict, opened: str | None, epoch: str | None, raw: list[str]) -> calls.FinishedCall:
    if not fields.get("call_sid"):
        raise KeyError("call_sid")  # an entry the hotline did not write: no call to write it to
    status = calls.StatusCallback.from_json(json.loads(fields["status"])) if fields.get("status") else None
    opening = calls.CallOpened.from_json(json.loads(opened)) if opened else None
    return calls.FinishedCall(fields["call_sid"], opening, tuple(kept_events(epoch, raw)), status)


def replay_spool(limit: int = 500, set_aside: bool = False) -> int:
    """Apply the spooled record jobs, oldest first, each deleted as it is applied; the rows
    applied.  A row that cannot be applied (UNREADABLE, or a record the database refuses) is
    rolled back alone, its failed replay counted, and the rows after it are applied; after
    records.spool.SET_ASIDE_AFTER failed replays it is set aside, kept (records.spool says
    how).  The database away: raised, nothing of the batch kept (RQ retries the job).
    `set_aside`: the rows set aside instead, each tried once more (the operator's, once the
    cause is fixed)."""
    hotline = context.get()
    replayed, after = 0, 0
    with hotline.sessions() as session:
        while replayed < limit:
            begin_write(session)
            batch = spool.next_batch(session, min(100, limit - replayed), after=after, set_aside=set_aside)
            if not batch:
                break
            after = batch[-1].id  # each row once a replay: a failing one is not retried at once
            for row in batch:
                replayed += _replay_row(session, row)
            session.commit()
        session.commit()
    if replayed:
        log.info("replayed %d spooled record jobs", replayed)
    return replayed


def _replay_row(session, row) -> int:
    """Apply one spooled row in a savepoint and delete it: 1; or count its failure: 0."""
    try:
        with session.begin_nested():
            _replay(session, row)
    except (SQLAlchemyError, *UNREADABLE) as exc:
        if not _refused(exc):
            raise  # the database is away: the whole batch waits for the job's retry
        # The row's id, CallSid, job and the error's name only: its payload holds the caller's number.
        if spool.not_replayed(row, type(exc).__name__):
            log.error(
                "spool row %s (call %s, %s): not replayed %d times (%s), set aside in record_spool "
                "(flask --app app records replay-spool --set-aside once the cause is fixed)",
                row.id, row.call_sid, row.job, row.attempts, row.error,
            )  # fmt: skip
        else:
            log.warning(
                "spool row %s (call %s, %s): not replayed (%s), tried again at the next replay",
                row.id, row.call_sid, row.job, row.error,
            )  # fmt: skip
        return 0
    session.delete(row)
    return 1


REPLAY_TIMEOUT = 300
REPLAY_SOON = "replay_spool-soon"


def replay_soon(queue: Queue) -> bool:
    """Have a records worker replay the spool now: Redis is back after an outage (said by
    a worker, the cron scheduler, or a web process that spooled jobs meanwhile).  One such
    job waits at a time (a fixed id, deleted once done): many processes notice the same
    outage.  False if one was waiting already."""
    try:
        queue.enqueue(
            replay_spool,
            kwargs={"limit": 10**9},
            job_id=re.sub(r"[^A-Za-z0-9_-]", "_", f"{queue.name}-{REPLAY_SOON}"),  # RQ's alphabet for ids
            unique=True,
            job_timeout=REPLAY_TIMEOUT,
            retry=RETRY,
            result_ttl=0,
            description="replay_spool after a Redis outage",
        )
    except DuplicateJobError:
        return False
    return True


AGENT_LOG_BATCH = 500


def copy_agent_states(limit: int = 100_000) -> int:
    """Copy the agents' state changes from the ACD's agent log stream into
    agent_state_changes, oldest first, a batch per transaction; the entries copied.

    Rerunning it, or two workers running it at once, stores each change once (the
    stream id is unique, ON CONFLICT DO NOTHING).  Where to start is a hint kept in
    Redis and moved only after a batch is committed: lost, the job starts again at the
    oldest entry kept and stores nothing twice."""
    hotline = context.get()
    acd = hotline.acd
    after, copied = acd.agent_log_copied(), 0
    with hotline.sessions() as session:
        while copied < limit:
            batch = acd.agent_log(after, min(AGENT_LOG_BATCH, limit - copied))
            if not batch:
                break
            begin_write(session)
            agent_states.store(session, (agent_states.row(entry_id, fields) for entry_id, fields in batch))
            session.commit()
            after = batch[-1][0]
            acd.mark_agent_log_copied(after)
            copied += len(batch)
    return copied


def _replay(session, row) -> None:
    payload = dict(row.payload)
    if row.job == "open_call":
        _open_call(session, payload)
    elif row.job == "write_events":
        numbered = [
            [sequence if sequence is not None else spool.spooled_sequence(row.id, index), *rest]
            for index, (sequence, *rest) in enumerate(payload["events"])
        ]
        calls.record_events(session, row.call_sid, _events(numbered), row.created_at)
    elif row.job == "apply_status":
        calls.apply_status(
            session,
            row.call_sid,
            status=payload["status"],
            sequence=payload["sequence"],
            duration_seconds=payload["duration_seconds"],
            at=datetime.fromisoformat(payload["at"]),
        )
    elif row.job == "finish":
        _replay_finish(session, calls.StatusCallback.from_json(payload), row.created_at)
    else:  # not one this version writes (a newer one's, in a rolling upgrade?): kept, not dropped
        raise ValueError(f"unknown spooled job {row.job[:24]!r}")


def _replay_finish(session, callback: calls.StatusCallback, at: datetime) -> None:
    """A final status spooled when Redis could not take it: the call written from what Redis
    kept of it (nothing, if Redis is still away or lost it: then from the callback alone),
    and marked finished there, so later events follow it."""
    hotline = context.get()
    keys = RecordKeys(hotline.settings.env.redis_prefix)
    try:
        ((_, call),) = _read_calls(hotline.redis, keys, [("", {"call_sid": callback.call_sid})])
        pipe = hotline.redis.pipeline(transaction=False)
        pipe.set(keys.call(callback.call_sid, "finished"), "1", ex=hotline.settings.dialogue.call_state_ttl_seconds)
        pipe.zrem(keys.open_calls, callback.call_sid)
        pipe.execute()
    except RedisError:
        call = calls.FinishedCall(callback.call_sid, None, (), None)
    calls.record_finished(session, replace(call, status=callback), at)


def _open_call(session, payload: dict[str, Any]) -> None:
    opened = calls.CallOpened.from_json(payload)
    calls.open_call(session, opened)
    log.debug("call %s from %s opened", opened.call_sid, mask(opened.from_number))


def _events(rows: list[list[Any]]) -> list[calls.Event]:
    return [calls.Event(int(seq), datetime.fromisoformat(at), kind, detail or {}) for seq, at, kind, detail in rows]


# ---- failed for good ----------------------------------------------------------------------------


def failed_jobs(connection, prefix: str) -> list:
    queue = Queue(records_queue_name(prefix), connection=connection)
    registry = queue.failed_job_registry
    return [job for job in (queue.fetch_job(job_id) for job_id in registry.get_job_ids()) if job is not None]


def retry_failed(connection, prefix: str) -> int:
    """What `rq requeue --all --queue <prefix>records` does, with the project's settings."""
    registry = Queue(records_queue_name(prefix), connection=connection).failed_job_registry
    job_ids = registry.get_job_ids()
    for job_id in job_ids:
        registry.requeue(job_id)
    return len(job_ids)
