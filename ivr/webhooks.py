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

import redis
from flask import Blueprint, Request, Response, request
from sqlalchemy.exc import SQLAlchemyError
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.exceptions import RequestEntityTooLarge

import ivr.flows  # noqa: F401  (registers the steps)
from acd import seats
from counters import apology_served
from extensions import get_db, hotline, this_request
from ivr import twiml
from ivr.call_limits import Count, count_for_number
from ivr.dialogue import MAIN_MENU, Conversation, Heard, decode_trail, run_step
from ivr.errors import apology
from ivr.flows.main import greet, too_many_calls
from ivr.flows.person import nobody_to_answer
from ivr.security import require_signature
from limits import too_large
from records.calls import CallOpened, StatusCallback
from records.patients import Cached, CallerCache, CallerMatch, Greeting, files_of, greeting_of, mask, to_e164
from settings import LANGUAGES

log = logging.getLogger(__name__)
bp = Blueprint("ivr", __name__, url_prefix="/ivr")
CONTROL_ARGS = ("lang", "f", "silence", "back")


bp.before_request(require_signature)


@bp.route("/voice", methods=["GET", "POST"])
def voice() -> Response:
    """A call comes in: count it, find the caller's file, open the call's record, greet.
    Redis: one round trip to count the call and read the caller's cached files and
    greeting, one to keep the call's opening and state with the greeting's events (and
    what was read of the files, if anything).  SQL only when the cache lacks them."""
    app, sent = hotline(), this_request()
    call_sid, from_number = _call_sid(sent), sent.values.get("From", "")
    e164 = to_e164(from_number, app.settings.hospital.phone_region)
    over, cached = _arrival(from_number, call_sid, e164)
    if over:
        return _too_many_calls(sent, call_sid, from_number, over)
    caller, patient, lang, read = _who_calls(sent, call_sid, from_number, e164, cached)
    conversation = _conversation(sent, call_sid, lang)
    conversation.opened = _opened(sent, call_sid, from_number, caller, lang)
    return _answer(conversation, greet(conversation, patient), also=_keep_caller(call_sid, caller, e164, read))


@bp.route("/<flow>/<name>", methods=["GET", "POST"])
def step(flow: str, name: str) -> Response:
    sent = this_request()
    conversation = _conversation(sent, _call_sid(sent), _language(sent))
    args = {k: v for k, v in sent.args.items() if k not in CONTROL_ARGS}
    return _answer(conversation, run_step(conversation, flow, name, args))


@bp.route("/status", methods=["GET", "POST"])
def status() -> Response:
    """The call's status changed: a final one hands the call over to be recorded, in one
    round trip (ivr.state.CallStore.status).  Duplicates and late arrivals change nothing
    (a status applies only if its SequenceNumber is newer).  The same round trip reads
    whether the caller was being put through to an agent: one who hung up before the talk's
    TwiML joined them leaves the agent waiting for nobody (acd.seats.caller_gone)."""
    sent = this_request()
    call_sid = sent.values.get("CallSid", "").strip()[:64]
    if not call_sid:
        return Response(status=204)
    app = hotline()
    put_through = app.calls.status(_status_callback(sent, call_sid), app.acd.put_through_read(call_sid))
    if put_through and seats.being_put_through(app.acd.put_through_state(put_through), call_sid):
        try:
            seats.caller_gone(app, call_sid, call_sid)
        except redis.RedisError as exc:  # the call is handed over all the same (a 204, not a 500)
            log.warning("call %s: the agent it was put through to not freed: %s", call_sid, exc)
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
    return _apology()


@bp.errorhandler(RequestEntityTooLarge)
def body_too_large(error: RequestEntityTooLarge) -> Response:
    """A body over ivr.security.WEBHOOK_MAX_BYTES, refused unread.  No carrier sends one,
    but a caller may be on the line: a voice step answers TwiML (the apology and a
    person, as for any failure), since Twilio would play 'an application error has
    occurred' and hang up on a 413.  The status callback (the call is over) gets the 413."""
    log.warning("webhook %s: a body over %d bytes refused unread", request.path, request.max_content_length or 0)
    if request.path == "/ivr/status":
        return too_large(error)
    return _apology()


def _apology() -> Response:
    app = hotline()
    apology_served()
    return _twiml(apology(app.settings, _language(this_request()), app.now()))


def not_found(error: Exception) -> Response:
    """A URL under /ivr/ that no route takes (registered app-wide in create_app): its
    signature is checked like every webhook's, then the caller hears what an unknown step
    says, and the main menu."""
    try:
        refused = require_signature()
    except RequestEntityTooLarge as too_long:  # an error handler's own error would be a 500
        return body_too_large(too_long)
    if refused is not None:
        return refused
    try:
        sent = this_request()
        conversation = _conversation(sent, _call_sid(sent), _language(sent))
        conversation.event("error", reason="unknown URL", step=request.path[:80])
        return _answer(conversation, conversation.go(MAIN_MENU, conversation.line("lost")))
    except Exception as failure:  # an error handler's own error would be a 500
        return apologise(failure)


# ---- translation helpers ------------------------------------------------------------------


def _arrival(from_number: str, call_sid: str, e164: str | None) -> tuple[Count | None, Cached | None]:
    """The count this call is over the limit of (or None), and what the caller cache holds
    for the number (None when nothing), in one round trip."""
    app = hotline()
    limits = app.settings.call_limits
    count = count_for_number(e164, limits)
    calls, cached = app.calls.calls_from_and_read(
        count.key if count is not None else None,
        call_sid,
        app.now().timestamp(),
        limits.window_minutes * 60,
        app.caller_cache.key(e164) if e164 is not None else None,
    )
    kept = CallerCache.decode(cached)
    if count is None or calls is None or calls <= count.allowed:
        return None, kept
    log.warning("call %s from %s: over the call limit (%d calls)", call_sid, mask(from_number), calls)
    return count, kept


def _too_many_calls(sent: Request, call_sid: str, from_number: str, over: Count) -> Response:
    """A caller over the call limit: logged like any call, but nothing more is looked up for it."""
    conversation = _conversation(sent, call_sid, _language(sent))
    conversation.opened = _opened(sent, call_sid, from_number, CallerMatch(None, ()), conversation.lang)
    return _answer(conversation, too_many_calls(conversation, withheld=over.withheld))


def _who_calls(
    sent: Request, call_sid: str, from_number: str, e164: str | None, cached: Cached | None
) -> tuple[CallerMatch, Greeting | None, str, Cached | None]:
    """The caller's files and the greeting of the one file they name (from the cache, else
    read), the language to greet in, and what was read here (to cache), or None.  A caller
    whose files and greeting are cached costs no database."""
    read = None
    try:
        if cached is not None and len(cached.files) == 1 and cached.greeting is None:
            # One file without its greeting (kept by the release before, or its file gone):
            # both read afresh, not the greeting alone, which would keep an old match longer.
            cached = None
        if e164 is not None and cached is None:
            db = get_db()
            cached = read = Cached(files_of(db, e164))
            db.rollback()  # nothing to keep: the call's record is written by a worker
        files, patient = cached or ((), None)
        caller = CallerMatch(e164, files)
        if caller.patient_id and patient is None:
            patient = greeting_of(hotline().engine, caller.patient_id)
            if patient is not None and not hotline().settings.dialogue.greet_known_callers:
                patient = patient.language_only()
            read = Cached(files, patient)
        lang = patient.preferred_language if patient and patient.preferred_language in LANGUAGES else _language(sent)
        return caller, patient, lang, read
    except SQLAlchemyError:
        # The menus can still help the caller without knowing who calls.
        log.exception("call %s from %s: caller not matched", call_sid, mask(from_number))
        get_db().rollback()
        return CallerMatch(e164, ()), None, _language(sent), None


def _keep_caller(call_sid: str, caller: CallerMatch, e164: str | None, read: Cached | None):
    """What the greeting's round trip also keeps: who calls, and what was read of their
    files (if anything) for the caller cache."""
    app = hotline()

    def keep(pipe) -> None:
        app.calls.keep_caller(pipe, call_sid, caller.e164, caller.patient_ids)
        if read is not None and e164 is not None:
            app.caller_cache.keep(pipe, e164, read.files, read.greeting)

    return keep


def _status_callback(sent: Request, call_sid: str) -> StatusCallback:
    app, form = hotline(), sent.values
    return StatusCallback(
        call_sid=call_sid,
        status=form.get("CallStatus", "unknown"),
        sequence=_int(form.get("SequenceNumber")),
        duration_seconds=_int(form.get("CallDuration")),
        at=app.now(),
        from_number=form.get("From", ""),
        to_number=form.get("To", ""),
        direction=form.get("Direction", "inbound"),
    )


def _opened(sent: Request, call_sid: str, from_number: str, caller: CallerMatch, lang: str) -> CallOpened:
    to_number, direction = sent.values.get("To", ""), sent.values.get("Direction", "inbound")
    return CallOpened(call_sid, from_number, to_number, caller, lang, hotline().now(), direction)


def _call_sid(sent: Request) -> str:
    sid = sent.values.get("CallSid", "").strip()[:64]
    return sid or f"missing-{uuid.uuid4().hex}"


def _language(sent: Request) -> str:
    lang = sent.args.get("lang")
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


def _conversation(sent: Request, call_sid: str, lang: str) -> Conversation:
    app, values, args = hotline(), sent.values, sent.args
    heard = Heard(
        digits=values.get("Digits") or None,
        speech=values.get("SpeechResult") or None,
        confidence=_confidence(values.get("Confidence")),
        silence=args.get("silence") == "1",
        failures=min(max(_int(args.get("f")) or 0, 0), 100),
    )
    env = app.settings.env
    base = env.public_base_url or f"{sent.scheme}://{sent.host}{sent.script_root}"
    return Conversation(
        settings=app.settings,
        db_source=get_db,
        calls=app.calls,
        call_sid=call_sid,
        lang=lang,
        now=app.now(),
        base_url=base.rstrip("/"),
        came_from=decode_trail(args.get("back")),
        heard=heard,
        form=sent.form,
        directory_source=app.directory,
        availability=nobody_to_answer,
    )


def _answer(conversation: Conversation, response: VoiceResponse, also=None) -> Response:
    conversation.calls.add_events(
        conversation.call_sid, conversation.now, conversation.events, also=also, opened=conversation.opened
    )
    if conversation.texts_to_send:
        from queueing import enqueue_sms

        app = hotline()
        for message_id in conversation.texts_to_send:
            enqueue_sms(app.queue, message_id, app.settings)
    if conversation.offers_to_text:
        from queueing import enqueue_waitlist_texts

        enqueue_waitlist_texts(hotline().queue)
    return _twiml(response)


def _twiml(response: VoiceResponse) -> Response:
    return Response(twiml.utf8(response), mimetype="application/xml")
