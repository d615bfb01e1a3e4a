"""The hospital's booking API (issue 20): search free places and book into the same capacity
as the phone, refused when full in Chinese and English, and only with a known bearer token."""

from __future__ import annotations

import pytest
from sqlalchemy import select

from records.models import Appointment, ClinicSession, SmsMessage, WaitlistEntry
from tests.test_booking_calls import waiting_lists_off
from tests.test_sms import MS_WANG, TOMORROW, a_session, patient

TOKEN = "hospital-app-token-1"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def environ(environ):
    return {**environ, "BOOKING_API_TOKENS": f"web-site-token,{TOKEN}"}


def test_the_app_finds_free_places_and_books_one(app, db):
    client = app.test_client()
    session = a_session(db, TOMORROW)
    doctor = session.doctor
    found = client.get(f"/api/v1/booking/places?doctor={doctor.code}", headers=AUTH)
    assert found.status_code == 200
    places = found.get_json()["places"]
    first = places[0]
    assert first["session_id"] == session.id and first["doctor"]["code"] == doctor.code
    assert first["free"] == session.capacity - session.held_back and first["date"] == TOMORROW.isoformat()
    by_department = client.get(f"/api/v1/booking/places?department={doctor.department.code}", headers=AUTH)
    assert session.id in [p["session_id"] for p in by_department.get_json()["places"]]

    booked = client.post(
        "/api/v1/booking/appointments",
        json={"mrn": MS_WANG, "birth_date": "1948-05-02", "session_id": session.id},
        headers=AUTH,
    )
    assert booked.status_code == 201, booked.get_json()
    answer = booked.get_json()
    assert (answer["place"], answer["channel"], answer["session_id"]) == (1, "api", session.id)
    db.rollback()
    appointment = db.scalar(select(Appointment).where(Appointment.reference == answer["reference"]))
    assert (appointment.patient_id, appointment.channel) == (patient(db, MS_WANG).id, "api")
    assert db.scalar(select(SmsMessage.kind).where(SmsMessage.appointment_id == appointment.id)) == "confirmation"
    again = client.get(f"/api/v1/booking/places?doctor={doctor.code}", headers=AUTH).get_json()["places"]
    assert again[0]["free"] == first["free"] - 1  # the same capacity


def test_a_full_session_is_refused_in_both_languages_and_left_as_it_was(app, db):
    session = a_session(db, TOMORROW)
    session.booked = session.capacity - session.held_back
    db.commit()
    client = app.test_client()
    places = client.get(f"/api/v1/booking/places?doctor={session.doctor.code}", headers=AUTH).get_json()["places"]
    assert session.id not in [p["session_id"] for p in places]
    refused = client.post(
        "/api/v1/booking/appointments",
        json={"mrn": MS_WANG, "birth_date": "1948-05-02", "session_id": session.id},
        headers=AUTH,
    )
    assert refused.status_code == 409
    body = refused.get_json()
    assert body["outcome"] == "full"
    assert "这个时段刚刚约满了" in body["error"] and "that session has just filled up" in body["error"]
    db.rollback()
    assert db.get(ClinicSession, session.id, populate_existing=True).booked == session.capacity - session.held_back
    assert not db.scalars(select(Appointment)).all()


def test_a_wrong_birth_date_is_refused_without_saying_which_part_was_wrong(app, db):
    session = a_session(db, TOMORROW)
    client = app.test_client()
    wrong = client.post(
        "/api/v1/booking/appointments",
        json={"mrn": MS_WANG, "birth_date": "1950-01-01", "session_id": session.id},
        headers=AUTH,
    )
    nobody = client.post(
        "/api/v1/booking/appointments",
        json={"mrn": "M99999999", "birth_date": "1950-01-01", "session_id": session.id},
        headers=AUTH,
    )
    assert wrong.status_code == nobody.status_code == 404
    assert wrong.get_json() == nobody.get_json()


@pytest.mark.parametrize(
    "headers", [{}, {"Authorization": "Bearer not-a-token"}, {"Authorization": TOKEN}, {"Authorization": "Basic x"}]
)
def test_a_bad_token_is_refused(app, db, headers):
    session = a_session(db, TOMORROW)
    client = app.test_client()
    refused = client.post(
        "/api/v1/booking/appointments",
        json={"mrn": MS_WANG, "birth_date": "1948-05-02", "session_id": session.id},
        headers=headers,
    )
    assert refused.status_code == 401 and refused.headers["WWW-Authenticate"].startswith("Bearer")
    assert "令牌" in refused.get_json()["error"]
    assert client.get("/api/v1/booking/places?doctor=D001", headers=headers).status_code == 401
    db.rollback()
    assert not db.scalars(select(Appointment)).all()


def full_session(db):
    session = a_session(db, TOMORROW)
    session.booked = session.capacity - session.held_back
    db.commit()
    return session


def test_the_app_puts_a_patient_on_a_full_sessions_waiting_list(app, db):
    session = full_session(db)
    client = app.test_client()
    body = {"mrn": MS_WANG, "birth_date": "1948-05-02", "session_id": session.id}
    refused = client.post("/api/v1/booking/appointments", json=body, headers=AUTH)
    assert refused.status_code == 409 and refused.get_json()["waitlist"] is True  # the app may offer it
    joined = client.post("/api/v1/booking/waitlist", json=body, headers=AUTH)
    assert joined.status_code == 201, joined.get_json()
    assert joined.get_json() == {"outcome": "joined", "status": "waiting", "session_id": session.id}
    again = client.post("/api/v1/booking/waitlist", json=body, headers=AUTH)
    assert again.status_code == 200 and again.get_json()["outcome"] == "already_waiting"
    db.rollback()
    [entry] = db.scalars(select(WaitlistEntry)).all()
    assert (entry.patient_id, entry.session_id, entry.channel) == (patient(db, MS_WANG).id, session.id, "api")
    free = a_session(db, TOMORROW, nth=1)
    not_full = client.post("/api/v1/booking/waitlist", json={**body, "session_id": free.id}, headers=AUTH)
    assert not_full.status_code == 409 and not_full.get_json()["outcome"] == "not_full"
    assert "请直接预约" in not_full.get_json()["error"] and "book it instead" in not_full.get_json()["error"]


def test_with_waiting_lists_off_the_api_refuses_joining_in_both_languages(app, db):
    waiting_lists_off(app)
    session = full_session(db)
    client = app.test_client()
    body = {"mrn": MS_WANG, "birth_date": "1948-05-02", "session_id": session.id}
    refused = client.post("/api/v1/booking/appointments", json=body, headers=AUTH)
    assert refused.status_code == 409 and refused.get_json()["waitlist"] is False
    closed = client.post("/api/v1/booking/waitlist", json=body, headers=AUTH)
    assert closed.status_code == 403
    answer = closed.get_json()
    assert answer["outcome"] == "closed"
    assert answer["error_zh"] == "对不起，本院暂不提供候补。"
    assert answer["error_en"] == "Sorry, the hospital does not offer waiting lists at the moment."
    db.rollback()
    assert db.scalars(select(WaitlistEntry)).all() == []
