"""Text messages: what they say (worded in ivr/prompts.py, SMS), and the two URLs
the carrier calls about them.

- `POST /ivr/sms/status`: a message's status changed (sent, delivered...);
- `POST /ivr/sms/incoming`: a patient answered a reminder, '1' to confirm
  their appointment, '2' to cancel it.  Set it as the number's messaging
  webhook in the Twilio console.

Both are signature-checked like every voice webhook.  A text says only what
belongs to the appointment it is about (and a reply only to the number its
reminder went to): family members share phones.
"""

from __future__ import annotations

import logging
from datetime import datetime

import phonenumbers
from flask import Blueprint, Response, request
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse

from aftercare.texts import is_opt_out, opt_out_by_text
from extensions import get_db, hotline
from ivr import speaking
from ivr.dialogue import is_id
from ivr.prompts import SMS, TITLES, t
from ivr.security import require_signature
from records import booking, messages
from records.booking import Outcome
from records.db import begin_write
from records.models import Appointment, SmsMessage, localized
from records.patients import mask, to_e164
from settings import LANGUAGES, Settings

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__, url_prefix="/ivr/sms")


# ---- texts ---------------------------------------------------------------------------------


def appointment_text(settings: Settings, appointment: Appointment, kind: str, lang: str) -> str:
    """The text about one appointment: kind is confirmation | cancellation | moved | reminder."""
    exam = appointment.session.exam_type
    prep = SMS["preparation"][lang].format(text=localized(exam, "preparation", lang)) if exam else ""
    return _say(kind, settings, appointment, lang, prep=prep)


def addressee(appointment: Appointment, lang: str) -> str:
    """'王女士' / 'Ms Wang': title and surname, never the full name."""
    patient = appointment.patient
    return t("mr" if patient.sex == "M" else "ms", lang, family=localized(patient, "family_name", lang))


def period(appointment: Appointment) -> str:
    """morning | afternoon | evening, from the session's start."""
    hour = appointment.session.start_time.hour
    return "morning" if hour < 12 else "afternoon" if hour < 18 else "evening"


def when(appointment: Appointment, lang: str) -> str:
    start = appointment.session.start_time
    return SMS["when"][lang].format(
        day=speaking.day(appointment.date, lang),
        period=t(period(appointment), lang),
        start=f"{start.hour}:{start.minute:02d}",
    )


def what(appointment: Appointment, lang: str) -> str:
    """The department and doctor, or the exam, and where."""
    session = appointment.session
    exam = session.exam_type
    if exam is not None:
        name, place = localized(exam, "name", lang), localized(exam, "location", lang)
        return f"{name}（{place}）" if lang == "zh" else f"{name}, {place}"
    doctor = session.doctor
    title = TITLES[doctor.title][lang]
    department = localized(doctor.department, "name", lang)
    if lang == "zh":
        return f"{department} {doctor.name_zh}{title}"
    return f"{department}, {title} {doctor.name_en}"


def language(appointment: Appointment | None, settings: Settings) -> str:
    preferred = appointment.patient.preferred_language if appointment is not None else None
    return preferred if preferred in LANGUAGES else settings.hospital.default_language


def hospital_phone(settings: Settings) -> str:
    number = phonenumbers.parse(settings.hospital.main_number, settings.hospital.phone_region)
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL)


def _say(key: str, settings: Settings, appointment: Appointment | None, lang: str, **values: object) -> str:
    hospital = settings.hospital.name(lang)
    if appointment is not None:
        values = {
            "name": addressee(appointment, lang),
            "when": when(appointment, lang),
            "what": what(appointment, lang),
            "place": appointment.place,
            "reference": appointment.reference,
            **values,
        }
    return SMS[key][lang].format(hospital=hospital, phone=hospital_phone(settings), **values).strip()


def queue_appointment_sms(
    db: Session,
    settings: Settings,
    appointment: Appointment,
    kind: str,
    now: datetime,
    call_sid: str | None = None,
) -> SmsMessage | None:
    """Store the text about an appointment for its patient's mobile, in their language
    (None if they have no mobile); `call_sid`: the call it is sent during.  No commit;
    then queueing.enqueue_sms."""
    number = messages.mobile_number(appointment.patient, settings.hospital.phone_region)
    if number is None:
        return None
    return messages.queue_sms(
        db,
        to_number=number,
        body=appointment_text(settings, appointment, kind, language(appointment, settings)),
        kind=kind,
        now=now,
        patient_id=appointment.patient_id,
        appointment_id=appointment.id,
        call_sid=call_sid,
    )


# ---- webhooks ------------------------------------------------------------------------------


bp.before_request(require_signature)


@bp.route("/status", methods=["POST"])
def status() -> Response:
    """A message's status changed.  Duplicates and late arrivals change nothing."""
    sid = request.values.get("MessageSid", "").strip()[:64]
    if sid:
        db = get_db()
        begin_write(db)
        message_id = request.args.get("m", "")
        messages.apply_status(
            db,
            sid,
            request.values.get("MessageStatus", "").strip(),
            request.values.get("ErrorCode") or None,
            message_id=int(message_id) if is_id(message_id) else None,
        )
        db.commit()
    return Response(status=204)


@bp.route("/incoming", methods=["POST"])
def incoming() -> Response:
    """A patient's text: '1' confirms, '2' cancels the appointment last reminded to that number."""
    app = hotline()
    settings = app.settings
    number = to_e164(request.values.get("From", ""), settings.hospital.phone_region)
    db = get_db()
    begin_write(db)
    text = answer(db, settings, number, request.values.get("Body", ""), app.now())
    db.commit()
    return _reply(text)


def answer(db: Session, settings: Settings, number: str | None, body: str, now: datetime) -> str:
    """What to do with a reply, and what to text back."""
    if number and is_opt_out(body, settings):
        return opt_out_by_text(db, settings, number, now)
    pending = messages.reminded_to(db, number, now.date()) if number else []
    if not pending:
        return _say("reply_none", settings, None, settings.hospital.default_language)
    choice, reference = messages.read_reply(body)
    chosen = [a for a in pending if a.reference == reference] if reference else pending
    if choice is None or len(chosen) != 1:
        key = "reply_how" if len(pending) == 1 else "reply_which"
        lang = language(pending[0], settings)
        return _say(key, settings, pending[0], lang, count=len(pending))
    appointment = chosen[0]
    lang = language(appointment, settings)
    if choice == "1":
        messages.confirm(db, appointment, now, "confirmed by SMS")
        return _say("reply_confirmed", settings, appointment, lang)
    result = booking.cancel(
        db, patient_id=appointment.patient_id, appointment_id=appointment.id, now=now, rules=settings.booking
    )
    log.info("SMS reply from %s: cancel appointment %s: %s", mask(number), appointment.id, result.outcome)
    if result.outcome is Outcome.CANCELLED:
        return _say("reply_cancelled", settings, appointment, lang)
    if result.outcome is Outcome.TOO_LATE:
        return _say("reply_too_late", settings, appointment, lang)
    return _say("reply_none", settings, None, lang)


@bp.errorhandler(Exception)
def failed(error: Exception) -> Response:
    log.exception("SMS webhook %s failed (from %s)", request.path, mask(request.values.get("From")))
    if request.path.endswith("/status"):
        return Response(status=500)  # the carrier only logs it
    settings = hotline().settings
    return _reply(_say("reply_error", settings, None, settings.hospital.default_language))


def _reply(text: str) -> Response:
    response = MessagingResponse()
    response.message(text)
    return Response(str(response), mimetype="application/xml")
