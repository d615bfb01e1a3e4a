"""The record spool: call-record jobs kept in the database while Redis is away.

A webhook that cannot enqueue a record job writes it here instead (its own
short transaction), and the caller hears nothing different.  The replayer
(queueing.recording.replay_spool) takes rows oldest first, applies each and
deletes it in the same transaction, so a row is applied once even if the
replayer dies half-way or two run at once (SKIP LOCKED on PostgreSQL; SQLite
write transactions take turns).

A row that cannot be applied (its payload not what the hotline writes, a record the
database refuses: the row's own data, not an outage) must not stop the replay of the
rows after it.  Each is applied in a savepoint of the batch's transaction; one that
fails is rolled back to it alone, and its failed replay counted on the row (`attempts`,
the error's name) in that same transaction, so the count is as exact as the deletes: a
replayer killed half-way applied, deleted and counted nothing.  A replay passes each row
once (the batches follow the ids), so a row fails at most once a replay; after
SET_ASIDE_AFTER failed replays it is set aside: kept in the table (it is part of a call's
record), no longer taken by the replays, and logged with its id.  Once the cause is fixed,
`flask --app app records replay-spool --set-aside` tries those once more.

A row holds a call's data (an opening: the caller's number and file; events: what they
said, a recording's address), so it does not stay for ever: the retention purge deletes
rows past the dead letters' period, set aside or not, their recordings first at the carrier
(records.retention.expired_spool), and a patient's erasure deletes the set-aside rows of
their calls, waiting for the others to be replayed (records.privacy.spooled); their copy
lists them all, with their content.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session, defer

from records.models import RecordSpool
from records.retention import RECORDING_EVENTS

# Events spooled before Redis could number them take sequence numbers from their
# spool row, in a range a call's own numbering (1, 2, 3... in Redis) never
# reaches: unique, stable across replays, so a replay stores each once.
SPOOLED_SEQUENCE_BASE = 1_000_000_000
EVENTS_PER_ROW = 100


def spool(session: Session, *, call_sid: str, job: str, payload: dict[str, Any], at: datetime) -> RecordSpool:
    row = RecordSpool(call_sid=call_sid[:64], job=job, payload=payload, created_at=at)
    session.add(row)
    return row


# Failed replays of one row before it is set aside (a replay runs every minute).
SET_ASIDE_AFTER = 5


def _aside(set_aside: bool):
    """The rows set aside, or (False) those the replays still take."""
    return RecordSpool.attempts >= SET_ASIDE_AFTER if set_aside else RecordSpool.attempts < SET_ASIDE_AFTER


def is_set_aside(row: RecordSpool) -> bool:
    return row.attempts >= SET_ASIDE_AFTER


def next_batch(session: Session, limit: int = 100, after: int = 0, set_aside: bool = False) -> list[RecordSpool]:
    """The oldest rows after the id `after` that no other replayer holds, locked until the
    caller commits; not the rows set aside, or only those (`set_aside`).  The payload is read
    when the replay reads it, row by row: one the driver cannot decode fails its row alone."""
    query = (
        select(RecordSpool)
        .where(RecordSpool.id > after, _aside(set_aside))
        .options(defer(RecordSpool.payload))
        .order_by(RecordSpool.id)
        .limit(limit)
    )
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def not_replayed(row: RecordSpool, error: str) -> bool:
    """Count a failed replay of the row (in the caller's transaction); True when that sets it aside."""
    row.attempts += 1
    row.error = error[:64]
    return row.attempts >= SET_ASIDE_AFTER


def set_aside(session: Session) -> list[RecordSpool]:
    """The rows set aside, oldest first."""
    query = select(RecordSpool).where(_aside(True)).options(defer(RecordSpool.payload))
    return list(session.scalars(query.order_by(RecordSpool.id)))


def spooled_sequence(row_id: int, index: int) -> int:
    return SPOOLED_SEQUENCE_BASE + row_id * EVENTS_PER_ROW + index


def waiting(session: Session, set_aside: bool = False) -> int:
    """The rows the replays still take, or (`set_aside`) those set aside: counted apart, so
    an alert on the first clears once Redis is back and the replay has run."""
    return session.scalar(select(func.count()).select_from(RecordSpool).where(_aside(set_aside))) or 0


# What reading a payload the hotline did not write raises (json's errors are ValueErrors).
UNREADABLE = (ValueError, TypeError, KeyError, AttributeError, IndexError)


def payload(row: RecordSpool) -> dict[str, Any] | None:
    """The row's payload, or None when it cannot be read (not JSON, not an object): then
    nothing of it can be said, whose call it is or which recording it names."""
    try:
        value = row.payload
    except UNREADABLE:
        return None
    return value if isinstance(value, dict) else None


def recordings(row: RecordSpool) -> list[str]:
    """The recordings whose address a spooled part holds (a voicemail or a recorded talk among
    a `write_events` row's events): the row may be the only place it is written, so the purge
    and an erasure delete them at the carrier before the row."""
    events = (payload(row) or {}).get("events") if row.job == "write_events" else None
    found = []
    for event in events if isinstance(events, list) else ():
        kind, detail = (event[2], event[3]) if isinstance(event, list) and len(event) == 4 else (None, None)
        if kind in RECORDING_EVENTS and isinstance(detail, dict) and detail.get("recording_sid"):
            found.append(str(detail["recording_sid"]))
    return found
