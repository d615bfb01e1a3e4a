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

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from records import entries as queue_entries
from records.db import insert_new
from records.models import CallEvent, CallRecord, QueueEntry
from records.patients import CallerMatch

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


@dataclass(frozen=True)
class Event:
    sequence: int
    at: datetime
    kind: str
    detail: dict[str, Any]


def find_call(session: Session, call_sid: str, *, lock: bool = False) -> CallRecord | None:
    """The call's record; `lock` holds its row until commit, so two workers writing
    one call's events take turns and each summary sees every event (PostgreSQL;
    SQLite's write transactions already take turns)."""
    query = select(CallRecord).where(CallRecord.call_sid == call_sid)
    return session.scalar(query.with_for_update() if lock else query)


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
    """The call's record, created on its first webhook (a retried webhook finds it)."""
    existing = find_call(session, call_sid)
    if existing is not None:
        if _is_placeholder(existing) and from_number != "unknown":
            # Its events or status were written first (jobs run in any order): fill it in.
            existing.direction = direction[:16]
            existing.from_number = (caller.e164 or from_number or "unknown")[:64]
            existing.to_number = (to_number or "")[:64]
            existing.patient_id = caller.patient_id
            existing.matched_patients = len(caller.patient_ids)
            existing.language = language
            existing.started_at = min(existing.started_at, at)
        return existing
    record = CallRecord(
        call_sid=call_sid,
        direction=direction[:16],
        from_number=(caller.e164 or from_number or "unknown")[:64],
        to_number=(to_number or "")[:64],
        patient_id=caller.patient_id,
        matched_patients=len(caller.patient_ids),
        language=language,
        started_at=at,
    )
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:  # the same webhook, retried concurrently, won the race
        return find_call(session, call_sid)
    return record


def record_events(session: Session, call_sid: str, events: Iterable[Event], at: datetime) -> CallRecord:
    """Store the events not stored yet (each once, by its sequence number in the call),
    then rebuild what they make: the menu path, the outcome, the queue entries."""
    record = find_call(session, call_sid, lock=True) or _placeholder(session, call_sid, at)
    rows = [
        {"call_id": record.id, "sequence": e.sequence, "at": e.at, "kind": e.kind[:24], "detail": e.detail}
        for e in {event.sequence: event for event in events}.values()
    ]
    if not rows:
        return record  # nothing new (or Redis lost them): keep what the record says
    # A duplicate callback, a retried job or a replayed spool row stores nothing twice.
    insert_new(session, CallEvent, rows, ["call_id", "sequence"])
    summarise(session, record)
    return record


def summarise(session: Session, record: CallRecord) -> None:
    """Rebuild the call's menu path, outcome and queue entries from all its stored events."""
    session.flush()
    events = list(session.scalars(select(CallEvent).where(CallEvent.call_id == record.id)))
    events.sort(key=lambda event: (event.at, event.sequence))
    record.menu_path = menu_path(events)
    entries = queue_entries.build(events, record.ended_at if record.status in FINAL_STATUSES else None)
    record.outcome = queue_entries.outcome(entries, outcome(events))
    session.execute(delete(QueueEntry).where(QueueEntry.call_id == record.id))
    session.add_all(
        QueueEntry(call_id=record.id, **{k: v for k, v in vars(entry).items() if k != "opened_by_transfer"})
        for entry in entries
    )
    session.expire(record, ["events"])


def apply_status(
    session: Session,
    call_sid: str,
    *,
    status: str,
    sequence: int | None,
    duration_seconds: int | None,
    at: datetime,
) -> CallRecord:
    record = find_call(session, call_sid, lock=True) or _placeholder(session, call_sid, at)
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
        summarise(session, record)  # a caller still queued when the call ended abandoned it
    return record


def _placeholder(session: Session, call_sid: str, at: datetime) -> CallRecord:
    """A status callback for a call whose first webhook never reached the database."""
    caller = CallerMatch(None, ())
    return open_call(
        session, call_sid=call_sid, from_number="unknown", to_number="", caller=caller, language="zh", at=at
    )


def _is_placeholder(record: CallRecord) -> bool:
    return record.from_number == "unknown" and record.to_number == "" and record.matched_patients == 0


def menu_path(events: Iterable[CallEvent | Event]) -> str:
    steps: list[str] = []
    for event in events:
        if event.kind == "menu" and (not steps or steps[-1] != event.detail.get("step")):
            steps.append(str(event.detail.get("step")))
    return " > ".join(steps)


def outcome(events: Iterable[CallEvent | Event]) -> str:
    kinds = {event.kind for event in events}
    if "call_limited" in kinds:  # over config call_limits: turned away after the emergency number
        return "limited"
    if kinds & {"transfer", "to_person", "enqueue"}:  # asked for a person (issue 4: the seats' queue)
        return "transferred"
    if "error" in kinds:
        return "error"
    return "self_service"
