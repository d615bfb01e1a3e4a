"""Booking, moving and cancelling appointments.

The database keeps capacity, not the application: a place is taken by one
conditional UPDATE (`booked = booked + 1 WHERE booked + held_back < capacity`),
which PostgreSQL re-checks under the row lock and SQLite runs under its write
lock, so two callers can never take the last place twice; a CHECK constraint
and partial unique indexes (one active booking per place, per patient per
doctor or exam per day) stand behind it.  There is no check-then-insert race.

Giving a place up is the same: an appointment is cancelled (or set aside for a
move) by one conditional UPDATE (`status = 'cancelled' WHERE id = ? AND status =
'booked'`), whose row count says who won, so two calls cancelling the same
appointment at once give its place back once, and only the winner writes the
note and the text; the other hears that it is already cancelled.

Functions take a Session and never commit: the caller owns the transaction.
Each write runs in a SAVEPOINT so a refusal leaves the caller's transaction as
it was.
"""

from __future__ import annotations

import logging
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from enum import StrEnum

from sqlalchemy import func, or_, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, selectinload

from records.db import changed
from records.models import Appointment, ClinicSession, Doctor, ExamType, Patient, PatientNote
from settings import Booking

log = logging.getLogger(__name__)


class Outcome(StrEnum):
    BOOKED = "booked"
    CANCELLED = "cancelled"
    MOVED = "moved"
    FULL = "full"  # the last place went while the caller listened
    ALREADY_BOOKED = "already_booked"  # this doctor (or exam) on this day
    DAILY_LIMIT = "daily_limit"
    TOO_FAR = "too_far"  # beyond the booking horizon
    PAST = "past"  # the session has ended
    TOO_LATE = "too_late"  # inside the cancellation cut-off
    NOT_FOUND = "not_found"
    ALREADY_CANCELLED = "already_cancelled"  # by another call (or text) first
    ALREADY_MOVED = "already_moved"  # by another call first


@dataclass(frozen=True)
class Result:
    outcome: Outcome
    appointment: Appointment | None = None
    # Waiting patients the freed place (a cancellation, a move) is now held for: their
    # texts are for the caller to send once this commits (records.waitlist).
    offered: tuple = ()


# ---- finding free places -------------------------------------------------------------------


def _bookable(what, now: datetime, rules: Booking):
    """Sessions (or their columns) with a free place, not over yet, up to the booking horizon."""
    today = now.date()
    return select(what).where(
        ClinicSession.date >= today,
        ClinicSession.date <= today + timedelta(days=rules.days_ahead),
        _has_room(),
        or_(ClinicSession.date > today, ClinicSession.end_time > now.time()),
    )


def _has_room():
    """A place neither booked, nor kept for walk-ins, nor held for a waitlist offer."""
    return ClinicSession.booked + ClinicSession.held_back + ClinicSession.offered < ClinicSession.capacity


def _for(query, *, doctor_ids: Sequence[int] | None = None, exam_type_id: int | None = None):
    if exam_type_id is not None:
        return query.where(ClinicSession.exam_type_id == exam_type_id)
    return query.where(ClinicSession.doctor_id.in_(doctor_ids or []))


def free_days(
    db: Session,
    now: datetime,
    rules: Booking,
    *,
    doctor_ids: Sequence[int] | None = None,
    exam_type_id: int | None = None,
    limit: int | None = None,
) -> list[date]:
    """The next days on which the doctors (or the exam) have a free place: the database
    returns the days themselves (DISTINCT ... LIMIT), not every session behind them."""
    query = _for(_bookable(ClinicSession.date, now, rules), doctor_ids=doctor_ids, exam_type_id=exam_type_id)
    query = query.distinct().order_by(ClinicSession.date).limit(limit)
    return list(db.scalars(query))


def doctors_with_free_places(db: Session, now: datetime, rules: Booking) -> frozenset[int]:
    """The doctors who have a free place to book up to the booking horizon, in one statement:
    a doctor's page offers to book only these (read a few seconds old: extensions.Hotline)."""
    query = _bookable(ClinicSession.doctor_id, now, rules).where(ClinicSession.doctor_id.is_not(None)).distinct()
    return frozenset(db.scalars(query))


def free_sessions(
    db: Session,
    day: date,
    now: datetime,
    rules: Booking,
    *,
    doctor_ids: Sequence[int] | None = None,
    exam_type_id: int | None = None,
    limit: int | None = None,
) -> list[ClinicSession]:
    query = _for(_bookable(ClinicSession, now, rules), doctor_ids=doctor_ids, exam_type_id=exam_type_id)
    query = (
        query.where(ClinicSession.date == day)
        .order_by(ClinicSession.start_time, ClinicSession.id)
        .limit(limit)
        .options(
            selectinload(ClinicSession.doctor).selectinload(Doctor.department), selectinload(ClinicSession.exam_type)
        )
    )
    return list(db.scalars(query))


def sessions_ahead(
    db: Session,
    now: datetime,
    rules: Booking,
    *,
    doctor_ids: Sequence[int] | None = None,
    exam_type_id: int | None = None,
    day: date | None = None,
    limit: int = 40,
) -> list[ClinicSession]:
    """Every session not over yet, up to the horizon, free or full (the desk offers a full one's
    waiting list), the soonest first."""
    today = now.date()
    query = _for(select(ClinicSession), doctor_ids=doctor_ids, exam_type_id=exam_type_id).where(
        ClinicSession.date >= (day or today),
        ClinicSession.date <= (day or today + timedelta(days=rules.days_ahead)),
        ClinicSession.date <= today + timedelta(days=rules.days_ahead),
        or_(ClinicSession.date > today, ClinicSession.end_time > now.time()),
    )
    query = (
        query.order_by(ClinicSession.date, ClinicSession.start_time, ClinicSession.id)
        .limit(limit)
        .options(
            selectinload(ClinicSession.doctor).selectinload(Doctor.department), selectinload(ClinicSession.exam_type)
        )
    )
    return list(db.scalars(query))


def department_doctor_ids(db: Session, department_code: str) -> list[int]:
    from records.models import Department

    return list(db.scalars(select(Doctor.id).join(Doctor.department).where(Department.code == department_code)))


# ---- booking -------------------------------------------------------------------------------


def book(
    db: Session,
    *,
    patient_id: int,
    session_id: int,
    now: datetime,
    rules: Booking,
    call_sid: str | None = None,
    channel: str = "phone",
    by_staff_id: int | None = None,
) -> Result:
    """One front door for every channel ('phone', 'agent' for a member of staff booking for
    the patient, 'api' for the hospital's web site or app, 'waitlist' for an offer taken):
    the same capacity, limits and refusals."""
    target = db.get(ClinicSession, session_id)
    if target is None:
        return Result(Outcome.NOT_FOUND)
    if target.date > now.date() + timedelta(days=rules.days_ahead):
        return Result(Outcome.TOO_FAR)
    if target.date < now.date() or (target.date == now.date() and target.end_time <= now.time()):
        return Result(Outcome.PAST)
    with db.begin_nested() as savepoint:
        outcome = _take_place(db, target, patient_id, rules)
        if outcome is Outcome.BOOKED and (place := _free_place(db, target)) is None:
            outcome = Outcome.FULL  # the count had drifted: see _free_place
        if outcome is not Outcome.BOOKED or place is None:  # place: None only with FULL (for mypy)
            savepoint.rollback()
            return Result(outcome)
        appointment = _new_appointment(db, target, patient_id, place, now, call_sid, channel, by_staff_id)
        _note(db, patient_id, now, "booked", describe(appointment) + by(channel, by_staff_id), call_sid, appointment)
    return Result(Outcome.BOOKED, appointment)


def _take_place(db: Session, target: ClinicSession, patient_id: int, rules: Booking) -> Outcome:
    # The write comes first: it takes the lock that serialises everyone booking this
    # session (and, on SQLite, every writer), so the checks below cannot race.
    taken = changed(
        db,
        update(ClinicSession)
        .where(ClinicSession.id == target.id, _has_room())
        .values(booked=ClinicSession.booked + 1)
        .execution_options(synchronize_session=False),
    )
    if not taken:
        return Outcome.FULL
    # One patient booking from two phones at once: serialise on the patient's row too.
    db.execute(select(Patient.id).where(Patient.id == patient_id).with_for_update())
    same = (
        Appointment.doctor_id == target.doctor_id
        if target.doctor_id
        else Appointment.exam_type_id == target.exam_type_id
    )
    mine = select(func.count()).where(
        Appointment.patient_id == patient_id, Appointment.date == target.date, Appointment.status == "booked"
    )
    if db.scalar(mine.where(same)):
        return Outcome.ALREADY_BOOKED
    if db.execute(mine).scalar_one() >= rules.max_bookings_per_day:
        return Outcome.DAILY_LIMIT
    return Outcome.BOOKED


def _free_place(db: Session, target: ClinicSession) -> int | None:
    """The lowest place number no active appointment holds (under the session's row lock,
    taken by _take_place).  While `booked` counts the active appointments, which every
    change in this module keeps, there is always one: fewer than `capacity` are active.
    None means the count had drifted below them (a bug, or a hand edit): the caller is
    told the session is full, and the log says which session to recount."""
    used = set(
        db.scalars(select(Appointment.place).where(Appointment.session_id == target.id, Appointment.status == "booked"))
    )
    place = next((n for n in range(1, target.capacity + 1) if n not in used), None)
    if place is None:
        log.error("session %s: its count of booked places is below its active appointments; refused as full", target.id)
    return place


def _new_appointment(
    db: Session,
    target: ClinicSession,
    patient_id: int,
    place: int,
    now: datetime,
    call_sid: str | None,
    channel: str = "phone",
    by_staff_id: int | None = None,
) -> Appointment:
    for _ in range(5):
        appointment = Appointment(
            reference=f"{secrets.randbelow(10**8):08d}",
            patient_id=patient_id,
            session_id=target.id,
            doctor_id=target.doctor_id,
            exam_type_id=target.exam_type_id,
            date=target.date,
            place=place,
            call_sid=call_sid,
            booked_at=now,
            channel=channel,
            booked_by_id=by_staff_id,
        )
        try:
            with db.begin_nested():
                db.add(appointment)
            return appointment
        except IntegrityError:  # a reference drawn twice in 10^8: draw again
            continue
    raise RuntimeError("could not draw a unique booking reference")


# ---- the patient's appointments ------------------------------------------------------------


def upcoming(db: Session, patient_id: int, now: datetime) -> list[Appointment]:
    query = (
        select(Appointment)
        .join(Appointment.session)
        .where(Appointment.patient_id == patient_id, Appointment.status == "booked", Appointment.date >= now.date())
        .order_by(Appointment.date, ClinicSession.start_time)
        .options(
            selectinload(Appointment.session).selectinload(ClinicSession.doctor).selectinload(Doctor.department),
            selectinload(Appointment.session).selectinload(ClinicSession.exam_type),
        )
    )
    return [a for a in db.scalars(query) if a.date > now.date() or a.session.end_time > now.time()]


def find(db: Session, patient_id: int, appointment_id: int) -> Appointment | None:
    """Only the patient's own appointment: never another patient's."""
    appointment = db.get(Appointment, appointment_id)
    if appointment is None or appointment.patient_id != patient_id:
        return None
    return appointment


def starts_at(appointment: Appointment, now: datetime) -> datetime:
    return datetime.combine(appointment.date, appointment.session.start_time, tzinfo=now.tzinfo)


def cancel(
    db: Session,
    *,
    patient_id: int,
    appointment_id: int,
    now: datetime,
    rules: Booking,
    call_sid: str | None = None,
    channel: str = "phone",
    by_staff_id: int | None = None,
) -> Result:
    appointment = find(db, patient_id, appointment_id)
    if appointment is None:
        return Result(Outcome.NOT_FOUND)
    if appointment.status != "booked":
        return Result(already(appointment), appointment)
    if starts_at(appointment, now) - now < timedelta(minutes=rules.cancel_cutoff_minutes):
        return Result(Outcome.TOO_LATE, appointment)
    with db.begin_nested():
        offered = _give_up(db, appointment, "cancelled", now, rules)
        if offered is None:
            return Result(already(appointment), appointment)
        _note(db, patient_id, now, "cancelled", describe(appointment) + by(channel, by_staff_id), call_sid, appointment)
    return Result(Outcome.CANCELLED, appointment, offered)


def move(
    db: Session,
    *,
    patient_id: int,
    appointment_id: int,
    session_id: int,
    now: datetime,
    rules: Booking,
    call_sid: str | None = None,
    channel: str = "phone",
    by_staff_id: int | None = None,
) -> Result:
    """Book the new place first; the old one is given up only if that succeeds."""
    old = find(db, patient_id, appointment_id)
    if old is None:
        return Result(Outcome.NOT_FOUND)
    if old.status != "booked":
        return Result(already(old), old)
    if starts_at(old, now) - now < timedelta(minutes=rules.cancel_cutoff_minutes):
        return Result(Outcome.TOO_LATE, old)
    with db.begin_nested() as savepoint:
        # Given up first: that decides which of two calls moving (or cancelling) it goes on,
        # and 'one booking per doctor per day' no longer counts it.  A refused booking
        # rolls the savepoint back, and the appointment is booked again as it was.
        offered = _give_up(db, old, "moved", now, rules)
        if offered is None:
            return Result(already(old), old)
        result = book(
            db,
            patient_id=patient_id,
            session_id=session_id,
            now=now,
            rules=rules,
            call_sid=call_sid,
            channel=channel,
            by_staff_id=by_staff_id,
        )
        if result.outcome is not Outcome.BOOKED or result.appointment is None:  # BOOKED has one (for mypy)
            savepoint.rollback()
            return Result(result.outcome)
        old.moved_to_id = result.appointment.id
        _note(
            db,
            patient_id,
            now,
            "moved",
            f"{describe(old)} -> {describe(result.appointment)}{by(channel, by_staff_id)}",
            call_sid,
            result.appointment,
        )
    return Result(Outcome.MOVED, result.appointment, offered)


def _give_up(db: Session, appointment: Appointment, status: str, now: datetime, rules: Booking) -> tuple | None:
    """Cancel the appointment (or set it aside for a move) and give its place back, if it
    is still booked: the waitlist entries offered the place (often none); None if another
    call (or text) got there first."""
    # One conditional statement decides: PostgreSQL re-checks `status = 'booked'` once the
    # row lock is its own (a second caller waits for the first to commit, then finds
    # nothing to update) and SQLite runs it under its write lock, so of any number of
    # calls exactly one sees a row count of 1 and gives the place back.  The object read
    # earlier may be stale (sessions keep objects across commits): it decides nothing.
    given_up = changed(
        db,
        update(Appointment)
        .where(Appointment.id == appointment.id, Appointment.status == "booked")
        .values(status=status, cancelled_at=now)
        .execution_options(synchronize_session=False),
    )
    # Read again when next asked: the winner's own status, or the one the winner left.
    db.expire(appointment, ["status", "cancelled_at"])
    if not given_up:
        return None
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == appointment.session_id)
        .values(booked=ClinicSession.booked - 1)
        .execution_options(synchronize_session=False)
    )
    # The place freed goes first to the session's waiting list, in this transaction: held for
    # the first waiting patient (their text is sent once this commits), so no caller takes it
    # meanwhile.  A move rolled back undoes the offer with the rest.
    from records import waitlist  # it books through this module

    return waitlist.offer_freed(db, appointment.session_id, now, rules)


# What became of an appointment that is no longer booked, as the caller is told.
ALREADY = {"cancelled": Outcome.ALREADY_CANCELLED, "moved": Outcome.ALREADY_MOVED}


def already(appointment: Appointment) -> Outcome:
    """What became of an appointment that is no longer booked."""
    return ALREADY.get(appointment.status, Outcome.NOT_FOUND)


def by(channel: str, staff_id: int | None) -> str:
    """Who did it, on the file: nothing for the patient's own call."""
    if channel == "phone":
        return ""
    return f" [{channel}{f' #{staff_id}' if staff_id else ''}]"


def describe(appointment: Appointment) -> str:
    """For the patient's file (not spoken): what and when, in the hospital's words."""
    session = appointment.session
    what = session.doctor_or_exam.code
    return f"{appointment.reference} {what} {appointment.date:%Y-%m-%d} {session.start_time:%H:%M} #{appointment.place}"


def _note(db, patient_id, now, kind, text, call_sid, appointment) -> None:
    db.add(PatientNote(patient_id=patient_id, at=now, kind=kind, text=text, call_sid=call_sid, appointment=appointment))


def exam_types(db: Session) -> list[ExamType]:
    return list(db.scalars(select(ExamType).order_by(ExamType.code)))


def exam_type(db: Session, code: str) -> ExamType | None:
    return db.scalar(select(ExamType).where(ExamType.code == code))
