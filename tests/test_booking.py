"""Booking rules, held by the database: capacity, one a day per doctor, daily limit,
cut-off, moving without losing the old place."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from records import booking
from records.booking import Outcome
from records.models import Appointment, ClinicSession, Patient, PatientNote
from tests.conftest import OPEN


@pytest.fixture
def rules(settings):
    return settings.booking


def patients(db, n):
    return list(db.scalars(select(Patient.id).order_by(Patient.id).limit(n)))


def a_session(db, **where) -> ClinicSession:
    query = select(ClinicSession).where(ClinicSession.date > OPEN.date(), ClinicSession.doctor_id.is_not(None))
    return db.scalars(query.order_by(ClinicSession.date, ClinicSession.id)).first()


def test_a_session_never_takes_more_than_its_bookable_places(db, rules):
    session = a_session(db)
    bookable = session.capacity - session.held_back
    results = [
        booking.book(db, patient_id=p, session_id=session.id, now=OPEN, rules=rules).outcome
        for p in patients(db, bookable + 3)
    ]
    db.commit()
    assert results.count(Outcome.BOOKED) == bookable
    assert results[bookable:] == [Outcome.FULL] * 3
    db.refresh(session)
    assert session.booked == bookable and session.free == 0
    places = db.scalars(select(Appointment.place).where(Appointment.session_id == session.id)).all()
    assert sorted(places) == list(range(1, bookable + 1))


def test_one_booking_per_doctor_per_day_and_a_daily_limit(db, rules):
    patient = patients(db, 1)[0]
    session = a_session(db)
    assert booking.book(db, patient_id=patient, session_id=session.id, now=OPEN, rules=rules).outcome is Outcome.BOOKED
    again = booking.book(db, patient_id=patient, session_id=session.id, now=OPEN, rules=rules)
    assert again.outcome is Outcome.ALREADY_BOOKED
    others = db.scalars(
        select(ClinicSession).where(ClinicSession.date == session.date, ClinicSession.doctor_id != session.doctor_id)
    ).all()
    outcomes = [
        booking.book(db, patient_id=patient, session_id=s.id, now=OPEN, rules=rules).outcome for s in others[:3]
    ]
    assert outcomes[: rules.max_bookings_per_day - 1] == [Outcome.BOOKED] * (rules.max_bookings_per_day - 1)
    assert Outcome.DAILY_LIMIT in outcomes
    db.refresh(session)
    assert session.booked == 1  # refusals gave their place back


def test_cancel_respects_the_cut_off_and_frees_the_place(db, rules):
    patient = patients(db, 1)[0]
    session = a_session(db)
    appointment = booking.book(db, patient_id=patient, session_id=session.id, now=OPEN, rules=rules).appointment
    start = booking.starts_at(appointment, OPEN)
    too_late = start - timedelta(minutes=rules.cancel_cutoff_minutes - 1)
    assert (
        booking.cancel(db, patient_id=patient, appointment_id=appointment.id, now=too_late, rules=rules).outcome
        is Outcome.TOO_LATE
    )
    other = patients(db, 2)[1]
    assert (
        booking.cancel(db, patient_id=other, appointment_id=appointment.id, now=OPEN, rules=rules).outcome
        is Outcome.NOT_FOUND
    )
    assert (
        booking.cancel(db, patient_id=patient, appointment_id=appointment.id, now=OPEN, rules=rules).outcome
        is Outcome.CANCELLED
    )
    db.commit()
    db.refresh(session)
    assert session.booked == 0
    kinds = db.scalars(select(PatientNote.kind).where(PatientNote.patient_id == patient)).all()
    assert kinds == ["booked", "cancelled"]


def test_moving_keeps_the_old_place_until_the_new_one_is_booked(db, rules):
    first, second = patients(db, 2)
    session = a_session(db)
    later = db.scalars(
        select(ClinicSession).where(ClinicSession.doctor_id == session.doctor_id, ClinicSession.date > session.date)
    ).first()
    appointment = booking.book(db, patient_id=first, session_id=session.id, now=OPEN, rules=rules).appointment
    # Fill the later session, then try to move into it: refused, the old place kept.
    for p in db.scalars(
        select(Patient.id).where(Patient.id.not_in([first, second])).limit(later.capacity - later.held_back)
    ):
        booking.book(db, patient_id=p, session_id=later.id, now=OPEN, rules=rules)
    refused = booking.move(
        db, patient_id=first, appointment_id=appointment.id, session_id=later.id, now=OPEN, rules=rules
    )
    assert refused.outcome is Outcome.FULL
    db.refresh(appointment)
    assert appointment.status == "booked"
    # Free one place and move.
    taken = db.scalars(select(Appointment).where(Appointment.session_id == later.id)).first()
    booking.cancel(db, patient_id=taken.patient_id, appointment_id=taken.id, now=OPEN, rules=rules)
    moved = booking.move(
        db, patient_id=first, appointment_id=appointment.id, session_id=later.id, now=OPEN, rules=rules
    )
    assert moved.outcome is Outcome.MOVED
    db.commit()
    db.refresh(appointment)
    db.refresh(session)
    assert appointment.status == "moved" and appointment.moved_to_id == moved.appointment.id
    assert session.booked == 0


def test_a_second_cancel_or_move_is_told_what_became_of_it_and_gives_nothing_back(db, rules):
    first, second = patients(db, 2)
    session = a_session(db)
    later = db.scalars(
        select(ClinicSession).where(ClinicSession.doctor_id == session.doctor_id, ClinicSession.date > session.date)
    ).first()
    cancelled = booking.book(db, patient_id=first, session_id=session.id, now=OPEN, rules=rules).appointment
    moved = booking.book(db, patient_id=second, session_id=session.id, now=OPEN, rules=rules).appointment
    assert booking.cancel(db, patient_id=first, appointment_id=cancelled.id, now=OPEN, rules=rules).outcome is (
        Outcome.CANCELLED
    )
    to_later = {"session_id": later.id, "now": OPEN, "rules": rules}
    assert booking.move(db, patient_id=second, appointment_id=moved.id, **to_later).outcome is Outcome.MOVED
    db.commit()
    again = [
        booking.cancel(db, patient_id=first, appointment_id=cancelled.id, now=OPEN, rules=rules),
        booking.move(db, patient_id=first, appointment_id=cancelled.id, **to_later),
        booking.cancel(db, patient_id=second, appointment_id=moved.id, now=OPEN, rules=rules),
        booking.move(db, patient_id=second, appointment_id=moved.id, **to_later),
    ]
    assert [r.outcome for r in again] == [Outcome.ALREADY_CANCELLED] * 2 + [Outcome.ALREADY_MOVED] * 2
    db.commit()
    db.refresh(session)
    db.refresh(later)
    assert (session.booked, later.booked) == (0, 1)
    notes = db.scalars(select(PatientNote.kind).where(PatientNote.patient_id.in_([first, second]))).all()
    assert sorted(notes) == ["booked", "booked", "booked", "cancelled", "moved"]


def test_a_count_of_booked_places_below_the_appointments_is_refused_as_full_not_a_crash(db, rules):
    session = a_session(db)
    session.held_back = 0  # every place number bookable by phone
    db.commit()
    people = patients(db, session.capacity + 1)
    for p in people[:-1]:
        assert booking.book(db, patient_id=p, session_id=session.id, now=OPEN, rules=rules).outcome is Outcome.BOOKED
    db.refresh(session)
    session.booked -= 1  # as a double release once left it (issue 16), or a hand edit
    db.commit()
    refused = booking.book(db, patient_id=people[-1], session_id=session.id, now=OPEN, rules=rules)
    assert refused.outcome is Outcome.FULL  # every place number is taken: no StopIteration
    db.commit()
    db.refresh(session)
    assert session.booked == session.capacity - 1  # the refusal took nothing


def test_free_days_skip_full_sessions_and_respect_the_horizon(db, rules):
    session = a_session(db)
    days = booking.free_days(db, OPEN, rules, doctor_ids=[session.doctor_id])
    assert session.date in days
    assert all(OPEN.date() <= d <= OPEN.date() + timedelta(days=rules.days_ahead) for d in days)
    db.execute(
        ClinicSession.__table__.update()
        .where(ClinicSession.doctor_id == session.doctor_id, ClinicSession.date == session.date)
        .values(booked=ClinicSession.capacity - ClinicSession.held_back)
    )
    db.commit()
    assert session.date not in booking.free_days(db, OPEN, rules, doctor_ids=[session.doctor_id])
