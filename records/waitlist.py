"""Waiting lists: a patient waits for a place in a full session; a place freed there (a
cancellation, a move, a place the hospital releases) is offered to the first waiting
patient by SMS, who replies 1 within booking.waitlist_offer_minutes to take it; a
decline, or silence, offers it to the next.

Never two patients holding one place: an offer holds the place with one conditional
UPDATE (`offered = offered + 1 WHERE booked + held_back + offered < capacity`, as
records.booking takes a place), so while it stands no caller, agent or web booking can
take it (they all count `offered`), and a second offer needs a second free place.  Each
entry moves on by conditional UPDATEs too (`status = 'offered' WHERE status = 'waiting'`,
`... 'booked' WHERE status = 'offered' AND offer_expires_at > now`): of a reply and the
expiry sweep running at once, exactly one wins, and only the winner releases the hold.

Functions take a Session and never commit: the caller owns the transaction.  Texts are
worded and queued by the caller (wording.texts.text_offers) for the entries returned here
(`offered`), or found later by `untexted`.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from records import booking
from records.db import changed
from records.models import ClinicSession, Doctor, Patient, WaitlistEntry
from settings import Booking

WAITING = ("waiting", "offered")


class Joined(StrEnum):
    CLOSED = "closed"  # the hospital offers no waiting lists (booking.waitlist: false)
    JOINED = "joined"
    ALREADY_WAITING = "already_waiting"
    NOT_FULL = "not_full"  # a place is free: book it instead
    NO_MOBILE = "no_mobile"  # the offer comes by text
    PAST = "past"
    TOO_FAR = "too_far"
    NOT_FOUND = "not_found"


class Answer(StrEnum):
    BOOKED = "booked"
    DECLINED = "declined"
    GONE = "gone"  # expired, or already answered
    REFUSED = "refused"  # the booking rules refused it (a booking that day already...)


@dataclass(frozen=True)
class AnswerResult:
    answer: Answer
    entry: WaitlistEntry
    outcome: booking.Outcome | None = None  # the booking's, when it was tried
    offered: tuple[WaitlistEntry, ...] = ()  # the next patients offered the place


def is_open(rules: Booking) -> bool:
    """Whether the hospital offers waiting lists at all: the one reading of `booking.waitlist`,
    for every front door (the phone, the desk, the booking API), through `refusal` and `join`.
    Off, nobody joins; patients already waiting keep their place and their offers."""
    return rules.waitlist


def refusal(
    db: Session, *, patient_id: int, session_id: int, now: datetime, rules: Booking, region: str = "CN"
) -> tuple[Joined | None, WaitlistEntry | None]:
    """Why the patient cannot join the session's waiting list (None: they can), and the entry
    they already have there: what join checks, asked first by a menu that offers joining
    only when it can happen."""
    from records.messages import mobile_number

    if not is_open(rules):
        return Joined.CLOSED, None
    target = db.get(ClinicSession, session_id)
    patient = db.get(Patient, patient_id)
    if target is None or patient is None:
        return Joined.NOT_FOUND, None
    if target.date > now.date() + timedelta(days=rules.days_ahead):
        return Joined.TOO_FAR, None
    if target.date < now.date() or (target.date == now.date() and target.end_time <= now.time()):
        return Joined.PAST, None
    if target.free > 0:
        return Joined.NOT_FULL, None
    if mobile_number(patient, region) is None:
        return Joined.NO_MOBILE, None
    existing = standing(db, patient_id, session_id)
    return (Joined.ALREADY_WAITING, existing) if existing is not None else (None, None)


def standing(db: Session, patient_id: int, session_id: int) -> WaitlistEntry | None:
    """The patient's entry on the session's waiting list, waiting or offered a place."""
    return db.scalar(
        _details().where(
            WaitlistEntry.session_id == session_id,
            WaitlistEntry.patient_id == patient_id,
            WaitlistEntry.status.in_(WAITING),
        )
    )


def join(
    db: Session,
    *,
    patient_id: int,
    session_id: int,
    now: datetime,
    rules: Booking,
    region: str = "CN",
    channel: str = "phone",
    by_staff_id: int | None = None,
    call_sid: str | None = None,
) -> tuple[Joined, WaitlistEntry | None]:
    refused, existing = refusal(db, patient_id=patient_id, session_id=session_id, now=now, rules=rules, region=region)
    if refused is not None:
        return refused, existing
    target = db.get(ClinicSession, session_id)
    assert target is not None  # join's checks above refuse a session that does not exist
    entry = WaitlistEntry(
        session_id=session_id,
        patient_id=patient_id,
        joined_at=now,
        channel=channel,
        by_staff_id=by_staff_id,
        call_sid=call_sid,
        status="waiting",
    )
    with db.begin_nested():  # the partial unique index stands behind the check above
        db.add(entry)
    booking._note(
        db, patient_id, now, "waitlist", f"{_describe(target)}{booking.by(channel, by_staff_id)}", call_sid, None
    )
    return Joined.JOINED, entry


def leave(db: Session, entry: WaitlistEntry, now: datetime, rules: Booking) -> tuple[WaitlistEntry, ...]:
    """The patient no longer waits; an offer they held goes to the next."""
    was = entry.status
    if not _move(db, entry, was, "left", now) or was not in WAITING:
        return ()
    if was == "offered":
        _release(db, entry.session_id)
        return offer_freed(db, entry.session_id, now, rules)
    return ()


def withdraw(db: Session, patient_id: int, now: datetime) -> None:
    """The patient waits on no list (their file is erased): a place held for them is released
    for the sweep to offer to the next patient (offer_released)."""
    for entry in db.scalars(
        select(WaitlistEntry).where(WaitlistEntry.patient_id == patient_id, WaitlistEntry.status.in_(WAITING))
    ).all():
        was = entry.status
        if _move(db, entry, was, "left", now) and was == "offered":
            _release(db, entry.session_id)


def offer_freed(db: Session, session_id: int, now: datetime, rules: Booking) -> tuple[WaitlistEntry, ...]:
    """Hold each free place of the session for the next waiting patient; the entries
    offered now (to be texted by the caller, after its commit)."""
    offered: list[WaitlistEntry] = []
    while True:
        entry = db.scalar(
            select(WaitlistEntry)
            .where(WaitlistEntry.session_id == session_id, WaitlistEntry.status == "waiting")
            .order_by(WaitlistEntry.joined_at, WaitlistEntry.id)
            .limit(1)
        )
        if entry is None or not _hold(db, session_id):
            return tuple(offered)
        if not _move(
            db, entry, "waiting", "offered", now, offered_at=now,
            offer_expires_at=now + timedelta(minutes=rules.waitlist_offer_minutes),
        ):  # fmt: skip
            _release(db, session_id)  # another process offered this entry first: try the next
            continue
        offered.append(entry)


def answer(db: Session, entry: WaitlistEntry, *, accept: bool, now: datetime, rules: Booking) -> AnswerResult:
    """The patient's reply to an offer: take the place (booked through records.booking, with
    every rule a booking has) or decline it; either way an offer stands no more."""
    if not accept:
        if not _move(db, entry, "offered", "declined", now, answered_at=now):
            return AnswerResult(Answer.GONE, entry)
        _release(db, entry.session_id)
        return AnswerResult(Answer.DECLINED, entry, offered=offer_freed(db, entry.session_id, now, rules))
    still_open = (WaitlistEntry.offer_expires_at > now,)
    if not _move(db, entry, "offered", "booked", now, where=still_open, answered_at=now):
        return AnswerResult(Answer.GONE, entry)
    # The hold becomes the booking: released and taken in this transaction, under the
    # session's row lock (SQLite: the write lock), so nobody comes in between.
    _release(db, entry.session_id)
    result = booking.book(
        db, patient_id=entry.patient_id, session_id=entry.session_id, now=now, rules=rules, channel="waitlist"
    )
    if result.outcome is not booking.Outcome.BOOKED:
        db.execute(
            update(WaitlistEntry).where(WaitlistEntry.id == entry.id).values(status="refused")
        )  # the rules said no (a booking with that doctor that day...): the next one is offered
        db.expire(entry, ["status"])
        return AnswerResult(Answer.REFUSED, entry, result.outcome, offer_freed(db, entry.session_id, now, rules))
    assert result.appointment is not None, "BOOKED carries the appointment"
    entry.appointment_id = result.appointment.id
    return AnswerResult(Answer.BOOKED, entry, result.outcome)


def expire(db: Session, now: datetime, rules: Booking) -> tuple[WaitlistEntry, ...]:
    """Offers nobody answered in time go to the next patient; the entries offered now."""
    late = db.scalars(
        select(WaitlistEntry).where(WaitlistEntry.status == "offered", WaitlistEntry.offer_expires_at <= now)
    ).all()
    offered: list[WaitlistEntry] = []
    for entry in late:
        if _move(db, entry, "offered", "expired", now, where=(WaitlistEntry.offer_expires_at <= now,)):
            _release(db, entry.session_id)
            offered += offer_freed(db, entry.session_id, now, rules)
    return tuple(offered)


def offer_released(db: Session, now: datetime, rules: Booking) -> tuple[WaitlistEntry, ...]:
    """Places freed without a cancellation (the hospital released walk-in places, added
    capacity) in sessions with a waiting list: offered like any other."""
    sessions = db.scalars(
        select(ClinicSession.id)
        .join(WaitlistEntry, WaitlistEntry.session_id == ClinicSession.id)
        .where(WaitlistEntry.status == "waiting", booking._has_room())
        .distinct()
    ).all()
    offered: list[WaitlistEntry] = []
    for session_id in sessions:
        offered += offer_freed(db, session_id, now, rules)
    return tuple(offered)


def open_offer(db: Session, number: str, now: datetime) -> WaitlistEntry | None:
    """The offer standing for a mobile number, newest first: what a reply of 1 or 2 answers."""
    return db.scalar(
        _details()
        .where(
            WaitlistEntry.offer_to == number, WaitlistEntry.status == "offered", WaitlistEntry.offer_expires_at > now
        )
        .order_by(WaitlistEntry.offered_at.desc(), WaitlistEntry.id.desc())
        .limit(1)
    )


def untexted(db: Session) -> list[WaitlistEntry]:
    """Offers whose text was not queued (made where no one words texts: the phone's own
    cancellation or move); the job queueing.jobs.text_waitlist_offers texts them at once,
    and the sweep whatever that job missed."""
    return list(db.scalars(_details().where(WaitlistEntry.status == "offered", WaitlistEntry.offer_to.is_(None))))


def claim_text(db: Session, entry: WaitlistEntry, number: str) -> bool:
    """Note where the offer's text goes (a reply from that number answers it), by one
    conditional UPDATE: of two workers (the job and the sweep, or two jobs) texting the same
    offer at once, only the one whose row count is 1 queues the text; the other's UPDATE
    waits for the first to commit (PostgreSQL's row lock; SQLite's write lock) and then
    finds it texted."""
    claimed = changed(
        db,
        update(WaitlistEntry)
        .where(WaitlistEntry.id == entry.id, WaitlistEntry.status == "offered", WaitlistEntry.offer_to.is_(None))
        .values(offer_to=number)
        .execution_options(synchronize_session=False),
    )
    db.expire(entry, ["offer_to", "status"])
    return bool(claimed)


def for_patient(db: Session, patient_id: int, limit: int = 10) -> list[WaitlistEntry]:
    """The patient's waiting and recent entries, for their file."""
    return list(
        db.scalars(
            _details()
            .where(WaitlistEntry.patient_id == patient_id)
            .order_by(WaitlistEntry.joined_at.desc(), WaitlistEntry.id.desc())
            .limit(limit)
        )
    )


def waiting_count(db: Session, session_id: int) -> int:
    return len(
        db.scalars(
            select(WaitlistEntry.id).where(WaitlistEntry.session_id == session_id, WaitlistEntry.status.in_(WAITING))
        ).all()
    )


# ---- the statements ------------------------------------------------------------------------


def _hold(db: Session, session_id: int) -> bool:
    return bool(
        changed(
            db,
            update(ClinicSession)
            .where(ClinicSession.id == session_id, booking._has_room())
            .values(offered=ClinicSession.offered + 1)
            .execution_options(synchronize_session=False),
        )
    )


def _release(db: Session, session_id: int) -> None:
    db.execute(
        update(ClinicSession)
        .where(ClinicSession.id == session_id, ClinicSession.offered > 0)
        .values(offered=ClinicSession.offered - 1)
        .execution_options(synchronize_session=False)
    )


def _move(db: Session, entry: WaitlistEntry, was: str, to: str, now: datetime, *, where=(), **values) -> bool:
    """One conditional UPDATE: whoever finds the entry still `was` moves it on."""
    moved = changed(
        db,
        update(WaitlistEntry)
        .where(WaitlistEntry.id == entry.id, WaitlistEntry.status == was, *where)
        .values(status=to, **values)
        .execution_options(synchronize_session=False),
    )
    db.expire(entry)
    return bool(moved)


def _details():
    return select(WaitlistEntry).options(
        selectinload(WaitlistEntry.patient).selectinload(Patient.phones),
        selectinload(WaitlistEntry.session).selectinload(ClinicSession.doctor).selectinload(Doctor.department),
        selectinload(WaitlistEntry.session).selectinload(ClinicSession.exam_type),
    )


def _describe(session: ClinicSession) -> str:
    what = session.doctor_or_exam.code
    return f"{what} {session.date:%Y-%m-%d} {session.start_time:%H:%M}"
