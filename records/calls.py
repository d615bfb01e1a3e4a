"""Call records: one CallRecord per call, its CallEvents, and its final status.

Every function is idempotent, because the carrier may post the same callback
twice or out of order, and webhooks may be retried:
- a call is opened once per CallSid;
- events carry their sequence number in the call, stored at most once each;
- a status is applied only if its SequenceNumber is newer, and a final status
  is never replaced by an earlier, non-final one;
- what the reconstruction sweep filled in from the carrier (`reconstruct`) gives way to
  the call's own data when its late job comes, and the reason goes with it (the rule is
  in `apply_status`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, fields
from datetime import datetime
from typing import Any

from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from records import entries as queue_entries
from records.db import insert_made, insert_new
from records.models import CallEvent, CallRecord, QueueEntry, SweepMark
from records.patients import CallerMatch, match_caller
from settings import LANGUAGES

FINAL_STATUSES = frozenset({"completed", "busy", "failed", "no-answer", "canceled"})


# A call's events are numbered epoch x EPOCH_SPAN + position (ivr/state.py): the epoch,
# Redis's clock in ms when it started numbering the call, changes only when Redis lost the
# call's keys; a position is the event's place in the call's list, from 1 (a million
# events is more than any call makes before its keys expire).
EPOCH_SPAN = 1_000_000


def event_sequence(epoch: int, position: int) -> int:
    return epoch * EPOCH_SPAN + position


def epoch_and_position(sequence: int) -> tuple[int, int]:
    return divmod(sequence, EPOCH_SPAN)


@dataclass(frozen=True)
class Event:
    sequence: int
    at: datetime
    kind: str
    detail: dict[str, Any]


def find_call(session: Session, call_sid: str, *, lock: bool = False) -> CallRecord | None:
    """The call's record; `lock` holds its row until commit, so two workers writing
    one call's events take turns and each summary sees every event (PostgreSQL;
    SQLite's write transactions already take turns)."""
    query = select(CallRecord).where(CallRecord.call_sid == call_sid)
    return session.scalar(query.with_for_update() if lock else query)


_FIELD_NAMES: dict[tuple[type, tuple[str, ...]], tuple[str, ...]] = {}


def _plain_fields(cls: type, *but: str) -> tuple[str, ...]:
    """A dataclass's field names but some, for its JSON: once per class (dataclasses.fields
    builds its tuple on every call, and the drain reads thousands of calls' JSON a second)."""
    if (cls, but) not in _FIELD_NAMES:
        _FIELD_NAMES[cls, but] = tuple(f.name for f in fields(cls) if f.name not in but)
    return _FIELD_NAMES[cls, but]


@dataclass(frozen=True)
class CallOpened:
    """A call opened: the first webhook of a call in (`/ivr/voice`), or the first step or
    status callback of a call the hotline placed.  Its record starts from it; between the
    webhook and the records worker it travels as JSON (Redis, the record spool)."""

    call_sid: str
    from_number: str
    to_number: str
    caller: CallerMatch  # whose number it is: E.164 and the patient files it belongs to
    language: str
    at: datetime
    direction: str = "inbound"

    def to_json(self) -> dict[str, Any]:
        kept = {name: getattr(self, name) for name in _plain_fields(CallOpened, "caller", "at")}
        return {
            **kept,
            "e164": self.caller.e164,
            "patient_ids": list(self.caller.patient_ids),
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> CallOpened:
        kept = {name: data[name] for name in _plain_fields(cls, "caller", "at") if name in data}
        caller = CallerMatch(data.get("e164"), tuple(int(i) for i in data.get("patient_ids", ())))
        return cls(**kept, caller=caller, at=datetime.fromisoformat(data["at"]))


def open_call(session: Session, opened: CallOpened) -> CallRecord:
    """The call's record, created on its first webhook (a retried webhook finds it)."""
    call_sid, from_number, to_number = opened.call_sid, opened.from_number, opened.to_number
    caller, language, at, direction = opened.caller, opened.language, opened.at, opened.direction
    existing = find_call(session, call_sid)
    if existing is not None:
        from_carrier = _reasons(existing) & {CALLER_FROM_CARRIER, OPENED_FROM_CARRIER}
        if (_is_placeholder(existing) or from_carrier) and from_number != "unknown":
            # Its events or status were written first (jobs run in any order), or the sweep
            # filled it in from the carrier before this job came: the call's own opening wins.
            for why in from_carrier:
                _unmark(existing, why)
            existing.direction = direction[:16]
            existing.from_number = (caller.e164 or from_number or "unknown")[:64]
            existing.to_number = (to_number or "")[:64]
            existing.patient_id = caller.patient_id
            existing.matched_patients = len(caller.patient_ids)
            existing.language = spoken_language(existing.events, language)
            existing.started_at = min(existing.started_at, at)
        return existing
    record = _new_record(opened)
    try:
        with session.begin_nested():
            session.add(record)
    except IntegrityError:  # the same webhook, retried concurrently, won the race
        won = find_call(session, call_sid)
        if won is None:
            raise  # no race: the row itself was refused (its caller's file gone, say)
        return won
    return record


def _new_record(opened: CallOpened) -> CallRecord:
    return CallRecord(**_opening_row(opened))


def _opening_row(opened: CallOpened) -> dict[str, Any]:
    """A new record's columns from the call's opening (its status to come)."""
    caller = opened.caller
    return {
        "call_sid": opened.call_sid,
        "direction": opened.direction[:16],
        "from_number": (caller.e164 or opened.from_number or "unknown")[:64],
        "to_number": (opened.to_number or "")[:64],
        "patient_id": caller.patient_id,
        "matched_patients": len(caller.patient_ids),
        "language": opened.language,
        "started_at": opened.at,
        "status": "in-progress",
        "status_sequence": -1,
    }


def record_events(session: Session, call_sid: str, events: Iterable[Event], at: datetime) -> CallRecord:
    """Store the events not stored yet (each once, by its sequence number in the call),
    then rebuild what they make: the menu path, the outcome, the queue entries."""
    record = find_call(session, call_sid, lock=True) or _placeholder(session, call_sid, at)
    events = list(events)
    if not events:
        return record  # nothing new (or Redis lost them): keep what the record says
    _store_events(session, record, events)
    summarise(session, record)
    if _reasons(record) & EVENTS_REASONS:
        _recheck_events(session, record)
    return record


def summarise(session: Session, record: CallRecord) -> None:
    """Rebuild the call's menu path, outcome and queue entries from all its stored events."""
    session.flush()
    events = list(session.scalars(select(CallEvent).where(CallEvent.call_id == record.id)))
    session.execute(delete(QueueEntry).where(QueueEntry.call_id == record.id))
    session.add_all(_summary(record, events))
    session.expire(record, ["events"])


@dataclass(frozen=True)
class Summary:
    """What a call's events make: its menu path, the language it went on in, its outcome and
    its queue entries."""

    menu_path: str
    language: str
    outcome: str
    entries: list[queue_entries.Entry]


def summary(events: Iterable[CallEvent | Event], opened_in: str, ended_at: datetime | None) -> Summary:
    """`ended_at`: the final status's time (it closes the queue entries left open), or None."""
    events = sorted(events, key=lambda event: (event.at, event.sequence))
    entries = queue_entries.build(events, ended_at)
    return Summary(
        menu_path(events), spoken_language(events, opened_in), queue_entries.outcome(entries, outcome(events)), entries
    )


def _summary(record: CallRecord, events: Iterable[CallEvent | Event]) -> list[QueueEntry]:
    """The call's menu path, language and outcome set from its events; its queue entries."""
    found = summary(events, record.language, record.ended_at if record.status in FINAL_STATUSES else None)
    record.menu_path, record.language, record.outcome = found.menu_path, found.language, found.outcome
    return [QueueEntry(**_entry_row(record.id, entry)) for entry in found.entries]


def _entry_row(call_id: int, entry: queue_entries.Entry) -> dict[str, Any]:
    return {"call_id": call_id, **{k: v for k, v in vars(entry).items() if k != "opened_by_transfer"}}


def apply_status(
    session: Session,
    call_sid: str,
    *,
    status: str,
    sequence: int | None,
    duration_seconds: int | None,
    at: datetime,
) -> CallRecord:
    """The carrier's status callback: applied if it is newer than the one on record (by
    its SequenceNumber), and a final status is never replaced by an earlier, non-final one.

    A late final status after a reconstruction: when the sweep (`reconstruct`) completed the
    call from the carrier's Calls API because its status job was lost or late, and the call's
    own final status callback then arrives (a retried or spooled job), the call's own data wins
    whatever the numbers say: its status, end and duration replace the carrier's, its
    SequenceNumber becomes the record's, and the reason "final status from the carrier" is
    taken back (a record with no reason left is no longer reconstructed).  The same rule holds
    for the call's other parts: a late opening (`open_call`) replaces the caller the sweep took
    from the carrier and takes back "caller from the carrier" / "no record: opened from the
    carrier"; late events (`record_events`) take back "events missing" / "no events kept" once
    the stored events no longer show a loss.  "Redis lost the call's state mid-call" stays: a
    second numbering epoch is never undone."""
    record = find_call(session, call_sid, lock=True) or _placeholder(session, call_sid, at)
    if _apply_status(record, status=status, sequence=sequence, duration_seconds=duration_seconds, at=at):
        summarise(session, record)  # a caller still queued when the call ended abandoned it
    return record


def _apply_status(
    record: CallRecord, *, status: str, sequence: int | None, duration_seconds: int | None, at: datetime
) -> bool:
    """`apply_status`'s rule on a record in hand; True when a final status was applied (the
    summary is then rebuilt: the call's end closes its queue entries)."""
    if status in FINAL_STATUSES and FINAL_FROM_CARRIER in _reasons(record):
        # The call's own final status, after the sweep took one from the carrier: it wins.
        record.status = status[:16]
        if sequence is not None:
            record.status_sequence = sequence
        record.ended_at = at
        record.duration_seconds = duration_seconds
        _unmark(record, FINAL_FROM_CARRIER)
        return True
    if record.status in FINAL_STATUSES and status not in FINAL_STATUSES:
        return False  # a late 'ringing' after 'completed'
    if sequence is not None and sequence <= record.status_sequence:
        return False  # a duplicate, or older than what we have
    if record.status in FINAL_STATUSES and sequence is None:
        return False  # an unnumbered duplicate of the final status
    record.status = status[:16]
    record.status_sequence = sequence if sequence is not None else record.status_sequence + 1
    if status in FINAL_STATUSES:
        record.ended_at = at
        record.duration_seconds = duration_seconds
        return True
    return False


# ---- a finished call, written at once by the records worker ---------------------------------


@dataclass(frozen=True)
class StatusCallback:
    """The carrier's status callback: the call's status, and whom the call was with (what a
    record is written from when Redis lost the call's opening)."""

    call_sid: str
    status: str
    sequence: int | None
    duration_seconds: int | None
    at: datetime
    from_number: str = ""
    to_number: str = ""
    direction: str = "inbound"

    @property
    def final(self) -> bool:
        return self.status in FINAL_STATUSES

    def to_json(self) -> dict[str, Any]:
        return {
            **{name: getattr(self, name) for name in _plain_fields(StatusCallback, "at")},
            "at": self.at.isoformat(),
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> StatusCallback:
        kept = {name: data[name] for name in _plain_fields(cls, "at") if name in data}
        return cls(**kept, at=datetime.fromisoformat(data["at"]))

    def as_carrier(self) -> CarrierCall:
        return CarrierCall(
            self.call_sid, self.status, self.from_number, self.to_number, self.direction, None, self.at,
            self.duration_seconds,
        )  # fmt: skip


@dataclass(frozen=True)
class FinishedCall:
    """What Redis kept of a call, handed to the records worker at its final status: its opening
    (None if Redis lost it), its events, and the final status (None for events that came after
    it, an agent's wrap-up)."""

    call_sid: str
    opened: CallOpened | None
    events: tuple[Event, ...]
    status: StatusCallback | None


@dataclass(frozen=True)
class DeadLetter:
    """A finished call set aside after the database kept refusing its record (the dead
    letters, queueing.recording): the letter's id in Redis, its call as far as it can be read,
    and the parts of it that cannot be ("opening", "events", "final status": left out of
    `call`, an event that cannot be read alone, the others kept)."""

    entry_id: str
    call: FinishedCall
    unreadable: frozenset[str] = frozenset()


def record_finished(session: Session, call: FinishedCall, at: datetime) -> CallRecord:
    """A finished call's record, written at once: opening, events (each once), status, summary.
    Written again, it stores nothing twice.  When Redis lost the call's opening (restarted
    empty mid-call), the record is completed from what the status callback says of the call
    and marked reconstructed with the reason, as the sweep's `reconstruct` does."""
    if call.opened is not None:
        open_call(session, call.opened)
    record = find_call(session, call.call_sid, lock=True) or _placeholder(session, call.call_sid, at)
    _store_events(session, record, call.events)
    status = call.status
    if status is not None:
        _apply_status(
            record,
            status=status.status,
            sequence=status.sequence,
            duration_seconds=status.duration_seconds,
            at=status.at,
        )
    summarise(session, record)
    if _reasons(record) & EVENTS_REASONS:
        _recheck_events(session, record)
    if call.opened is None and status is not None and status.final and _is_placeholder(record):
        lost = LOST_FROM_REDIS if call.events else None
        reconstruct(session, call.call_sid, carrier=status.as_carrier(), lost=lost, at=at)
    return record


def record_finished_batch(session: Session, finished: Sequence[FinishedCall], at: datetime) -> None:
    """A batch of finished calls, in the session's transaction.  The usual call (opened in
    Redis and ended by its final status) is written set-based for the whole batch: its record
    in one INSERT ... ON CONFLICT (call_sid) DO NOTHING (records.db.insert_new), then the
    events and queue entries of the records that INSERT made (records.db.insert_made).  A call whose record is
    stored already (a rerun, a placeholder, the sweep's reconstruction, another writer meanwhile)
    is skipped by that INSERT and goes, with the unusual ones, through `record_finished`'s
    rules one by one, after them: a duplicate in the batch finds the record made."""
    usual: dict[str, tuple[FinishedCall, dict[str, Any], Summary]] = {}
    rest: list[FinishedCall] = []
    for call in finished:
        if call.opened is not None and call.status is not None and call.status.final and call.call_sid not in usual:
            usual[call.call_sid] = (call, *_finished_row(call.opened, call.status, call.events))
        else:
            rest.append(call)
    rows = [row for _, row, _ in usual.values()]
    made = dict(insert_new(session, CallRecord, rows, ["call_sid"], returning=("call_sid", "id")))
    events, entries = [], []
    for sid, (call, _, found) in usual.items():
        if sid not in made:
            rest.append(call)
            continue
        events += [_event_row(made[sid], event) for event in _distinct(call.events)]
        entries += [_entry_row(made[sid], entry) for entry in found.entries]
    insert_made(session, CallEvent, events)
    insert_made(session, QueueEntry, entries)
    for call in rest:
        record_finished(session, call, at)


def _finished_row(
    opened: CallOpened, status: StatusCallback, events: Sequence[Event]
) -> tuple[dict[str, Any], Summary]:
    """A usual finished call's record, its columns all known at once: the opening's, the final
    status as `_apply_status` sets it on a record with none yet, and its events' summary."""
    found = summary(_distinct(events), opened.language, status.at)
    ended = {
        "status": status.status[:16],
        "status_sequence": status.sequence if status.sequence is not None else 0,
        "ended_at": status.at,
        "duration_seconds": status.duration_seconds,
    }
    made = {"language": found.language, "menu_path": found.menu_path, "outcome": found.outcome}
    kept = {"reconstructed": False, "reconstructed_why": ""}
    return {**_opening_row(opened), **ended, **made, **kept}, found


def _distinct(events: Iterable[Event]) -> list[Event]:
    """Each sequence number once (a list read twice into Redis holds it twice)."""
    return list({event.sequence: event for event in events}.values())


def _event_row(call_id: int, event: Event) -> dict[str, Any]:
    return {
        "call_id": call_id,
        "sequence": event.sequence,
        "at": event.at,
        "kind": event.kind[:24],
        "detail": event.detail,
    }


def _store_events(session: Session, record: CallRecord, events: Iterable[Event]) -> None:
    rows = [_event_row(record.id, event) for event in _distinct(events)]
    # A duplicate callback, a rerun drain or a replayed spool row stores nothing twice.
    insert_new(session, CallEvent, rows, ["call_id", "sequence"])


# ---- reconstruction: calls whose events, opening or final status were lost -------------------


@dataclass(frozen=True)
class CarrierCall:
    """What the carrier's Calls API says of a call (fetched by queueing/reconstruction.py)."""

    call_sid: str
    status: str
    from_number: str
    to_number: str
    direction: str
    started_at: datetime | None
    ended_at: datetime | None
    duration_seconds: int | None


# Epochs below this (before 2001 in ms) are not Redis's clock: 0 is the numbering before
# epochs (positions alone), and events spooled before Redis numbered them take numbers of
# 1,000,000,000 and up from their spool row (records.spool), in no call's numbering.
FIRST_REDIS_EPOCH = 10**12
LOST_FROM_REDIS = "Redis lost the call's state mid-call"
EVENTS_MISSING = "events missing"
NO_EVENTS = "no events kept"
FINAL_FROM_CARRIER = "final status from the carrier"
CALLER_FROM_CARRIER = "caller from the carrier"
OPENED_FROM_CARRIER = "no record: opened from the carrier"
# The reasons about a call's events that its own late events can take back.
EVENTS_REASONS = frozenset({EVENTS_MISSING, NO_EVENTS})


def lost_events(sequences: Iterable[int], *, completed_call_in: bool = False) -> str | None:
    """Why a call's stored events show some were lost, or None: no sign of it.  Redis
    numbers a call's events 1, 2, 3... in one epoch; a second epoch means Redis lost the
    call's keys (and with them, most likely, the record jobs still queued), a gap in an
    epoch's positions means a record job was lost.  A completed call in (`completed_call_in`)
    with no event at all lost them all: the hotline's answer to a call in always leaves one
    (the greeting's menu, or the limit that turned it away); a call out that was not answered
    has none of its own."""
    sequences = list(sequences)
    if not sequences:
        return NO_EVENTS if completed_call_in else None
    epochs: dict[int, list[int]] = {}
    for sequence in sequences:
        epoch, position = epoch_and_position(sequence)
        if 0 < epoch < FIRST_REDIS_EPOCH:
            continue  # numbered from the spool
        epochs.setdefault(epoch, []).append(position)
    if len(epochs) > 1:
        return LOST_FROM_REDIS
    for positions in epochs.values():
        if sorted(set(positions)) != list(range(1, max(positions) + 1)):
            return EVENTS_MISSING
    return None


def reconstruct(
    session: Session, call_sid: str, *, carrier: CarrierCall | None, lost: str | None, at: datetime
) -> CallRecord | None:
    """Complete a call from what is known after part of it was lost, and say so on the
    record: a record opened from the carrier when it has none, its caller when only a
    placeholder was made, its final status and duration when the status callback never
    reached it.  Idempotent: each is done once, each reason said once."""
    record = find_call(session, call_sid, lock=True)
    if record is None:
        if carrier is None or carrier.status not in FINAL_STATUSES:
            return None  # nothing known of it yet, or the call goes on: a later sweep sees it
        record = _open_from_carrier(session, carrier, at)
        _mark(record, OPENED_FROM_CARRIER)
    if lost:
        _mark(record, lost)
    if carrier is not None:
        if _is_placeholder(record) and carrier.from_number:
            _fill_from_carrier(session, record, carrier)
            _mark(record, CALLER_FROM_CARRIER)
        if record.status not in FINAL_STATUSES and carrier.status in FINAL_STATUSES:
            apply_status(
                session,
                call_sid,
                status=carrier.status,
                sequence=None,
                duration_seconds=carrier.duration_seconds,
                at=carrier.ended_at or at,
            )
            _mark(record, FINAL_FROM_CARRIER)
    if not lost and _completed_call_in(record) and not _sequences(session, record):
        _mark(record, NO_EVENTS)  # completed now, and every event it had was lost
    return record


CARRIER_CALLS = "carrier_calls"  # the sweep mark of the carrier's Calls list


def calls_listed_through(session: Session) -> datetime | None:
    """Up to when the reconstruction sweep has checked the carrier's finished calls against
    the records (None: never yet)."""
    return session.scalar(select(SweepMark.through).where(SweepMark.name == CARRIER_CALLS))


def mark_calls_listed(session: Session, through: datetime) -> None:
    """Every call the carrier says ended before `through` has a record now.  The mark never
    goes back (a slower sweep finishing after a later one leaves the later one's)."""
    mark = session.get(SweepMark, CARRIER_CALLS, with_for_update=True)
    if mark is None:
        try:
            with session.begin_nested():
                session.add(SweepMark(name=CARRIER_CALLS, through=through))
            return
        except IntegrityError:  # another sweep made it first
            mark = session.get(SweepMark, CARRIER_CALLS, with_for_update=True, populate_existing=True)
            assert mark is not None, "the other sweep's mark is committed"
    mark.through = max(mark.through, through)


def _completed_call_in(record: CallRecord) -> bool:
    return record.direction == "inbound" and record.status == "completed"


def _sequences(session: Session, record: CallRecord) -> list[int]:
    session.flush()
    return list(session.scalars(select(CallEvent.sequence).where(CallEvent.call_id == record.id)))


def _recheck_events(session: Session, record: CallRecord) -> None:
    """The call's own events came after the sweep said some were lost: say what the stored
    events show now (nothing, if the late ones filled the gap)."""
    now = lost_events(_sequences(session, record), completed_call_in=_completed_call_in(record))
    for why in _reasons(record) & EVENTS_REASONS:
        if why != now:
            _unmark(record, why)
    if now is not None:
        _mark(record, now)


def _reasons(record: CallRecord) -> set[str]:
    return {reason for reason in (record.reconstructed_why or "").split("; ") if reason}


def _mark(record: CallRecord, why: str) -> None:
    reasons = [reason for reason in (record.reconstructed_why or "").split("; ") if reason]
    if why in reasons:
        return  # said already
    record.reconstructed = True
    record.reconstructed_why = "; ".join([*reasons, why])[:200]


def _unmark(record: CallRecord, why: str) -> None:
    """The call's own data came for what the reconstruction had filled in: its reason goes,
    and with the last one the mark."""
    reasons = [reason for reason in (record.reconstructed_why or "").split("; ") if reason and reason != why]
    record.reconstructed_why = "; ".join(reasons)
    record.reconstructed = bool(reasons)


def carrier_caller(session: Session, carrier: CarrierCall) -> CallerMatch:
    """Whom the call was with: the caller of an inbound call, the one called by the hotline
    (also whose a dead letter without its opening is: records.privacy.unwritten_calls)."""
    if carrier.direction == "inbound":
        return match_caller(session, carrier.from_number) if carrier.from_number else CallerMatch(None, ())
    # A call the hotline placed: the patient's file, not their number in from_number.
    return CallerMatch(None, match_caller(session, carrier.to_number).patient_ids if carrier.to_number else ())


def _open_from_carrier(session: Session, carrier: CarrierCall, at: datetime) -> CallRecord:
    opened = CallOpened(
        call_sid=carrier.call_sid,
        from_number=carrier.from_number or "unknown",
        to_number=carrier.to_number,
        caller=carrier_caller(session, carrier),
        language="zh",  # what it was answered in is unknown: the hospital's first language
        at=carrier.started_at or carrier.ended_at or at,
        direction=carrier.direction,
    )
    return open_call(session, opened)


def _fill_from_carrier(session: Session, record: CallRecord, carrier: CarrierCall) -> None:
    caller = carrier_caller(session, carrier)
    record.direction = carrier.direction[:16]
    record.from_number = (caller.e164 or carrier.from_number)[:64]
    record.to_number = carrier.to_number[:64]
    record.patient_id = caller.patient_id
    record.matched_patients = len(caller.patient_ids)
    if carrier.started_at is not None:
        record.started_at = min(record.started_at, carrier.started_at)


def _placeholder(session: Session, call_sid: str, at: datetime) -> CallRecord:
    """A status callback for a call whose first webhook never reached the database."""
    nobody = CallOpened(
        call_sid, from_number="unknown", to_number="", caller=CallerMatch(None, ()), language="zh", at=at
    )
    return open_call(session, nobody)


def _is_placeholder(record: CallRecord) -> bool:
    return record.from_number == "unknown" and record.to_number == "" and record.matched_patients == 0


def menu_path(events: Iterable[CallEvent | Event]) -> str:
    steps: list[str] = []
    for event in events:
        if event.kind == "menu" and (not steps or steps[-1] != event.detail.get("step")):
            steps.append(str(event.detail.get("step")))
    return " > ".join(steps)


def spoken_language(events: Iterable[CallEvent | Event], opened_in: str) -> str:
    """The language the call went on in: the caller's last switch (a 'language' event, e.g.
    9 at the main menu), else the one it was answered in."""
    switches = [event.detail.get("lang") for event in events if event.kind == "language"]
    return next((lang for lang in reversed(switches) if lang in LANGUAGES), opened_in)


# What the caller did to be counted as served by the menus: a call with none of these,
# that heard nothing but the greeting's main menu, hung up in the greeting.
CHOICES = frozenset({"key", "speech", "entry"})


def outcome(events: Iterable[CallEvent | Event]) -> str:
    events = list(events)
    kinds = {event.kind for event in events}
    if "call_limited" in kinds:  # over config call_limits: turned away after the emergency number
        return "limited"
    if kinds & {"transfer", "to_person", "enqueue"}:  # asked for a person (issue 4: the seats' queue)
        return "transferred"
    if "error" in kinds:
        return "error"
    menus = {event.detail.get("step") for event in events if event.kind == "menu"}
    if menus == {"menu.main"} and not kinds & CHOICES:
        return "greeting_hangup"  # not self-service: the menus served nobody (issue 22)
    return "self_service"
