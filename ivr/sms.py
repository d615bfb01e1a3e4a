"""Text messages: the two URLs the carrier calls about them (what they say is in
wording/texts.py).

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

from flask import Blueprint, Response, request
from sqlalchemy.orm import Session
from twilio.twiml.messaging_response import MessagingResponse
from werkzeug.exceptions import RequestEntityTooLarge

from extensions import get_db, hotline
from ivr.dialogue import is_id
from ivr.security import require_signature
from limits import too_large
from queueing import enqueue_texts
from records import aftercare, booking, messages, waitlist
from records.booking import Outcome
from records.db import begin_write
from records.models import WaitlistEntry
from records.patients import mask, to_e164
from settings import Settings
from wording.texts import appointment_text, is_opt_out, language, opted_out, say, text_offers

log = logging.getLogger(__name__)
bp = Blueprint("sms", __name__, url_prefix="/ivr/sms")


# ---- webhooks ------------------------------------------------------------------------------


bp.before_request(require_signature)
bp.register_error_handler(RequestEntityTooLarge, too_large)  # 413 (limits.py): nobody is on the line


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
    enqueue_texts(app, db.info.pop("hotline_offer_texts", []))
    return _reply(text)


def answer(db: Session, settings: Settings, number: str | None, body: str, now: datetime) -> str:
    """What to do with a reply, and what to text back."""
    if number and is_opt_out(body, settings):
        return opt_out_by_text(db, settings, number, now)
    # A place held for this number (a waitlist offer) is the newest question it was asked,
    # and the one that cannot wait: a 1 or 2 answers it before any reminder.
    offer = waitlist.open_offer(db, number, now) if number else None
    choice, _reference = messages.read_reply(body)
    if offer is not None and choice is not None:
        return answer_offer(db, settings, offer, choice == "1", now)
    pending = messages.reminded_to(db, number, now.date()) if number else []
    if not pending:
        return say("reply_none", settings, None, settings.hospital.default_language)
    choice, reference = messages.read_reply(body)
    chosen = [a for a in pending if a.reference == reference] if reference else pending
    if choice is None or len(chosen) != 1:
        key = "reply_how" if len(pending) == 1 else "reply_which"
        lang = language(pending[0].patient, settings)
        return say(key, settings, pending[0], lang, count=len(pending))
    appointment = chosen[0]
    lang = language(appointment.patient, settings)
    if choice == "1":
        messages.confirm(db, appointment, now, "confirmed by SMS")
        return say("reply_confirmed", settings, appointment, lang)
    result = booking.cancel(
        db, patient_id=appointment.patient_id, appointment_id=appointment.id, now=now, rules=settings.booking
    )
    log.info("SMS reply from %s: cancel appointment %s: %s", mask(number), appointment.id, result.outcome)
    # The freed place held for a waiting patient: texted once this commits (incoming()).
    db.info.setdefault("hotline_offer_texts", []).extend(text_offers(db, settings, result.offered, now))
    if result.outcome is Outcome.CANCELLED:
        return say("reply_cancelled", settings, appointment, lang)
    if result.outcome is Outcome.TOO_LATE:
        return say("reply_too_late", settings, appointment, lang)
    return say("reply_none", settings, None, lang)


def answer_offer(db: Session, settings: Settings, offer: WaitlistEntry, accept: bool, now: datetime) -> str:
    lang = language(offer.patient, settings)
    result = waitlist.answer(db, offer, accept=accept, now=now, rules=settings.booking)
    log.info("SMS reply: waitlist offer %s: %s", offer.id, result.answer)
    # The next patient offered the place is texted once this commits (incoming()).
    db.info.setdefault("hotline_offer_texts", []).extend(text_offers(db, settings, result.offered, now))
    if result.answer is waitlist.Answer.BOOKED:
        appointment = messages.appointment(db, offer.appointment_id)
        return appointment_text(settings, appointment, "waitlist_booked", lang)
    if result.answer is waitlist.Answer.DECLINED:
        return say("waitlist_declined", settings, None, lang)
    if result.answer is waitlist.Answer.REFUSED:
        return say("waitlist_refused", settings, None, lang)
    return say("waitlist_gone", settings, None, lang)


def opt_out_by_text(db, settings: Settings, number: str, now) -> str:
    """A reply of 'TD' (退订, STOP): every patient file with this number opts out; the answer to text back."""
    patient_ids = aftercare.patients_on_number(db, number)
    for patient_id in patient_ids:
        aftercare.opt_out(db, patient_id, channel="sms", now=now, note="replied to a text")
    lang = settings.hospital.default_language
    if len(patient_ids) == 1:
        lang = language(aftercare.patient(db, patient_ids[0]), settings)
    return opted_out(settings, lang)


@bp.errorhandler(Exception)
def failed(error: Exception) -> Response:
    log.exception("SMS webhook %s failed (from %s)", request.path, mask(request.values.get("From")))
    if request.path.endswith("/status"):
        return Response(status=500)  # the carrier only logs it
    settings = hotline().settings
    return _reply(say("reply_error", settings, None, settings.hospital.default_language))


def _reply(text: str) -> Response:
    response = MessagingResponse()
    response.message(text)
    return Response(str(response), mimetype="application/xml")
