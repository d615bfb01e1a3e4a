"""A call's queue entries, derived from its events (the ACD's queue-event contract).

Pure: events in, `Entry` values out, no session.  records.calls stores them as
QueueEntry rows, rebuilt whole each time a call's events change, so duplicate
or late events never leave an entry half-updated.

One entry per wait in a queue: `enqueue` opens it; `answer`, `abandon`,
`queue_timeout`, `callback_requested`, `voicemail` or a `transfer` while
waiting closes it; the agent's `talk_end`, `wrap_up_end` and the caller's
`survey` come later and complete it.  A transfer to another queue opens a
new entry there.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

LEAVING = {
    "answer": "answered",
    "abandon": "abandoned",
    "queue_timeout": "timeout",
    "callback_requested": "callback",
    "voicemail": "voicemail",
}
QUEUE_KINDS = frozenset({"enqueue", "offer", "missed_offer", "transfer", "talk_end", "wrap_up_end", "survey", *LEAVING})


class EventLike(Protocol):  # read only: a stored CallEvent, or a frozen records.calls.Event
    @property
    def sequence(self) -> int: ...
    @property
    def at(self) -> datetime: ...
    @property
    def kind(self) -> str: ...
    @property
    def detail(self) -> dict[str, Any]: ...


@dataclass
class Entry:
    position: int
    queue: str
    enqueued_at: datetime
    priority: int = 0
    offers: list[dict[str, Any]] = field(default_factory=list)
    answered_at: datetime | None = None
    left_at: datetime | None = None
    result: str = "waiting"
    waited: float | None = None
    agent_id: int | None = None
    hung_up_at: datetime | None = None
    wrap_up_end_at: datetime | None = None
    talk_seconds: float | None = None
    hold_seconds: float | None = None
    wrap_up_seconds: float | None = None
    disposition: str | None = None
    voicemail_sid: str | None = None
    voicemail_url: str | None = None
    voicemail_seconds: int | None = None
    survey_score: int | None = None
    opened_by_transfer: bool = False


def build(events: Iterable[EventLike], ended_at: datetime | None = None) -> list[Entry]:
    """The call's queue entries; `ended_at` (the carrier's final status) closes what
    the events left open: a caller still 'waiting' when the call ended hung up while
    queued, which is an abandon even if the ACD's own event was lost."""
    entries: list[Entry] = []
    for event in sorted(events, key=lambda e: (e.at, e.sequence)):
        if event.kind in QUEUE_KINDS:
            _apply(entries, event)
    if ended_at is not None:
        for entry in entries:
            if entry.result == "waiting" and ended_at >= entry.enqueued_at:
                _leave(entry, "abandoned", ended_at, None)
            if entry.hung_up_at is None and entry.result in ("answered", "abandoned"):
                entry.hung_up_at = max(ended_at, entry.left_at or ended_at)
    return entries


def _apply(entries: list[Entry], event: EventLike) -> None:
    detail = event.detail or {}
    queue = str(detail.get("queue") or "")
    if event.kind == "enqueue":
        reused = _latest(entries, queue)
        if reused is not None and reused.opened_by_transfer and reused.result == "waiting" and not reused.offers:
            reused.opened_by_transfer = False  # the transfer's enqueue, announced by the ACD
            reused.priority = _int(detail.get("priority")) or 0
            return
        entries.append(Entry(len(entries) + 1, queue, event.at, priority=_int(detail.get("priority")) or 0))
        return
    entry = _latest(entries, queue)
    if entry is None and event.kind in ("voicemail", "callback_requested"):
        # A message or a callback request without a wait (out of hours, nobody on duty):
        # kept for the call log and playback, never offered to the queue (no left_at).
        entry = Entry(len(entries) + 1, queue, event.at, result=LEAVING[event.kind])
        entries.append(entry)
    if entry is None:
        return  # an event for a queue the call never entered (its enqueue was lost)
    if event.kind == "offer":
        entry.offers.append({"at": event.at.isoformat(), "agent_id": _int(detail.get("agent_id")), "missed": None})
    elif event.kind == "missed_offer":
        _miss(entry, _int(detail.get("agent_id")), str(detail.get("reason") or "not answered"), event.at)
    elif event.kind in LEAVING:
        if event.kind == "voicemail":
            entry.voicemail_sid = detail.get("recording_sid")
            entry.voicemail_url = detail.get("recording_url")
            entry.voicemail_seconds = _int(detail.get("duration"))
        if entry.result == "waiting":
            _leave(entry, LEAVING[event.kind], event.at, _float(detail.get("waited")))
            if event.kind == "answer":
                entry.answered_at = event.at
                entry.agent_id = _int(detail.get("agent_id"))
        elif event.kind == "answer" and entry.result == "callback" and entry.answered_at is None:
            # The agent reached the patient on the callback: the request is answered, and
            # the entry stays a flow-out for the queue's figures.
            entry.answered_at = event.at
            entry.agent_id = _int(detail.get("agent_id"))
    elif event.kind == "transfer":
        if entry.result == "waiting":
            _leave(entry, "transferred", event.at, None)
        target = detail.get("to_queue")
        if target:
            entries.append(Entry(len(entries) + 1, str(target), event.at, opened_by_transfer=True))
    elif event.kind == "talk_end":
        # After a consult transfer (issue 14) the next agent's talk_end adds to the same wait's.
        entry.talk_seconds = _add(entry.talk_seconds, _float(detail.get("talk")))
        entry.hold_seconds = _add(entry.hold_seconds, _float(detail.get("hold")))
        entry.hung_up_at = entry.hung_up_at or event.at
    elif event.kind == "wrap_up_end":
        entry.wrap_up_end_at = event.at
        entry.wrap_up_seconds = _float(detail.get("wrap_up"))
        entry.disposition = detail.get("disposition") or entry.disposition
    elif event.kind == "survey":
        entry.survey_score = _int(detail.get("score"))


def _add(total: float | None, more: float | None) -> float | None:
    return more if total is None else total + (more or 0.0)


def _latest(entries: list[Entry], queue: str) -> Entry | None:
    for entry in reversed(entries):
        if entry.queue == queue:
            return entry
    # An event without a queue name belongs to the call's latest wait.
    return entries[-1] if entries and not queue else None


def _leave(entry: Entry, result: str, at: datetime, waited: float | None) -> None:
    entry.result = result
    entry.left_at = at
    entry.waited = waited if waited is not None else (at - entry.enqueued_at).total_seconds()


def _miss(entry: Entry, agent_id: int | None, reason: str, at: datetime) -> None:
    for offer in reversed(entry.offers):
        if offer["agent_id"] == agent_id and offer["missed"] is None:
            offer["missed"] = reason
            return
    entry.offers.append({"at": at.isoformat(), "agent_id": agent_id, "missed": reason})


def outcome(entries: list[Entry], ivr_outcome: str) -> str:
    """What became of the call, for the call log: the best thing that happened in a
    queue, else how the voice menus ended (records.calls.outcome)."""
    results = {entry.result for entry in entries}
    if any(entry.voicemail_sid for entry in entries):
        results.add("voicemail")  # a message left after a timeout is what the supervisor must see
    for result in ("answered", "voicemail", "callback", "abandoned", "timeout", "waiting"):
        if result in results:
            return "queued" if result == "waiting" else result
    return ivr_outcome


def _int(value: Any) -> int | None:
    try:
        return int(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None


def _float(value: Any) -> float | None:
    try:
        return float(value) if value is not None and value != "" else None
    except (TypeError, ValueError):
        return None
