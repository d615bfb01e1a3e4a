"""The patient's file as an agent sees it: the screen pop, and the search for a file.

Minimum necessary (HIPAA 164.502(b), the hospital's own rule): an agent sees what a
call needs (who the caller is, their category for priority, their recent and coming
visits, open complaints, recent calls and how they ended) and nothing else: no
address, no identity-card number, phone numbers masked.  Every view and every search
writes an audit row (records.audit.record_access) with who, when and why: the call
the file came with, or the reason the agent typed for a search.

The summary is a plain frozen dataclass, not the ORM objects, so a template cannot
reach past it into the rest of the file.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time

from sqlalchemy import select
from sqlalchemy.orm import Session, selectinload

from records.audit import record_access
from records.complaints import is_overdue, patient_open_cases
from records.models import Appointment, CallRecord, ClinicSession, Doctor, Patient, Staff, WrapUp
from records.patients import by_record_number, mask, match_caller

AGED_FROM = 70  # the hospital's priority age, as the plan says ("aged 70+")


class SearchRefused(ValueError):
    """A search without a usable query or reason; the message says which."""


@dataclass(frozen=True)
class Visit:
    day: date
    start: time
    what_zh: str  # department and doctor, or the exam
    what_en: str
    status: str  # booked | cancelled | moved (past: booked means it was kept)
    reference: str


@dataclass(frozen=True)
class OpenCase:
    id: int
    summary: str
    status: str
    deadline_at: datetime
    overdue: bool
    owner_id: int


@dataclass(frozen=True)
class PastCall:
    call_sid: str
    started_at: datetime
    duration_seconds: int | None
    outcome: str | None  # self_service | transferred | error (the IVR's verdict)
    disposition: str | None  # the agent's wrap-up code, when an agent took it
    menu_path: str


@dataclass(frozen=True)
class CallerSummary:
    patient_id: int
    record_number: str
    name_zh: str
    name_en: str
    sex: str
    age: int
    preferred_language: str
    categories: tuple[str, ...]  # 'vip', 'aged_70_plus'
    phones: tuple[str, ...]  # masked
    last_visits: tuple[Visit, ...]
    upcoming: tuple[Visit, ...]
    open_cases: tuple[OpenCase, ...]
    last_calls: tuple[PastCall, ...]


@dataclass(frozen=True)
class Match:
    """One search result: enough to tell files apart, not the file itself."""

    patient_id: int
    record_number: str
    name_zh: str
    name_en: str
    birth_year: int


def categories(patient: Patient, today: date) -> tuple[str, ...]:
    found = []
    if patient.category == "vip":
        found.append("vip")
    if patient.age_on(today) >= AGED_FROM:
        found.append("aged_70_plus")
    return tuple(found)


def caller_summary(
    session: Session,
    patient_id: int,
    *,
    staff_id: int,
    reason: str,
    call_sid: str | None = None,
    now: datetime,
    limit: int = 5,
) -> CallerSummary | None:
    """What the agent sees of the patient's file; writes one audit row ('view_file').

    None (and no audit row: nothing was seen) when there is no such patient."""
    patient = session.scalar(select(Patient).where(Patient.id == patient_id).options(selectinload(Patient.phones)))
    if patient is None:
        return None
    record_access(
        session, staff_id=staff_id, action="view_file", reason=reason, patient_id=patient.id, call_sid=call_sid, at=now
    )
    today = now.date()
    return CallerSummary(
        patient_id=patient.id,
        record_number=patient.mrn,
        name_zh=patient.name_zh,
        name_en=patient.name_en,
        sex=patient.sex,
        age=patient.age_on(today),
        preferred_language=patient.preferred_language,
        categories=categories(patient, today),
        phones=tuple(mask(phone.e164) for phone in patient.phones),
        last_visits=tuple(_visits(session, patient.id, now, past=True, limit=limit)),
        upcoming=tuple(_visits(session, patient.id, now, past=False, limit=limit)),
        open_cases=tuple(
            OpenCase(case.id, case.summary, case.status, case.deadline_at, is_overdue(case, now), case.owner_id)
            for case in patient_open_cases(session, patient.id)
        ),
        last_calls=tuple(_calls(session, patient.id, exclude=call_sid, limit=limit)),
    )


def _visits(session: Session, patient_id: int, now: datetime, *, past: bool, limit: int) -> list[Visit]:
    """Past visits: appointments kept (status booked) before today.  Upcoming: booked, today on."""
    today = now.date()
    query = (
        select(Appointment)
        .join(Appointment.session)
        .where(Appointment.patient_id == patient_id, Appointment.status == "booked")
        .options(
            selectinload(Appointment.session).selectinload(ClinicSession.doctor).selectinload(Doctor.department),
            selectinload(Appointment.session).selectinload(ClinicSession.exam_type),
        )
        .limit(limit)
    )
    if past:
        query = query.where(Appointment.date < today).order_by(Appointment.date.desc(), ClinicSession.start_time.desc())
    else:
        query = query.where(Appointment.date >= today).order_by(Appointment.date, ClinicSession.start_time)
    return [_visit(appointment) for appointment in session.scalars(query)]


def _visit(appointment: Appointment) -> Visit:
    clinic = appointment.session
    if clinic.doctor is not None:
        doctor, department = clinic.doctor, clinic.doctor.department
        what_zh = f"{department.name_zh} · {doctor.name_zh}"
        what_en = f"{department.name_en} · {doctor.name_en}"
    else:
        what_zh, what_en = clinic.exam_type.name_zh, clinic.exam_type.name_en
    return Visit(appointment.date, clinic.start_time, what_zh, what_en, appointment.status, appointment.reference)


def _calls(session: Session, patient_id: int, *, exclude: str | None, limit: int) -> list[PastCall]:
    query = select(CallRecord).where(CallRecord.patient_id == patient_id)
    if exclude:
        query = query.where(CallRecord.call_sid != exclude)
    calls = session.scalars(query.order_by(CallRecord.started_at.desc(), CallRecord.id.desc()).limit(limit)).all()
    # The agent's wrap-up (records.seats): the last one of each call wins.
    dispositions: dict[str, str] = {}
    if calls:
        wrap_ups = session.execute(
            select(WrapUp.call_sid, WrapUp.disposition)
            .where(WrapUp.call_sid.in_([call.call_sid for call in calls]))
            .order_by(WrapUp.id)
        )
        dispositions = {call_sid: disposition for call_sid, disposition in wrap_ups}
    return [
        PastCall(
            call.call_sid,
            call.started_at,
            call.duration_seconds,
            call.outcome,
            dispositions.get(call.call_sid),
            call.menu_path,
        )
        for call in calls
    ]


def search(
    session: Session,
    query: str,
    *,
    staff_id: int,
    reason: str,
    now: datetime,
    region: str = "CN",
    record_number_prefix: str = "",
    min_reason: int = 4,
) -> list[Match]:
    """Files matching a record number or a phone number, for an agent who says why.

    The search itself is audited ('search', with the reason and how many files matched;
    never the query's phone number in clear); opening a result is a separate 'view_file'."""
    query = (query or "").strip()
    reason = " ".join((reason or "").split())
    if len(reason) < min_reason:
        raise SearchRefused(
            f"请填写查询原因（至少 {min_reason} 个字） (say why you search, at least {min_reason} characters)"
        )
    if not query:
        raise SearchRefused("请输入病历号或电话号码 (enter a record number or a phone number)")
    found = _by_record_number(session, query, record_number_prefix)
    described = f"record number {query}"
    if found is None:
        match = match_caller(session, query, region)
        if match.e164 is None and not query.upper().lstrip(record_number_prefix.upper()).isdigit():
            raise SearchRefused("请输入病历号或电话号码 (enter a record number or a phone number)")
        patients = (
            session.scalars(select(Patient).where(Patient.id.in_(match.patient_ids)).order_by(Patient.id)).all()
            if match.patient_ids
            else []
        )
        described = f"phone {mask(match.e164 or query)}"
    else:
        patients = [found]
    record_access(
        session,
        staff_id=staff_id,
        action="search",
        reason=f"{reason} [{described}: {len(patients)} found]"[:500],
        patient_id=patients[0].id if len(patients) == 1 else None,
        at=now,
    )
    return [Match(p.id, p.mrn, p.name_zh, p.name_en, p.birth_date.year) for p in patients]


def _by_record_number(session: Session, query: str, prefix: str) -> Patient | None:
    text = query.upper()
    if prefix and text.startswith(prefix.upper()):
        text = text[len(prefix) :]
    if not text.isdigit() or len(text) > 20:
        return None
    return by_record_number(session, text, prefix)


def staff_names(session: Session, ids) -> dict[int, str]:
    """Display names of staff (case owners, note writers), for the pages that list them."""
    ids = {i for i in ids if i is not None}
    if not ids:
        return {}
    rows = session.execute(select(Staff.id, Staff.display_name).where(Staff.id.in_(ids)))
    return {staff_id: name for staff_id, name in rows}


def colleagues(session: Session) -> list[tuple[int, str, str]]:
    """Active agents and supervisors a case may be handed to: (id, display name, role)."""
    query = (
        select(Staff.id, Staff.display_name, Staff.role)
        .where(Staff.active.is_(True), Staff.role.in_(("agent", "supervisor")))
        .order_by(Staff.role, Staff.display_name)
    )
    return [tuple(row) for row in session.execute(query)]


def call_patient(session: Session, call_sid: str) -> tuple[int | None, int]:
    """The patient file a call belongs to (None unless exactly one) and how many files its
    number matched (a family's shared number matches several)."""
    record = session.scalar(select(CallRecord).where(CallRecord.call_sid == call_sid))
    if record is None:
        return None, 0
    return record.patient_id, record.matched_patients
