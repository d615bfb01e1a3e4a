"""Call records: one CallRecord per call, its CallEvents, and its final status.

Every function is idempotent, because the carrier may post the same callback
twice or out of order, and webhooks may be retried:
- a call is opened once per CallSid;
- events carry their sequence number in the call, stored at most once each;
- a status is applied only if its SequenceNumber is newer, and a final status
  is never replaced by an earlier, non-final one.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from records.models import CallEvent, CallRecord
from records.patients import CallerMatch

_INSERTS = {"postgresql": postgresql.insert, "sqlite": sqlite.insert}
FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass(frozen=True)
class Event:
    sequence: int
    at: datetime
    kind: str
    detail: dict[str, Any]


def find_call(session: Session, call_sid: str) -> CallRecord | None:
    return session.scalar(select(CallRecord).where(CallRecord.call_sid == call_sid))


def open_call(
    session: Session,
    *,
    call_sid: str,
    from_number: str,
    to_number: str,
    caller: CallerMatch,
    language: str,
    at: datetime,
    direction: str = "inbound",
) -> CallRecord:
    """The call's record, created on its first webhook (a retried webhook finds it).

    One `INSERT ... ON CONFLICT (call_sid) DO NOTHING RETURNING` (PostgreSQL and SQLite
    both have it): no look-up first and no savepoint, and a retry racing the first
    request cannot fail; only the retry reads the existing row."""
    values = dict(
        call_sid=call_sid,
        direction=direction[:16],
        from_number=(caller.e164 or from_number or "unknown")[:64],
        to_number=(to_number or "")[:64],
        patient_id=caller.patient_id,
        matched_patients=len(caller.patient_ids),
        language=language,
        started_at=at,
    )
    insert = _INSERTS[session.get_bind().dialect.name](CallRecord).values(**values)
    created = session.scalar(insert.on_conflict_do_nothing(index_elements=["call_sid"]).returning(CallRecord))
    return created if created is not None else find_call(session, call_sid)


def record_events(session: Session, call_sid: str, events: Iterable[Event], at: datetime) -> CallRecord:
    """Store the events not stored yet, then the menu path and outcome they make."""
    record = find_call(session, call_sid) or _placeholder(session, call_sid, at)
    events = sorted({event.sequence: event for event in events}.values(), key=lambda event: event.sequence)
    if not events:
        return record  # nothing new (or Redis lost them): keep what the record says
    stored = set(session.scalars(select(CallEvent.sequence).where(CallEvent.call_id == record.id)))
    fresh = [event for event in events if event.sequence not in stored]
    if fresh:
        try:
            with session.begin_nested():
                session.add_all(
                    CallEvent(call_id=record.id, sequence=e.sequence, at=e.at, kind=e.kind, detail=e.detail)
                    for e in fresh
                )
        except IntegrityError:  # a duplicate callback stored them a moment ago
            pass
    # Redis holds the whole call's events, so the summary comes from them, not a re-read.
    record.menu_path = menu_path(events)
    record.outcome = outcome(events)
    return record


def apply_status(
    session: Session,
    call_sid: str,
    *,
    status: str,
    sequence: int | None,
    duration_seconds: int | None,
    at: datetime,
) -> CallRecord:
    record = find_call(session, call_sid) or _placeholder(session, call_sid, at)
    if record.status in FINAL_STATUSES and status not in FINAL_STATUSES:
        return record  # a late 'ringing' after 'completed'
    if sequence is not None and sequence <= record.status_sequence:
        return record  # a duplicate, or older than what we have
    if record.status in FINAL_STATUSES and sequence is None:
        return record  # an unnumbered duplicate of the final status
    record.status = status[:16]
    record.status_sequence = sequence if sequence is not None else record.status_sequence + 1
    if status in FINAL_STATUSES:
        record.ended_at = at
        record.duration_seconds = duration_seconds
    return record


def _placeholder(session: Session, call_sid: str, at: datetime) -> CallRecord:
    """A status callback for a call whose first webhook never reached the database."""
    caller = CallerMatch(None, ())
    return open_call(
        session, call_sid=call_sid, from_number="unknown", to_number="", caller=caller, language="zh", at=at
    )


def menu_path(events: Iterable[CallEvent | Event]) -> str:
    steps: list[str] = []
    for event in events:
        if event.kind == "menu" and (not steps or steps[-1] != event.detail.get("step")):
            steps.append(str(event.detail.get("step")))
    return " > ".join(steps)


def outcome(events: Iterable[CallEvent | Event]) -> str:
    kinds = {event.kind for event in events}
    if "transfer" in kinds:
        return "transferred"
    if "error" in kinds:
        return "error"
    return "self_service"
