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

    kind: str  # 'say' | 'play' | 'pause'
    text: str  # what was said; the URL for 'play'; '' for 'pause'
    language: str | None = None
    voice: str | None = None
    loop: int = 1
    seconds: float = 0.0  # how long it took on the virtual clock


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
        return [name for name in self.__dataclass_fields__ if name in self] + (["status_code"] if "status" in self else [])

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
