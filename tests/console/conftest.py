"""Fixtures for the agent console's tests: staff accounts and a patient's history."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

import pytest
from sqlalchemy import select

from records.calls import CallOpened, Event, open_call, record_events
from records.db import begin_write
from records.models import Appointment, CallRecord, ClinicSession, Doctor
from records.patients import match_caller
from records.seats import save_wrap_up
from tests.conftest import OPEN
from tests.test_sms import MS_WANG, a_session, book, patient
from tests.web import make_staff


@dataclass(frozen=True)
class Team:
    agent: object
    other_agent: object
    supervisor: object


@pytest.fixture
def team(app):
    return Team(
        agent=make_staff(app, "agent", display_name="坐席一 Agent One"),
        other_agent=make_staff(app, "agent", display_name="坐席二 Agent Two"),
        supervisor=make_staff(app, "supervisor", display_name="主管 Supervisor"),
    )


def past_visit(db, mrn: str, days_ago: int, *, reference: str) -> Appointment:
    """An appointment the patient kept, `days_ago` days before OPEN (a session made for it)."""
    doctor = db.scalars(select(Doctor).order_by(Doctor.id)).first()
    start = a_session(db, OPEN.date() + timedelta(days=1))
    clinic = ClinicSession(
        doctor_id=doctor.id,
        date=OPEN.date() - timedelta(days=days_ago),
        start_time=start.start_time,
        end_time=start.end_time,
        capacity=10,
        booked=1,
    )
    db.add(clinic)
    db.flush()
    visit = Appointment(
        reference=reference,
        patient_id=patient(db, mrn).id,
        session_id=clinic.id,
        doctor_id=doctor.id,
        date=clinic.date,
        place=1,
        status="booked",
        booked_at=OPEN - timedelta(days=days_ago + 7),
    )
    db.add(visit)
    db.flush()
    return visit


def past_call(
    db, number: str, call_sid: str, hours_ago: int, *, disposition: str | None = None, agent_id: int | None = None
) -> CallRecord:
    """A finished call from this number, with an agent's wrap-up if a disposition is given."""
    at = OPEN - timedelta(hours=hours_ago)
    record = open_call(db, CallOpened(call_sid, number, "+861065281000", match_caller(db, number), "zh", at))
    events = [Event(1, at, "menu", {"step": "main"}), Event(2, at, "transfer", {"to": "agents"})]
    record_events(db, call_sid, events, at)
    if disposition:
        save_wrap_up(
            db,
            call_sid=call_sid,
            staff_id=agent_id,
            queue="general",
            disposition=disposition,
            notes="",
            at=at + timedelta(minutes=2),
        )
    record.status, record.duration_seconds, record.ended_at = "completed", 95, at + timedelta(seconds=95)
    return record


@pytest.fixture
def ms_wangs_history(db, settings, team):
    """Ms Wang (aged 70+): two kept visits, one coming appointment, two earlier calls."""
    upcoming = book(db, settings, MS_WANG, a_session(db, OPEN.date() + timedelta(days=1)))
    begin_write(db)
    visits = [past_visit(db, MS_WANG, 30, reference="P000000030"), past_visit(db, MS_WANG, 7, reference="P000000007")]
    calls = [
        past_call(db, "13800138000", "CA" + "a" * 32, 48, disposition="booked", agent_id=team.other_agent.id),
        past_call(db, "13800138000", "CA" + "b" * 32, 2),
    ]
    db.commit()
    return {"upcoming": upcoming, "visits": visits, "calls": calls}
