"""What a returning patient is likely to want, from their own appointments: the doctor they
saw last (a follow-up is usually with the same doctor), offered first when they book by
phone so they need not go through departments and doctors again.

Functions take a Session and never commit: the caller owns the transaction."""

from __future__ import annotations

from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from records.models import Appointment

# A visit older than this is no longer "your doctor": departments and doctors change, and a
# year-old visit is rarely followed up by phone.
RECENT_DAYS = 365


def last_doctor_id(db: Session, patient_id: int, now: datetime) -> int | None:
    """The doctor of the patient's latest kept appointment before today (not cancelled, not
    moved away), within RECENT_DAYS; None if there is none."""
    today = now.date()
    return db.scalar(
        select(Appointment.doctor_id)
        .where(
            Appointment.patient_id == patient_id,
            Appointment.status == "booked",
            Appointment.doctor_id.is_not(None),
            Appointment.date < today,
            Appointment.date >= today - timedelta(days=RECENT_DAYS),
        )
        .order_by(Appointment.date.desc(), Appointment.id.desc())
        .limit(1)
    )
