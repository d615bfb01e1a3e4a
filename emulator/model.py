"""Plain records the carrier keeps: what was heard, what happened, numbers,
endpoints, queues, messages, recordings and webhook deliveries."""

from __future__ import annotations

import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .call import Call


def new_sid(prefix: str) -> str:
    """A Twilio-shaped SID: two letters and 32 hex digits."""
    return prefix + uuid.uuid4().hex


class EmulatorError(Exception):
    """The test or tool asked the emulator for something that cannot happen now."""


@dataclass(frozen=True)
class Utterance:
    """Something the person on the line heard."""

    kind: str  # 'say' | 'play' | 'pause' | 'speech' (another person in a conference talking)
    text: str  # what was said; the URL for 'play'; '' for 'pause'
    language: str | None = None
    voice: str | None = None
    loop: int = 1
    seconds: float = 0.0  # how long it took on the virtual clock
    speaker: str | None = None  # for 'speech': the CallSid of the person heard


@dataclass
class LogEntry:
    """One step of a call: a verb executed, an HTTP fetch, a callback, an input event, a warning."""

    at: float  # virtual seconds since the clock started
    kind: str  # 'verb' | 'fetch' | 'callback' | 'event' | 'warning' | 'error' | 'status'
    verb: str | None = None
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    url: str | None = None
    method: str | None = None
    params: dict[str, str] | None = None
    status: int | None = None  # HTTP status of a fetch or callback
    body: str | None = None
    error: int | None = None  # Twilio error/warning code, if any
    nouns: list[dict[str, Any]] = field(default_factory=list)  # a verb's children: {"noun", "text", "attrs"}

    # Entries also read like dicts (entry["url"], entry.get("verb")), with "status_code" for `status`:
    # `key in entry` is true only when the entry has a value for it.
    _ALIASES = {"status_code": "status"}

    def _field(self, key: str) -> str:
        name = self._ALIASES.get(key, key)
        if name.startswith("_") or name not in self.__dataclass_fields__:
            raise KeyError(key)
        return name

    def __getitem__(self, key: str) -> Any:
        return getattr(self, self._field(key))

    def get(self, key: str, default: Any = None) -> Any:
        try:
            value = self[key]
        except KeyError:
            return default
        return default if value is None else value

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and self.get(key) not in (None, "", [], {})

    def keys(self) -> list[str]:
        return [name for name in self.__dataclass_fields__ if name in self] + (
            ["status_code"] if "status" in self else []
        )

    def __repr__(self) -> str:
        bits = [f"{self.at:.1f}s", self.kind]
        for name in ("verb", "text", "method", "url", "status", "error"):
            value = getattr(self, name)
            if value not in (None, ""):
                bits.append(f"{name}={value!r}")
        return "<" + " ".join(bits) + ">"


@dataclass
class Delivery:
    """A webhook the carrier posts without expecting TwiML: a status callback.

    Kept so that tests can deliver it again or in another order
    (carrier.repost_status, carrier.release_status_callbacks)."""

    sid: str  # the call or message it is about
    url: str
    method: str
    params: dict[str, str]
    responses: list[int | None] = field(default_factory=list)  # one per attempt; None = no connection

    @property
    def sequence_number(self) -> int | None:
        value = self.params.get("SequenceNumber")
        return int(value) if value is not None else None

    @property
    def status(self) -> str | None:
        return self.params.get("CallStatus") or self.params.get("MessageStatus") or self.params.get("RecordingStatus")


@dataclass
class NumberConfig:
    """A phone number of this carrier, configured like Twilio's console does."""

    number: str
    voice_url: str
    voice_method: str = "POST"
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_events: tuple[str, ...] = ("completed",)
    fallback_url: str | None = None
    fallback_method: str = "POST"
    sid: str = field(default_factory=lambda: new_sid("PN"))
    sms_url: str | None = None  # 'A message comes in': where texts to this number are posted


ENDPOINT_BEHAVIOURS = ("answer", "busy", "no-answer", "fail", "machine", "manual")


@dataclass
class Endpoint:
    """What a number or client outside the app does when the carrier rings it.

    'manual' (the default for anything not configured) rings until a test answers
    it by hand: carrier.ringing(target).answer()."""

    target: str
    behaviour: str = "manual"
    after: float = 0.0  # seconds of ringing before answering / busy / failing


@dataclass
class Recording:
    sid: str
    call_sid: str
    account_sid: str
    duration: int
    start: float  # clock time the recording began
    url: str  # the stable URL the emulator serves (without extension)
    text: str = ""  # what the caller said into it (speak() during <Record>)
    source: str = "RecordVerb"
    channels: int = 1
    status: str = "completed"
    conference_sid: str | None = None  # a conference's recording (source 'Conference')


@dataclass
class Message:
    """An SMS sent through the REST API."""

    sid: str
    account_sid: str
    to: str
    from_: str | None
    body: str
    messaging_service_sid: str | None
    status_callback: str | None
    created: float
    status: str = "queued"
    error_code: int | None = None
    sent: float | None = None
    deliveries: list[Delivery] = field(default_factory=list)

    @property
    def num_segments(self) -> int:
        # GSM-7 messages hold 160 characters (153 when split), UCS-2 (Chinese) 70 (67 when split).
        limit, split = (160, 153) if self.body.isascii() else (70, 67)
        n = len(self.body)
        return 1 if n <= limit else -(-n // split)


class Queue(Sequence):
    """A call queue: behaves as the list of its waiting members, in order."""

    def __init__(self, name: str, max_size: int = 1000, sid: str | None = None, created: float = 0.0):
        self.name = name
        self.sid = sid or new_sid("QU")
        self.max_size = max_size
        self.created = created
        self.members: list[Call] = []
        self.enqueued_at: dict[str, float] = {}

    def __getitem__(self, index):  # type: ignore[override]
        return self.members[index]

    def __len__(self) -> int:
        return len(self.members)

    def __iter__(self) -> Iterator[Call]:
        return iter(list(self.members))

    def __eq__(self, other: Any) -> bool:
        if isinstance(other, Queue):
            return self is other
        if isinstance(other, list | tuple):
            return list(self.members) == list(other)
        return NotImplemented

    __hash__ = object.__hash__

    def __repr__(self) -> str:
        return f"<Queue {self.name!r} {[c.sid for c in self.members]}>"

    def position(self, call: Call) -> int:
        return self.members.index(call) + 1

    def wait_time(self, call: Call, now: float) -> int:
        return int(now - self.enqueued_at.get(call.sid, now))

    def average_wait(self, now: float) -> int:
        if not self.members:
            return 0
        return int(sum(self.wait_time(c, now) for c in self.members) / len(self.members))


# Twilio's names for a participant's states (Participant resource `status`).
PARTICIPANT_STATES = ("queued", "connecting", "ringing", "connected", "complete", "failed")


@dataclass(eq=False)
class Participant:
    """A call in a conference (or being dialled into one by the Participants API)."""

    call: Call
    conference: Conference
    via: str = "twiml"  # 'twiml' (<Dial><Conference>) | 'api' (POST .../Participants.json)
    label: str | None = None
    muted: bool = False
    hold: bool = False
    coaching: bool = False
    call_sid_to_coach: str | None = None
    start_conference_on_enter: bool = True
    end_conference_on_exit: bool = False
    beep: str = "true"  # 'true' | 'false' | 'onEnter' | 'onExit'
    wait_url: str | None = None  # None: Twilio's hold music; '': silence
    wait_method: str = "POST"
    hold_url: str | None = None  # None: Twilio's hold music
    hold_method: str = "GET"
    early_media: bool = True
    status: str = "queued"
    created: float = 0.0
    updated: float = 0.0
    joined_at: float | None = None
    left_at: float | None = None
    left_reason: str | None = None  # ReasonParticipantLeft

    @property
    def call_sid(self) -> str:
        return self.call.sid

    @property
    def connected(self) -> bool:
        return self.status == "connected"

    @property
    def dialling(self) -> bool:
        return self.status in ("queued", "connecting", "ringing")

    def __repr__(self) -> str:
        flags = [name for name in ("muted", "hold", "coaching") if getattr(self, name)]
        return f"<Participant {self.call.sid} {self.label or ''} {self.status} {' '.join(flags)}>".replace("  ", " ")


@dataclass(eq=False)
class Conference:
    """A named conference room (FriendlyName unique among conferences not completed)."""

    sid: str
    account_sid: str
    friendly_name: str
    created: float
    status: str = "init"  # 'init' | 'in-progress' | 'completed'
    updated: float = 0.0
    started_at: float | None = None
    ended_at: float | None = None
    reason_ended: str | None = None  # ReasonConferenceEnded
    call_sid_ending: str | None = None
    label_ending: str | None = None
    max_participants: int = 250
    # Set by the first participant that gives them (as Twilio documents for the REST API).
    status_callback: str | None = None
    status_callback_method: str = "POST"
    status_callback_events: tuple[str, ...] = ("start", "end")
    record: bool = False
    recording_callback: str | None = None
    recording_callback_method: str = "POST"
    recording_callback_events: tuple[str, ...] = ("completed",)
    participants: list[Participant] = field(default_factory=list)  # present or being dialled, in order
    history: list[Participant] = field(default_factory=list)  # everyone who ever took part
    deliveries: list[Delivery] = field(default_factory=list)  # its status callbacks
    errors: list[int] = field(default_factory=list)
    recordings: list[Recording] = field(default_factory=list)
    # Kept by conferencing.Conferences.
    sequence: int = 0  # SequenceNumber of its next status callback
    configured: bool = False  # a participant has set max_participants (the first to give it wins)

    @property
    def connected(self) -> list[Participant]:
        return [p for p in self.participants if p.connected]

    def participant(self, call_sid_or_label: str) -> Participant | None:
        """A present (or dialling) participant by CallSid or label."""
        for p in self.participants:
            if call_sid_or_label in (p.call.sid, p.label):
                return p
        return None

    def __repr__(self) -> str:
        return f"<Conference {self.friendly_name!r} {self.status} {[p.call.sid for p in self.participants]}>"
