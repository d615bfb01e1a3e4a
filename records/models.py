"""The hospital's data: its directory (departments, doctors, clinic sessions,
featured services), patient files, and the record of every call.

Texts a caller hears exist in both languages (`name_zh`, `name_en`); use
`localized(obj, "name", lang)` rather than picking the column by hand.
Phone numbers are stored as E.164 only (records.patients.to_e164 makes them).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time
from typing import Any

from flask_login import UserMixin
from sqlalchemy import (
    JSON,
    BigInteger,
    CheckConstraint,
    DateTime,
    ForeignKey,
    Index,
    MetaData,
    String,
    Text,
    TypeDecorator,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship
from sqlalchemy.sql import text

# Named constraints so Alembic migrations are the same on SQLite and PostgreSQL.
NAMING = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}


class UtcDateTime(TypeDecorator):
    """Aware datetimes in, aware UTC datetimes out, on every database.

    SQLite has no time zones and would hand back naive local times."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetime: pass an aware one")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: datetime | None, dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING)
    type_annotation_map = {datetime: UtcDateTime(), dict[str, Any]: JSON}


def localized(obj: object, field: str, lang: str) -> str:
    return getattr(obj, f"{field}_{lang}")


class Department(Base):
    __tablename__ = "departments"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(100))
    # What callers may say for it, besides its name ("心内科" for 心血管内科).
    aliases_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    aliases_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    location_zh: Mapped[str] = mapped_column(String(200))
    location_en: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(20))
    hours_zh: Mapped[str] = mapped_column(String(200))
    hours_en: Mapped[str] = mapped_column(String(200))
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    sort_order: Mapped[int] = mapped_column(default=0)

    doctors: Mapped[list[Doctor]] = relationship(back_populates="department", order_by="Doctor.code")


class Doctor(Base):
    __tablename__ = "doctors"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    department_id: Mapped[int] = mapped_column(ForeignKey("departments.id"), index=True)
    name_zh: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(100))
    family_name_zh: Mapped[str] = mapped_column(String(20))
    family_name_en: Mapped[str] = mapped_column(String(50))
    # chief_physician | associate_chief_physician | attending_physician | resident_physician
    title: Mapped[str] = mapped_column(String(32))
    sex: Mapped[str] = mapped_column(String(1))
    specialties_zh: Mapped[str] = mapped_column(String(300))
    specialties_en: Mapped[str] = mapped_column(String(300))

    department: Mapped[Department] = relationship(back_populates="doctors")
    sessions: Mapped[list[ClinicSession]] = relationship(back_populates="doctor", order_by="ClinicSession.date")


class ClinicSession(Base):
    """One half-day (or other period) in which a doctor sees outpatients, or an
    exam room (ultrasound, CT...) takes patients.  Exactly one of doctor and exam."""

    __tablename__ = "clinic_sessions"
    __table_args__ = (
        UniqueConstraint("doctor_id", "date", "start_time"),
        UniqueConstraint("exam_type_id", "date", "start_time", name="uq_clinic_sessions_exam_type_id"),
        Index("ix_clinic_sessions_date_doctor", "date", "doctor_id"),
        CheckConstraint("(doctor_id IS NULL) <> (exam_type_id IS NULL)", name="doctor_or_exam"),
        # The database, not the application, keeps a session from being overbooked.
        CheckConstraint("booked >= 0 AND booked + held_back <= capacity", name="not_overbooked"),
        CheckConstraint("offered >= 0 AND booked + held_back + offered <= capacity", name="not_overoffered"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"))
    exam_type_id: Mapped[int | None] = mapped_column(ForeignKey("exam_types.id"), index=True)
    date: Mapped[date]
    start_time: Mapped[time]
    end_time: Mapped[time]
    capacity: Mapped[int]
    # Places kept for patients who come on the day; never booked by phone.
    held_back: Mapped[int] = mapped_column(default=0, server_default="0")
    # Places taken by active appointments, changed only by records.booking in one UPDATE.
    booked: Mapped[int] = mapped_column(default=0, server_default="0")
    # Places held for a waitlisted patient while their offer stands (records.waitlist):
    # nobody else books them, and the offer's answer books or releases them.
    offered: Mapped[int] = mapped_column(default=0, server_default="0")

    doctor: Mapped[Doctor | None] = relationship(back_populates="sessions")
    exam_type: Mapped[ExamType | None] = relationship(back_populates="sessions")

    @property
    def free(self) -> int:
        return self.capacity - self.held_back - self.booked - self.offered

    @property
    def doctor_or_exam(self) -> Doctor | ExamType:
        """Whom or what the session is for: exactly one of the two (the doctor_or_exam CHECK)."""
        of = self.doctor or self.exam_type
        assert of is not None, "the doctor_or_exam CHECK"
        return of


class ExamType(Base):
    """An examination booked by phone (ultrasound, CT, MRI, endoscopy...)."""

    __tablename__ = "exam_types"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(150))
    aliases_zh: Mapped[list[str]] = mapped_column(JSON, default=list)
    aliases_en: Mapped[list[str]] = mapped_column(JSON, default=list)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))
    location_zh: Mapped[str] = mapped_column(String(200))
    location_en: Mapped[str] = mapped_column(String(200))
    # Spoken and sent by SMS: fasting, what to bring.
    preparation_zh: Mapped[str] = mapped_column(Text)
    preparation_en: Mapped[str] = mapped_column(Text)

    department: Mapped[Department | None] = relationship()
    sessions: Mapped[list[ClinicSession]] = relationship(back_populates="exam_type", order_by="ClinicSession.date")


class FeaturedService(Base):
    __tablename__ = "featured_services"

    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(16), unique=True)
    name_zh: Mapped[str] = mapped_column(String(100))
    name_en: Mapped[str] = mapped_column(String(150))
    description_zh: Mapped[str] = mapped_column(Text)
    description_en: Mapped[str] = mapped_column(Text)
    department_id: Mapped[int | None] = mapped_column(ForeignKey("departments.id"))

    department: Mapped[Department | None] = relationship()


class Patient(Base):
    __tablename__ = "patients"

    id: Mapped[int] = mapped_column(primary_key=True)
    mrn: Mapped[str] = mapped_column(String(20), unique=True)  # medical record number
    name_zh: Mapped[str] = mapped_column(String(50))
    name_en: Mapped[str] = mapped_column(String(100))
    family_name_zh: Mapped[str] = mapped_column(String(20))
    family_name_en: Mapped[str] = mapped_column(String(50))
    sex: Mapped[str] = mapped_column(String(1))  # M | F
    birth_date: Mapped[date]
    preferred_language: Mapped[str] = mapped_column(String(2), default="zh")
    category: Mapped[str] = mapped_column(String(16), default="standard")  # standard | vip

    phones: Mapped[list[PatientPhone]] = relationship(
        back_populates="patient", cascade="all, delete-orphan", order_by="PatientPhone.id"
    )

    def age_on(self, day: date) -> int:
        before_birthday = (day.month, day.day) < (self.birth_date.month, self.birth_date.day)
        return day.year - self.birth_date.year - before_birthday


class PatientPhone(Base):
    """A number a patient calls from.  Families share numbers, so no unique e164."""

    __tablename__ = "patient_phones"
    __table_args__ = (UniqueConstraint("patient_id", "e164"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"))
    e164: Mapped[str] = mapped_column(String(20), index=True)

    patient: Mapped[Patient] = relationship(back_populates="phones")


class CallRecord(Base):
    """One phone call, from the first webhook to the final status callback."""

    __tablename__ = "call_records"
    # the screen pop's last calls of a patient, newest first (records.files._calls)
    __table_args__ = (Index("ix_call_records_patient_started", "patient_id", "started_at"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    direction: Mapped[str] = mapped_column(String(16), default="inbound")
    # E.164 when the number parses; otherwise what the carrier sent ('anonymous').
    from_number: Mapped[str] = mapped_column(String(64), index=True)
    to_number: Mapped[str] = mapped_column(String(64))
    # Set only when the number belongs to exactly one patient file.
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    matched_patients: Mapped[int] = mapped_column(default=0)
    language: Mapped[str] = mapped_column(String(2))
    started_at: Mapped[datetime] = mapped_column(index=True)
    ended_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="in-progress")
    # The carrier's SequenceNumber of the status applied last: older ones are ignored.
    status_sequence: Mapped[int] = mapped_column(default=-1)
    duration_seconds: Mapped[int | None]
    # self_service | greeting_hangup | transferred | error | limited: how the call ended, from
    # its events; or what became of it in a queue (records.entries.outcome).
    outcome: Mapped[str | None] = mapped_column(String(16))
    menu_path: Mapped[str] = mapped_column(Text, default="")
    # Completed from what was known (the carrier's Calls API, the spool) after some of its
    # events, its opening or its final status were lost (records.calls.reconstruct): the
    # call's pages say so rather than show a silently truncated call.  Why, in words.
    reconstructed: Mapped[bool] = mapped_column(default=False)
    reconstructed_why: Mapped[str] = mapped_column(String(200), default="")

    patient: Mapped[Patient | None] = relationship()
    events: Mapped[list[CallEvent]] = relationship(
        back_populates="call", order_by="CallEvent.sequence", cascade="all, delete-orphan"
    )


class CallEvent(Base):
    """Something that happened in a call: a menu heard, a key, speech, a transfer."""

    __tablename__ = "call_events"
    __table_args__ = (
        UniqueConstraint("call_id", "sequence"),
        # The retention purge finds expired speech and recordings by kind and time.
        Index("ix_call_events_kind_at", "kind", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call_records.id", ondelete="CASCADE"))
    # epoch x 1,000,000 + position (records.calls.EPOCH_SPAN): past 32 bits.
    sequence: Mapped[int] = mapped_column(BigInteger)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(24))  # menu | key | speech | language | transfer | error
    detail: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)

    call: Mapped[CallRecord] = relationship(back_populates="events")


class Appointment(Base):
    """A place in a clinic session booked for a patient."""

    __tablename__ = "appointments"
    __table_args__ = (
        # One active booking per place, and per patient per doctor (or exam) per day.
        Index(
            "uq_appointments_active_place",
            "session_id",
            "place",
            unique=True,
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
        Index(
            "uq_appointments_active_doctor_day",
            "patient_id",
            "doctor_id",
            "date",
            unique=True,
            sqlite_where=text("status = 'booked' AND doctor_id IS NOT NULL"),
            postgresql_where=text("status = 'booked' AND doctor_id IS NOT NULL"),
        ),
        Index(
            "uq_appointments_active_exam_day",
            "patient_id",
            "exam_type_id",
            "date",
            unique=True,
            sqlite_where=text("status = 'booked' AND exam_type_id IS NOT NULL"),
            postgresql_where=text("status = 'booked' AND exam_type_id IS NOT NULL"),
        ),
        Index("ix_appointments_patient_date", "patient_id", "date"),
        # the screen pop's visits (records.files._visits): booked ones only
        Index(
            "ix_appointments_patient_booked",
            "patient_id",
            "date",
            sqlite_where=text("status = 'booked'"),
            postgresql_where=text("status = 'booked'"),
        ),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    reference: Mapped[str] = mapped_column(String(12), unique=True)  # spoken digit by digit
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"))
    session_id: Mapped[int] = mapped_column(ForeignKey("clinic_sessions.id"), index=True)
    # Copied from the session so the database can enforce one booking a day per doctor or exam.
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"))
    exam_type_id: Mapped[int | None] = mapped_column(ForeignKey("exam_types.id"))
    date: Mapped[date]
    place: Mapped[int]  # the patient's number in the session (就诊序号)
    status: Mapped[str] = mapped_column(String(12), default="booked")  # booked | cancelled | moved
    channel: Mapped[str] = mapped_column(String(12), default="phone")  # phone | agent | api | waitlist
    # The agent who booked it for the patient (channel 'agent').
    booked_by_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    call_sid: Mapped[str | None] = mapped_column(String(64))
    booked_at: Mapped[datetime]
    cancelled_at: Mapped[datetime | None]
    moved_to_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))
    confirmed_at: Mapped[datetime | None]  # the patient confirmed after a reminder
    reminded_at: Mapped[datetime | None]

    patient: Mapped[Patient] = relationship()
    session: Mapped[ClinicSession] = relationship()


class SmsMessage(Base):
    """Every text message the hotline sends, with what became of it."""

    __tablename__ = "sms_messages"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))  # confirmation | cancellation | reminder | moved
    to_number: Mapped[str] = mapped_column(String(20))
    body: Mapped[str] = mapped_column(Text)
    # queued | sending | sent | delivered | undelivered | failed
    status: Mapped[str] = mapped_column(String(16), default="queued")
    provider_sid: Mapped[str | None] = mapped_column(String(64), unique=True)
    attempts: Mapped[int] = mapped_column(default=0)
    error: Mapped[str | None] = mapped_column(String(300))
    created_at: Mapped[datetime]
    sent_at: Mapped[datetime | None]
    # The call during which it was queued (a booking's confirmation...), for the call's page.
    call_sid: Mapped[str | None] = mapped_column(String(64), index=True)


class PatientNote(Base):
    """The patient's file: what happened, by whom, from which call (bookings, cancellations...)."""

    __tablename__ = "patient_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    at: Mapped[datetime]
    kind: Mapped[str] = mapped_column(String(24))
    text: Mapped[str] = mapped_column(Text)
    call_sid: Mapped[str | None] = mapped_column(String(64))
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))

    appointment: Mapped[Appointment | None] = relationship()


# ---- staffing (issue 6) ----


class StaffingRun(Base):
    """One computation of forecast, seats and rosters, with the inputs that produced it."""

    __tablename__ = "staffing_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    trigger: Mapped[str] = mapped_column(String(16))  # nightly | supervisor | cli
    requested_by: Mapped[int | None]  # the supervisor's staff id, when one asked
    first_day: Mapped[date]
    days: Mapped[int]
    status: Mapped[str] = mapped_column(String(16), default="queued")  # queued | running | done | failed
    progress: Mapped[float] = mapped_column(default=0.0)  # 0..1
    message: Mapped[str] = mapped_column(Text, default="")
    inputs: Mapped[dict[str, Any]] = mapped_column(JSON)  # targets, model, forecast parameters, shifts, queues
    summary: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # forecast error, rosters, people
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]

    intervals: Mapped[list[StaffingInterval]] = relationship(
        back_populates="run", cascade="all, delete-orphan", passive_deletes=True
    )


class StaffingInterval(Base):
    """One queue's interval in a run: the forecast, the seats it needs, the roster's cover."""

    __tablename__ = "staffing_intervals"
    __table_args__ = (UniqueConstraint("run_id", "queue", "day", "slot"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("staffing_runs.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str] = mapped_column(String(40))
    day: Mapped[date]
    slot: Mapped[int]  # interval of the day, from 0 at midnight (hospital time)
    calls: Mapped[float]
    aht: Mapped[float]
    traffic: Mapped[float]
    seats: Mapped[int]  # required; when not met, the seat cap tried
    met: Mapped[bool]
    service_level: Mapped[float | None]
    occupancy: Mapped[float | None]
    asa: Mapped[float | None]
    abandon: Mapped[float | None]
    people: Mapped[float]  # seats / (1 - shrinkage)
    rostered: Mapped[int | None]  # people on shift
    roster_seats: Mapped[int | None]  # seats those people keep filled after shrinkage
    roster_service_level: Mapped[float | None]

    run: Mapped[StaffingRun] = relationship(back_populates="intervals")


class StaffingShift(Base):
    """People the roster puts on one shift pattern."""

    __tablename__ = "staffing_shifts"

    id: Mapped[int] = mapped_column(primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("staffing_runs.id", ondelete="CASCADE"), index=True)
    queue: Mapped[str] = mapped_column(String(40))
    day: Mapped[date]
    start_minute: Mapped[int]
    hours: Mapped[float]
    people: Mapped[int]


# ---- staff and the access audit (issue 4 foundation) ----


class Staff(UserMixin, Base):
    """A person who logs in: an agent at a seat, a supervisor, or an administrator."""

    __tablename__ = "staff"

    id: Mapped[int] = mapped_column(primary_key=True)
    username: Mapped[str] = mapped_column(String(64), unique=True)
    display_name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(16))  # agent | supervisor | admin
    # werkzeug's salted scrypt hash; never the password itself.
    password_hash: Mapped[str] = mapped_column(String(255))
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    @property
    def is_active(self) -> bool:  # flask_login refuses inactive accounts
        return self.active


class AuditEntry(Base):
    """Who looked at a patient's file (or a recording), when, and why: health data is audited."""

    __tablename__ = "audit_log"

    id: Mapped[int] = mapped_column(primary_key=True)
    at: Mapped[datetime] = mapped_column(index=True)
    # None: the hotline itself (the nightly retention purge).
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"), index=True)
    action: Mapped[str] = mapped_column(String(32))  # view_file | search | open_case | play_recording | export ...
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    call_sid: Mapped[str | None] = mapped_column(String(64))
    reason: Mapped[str] = mapped_column(Text)

    staff: Mapped[Staff | None] = relationship()


# ---- seats: agent skills and wrap-ups (issue 4) ----


class QualityReview(Base):
    """One reviewer's scoring of one recorded call (质检), from the daily sample or a
    supervisor's request (a second reviewer, to compare: calibration).  The agent reads
    their scored reviews and acknowledges or disputes each."""

    __tablename__ = "quality_reviews"
    __table_args__ = (
        UniqueConstraint("call_sid", "reviewer_id"),
        Index("ix_quality_reviews_reviewer_status", "reviewer_id", "status"),
        Index("ix_quality_reviews_agent_status", "agent_id", "status"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    agent_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    reviewer_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # None: nobody to assign yet
    queue: Mapped[str] = mapped_column(String(32))
    form: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(16))  # complaint | sample | calibration
    sampled_on: Mapped[date]
    # assigned -> scored -> acknowledged | disputed
    status: Mapped[str] = mapped_column(String(16), default="assigned")
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # question id -> met | not_met | na
    percent: Mapped[float | None]
    passed: Mapped[bool | None]
    failed_critical: Mapped[list[str]] = mapped_column(JSON, default=list)
    comment: Mapped[str] = mapped_column(Text, default="")
    scored_at: Mapped[datetime | None]
    agent_comment: Mapped[str] = mapped_column(Text, default="")
    responded_at: Mapped[datetime | None]


class RetentionRun(Base):
    """One run of the nightly purge (records.retention): when, how far it got, what it did.
    `counts` is updated after every batch, so a run killed midway shows its progress and the
    next run finishes the work."""

    __tablename__ = "retention_runs"

    id: Mapped[int] = mapped_column(primary_key=True)
    started_at: Mapped[datetime] = mapped_column(index=True)
    finished_at: Mapped[datetime | None]
    status: Mapped[str] = mapped_column(String(16), default="running")  # running | done | failed
    trigger: Mapped[str] = mapped_column(String(16))  # nightly | cli | supervisor
    counts: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # kind -> rows purged
    message: Mapped[str] = mapped_column(Text, default="")


class AgentSkill(Base):
    """What an agent can take: a skill (a queue's, config routing.queues.*.skill) at a level
    from 1 (can help) to 5 (expert).  Queues offer callers to higher levels first."""

    __tablename__ = "agent_skills"
    __table_args__ = (UniqueConstraint("staff_id", "skill"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id", ondelete="CASCADE"), index=True)
    skill: Mapped[str] = mapped_column(String(32))
    level: Mapped[int]


class WrapUp(Base):
    """What an agent recorded after a call: a disposition from config and notes."""

    __tablename__ = "wrap_ups"
    # a call's last wrap-up, read from the index's end (the screen pop: records.files._calls);
    # by call_sid alone PostgreSQL walked the primary key backwards through every wrap-up
    __table_args__ = (Index("ix_wrap_ups_call_sid_id", "call_sid", "id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"), index=True)
    queue: Mapped[str] = mapped_column(String(32))
    disposition: Mapped[str] = mapped_column(String(32))
    notes: Mapped[str] = mapped_column(Text, default="")
    at: Mapped[datetime]


# ---- agent console and complaint cases (issue 4) ----


class ComplaintCase(Base):
    """A patient's request, owned by the person who took it until it is closed: a complaint,
    a consultation, an errand ('mail the report')... (`kind`, config console.case_types,
    each with its deadline).  An errand also keeps where to and how far it has got.

    The clock runs from `opened_at` to `deadline_at` (config: console.complaint_deadline_days);
    an 'answered' or 'closed' case has stopped it.  `escalated_at` is set once, by the
    overdue sweep (queueing.jobs.escalate_overdue_cases), when the deadline passed unanswered."""

    __tablename__ = "complaint_cases"
    __table_args__ = (
        CheckConstraint("status IN ('open', 'waiting_on_department', 'answered', 'closed')", name="known_status"),
        Index("ix_complaint_cases_owner_status", "owner_id", "status"),
        Index("ix_complaint_cases_status_deadline", "status", "deadline_at"),
        # The service-rules board counts each kind's cases opened in a period.
        Index("ix_complaint_cases_kind_opened_at", "kind", "opened_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    kind: Mapped[str] = mapped_column(String(24), default="complaint", server_default="complaint")
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    owner_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    opened_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    source: Mapped[str] = mapped_column(String(8))  # call | manual
    call_sid: Mapped[str | None] = mapped_column(String(64))  # the call it was opened from
    summary: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(24), default="open")
    opened_at: Mapped[datetime]
    deadline_at: Mapped[datetime]
    answered_at: Mapped[datetime | None]
    closed_at: Mapped[datetime | None]
    escalated_at: Mapped[datetime | None]
    # Errands only: where it goes, how far it got (to_do | sent | delivered | returned), the
    # carrier's tracking number.
    address: Mapped[str | None] = mapped_column(Text)
    errand_status: Mapped[str | None] = mapped_column(String(16))
    tracking_number: Mapped[str | None] = mapped_column(String(64))

    patient: Mapped[Patient] = relationship()
    notes: Mapped[list[CaseNote]] = relationship(
        back_populates="case", order_by="CaseNote.id", cascade="all, delete-orphan"
    )
    calls: Mapped[list[CaseCall]] = relationship(
        back_populates="case", order_by="CaseCall.id", cascade="all, delete-orphan"
    )
    handovers: Mapped[list[CaseHandover]] = relationship(
        back_populates="case", order_by="CaseHandover.id", cascade="all, delete-orphan"
    )


class CaseNote(Base):
    """What was done on a case: a note, the answer given to the patient, a status change,
    an escalation.  Append-only."""

    __tablename__ = "case_notes"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))  # None: the system (escalation)
    kind: Mapped[str] = mapped_column(String(16))  # note | answer | status | escalation
    text: Mapped[str] = mapped_column(Text)

    case: Mapped[ComplaintCase] = relationship(back_populates="notes")


class CaseCall(Base):
    """A call about the case (the one it was opened from, and any later ones)."""

    __tablename__ = "case_calls"
    __table_args__ = (UniqueConstraint("case_id", "call_sid"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_cases.id", ondelete="CASCADE"))
    call_sid: Mapped[str] = mapped_column(String(64), index=True)
    linked_at: Mapped[datetime]
    linked_by_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))

    case: Mapped[ComplaintCase] = relationship(back_populates="calls")


class CaseHandover(Base):
    """A case given by its owner (or a supervisor) to someone else: who, to whom, when, why."""

    __tablename__ = "case_handovers"

    id: Mapped[int] = mapped_column(primary_key=True)
    case_id: Mapped[int] = mapped_column(ForeignKey("complaint_cases.id", ondelete="CASCADE"), index=True)
    at: Mapped[datetime]
    from_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    to_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    by_staff_id: Mapped[int] = mapped_column(ForeignKey("staff.id"))
    reason: Mapped[str] = mapped_column(Text)

    case: Mapped[ComplaintCase] = relationship(back_populates="handovers")


# ---- waiting lists (issue 20) ----


class WaitlistEntry(Base):
    """A patient waiting for a place in a full session.  When a place is freed, the first
    waiting patient is offered it (the place is held: ClinicSession.offered) by SMS until
    `offer_expires_at`; they reply 1 to take it, else the next is offered.

    status: waiting -> offered -> booked | declined | expired; waiting -> left (the patient
    no longer wants it, or the session is over)."""

    __tablename__ = "waitlist_entries"
    __table_args__ = (
        # A patient waits once per session.
        Index(
            "uq_waitlist_entries_waiting",
            "session_id",
            "patient_id",
            unique=True,
            sqlite_where=text("status IN ('waiting', 'offered')"),
            postgresql_where=text("status IN ('waiting', 'offered')"),
        ),
        Index("ix_waitlist_entries_session_status", "session_id", "status"),
        Index("ix_waitlist_entries_status_expires", "status", "offer_expires_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[int] = mapped_column(ForeignKey("clinic_sessions.id"))
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    joined_at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(12))  # phone | agent | api
    by_staff_id: Mapped[int | None] = mapped_column(ForeignKey("staff.id"))
    call_sid: Mapped[str | None] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(12), default="waiting")
    offered_at: Mapped[datetime | None]
    offer_expires_at: Mapped[datetime | None]
    offer_to: Mapped[str | None] = mapped_column(String(20), index=True)  # the mobile the offer went to
    answered_at: Mapped[datetime | None]
    appointment_id: Mapped[int | None] = mapped_column(ForeignKey("appointments.id"))

    session: Mapped[ClinicSession] = relationship()
    patient: Mapped[Patient] = relationship()


# ---- call records and supervisor views (issue 5) ----


class QueueEntry(Base):
    """One wait of a call in a queue, derived from the call's queue events by
    records.entries (a transfer to another queue is a new entry).  Rebuilt whole
    whenever the call's events change, so it never disagrees with them."""

    __tablename__ = "queue_entries"
    __table_args__ = (
        UniqueConstraint("call_id", "position"),
        # Reports select entries by when they left the queue, per queue and per agent.
        Index("ix_queue_entries_left_at_queue", "left_at", "queue"),
        Index("ix_queue_entries_agent_left_at", "agent_id", "left_at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    call_id: Mapped[int] = mapped_column(ForeignKey("call_records.id", ondelete="CASCADE"))
    position: Mapped[int]  # 1 for the call's first queue, 2 after a transfer...
    queue: Mapped[str] = mapped_column(String(32))
    priority: Mapped[int] = mapped_column(default=0)
    enqueued_at: Mapped[datetime]
    # [{"at": iso, "agent_id": n, "missed": reason | null}], in order
    offers: Mapped[list[dict[str, Any]]] = mapped_column(JSON, default=list)
    answered_at: Mapped[datetime | None]
    left_at: Mapped[datetime | None]  # answered, abandoned, timed out, callback, voicemail, transfer
    # waiting | answered | abandoned | timeout | callback | voicemail | transferred
    result: Mapped[str] = mapped_column(String(16), default="waiting")
    waited: Mapped[float | None]  # seconds from enqueue to leaving the queue
    agent_id: Mapped[int | None]
    hung_up_at: Mapped[datetime | None]
    wrap_up_end_at: Mapped[datetime | None]
    talk_seconds: Mapped[float | None]
    hold_seconds: Mapped[float | None]
    wrap_up_seconds: Mapped[float | None]
    disposition: Mapped[str | None] = mapped_column(String(64))
    voicemail_sid: Mapped[str | None] = mapped_column(String(64))
    voicemail_url: Mapped[str | None] = mapped_column(String(500))
    voicemail_seconds: Mapped[int | None]
    survey_score: Mapped[int | None]

    call: Mapped[CallRecord] = relationship()


# The call log pages newest first by (started_at, id): keyset pagination walks these.
Index("ix_call_records_started_at_id", CallRecord.started_at, CallRecord.id)
Index("ix_call_records_outcome_started_at_id", CallRecord.outcome, CallRecord.started_at, CallRecord.id)
Index("ix_call_records_patient_started_at", CallRecord.patient_id, CallRecord.started_at)


class AgentStateChange(Base):
    """An agent's state from `at` until their next change: available, reserved,
    on_call, wrap_up, break (with a reason) or offline.  Copied from the ACD's agent
    log stream, where the Lua script making the change writes it (acd/distributor.py),
    by queueing.recording.copy_agent_states; `stream_id` (the entry's id in the stream)
    makes every copy after the first store nothing."""

    __tablename__ = "agent_state_changes"
    __table_args__ = (
        # The state each agent was in at a report's start: their last change before it.
        Index("ix_agent_state_changes_staff_id_at", "staff_id", "at"),
        Index("ix_agent_state_changes_at", "at"),
    )

    id: Mapped[int] = mapped_column(primary_key=True)
    stream_id: Mapped[str] = mapped_column(String(40), unique=True)
    staff_id: Mapped[int]  # no foreign key: the ACD knows agents by id, rows may come before staff
    state: Mapped[str] = mapped_column(String(16))
    reason: Mapped[str] = mapped_column(String(40), default="")
    at: Mapped[datetime]


class RecordSpool(Base):
    """Record jobs a webhook could not hand to Redis, kept until replayed.

    Written in the web process when Redis is unreachable, replayed by
    queueing.recording.replay_spool (as soon as Redis is back, the worker at start,
    RQ's cron, or `flask --app app records replay-spool`), each row deleted in the same
    transaction that applies it: replayed once.  A row that cannot be applied counts its
    failed replays; records.spool.SET_ASIDE_AFTER of them and it is set aside, kept here."""

    __tablename__ = "record_spool"

    id: Mapped[int] = mapped_column(primary_key=True)
    created_at: Mapped[datetime]
    call_sid: Mapped[str] = mapped_column(String(64))
    job: Mapped[str] = mapped_column(String(24))  # open_call | write_events | apply_status | finish
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    attempts: Mapped[int] = mapped_column(default=0, server_default="0")  # replays that failed
    error: Mapped[str] = mapped_column(String(64), default="", server_default="")  # the last one's name


class SweepMark(Base):
    """How far a periodic sweep has got, kept in the database so that a Redis that lost its
    data does not lose it too: `carrier_calls`, the reconstruction sweep's listing of the
    carrier's calls (queueing/reconstruction.py), every call ended before `through` checked."""

    __tablename__ = "sweep_marks"

    name: Mapped[str] = mapped_column(String(40), primary_key=True)
    through: Mapped[datetime]


# ---- after care and outreach (issue 7) ----


class Discharge(Base):
    """A patient left a ward (from the hospital's inpatient system)."""

    __tablename__ = "discharges"
    __table_args__ = (Index("ix_discharges_discharged_on_ward", "discharged_on", "ward"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    source_event_id: Mapped[str] = mapped_column(String(64), unique=True)  # the sending system's id
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    ward: Mapped[str] = mapped_column(String(64))
    discharged_on: Mapped[date]
    attending_doctor: Mapped[str] = mapped_column(String(100))
    received_at: Mapped[datetime]

    patient: Mapped[Patient] = relationship()


class ResultReady(Base):
    """A patient's test results are ready; they are told so (never the results) within the
    configured time.  notice_seconds is the time from ready_at to the text being sent."""

    __tablename__ = "results_ready"

    id: Mapped[int] = mapped_column(primary_key=True)
    source_event_id: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    test_name: Mapped[str] = mapped_column(String(100))
    ready_at: Mapped[datetime]
    received_at: Mapped[datetime]
    due_at: Mapped[datetime] = mapped_column(index=True)
    # pending | sent | opted_out | no_mobile | failed
    notice_status: Mapped[str] = mapped_column(String(16), default="pending")
    sms_message_id: Mapped[int | None] = mapped_column(ForeignKey("sms_messages.id"))
    notified_at: Mapped[datetime | None]
    notice_seconds: Mapped[int | None]

    patient: Mapped[Patient] = relationship()
    sms: Mapped[SmsMessage | None] = relationship()


class FollowUpCampaign(Base):
    """One month's follow-up calls: a reproducible sample of that month's discharges."""

    __tablename__ = "followup_campaigns"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)  # 2026-11
    seed: Mapped[str] = mapped_column(String(64))
    share: Mapped[float]
    min_per_ward: Mapped[int]
    discharges: Mapped[int]  # in the month, when the sample was drawn
    created_at: Mapped[datetime]

    tasks: Mapped[list[FollowUpTask]] = relationship(back_populates="campaign", order_by="FollowUpTask.id")


class FollowUpTask(Base):
    """One patient to call back after discharge, and what became of it.

    status: planned -> calling -> retry -> calling ... -> completed | incomplete | unreached
    | opted_out | no_number.  `flagged` with a worrying answer; the nurse's callback is
    requested (nurse_requested_at) and marked done by a person (nurse_done_at)."""

    __tablename__ = "followup_tasks"
    __table_args__ = (Index("ix_followup_tasks_campaign_status", "campaign_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("followup_campaigns.id", ondelete="CASCADE"))
    discharge_id: Mapped[int] = mapped_column(ForeignKey("discharges.id"), unique=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id"), index=True)
    status: Mapped[str] = mapped_column(String(16), default="planned")
    attempts: Mapped[int] = mapped_column(default=0)
    last_call_sid: Mapped[str | None] = mapped_column(String(64), index=True)
    last_attempt_at: Mapped[datetime | None]
    next_attempt_at: Mapped[datetime | None]
    last_result: Mapped[str | None] = mapped_column(String(24))  # no-answer, busy, machine...
    reached_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    answers: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    flagged: Mapped[bool] = mapped_column(default=False)
    flags: Mapped[list[str]] = mapped_column(JSON, default=list)  # the questions answered worryingly
    nurse_requested_at: Mapped[datetime | None]
    nurse_reference: Mapped[str | None] = mapped_column(String(64))  # the ACD's callback, once it has one
    nurse_done_at: Mapped[datetime | None]
    nurse_done_by: Mapped[int | None]  # a staff id

    campaign: Mapped[FollowUpCampaign] = relationship(back_populates="tasks")
    discharge: Mapped[Discharge] = relationship()
    patient: Mapped[Patient] = relationship()


class SurveyResponse(Base):
    """A caller's score (1-5) after an agent call, and their recorded comment if any."""

    __tablename__ = "survey_responses"

    id: Mapped[int] = mapped_column(primary_key=True)
    call_sid: Mapped[str] = mapped_column(String(64), unique=True)
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    agent_id: Mapped[int | None] = mapped_column(index=True)  # a staff id, from the call's events
    queue: Mapped[str | None] = mapped_column(String(32), index=True)
    score: Mapped[int | None]
    comment_recording_sid: Mapped[str | None] = mapped_column(String(64))
    comment_recording_url: Mapped[str | None] = mapped_column(String(500))
    comment_seconds: Mapped[int | None]
    at: Mapped[datetime]


class OutreachOptOut(Base):
    """A patient who wants no non-essential calls or texts (follow-ups, surveys, notices)."""

    __tablename__ = "outreach_opt_outs"

    id: Mapped[int] = mapped_column(primary_key=True)
    patient_id: Mapped[int] = mapped_column(ForeignKey("patients.id", ondelete="CASCADE"), unique=True)
    at: Mapped[datetime]
    channel: Mapped[str] = mapped_column(String(16))  # keypad | sms | agent
    by_staff_id: Mapped[int | None]
    note: Mapped[str | None] = mapped_column(String(200))

    patient: Mapped[Patient] = relationship()


class SatisfactionCampaign(Base):
    """One month's sample of one type of visit (outpatient, inpatient, exam) asked how
    satisfied the patient was; the sample is reproducible from its seed."""

    __tablename__ = "satisfaction_campaigns"
    __table_args__ = (UniqueConstraint("month", "visit_type"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7))  # the visits' month, 2026-11
    visit_type: Mapped[str] = mapped_column(String(12))  # outpatient | inpatient | exam
    seed: Mapped[str] = mapped_column(String(64))
    share: Mapped[float]
    visits: Mapped[int]  # in the month, when the sample was drawn
    created_at: Mapped[datetime]


class SatisfactionSurvey(Base):
    """One sampled visit's question, sent by text as a link carrying a random token (only
    its SHA-256 is kept), and the patient's answer.

    status: planned -> sent -> answered | expired; or opted_out | no_mobile.  `department`
    is the department's name (a ward for an inpatient stay), copied so that results stay
    when the patient link is removed at the end of the retention period."""

    __tablename__ = "satisfaction_surveys"
    __table_args__ = (Index("ix_satisfaction_surveys_campaign_status", "campaign_id", "status"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("satisfaction_campaigns.id", ondelete="CASCADE"))
    visit: Mapped[str] = mapped_column(String(32), unique=True)  # appointment:12 | discharge:7
    patient_id: Mapped[int | None] = mapped_column(ForeignKey("patients.id"), index=True)
    department: Mapped[str] = mapped_column(String(100))
    doctor_id: Mapped[int | None] = mapped_column(ForeignKey("doctors.id"))
    visited_on: Mapped[date]
    status: Mapped[str] = mapped_column(String(12), default="planned")
    token_hash: Mapped[str | None] = mapped_column(String(64), unique=True)
    sms_message_id: Mapped[int | None] = mapped_column(ForeignKey("sms_messages.id"))
    sent_at: Mapped[datetime | None]
    expires_at: Mapped[datetime | None]
    answered_at: Mapped[datetime | None]
    score: Mapped[int | None]
    comment: Mapped[str | None] = mapped_column(Text)
    case_id: Mapped[int | None] = mapped_column(ForeignKey("complaint_cases.id"))

    campaign: Mapped[SatisfactionCampaign] = relationship()
    patient: Mapped[Patient | None] = relationship()
    doctor: Mapped[Doctor | None] = relationship()


class MonthlyReport(Base):
    """A month's report for the hospital's leadership as built by the report job
    (queueing.reports): its figures frozen as JSON (records.monthly.figures), and the
    job's progress while it builds.  status: queued -> running -> done | failed."""

    __tablename__ = "monthly_reports"

    id: Mapped[int] = mapped_column(primary_key=True)
    month: Mapped[str] = mapped_column(String(7), unique=True)
    status: Mapped[str] = mapped_column(String(12), default="queued")
    step: Mapped[str | None] = mapped_column(String(16))  # the last step done
    progress: Mapped[int] = mapped_column(default=0)  # percent
    figures: Mapped[dict[str, Any] | None] = mapped_column(JSON)
    requested_by: Mapped[int | None]  # a staff id; None: the scheduler
    requested_at: Mapped[datetime]
    started_at: Mapped[datetime | None]
    finished_at: Mapped[datetime | None]
    error: Mapped[str | None] = mapped_column(String(300))
