"""Call records written by RQ workers, never by a webhook while the caller waits.

Webhooks (and the ACD, through `CallStore.add_events`) hand the `Recorder` what
happened; it enqueues a job on the `<REDIS_PREFIX>records` queue and returns.
Three jobs, each idempotent, each one transaction:

- `open_call`: the call's record (a retried job finds it; a placeholder made by
  an earlier event or status is filled in);
- `write_events`: events keyed by (CallSid, sequence number), stored with
  INSERT ... ON CONFLICT DO NOTHING, then the call's summary and queue entries
  rebuilt from all its stored events;
- `apply_status`: the carrier's status, applied only if its SequenceNumber is
  newer than the one on record.

So duplicate or reordered callbacks, RQ retries (Retry set here) and a worker
killed mid-job (RQ retries the abandoned job) neither lose nor double anything.

When Redis cannot take the job, the Recorder writes it to the record spool
(records.spool) in the database; `replay_spool` applies the spooled jobs
(the worker pool runs it at start; as soon as Redis is back after an outage,
`replay_soon` has a records worker run it, asked by the workers and the cron scheduler
when they reconnect and by a web process at the first job Redis takes after it spooled;
RQ's cron every minute; and `flask --app app records replay-spool` on demand).

`copy_agent_states` copies the agents' state changes, which the ACD's scripts log
in a Redis stream, into agent_state_changes for the occupancy figures (at a
worker's start and every minute from RQ's cron).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from redis.exceptions import RedisError
from rq import Queue, Retry
from rq.exceptions import DuplicateJobError
from sqlalchemy.exc import SQLAlchemyError

from queueing import context, queue_name
from records import agent_states, calls, spool
from records.db import begin_write
from records.patients import mask

log = logging.getLogger(__name__)

RECORDS = "records"
JOB_TIMEOUT = 60
# Retries for a database that is briefly away (a failover, a lock timeout); after
# these the job waits in RQ's failed registry for `flask records retry-failed`.
RETRY = Retry(max=5, interval=[2, 10, 30, 120, 600])


def records_queue_name(prefix: str) -> str:
    return queue_name(prefix, RECORDS)


class Recorder:
    """Hands call-record work to the `records` queue, or to the spool when Redis is away."""

    def __init__(self, queue: Queue, sessions, now):
        self.queue = queue
        self.sessions = sessions
        self.now = now
        self.spooled = False  # since Redis last took a job (a hint: a lost one costs a minute)

    def open_call(self, opened: calls.CallOpened) -> None:
        self._hand_over(open_call, opened.call_sid, opened.to_json())

    def events(self, call_sid: str, numbered: Sequence[calls.Event]) -> None:
        """Events Redis numbered (their position in the call's list)."""
        payload = {"call_sid": call_sid, "events": [_event_row(event) for event in numbered]}
        self._hand_over(write_events, call_sid, payload)

    def unnumbered_events(self, call_sid: str, at: datetime, events: list[tuple[str, dict]]) -> None:
        """Events Redis could not even number: straight to the spool."""
        for start in range(0, len(events), spool.EVENTS_PER_ROW):
            chunk = events[start : start + spool.EVENTS_PER_ROW]
            rows = [[None, at.isoformat(), kind, detail] for kind, detail in chunk]
            self._spool("write_events", call_sid, {"call_sid": call_sid, "events": rows})

    def status(
        self, *, call_sid: str, status: str, sequence: int | None, duration_seconds: int | None, at: datetime
    ) -> None:
        payload = {
            "call_sid": call_sid,
            "status": status,
            "sequence": sequence,
            "duration_seconds": duration_seconds,
            "at": at.isoformat(),
        }
        self._hand_over(apply_status, call_sid, payload)

    def _hand_over(self, job: Callable[..., str], call_sid: str, payload: dict[str, Any]) -> None:
        """Enqueue the job (one of this module's three), or spool it under its name."""
        try:
            if self.spooled:
                # The first job Redis takes after this process spooled some: Redis is back,
                # so the spool is written now rather than at the next minute's replay.
                replay_soon(self.queue)
                self.spooled = False
            self.queue.enqueue(
                job,
                kwargs=payload,
                job_timeout=JOB_TIMEOUT,
                retry=RETRY,
                description=f"{job.__name__} {call_sid}",
                failure_ttl=30 * 24 * 3600,  # a month to notice and retry it
            )
        except RedisError as exc:
            log.warning("call %s: Redis unavailable (%s), %s spooled", call_sid, type(exc).__name__, job.__name__)
            self._spool(job.__name__, call_sid, payload)

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


def _event_row(event: calls.Event) -> list[Any]:
    return [event.sequence, event.at.isoformat(), event.kind, event.detail]


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


def replay_spool(limit: int = 500) -> int:
    """Apply the spooled record jobs, oldest first, each deleted as it is applied."""
    hotline = context.get()
    replayed = 0
    with hotline.sessions() as session:
        while replayed < limit:
            begin_write(session)
            batch = spool.next_batch(session, min(100, limit - replayed))
            if not batch:
                break
            for row in batch:
                _replay(session, row)
                session.delete(row)
            session.commit()
            replayed += len(batch)
        session.commit()
    if replayed:
        log.info("replayed %d spooled record jobs", replayed)
    return replayed


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
    else:
        log.error("spool row %s: unknown job %r, dropped", row.id, row.job)


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
