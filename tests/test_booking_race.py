"""Capacity under real concurrency: 200 callers press 1 at the read-back of the same
session at the same moment, through the hotline served by gunicorn with several worker
processes (and threads), on SQLite and on PostgreSQL.  Exactly the 10 free places are
given, each once, numbered on from the places already taken; everyone else hears that
the session has just filled up, and nobody hears an apology.

The server runs on the real clock (hospital time), so the session is made for a day
three days from today's real date."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from datetime import datetime, time, timedelta

import pytest
import redis as redis_lib
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

import queueing
from ivr.state import CallStore
from records.db import make_engine, make_sessions
from records.messages import mobile_number
from records.models import Appointment, ClinicSession, Doctor, Patient, SmsMessage
from tests.conftest import AUTH_TOKEN
from tests.gunicorn_server import Gunicorn

CALLERS = 200
CAPACITY = 30
TAKEN = 20  # booked before the race: 10 places left
FREE = CAPACITY - TAKEN
BOOKED = "预约成功"  # prompts 'booked' (zh)
FULL = "刚刚约满"  # prompts 'session_full' (zh)
HOSPITAL_NUMBER = "+861065281000"


def the_last_places(database_url: str, settings) -> tuple[int, dict[int, str]]:
    """A session three days from now (hospital time) with 20 of its 30 places taken, and
    200 other patients with nothing booked that day: (session id, {patient id: phone})."""
    engine = make_engine(database_url)
    try:
        with make_sessions(engine).begin() as db:
            day = datetime.now(settings.hospital.zone).date() + timedelta(days=3)
            busy = select(ClinicSession.doctor_id).where(
                ClinicSession.date == day, ClinicSession.doctor_id.is_not(None)
            )
            doctor = db.scalars(select(Doctor).where(Doctor.id.not_in(busy)).order_by(Doctor.id)).first()
            session = ClinicSession(
                doctor=doctor,
                date=day,
                start_time=time(8),
                end_time=time(12),
                capacity=CAPACITY,
                held_back=0,
                booked=TAKEN,
            )
            db.add(session)
            booked_that_day = select(Appointment.patient_id).where(Appointment.date == day)
            free = db.scalars(select(Patient).where(Patient.id.not_in(booked_that_day)).order_by(Patient.id)).all()
            assert len(free) >= TAKEN + CALLERS, f"the demo data has {len(free)} patients free that day"
            now = datetime.now(settings.hospital.zone)
            for place, patient in enumerate(free[:TAKEN], start=1):
                db.add(
                    Appointment(
                        reference=f"9{place:07d}",
                        patient=patient,
                        session=session,
                        doctor_id=doctor.id,
                        date=day,
                        place=place,
                        channel="window",
                        booked_at=now,
                    )
                )
            db.flush()
            callers = {p.id: (p.phones[0].e164 if p.phones else f"+8613{p.id:09d}") for p in free[TAKEN:][:CALLERS]}
            return session.id, callers
    finally:
        engine.dispose()


def post(url: str, form: dict[str, str]) -> tuple[int, str]:
    signature = RequestValidator(AUTH_TOKEN).compute_signature(url, form)
    request = urllib.request.Request(
        url,
        data=urllib.parse.urlencode(form).encode(),
        headers={"X-Twilio-Signature": signature, "Content-Type": "application/x-www-form-urlencoded"},
        method="POST",
    )
    try:
        with urllib.request.urlopen(request, timeout=60) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace")


def spoken(status: int, body: str) -> str:
    """What the caller heard: every <Say> of a valid TwiML answer."""
    assert status == 200, f"HTTP {status}: {body[:500]}"
    root = ET.fromstring(body)
    assert root.tag == "Response", body[:500]
    return " ".join(say.text or "" for say in root.iter("Say"))


@pytest.fixture
def sms_queues(redis_url, redis_prefix):
    """The hotline's RQ queues under this test's prefix, emptied afterwards (RQ keeps its
    jobs under rq:job:..., outside the prefix that redis_prefix cleans)."""
    found = queueing.queues(redis_lib.Redis.from_url(redis_url), redis_prefix)
    yield found
    for queue in found:
        queue.delete(delete_jobs=True)


def test_200_callers_race_for_the_last_10_places(database_url, redis_url, redis_prefix, environ, settings, sms_queues):
    session_id, callers = the_last_places(database_url, settings)
    # Each caller is already identified, as after the birthday check: identification has
    # its own tests (test_identify.py), so the race starts at the read-back's "press 1".
    ttl = settings.dialogue.call_state_ttl_seconds
    store = CallStore(redis_lib.Redis.from_url(redis_url, decode_responses=True), redis_prefix, ttl)
    calls = {}  # CallSid -> (patient id, phone)
    for patient_id, phone in callers.items():
        call_sid = "CA" + uuid.uuid4().hex
        store.start(call_sid, number=phone, patient_ids=(patient_id,))
        assert store.identify(call_sid, patient_id)
        calls[call_sid] = (patient_id, phone)

    heard: dict[str, str] = {}
    failures: list[str] = []
    with Gunicorn(environ, workers=4, threads=4) as server:
        assert len(server.workers()) == 4
        url = f"{server.url}/ivr/booking/book?lang=zh&session={session_id}"
        start = threading.Barrier(len(calls))

        def caller(call_sid: str, phone: str) -> None:
            form = {
                "AccountSid": environ["TWILIO_ACCOUNT_SID"],
                "CallSid": call_sid,
                "CallStatus": "in-progress",
                "Direction": "inbound",
                "From": phone,
                "To": HOSPITAL_NUMBER,
                "Digits": "1",
                "msg": "Gather End",
            }
            try:
                start.wait(timeout=30)
                heard[call_sid] = spoken(*post(url, form))
            except Exception as exc:  # noqa: BLE001 - collected and shown below
                failures.append(f"{call_sid}: {type(exc).__name__}: {exc}")

        threads = [threading.Thread(target=caller, args=(sid, phone)) for sid, (_, phone) in calls.items()]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        server_log = server.output()

    assert not failures, "\n".join(failures[:10]) + f"\n--- gunicorn:\n{server_log[-3000:]}"
    assert len(heard) == CALLERS
    outcomes = Counter(
        "booked" if BOOKED in text and FULL not in text else "full" if FULL in text and BOOKED not in text else text
        for text in heard.values()
    )
    assert outcomes == {"booked": FREE, "full": CALLERS - FREE}, f"{outcomes}\n--- gunicorn:\n{server_log[-3000:]}"

    engine = make_engine(database_url)
    try:
        with make_sessions(engine)() as db:
            session = db.get(ClinicSession, session_id)
            assert session.booked == CAPACITY
            active = db.scalars(
                select(Appointment).where(Appointment.session_id == session_id, Appointment.status == "booked")
            ).all()
            assert sorted(a.place for a in active) == list(range(1, CAPACITY + 1))  # each place exactly once
            new = [a for a in active if a.call_sid is not None]
            assert len(new) == FREE
            assert all(a.patient_id == calls[a.call_sid][0] for a in new)  # each caller's own file
            assert len({a.patient_id for a in new}) == FREE
            assert {a.call_sid for a in new} == {sid for sid, text in heard.items() if BOOKED in text}
            for a in new:  # the place each winner heard is the one the database gave
                assert re.search(rf"就诊序号是{a.place}号", heard[a.call_sid]), heard[a.call_sid]
            made = select(func.count()).select_from(Appointment).where(Appointment.call_sid.in_(list(calls)))
            assert db.scalar(made) == FREE  # nothing booked anywhere else by the race
            texts = dict(db.execute(select(SmsMessage.id, SmsMessage.appointment_id)).all())
            # One confirmation for each winner who has a mobile (a landline cannot take a text), none for the rest.
            texted = [a.id for a in new if mobile_number(db.get(Patient, a.patient_id)) is not None]
            assert sorted(texts.values()) == sorted(texted)
    finally:
        engine.dispose()
    # ... each handed to the SMS workers once, after its commit (no worker runs here).
    urgent = sms_queues[0]
    assert sorted(job.args[0] for job in urgent.get_jobs()) == sorted(texts)
