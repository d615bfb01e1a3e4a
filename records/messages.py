"""Text messages and appointment reminders: what was sent, what became of it,
and what a patient answered.

An SmsMessage moves forward only:

    queued -> sending -> sent -> delivered | undelivered | failed

'sending' is written (and committed) before the carrier is asked, so a row
left 'sending' means an attempt whose outcome is unknown (the worker died, or
the carrier did not answer in time); queueing.jobs.send_sms asks the carrier
before trying again.  A carrier's 5xx puts the row back to 'queued' for the
retry; a 4xx fails it for good.  Status callbacks only ever move a message
forward, so a late 'sent' never undoes 'delivered'.

Functions take a Session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import date, datetime

import phonenumbers
from sqlalchemy import select, update
from sqlalchemy.orm import Session, selectinload

from records.booking import describe
from records.db import changed
from records.models import Appointment, ClinicSession, Doctor, Patient, PatientNote, SmsMessage

# How far along a message is; a status never replaces a further one.
PROGRESS = {"queued": 0, "sending": 1, "sent": 2, "delivered": 3, "undelivered": 3, "failed": 3}
OPEN = ("queued", "sending")


def queue_sms(
    db: Session,
    *,
    to_number: str,
    body: str,
    kind: str,
    now: datetime,
    patient_id: int | None = None,
    appointment_id: int | None = None,
    call_sid: str | None = None,
) -> SmsMessage:
    """Store a message to send (status 'queued'); `call_sid` is the call it was queued
    during, if any.  After committing, hand its id to queueing.enqueue_sms."""
    message = SmsMessage(
        to_number=to_number,
        body=body,
        kind=kind,
        created_at=now,
        patient_id=patient_id,
        appointment_id=appointment_id,
        call_sid=call_sid,
        status="queued",
        attempts=0,
    )
    db.add(message)
    db.flush()
    return message


def mobile_number(patient: Patient, region: str = "CN") -> str | None:
    """The patient's first number that can take a text (a landline cannot)."""
    for phone in patient.phones:
        kind = phonenumbers.number_type(phonenumbers.parse(phone.e164, region))
        if kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE):
            return phone.e164
    return None


# ---- sending (queueing.jobs.send_sms) ------------------------------------------------------


def start_attempt(db: Session, message: SmsMessage) -> bool:
    """Mark the message 'sending', one attempt more, unless it moved on meanwhile.

    A conditional UPDATE, so of two workers holding the same message only one
    goes on to send it."""
    taken = changed(
        db,
        update(SmsMessage)
        .where(SmsMessage.id == message.id, SmsMessage.status.in_(OPEN), SmsMessage.attempts == message.attempts)
        .values(status="sending", attempts=SmsMessage.attempts + 1)
        .execution_options(synchronize_session=False),
    )
    db.refresh(message)
    return bool(taken)


def mark_sent(db: Session, message: SmsMessage, provider_sid: str, now: datetime, status: str = "sent") -> None:
    message.provider_sid = provider_sid
    message.sent_at = message.sent_at or now
    message.error = None
    _advance(message, status if status in PROGRESS else "sent")
    db.flush()


def mark_retry(db: Session, message: SmsMessage, error: str) -> None:
    """The carrier refused for now (5xx, 429): back in line for the retry."""
    message.status = "queued"
    message.error = error[:300]
    db.flush()


def mark_failed(db: Session, message: SmsMessage, error: str) -> None:
    message.status = "failed"
    message.error = error[:300]
    db.flush()


def note_error(db: Session, message: SmsMessage, error: str) -> None:
    """An attempt whose outcome is unknown: it stays 'sending' with what went wrong."""
    message.error = error[:300]
    db.flush()


def apply_status(
    db: Session, provider_sid: str, status: str, error_code: str | None, *, message_id: int | None = None
) -> SmsMessage | None:
    """A carrier's status callback.  Idempotent, and only ever forward.

    `message_id` (from the callback URL) finds a message whose sid the worker
    has not committed yet: the carrier can call back before the worker's commit."""
    message = db.scalar(select(SmsMessage).where(SmsMessage.provider_sid == provider_sid))
    if message is None and message_id is not None:
        message = db.scalar(select(SmsMessage).where(SmsMessage.id == message_id, SmsMessage.provider_sid.is_(None)))
        if message is not None:
            message.provider_sid = provider_sid
    if message is None or status not in PROGRESS:
        return message
    if _advance(message, status) and status in ("undelivered", "failed") and error_code:
        message.error = f"carrier error {error_code}"[:300]
    db.flush()
    return message


def _advance(message: SmsMessage, status: str) -> bool:
    if PROGRESS[status] <= PROGRESS.get(message.status, 0):
        return False
    message.status = status
    return True


def stuck(db: Session, *, before: datetime, since: datetime) -> list[SmsMessage]:
    """Messages created in [since, before) that are still not sent: their job was
    never enqueued (Redis was down) or its worker died."""
    query = select(SmsMessage).where(
        SmsMessage.status.in_(OPEN), SmsMessage.created_at < before, SmsMessage.created_at >= since
    )
    return list(db.scalars(query.order_by(SmsMessage.id)))


def expire(db: Session, *, before: datetime) -> int:
    """Unsent messages too old to be worth sending (yesterday's reminder) fail for good."""
    return changed(
        db,
        update(SmsMessage)
        .where(SmsMessage.status.in_(OPEN), SmsMessage.created_at < before)
        .values(status="failed", error="expired: not sent in time")
        .execution_options(synchronize_session=False),
    )


# ---- reminders (queueing.jobs.send_reminders) ----------------------------------------------


def reminders_due(db: Session, day: date) -> list[int]:
    """Booked appointments on `day` not reminded yet."""
    query = select(Appointment.id).where(
        Appointment.date == day, Appointment.status == "booked", Appointment.reminded_at.is_(None)
    )
    return list(db.scalars(query.order_by(Appointment.id)))


def claim_reminder(db: Session, appointment_id: int, now: datetime) -> Appointment | None:
    """Set reminded_at, unless another run of the reminders already did (conditional UPDATE)."""
    taken = changed(
        db,
        update(Appointment)
        .where(Appointment.id == appointment_id, Appointment.status == "booked", Appointment.reminded_at.is_(None))
        .values(reminded_at=now)
        .execution_options(synchronize_session=False),
    )
    if not taken:
        return None
    query = _with_details(db).where(Appointment.id == appointment_id).execution_options(populate_existing=True)
    return db.scalar(query)


def appointment(db: Session, appointment_id: int) -> Appointment | None:
    """An appointment with what texts and prompts say about it (patient, doctor, exam)."""
    return db.scalar(_with_details(db).where(Appointment.id == appointment_id))


def _with_details(db: Session):
    return select(Appointment).options(
        selectinload(Appointment.patient).selectinload(Patient.phones),
        selectinload(Appointment.session).selectinload(ClinicSession.doctor).selectinload(Doctor.department),
        selectinload(Appointment.session).selectinload(ClinicSession.exam_type),
    )


def was_called(db: Session, appointment_id: int) -> bool:
    query = select(PatientNote.id).where(
        PatientNote.appointment_id == appointment_id, PatientNote.kind == "reminder_call"
    )
    return db.scalar(query.limit(1)) is not None


def confirm(db: Session, appointment: Appointment, now: datetime, how: str, call_sid: str | None = None) -> None:
    """The patient said they will come (after a reminder).  Saying it twice changes nothing."""
    if appointment.confirmed_at is not None:
        return
    appointment.confirmed_at = now
    note(db, appointment, now, "confirmed", how, call_sid)


def note(
    db: Session, appointment: Appointment, now: datetime, kind: str, how: str, call_sid: str | None = None
) -> None:
    """On the patient's file, as records.booking writes its notes."""
    text = f"{describe(appointment)} ({how})"
    db.add(
        PatientNote(
            patient_id=appointment.patient_id, at=now, kind=kind, text=text, call_sid=call_sid, appointment=appointment
        )
    )


# ---- replies to reminders (POST /ivr/sms/incoming) ------------------------------------------


def reminded_to(db: Session, number: str, today: date) -> list[Appointment]:
    """Booked appointments, today or later, whose reminder was texted to `number`,
    the most recently reminded first.  Only what was sent to that number: a family
    sharing a phone answers for the reminders it received, nothing else."""
    reminded = (
        select(SmsMessage.appointment_id, SmsMessage.created_at)
        .where(SmsMessage.kind == "reminder", SmsMessage.to_number == number, SmsMessage.appointment_id.is_not(None))
        .order_by(SmsMessage.created_at.desc(), SmsMessage.id.desc())
    )
    order = list(dict.fromkeys(row.appointment_id for row in db.execute(reminded)))
    if not order:
        return []
    query = _with_details(db).where(
        Appointment.id.in_(order), Appointment.status == "booked", Appointment.date >= today
    )
    found = {a.id: a for a in db.scalars(query)}
    return [found[i] for i in order if i in found]


def read_reply(body: str) -> tuple[str | None, str | None]:
    """'1' or '2' (full-width digits too), and a booking reference if the patient gave one."""
    text = unicodedata.normalize("NFKC", body or "").strip()
    reference = re.search(r"(?<!\d)\d{8}(?!\d)", text)
    answer = re.match(r"([12])(?!\d)", text)
    return (answer.group(1) if answer else None), (reference.group(0) if reference else None)
