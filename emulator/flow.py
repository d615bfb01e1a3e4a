"""What a call does: fetch TwiML, execute its verbs the way Twilio documents them.

Every method that can take time is a generator yielding `Wait`s (see call.py).
A verb handler returns None to go on with the next verb, a `Fetch` to continue
with the TwiML at another URL (an action or a <Redirect>), or LEAVE.
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from . import twiml
from .call import TIMEOUT, Call, CallOver, ConferenceChanged, Dequeued, Event, Redirected, Wait
from .conferencing import BEEP_VALUES, HUNG_UP, LEFT_BY_KEY, REDIRECTED, event_words, flag
from .model import Participant, Recording, Utterance
from .twiml import Document, Node
from .webhooks import TWIML_TYPES, HttpResult, resolve

if TYPE_CHECKING:
    from .carrier import Carrier
    from .model import Queue

Flow = Generator[Wait, Any, Any]

APPLICATION_ERROR = "An application error has occurred."
DEFAULT_HOLD_MUSIC = "http://com.twilio.music.classical.s3.amazonaws.com/BusyStrings.mp3"
SPEECH_END_AUTO = 1.0  # speechTimeout="auto": the end-of-speech silence we assume (Twilio does not say)
EMPTY_WAIT_GUARD = 1.0  # a waitUrl document that takes no time is re-requested after this much silence


class _Leave:
    def __repr__(self) -> str:
        return "LEAVE"


LEAVE = _Leave()


@dataclass
class Fetch:
    """A TwiML request to make: a URL with its method and extra parameters, or inline TwiML."""

    url: str | None
    method: str = "POST"
    params: dict[str, str] = field(default_factory=dict)
    twiml: str | None = None


@dataclass(frozen=True)
class Mode:
    """Where a document runs, and which verbs Twilio allows there (None: all)."""

    name: str
    allowed: frozenset[str] | None = None


MAIN = Mode("call")
WAIT = Mode("waitUrl", frozenset({"Play", "Say", "Pause", "Hangup", "Redirect", "Leave", "Gather"}))
WHISPER = Mode("whisper", frozenset({"Play", "Say", "Pause", "Gather", "Hangup", "Redirect", "Record"}))
QUEUE_URL = Mode("Queue url", frozenset({"Play", "Say", "Pause", "Redirect"}))
CONFERENCE_WAIT = Mode("Conference waitUrl", frozenset({"Play", "Say", "Pause", "Redirect"}))
CONFERENCE_HOLD = Mode("holdUrl", frozenset({"Play", "Say", "Pause", "Redirect"}))


@dataclass
class DialOutcome:
    status: str  # DialCallStatus
    sid: str | None = None
    duration: int = 0
    bridged: bool = False
    extra: dict[str, str] = field(default_factory=dict)

    def params(self) -> dict[str, str]:
        params = {"DialCallStatus": self.status, "DialBridged": "true" if self.bridged else "false"}
        if self.sid:
            params["DialCallSid"] = self.sid
            params["DialCallDuration"] = str(self.duration)
        return {**params, **self.extra}


def truthy(value: str | None) -> bool:
    return (value or "").strip().lower() == "true"


class CallFlow:
    """The interpreter for one call."""

    def __init__(self, carrier: Carrier, call: Call):
        self.carrier = carrier
        self.call = call

    @property
    def now(self) -> float:
        return self.carrier.clock.time()

    # ==== entry points ======================================================================
    def inbound(self, first: Fetch) -> Flow:
        """An inbound call (carrier.dial): ringing, then the number's TwiML."""
        self.carrier.set_status(self.call, "ringing")
        yield from self.run(first)

    def outbound(self, first: Fetch, ring_timeout: float, machine_detection: str | None) -> Flow:
        """A call the app places (REST): ring the endpoint, then run its TwiML once answered."""
        try:
            outcome = yield from self.ring(ring_timeout)
        except CallOver as over:  # canceled or completed through REST while ringing
            self.carrier.finish(self.call, over.status or "canceled")
            return
        if outcome != "answered":
            self.carrier.finish(self.call, outcome)
            return
        if machine_detection:
            machine = self.carrier.endpoint(self.call.to).behaviour == "machine"
            end = machine_detection.lower() == "detectmessageend"
            self.call.answered_by = ("machine_end_beep" if end else "machine_start") if machine else "human"
        self.carrier.answer(self.call)
        yield from self.run(first)

    def dial_leg(self, parent: Call, noun: Node, doc_url: str | None) -> Flow:
        """A <Dial><Number>/<Client> leg: ring, run the whisper url, stay bridged until someone ends it."""
        call = self.call
        answered = bridged = False
        status = "completed"
        try:
            outcome = yield from self.ring(None)  # the parent's Dial timeout cancels it
            self.carrier.send(parent, Event("leg-result", (call, outcome)))
            if outcome != "answered":
                status = outcome
            else:
                answered = True
                self.carrier.answer(call)
                yield Wait(None, frozenset({"connect"}))
                whisper = noun.attrs.get("url")
                if whisper:
                    url = resolve(doc_url, whisper)
                    yield from self.side_document(Fetch(url, self.method(noun, "method")), WHISPER)
                self.carrier.bridge(call, parent)
                bridged = True
                self.carrier.send(parent, Event("leg-bridged", call))
                call.wait_for("bridge")
                yield Wait(None, frozenset({"bridge-ended"}))
        except CallOver as over:
            status = "completed" if answered else (over.status or "canceled")
            if answered:
                self.carrier.send(parent, Event("bridge-ended" if bridged else "leg-ended", call))
        except Redirected as redirect:
            # The app moved this leg elsewhere (REST): it leaves the Dial and runs the new TwiML.
            self.carrier.unbridge(call)
            self.carrier.send(parent, Event("bridge-ended" if bridged else "leg-ended", call))
            call.stop_waiting()
            yield from self.run(redirect.fetch)
            return
        self.carrier.unbridge(call)
        self.carrier.finish(call, status)

    def conference_participant(self, participant: Participant, ring_timeout: float) -> Flow:
        """A call placed by POST .../Participants.json: ring, join the conference once answered,
        and hang up when it leaves it (it has no TwiML of its own to go on with)."""
        call, rooms = self.call, self.carrier.conferencing
        try:
            outcome = yield from self.ring(ring_timeout)
        except CallOver as over:  # canceled (the conference ended, or DELETE) while ringing
            self.carrier.finish(call, over.status or "canceled")
            rooms.not_answered(participant, call.status)
            return
        if outcome != "answered":
            self.carrier.finish(call, outcome)
            rooms.not_answered(participant, outcome)
            return
        self.carrier.answer(call)
        if participant.conference.status == "completed":  # it ended while this call rang
            self.carrier.finish(call, "completed")
            return
        rooms.join(participant)
        status = "completed"
        try:
            yield from self.in_conference(participant, hangup_on_star=False)
        except CallOver as over:
            rooms.leave(participant, HUNG_UP)
            status = over.status or "completed"
        except Redirected as redirect:  # the app gave this call new TwiML: it leaves the conference
            rooms.leave(participant, REDIRECTED, call_status="in-progress")
            yield from self.run(redirect.fetch)
            return
        self.carrier.finish(call, status)

    def ring(self, timeout: float | None) -> Flow:
        """Ring this call's callee; returns 'answered', 'busy', 'no-answer' or 'failed'."""
        call = self.call
        self.carrier.set_status(call, "initiated")
        self.carrier.set_status(call, "ringing")
        endpoint = self.carrier.endpoint(call.to)
        behaviour = endpoint.behaviour
        if behaviour == "manual":
            call.wait_for("answer")
            event = yield Wait(timeout, frozenset({"answer", "reject"}))
            call.stop_waiting()
            if event is TIMEOUT:
                return "no-answer"
            return "answered" if event.kind == "answer" else "busy"
        if behaviour == "no-answer":
            yield Wait(timeout)
            return "no-answer"
        if endpoint.after:
            yield Wait(endpoint.after)
        return {"answer": "answered", "machine": "answered", "busy": "busy", "fail": "failed"}[behaviour]

    # ==== the main loop =====================================================================
    def run(self, first: Fetch) -> Flow:
        """Fetch and execute documents until the call ends; then finish it."""
        status: str | None = "completed"
        try:
            nxt: Fetch | None = first
            while nxt is not None:
                try:
                    doc = yield from self.load(nxt)
                    out = yield from self.run_document(doc, MAIN)
                    nxt = out if isinstance(out, Fetch) else None
                except Redirected as redirect:
                    self.call.stop_waiting()
                    self.call.note("event", text=f"redirected ({redirect.source})", url=redirect.fetch.url)
                    nxt = redirect.fetch
        except CallOver as over:
            status = over.status
        if status is None:  # the person hung up
            status = "completed" if self.call.answered_at is not None else "canceled"
        self.carrier.finish(self.call, status)

    def load(self, fetch: Fetch) -> Flow:
        """Get the next document, using the fallback URL or the application-error message on failure."""
        if fetch.twiml is not None:
            try:
                doc = twiml.parse(fetch.twiml, url=None)
            except twiml.TwimlError as exc:
                self.call.error(exc.code, f"inline TwiML: {exc}")
                yield from self.application_error()
            self.schema_warnings(doc)
            return doc
        doc, code, reason = self.fetch_document(fetch)
        if doc is not None:
            return doc
        self.call.error(code, f"{fetch.url}: {reason}")
        fallback = self.call.fallback_url
        if fallback and fetch.url != fallback:
            params = {**fetch.params, "ErrorCode": str(code), "ErrorUrl": fetch.url or ""}
            doc, code2, reason2 = self.fetch_document(Fetch(fallback, self.call.fallback_method, params))
            if doc is not None:
                return doc
            self.call.error(code2, f"fallback {fallback}: {reason2}")
        yield from self.application_error()

    def fetch_document(self, fetch: Fetch) -> tuple[Document | None, int, str]:
        """One TwiML request; returns (document, 0, '') or (None, error code, reason)."""
        if fetch.url is None:
            return None, twiml.INVALID_URL, "no absolute URL to request (inline TwiML needs absolute URLs)"
        result = self.carrier.request(self.call, fetch.method, fetch.url, fetch.params)
        doc, code, reason = interpret(result)
        if doc is not None:
            self.schema_warnings(doc)
        return doc, code, reason

    def schema_warnings(self, doc: Document) -> None:
        for text in doc.warnings:
            self.call.error(twiml.SCHEMA_WARNING, text)

    def application_error(self) -> Flow:
        """What the caller hears when there is no usable TwiML: the message, then hang-up."""
        if self.call.status == "ringing":
            self.carrier.answer(self.call)
        utterance = self.hear(
            "say", APPLICATION_ERROR, language="en-US", seconds=twiml.speaking_seconds(APPLICATION_ERROR)
        )
        yield Wait(utterance.seconds)
        raise CallOver("completed")

    def run_document(self, doc: Document, mode: Mode) -> Flow:
        for node in doc.verbs:
            if node.verb in twiml.UNSUPPORTED:
                self.call.note(
                    "warning", verb=node.verb, attrs=node.attrs, text=f"<{node.verb}> is not emulated; skipped"
                )
                continue
            if mode.allowed is not None and node.verb not in mode.allowed:
                self.call.error(twiml.SCHEMA_WARNING, f"<{node.verb}> is not allowed in {mode.name} TwiML")
                continue
            if mode is MAIN:
                self.pick_up_before(node)
            self.call.note(
                "verb", verb=node.verb, attrs=dict(node.attrs), text=node.text, url=doc.url, nouns=nouns_of(node)
            )
            out = yield from getattr(self, "verb_" + node.verb.lower())(node, doc, mode)
            if out is not None:
                return out
        return None

    def side_document(self, first: Fetch, mode: Mode) -> Flow:
        """Run a whisper or <Queue url> document (and any redirects) to its end."""
        nxt: Fetch | None = first
        while nxt is not None:
            doc, code, reason = self.fetch_document(nxt)
            if doc is None:
                self.call.error(code, f"{nxt.url}: {reason}")
                return
            out = yield from self.run_document(doc, mode)
            nxt = out if isinstance(out, Fetch) else None

    def pick_up_before(self, node: Node) -> None:
        """An inbound call is answered by its first verb, except: <Reject> never answers,
        <Pause> delays the pickup, <Dial answerOnBridge> waits for the callee, <Redirect> fetches first."""
        call = self.call
        if call.status != "ringing":
            return
        if node.verb in ("Reject", "Pause", "Redirect"):
            return
        if node.verb == "Dial" and truthy(node.attrs.get("answerOnBridge")):
            return
        self.carrier.answer(call)

    # ==== helpers ===========================================================================
    def hear(
        self,
        kind: str,
        text: str,
        *,
        language: str | None = None,
        voice: str | None = None,
        loop: int = 1,
        seconds: float = 0.0,
    ) -> Utterance:
        utterance = Utterance(kind, text, language, voice, loop, seconds)
        self.call.heard.append(utterance)
        return utterance

    def number(self, node: Node, name: str, default: float | None, minimum: float = 0) -> float | None:
        raw = node.attrs.get(name)
        if raw is None or raw.strip() == "":
            return default
        try:
            value = float(raw)
        except ValueError:
            value = None
        if value is None or value < minimum:
            self.call.error(twiml.SCHEMA_WARNING, f"invalid {name}={raw!r} on <{node.verb}>; using {default}")
            return default
        return value

    def method(self, node: Node, name: str, default: str = "POST") -> str:
        raw = node.attrs.get(name)
        if raw is None:
            return default
        if raw.upper() not in ("GET", "POST"):
            self.call.error(twiml.SCHEMA_WARNING, f"invalid {name}={raw!r} on <{node.verb}>")
            return default
        return raw.upper()

    def loops(self, node: Node) -> int:
        loop = self.number(node, "loop", 1)
        return twiml.LOOP_FOREVER if loop == 0 else int(loop or 1)

    def target(self, doc: Document, node: Node, name: str) -> str | None:
        """The URL in attribute `name` resolved against the document; the document's own URL if absent."""
        raw = node.attrs.get(name)
        if raw is None or raw.strip() == "":
            return doc.url
        return resolve(doc.url, raw)

    def utterance_for(self, node: Node, doc: Document) -> Utterance:
        """Say / Play / Pause as the caller hears it, with its duration."""
        if node.verb == "Pause":
            length = self.number(node, "length", 1.0) or 0.0
            return Utterance("pause", "", seconds=length)
        loop = self.loops(node)
        if node.verb == "Say":
            one = twiml.speaking_seconds(node.text)
            return Utterance(
                "say",
                node.text,
                node.attrs.get("language", "en-US"),
                node.attrs.get("voice"),
                loop,
                round(one * loop, 2),
            )
        digits = node.attrs.get("digits")
        if digits:
            return Utterance(
                "play", "digits:" + digits, loop=loop, seconds=round(twiml.digits_seconds(digits) * loop, 2)
            )
        url = resolve(doc.url, node.text) or node.text
        return Utterance("play", url, loop=loop, seconds=round(self.carrier.media_seconds(url) * loop, 2))

    def action_params(self, **params: Any) -> dict[str, str]:
        return {k: str(v) for k, v in params.items() if v is not None}

    def notify(self, fetch: Fetch | None, ended: bool = True) -> None:
        """Request an action URL whose TwiML cannot run (the call hung up, or was redirected
        elsewhere): Twilio still sends it, and ignores the answer."""
        if fetch is None or fetch.url is None:
            return
        self.carrier.request(self.call, fetch.method, fetch.url, fetch.params, status="completed" if ended else None)

    # ==== simple verbs ======================================================================
    def verb_say(self, node: Node, doc: Document, mode: Mode) -> Flow:
        utterance = self.utterance_for(node, doc)
        self.call.heard.append(utterance)
        if utterance.seconds:
            yield Wait(utterance.seconds)

    verb_play = verb_say
    verb_pause = verb_say

    def verb_redirect(self, node: Node, doc: Document, mode: Mode) -> Flow:
        url = resolve(doc.url, node.text) if node.text else None
        if url is None:
            self.call.error(twiml.INVALID_URL, f"<Redirect> to {node.text!r} cannot be resolved")
            if mode is MAIN:
                yield from self.application_error()
            return None
        return Fetch(url, self.method(node, "method"))
        yield  # pragma: no cover - makes this a generator

    def verb_hangup(self, node: Node, doc: Document, mode: Mode) -> Flow:
        raise CallOver("completed")
        yield  # pragma: no cover

    def verb_reject(self, node: Node, doc: Document, mode: Mode) -> Flow:
        reason = node.attrs.get("reason", "rejected")
        if reason not in ("rejected", "busy"):
            self.call.error(twiml.SCHEMA_WARNING, f"invalid reason={reason!r} on <Reject>")
            reason = "rejected"
        if self.call.answered_at is not None:
            raise CallOver("completed")
        # Never answered: Twilio ends it busy or no-answer (the mapping is our assumption).
        raise CallOver("busy" if reason == "busy" else "no-answer")
        yield  # pragma: no cover

    def verb_leave(self, node: Node, doc: Document, mode: Mode) -> Flow:
        if mode is WAIT:
            return LEAVE
        self.call.note("warning", verb="Leave", text="<Leave> outside a queue does nothing")
        return None
        yield  # pragma: no cover

    # ==== Gather ============================================================================
    def gather_settings(self, node: Node, doc: Document) -> dict[str, Any]:
        kinds = node.attrs.get("input", "dtmf").split()
        if not kinds or set(kinds) - {"dtmf", "speech"}:
            self.call.error(twiml.SCHEMA_WARNING, f"invalid input={node.attrs.get('input')!r} on <Gather>")
            kinds = ["dtmf"]
        timeout = self.number(node, "timeout", 5.0)
        speech_timeout = node.attrs.get("speechTimeout")
        if speech_timeout is not None and speech_timeout != "auto":
            speech_timeout = self.number(node, "speechTimeout", timeout)
        num_digits = self.number(node, "numDigits", None, minimum=1)
        finish = node.attrs.get("finishOnKey", "#")
        if set(finish) - set("0123456789*#"):
            self.call.error(twiml.SCHEMA_WARNING, f"invalid finishOnKey={finish!r} on <Gather>")
            finish = "#"
        settings = {
            **node.attrs,
            "input": " ".join(kinds),
            "action": self.target(doc, node, "action"),
            "method": self.method(node, "method"),
            "timeout": timeout,
            "speechTimeout": timeout if speech_timeout is None else speech_timeout,
            "numDigits": int(num_digits) if num_digits else None,
            "finishOnKey": finish,
            "actionOnEmptyResult": truthy(node.attrs.get("actionOnEmptyResult")),
            "language": node.attrs.get("language", "en-US"),
            "hints": node.attrs.get("hints"),
        }
        return settings

    def verb_gather(self, node: Node, doc: Document, mode: Mode) -> Flow:
        call = self.call
        settings = self.gather_settings(node, doc)
        accepts = frozenset(settings["input"].split())
        before = (call.waiting_for, call.human)
        call.gather = settings
        call.wait_for("gather")
        try:
            first = yield from self.gather_prompts(node, doc, accepts)
            if first is None:
                first = yield Wait(settings["timeout"], accepts)
            result = yield from self.gather_input(first, settings)
        finally:
            call.gather = None
            call.prompt_until = None
            call.wait_for(*before)
        if result is None:
            call.note("event", verb="Gather", text="no input")
            if not settings["actionOnEmptyResult"]:
                return None
            result = {}
        if settings["action"] is None:
            call.error(twiml.INVALID_URL, "<Gather> in inline TwiML needs an absolute action URL")
            yield from self.application_error()
        return Fetch(settings["action"], settings["method"], result)

    def gather_prompts(self, node: Node, doc: Document, accepts: frozenset[str]) -> Flow:
        """Play the nested Say/Play/Pause; input during them (barge-in) stops them and counts."""
        prompts = [self.utterance_for(child, doc) for child in node.children]
        self.call.prompt_until = self.now + sum(u.seconds for u in prompts)
        # All of the menu is in `heard` from the start, so a test reads it before choosing
        # (a barge-in still cuts the audio short on the clock).
        self.call.heard.extend(prompts)
        for utterance in prompts:
            event = yield Wait(utterance.seconds, accepts)
            if event is not TIMEOUT:
                self.call.note("event", verb="Gather", text=f"barge-in during {utterance.kind}")
                return event
        self.call.prompt_until = None
        return None

    def gather_input(self, first: Any, settings: dict[str, Any]) -> Flow:
        """Collect input after the first event; returns the action parameters, or None for no input."""
        if first is TIMEOUT:
            return None
        if first.kind == "speech":
            text, confidence = first.value
            self.call.stop_waiting()  # the caller talks, then the recogniser waits for the silence to end
            pause = settings["speechTimeout"]
            pause = SPEECH_END_AUTO if pause == "auto" else pause
            yield Wait(twiml.speaking_seconds(text) + pause)
            return self.action_params(SpeechResult=text, Confidence=confidence)
        digits, finished_on = "", ""
        event = first
        while event is not TIMEOUT:
            key = event.value
            if settings["finishOnKey"] and key in settings["finishOnKey"]:
                if not digits:
                    return None  # the finish key before any digit counts as no input
                finished_on = key
                break
            digits += key
            if settings["numDigits"] and len(digits) >= settings["numDigits"]:
                break
            event = yield Wait(settings["timeout"], frozenset({"dtmf"}))  # the first kind of input wins
        if not digits:
            return None
        return self.action_params(Digits=digits, FinishedOnKey=finished_on)

    # ==== Enqueue / Leave ===================================================================
    def verb_enqueue(self, node: Node, doc: Document, mode: Mode) -> Flow:
        call, carrier = self.call, self.carrier
        name = node.text
        if not name:
            call.error(twiml.SCHEMA_WARNING, "<Enqueue> without a queue name")
            return None
        action = resolve(doc.url, node.attrs["action"]) if node.attrs.get("action") else None
        method = self.method(node, "method")
        wait_url = node.attrs.get("waitUrl")  # None: Twilio's hold music; "": silence
        wait_method = self.method(node, "waitUrlMethod", "POST" if wait_url else "GET")
        if wait_url:
            wait_url = resolve(doc.url, wait_url)
        max_size = self.number(node, "maxQueueSize", None, minimum=1)
        queue = carrier.queue_named(name, max_size=int(max_size) if max_size else None)

        def after(result: str, enqueued: float | None) -> Fetch | None:
            if not action:
                return None
            params = {"QueueResult": result}
            if enqueued is not None:
                params.update(QueueSid=queue.sid, QueueTime=str(int(self.now - enqueued)))
            return Fetch(action, method, params)

        if len(queue) >= queue.max_size:
            call.note("event", verb="Enqueue", text=f"queue {name!r} is full")
            return after("queue-full", None)
        enqueued = self.now
        carrier.join_queue(queue, call)
        call.wait_for("queue")
        try:
            outcome = yield from self.wait_in_queue(queue, wait_url, wait_method)
        except Dequeued as dequeued:
            outcome = dequeued
        except CallOver:
            self.notify(after("hangup", enqueued))
            raise
        except Redirected:
            self.notify(after("redirected", enqueued), ended=False)
            raise
        finally:
            carrier.leave_queue(queue, call)
            call.stop_waiting()
        if outcome is LEAVE:
            return after("leave", enqueued)
        try:
            yield from self.bridged_from_queue(outcome, queue, enqueued)
        except CallOver:
            self.notify(after("bridged", enqueued))
            raise
        except Redirected:
            self.notify(after("redirected-from-bridged", enqueued), ended=False)
            raise
        call.stop_waiting()
        return after("bridged", enqueued)

    def wait_in_queue(self, queue: Queue, wait_url: str | None, method: str) -> Flow:
        """The waitUrl loop: its TwiML runs, and is requested again whenever it runs out."""
        self.call.queue_wait = queue
        try:
            if wait_url == "":
                yield from until_interrupted()  # silence until dequeued, redirected or hung up
            if wait_url is None:
                while True:
                    utterance = self.hear(
                        "play", DEFAULT_HOLD_MUSIC, seconds=self.carrier.media_seconds(DEFAULT_HOLD_MUSIC)
                    )
                    yield Wait(utterance.seconds)
            nxt = Fetch(wait_url, method)
            while True:
                started = self.now
                params = {**nxt.params, **self.carrier.queue_params(queue, self.call)}
                doc, code, reason = self.fetch_document(Fetch(nxt.url, nxt.method, params))
                if doc is None:
                    # Twilio's behaviour is undocumented here; we keep the caller queued, in silence.
                    self.call.error(code, f"waitUrl {nxt.url}: {reason}")
                    yield from until_interrupted()
                out = yield from self.run_document(doc, WAIT)
                if out is LEAVE:
                    return LEAVE
                nxt = out if isinstance(out, Fetch) else Fetch(wait_url, method)
                if self.now == started:
                    yield Wait(EMPTY_WAIT_GUARD)
        finally:
            self.call.queue_wait = None

    def bridged_from_queue(self, dequeued: Dequeued, queue: Queue, enqueued: float) -> Flow:
        """Picked by a <Dial><Queue>: hear the Queue url's TwiML, then talk until the bridge ends."""
        call, dialer = self.call, dequeued.dialer
        bridged = False
        try:
            if dequeued.url:
                params = {
                    "QueueSid": queue.sid,
                    "QueueTime": str(int(self.now - enqueued)),
                    "DequeingCallSid": dialer.sid,
                }
                yield from self.side_document(Fetch(dequeued.url, dequeued.method, params), QUEUE_URL)
            self.carrier.bridge(call, dialer)
            bridged = True
            self.carrier.send(dialer, Event("leg-bridged", call))
            call.wait_for("bridge")
            yield Wait(None, frozenset({"bridge-ended"}))
        except (CallOver, Redirected):
            self.carrier.send(dialer, Event("bridge-ended" if bridged else "leg-ended", call))
            raise
        finally:
            self.carrier.unbridge(call)

    # ==== Dial ==============================================================================
    def verb_dial(self, node: Node, doc: Document, mode: Mode) -> Flow:
        settings = {
            "action": resolve(doc.url, node.attrs["action"]) if node.attrs.get("action") else None,
            "method": self.method(node, "method"),
            "timeout": self.number(node, "timeout", 30.0, minimum=1),
            "timeLimit": self.number(node, "timeLimit", 14400.0, minimum=1),
            "hangupOnStar": truthy(node.attrs.get("hangupOnStar")),
            "record": node.attrs.get("record", "do-not-record"),
            "recording_callback": (
                resolve(doc.url, node.attrs["recordingStatusCallback"])
                if node.attrs.get("recordingStatusCallback")
                else None
            ),
            "recording_callback_method": self.method(node, "recordingStatusCallbackMethod"),
            "recording_callback_events": node.attrs.get("recordingStatusCallbackEvent", "completed")
            .replace(",", " ")
            .split(),
        }
        nouns = [child for child in node.children if child.verb in ("Number", "Client", "Queue", "Conference")]
        for child in node.children:
            if child.verb in twiml.UNSUPPORTED:
                self.call.note("warning", verb=child.verb, text=f"<Dial><{child.verb}> is not emulated")
        if not node.children and node.text:
            nouns = [Node("Number", text=node.text)]
        queues = [noun for noun in nouns if noun.verb == "Queue"]
        conferences = [noun for noun in nouns if noun.verb == "Conference"]
        try:
            if conferences:
                outcome = yield from self.dial_conference(conferences[0], settings, doc)
            elif queues:
                outcome = yield from self.dial_queue(queues[0], settings, doc)
            elif nouns:
                outcome = yield from self.dial_parties(nouns, settings, node, doc)
            else:
                self.call.note("event", verb="Dial", text="nothing to dial")
                outcome = DialOutcome("failed")
        except _DialEnded as ended:
            self.record_dial(ended.outcome, settings)
            if settings["action"] and ended.notify:
                self.notify(Fetch(settings["action"], settings["method"], ended.outcome.params()))
            raise ended.cause from None
        self.call.stop_waiting()
        self.record_dial(outcome, settings)
        if settings["action"]:
            return Fetch(settings["action"], settings["method"], outcome.params())
        return None

    def dial_parties(self, nouns: list[Node], settings: dict[str, Any], dial: Node, doc: Document) -> Flow:
        """Ring every Number/Client at once; the first to answer is bridged, the others canceled."""
        call, carrier = self.call, self.carrier
        caller_id = dial.attrs.get("callerId") or (call.from_ if call.direction == "inbound" else call.to)
        legs = [carrier.start_leg(call, noun, caller_id, doc.url) for noun in nouns]
        call.depends_on = legs
        call.wait_for("dial")  # ringing takes the time a test lets pass (call.wait), like a queue does
        deadline = self.now + settings["timeout"]
        pending, results, winner, timed_out = list(legs), [], None, False
        bridged_at: float | None = None
        try:
            while pending and winner is None:
                event = yield Wait(max(0.0, deadline - self.now), frozenset({"leg-result"}))
                if event is TIMEOUT:
                    timed_out = True
                    break
                leg, outcome = event.value
                if leg in pending:
                    pending.remove(leg)
                if outcome == "answered":
                    winner = leg
                else:
                    results.append(outcome)
            for leg in pending:
                carrier.throw(leg, CallOver("no-answer" if timed_out else "canceled"))
            pending = []
            if winner is None:
                return DialOutcome(dial_failure(results, timed_out), legs[-1].sid if legs else None)
            if call.status == "ringing":  # answerOnBridge: the caller is answered when the callee is
                carrier.answer(call)
            call.depends_on = [winner]
            call.wait_for("dial", human=False)  # the whisper plays to the callee: the clock runs
            carrier.send(winner, Event("connect", call))
            event = yield Wait(None, frozenset({"leg-bridged", "leg-ended"}))
            if event.kind == "leg-ended":
                return DialOutcome("completed", winner.sid, 0, bridged=False)
            bridged_at = self.now
            yield from self.stay_bridged(winner, settings, bridged_at)
            return DialOutcome("completed", winner.sid, int(self.now - bridged_at + 0.5), bridged=True)
        except (CallOver, Redirected) as exc:
            for leg in pending:
                carrier.throw(leg, CallOver("canceled"))
            if winner is not None and not winner.ended:
                if bridged_at is not None:
                    carrier.send(winner, Event("bridge-ended", call))
                else:
                    carrier.throw(winner, CallOver("completed"))
            if winner is not None:
                outcome = DialOutcome(
                    "completed",
                    winner.sid,
                    int(self.now - (bridged_at or self.now) + 0.5),
                    bridged=bridged_at is not None,
                )
            else:
                outcome = DialOutcome("canceled", legs[-1].sid if legs else None)
            raise _DialEnded(exc, outcome, notify=isinstance(exc, CallOver)) from None
        finally:
            call.depends_on = []

    def dial_queue(self, noun: Node, settings: dict[str, Any], doc: Document) -> Flow:
        """<Dial><Queue>: bridge to the caller at the front (waiting up to `timeout` for one)."""
        call, carrier = self.call, self.carrier
        queue = carrier.queues.get(noun.text)
        if queue is None:
            call.note("event", verb="Dial", text=f"no queue named {noun.text!r}")
            return DialOutcome("failed")
        url = resolve(doc.url, noun.attrs["url"]) if noun.attrs.get("url") else None
        method = self.method(noun, "method")
        deadline = self.now + settings["timeout"]
        member: Call | None = None
        bridged_at: float | None = None
        queue_params: dict[str, str] = {}
        try:
            while True:
                candidate = carrier.front_member(queue)
                if candidate is None:
                    call.wait_for("dial")  # a person has to call in before anything happens
                    carrier.watch_queue(queue, call)
                    event = yield Wait(max(0.0, deadline - self.now), frozenset({"member-arrived"}))
                    carrier.unwatch_queue(queue, call)
                    if event is TIMEOUT:
                        return DialOutcome("no-answer")
                    continue
                member = candidate
                enqueued = queue.enqueued_at.get(member.sid, self.now)
                carrier.take_from_queue(queue, member, Dequeued(call, url, method, queue))
                call.depends_on = [member]
                call.wait_for("dial", human=False)
                event = yield Wait(None, frozenset({"leg-bridged", "leg-ended"}))
                if event.kind == "leg-bridged":
                    break
                member = None  # gone before the bridge: try the next one
            queue_params.update(QueueSid=queue.sid, QueueTime=str(int(self.now - enqueued)))
            bridged_at = self.now
            yield from self.stay_bridged(member, settings, bridged_at)
            return DialOutcome("completed", member.sid, int(self.now - bridged_at + 0.5), True, queue_params)
        except (CallOver, Redirected) as exc:
            carrier.unwatch_queue(queue, call)
            if member is not None and bridged_at is not None:
                carrier.send(member, Event("bridge-ended", call))
            duration = int(self.now - bridged_at + 0.5) if bridged_at is not None else 0
            status = "completed" if member is not None else "canceled"
            outcome = DialOutcome(
                status, member.sid if member else None, duration, bridged_at is not None, queue_params
            )
            raise _DialEnded(exc, outcome, notify=isinstance(exc, CallOver)) from None
        finally:
            call.depends_on = []

    def dial_conference(self, noun: Node, settings: dict[str, Any], doc: Document) -> Flow:
        """<Dial><Conference>: join the named room; the Dial ends when the call leaves it
        (removed, the conference ended, '*' with hangupOnStar), then the action or the next verb."""
        call, carrier = self.call, self.carrier
        rooms = carrier.conferencing
        if not noun.text:
            call.error(twiml.SCHEMA_WARNING, "<Conference> without a name")
            return DialOutcome("failed")
        if call.status == "ringing":
            carrier.answer(call)
        options, room_settings = self.conference_options(noun, doc)
        room = rooms.find_or_create(noun.text)
        rooms.configure(room, room_settings)
        if len(room.connected) >= room.max_participants:
            call.note("event", verb="Dial", text=f"conference {noun.text!r} is full")
            return DialOutcome("failed")
        participant = rooms.add(room, call, "twiml", options)
        rooms.join(participant)
        joined = self.now
        try:
            yield from self.in_conference(participant, settings["hangupOnStar"])
        except (CallOver, Redirected) as exc:
            hung_up = isinstance(exc, CallOver)
            rooms.leave(
                participant, HUNG_UP if hung_up else REDIRECTED, call_status="completed" if hung_up else "in-progress"
            )
            outcome = DialOutcome("answered", duration=int(self.now - joined + 0.5), bridged=True)
            raise _DialEnded(exc, outcome, notify=hung_up) from None
        return DialOutcome("answered", duration=int(self.now - joined + 0.5), bridged=True)

    def conference_options(self, noun: Node, doc: Document) -> tuple[dict[str, Any], dict[str, Any]]:
        """A <Conference> noun's attributes: the participant's, and the conference-wide ones."""
        attrs = noun.attrs
        for name in ("muted", "startConferenceOnEnter", "endConferenceOnExit"):
            if name in attrs and attrs[name].strip().lower() not in ("true", "false"):
                self.call.error(twiml.SCHEMA_WARNING, f"invalid {name}={attrs[name]!r} on <Conference>")
        beep = attrs.get("beep", "true")
        if beep not in BEEP_VALUES:
            beep = "true" if beep.strip().lower() == "true" else "false" if beep.strip().lower() == "false" else "true"
        coach = attrs.get("coach") or None
        wait_url = attrs.get("waitUrl")
        options = {
            "label": attrs.get("participantLabel") or None,
            "muted": flag(attrs.get("muted"), False),
            "beep": beep,
            "start_conference_on_enter": flag(attrs.get("startConferenceOnEnter"), True),
            "end_conference_on_exit": flag(attrs.get("endConferenceOnExit"), False),
            "wait_url": resolve(doc.url, wait_url) if wait_url else wait_url,
            "wait_method": self.method(noun, "waitMethod"),
            "coaching": coach is not None,
            "call_sid_to_coach": coach,
        }
        callback = attrs.get("statusCallback")
        recording_callback = attrs.get("recordingStatusCallback")
        room = {
            "status_callback": resolve(doc.url, callback) if callback else None,
            "status_callback_method": self.method(noun, "statusCallbackMethod"),
            "status_callback_events": event_words(attrs.get("statusCallbackEvent"), ("start", "end")),
            "max_participants": self.number(noun, "maxParticipants", None, minimum=2),
            "record": attrs.get("record", "do-not-record") == "record-from-start",
            "recording_callback": resolve(doc.url, recording_callback) if recording_callback else None,
            "recording_callback_method": self.method(noun, "recordingStatusCallbackMethod"),
            "recording_callback_events": event_words(attrs.get("recordingStatusCallbackEvent"), ("completed",)),
        }
        return options, room

    def in_conference(self, participant: Participant, hangup_on_star: bool) -> Flow:
        """Be in the conference until removed or it ends: hear the wait music before it starts,
        the hold music while on hold, and the others (see conferencing.audience) otherwise."""
        call = self.call
        call.wait_for("conference")
        call.listening = True
        try:
            while participant.connected:
                try:
                    if participant.conference.status == "init":
                        yield from self.conference_music(participant.wait_url, participant.wait_method, CONFERENCE_WAIT)
                    elif participant.hold:
                        yield from self.conference_music(participant.hold_url, participant.hold_method, CONFERENCE_HOLD)
                    else:
                        event = yield Wait(None, frozenset({"dtmf"} if hangup_on_star else ()))
                        if event.value == "*":
                            self.carrier.conferencing.leave(participant, LEFT_BY_KEY)
                except ConferenceChanged:
                    continue
        finally:
            call.listening = False
            call.stop_waiting()

    def conference_music(self, url: str | None, method: str, mode: Mode) -> Flow:
        """Wait or hold music until interrupted: Twilio's music (None), silence (''), or a
        document requested again each time it has played out."""
        if url == "":
            yield from until_interrupted()
        if url is None:
            while True:
                utterance = self.hear(
                    "play", DEFAULT_HOLD_MUSIC, seconds=self.carrier.media_seconds(DEFAULT_HOLD_MUSIC)
                )
                yield Wait(utterance.seconds)
        nxt = Fetch(url, method)
        while True:
            started = self.now
            doc, code, reason = self.fetch_document(nxt)
            if doc is None:
                # Undocumented: we keep the participant where it is, in silence.
                self.call.error(code, f"{mode.name} {nxt.url}: {reason}")
                yield from until_interrupted()
            out = yield from self.run_document(doc, mode)
            nxt = out if isinstance(out, Fetch) else Fetch(url, method)
            if self.now == started:
                yield Wait(EMPTY_WAIT_GUARD)

    def stay_bridged(self, other: Call, settings: dict[str, Any], bridged_at: float) -> Flow:
        """Talk until the other side leaves, timeLimit passes, or '*' with hangupOnStar."""
        call = self.call
        call.wait_for("bridge")
        accepts = {"bridge-ended"} | ({"dtmf"} if settings["hangupOnStar"] else set())
        limit = bridged_at + settings["timeLimit"]
        try:
            while True:
                event = yield Wait(max(0.0, limit - self.now), frozenset(accepts))
                if event is not TIMEOUT and event.kind == "bridge-ended":
                    return
                if event is TIMEOUT or event.value == "*":
                    self.carrier.send(other, Event("bridge-ended", call))
                    return
        finally:
            self.carrier.unbridge(call)
            call.stop_waiting()

    def record_dial(self, outcome: DialOutcome, settings: dict[str, Any]) -> None:
        """<Dial record="..."> stores a recording of the bridged conversation."""
        if settings["record"] in ("do-not-record", "false") or not outcome.bridged:
            return
        recording = self.carrier.store_recording(
            self.call, outcome.duration, self.now - outcome.duration, source="DialVerb"
        )
        outcome.extra.update(
            RecordingUrl=recording.url, RecordingSid=recording.sid, RecordingDuration=str(recording.duration)
        )
        # Posted whatever ended the Dial (a hang-up, a redirect by the REST API), unlike the action.
        if settings["recording_callback"] and "completed" in settings["recording_callback_events"]:
            self.carrier.recording_callback(
                self.call, settings["recording_callback"], settings["recording_callback_method"], recording, "completed"
            )

    # ==== Record ============================================================================
    def verb_record(self, node: Node, doc: Document, mode: Mode) -> Flow:
        call = self.call
        action = self.target(doc, node, "action")
        method = self.method(node, "method")
        timeout = self.number(node, "timeout", 5.0)
        finish = node.attrs.get("finishOnKey", "1234567890*#")
        max_length = self.number(node, "maxLength", 3600.0, minimum=1)
        trim = node.attrs.get("trim", "trim-silence") != "do-not-trim"
        if node.attrs.get("playBeep", "true").lower() != "false":
            yield Wait(self.hear("play", "beep", seconds=twiml.BEEP_SECONDS).seconds)
        before = (call.waiting_for, call.human)
        call.wait_for("record")
        start = self.now
        speech: list[tuple[float, float, str]] = []
        digits = None
        try:
            digits = yield from self.recording(start, timeout, max_length, finish, speech)
        except CallOver:
            recording = self.finish_recording(node, doc, start, speech, trim)
            if recording and action:
                self.notify(Fetch(action, method, self.recording_params(recording, "hangup")))
            raise
        finally:
            call.wait_for(*before)
        recording = self.finish_recording(node, doc, start, speech, trim)
        if recording is None:
            call.note("event", verb="Record", text="empty recording: continuing with the next verb")
            return None
        if action is None:
            call.error(twiml.INVALID_URL, "<Record> in inline TwiML needs an absolute action URL")
            yield from self.application_error()
        return Fetch(action, method, self.recording_params(recording, digits))

    def recording(
        self, start: float, timeout: float, max_length: float, finish: str, speech: list[tuple[float, float, str]]
    ) -> Flow:
        """Record until `timeout` s of silence, a finish key, or maxLength; returns the key, if any."""
        call = self.call
        last_sound = start
        end = start + max_length
        while True:
            deadline = min(end, last_sound + timeout) if timeout else end
            event = yield Wait(max(0.0, deadline - self.now), frozenset({"dtmf", "speech"}))
            if event is TIMEOUT:
                return None
            if event.kind == "dtmf":
                if event.value in finish:
                    return event.value
                continue
            text = event.value[0]
            began = self.now
            call.stop_waiting()  # the caller is talking; the clock must run through it
            yield Wait(min(twiml.speaking_seconds(text), end - self.now))
            call.wait_for("record")
            speech.append((began, self.now, text))
            last_sound = self.now
            if self.now >= end:
                return None

    def finish_recording(
        self, node: Node, doc: Document, start: float, speech: list[tuple[float, float, str]], trim: bool
    ) -> Recording | None:
        """Store the recording (None if it is empty) and post its status callback."""
        trimmed = speech[-1][1] - speech[0][0] if speech else 0.0
        duration = trimmed if trim else self.now - start
        callback = node.attrs.get("recordingStatusCallback")
        events = node.attrs.get("recordingStatusCallbackEvent", "completed").replace(",", " ").split()
        callback_url = resolve(doc.url, callback) if callback else None
        callback_method = self.method(node, "recordingStatusCallbackMethod")
        if not speech and (trim or duration < 0.5):
            if callback_url and "absent" in events:
                self.carrier.recording_callback(self.call, callback_url, callback_method, None, "absent")
            return None
        recording = self.carrier.store_recording(
            self.call,
            int(duration + 0.5),
            speech[0][0] if speech else start,
            text=" ".join(text for _, _, text in speech),
        )
        if callback_url and "completed" in events:
            self.carrier.recording_callback(self.call, callback_url, callback_method, recording, "completed")
        return recording

    def recording_params(self, recording: Recording, digits: str | None) -> dict[str, str]:
        return self.action_params(
            RecordingUrl=recording.url, RecordingDuration=recording.duration, RecordingSid=recording.sid, Digits=digits
        )


class _DialEnded(Exception):
    """Carries the Dial's outcome out of an interrupted dial, so its action can be notified."""

    def __init__(self, cause: BaseException, outcome: DialOutcome, notify: bool):
        super().__init__(cause)
        self.cause = cause
        self.outcome = outcome
        self.notify = notify


def until_interrupted() -> Flow:
    """Wait (in silence) for something from outside: a dequeue, a redirect, a hang-up."""
    while True:
        yield Wait(None)


def nouns_of(node: Node) -> list[dict[str, Any]]:
    """A verb's children for the log; a bare <Dial>number</Dial> counts as a <Number>."""
    if node.verb == "Dial" and not node.children and node.text:
        return [{"noun": "Number", "text": node.text, "attrs": {}}]
    return [{"noun": child.verb, "text": child.text, "attrs": dict(child.attrs)} for child in node.children]


def dial_failure(results: list[str], timed_out: bool) -> str:
    """DialCallStatus when nobody answered. With several nouns Twilio does not document the
    rule; we report busy/failed only when every leg ended that way, else no-answer."""
    if timed_out or not results:
        return "no-answer"
    if all(r == "busy" for r in results):
        return "busy"
    if all(r == "failed" for r in results):
        return "failed"
    return "no-answer"


def interpret(result: HttpResult) -> tuple[Document | None, int, str]:
    """Turn an HTTP answer into TwiML, by Twilio's rules for status codes and MIME types."""
    if result.error:
        return None, result.error, result.reason
    if not 200 <= (result.status or 0) < 300:
        return None, twiml.HTTP_RETRIEVAL_FAILURE, f"HTTP {result.status}"
    kind = result.content_type
    if kind in TWIML_TYPES or kind == "text/plain":
        try:
            return twiml.parse(result.body, url=result.url), 0, ""
        except twiml.TwimlError as exc:
            if kind != "text/plain":
                return None, exc.code, str(exc)
            # Plain text that is not TwiML is read to the caller, then the call hangs up.
            text = result.text.strip()
            return Document(result.url, [Node("Say", text=text), Node("Hangup")]), 0, ""
    if kind.startswith("audio/"):
        return Document(result.url, [Node("Play", text=result.url), Node("Hangup")]), 0, ""
    return None, twiml.INVALID_CONTENT_TYPE, f"Content-Type {kind or 'missing'!r} is not TwiML"


__all__ = ["LEAVE", "CallFlow", "Fetch", "interpret"]
