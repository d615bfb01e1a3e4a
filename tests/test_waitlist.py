"""Waiting lists (issue 20): a place freed in a full session is held for the first waiting
patient and offered by SMS; they reply 1 to take it, or 2 (or silence) passes it to the next;
never two patients hold one place.  The texts go out through the RQ worker and the local
carrier emulator, and the patients' replies come back through the emulator's inbound SMS."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import func, select

from queueing import jobs
from records import booking, files, waitlist
from records.models import Appointment, ClinicSession, SmsMessage, WaitlistEntry
from tests.conftest import OPEN
from tests.test_sms import MR_LI, MS_WANG, MS_WANG_PHONE, TOMORROW, ZHANG_WEI, a_session, book, patient
from tests.test_sms import worker as worker  # noqa: F401  (the fixture)

MR_LI_PHONE = "+8613910002000"


@pytest.fixture
def full_session(db, settings):
    """Tomorrow's first session, full; Zhang Wei holds one of its places; Ms Wang, then Mr Li,
    wait for it."""
    session = a_session(db, TOMORROW)
    zhang = book(db, settings, ZHANG_WEI, session)
    db.refresh(session)
    session.booked = session.capacity - session.held_back
    db.commit()
    for minutes, mrn in ((0, MS_WANG), (1, MR_LI)):
        joined, _entry = waitlist.join(
            db,
            patient_id=patient(db, mrn).id,
            session_id=session.id,
            now=OPEN + timedelta(minutes=minutes),
            rules=settings.booking,
        )
        assert joined is waitlist.Joined.JOINED
    db.commit()
    return session, zhang


@pytest.fixture
def texting(carrier, server, settings):
    """Texts to the hospital's number reach the hotline's SMS webhook."""
    carrier.add_number(
        settings.hospital.main_number, voice_url=f"{server}/ivr/voice", sms_url=f"{server}/ivr/sms/incoming"
    )
    return carrier


def entries(db) -> dict[str, str]:
    db.rollback()
    rows = db.scalars(select(WaitlistEntry).order_by(WaitlistEntry.id)).all()
    return {row.patient.mrn: row.status for row in rows}


def held(db, session: ClinicSession) -> tuple[int, int]:
    db.rollback()
    fresh = db.get(ClinicSession, session.id, populate_existing=True)
    return fresh.offered, fresh.free


def sent_to(carrier, number: str) -> list[str]:
    return [message.body for message in carrier.messages if message.to == number]


def test_a_freed_place_is_declined_by_text_then_taken_by_the_next_patient(
    app, db, settings, clock, worker, texting, full_session
):
    session, zhang = full_session
    assert booking.book(db, patient_id=patient(db, MS_WANG).id, session_id=session.id, now=OPEN, rules=settings.booking).outcome is booking.Outcome.FULL  # fmt: skip
    db.rollback()

    # Zhang Wei cancels (by phone): the place is held for Ms Wang at once, texted by the sweep.
    cancelled = booking.cancel(
        db, patient_id=zhang.patient_id, appointment_id=zhang.id, now=OPEN, rules=settings.booking
    )
    assert cancelled.outcome is booking.Outcome.CANCELLED
    db.commit()
    assert entries(db) == {MS_WANG: "offered", MR_LI: "waiting"}
    assert held(db, session) == (1, 0)  # nobody else can book it meanwhile
    other = booking.book(db, patient_id=patient(db, "M00000004").id, session_id=session.id, now=OPEN, rules=settings.booking)  # fmt: skip
    assert other.outcome is booking.Outcome.FULL
    db.rollback()
    assert jobs.sweep_waitlist() == 1
    assert jobs.sweep_waitlist() == 0  # texted once
    worker.work()
    [offer] = sent_to(texting, MS_WANG_PHONE)
    assert (
        "王女士您候补的11月25日周三上午" in offer and "已为您保留至10:30" in offer and "回复1预约，回复2放弃" in offer
    )

    # She lets it go: Mr Li is offered it, in English, at once.
    assert "已放弃该空位" in texting.text_in(MS_WANG_PHONE, "2")
    assert entries(db) == {MS_WANG: "declined", MR_LI: "offered"}
    assert held(db, session) == (1, 0)
    worker.work()
    [li_offer] = sent_to(texting, MR_LI_PHONE)
    assert li_offer.startswith("【Minghu Demonstration Hospital】Mr Li, a place is free on Wednesday 25 November")
    assert "reply 1 to book it, 2 to let it go" in li_offer

    clock.now = OPEN + timedelta(minutes=10)
    answer = texting.text_in(MR_LI_PHONE, "1")
    assert "you are booked from the waiting list" in answer
    assert entries(db) == {MS_WANG: "declined", MR_LI: "booked"}
    assert held(db, session) == (0, 0)  # the hold became his booking: still full, nothing lost
    li = db.scalar(select(Appointment).where(Appointment.patient_id == patient(db, MR_LI).id))
    assert (li.session_id, li.channel, li.status) == (session.id, "waitlist", "booked")
    assert li.reference in answer
    # On his file: the waiting list and what became of it.
    summary = files.caller_summary(db, li.patient_id, staff_id=None, reason="test", now=clock.now)
    assert [(w.status, w.day) for w in summary.waitlist] == [("booked", TOMORROW)]
    db.rollback()
    # A late second reply changes nothing.
    assert "没有找到需要回复的预约" in texting.text_in(MR_LI_PHONE, "1")


def test_an_offer_not_answered_in_time_goes_to_the_next_patient(
    app, db, settings, clock, worker, texting, full_session
):
    session, zhang = full_session
    booking.cancel(db, patient_id=zhang.patient_id, appointment_id=zhang.id, now=OPEN, rules=settings.booking)
    db.commit()
    jobs.sweep_waitlist()
    clock.now = OPEN + timedelta(minutes=settings.booking.waitlist_offer_minutes, seconds=1)
    assert jobs.sweep_waitlist() == 1  # Ms Wang's offer expired; Mr Li's texted
    assert entries(db) == {MS_WANG: "expired", MR_LI: "offered"}
    assert held(db, session) == (1, 0)
    assert "没有找到需要回复的预约" in texting.text_in(MS_WANG_PHONE, "1")  # too late: nothing booked
    assert entries(db)[MS_WANG] == "expired"


def test_each_free_place_is_held_for_one_waiting_patient(db, settings, full_session):
    session, zhang = full_session
    booking.cancel(db, patient_id=zhang.patient_id, appointment_id=zhang.id, now=OPEN, rules=settings.booking)
    db.commit()
    assert entries(db) == {MS_WANG: "offered", MR_LI: "waiting"}  # one place, one offer
    assert waitlist.offer_freed(db, session.id, OPEN, settings.booking) == ()  # no second place to offer
    db.refresh(session)
    session.held_back -= 1  # the hospital releases a walk-in place: the sweep offers it
    db.commit()
    assert [e.patient.mrn for e in waitlist.offer_released(db, OPEN, settings.booking)] == [MR_LI]
    db.commit()
    assert entries(db) == {MS_WANG: "offered", MR_LI: "offered"}
    assert held(db, session) == (2, 0)
    assert waitlist.offer_freed(db, session.id, OPEN, settings.booking) == ()  # nobody left waiting


def test_joining_needs_a_full_session_and_a_mobile(db, settings):
    session = a_session(db, TOMORROW)
    wang = patient(db, MS_WANG).id
    joined, _ = waitlist.join(db, patient_id=wang, session_id=session.id, now=OPEN, rules=settings.booking)
    assert joined is waitlist.Joined.NOT_FULL
    session.booked = session.capacity - session.held_back
    db.commit()
    assert waitlist.join(db, patient_id=wang, session_id=session.id, now=OPEN, rules=settings.booking)[0] is (
        waitlist.Joined.JOINED
    )
    assert waitlist.join(db, patient_id=wang, session_id=session.id, now=OPEN, rules=settings.booking)[0] is (
        waitlist.Joined.ALREADY_WAITING
    )
    assert not db.scalars(select(SmsMessage)).all()


def test_with_waiting_lists_off_nobody_joins_and_those_waiting_keep_their_offers(db, settings, full_session):
    session, zhang = full_session
    off = settings.booking.model_copy(update={"waitlist": False})
    assert not waitlist.is_open(off) and waitlist.is_open(settings.booking)
    li = patient(db, "M00000004").id
    assert waitlist.refusal(db, patient_id=li, session_id=session.id, now=OPEN, rules=off) == (
        waitlist.Joined.CLOSED,
        None,
    )
    assert waitlist.join(db, patient_id=li, session_id=session.id, now=OPEN, rules=off)[0] is waitlist.Joined.CLOSED
    db.commit()
    assert entries(db) == {MS_WANG: "waiting", MR_LI: "waiting"}  # nobody else joined
    booking.cancel(db, patient_id=zhang.patient_id, appointment_id=zhang.id, now=OPEN, rules=off)
    db.commit()
    assert entries(db) == {MS_WANG: "offered", MR_LI: "waiting"}  # the patients already waiting keep theirs


def test_erasing_a_file_takes_the_patient_off_waiting_lists_and_releases_a_held_place(db, settings, full_session):
    from records import privacy

    session, zhang = full_session
    booking.cancel(db, patient_id=zhang.patient_id, appointment_id=zhang.id, now=OPEN, rules=settings.booking)
    db.commit()
    assert entries(db) == {MS_WANG: "offered", MR_LI: "waiting"}
    done = privacy.erase(db, patient(db, MS_WANG))
    db.commit()
    assert done["waiting_lists"] == 1
    assert entries(db) == {MS_WANG: "left", MR_LI: "waiting"}
    assert held(db, session) == (0, 1)  # free again, for the sweep to offer Mr Li
    assert [e.patient.mrn for e in waitlist.offer_released(db, OPEN, settings.booking)] == [MR_LI]


def test_a_reply_the_expiry_sweep_and_callers_racing_for_one_held_place_never_give_it_twice(
    app, db, settings, full_session
):
    """Threads with their own sessions, at once: Ms Wang's "1" (just in time by her clock), the
    sweep (just after, by its own), and callers booking the session.  Exactly one of the reply
    and the sweep wins; the callers never get the place; it is held or booked once."""
    import threading

    from records.db import begin_write

    session, zhang = full_session
    booking.cancel(db, patient_id=zhang.patient_id, appointment_id=zhang.id, now=OPEN, rules=settings.booking)
    db.commit()
    wang_entry = db.scalar(select(WaitlistEntry).where(WaitlistEntry.status == "offered")).id
    others = list(range(10, 16))  # demo patients with nothing booked
    rules, sessions = settings.booking, app.extensions["hotline"].sessions
    minutes = rules.waitlist_offer_minutes
    barrier = threading.Barrier(2 + len(others))
    results: dict[str, object] = {}

    def run(name, work):
        with sessions() as own:
            barrier.wait()
            begin_write(own)
            results[name] = work(own)
            own.commit()

    def reply(own):
        entry = own.get(WaitlistEntry, wang_entry)
        return waitlist.answer(own, entry, accept=True, now=OPEN + timedelta(minutes=minutes - 1), rules=rules).answer

    def sweep(own):
        return len(waitlist.expire(own, OPEN + timedelta(minutes=minutes + 1), rules))

    def caller(patient_id):
        return lambda own: (
            booking.book(own, patient_id=patient_id, session_id=session.id, now=OPEN, rules=rules).outcome
        )

    threads = [threading.Thread(target=run, args=("reply", reply)), threading.Thread(target=run, args=("sweep", sweep))]
    threads += [threading.Thread(target=run, args=(f"caller{p}", caller(p))) for p in others]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert all(results[f"caller{p}"] is booking.Outcome.FULL for p in others)
    state = entries(db)
    if results["reply"] is waitlist.Answer.BOOKED:
        assert results["sweep"] == 0 and state == {MS_WANG: "booked", MR_LI: "waiting"}
        assert held(db, session) == (0, 0)
    else:
        assert results["reply"] is waitlist.Answer.GONE and results["sweep"] == 1
        assert state == {MS_WANG: "expired", MR_LI: "offered"} and held(db, session) == (1, 0)
    in_session = db.scalar(
        select(func.count()).where(Appointment.session_id == session.id, Appointment.status == "booked")
    )
    assert in_session <= 1  # only a waitlisted patient's booking: the rest of the count was filled by hand


# ---- a freed place texted at once (the phone's cancellation enqueues text_waitlist_offers) ----


@pytest.fixture
def wang_holds_a_full_session(db, settings):
    """Tomorrow's first session, full; Ms Wang holds one of its places; Mr Li, then Zhang Wei,
    wait for it."""
    session = a_session(db, TOMORROW)
    wang = book(db, settings, MS_WANG, session)
    db.refresh(session)
    session.booked = session.capacity - session.held_back
    db.commit()
    for minutes, mrn in ((0, MR_LI), (1, ZHANG_WEI)):
        joined, _entry = waitlist.join(
            db, patient_id=patient(db, mrn).id, session_id=session.id, now=OPEN + timedelta(minutes=minutes),
            rules=settings.booking,
        )  # fmt: skip
        assert joined is waitlist.Joined.JOINED
    db.commit()
    return session, wang


def test_a_place_freed_by_a_phone_cancellation_is_texted_at_once(db, worker, carrier, dial, wang_holds_a_full_session):
    from queueing import URGENT
    from tests.test_booking_calls import identified

    session, wang = wang_holds_a_full_session
    call = identified(dial)
    for key in "311":  # her appointments, the first, cancel it
        call.press(key)
    call.take_text()
    call.press("1")  # confirmed
    assert call.take_text().startswith("预约已取消")
    call.hangup()
    assert entries(db) == {MR_LI: "offered", ZHANG_WEI: "waiting"}
    # The call enqueued the job by reference, with its timeout and retries.
    [job] = [j for j in worker.queue(URGENT).jobs if j.func is jobs.text_waitlist_offers]
    assert (job.timeout, job.retries_left, job.retry_intervals) == (30, 3, [5, 20, 60])
    worker.work()  # the job, then the texts it queued
    [offer] = sent_to(carrier, MR_LI_PHONE)
    assert offer.startswith("【Minghu Demonstration Hospital】Mr Li, a place is free on Wednesday 25 November")
    assert jobs.sweep_waitlist() == 0  # the sweep, a minute later, finds nothing left to text
    assert jobs.text_waitlist_offers() == 0  # nor a second job
    db.rollback()
    kinds = db.scalars(select(SmsMessage.kind).where(SmsMessage.patient_id == patient(db, MR_LI).id)).all()
    assert kinds == ["waitlist_offer"]


def test_workers_texting_offers_at_once_text_each_offer_once(app, db, settings, worker, wang_holds_a_full_session):
    """Two jobs and the sweep at once, each in its own thread and transaction, over the same
    untexted offer: one text."""
    import threading

    from queueing import context

    session, wang = wang_holds_a_full_session
    booking.cancel(db, patient_id=wang.patient_id, appointment_id=wang.id, now=OPEN, rules=settings.booking)
    db.commit()
    context.get()  # built once, shared by the threads as by a worker's
    runs = [jobs.text_waitlist_offers, jobs.text_waitlist_offers, jobs.sweep_waitlist]
    barrier = threading.Barrier(len(runs))
    texted: list[int] = []

    def run(job):
        barrier.wait()
        texted.append(job())

    threads = [threading.Thread(target=run, args=(job,)) for job in runs]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(texted) == [0, 0, 1]
    db.rollback()
    assert len(db.scalars(select(SmsMessage).where(SmsMessage.kind == "waitlist_offer")).all()) == 1
    assert db.scalar(select(WaitlistEntry).where(WaitlistEntry.status == "offered")).offer_to == MR_LI_PHONE
