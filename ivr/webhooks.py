"""The URLs Twilio calls.

A hospital types two of them into its Twilio console: `POST /ivr/voice` (a call
comes in) and `POST /ivr/status` (a call's status changed).  Every other URL is
reached through TwiML the hotline itself returned: `/ivr/<flow>/<step>`.

Views only translate: form fields in, a flow step called, TwiML out.  Whatever
happens inside, the caller gets valid TwiML (an apology and a person), never a
500, which Twilio would play as 'an application error has occurred'.
"""

from __future__ import annotations

import logging
import uuid

from flask import Blueprint, Response, request
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.voice_response import VoiceResponse

import ivr.flows  # noqa: F401  (registers the steps)
from extensions import get_db, hotline
from ivr.call_limits import count_for
from ivr.dialogue import Conversation, Heard, run_step
from ivr.errors import apology
from ivr.flows.main import greet, too_many_calls
from ivr.security import require_signature
from records.patients import CallerMatch, get_patient, mask, match_caller
from settings import LANGUAGES

log = logging.getLogger(__name__)
bp = Blueprint("ivr", __name__, url_prefix="/ivr")
CONTROL_ARGS = ("lang", "f", "silence")


bp.before_request(require_signature)


@bp.route("/voice", methods=["GET", "POST"])
def voice() -> Response:
    """A call comes in: find the caller's file, open the call's record, greet."""
    app = hotline()
    settings = app.settings
    call_sid = _call_sid()
    caller, patient = CallerMatch(None, ()), None
    from_number = request.values.get("From", "")
    if _over_call_limit(from_number, call_sid):
        # Logged like any call, but nothing more is looked up for it.
        _open_call(call_sid, from_number, caller, _language())
        conversation = _conversation(call_sid, _language())
        return _answer(conversation, too_many_calls(conversation))
    try:
        db = get_db()
        caller = match_caller(db, from_number, settings.hospital.phone_region)
        patient = get_patient(db, caller.patient_id) if caller.patient_id else None
        lang = patient.preferred_language if patient and patient.preferred_language in LANGUAGES else _language()
        db.rollback()  # nothing to keep: the call's record is written by a worker
    except SQLAlchemyError:
        # The menus can still help the caller without knowing who calls.
        log.exception("call %s from %s: caller not matched", call_sid, mask(from_number))
        get_db().rollback()
        lang = _language()
    _open_call(call_sid, from_number, caller, lang)
    app.calls.start(call_sid, number=caller.e164, patient_ids=caller.patient_ids)
    conversation = _conversation(call_sid, lang)
    return _answer(conversation, greet(conversation, patient))


@bp.route("/<flow>/<name>", methods=["GET", "POST"])
def step(flow: str, name: str) -> Response:
    conversation = _conversation(_call_sid(), _language())
    args = {k: v for k, v in request.args.items() if k not in CONTROL_ARGS}
    return _answer(conversation, run_step(conversation, flow, name, args))


@bp.route("/status", methods=["GET", "POST"])
def status() -> Response:
    """The call's status changed.  Duplicates and late arrivals change nothing (the job
    applies a status only if its SequenceNumber is newer)."""
    app = hotline()
    call_sid = request.values.get("CallSid", "").strip()[:64]
    if not call_sid:
        return Response(status=204)
    # A worker writes it (queueing.recording); the events came with each webhook.
    app.recorder.status(
        call_sid=call_sid,
        status=request.values.get("CallStatus", "unknown"),
        sequence=_int(request.values.get("SequenceNumber")),
        duration_seconds=_int(request.values.get("CallDuration")),
        at=app.now(),
    )
    return Response(status=204)


@bp.errorhandler(Exception)
def apologise(error: Exception) -> Response:
    log.exception(
        "webhook %s failed for call %s (caller %s)",
        request.path,
        request.values.get("CallSid", "-")[:40],
        mask(request.values.get("From")),
    )
    if request.path.endswith("/status"):
        return Response(status=500)  # the carrier only logs it; the call is over
    app = hotline()
    return _twiml(apology(app.settings, _language(), app.now()))


def not_found(error: Exception) -> Response:
    """Unknown /ivr/ URLs still answer TwiML (registered app-wide in create_app)."""
    app = hotline()
    return _twiml(apology(app.settings, _language(), app.now()))


# ---- translation helpers ------------------------------------------------------------------


def _over_call_limit(from_number: str, call_sid: str) -> bool:
    app = hotline()
    limits = app.settings.call_limits
    count = count_for(from_number, limits, app.settings.hospital.phone_region)
    if count is None:
        return False
    calls = app.calls.calls_from(count.key, call_sid, app.now().timestamp(), limits.window_minutes * 60)
    if calls is None or calls <= count.allowed:
        return False
    log.warning("call %s from %s: over the call limit (%d calls)", call_sid, mask(from_number), calls)
    return True


def _open_call(call_sid: str, from_number: str, caller: CallerMatch, lang: str) -> None:
    app = hotline()
    app.recorder.open_call(
        call_sid=call_sid,
        from_number=from_number,
        to_number=request.values.get("To", ""),
        caller=caller,
        language=lang,
        at=app.now(),
        direction=request.values.get("Direction", "inbound"),
    )


def _call_sid() -> str:
    sid = request.values.get("CallSid", "").strip()[:64]
    return sid or f"missing-{uuid.uuid4().hex}"


def _language() -> str:
    lang = request.args.get("lang")
    return lang if lang in LANGUAGES else hotline().settings.hospital.default_language


def _int(value: str | None) -> int | None:
    """A count the carrier sent, or None: sequence numbers and durations are never negative
    and fit a database INTEGER (a forged 2150000000 must not reach PostgreSQL)."""
    try:
        number = int(value) if value is not None and value.strip() else None
    except ValueError:
        return None
    return number if number is not None and 0 <= number < 2**31 else None


def _confidence(value: str | None) -> float | None:
    """Twilio's speech confidence, 0 to 1; anything else ('²', 'nan', '1e400') is no confidence."""
    try:
        number = float(value) if value else None
    except ValueError:
        return None
    return number if number is not None and 0.0 <= number <= 1.0 else None


def _conversation(call_sid: str, lang: str) -> Conversation:
    app = hotline()
    heard = Heard(
        digits=request.values.get("Digits") or None,
        speech=request.values.get("SpeechResult") or None,
        confidence=_confidence(request.values.get("Confidence")),
        silence=request.args.get("silence") == "1",
        failures=min(max(_int(request.args.get("f")) or 0, 0), 100),
    )
    env = app.settings.env
    base = env.public_base_url or f"{request.scheme}://{request.host}{request.script_root}"
    return Conversation(
        settings=app.settings,
        db=get_db(),
        calls=app.calls,
        call_sid=call_sid,
        lang=lang,
        now=app.now(),
        base_url=base.rstrip("/"),
        heard=heard,
        form=request.form,
        directory_source=app.directory,
    )


def _answer(conversation: Conversation, response: VoiceResponse) -> Response:
    conversation.calls.add_events(conversation.call_sid, conversation.now, conversation.events)
    if conversation.texts_to_send:
        from queueing import enqueue_sms

        app = hotline()
        for message_id in conversation.texts_to_send:
            enqueue_sms(app.queue, message_id, app.settings)
    return _twiml(response)


def _twiml(response: VoiceResponse) -> Response:
    return Response(str(response), mimetype="application/xml")
