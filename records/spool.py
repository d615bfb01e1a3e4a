"""The record spool: call-record jobs kept in the database while Redis is away.

A webhook that cannot enqueue a record job writes it here instead (its own
short transaction), and the caller hears nothing different.  The replayer
(queueing.recording.replay_spool) takes rows oldest first, applies each and
deletes it in the same transaction, so a row is applied once even if the
replayer dies half-way or two run at once (SKIP LOCKED on PostgreSQL; SQLite
write transactions take turns).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from records.models import RecordSpool

# Events spooled before Redis could number them take sequence numbers from their
# spool row, in a range a call's own numbering (1, 2, 3... in Redis) never
# reaches: unique, stable across replays, so a replay stores each once.
SPOOLED_SEQUENCE_BASE = 1_000_000_000
EVENTS_PER_ROW = 100


def spool(session: Session, *, call_sid: str, job: str, payload: dict[str, Any], at: datetime) -> RecordSpool:
    row = RecordSpool(call_sid=call_sid[:64], job=job, payload=payload, created_at=at)
    session.add(row)
    return row


def next_batch(session: Session, limit: int = 100) -> list[RecordSpool]:
    """The oldest rows no other replayer holds, locked until the caller commits."""
    query = select(RecordSpool).order_by(RecordSpool.id).limit(limit)
    if session.get_bind().dialect.name == "postgresql":
        query = query.with_for_update(skip_locked=True)
    return list(session.scalars(query))


def spooled_sequence(row_id: int, index: int) -> int:
    return SPOOLED_SEQUENCE_BASE + row_id * EVENTS_PER_ROW + index


def waiting(session: Session) -> int:
    return session.scalar(select(func.count()).select_from(RecordSpool)) or 0
