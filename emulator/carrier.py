"""The carrier: numbers, endpoints, calls, queues, messages, and the clock that drives them.

Threading model. Everything that changes the simulation runs on one "driver" at
a time (a re-entrant lock). The thread that drives is whoever asked for
something: a test calling carrier/call methods, or a REST/control request that
finds the carrier idle. A REST request that arrives while the carrier is busy
(typically: the app calls the REST API from inside a webhook the carrier is
waiting on) is queued in an inbox and run by the current driver as soon as its
current step ends, exactly like a real carrier handling it "a moment later".
"""

from __future__ import annotations

import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from email.utils import format_datetime
from typing import Any

import requests

from . import twiml
from .call import Call, CallOver, Dequeued, Event, Process, Redirected, require_live
from .clock import VirtualClock
from .conferencing import ENDED_BY_API, Conferences
from .flow import CallFlow, Fetch
from .model import (
    ENDPOINT_BEHAVIOURS,
    Conference,
    Delivery,
    EmulatorError,
    Endpoint,
    Message,
    NumberConfig,
    Participant,
    Queue,
    Recording,
    new_sid,
)
from .twiml import Node
from .webhooks import Webhooks, resolve

DEFAULT_ACCOUNT_SID = "AC" + "0" * 32
TWILIO_API = "https://api.twilio.com"
API_VERSION = "2010-04-01"
MAX_SETTLE_STEPS = 20_000  # a call that never needs its person again is an endless loop
LONGEST_PROMPT_TO_WAIT_OUT = 300.0  # press() after a longer prompt barges in instead
MESSAGE_SENT_AFTER = 1.0  # seconds from an SMS being queued to sent ...
MESSAGE_DELIVERED_AFTER = 2.0  # ... and to delivered
SIP_CODES = {"completed": "200", "busy": "486", "no-answer": "480", "canceled": "487", "failed": "503"}
STATUS_EVENTS = {"initiated": "initiated", "ringing": "ringing", "in-progress": "answered"}


def rfc2822(carrier: Carrier, t: float) -> str:
    return format_datetime(carrier.clock.at(t))


class Carrier:
    """Plays Twilio's part for the app: see the package docstring for the whole API."""

    def __init__(
        self, account_sid: str = DEFAULT_ACCOUNT_SID, auth_token: str = "secret", clock: VirtualClock | None = None
    ):
        self.account_sid = account_sid
        self.auth_token = auth_token
        self.clock = clock or VirtualClock()
        self.webhooks = Webhooks(auth_token)
        self.numbers: dict[str, NumberConfig] = {}
        self.endpoints: dict[str, Endpoint] = {}
        self.calls: list[Call] = []
        self.queues: dict[str, Queue] = {}
        self.messages: list[Message] = []
        self.recordings: dict[str, Recording] = {}
        self.conferencing = Conferences(self)  # the rooms and what happens in them (flow.py and rest.py use it too)
        self.media: dict[str, float] = {}  # Play URL -> seconds (default twiml.DEFAULT_PLAY_SECONDS)
        self.held_status_callbacks: list[Delivery] = []
        self.base_url: str | None = None  # set by serve()
        self._by_sid: dict[str, Call] = {}
        self._driver = threading.RLock()
        self._inbox: deque[Callable[[], None]] = deque()
        self._holding = False
        self.message_failures: deque[int] = deque()  # fail_next_messages: rest.py answers these statuses first
        self._queue_watchers: dict[str, list[Call]] = {}
        self.callback_session = requests.Session()  # status callbacks (of calls, messages, conferences)
        self._server: Any = None
        self._server_thread: threading.Thread | None = None
        self._ticker_stop: threading.Event | None = None
        # In real time: (wall clock origin, virtual origin, speed); the clock never passes
        # virtual origin + elapsed wall time x speed. `_wake` lets a driver waiting for the wall
        # clock give the driver lock to others (the clock thread, other REST or control requests).
        self._pace: tuple[float, float, float] | None = None
        self._tick = 0.05
        self._wake = threading.Condition(self._driver)

    # ==== configuration =======================================================================
    def add_number(
        self,
        number: str,
        voice_url: str,
        status_callback: str | None = None,
        status_events: Iterable[str] = ("completed",),
        fallback_url: str | None = None,
        *,
        voice_method: str = "POST",
        status_callback_method: str = "POST",
        fallback_method: str = "POST",
        sms_url: str | None = None,
    ) -> NumberConfig:
        """Give the carrier a number and point it at the app, like Twilio's console does."""
        config = NumberConfig(
            number,
            voice_url,
            voice_method.upper(),
            status_callback,
            status_callback_method.upper(),
            tuple(status_events),
            fallback_url,
            fallback_method.upper(),
            sms_url=sms_url,
        )
        self.numbers[number] = config
        return config

    def text_in(self, from_: str, body: str, to: str | None = None) -> str:
        """A patient's phone texts one of our numbers (the first, if `to` is not given): the
        carrier posts it, signed, to the number's sms_url as Twilio does ('A message comes
        in'), and the text of the app's <Message> reply comes back ('' without one)."""
        import xml.etree.ElementTree as ET

        number = self.numbers[to] if to else next(iter(self.numbers.values()))
        if not number.sms_url:
            raise LookupError(f"{number.number} has no sms_url: add_number(..., sms_url=...)")
        sid = new_sid("SM")
        params = {
            "MessageSid": sid,
            "SmsSid": sid,
            "SmsMessageSid": sid,
            "AccountSid": self.account_sid,
            "From": from_,
            "To": number.number,
            "Body": body,
            "NumMedia": "0",
            "NumSegments": "1",
            "ApiVersion": API_VERSION,
        }
        result = self.webhooks.request(self.callback_session, "POST", number.sms_url, params)
        if result.status != 200:
            raise RuntimeError(f"the app answered the text with HTTP {result.status}: {result.text[:200]}")
        if not result.body.strip():
            return ""
        reply = ET.fromstring(result.body).find("Message")
        return "" if reply is None else "".join(reply.itertext()).strip()

    def set_endpoint(self, target: str, behaviour: str = "answer", after: float = 0.0) -> Endpoint:
        """What a number or client ('client:agent7') outside the app does when rung:
        'answer' | 'busy' | 'no-answer' | 'fail' | 'machine' | 'manual' (answered by hand),
        after `after` seconds of ringing."""
        if behaviour not in ENDPOINT_BEHAVIOURS:
            raise ValueError(f"behaviour must be one of {ENDPOINT_BEHAVIOURS}")
        endpoint = Endpoint(target, behaviour, after)
        self.endpoints[target] = endpoint
        return endpoint

    def endpoint(self, target: str) -> Endpoint:
        """What a dialled number or client does: as set by set_endpoint, else rings until answered by hand."""
        return self.endpoints.get(target) or Endpoint(target)

    def set_media_duration(self, url: str, seconds: float) -> None:
        """How long the audio at `url` plays (for <Play>); unknown files last DEFAULT_PLAY_SECONDS."""
        self.media[url] = seconds

    def media_seconds(self, url: str) -> float:
        """How long a <Play> of `url` lasts (set_media_duration, else DEFAULT_PLAY_SECONDS)."""
        return self.media.get(url, twiml.DEFAULT_PLAY_SECONDS)

    # ==== calls ===============================================================================
    def dial(self, to: str, from_: str = "+8613800138000") -> Call:
        """An inbound call to one of our numbers; runs until the caller is needed or the call ends."""
        number = self.numbers.get(to)
        if number is None:
            raise EmulatorError(f"{to} is not a number of this carrier: add_number() it first")
        with self._driving():
            call = Call(self, sid=new_sid("CA"), direction="inbound", to=to, from_=from_)
            call.status_callback = number.status_callback
            call.status_callback_method = number.status_callback_method
            call.status_events = number.status_events
            call.fallback_url, call.fallback_method = number.fallback_url, number.fallback_method
            self.register(call)
            self._spawn(call, CallFlow(self, call).inbound(Fetch(number.voice_url, number.voice_method)))
            self._settle(call)
        return call

    def create_call(
        self,
        to: str,
        from_: str,
        url: str | None = None,
        twiml: str | None = None,
        *,
        method: str = "POST",
        status_callback: str | None = None,
        status_callback_event: Iterable[str] = ("completed",),
        status_callback_method: str = "POST",
        timeout: float = 60,
        machine_detection: str | None = None,
        send_digits: str | None = None,
        fallback_url: str | None = None,
        fallback_method: str = "POST",
    ) -> Call:
        """What POST /Calls.json does: an outbound-api call to an endpoint, running `url` (or `twiml`)
        once answered. Like the REST API, it returns at once; the call rings on the clock."""
        call = self.new_outbound(
            to, from_, status_callback, status_callback_event, status_callback_method, fallback_url, fallback_method
        )
        first = Fetch(url, method.upper()) if url else Fetch(None, twiml=twiml or "<Response/>")
        with self._driving():
            self.start_outbound(call, first, timeout, machine_detection, send_digits)
        return call

    def get_call(self, sid: str) -> Call:
        """A call by its SID, ended ones too; LookupError if none."""
        try:
            return self._by_sid[sid]
        except KeyError:
            raise LookupError(f"no call {sid}") from None

    def ringing(self, target: str | None = None) -> Call:
        """The oldest call ringing `target` (e.g. 'client:agent7') that waits to be answered by hand."""
        with self._driving():
            pass
        for call in list(self.calls):
            if (
                call.waiting_for == "answer"
                and not call.ended
                and (target is None or call.to in (target, "client:" + target))
            ):
                return call
        raise LookupError(f"nothing is ringing {target or 'anywhere'}")

    def update_call(
        self,
        sid: str,
        url: str | None = None,
        twiml: str | None = None,
        *,
        method: str = "POST",
        status: str | None = None,
    ) -> Call:
        """What POST /Calls/{sid}.json does: redirect a live call to new TwiML, or end it."""
        call = self.get_call(sid)
        if (url or twiml) and not status and call.status != "in-progress":
            raise EmulatorError(f"{sid} is {call.status}: only a call in progress can be redirected (Twilio: 21220)")
        with self._driving():
            self.update(call, url, twiml, method, status)
            self._settle(call)
        return call

    def advance(self, seconds: float) -> None:
        """Let time pass for every call."""
        with self._driving():
            self._advance(seconds)

    def run_pending(self) -> None:
        """Run whatever is due now (work queued by REST requests, events at this instant)."""
        with self._driving():
            pass

    # ==== queues ==============================================================================
    def create_queue(self, friendly_name: str, max_size: int = 1000) -> Queue:
        """What POST /Queues.json does: the queue of that name, made if new."""
        with self._driving():
            return self.queue_named(friendly_name, max_size)

    def queue_by_sid(self, sid: str) -> Queue:
        """A queue by its SID; LookupError if none."""
        for queue in list(self.queues.values()):
            if queue.sid == sid:
                return queue
        raise LookupError(f"no queue {sid}")

    def dequeue(self, queue: str | Queue, member: str = "Front", url: str = "", method: str = "POST") -> Call:
        """What POST /Queues/{sid}/Members/{CA|Front}.json does: take a caller out into new TwiML."""
        with self._driving():
            queue_obj, call = self.pick_member(queue, member)
            self.redirect_member(queue_obj, call, Fetch(url, method.upper()))
            self._settle(call)
            return call

    # ==== conferences ===========================================================================
    @property
    def conferences(self) -> dict[str, Conference]:
        """Every conference by SID, ended ones too."""
        return self.conferencing.rooms

    def conference(self, sid_or_name: str) -> Conference:
        """A conference by SID, or by the name of one that has not ended; LookupError if none."""
        return self.conferencing.get(sid_or_name)

    def add_participant(
        self,
        conference: str,
        to: str,
        from_: str,
        *,
        label: str | None = None,
        timeout: float = 60,
        muted: bool = False,
        beep: str = "true",
        start_conference_on_enter: bool = True,
        end_conference_on_exit: bool = False,
        wait_url: str | None = None,
        wait_method: str = "POST",
        early_media: bool = True,
        coaching: bool = False,
        call_sid_to_coach: str | None = None,
        status_callback: str | None = None,
        status_callback_event: Iterable[str] = ("completed",),
        status_callback_method: str = "POST",
        conference_status_callback: str | None = None,
        conference_status_callback_event: Iterable[str] = ("start", "end"),
        conference_status_callback_method: str = "POST",
        conference_record: bool = False,
        max_participants: int | None = None,
    ) -> Participant:
        """What POST /Conferences/{sid or name}/Participants.json does: ring `to` and put it in
        the conference (created by name if need be) once it answers."""
        participant = self.new_participant(
            conference,
            to,
            from_,
            status_callback,
            status_callback_event,
            status_callback_method,
            {
                "label": label,
                "muted": muted,
                "beep": beep,
                "start_conference_on_enter": start_conference_on_enter,
                "end_conference_on_exit": end_conference_on_exit,
                "wait_url": wait_url,
                "wait_method": wait_method,
                "early_media": early_media,
                "coaching": coaching,
                "call_sid_to_coach": call_sid_to_coach,
            },
            {
                "status_callback": conference_status_callback,
                "status_callback_method": conference_status_callback_method,
                "status_callback_events": tuple(conference_status_callback_event),
                "record": conference_record,
                "max_participants": max_participants,
            },
        )
        with self._driving():
            self.start_participant(participant, timeout)
        return participant

    def update_participant(self, conference: str, participant: str, **changes: Any) -> Participant:
        """What POST /Conferences/{sid}/Participants/{CallSid or label}.json does: muted, hold,
        hold_url, hold_method, announce_url, announce_method, wait_url, wait_method, beep_on_exit,
        end_conference_on_exit, coaching, call_sid_to_coach."""
        with self._driving():
            found = self.participant(conference, participant)
            self.conferencing.update(found, changes)
            self._settle(found.call)
        return found

    def remove_participant(self, conference: str, participant: str) -> None:
        """What DELETE /Conferences/{sid}/Participants/{CallSid or label}.json does."""
        with self._driving():
            found = self.participant(conference, participant)
            self.conferencing.kick(found)
            self._settle(found.call)

    def end_conference(self, conference: str) -> Conference:
        """What POST /Conferences/{sid}.json with Status=completed does."""
        with self._driving():
            room = self.conference(conference)
            self.conferencing.end(room, ENDED_BY_API)
        return room

    def announce(self, conference: str, url: str, method: str = "POST") -> None:
        """What POST /Conferences/{sid}.json with AnnounceUrl does: everyone present hears it."""
        with self._driving():
            room = self.conference(conference)
            self.conferencing.announce(room, [p for p in room.connected if not p.hold], url, method)

    # ==== messages ============================================================================
    def send_message(
        self,
        to: str,
        body: str,
        from_: str | None = None,
        messaging_service_sid: str | None = None,
        status_callback: str | None = None,
    ) -> Message:
        """What POST /Messages.json does: queue a text, then sent and delivered on the clock."""
        message = self.new_message(to, body, from_, messaging_service_sid, status_callback)
        with self._driving():
            self.progress_message(message)
        return message

    def fail_next_messages(self, n: int, status: int = 500) -> None:
        """The next `n` POST /Messages.json requests fail with HTTP `status` (to test the app's retries)."""
        self.message_failures.extend([status] * n)

    # ==== status callbacks: duplicates and disorder ==========================================================
    def hold_status_callbacks(self, hold: bool = True) -> None:
        """Keep status callbacks (calls, messages, recordings) in held_status_callbacks instead of posting them."""
        self._holding = hold

    def release_status_callbacks(self, order: str | Iterable[int] | None = None) -> list[Delivery]:
        """Post the held callbacks: as fired (None), 'reverse', or in the order of the given indexes."""
        with self._driving():
            held, self.held_status_callbacks = self.held_status_callbacks, []
            self._holding = False
            if order == "reverse":
                chosen = list(reversed(held))
            elif order is None:
                chosen = held
            else:
                chosen = [held[i] for i in order]  # type: ignore[union-attr]
            for delivery in chosen:
                self._deliver(delivery)
        return chosen

    def deliver_callbacks(self, deliveries: Iterable[Delivery]) -> None:
        """Post these callbacks (again), in this order."""
        with self._driving():
            for delivery in deliveries:
                self._deliver(delivery)

    def repost_status(
        self, target: Call | Message | Conference | str, times: int = 1, sequence: int | None = None
    ) -> Delivery:
        """Post a status callback again, `times` more times: the latest one, or SequenceNumber `sequence`
        (for a message, the index among its callbacks). Same parameters, same signature."""
        owner = self._owner(target)
        candidates = [d for d in owner.deliveries if isinstance(owner, Message) or d.sequence_number is not None]
        if not candidates:
            raise LookupError(f"{owner.sid} has had no status callback")
        if sequence is None:
            delivery = candidates[-1]
        elif isinstance(owner, Message):
            delivery = candidates[sequence]
        else:
            delivery = next((d for d in candidates if d.sequence_number == sequence), None)
            if delivery is None:
                raise LookupError(f"{owner.sid} has no callback with SequenceNumber {sequence}")
        self.deliver_callbacks([delivery] * times)
        return delivery

    # ==== serving ===============================================================================
    def rest_app(self) -> Any:
        """The WSGI app: Twilio's REST API (the subset the hotline uses) and the /_emulator control API."""
        from .rest import RestApp

        return RestApp(self)

    def serve(self, host: str = "127.0.0.1", port: int = 0) -> str:
        """Serve rest_app() on a thread; returns its base URL."""
        from werkzeug.serving import make_server

        if self._server is not None:
            raise EmulatorError("already serving at " + (self.base_url or "?"))
        self._server = make_server(host, port, self.rest_app(), threaded=True)
        self.base_url = f"http://{host}:{self._server.server_port}"
        self._server_thread = threading.Thread(
            target=self._server.serve_forever, kwargs={"poll_interval": 0.05}, name="carrier-rest", daemon=True
        )
        self._server_thread.start()
        return self.base_url

    def stop(self) -> None:
        """Stop serving (serve) and the real-time clock (start_realtime)."""
        if self._ticker_stop is not None:
            self._ticker_stop.set()
            self._ticker_stop = None
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            if self._server_thread is not None:
                self._server_thread.join(timeout=5)
            self._server = self._server_thread = None

    def start_realtime(self, speed: float = 1.0, tick: float = 0.05) -> None:
        """Let the virtual clock follow the wall clock (for demos and a person on the phone).

        From now on nothing moves the clock past the wall clock: a call method that would
        (a prompt to hear out, `call.wait(n)`, `advance(n)`) waits for real time to catch up,
        giving the carrier to others meanwhile, and a thread moves time on while nobody drives."""
        if self._ticker_stop is not None:
            return
        if speed <= 0:
            raise ValueError("speed must be positive")
        with self._driver:
            self._pace = (time.monotonic(), self.clock.time(), speed)
            self._tick = tick
        stop = self._ticker_stop = threading.Event()

        def run() -> None:
            while not stop.wait(tick):
                if not self._driver.acquire(timeout=tick):
                    continue  # busy driving: catch up on the next tick
                try:
                    lag = self._wall_time() - self.clock.time()
                    if lag > 0:
                        self._advance(lag)
                finally:
                    self._driver.release()
                self._try_pump()

        threading.Thread(target=run, name="carrier-clock", daemon=True).start()

    def _wall_time(self) -> float:
        """In real time, the virtual time the wall clock has reached (infinite otherwise)."""
        if self._pace is None:
            return float("inf")
        wall_origin, origin, speed = self._pace
        return origin + (time.monotonic() - wall_origin) * speed

    def _await_wall(self, t: float) -> bool:
        """Called on the driver: if the wall clock has not reached virtual time `t`, wait a
        little (at most one tick), letting others drive meanwhile; True if it waited."""
        ahead = t - self._wall_time()
        if ahead <= 0:
            return False
        speed = self._pace[2] if self._pace else 1.0
        self._wake.wait(timeout=min(self._tick, ahead / speed))
        return True

    @property
    def api_base(self) -> str:
        """The REST API's root: where this carrier serves, else Twilio's."""
        return self.base_url or TWILIO_API

    def recording_url(self, sid: str) -> str:
        """Where a recording's audio is served (its RecordingUrl), under api_base."""
        return f"{self.api_base}/{API_VERSION}/Accounts/{self.account_sid}/Recordings/{sid}"

    # ==== driving ===============================================================================
    @contextmanager
    def _driving(self) -> Iterator[None]:
        with self._driver:
            self._pump()
            yield
            self._pump()
        self._try_pump()

    def submit(self, command: Callable[[], None]) -> None:
        """Run `command` on the driver: now if the carrier is idle, else right after its current step."""
        self._inbox.append(command)
        self._try_pump()

    def _try_pump(self) -> None:
        # Re-checked after every release so that a command queued while someone was
        # driving (and could not take the lock) is never left behind.
        while self._inbox:
            if not self._driver.acquire(blocking=False):
                return
            try:
                self._pump()
            finally:
                self._driver.release()

    def _pump(self) -> None:
        """Run queued commands and every timer due now, until there is nothing left for this instant."""
        while True:
            progressed = False
            while self._inbox:
                self._inbox.popleft()()
                progressed = True
            if self.clock.run_due():
                progressed = True
            if not progressed:
                return

    def _settle(self, call: Call) -> None:
        """Run the clock until `call` needs its person (input, a queue, a bridge...) or has ended."""
        self._run_until(
            call.needs_person, f"{call.sid} never came to wait for its caller: an endless loop in the TwiML?"
        )

    def _step(self) -> bool:
        """Jump to the next timer and run what is due then (False if none): in real time,
        only once the wall clock has reached it (others may drive while this waits)."""
        while True:
            due = self.clock.next_due()
            if due is None:
                return False
            if not self._await_wall(due):
                return self.clock.step()
            self._pump()  # whatever others queued meanwhile; the clock thread may have run the timer

    def _advance(self, seconds: float) -> None:
        target = self.clock.time() + seconds
        while True:
            self._pump()
            due = self.clock.next_due()
            if due is not None and due <= target:
                self._step()
            elif not self._await_wall(target):
                break
        self.clock.advance_to(target)
        self._pump()

    def _run_until(
        self, done: Callable[[], bool], endless: str = "the emulator ran too long waiting for a condition"
    ) -> None:
        for _ in range(MAX_SETTLE_STEPS):
            self._pump()
            if done() or not self._step():
                return
        raise EmulatorError(endless)

    # ==== the person on the line (Call's public methods land here) ================================
    def press(self, call: Call, digits: str, barge_in: bool) -> None:
        """Call.press: the person presses keys, then the call runs until it needs them again."""
        with self._driving():
            require_live(call)
            if not barge_in:
                self._hear_out_prompt(call)
            call.note("event", text=f"pressed {digits}")
            for key in digits:
                self.send(call, Event("dtmf", key))
            self._settle(call)

    def speak(self, call: Call, text: str, confidence: float, barge_in: bool) -> None:
        """Call.speak: the person says something (to a Gather, a Record, or a conference)."""
        with self._driving():
            require_live(call)
            if not barge_in:
                self._hear_out_prompt(call)
            call.note("event", text=f"said {text!r}")
            if call.waiting_for == "conference" and call.participant is not None:
                self.conferencing.speech(call.participant, text)  # heard by whoever can hear them
                until = self.clock.time() + twiml.speaking_seconds(text)  # the time it takes to say it
                self._run_until(lambda: self.clock.time() >= until or call.ended)
                self._settle(call)
                return
            gather = call.gather if call.waiting_for == "gather" else None
            if gather is not None and "speech" not in gather["input"].split():
                # A keys-only Gather does not hear it: for it, this is no input at all.
                call.note("event", text="speech ignored: the Gather listens for keys only")
                self._run_until(lambda: call.gather is not gather or call.ended)
            else:
                self.send(call, Event("speech", (text, confidence)))
            self._settle(call)

    def silence(self, call: Call) -> None:
        """Call.silence: no input, the Gather or Record times out."""
        with self._driving():
            require_live(call)
            if call.waiting_for == "gather":
                gather = call.gather
                self._run_until(lambda: call.gather is not gather or call.ended)
            elif call.waiting_for == "record":
                self._run_until(lambda: call.waiting_for != "record" or call.ended)
            else:
                raise EmulatorError(f"{call.sid} is not waiting for input (waiting_for={call.waiting_for})")
            self._settle(call)

    def wait(self, call: Call, seconds: float) -> None:
        """Call.wait: let `seconds` pass for everyone, then run until the call needs its person."""
        with self._driving():
            self._advance(seconds)
            self._settle(call)

    def hangup(self, call: Call) -> None:
        """Call.hangup: the person hangs up (or declines a call ringing to be answered by hand)."""
        with self._driving():
            if call.ended:
                return
            call.note("event", text="hung up")
            if call.waiting_for == "answer":
                self.send(call, Event("reject"))  # the callee declines the ringing call
            else:
                self.throw(call, CallOver(None))
            self._settle(call)

    def hang_up_later(self, call: Call, seconds: float) -> None:
        """Call.hang_up_in: the person hangs up `seconds` from now, as `hangup` would then."""

        def hang_up() -> None:
            if call.ended or call.waiting_for == "answer":  # over, or not picked up: nothing to hang up
                return
            call.note("event", text="hung up")
            self.throw(call, CallOver(None))

        with self._driving():
            self.clock.call_later(seconds, hang_up)

    def answer_by_hand(self, call: Call) -> None:
        """Call.answer: pick up a call ringing to be answered by hand."""
        with self._driving():
            if call.waiting_for != "answer":
                raise EmulatorError(f"{call.sid} is not ringing for someone to answer (status {call.status})")
            call.note("event", text="answered by hand")
            self.send(call, Event("answer"))
            self._settle(call)

    def reject_by_hand(self, call: Call) -> None:
        """Call.reject: decline a call ringing to be answered by hand."""
        with self._driving():
            if call.waiting_for != "answer":
                raise EmulatorError(f"{call.sid} is not ringing (status {call.status})")
            call.note("event", text="rejected by hand")
            self.send(call, Event("reject"))
            self._settle(call)

    def _hear_out_prompt(self, call: Call) -> None:
        """Before the caller's input, let the rest of the Gather's prompt play (unless it is endless)."""
        until = call.prompt_until
        if until is None or until <= self.clock.time() or until - self.clock.time() > LONGEST_PROMPT_TO_WAIT_OUT:
            return
        self._run_until(lambda: self.clock.time() >= until or call.prompt_until is None or call.ended)

    # ==== machinery the call flows use ============================================================
    def register(self, call: Call) -> None:
        """Make a new call known to the carrier: listed in `calls`, found by get_call and by its callbacks."""
        self._by_sid[call.sid] = call
        self.calls.append(call)

    def _spawn(self, call: Call, flow: Any) -> None:
        call.process = Process(self, flow)
        self.clock.call_soon(call.process.start)

    def send(self, call: Call, event: Event) -> None:
        """Deliver `event` to the call at this instant, after whatever is running now."""

        def deliver() -> None:
            process = call.process
            if (process is None or not process.deliver(event)) and event.kind in ("dtmf", "speech"):
                call.note("event", text=f"{event.kind} {event.value!r} ignored: nothing was listening")

        self.clock.call_soon(deliver)

    def throw(self, call: Call, exc: BaseException) -> None:
        """Throw `exc` into the call where it waits, at this instant, after whatever is running now."""

        def deliver() -> None:
            if call.process is not None:
                call.process.interrupt(exc)

        self.clock.call_soon(deliver)

    def request(self, call: Call, method: str, url: str, params: dict[str, str], status: str | None = None) -> Any:
        """Request the call's TwiML (with the call's standard parameters) and log the fetch."""
        full = {**self._call_params(call, status), **params}
        result = self.webhooks.request(call.session, method, url, full)
        call.note(
            "fetch", url=url, method=method, params=full, status=result.status, body=result.text, error=result.error
        )
        return result

    def _call_params(self, call: Call, status: str | None = None) -> dict[str, str]:
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "CallSid": call.sid,
            "CallStatus": status or call.status,
            "Direction": call.direction,
            "From": call.from_,
            "To": call.to,
            "Caller": call.from_,
            "Called": call.to,
        }
        if call.parent_sid:
            params["ParentCallSid"] = call.parent_sid
        if call.answered_by:
            params["AnsweredBy"] = call.answered_by
        return params

    def set_status(self, call: Call, status: str) -> None:
        """Set the call's status: logged, followed by its conference, its status callback posted if asked for."""
        call.status = status
        call.note("status", text=status)
        if call.participant is not None:
            self.conferencing.call_status(call, status)
        event = STATUS_EVENTS.get(status)
        if event:
            self._status_event(call, event)

    def answer(self, call: Call) -> None:
        """The call is answered (once): in-progress from now."""
        if call.answered_at is None:
            call.answered_at = self.clock.time()
            self.set_status(call, "in-progress")

    def finish(self, call: Call, status: str) -> None:
        """End the call with `status` (once), posting its completed callback."""
        if call.ended:
            return
        call.ended_at = self.clock.time()
        call.status = status
        call.note("status", text=status)
        call.stop_waiting()
        call.gather = None
        self._status_event(call, "completed")
        call.session.close()  # no more TwiML requests for this call (a closed session can still reconnect)

    def _status_event(self, call: Call, event: str) -> None:
        if not call.status_callback or event not in call.status_events:
            return
        now = self.clock.time()
        params = self._call_params(call)
        params.update(
            CallbackSource="call-progress-events", SequenceNumber=str(call.sequence), Timestamp=rfc2822(self, now)
        )
        call.sequence += 1
        if event == "completed":
            params.update(
                CallDuration=str(call.duration),
                Duration=str(-(-call.duration // 60)),
                SipResponseCode=SIP_CODES.get(call.status, "200"),
            )
        self.post(call, Delivery(call.sid, call.status_callback, call.status_callback_method, params))

    def post(self, owner: Call | Message | Conference, delivery: Delivery) -> None:
        """Post a status callback of `owner`, or hold it (hold_status_callbacks)."""
        owner.deliveries.append(delivery)
        if self._holding:
            self.held_status_callbacks.append(delivery)
        else:
            self._deliver(delivery)

    def _deliver(self, delivery: Delivery) -> None:
        result = self.webhooks.request(self.callback_session, delivery.method, delivery.url, delivery.params)
        delivery.responses.append(result.status)
        call = self._by_sid.get(delivery.sid)
        if call is None:
            room = self.conferences.get(delivery.sid)
            if room is not None and (result.error or not 200 <= (result.status or 0) < 300):
                room.errors.append(twiml.CALLBACK_FAILURE)
            return
        call.note(
            "callback",
            url=delivery.url,
            method=delivery.method,
            params=delivery.params,
            status=result.status,
            error=result.error,
        )
        if result.error or not 200 <= (result.status or 0) < 300:
            call.error(twiml.CALLBACK_FAILURE, f"callback {delivery.url} failed: {result.status or result.reason}")

    def _owner(self, target: Call | Message | Conference | str) -> Call | Message | Conference:
        if not isinstance(target, str):
            return target
        if target in self._by_sid:
            return self._by_sid[target]
        if target in self.conferences:
            return self.conferences[target]
        for message in self.messages:
            if message.sid == target:
                return message
        raise LookupError(f"no call or message {target}")

    # ---- outbound calls ----
    def new_outbound(
        self,
        to: str,
        from_: str,
        status_callback: str | None,
        events: Iterable[str],
        callback_method: str,
        fallback_url: str | None,
        fallback_method: str,
    ) -> Call:
        """A call the app places (REST), registered but not started (start_outbound starts it)."""
        call = Call(self, sid=new_sid("CA"), direction="outbound-api", to=to, from_=from_)
        call.status_callback = status_callback
        call.status_events = tuple(events) or ("completed",)
        call.status_callback_method = callback_method.upper()
        call.fallback_url, call.fallback_method = fallback_url, fallback_method.upper()
        self.register(call)
        return call

    def new_participant(
        self,
        conference: str,
        to: str,
        from_: str,
        status_callback: str | None,
        events: Iterable[str],
        callback_method: str,
        options: dict[str, Any],
        room_settings: dict[str, Any],
    ) -> Participant:
        """The call and participant of a Participants API request (made at once, in the
        request's thread, so that its answer can carry their SIDs)."""
        room = (
            self.conferencing.get(conference)
            if conference.startswith("CF")
            else self.conferencing.find_or_create(conference)
        )
        if room.status == "completed":
            raise EmulatorError(f"conference {room.sid} has ended")
        self.conferencing.configure(room, room_settings)
        call = self.new_outbound(to, from_, status_callback, events, callback_method, None, "POST")
        return self.conferencing.add(room, call, "api", options)

    def start_participant(self, participant: Participant, timeout: float) -> None:
        """Start dialling a participant added by the Participants API."""
        call = participant.call
        if call.ended:
            return
        self._spawn(call, CallFlow(self, call).conference_participant(participant, timeout))

    def participant(self, conference: str, participant: str) -> Participant:
        """A participant by CallSid or label in a conference by SID or name; LookupError if none."""
        found = self.conference(conference).participant(participant)
        if found is None:
            raise LookupError(f"no participant {participant} in conference {conference}")
        return found

    def start_outbound(
        self, call: Call, first: Fetch, timeout: float, machine_detection: str | None, send_digits: str | None
    ) -> None:
        """Start a call made by new_outbound (unless it was canceled while queued)."""
        if call.ended:  # canceled while queued: Twilio fires no callbacks
            return
        if send_digits:
            call.note("event", text=f"will send digits {send_digits!r} on answer")
        self._spawn(call, CallFlow(self, call).outbound(first, timeout, machine_detection))

    def update(self, call: Call, url: str | None, twiml_text: str | None, method: str, status: str | None) -> None:
        """What POST /Calls/{sid}.json does: end the call, or redirect it to new TwiML."""
        if status in ("canceled", "completed"):
            if call.ended:
                return
            if call.process is None:  # still queued
                call.status, call.ended_at = "canceled", self.clock.time()
                return
            ringing = call.status in ("queued", "initiated", "ringing")
            if status == "canceled" and not ringing:
                return  # canceling only affects calls not yet answered
            self.throw(call, CallOver("canceled" if ringing else None))
        elif url or twiml_text:
            fetch = Fetch(url, method.upper()) if url else Fetch(None, twiml=twiml_text)
            self.throw(call, Redirected(fetch, "rest"))

    def start_leg(self, parent: Call, noun: Node, caller_id: str, doc_url: str | None) -> Call:
        """A child call for <Dial><Number>/<Client>."""
        to = noun.text
        if noun.verb == "Client" and not to.startswith("client:"):
            to = "client:" + to
        leg = Call(self, sid=new_sid("CA"), direction="outbound-dial", to=to, from_=caller_id, parent=parent)
        callback = noun.attrs.get("statusCallback")
        if callback:
            leg.status_callback = resolve(doc_url, callback)
            events = noun.attrs.get("statusCallbackEvent", "completed").replace(",", " ").split()
            leg.status_events = tuple(events) or ("completed",)
            leg.status_callback_method = noun.attrs.get("statusCallbackMethod", "POST").upper()
        parent.legs.append(leg)
        self.register(leg)
        self._spawn(leg, CallFlow(self, leg).dial_leg(parent, noun, doc_url))
        return leg

    def bridge(self, a: Call, b: Call) -> None:
        """Connect two calls: each is bridged_with the other."""
        a.bridged_with, b.bridged_with = b, a

    def unbridge(self, call: Call) -> None:
        """Disconnect the call from the one it was bridged with."""
        other = call.bridged_with
        call.bridged_with = None
        if other is not None and other.bridged_with is call:
            other.bridged_with = None

    # ---- queues ----
    def queue_named(self, name: str, max_size: int | None = None) -> Queue:
        """The queue of that name, made if new (<Enqueue>, <Dial><Queue>, the REST API)."""
        queue = self.queues.get(name)
        if queue is None:
            queue = Queue(name, max_size or 1000, created=self.clock.time())
            self.queues[name] = queue
        return queue

    def join_queue(self, queue: Queue, call: Call) -> None:
        """Put the call at the back of the queue, and tell the <Dial><Queue>s watching it."""
        queue.members.append(call)
        queue.enqueued_at[call.sid] = self.clock.time()
        call.queue = queue.name
        for dialer in list(self._queue_watchers.get(queue.name, ())):
            self.send(dialer, Event("member-arrived", queue.name))

    def leave_queue(self, queue: Queue, call: Call) -> None:
        """Take the call out of the queue (if it is still in)."""
        if call in queue.members:
            queue.members.remove(call)
        if call.queue == queue.name:
            call.queue = None

    def front_member(self, queue: Queue) -> Call | None:
        """The first member waiting in the queue's wait loop, if any."""
        return next((member for member in queue.members if member.queue_wait is queue), None)

    def watch_queue(self, queue: Queue, dialer: Call) -> None:
        """A <Dial><Queue> waits for a member: tell `dialer` when one arrives."""
        self._queue_watchers.setdefault(queue.name, []).append(dialer)

    def unwatch_queue(self, queue: Queue, dialer: Call) -> None:
        """The <Dial><Queue> no longer waits for a member of the queue."""
        watchers = self._queue_watchers.get(queue.name, [])
        if dialer in watchers:
            watchers.remove(dialer)

    def take_from_queue(self, queue: Queue, member: Call, dequeued: Dequeued) -> None:
        """Hand the member to a <Dial><Queue>; if it is gone by the time this lands, tell the dialer."""
        self.leave_queue(queue, member)

        def deliver() -> None:
            if member.queue_wait is queue and member.process is not None and member.process.interrupt(dequeued):
                return
            self.send(dequeued.dialer, Event("leg-ended", member))

        self.clock.call_soon(deliver)

    def redirect_member(self, queue: Queue, member: Call, fetch: Fetch) -> None:
        """Take the member out of the queue into new TwiML (the REST Members API)."""
        self.leave_queue(queue, member)

        def deliver() -> None:
            if member.queue_wait is queue and member.process is not None:
                member.process.interrupt(Redirected(fetch, "dequeue"))

        self.clock.call_soon(deliver)

    def pick_member(self, queue: str | Queue, member: str) -> tuple[Queue, Call]:
        """The queue (by name or SID) and its member `member` (a CallSid or 'Front')."""
        if isinstance(queue, str):
            queue = self.queues.get(queue) or self.queue_by_sid(queue)
        if member == "Front":
            call = self.front_member(queue)
        else:
            call = next((m for m in queue.members if m.sid == member and m.queue_wait is queue), None)
        if call is None:
            raise LookupError(f"no member {member} in queue {queue.name!r}")
        return queue, call

    def queue_params(self, queue: Queue, call: Call) -> dict[str, str]:
        """The Queue* parameters of a request about the call waiting in the queue."""
        now = self.clock.time()
        return {
            "QueueSid": queue.sid,
            "QueuePosition": str(queue.position(call) if call in queue.members else 0),
            "QueueTime": str(queue.wait_time(call, now)),
            "AvgQueueTime": str(queue.average_wait(now)),
            "CurrentQueueSize": str(len(queue)),
            "MaxQueueSize": str(queue.max_size),
        }

    # ---- recordings ----
    def store_recording(
        self, call: Call, duration: int, start: float, text: str = "", source: str = "RecordVerb"
    ) -> Recording:
        """Keep a recording of the call (<Record>, a Dial's or a conference's)."""
        sid = new_sid("RE")
        recording = Recording(sid, call.sid, self.account_sid, duration, start, self.recording_url(sid), text, source)
        self.recordings[sid] = recording
        call.recordings.append(recording)
        return recording

    def recording_callback(self, call: Call, url: str, method: str, recording: Recording | None, status: str) -> None:
        """Post a recording status callback about the call."""
        params = {
            "AccountSid": self.account_sid,
            "CallSid": call.sid,
            "RecordingStatus": status,
            "RecordingSource": recording.source if recording else "RecordVerb",
        }
        if recording is not None:
            params.update(
                RecordingSid=recording.sid,
                RecordingUrl=recording.url,
                RecordingDuration=str(recording.duration),
                RecordingChannels=str(recording.channels),
                RecordingStartTime=rfc2822(self, recording.start),
                RecordingTrack="both",
            )
        self.post(call, Delivery(call.sid, url, method, params))

    # ---- messages ----
    def new_message(
        self, to: str, body: str, from_: str | None, service: str | None, status_callback: str | None
    ) -> Message:
        """A text the app sends, listed in `messages` (progress_message moves it on)."""
        message = Message(
            new_sid("SM"), self.account_sid, to, from_, body, service, status_callback, created=self.clock.time()
        )
        self.messages.append(message)
        return message

    def progress_message(self, message: Message) -> None:
        """queued -> sent -> delivered (or undelivered to an endpoint set to 'fail'), on the clock."""
        failed = self.endpoint(message.to).behaviour == "fail"
        self.clock.call_later(MESSAGE_SENT_AFTER, lambda: self._message_status(message, "sent"))
        final = "undelivered" if failed else "delivered"
        self.clock.call_later(MESSAGE_DELIVERED_AFTER, lambda: self._message_status(message, final))

    def _message_status(self, message: Message, status: str) -> None:
        message.status = status
        if status == "sent":
            message.sent = self.clock.time()
        if status == "undelivered":
            message.error_code = 30003  # "Unreachable destination handset"
        if not message.status_callback:
            return
        params = {
            "AccountSid": self.account_sid,
            "ApiVersion": API_VERSION,
            "MessageSid": message.sid,
            "SmsSid": message.sid,
            "MessageStatus": status,
            "SmsStatus": status,
            "To": message.to,
            "From": message.from_ or "",
        }
        if message.messaging_service_sid:
            params["MessagingServiceSid"] = message.messaging_service_sid
        if message.error_code:
            params["ErrorCode"] = str(message.error_code)
        self.post(message, Delivery(message.sid, message.status_callback, "POST", params))


__all__ = ["DEFAULT_ACCOUNT_SID", "Carrier"]
