"""The access audit: every look at a patient's file or recording leaves a row saying
who, when, and why (the call it came with, or the reason given for a search)."""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.models import AuditEntry


def record_access(
    session: Session,
    *,
    staff_id: int | None,
    action: str,
    reason: str,
    patient_id: int | None = None,
    call_sid: str | None = None,
    at: datetime | None = None,
) -> AuditEntry:
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("an access to patient data needs a reason")
    entry = AuditEntry(
        at=at or datetime.now(UTC),
        staff_id=staff_id,
        action=action[:32],
        patient_id=patient_id,
        call_sid=call_sid,
        reason=reason[:2000],
    )
    session.add(entry)
    session.flush()
    return entry


def accesses(session: Session, *, patient_id: int | None = None, limit: int = 200) -> list[AuditEntry]:
    """The newest accesses first, to one patient's file or to all."""
    query = select(AuditEntry).order_by(AuditEntry.at.desc(), AuditEntry.id.desc()).limit(limit)
    if patient_id is not None:
        query = query.where(AuditEntry.patient_id == patient_id)
    return list(session.scalars(query))
