"""A call on the emulated network, and the coroutine machinery that runs it.

Each call's behaviour is a generator (see flow.py) that yields `Wait`s: "resume
me after N virtual seconds, or when one of these events arrives". The carrier's
clock resumes it. Anything from outside the call (a key, a hang-up, a REST
redirect, a queue bridge) is delivered through the clock as an event or thrown
in as an exception at the point where the call is waiting, so a call's code
never runs re-entrantly and the order of everything is deterministic.
"""

from __future__ import annotations

from collections.abc import Callable, Generator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import requests

from .model import Delivery, EmulatorError, LogEntry, Recording, Utterance

if TYPE_CHECKING:
    from .carrier import Carrier
    from .clock import Timer

TERMINAL = frozenset({"completed", "busy", "no-answer", "failed", "canceled"})
DTMF_KEYS = frozenset("0123456789*#")
WARNINGS = frozenset({12200, 15003})  # logged by Twilio as warnings: the call goes on


@dataclass(frozen=True)
class Wait:
    """What a call's generator yields: resume after `timeout` seconds (None: never on its
    own) or on an event whose kind is in `accepts`. Exceptions can always be thrown in."""

    timeout: float | None = None
    accepts: frozenset[str] = frozenset()


@dataclass(frozen=True)
class Event:
    kind: str  # 'dtmf' | 'speech' | 'answer' | 'reject' | 'connect' | 'leg-result' | 'leg-bridged' | ...
    value: Any = None


class _Timeout:
    def __repr__(self) -> str:
        return "TIMEOUT"


TIMEOUT = _Timeout()  # what a Wait returns when its time runs out


class CallOver(Exception):
    """The call is ending: someone hung up (status None: let the call decide) or a verb ended it."""

    def __init__(self, status: str | None = None):
        super().__init__(status)
        self.status = status


class Redirected(Exception):
    """REST redirect or queue-member update: leave whatever the call is doing for new TwiML."""

    def __init__(self, fetch: Any, source: str = "rest"):
        super().__init__(fetch)
        self.fetch = fetch
        self.source = source


class Dequeued(Exception):
    """A <Dial><Queue> picked this caller from the front of its queue."""

    def __init__(self, dialer: Call, url: str | None, method: str, queue: Any):
        super().__init__(dialer.sid)
        self.dialer = dialer
        self.url = url
        self.method = method
        self.queue = queue


class ConferenceChanged(Exception):
    """Something about this call's conference changed (it started, the call was put on hold
    or taken off it, removed, or the conference ended): the flow looks again at its state."""


class Process:
    """Drives one call's generator from the carrier's clock."""

    def __init__(self, carrier: Carrier, gen: Generator[Wait, Any, None]):
        self.carrier = carrier
        self.gen = gen
        self.wait: Wait | None = None
        self.done = False
        self._timer: Timer | None = None
        self._token = 0

    def start(self) -> None:
        """Run the generator up to its first wait (the carrier schedules this when the call starts)."""
        self._resume(lambda: next(self.gen))

    def deliver(self, event: Event) -> bool:
        """Resume with `event` if the call is waiting for that kind; False if nobody listened."""
        if self.done or self.wait is None or event.kind not in self.wait.accepts:
            return False
        self._resume(lambda: self.gen.send(event))
        return True

    def interrupt(self, exc: BaseException) -> bool:
        """Throw `exc` into the call where it waits; False if it is not waiting (running or done)."""
        if self.done or self.wait is None:
            return False
        self._resume(lambda: self.gen.throw(exc))
        return True

    def _resume(self, step: Callable[[], Wait]) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        self.wait = None
        self._token += 1
        try:
            wait = step()
        except StopIteration:
            self.done = True
            return
        except BaseException:
            self.done = True
            raise
        self.wait = wait
        if wait.timeout is not None:
            token = self._token
            self._timer = self.carrier.clock.call_later(wait.timeout, lambda: self._expire(token))

    def _expire(self, token: int) -> None:
        if token == self._token and not self.done:
            self._resume(lambda: self.gen.send(TIMEOUT))


class Call:
    """One call leg. Tests hold these: they are the person on the line.

    For an inbound call (carrier.dial) that is the caller; for a call the app
    places (REST) or a <Dial> leg, it is the person who picks up.
    """

    def __init__(
        self,
        carrier: Carrier,
        *,
        sid: str,
        direction: str,
        to: str,
        from_: str,
        parent: Call | None = None,
        status: str = "queued",
    ):
        self._carrier = carrier
        self.sid = sid
        self.account_sid = carrier.account_sid
        self.direction = direction  # 'inbound' | 'outbound-api' | 'outbound-dial'
        self.to = to
        self.from_ = from_
        self.parent_sid = parent.sid if parent else None
        self.status = status
        self.heard: list[Utterance] = []
        self.log: list[LogEntry] = []
        self.errors: list[int] = []
        # None | 'gather' | 'queue' | 'bridge' | 'conference' | 'record' | 'dial' | 'answer'
        self.waiting_for: str | None = None
        self.gather: dict[str, Any] | None = None
        self.queue: str | None = None  # name of the queue it waits in
        self.conference: str | None = None  # FriendlyName of the conference it is in
        self.bridged_with: Call | None = None
        self.answered_by: str | None = None
        self.created = carrier.clock.time()
        self.answered_at: float | None = None
        self.ended_at: float | None = None
        self.deliveries: list[Delivery] = []  # status callbacks, in the order they were fired
        self.recordings: list[Recording] = []
        self.legs: list[Call] = []  # calls this one placed with <Dial>
        # Status callback configuration (number, REST or <Dial> noun).
        self.status_callback: str | None = None
        self.status_callback_method = "POST"
        self.status_events: tuple[str, ...] = ("completed",)
        self.fallback_url: str | None = None
        self.fallback_method = "POST"
        self._heard_mark = 0  # take_heard() starts here
        # Kept by the carrier, its call flows and its conferences (carrier.py, flow.py, conferencing.py).
        self.process: Process | None = None  # the running flow, once the call has started
        self.session = requests.Session()  # cookies persist for the call, as with Twilio
        self.sequence = 0  # SequenceNumber of its next status callback
        self.human = False  # waiting on a person (or test), not on the clock
        self.depends_on: list[Call] = []  # calls whose person this call is effectively waiting for
        self.prompt_until: float | None = None  # end of a Gather's nested prompts
        self.queue_wait: Any = None  # the Queue while this call sits in its wait loop
        self.participant: Any = None  # its latest model.Participant, if it ever was in a conference
        self.listening = False  # in its conference loop: ConferenceChanged may be thrown in

    def __repr__(self) -> str:
        return f"<Call {self.sid} {self.from_}->{self.to} {self.status} waiting_for={self.waiting_for}>"

    # --- state -----------------------------------------------------------------------------
    @property
    def ended(self) -> bool:
        return self.status in TERMINAL

    @property
    def duration(self) -> int:
        """Seconds from answer to end (or to now), as Twilio's CallDuration counts them."""
        if self.answered_at is None:
            return 0
        end = self.ended_at if self.ended_at is not None else self._carrier.clock.time()
        return int(end - self.answered_at + 0.5)

    @property
    def verbs(self) -> list[str]:
        """Names of the verbs executed so far, in order."""
        return [entry.verb for entry in self.log if entry.kind == "verb" and entry.verb]

    @property
    def fetches(self) -> list[LogEntry]:
        """Every TwiML request made for this call."""
        return [entry for entry in self.log if entry.kind == "fetch"]

    def take_heard(self) -> list[Utterance]:
        """What was heard since the previous take_heard() (or since the call began)."""
        new = self.heard[self._heard_mark :]
        self._heard_mark = len(self.heard)
        return new

    def take_text(self) -> str:
        """take_heard(), as the spoken text joined into one string."""
        return " ".join(u.text for u in self.take_heard() if u.kind == "say" and u.text)

    # --- the person on the line ----------------------------------------------------------------
    def press(self, digits: str, barge_in: bool = False) -> Call:
        """Press keys. By default the caller first listens to the rest of a Gather's prompt;
        barge_in=True presses while it still plays (which interrupts it, as on Twilio)."""
        bad = set(digits) - DTMF_KEYS
        if bad:
            raise ValueError(f"not DTMF keys: {''.join(sorted(bad))}")
        self._carrier.press(self, digits, barge_in)
        return self

    def speak(self, text: str, confidence: float = 0.9, barge_in: bool = False) -> Call:
        """Say something: a Gather with speech input hears it; <Record> records it."""
        self._carrier.speak(self, text, confidence, barge_in)
        return self

    def silence(self) -> Call:
        """Give no input: time passes until the Gather (or Record) gives up waiting."""
        self._carrier.silence(self)
        return self

    def wait(self, seconds: float) -> Call:
        """Let `seconds` pass on the virtual clock (for everyone), then run until this call needs its person."""
        self._carrier.wait(self, seconds)
        return self

    def hangup(self) -> Call:
        """Hang up (a call ringing to be answered by hand is declined: busy)."""
        self._carrier.hangup(self)
        return self

    def hang_up_in(self, seconds: float) -> Call:
        """Hang up `seconds` from now on the virtual clock, whatever the call is doing then (a
        caller who gives up in the middle of a prompt).  Returns at once: the next method that
        lets time pass (press, wait...) runs into it."""
        self._carrier.hang_up_later(self, seconds)
        return self

    # --- a ringing call this side can pick up -------------------------------------------------------
    def answer(self) -> Call:
        """Pick up a call ringing to be answered by hand (waiting_for == 'answer')."""
        self._carrier.answer_by_hand(self)
        return self

    def reject(self) -> Call:
        """Decline a call ringing to be answered by hand."""
        self._carrier.reject_by_hand(self)
        return self

    # --- used by the flow -------------------------------------------------------------------------
    def wait_for(self, kind: str | None, human: bool = True) -> None:
        """Mark what the call now waits for (None: nothing); `human`: a person must act, not the clock."""
        self.waiting_for = kind
        self.human = human if kind else False

    def stop_waiting(self) -> None:
        """The call waits for nothing any more."""
        self.wait_for(None)

    def needs_person(self, seen: set[str] | None = None) -> bool:
        """Whether running the clock further would skip over something a person (the test)
        should do: this call, or a call it is waiting on, is waiting for input."""
        if self.ended or self.human:
            return True
        seen = seen or set()
        seen.add(self.sid)
        return any(not other.ended and other.sid not in seen and other.needs_person(seen) for other in self.depends_on)

    def note(self, kind: str, **fields: Any) -> LogEntry:
        """Add an entry to the call's log, stamped with the clock's time."""
        entry = LogEntry(at=self._carrier.clock.time(), kind=kind, **fields)
        self.log.append(entry)
        return entry

    def error(self, code: int, text: str) -> None:
        """Record a Twilio error or warning code for the call, and log it."""
        self.errors.append(code)
        self.note("warning" if code in WARNINGS else "error", error=code, text=text)


def require_live(call: Call) -> None:
    """Raise EmulatorError if the call has ended: the person on the line can act only on a live call."""
    if call.ended:
        raise EmulatorError(f"{call.sid} has ended ({call.status})")


__all__ = [
    "TIMEOUT",
    "Call",
    "CallOver",
    "ConferenceChanged",
    "Dequeued",
    "Event",
    "Process",
    "Redirected",
    "Wait",
    "require_live",
]
