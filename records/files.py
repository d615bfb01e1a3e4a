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

from sqlalchemy import Integer, bindparam, cast, insert, literal, null, select, union_all
from sqlalchemy.orm import Session

from records.audit import record_access
from records.complaints import is_overdue
from records.models import (
    Appointment,
    AuditEntry,
    CallRecord,
    ClinicSession,
    ComplaintCase,
    Department,
    Doctor,
    ExamType,
    Patient,
    PatientPhone,
    Staff,
    WaitlistEntry,
    WrapUp,
)
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
class Waiting:
    """A waiting list the patient is (or was lately) on, and its offer."""

    day: date
    start: time
    what_zh: str
    what_en: str
    status: str  # waiting | offered | booked | declined | expired | left | refused
    offer_expires_at: datetime | None


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
    outcome: str | None  # self_service | greeting_hangup | transferred | error (the IVR's verdict)
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
    waitlist: tuple[Waiting, ...] = ()


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

    None (and no audit row: nothing was seen) when there is no such patient.

    Three statements (the screen pop waits on them while the phone rings, issue 17): the
    file with its phones and open cases (on PostgreSQL the audit row is written by the same
    statement, a data-modifying CTE that inserts it only if the file exists; SQLite, which
    has neither such CTEs nor a network round trip, writes it with its own INSERT), the
    visits (past and coming, and the waiting lists: one UNION ALL) and the last calls with
    their wrap-ups.  The statements are built once, at import, with bound parameters:
    building them for each pop cost more time than SQLite took to run them (issue 17)."""
    reason = (reason or "").strip()
    if not reason:
        raise ValueError("an access to patient data needs a reason")
    audited_here = session.get_bind().dialect.name == "postgresql"
    found = {"patient_id": patient_id}
    if audited_here:
        audit = {"at": now, "staff_id": staff_id, "reason": reason[:2000], "call_sid": call_sid}
        rows = session.execute(FILE_AND_AUDIT, found | audit).all()
    else:
        rows = session.execute(FILE, found).all()
    if not rows:
        return None
    patient = rows[0][0]
    if not audited_here:
        record_access(
            session, staff_id=staff_id, action="view_file", reason=reason, patient_id=patient.id, call_sid=call_sid,
            at=now,
        )  # fmt: skip
    phones = tuple(dict.fromkeys(mask(e164) for _, e164, _ in rows if e164))
    cases = tuple(dict.fromkeys(case for _, _, case in rows if case is not None))
    past, upcoming, lists = _visits(session, patient.id, now, limit=limit)
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
        phones=phones,
        last_visits=past,
        upcoming=upcoming,
        open_cases=tuple(
            OpenCase(case.id, case.summary, case.status, case.deadline_at, is_overdue(case, now), case.owner_id)
            for case in cases
        ),
        last_calls=tuple(_calls(session, patient.id, exclude=call_sid, limit=limit)),
        waitlist=lists,
    )


# ---- the screen pop's statements, built once (bound parameters in :name) ----------------------

FILE = (
    select(Patient, PatientPhone.e164, ComplaintCase)
    .outerjoin(PatientPhone, PatientPhone.patient_id == Patient.id)
    .outerjoin(ComplaintCase, (ComplaintCase.patient_id == Patient.id) & (ComplaintCase.status != "closed"))
    .where(Patient.id == bindparam("patient_id"))
    .order_by(PatientPhone.id, ComplaintCase.deadline_at, ComplaintCase.id)
)


def _audit_if_found():
    """The 'view_file' audit row (records.audit.record_access's), inserted by the statement
    that reads the file, and only if there is a file: a CTE for PostgreSQL."""
    columns = AuditEntry.__table__.c
    found = select(
        bindparam("at", type_=columns.at.type),
        bindparam("staff_id", type_=columns.staff_id.type),
        literal("view_file", columns.action.type),
        Patient.id,
        bindparam("call_sid", type_=columns.call_sid.type),
        bindparam("reason", type_=columns.reason.type),
    ).where(Patient.id == bindparam("patient_id"))
    written = insert(AuditEntry).from_select(["at", "staff_id", "action", "patient_id", "call_sid", "reason"], found)
    return written.returning(AuditEntry.id).cte("audit")


FILE_AND_AUDIT = FILE.add_cte(_audit_if_found())


def _visits_statement():
    """Past visits (appointments kept, status booked, before today, newest first), coming
    ones (booked, today on) and the waiting lists the patient is or lately was on (newest
    first), in one statement; the index the visits need is ix_appointments_patient_booked
    (migration 0017_screen_pop_index)."""
    booked = (Appointment.patient_id == bindparam("patient_id")) & (Appointment.status == "booked")
    names = (
        Department.name_zh.label("department_zh"),
        Department.name_en.label("department_en"),
        Doctor.name_zh.label("doctor_zh"),
        Doctor.name_en.label("doctor_en"),
        ExamType.name_zh.label("exam_zh"),
        ExamType.name_en.label("exam_en"),
    )
    when = WaitlistEntry.offer_expires_at.type  # typed NULLs: a UNION's columns take the first part's types

    def clinic(query, session_id):
        """The clinic session's doctor and department, or its exam: their names."""
        return (
            query.join(ClinicSession, ClinicSession.id == session_id)
            .outerjoin(Doctor, Doctor.id == ClinicSession.doctor_id)
            .outerjoin(Department, Department.id == Doctor.department_id)
            .outerjoin(ExamType, ExamType.id == ClinicSession.exam_type_id)
            .limit(bindparam("limit", type_=Integer()))
        )

    def visits(past: bool):
        query = select(
            literal("past" if past else "upcoming").label("part"),
            Appointment.date.label("day"),
            ClinicSession.start_time.label("start"),
            Appointment.status.label("status"),
            Appointment.reference.label("reference"),
            cast(null(), when).label("offer_expires_at"),
            cast(null(), when).label("joined_at"),
            *names,
        ).select_from(Appointment)
        today = bindparam("today", type_=Appointment.date.type)
        if past:
            query = query.where(booked, Appointment.date < today)
            query = query.order_by(Appointment.date.desc(), ClinicSession.start_time.desc())
        else:
            query = query.where(booked, Appointment.date >= today).order_by(Appointment.date, ClinicSession.start_time)
        return select(clinic(query, Appointment.session_id).subquery())

    waiting = clinic(
        select(
            literal("waiting").label("part"),
            ClinicSession.date.label("day"),
            ClinicSession.start_time.label("start"),
            WaitlistEntry.status.label("status"),
            cast(null(), Appointment.reference.type).label("reference"),
            WaitlistEntry.offer_expires_at.label("offer_expires_at"),
            WaitlistEntry.joined_at.label("joined_at"),
            *names,
        )
        .select_from(WaitlistEntry)
        .where(WaitlistEntry.patient_id == bindparam("patient_id"))
        .order_by(WaitlistEntry.joined_at.desc(), WaitlistEntry.id.desc()),
        WaitlistEntry.session_id,
    )
    return union_all(visits(True), visits(False), select(waiting.subquery()))


VISITS = _visits_statement()


def _visits(
    session: Session, patient_id: int, now: datetime, *, limit: int
) -> tuple[tuple[Visit, ...], tuple[Visit, ...], tuple[Waiting, ...]]:
    """The patient's visits past and coming and waiting lists (VISITS), each part in its order."""
    found: dict[str, list] = {"past": [], "upcoming": [], "waiting": []}
    for row in session.execute(VISITS, {"patient_id": patient_id, "today": now.date(), "limit": limit}):
        if row.doctor_zh is not None:
            what_zh, what_en = f"{row.department_zh} · {row.doctor_zh}", f"{row.department_en} · {row.doctor_en}"
        else:
            what_zh, what_en = row.exam_zh, row.exam_en
        if row.part == "waiting":
            offer = row.offer_expires_at if row.status == "offered" else None
            found["waiting"].append((row.joined_at, Waiting(row.day, row.start, what_zh, what_en, row.status, offer)))
        else:
            found[row.part].append(Visit(row.day, row.start, what_zh, what_en, row.status, row.reference))
    # a UNION keeps no order of its parts': each is sorted again here (at most `limit` rows)
    past = sorted(found["past"], key=lambda visit: (visit.day, visit.start), reverse=True)
    upcoming = sorted(found["upcoming"], key=lambda visit: (visit.day, visit.start))
    lists = [entry for _, entry in sorted(found["waiting"], key=lambda item: item[0], reverse=True)]
    return tuple(past), tuple(upcoming), tuple(lists)


# The patient's last calls with the agent's wrap-up code (records.seats: the last one of each
# call wins), but the call on the line (:exclude; '' when none: no CallSid is empty).
LAST_CALLS = (
    select(
        CallRecord.call_sid,
        CallRecord.started_at,
        CallRecord.duration_seconds,
        CallRecord.outcome,
        select(WrapUp.disposition)
        .where(WrapUp.call_sid == CallRecord.call_sid)
        .order_by(WrapUp.id.desc())
        .limit(1)
        .scalar_subquery()
        .label("disposition"),
        CallRecord.menu_path,
    )
    .where(CallRecord.patient_id == bindparam("patient_id"), CallRecord.call_sid != bindparam("exclude"))
    .order_by(CallRecord.started_at.desc(), CallRecord.id.desc())
    .limit(bindparam("limit", type_=Integer()))
)


def _calls(session: Session, patient_id: int, *, exclude: str | None, limit: int) -> list[PastCall]:
    found = session.execute(LAST_CALLS, {"patient_id": patient_id, "exclude": exclude or "", "limit": limit})
    return [PastCall(*row) for row in found]


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
    return [(staff_id, name, role) for staff_id, name, role in session.execute(query)]


def call_patient(session: Session, call_sid: str) -> tuple[int | None, int]:
    """The patient file a call belongs to (None unless exactly one) and how many files its
    number matched (a family's shared number matches several)."""
    record = session.scalar(select(CallRecord).where(CallRecord.call_sid == call_sid))
    if record is None:
        return None, 0
    return record.patient_id, record.matched_patients
