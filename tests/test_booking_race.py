"""Capacity under real concurrency, through the hotline served by gunicorn with several
worker processes (and threads), on SQLite and on PostgreSQL:

- 200 callers press 1 at the read-back of the same session at the same moment: exactly
  the 10 free places are given, each once, numbered on from the places already taken;
  everyone else hears that the session has just filled up, and nobody hears an apology.
- 30 calls cancel the same appointment at the same moment (a patient on two phones, a
  carrier retrying): one place is given back, one text and one note are written, and
  the other 29 hear that it is already cancelled.  The same for 30 moves of one
  appointment to other days.

The server runs on the real clock (hospital time), so the sessions are made for days
from three days after today's real date."""

from __future__ import annotations

import re
import threading
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, time, timedelta

import pytest
import redis as redis_lib
from sqlalchemy import func, select
from twilio.request_validator import RequestValidator

import queueing
from ivr.state import CallStore
from records.db import make_engine, make_sessions
from records.messages import mobile_number
from records.models import Appointment, ClinicSession, Doctor, Patient, PatientNote, SmsMessage
from tests.conftest import AUTH_TOKEN
from tests.gunicorn_server import Gunicorn

CALLERS = 200
CAPACITY = 30
TAKEN = 20  # booked before the race: 10 places left
FREE = CAPACITY - TAKEN
BOOKED = "预约成功"  # prompts 'booked' (zh)
FULL = "刚刚约满"  # prompts 'session_full' (zh)
HOSPITAL_NUMBER = "+861065281000"
RACERS = 30  # calls cancelling (or moving) the same appointment at once
MOVE_DAYS = 6  # sessions of the same doctor on the following days, where the movers ask to go
CANCELLED = "预约已取消"  # prompts 'cancelled' (zh)
ALREADY_CANCELLED = "这个预约已经取消"  # prompts 'appointment_already_cancelled' (zh)
MOVED = "改约成功"  # prompts 'moved_ok' (zh)
ALREADY_MOVED = "这个预约已经改约"  # prompts 'appointment_already_moved' (zh)


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


def identified_calls(redis_url, redis_prefix, settings, callers: dict[str, tuple[int, str]]) -> None:
    """Each call ({CallSid: (patient id, phone)}) already identified, as after the birthday
    check: identification has its own tests (test_identify.py), so a race starts at the
    last "press 1"."""
    ttl = settings.dialogue.call_state_ttl_seconds
    store = CallStore(redis_lib.Redis.from_url(redis_url, decode_responses=True), redis_prefix, ttl)
    for call_sid, (patient_id, phone) in callers.items():
        store.start(call_sid, number=phone, patient_ids=(patient_id,))
        assert store.identify(call_sid, patient_id)


def race(environ, step: Callable[[int], str], calls: dict[str, tuple[int, str]]) -> tuple[dict[str, str], str]:
    """Every call presses 1 at the same moment, through gunicorn, at step(n) (path and
    query; n is the call's place in `calls`, for a race where each asks for something
    else): what each caller heard, and the server's log."""
    heard: dict[str, str] = {}
    failures: list[str] = []
    with Gunicorn(environ, workers=4, threads=4) as server:
        assert len(server.workers()) == 4
        start = threading.Barrier(len(calls))

        def caller(n: int, call_sid: str, phone: str) -> None:
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
                heard[call_sid] = spoken(*post(server.url + step(n), form))
            except Exception as exc:  # noqa: BLE001 - collected and shown below
                failures.append(f"{call_sid}: {type(exc).__name__}: {exc}")

        threads = [
            threading.Thread(target=caller, args=(n, sid, phone)) for n, (sid, (_, phone)) in enumerate(calls.items())
        ]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(90)
        server_log = server.output()
    assert not failures, "\n".join(failures[:10]) + f"\n--- gunicorn:\n{server_log[-3000:]}"
    assert len(heard) == len(calls)
    return heard, server_log


def test_200_callers_race_for_the_last_10_places(database_url, redis_url, redis_prefix, environ, settings, sms_queues):
    session_id, callers = the_last_places(database_url, settings)
    calls = {"CA" + uuid.uuid4().hex: (patient_id, phone) for patient_id, phone in callers.items()}
    identified_calls(redis_url, redis_prefix, settings, calls)
    heard, server_log = race(environ, lambda _: f"/ivr/booking/book?lang=zh&session={session_id}", calls)

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


# ---- 30 cancels (or moves) of one appointment -------------------------------------------------


@dataclass(frozen=True)
class Booked:
    appointment_id: int
    session_id: int
    patient_id: int
    phone: str
    targets: list[int]  # the same doctor's sessions on the following days (for moves)


def one_appointment(database_url: str, settings, move_days: int = 0) -> Booked:
    """A patient with a mobile, booked three days from now (hospital time) in a session
    with 20 of its 30 places taken, and `move_days` sessions of the same doctor on the
    days after with every place free.  The doctor has no other session on those days."""
    engine = make_engine(database_url)
    try:
        with make_sessions(engine).begin() as db:
            day = datetime.now(settings.hospital.zone).date() + timedelta(days=3)
            days = [day + timedelta(days=n) for n in range(move_days + 1)]
            busy = select(ClinicSession.doctor_id).where(
                ClinicSession.date.between(days[0], days[-1]), ClinicSession.doctor_id.is_not(None)
            )
            doctor = db.scalars(select(Doctor).where(Doctor.id.not_in(busy)).order_by(Doctor.id)).first()
            sessions = [
                ClinicSession(
                    doctor=doctor,
                    date=d,
                    start_time=time(8),
                    end_time=time(12),
                    capacity=CAPACITY,
                    held_back=0,
                    booked=TAKEN if d == day else 0,
                )  # fmt: skip
                for d in days
            ]
            db.add_all(sessions)
            booked_then = select(Appointment.patient_id).where(Appointment.date.between(days[0], days[-1]))
            free = db.scalars(select(Patient).where(Patient.id.not_in(booked_then)).order_by(Patient.id)).all()
            patient = next(p for p in free if mobile_number(p) is not None)
            others = [p for p in free if p is not patient][: TAKEN - 1]
            now = datetime.now(settings.hospital.zone)
            mine = None
            for place, someone in enumerate([*others, patient], start=1):
                appointment = Appointment(reference=f"9{place:07d}", patient=someone, session=sessions[0],
                                          doctor_id=doctor.id, date=day, place=place, channel="window",
                                          booked_at=now)  # fmt: skip
                db.add(appointment)
                mine = appointment
            db.flush()
            return Booked(mine.id, sessions[0].id, patient.id, mobile_number(patient), [s.id for s in sessions[1:]])
    finally:
        engine.dispose()


def calls_from(booked: Booked) -> dict[str, tuple[int, str]]:
    """RACERS calls from the patient's mobile (two phones, a retried callback: the same person)."""
    return {"CA" + uuid.uuid4().hex: (booked.patient_id, booked.phone) for _ in range(RACERS)}


def outcomes(heard: dict[str, str], won: str, lost: str) -> Counter:
    return Counter(
        "won" if won in text and lost not in text else "lost" if lost in text and won not in text else text
        for text in heard.values()
    )


def test_30_calls_cancel_one_appointment_and_one_place_comes_back(
    database_url, redis_url, redis_prefix, environ, settings, sms_queues
):
    booked = one_appointment(database_url, settings)
    calls = calls_from(booked)
    identified_calls(redis_url, redis_prefix, settings, calls)
    step = f"/ivr/appointments/cancelled?lang=zh&appointment={booked.appointment_id}"
    heard, server_log = race(environ, lambda _: step, calls)

    said = outcomes(heard, CANCELLED, ALREADY_CANCELLED)
    assert said == {"won": 1, "lost": RACERS - 1}, f"{said}\n--- gunicorn:\n{server_log[-3000:]}"
    winner = next(sid for sid, text in heard.items() if CANCELLED in text)
    engine = make_engine(database_url)
    try:
        with make_sessions(engine)() as db:
            session = db.get(ClinicSession, booked.session_id)
            active = select(func.count()).where(Appointment.session_id == session.id, Appointment.status == "booked")
            assert session.booked == TAKEN - 1 == db.scalar(active)  # one place given back, once
            assert db.get(Appointment, booked.appointment_id).status == "cancelled"
            notes = db.execute(
                select(PatientNote.kind, PatientNote.call_sid).where(PatientNote.call_sid.in_(list(calls)))
            ).all()
            assert notes == [("cancelled", winner)]  # one note in the patient's file, the winner's
            texts = db.execute(select(SmsMessage.id, SmsMessage.kind, SmsMessage.call_sid)).all()
            assert [(kind, sid) for _, kind, sid in texts] == [("cancellation", winner)]  # one text
    finally:
        engine.dispose()
    assert [job.args[0] for job in sms_queues[0].get_jobs()] == [texts[0][0]]


def test_30_calls_move_one_appointment_and_it_moves_once(
    database_url, redis_url, redis_prefix, environ, settings, sms_queues
):
    booked = one_appointment(database_url, settings, move_days=MOVE_DAYS)
    calls = calls_from(booked)
    identified_calls(redis_url, redis_prefix, settings, calls)
    # Each caller asks for one of the following days: a loser that got through would find a
    # day where it is not already booked.
    targets = booked.targets

    def step(n: int) -> str:
        return f"/ivr/booking/book?lang=zh&session={targets[n % len(targets)]}&move={booked.appointment_id}"

    heard, server_log = race(environ, step, calls)

    said = outcomes(heard, MOVED, ALREADY_MOVED)
    assert said == {"won": 1, "lost": RACERS - 1}, f"{said}\n--- gunicorn:\n{server_log[-3000:]}"
    winner = next(sid for sid, text in heard.items() if MOVED in text)
    engine = make_engine(database_url)
    try:
        with make_sessions(engine)() as db:
            old = db.get(Appointment, booked.appointment_id)
            mine = db.scalars(
                select(Appointment).where(Appointment.patient_id == booked.patient_id, Appointment.status == "booked")
            ).all()
            assert len(mine) == 1 and mine[0].call_sid == winner  # one appointment left: the new one
            assert old.status == "moved" and old.moved_to_id == mine[0].id
            assert db.get(ClinicSession, booked.session_id).booked == TAKEN - 1  # the old place given back once
            taken = {s: db.get(ClinicSession, s).booked for s in targets}
            assert taken == {s: int(s == mine[0].session_id) for s in targets}  # one new place taken
            notes = db.execute(
                select(PatientNote.kind, PatientNote.call_sid).where(PatientNote.call_sid.in_(list(calls)))
            ).all()
            assert sorted(notes) == [("booked", winner), ("moved", winner)]  # the one move's notes
            texts = db.execute(select(SmsMessage.id, SmsMessage.kind, SmsMessage.call_sid)).all()
            assert [(kind, sid) for _, kind, sid in texts] == [("moved", winner)]
    finally:
        engine.dispose()
    assert [job.args[0] for job in sms_queues[0].get_jobs()] == [texts[0][0]]
