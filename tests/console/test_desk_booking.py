"""Booking at the desk (issue 20): the agent books, moves and cancels for the patient through
the same records.booking as the phone, with the phone's refusals; a full session's waiting
list; every page and change audited.  Test client here; Chromium in test_desk_booking_browser."""

from __future__ import annotations

from sqlalchemy import select

from records import booking
from records.models import Appointment, AuditEntry, ClinicSession, SmsMessage, WaitlistEntry
from tests.conftest import OPEN
from tests.console.test_console_views import client_for
from tests.test_booking_calls import waiting_lists_off
from tests.test_sms import MR_LI, MS_WANG, a_session, patient
from tests.web import csrf_token

TOMORROW = OPEN.date().replace(day=OPEN.day + 1)


def open_file(client, patient_id: int) -> str:
    """Find the file and open it, as an agent does from 'find a file'; the page's CSRF token."""
    token = csrf_token(client.get("/agent/search").get_data(as_text=True))
    client.post("/agent/search", data={"query": "13800138000", "reason": "患者来电预约", "csrf_token": token})
    opened = client.post(f"/agent/files/{patient_id}", data={"reason": "患者来电预约", "csrf_token": token})
    assert "预约、改约、取消、候补 Book, move, cancel, waiting list" in opened.get_data(as_text=True)
    return token


def fill(db, session: ClinicSession) -> None:
    """Every bookable place of the session taken (by the hospital's own count)."""
    session.booked = session.capacity - session.held_back
    db.commit()


def test_an_agent_books_moves_and_cancels_for_the_patient_with_the_phones_rules(app, db, team):
    wang = patient(db, MS_WANG).id
    agent = client_for(app, team.agent)
    assert agent.get(f"/agent/patients/{wang}/appointments").status_code == 403  # file not opened yet
    token = open_file(agent, wang)
    first = a_session(db, TOMORROW)
    doctor = first.doctor.code
    page = agent.get(f"/agent/patients/{wang}/appointments?doctor={doctor}").get_data(as_text=True)
    assert f'data-session-id="{first.id}"' in page and "预约 Book" in page

    booked = agent.post(
        f"/agent/patients/{wang}/book", data={"session_id": first.id, "csrf_token": token}, follow_redirects=True
    )
    text = booked.get_data(as_text=True)
    assert "预约成功" in text and "You are booked" in text
    db.rollback()
    [appointment] = db.scalars(select(Appointment).where(Appointment.patient_id == wang)).all()
    assert (appointment.channel, appointment.booked_by_id, appointment.status) == ("agent", team.agent.id, "booked")
    assert appointment.reference in text  # read back to the caller

    again = agent.post(
        f"/agent/patients/{wang}/book", data={"session_id": first.id, "csrf_token": token}, follow_redirects=True
    )
    assert "您当天已经预约了这位医生或这项检查" in again.get_data(as_text=True)  # the phone's own words

    later = db.scalars(
        select(ClinicSession).where(ClinicSession.doctor_id == first.doctor_id, ClinicSession.date > first.date)
    ).first()
    moved = agent.post(
        f"/agent/patients/{wang}/book",
        data={"session_id": later.id, "move": appointment.id, "csrf_token": token},
        follow_redirects=True,
    )
    assert "改约成功" in moved.get_data(as_text=True)
    db.rollback()
    new = db.scalar(select(Appointment).where(Appointment.patient_id == wang, Appointment.status == "booked"))
    assert new.session_id == later.id and new.channel == "agent"
    cancelled = agent.post(
        f"/agent/patients/{wang}/cancel", data={"appointment_id": new.id, "csrf_token": token}, follow_redirects=True
    )
    assert "预约已取消" in cancelled.get_data(as_text=True)
    db.rollback()
    kinds = db.scalars(select(SmsMessage.kind).where(SmsMessage.patient_id == wang).order_by(SmsMessage.id)).all()
    assert kinds == ["confirmation", "moved", "cancellation"]
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.patient_id == wang).order_by(AuditEntry.id)).all()
    assert actions[:2] == ["search", "view_file"]
    assert {"book_for_patient", "move_for_patient", "cancel_for_patient"} <= set(actions)


def test_a_full_session_is_refused_and_its_waiting_list_joined_and_the_freed_place_held(app, db, team):
    wang, li = patient(db, MS_WANG).id, patient(db, MR_LI).id
    session = a_session(db, TOMORROW)
    fill(db, session)
    agent = client_for(app, team.agent)
    token = open_file(agent, wang)
    full = agent.post(
        f"/agent/patients/{wang}/book", data={"session_id": session.id, "csrf_token": token}, follow_redirects=True
    )
    assert "这个时段刚刚约满了" in full.get_data(as_text=True)
    page = agent.get(f"/agent/patients/{wang}/appointments?doctor={session.doctor.code}").get_data(as_text=True)
    assert "约满 full" in page and "加入候补 Join the waiting list" in page
    joined = agent.post(
        f"/agent/patients/{wang}/waitlist", data={"session_id": session.id, "csrf_token": token}, follow_redirects=True
    )
    assert "已加入候补" in joined.get_data(as_text=True)
    db.rollback()
    [entry] = db.scalars(select(WaitlistEntry)).all()
    assert (entry.patient_id, entry.status, entry.channel) == (wang, "waiting", "agent")

    # Mr Li cancels a place: it is held for Ms Wang, no one else can book it.
    rules = app.extensions["hotline"].settings.booking
    db.refresh(session)
    session.booked -= 1
    db.commit()
    taken = booking.book(db, patient_id=li, session_id=session.id, now=OPEN, rules=rules)
    assert taken.outcome is booking.Outcome.BOOKED
    db.commit()
    result = booking.cancel(
        db,
        patient_id=li,
        appointment_id=taken.appointment.id,
        now=OPEN,
        rules=rules,
    )
    assert result.outcome is booking.Outcome.CANCELLED
    db.commit()
    db.refresh(session)
    db.refresh(entry)
    assert entry.status == "offered" and session.offered == 1 and session.free == 0
    again = booking.book(db, patient_id=li, session_id=session.id, now=OPEN, rules=rules)
    assert again.outcome is booking.Outcome.FULL  # held for the waiting patient
    db.rollback()
    file_page = agent.get(f"/agent/patients/{wang}/appointments").get_data(as_text=True)
    assert "已通知空位 offered" in file_page


def test_with_waiting_lists_off_the_desk_offers_no_key_to_join_and_refuses_joining(app, db, team):
    waiting_lists_off(app)
    wang = patient(db, MS_WANG).id
    session = a_session(db, TOMORROW)
    fill(db, session)
    agent = client_for(app, team.agent)
    token = open_file(agent, wang)
    page = agent.get(f"/agent/patients/{wang}/appointments?doctor={session.doctor.code}").get_data(as_text=True)
    assert "约满 full" in page and "加入候补" not in page
    refused = agent.post(
        f"/agent/patients/{wang}/waitlist", data={"session_id": session.id, "csrf_token": token}, follow_redirects=True
    )
    text = refused.get_data(as_text=True)
    assert "对不起，本院暂不提供候补。" in text and "the hospital does not offer waiting lists" in text
    db.rollback()
    assert db.scalars(select(WaitlistEntry)).all() == []
    actions = db.scalars(select(AuditEntry.action).where(AuditEntry.patient_id == wang)).all()
    assert "waitlist_for_patient" not in actions
