"""The hospital directory callers ask about: departments, doctors and their
clinic sessions, featured services.

It changes a few times a day at most, while every menu step of every call reads
it, so it is read in one go into an immutable `Directory` snapshot that the web
process keeps for a short while (`Hotline.directory`, `directory_cache_seconds`)
instead of querying the database on every key press.  Free places are not in
it: booking asks the database (records.booking), where they change.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from records import models


@dataclass(frozen=True)
class Department:
    id: int
    code: str
    name_zh: str
    name_en: str
    aliases_zh: tuple[str, ...]
    aliases_en: tuple[str, ...]
    location_zh: str
    location_en: str
    phone: str
    hours_zh: str
    hours_en: str
    description_zh: str
    description_en: str


@dataclass(frozen=True)
class ClinicTime:
    date: date
    start_time: time
    end_time: time


@dataclass(frozen=True)
class Doctor:
    id: int
    code: str
    department: Department
    name_zh: str
    name_en: str
    family_name_zh: str
    family_name_en: str
    title: str
    sex: str
    specialties_zh: str
    specialties_en: str
    sessions: tuple[ClinicTime, ...] = ()


@dataclass(frozen=True)
class Service:
    id: int
    code: str
    name_zh: str
    name_en: str
    description_zh: str
    description_en: str


@dataclass(frozen=True)
class Directory:
    """Everything callers may hear about, as it was at `loaded_at`."""

    departments: tuple[Department, ...]
    doctors: tuple[Doctor, ...]
    services: tuple[Service, ...]
    loaded_at: datetime
    _by_code: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        for kind, items in (("department", self.departments), ("doctor", self.doctors), ("service", self.services)):
            for item in items:
                self._by_code[(kind, item.code)] = item

    def department(self, code: str) -> Department | None:
        return self._by_code.get(("department", code))

    def doctor(self, code: str) -> Doctor | None:
        return self._by_code.get(("doctor", code))

    def service(self, code: str) -> Service | None:
        return self._by_code.get(("service", code))

    def doctors_in(self, department_code: str) -> list[Doctor]:
        return [d for d in self.doctors if d.department.code == department_code]

    def next_sessions(self, doctor: Doctor, now: datetime, days: int = 14, limit: int = 3) -> list[ClinicTime]:
        """Clinic sessions that have not ended yet, within `days` of `now` (hospital time)."""
        today, until = now.date(), now.date() + timedelta(days=days)
        upcoming = [
            s for s in doctor.sessions if today <= s.date < until and (s.date > today or s.end_time > now.time())
        ]
        return upcoming[:limit]


def load(session: Session, now: datetime, days: int = 15) -> Directory:
    """Four queries: departments, doctors, their sessions from today, services."""
    departments = {
        d.id: Department(
            d.id,
            d.code,
            d.name_zh,
            d.name_en,
            tuple(d.aliases_zh),
            tuple(d.aliases_en),
            d.location_zh,
            d.location_en,
            d.phone,
            d.hours_zh,
            d.hours_en,
            d.description_zh,
            d.description_en,
        )
        for d in session.scalars(
            select(models.Department).order_by(models.Department.sort_order, models.Department.code)
        )
    }
    sessions: dict[int, list[ClinicTime]] = {}
    query = (
        select(models.ClinicSession)
        .where(
            models.ClinicSession.doctor_id.is_not(None),
            models.ClinicSession.date >= now.date(),
            models.ClinicSession.date < now.date() + timedelta(days=days),
        )
        .order_by(models.ClinicSession.date, models.ClinicSession.start_time)
    )
    for s in session.scalars(query):
        if s.doctor_id is None:  # the query excludes them: this tells mypy
            continue
        sessions.setdefault(s.doctor_id, []).append(ClinicTime(s.date, s.start_time, s.end_time))
    doctors = tuple(
        Doctor(
            d.id,
            d.code,
            departments[d.department_id],
            d.name_zh,
            d.name_en,
            d.family_name_zh,
            d.family_name_en,
            d.title,
            d.sex,
            d.specialties_zh,
            d.specialties_en,
            tuple(sessions.get(d.id, ())),
        )
        for d in session.scalars(select(models.Doctor).order_by(models.Doctor.code))
    )
    services = tuple(
        Service(s.id, s.code, s.name_zh, s.name_en, s.description_zh, s.description_en)
        for s in session.scalars(select(models.FeaturedService).order_by(models.FeaturedService.code))
    )
    return Directory(tuple(departments.values()), doctors, services, now)
