"""The jobs RQ workers run: plain functions that take ids, open their own
session from queueing.context, commit their own work, and may run twice.

Sending an SMS exactly once is the hard part.  The carrier has no idempotency
key for new messages, so `send_sms`:

1. holds a Redis lock on the message while it works, so two jobs for one
   message (a retry and a sweep) never send it side by side;
2. skips a message that is no longer 'queued' or 'sending' (already sent,
   delivered or failed for good);
3. marks it 'sending' and commits *before* asking the carrier;
4. finding it 'sending' (an earlier attempt died, or timed out, after the
   request may have reached the carrier), first lists the carrier's recent
   messages to that number: if one has the same body (the body names the
   appointment's reference, so it is that message), it adopts its sid instead
   of sending again; only if there is none does it send.

So a worker dying between the API call and the commit costs one lookup, not a
second text; what remains is a text sent twice if the carrier accepted it and
its own list does not show it yet, which we accept over a text never sent.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager, suppress
from datetime import date, timedelta

import requests
from redis.exceptions import LockError
from rq import Queue
from twilio.base import values
from twilio.base.exceptions import TwilioException, TwilioRestException

from extensions import Hotline
from queueing import (
    ROUTINE,
    SMS_TIMEOUT,
    URGENT,
    context,
    enqueue_reminder_call,
    enqueue_sms,
    queue_name,
)
from records import aftercare, messages
from records.db import begin_write
from records.models import PatientNote, SmsMessage
from records.patients import mask
from wording.texts import language, queue_appointment_sms

log = logging.getLogger(__name__)

STUCK_AFTER = timedelta(minutes=5)  # a message still 'queued' this long after it was stored
GIVE_UP_AFTER = timedelta(hours=12)  # too late to be worth sending (tomorrow's reminder, at night)


# ---- SMS ----------------------------------------------------------------------------------


def send_sms(message_id: int) -> str:
    """Send one stored message through the carrier (see the module docstring)."""
    hotline = context.get()
    with _only_one(hotline, f"sms:{message_id}") as mine:
        if not mine:
            return "another worker is sending it"
        return _send(hotline, message_id)


def _send(hotline: Hotline, message_id: int) -> str:
    with hotline.sessions() as db:
        message = db.get(SmsMessage, message_id)
        if message is None:
            raise LookupError(f"no SMS message {message_id} (enqueued before its commit?)")
        if message.status not in messages.OPEN:
            return f"already {message.status}"
        # 'sending': an earlier attempt's outcome is unknown; ask the carrier first
        # (no write transaction is held while the network is slow).
        earlier = _at_carrier(hotline, message) if message.status == "sending" else None
        begin_write(db)
        db.refresh(message)
        if earlier is not None:
            messages.mark_sent(db, message, earlier.sid, hotline.now())
            messages.apply_status(db, earlier.sid, earlier.status or "", str(earlier.error_code or "") or None)
            db.commit()
            return "sent by an earlier attempt"
        if message.attempts > hotline.settings.booking.sms_retries:
            return _give_up(db, message, f"gave up after {message.attempts} attempts: {message.error or '-'}")
        if not messages.start_attempt(db, message):
            return "taken by another job"
        db.commit()  # 'sending' is on record before the carrier hears of it
        try:
            sent = hotline.twilio.messages.create(
                to=message.to_number,
                from_=hotline.settings.twilio.caller_id,
                body=message.body,
                status_callback=_status_url(hotline, message.id) or values.unset,
            )
        except TwilioRestException as exc:
            return _refused(hotline, db, message, exc)
        except (requests.RequestException, TwilioException) as exc:
            # It may have reached the carrier: stay 'sending'; the retry asks before resending.
            messages.note_error(db, message, f"no answer from the carrier: {type(exc).__name__}")
            db.commit()
            raise
        messages.mark_sent(db, message, sent.sid, hotline.now())
        db.commit()
        log.info("SMS %s (%s) sent to %s", message.id, message.kind, mask(message.to_number))
        return "sent"


def _refused(hotline: Hotline, db, message: SmsMessage, exc: TwilioRestException) -> str:
    error = f"HTTP {exc.status}, error {exc.code}: {exc.msg}"
    if exc.status < 500 and exc.status != 429:
        return _give_up(db, message, error)  # a bad request stays bad
    if message.attempts > hotline.settings.booking.sms_retries:
        return _give_up(db, message, error)
    messages.mark_retry(db, message, error)
    db.commit()
    raise exc  # RQ retries it (Retry set by enqueue_sms)


def _give_up(db, message: SmsMessage, error: str) -> str:
    messages.mark_failed(db, message, error)
    db.commit()
    log.warning("SMS %s (%s) to %s failed: %s", message.id, message.kind, mask(message.to_number), error)
    return "failed"


def _at_carrier(hotline: Hotline, message: SmsMessage):
    """The carrier's copy of this message, if an earlier attempt reached it."""
    for found in hotline.twilio.messages.list(to=message.to_number, limit=50):
        if found.body == message.body:
            return found
    return None


def _status_url(hotline: Hotline, message_id: int) -> str | None:
    base = hotline.settings.env.public_base_url
    # The id lets a callback that beats the worker's commit find its message.
    return f"{base.rstrip('/')}/ivr/sms/status?m={message_id}" if base else None


@contextmanager
def _only_one(hotline: Hotline, name: str) -> Iterator[bool]:
    # Expires on its own if the worker dies holding it.
    key = f"{hotline.settings.env.redis_prefix}lock:{name}"
    lock = hotline.redis.lock(key, timeout=SMS_TIMEOUT * 2, blocking=False)
    mine = lock.acquire()
    try:
        yield mine
    finally:
        if mine:
            with suppress(LockError):
                lock.release()


def requeue_stuck_sms() -> int:
    """Every few minutes (cron): enqueue again what is stored but not sent, and
    fail what is too old to be worth sending.  Duplicate jobs are harmless (send_sms)."""
    hotline = context.get()
    now = hotline.now()
    with hotline.sessions() as db:
        expired = messages.expire(db, before=now - GIVE_UP_AFTER)
        stuck = [(m.id, m.kind) for m in messages.stuck(db, before=now - STUCK_AFTER, since=now - GIVE_UP_AFTER)]
        db.commit()
    if expired:
        log.warning("%d unsent SMS expired", expired)
    for message_id, kind in stuck:
        enqueue_sms(_queue(hotline, ROUTINE if kind == "reminder" else URGENT), message_id, hotline.settings)
    return len(stuck)


# ---- waiting lists (issue 20) --------------------------------------------------------------


def text_waitlist_offers() -> int:
    """At once (enqueued by the call that freed a place: queueing.enqueue_waitlist_texts):
    text the standing waitlist offers not texted yet.  Two of these jobs, or one and the
    sweep, at once text each offer once: records.waitlist.claim_text."""
    hotline = context.get()
    with hotline.sessions() as db:
        begin_write(db)
        return _text_offers(hotline, db, hotline.now())


def sweep_waitlist() -> int:
    """Every minute (cron): offers nobody answered in time go to the next waiting patient,
    places the hospital released in a session with a waiting list are offered, and every
    standing offer not texted yet is texted (the safety net of text_waitlist_offers: Redis
    was away when the call that freed the place enqueued it, or the job failed for good).
    Conditional UPDATEs (records.waitlist) make two sweeps at once harmless."""
    from records import waitlist

    hotline = context.get()
    now = hotline.now()
    with hotline.sessions() as db:
        begin_write(db)
        waitlist.expire(db, now, hotline.settings.booking)
        waitlist.offer_released(db, now, hotline.settings.booking)
        return _text_offers(hotline, db, now)


def _text_offers(hotline: Hotline, db, now) -> int:
    """Queue the untexted offers' texts, commit, then hand them to the SMS workers."""
    from records import waitlist
    from wording.texts import text_offers

    ids = text_offers(db, hotline.settings, waitlist.untexted(db), now)
    db.commit()
    for message_id in ids:
        enqueue_sms(_queue(hotline, URGENT), message_id, hotline.settings)
    return len(ids)


# ---- reminders ----------------------------------------------------------------------------


def send_reminders(day: str | None = None) -> int:
    """The day before (cron): remind each booked appointment on `day` (ISO date;
    default tomorrow, hospital time) once, by SMS and, if configured, by a call.
    Running it again reminds only what the first run missed."""
    hotline = context.get()
    settings = hotline.settings
    now = hotline.now()
    target = date.fromisoformat(day) if day else now.date() + timedelta(days=1)
    routine = _queue(hotline, ROUTINE)
    with hotline.sessions() as db:
        due = messages.reminders_due(db, target)
    reminded = 0
    for appointment_id in due:
        with hotline.sessions() as db:
            begin_write(db)
            appointment = messages.claim_reminder(db, appointment_id, now)
            if appointment is None:
                continue  # another run took it
            if aftercare.is_opted_out(db, appointment.patient_id):  # after care (issue 7): no reminders
                messages.note(db, appointment, now, "reminded", "not sent: the patient opted out")
                db.commit()
                continue
            sms = queue_appointment_sms(db, settings, appointment, "reminder", now)
            calling = settings.booking.reminder_call
            channels = [name for name, used in (("SMS", sms is not None), ("call", calling)) if used]
            messages.note(db, appointment, now, "reminded", " and ".join(channels) or "no mobile number, no call")
            db.commit()
        if sms is not None:
            enqueue_sms(routine, sms.id, settings)
        if calling:
            enqueue_reminder_call(routine, appointment_id)
        reminded += 1
    log.info("reminders for %s: %d of %d appointments", target, reminded, len(due))
    return reminded


def call_reminder(appointment_id: int) -> str:
    """Ring the patient; the call runs ivr/flows/reminder.py.  Placed once per appointment."""
    hotline = context.get()
    settings = hotline.settings
    base = settings.env.public_base_url
    if not base:
        log.error("appointment %s: no reminder call, PUBLIC_BASE_URL is not set", appointment_id)
        return "no PUBLIC_BASE_URL"
    with hotline.sessions() as db:
        appointment = messages.appointment(db, appointment_id)
        if appointment is None or appointment.status != "booked":
            return "not booked"
        if messages.was_called(db, appointment_id) or not appointment.patient.phones:
            return "already called, or no number"
        if aftercare.is_opted_out(db, appointment.patient_id):
            return "opted out"
        number = appointment.patient.phones[0].e164
        lang = language(appointment.patient, settings)
    # No transaction open while the carrier works: it may ring our webhooks at once.
    call = hotline.twilio.calls.create(
        to=number,
        from_=settings.twilio.caller_id,
        url=f"{base.rstrip('/')}/ivr/reminder/start?appointment={appointment_id}&lang={lang}",
        status_callback=f"{base.rstrip('/')}/ivr/status",
        machine_detection="Enable",  # a machine hears nothing medical (AnsweredBy)
    )
    with hotline.sessions() as db:
        db.add(
            PatientNote(
                patient_id=appointment.patient_id,
                at=hotline.now(),
                kind="reminder_call",
                text=f"reminder call placed to {mask(number)}",
                call_sid=call.sid,
                appointment_id=appointment_id,
            )
        )
        db.commit()
    log.info("appointment %s: reminder call %s to %s", appointment_id, call.sid, mask(number))
    return call.sid


def _queue(hotline: Hotline, kind: str) -> Queue:
    return Queue(queue_name(hotline.settings.env.redis_prefix, kind), connection=hotline.queue_redis)


# ---- the seats' sweep (issue 4) -----------------------------------------------------------------


def sweep_seats() -> dict[str, int]:
    """Every routing.sweep_seconds: end expired reservations (the agent goes on break
    'missed'), finished wrap-ups and silent consoles, then offer waiting callers to free
    agents.  Idempotent: each change is a Lua script that checks the state first."""
    from acd import seats

    done = seats.sweep(context.get())
    if any(done.values()):
        log.info("seats sweep: %s", done)
    return done
