"""The hospital directory callers ask about: departments, doctors, their clinic
sessions, and featured services."""

from __future__ import annotations

from datetime import date, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from records.models import ClinicSession, Department, Doctor, FeaturedService


def departments(session: Session) -> list[Department]:
    return list(session.scalars(select(Department).order_by(Department.sort_order, Department.code)))


def department(session: Session, code: str) -> Department | None:
    return session.scalar(select(Department).where(Department.code == code))


def doctors(session: Session, department_code: str | None = None) -> list[Doctor]:
    query = select(Doctor).options(selectinload(Doctor.department)).order_by(Doctor.code)
    if department_code is not None:
        query = query.join(Doctor.department).where(Department.code == department_code)
    return list(session.scalars(query))


def doctor(session: Session, code: str) -> Doctor | None:
    return session.scalar(select(Doctor).options(selectinload(Doctor.department)).where(Doctor.code == code))


def next_sessions(
    session: Session, doctor_id: int, now: datetime, days: int = 14, limit: int = 3
) -> list[ClinicSession]:
    """Clinic sessions that have not ended yet, within `days` of `now` (hospital local time)."""
    today = now.date()
    query = (
        select(ClinicSession)
        .where(
            ClinicSession.doctor_id == doctor_id,
            ClinicSession.date >= today,
            ClinicSession.date < today + timedelta(days=days),
        )
        .order_by(ClinicSession.date, ClinicSession.start_time)
    )
    upcoming = [s for s in session.scalars(query) if s.date > today or s.end_time > now.time()]
    return upcoming[:limit]


def services(session: Session) -> list[FeaturedService]:
    return list(session.scalars(select(FeaturedService).order_by(FeaturedService.code)))


def service(session: Session, code: str) -> FeaturedService | None:
    return session.scalar(select(FeaturedService).where(FeaturedService.code == code))


def sessions_on(session: Session, day: date) -> list[ClinicSession]:
    return list(session.scalars(select(ClinicSession).where(ClinicSession.date == day)))
