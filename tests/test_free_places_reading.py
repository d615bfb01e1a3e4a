"""A doctor's page offers to book them from a reading of the doctors with free places a
few seconds old (extensions.Hotline.doctors_with_free_places), not from a query per menu
step (issue 17: menu steps read no SQL).  What a caller meets when the reading is stale,
and when the database cannot be read."""

import pytest
from sqlalchemy.exc import OperationalError

import extensions
from records import directory
from records.db import begin_write
from records.models import ClinicSession
from tests.test_booking_calls import MS_WANG_BIRTHDAY
from tests.test_calls import MS_WANG


def fill(db, doctor_id):
    begin_write(db)
    db.execute(
        ClinicSession.__table__.update()
        .where(ClinicSession.doctor_id == doctor_id)
        .values(booked=ClinicSession.capacity - ClinicSession.held_back)
    )
    db.commit()


@pytest.fixture
def moment(monkeypatch):
    """The monotonic clock the reading's age is taken from, moved by hand."""
    now = [1000.0]
    monkeypatch.setattr(extensions.time, "monotonic", lambda: now[0])
    return now


def test_the_reading_is_kept_for_its_age_then_read_again(app, db, clock, moment):
    hotline = app.extensions["hotline"]
    doctor = directory.load(db, clock()).doctor("D001")
    assert doctor.id in hotline.doctors_with_free_places()
    fill(db, doctor.id)
    moment[0] += hotline.settings.booking.free_places_max_age_seconds - 0.5
    assert doctor.id in hotline.doctors_with_free_places()  # still the first reading
    moment[0] += 1
    assert doctor.id not in hotline.doctors_with_free_places()


def test_with_the_database_away_no_page_offers_a_booking(app, monkeypatch):
    hotline = app.extensions["hotline"]

    def away():
        raise OperationalError("SELECT", {}, Exception("connection refused"))

    monkeypatch.setattr(type(hotline), "sessions", property(lambda self: away))
    assert hotline.doctors_with_free_places() == frozenset()


def test_a_stale_offer_leads_to_no_free_place_and_a_way_on(dial, db, clock, moment):
    """The reading said 张志远 had a place; it was taken since.  The caller who presses 1
    hears that there is none, and still has somewhere to go."""
    doctor = directory.load(db, clock()).doctor("D001")
    call = dial(MS_WANG)
    call.take_text()
    call.speak("张志远")
    assert "预约这位医生请按1" in call.take_text()
    fill(db, doctor.id)
    call.press("1")
    call.take_text()  # identification first
    call.press(MS_WANG_BIRTHDAY)
    said = call.take_text()
    assert "没有可预约的号源" in said and "以下时段有号" not in said
    assert "返回请按井号键" in said and call.gather is not None  # still a menu, with a way back
