"""A patient's copy of what the hotline holds about them, and erasure on request
(China's PIPL Art. 45 and 47).  The views (supervisor/privacy.py) ask why, audit, and
delete recordings at the carrier; these functions read and change the rows.

Scope: what the hotline itself collected: calls and their events, texts, complaint cases
and their notes, wrap-up notes, notes on the file, survey and follow-up answers, and the
patient's calls not yet written: the dead letters, finished calls whose record the database
kept refusing, kept whole in Redis (queueing.recording).  The views read and delete those;
`unwritten_calls` says which are the patient's, the copy gives each with its content (its
opening, events and final status, as a written call's; a part that cannot be read, as
such), erasure deletes them whole (a letter is its call's unwritten record: there is
nothing to blank it down to).
The patient's calls going on, or ended and waiting in Redis for the records worker
(`being_written`), are listed by the copy, and hold back erasure until they are written:
erased in Redis, the drain could still write one it had read already; left, it would
write them after the erasure.  The parts of their calls spooled in the database while
Redis was away (records.spool, found by `spooled`) are listed by the copy, each with its
content (a payload that cannot be read, as such), still to be written or set aside; they
hold back erasure too while still to be replayed, and those set aside (their replay failed
SET_ASIDE_AFTER times) are deleted with the rest.  The patient's identity (name, record
number, date of birth, numbers) and their appointments come from and belong to the
hospital's own systems: the copy shows them; erasure leaves them to the hospital's records
office.  What must be kept stays, and says so:

- an unfinished complaint case refuses erasure (it is being handled for the patient);
- an opt-out from outreach is kept (erasing it would start the calls again);
- the access audit is kept (the law asks for it; it says who looked, not what was said).
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import Text, cast, delete, select, update
from sqlalchemy.orm import Session, defer

from records import spool
from records.calls import CallOpened, DeadLetter, Event, FinishedCall, StatusCallback, carrier_caller
from records.db import changed
from records.models import (
    Appointment,
    AuditEntry,
    CallEvent,
    CallRecord,
    CaseHandover,
    CaseNote,
    ComplaintCase,
    FollowUpTask,
    OutreachOptOut,
    Patient,
    PatientNote,
    RecordSpool,
    SmsMessage,
    SurveyResponse,
    WaitlistEntry,
    WrapUp,
)
from records.retention import PURGED, RECORDING_EVENTS, Recording


def _iso(value: Any) -> Any:
    return value.isoformat() if hasattr(value, "isoformat") else value


def _row(obj: Any, fields: tuple[str, ...]) -> dict[str, Any]:
    return {name: _iso(getattr(obj, name)) for name in fields}


def _event(at: Any, kind: str, detail: dict[str, Any]) -> dict[str, Any]:
    """A call's event as the copy gives it: when, what, and what was said or done."""
    return {"at": _iso(at), "kind": kind, **detail}


def patient_copy(
    session: Session,
    patient: Patient,
    unwritten: Sequence[DeadLetter] = (),
    writing: Sequence[FinishedCall] = (),
) -> dict[str, Any]:
    """Everything the hotline holds about this patient, as plain data (the JSON export,
    and what the readable copy is rendered from).  Nothing of any other patient.
    `unwritten`: the patient's calls not yet written, the dead letters (`unwritten_calls`),
    each with its content; `writing`: those still in Redis, going on or waiting for the drain
    (`being_written`).  The parts of their calls spooled while Redis was away (`spooled`) are
    read here, each with its content."""
    calls = list(
        session.scalars(select(CallRecord).where(CallRecord.patient_id == patient.id).order_by(CallRecord.started_at))
    )
    call_sids = [call.call_sid for call in calls]
    cases = list(session.scalars(select(ComplaintCase).where(ComplaintCase.patient_id == patient.id)))
    return {
        "patient": {
            **_row(patient, ("mrn", "name_zh", "name_en", "sex", "birth_date", "preferred_language", "category")),
            "phones": [phone.e164 for phone in patient.phones],
        },
        "calls": [
            {
                **_row(
                    call,
                    ("call_sid", "direction", "from_number", "started_at", "ended_at", "duration_seconds", "outcome"),
                ),
                "language": call.language,
                **_said_events(call.events),
            }
            for call in calls
        ],
        # The calls still in Redis are said, not given: their record comes within seconds, or
        # when the call going on ends, and a new copy gives it with the calls above.
        "unwritten_calls": [_unwritten_call(letter) for letter in unwritten]
        + [{"call_sid": call.call_sid, "started_at": _iso(began(call)), "record": "being written"} for call in writing],
        "spooled_parts": [_spooled_part(row) for row in spooled(session, patient)],
        "appointments": [
            _row(item, ("reference", "date", "place", "status", "channel", "booked_at", "cancelled_at"))
            for item in session.scalars(
                select(Appointment).where(Appointment.patient_id == patient.id).order_by(Appointment.booked_at)
            )
        ],
        "cases": [
            {
                **_row(
                    case,
                    (
                        "id",
                        "kind",
                        "status",
                        "summary",
                        "opened_at",
                        "deadline_at",
                        "answered_at",
                        "closed_at",
                        "address",
                        "errand_status",
                        "tracking_number",
                    ),
                ),  # fmt: skip
                "notes": [_row(note, ("at", "kind", "text")) for note in case.notes],
            }
            for case in cases
        ],
        "waiting_lists": [
            {
                **_row(item, ("status", "joined_at", "channel", "offered_at", "offer_expires_at", "answered_at")),
                "session_date": _iso(item.session.date),
            }
            for item in session.scalars(
                select(WaitlistEntry).where(WaitlistEntry.patient_id == patient.id).order_by(WaitlistEntry.joined_at)
            )
        ],  # fmt: skip
        "texts": [
            _row(sms, ("kind", "to_number", "body", "status", "created_at", "sent_at"))
            for sms in session.scalars(
                select(SmsMessage).where(SmsMessage.patient_id == patient.id).order_by(SmsMessage.created_at)
            )
        ],
        "wrap_up_notes": [
            _row(wrap, ("call_sid", "disposition", "notes", "at"))
            for wrap in session.scalars(select(WrapUp).where(WrapUp.call_sid.in_(call_sids)))
        ]
        if call_sids
        else [],
        "file_notes": [
            _row(note, ("at", "kind", "text"))
            for note in session.scalars(select(PatientNote).where(PatientNote.patient_id == patient.id))
        ],
        "surveys": [
            _row(item, ("call_sid", "score", "comment_recording_sid", "at"))
            for item in session.scalars(select(SurveyResponse).where(SurveyResponse.patient_id == patient.id))
        ],
        "follow_ups": [
            _row(task, ("status", "attempts", "reached_at", "finished_at", "answers", "flags"))
            for task in session.scalars(select(FollowUpTask).where(FollowUpTask.patient_id == patient.id))
        ],
        "outreach_opt_out": [
            _row(item, ("at", "channel"))
            for item in session.scalars(select(OutreachOptOut).where(OutreachOptOut.patient_id == patient.id))
        ],
        # Who looked at the file and why (not which member of staff: that is the hospital's).
        "accesses": [
            _row(entry, ("at", "action", "reason"))
            for entry in session.scalars(
                select(AuditEntry).where(AuditEntry.patient_id == patient.id).order_by(AuditEntry.at)
            )
        ],
    }


@dataclass(frozen=True)
class Refusal:
    """Why erasure cannot happen now, in both languages."""

    zh: str
    en: str


SPOOLED_AWAITING_REPLAY = Refusal(
    zh="该患者的通话记录有部分在 Redis 中断时暂存于数据库，尚待写入，请一分钟后重试。",
    en="Part of a call of the patient's, kept in the database while Redis was away, is still to be written: "
    "try again in a minute.",
)


def erasure_refused(session: Session, patient: Patient) -> Refusal | None:
    unfinished = session.scalar(
        select(ComplaintCase.id)
        .where(ComplaintCase.patient_id == patient.id, ComplaintCase.status != "closed")
        .limit(1)
    )
    if unfinished is not None:
        return Refusal(
            zh=f"该患者的投诉个案 #{unfinished} 尚未关闭，须保留至办结。",
            en=f"Complaint case #{unfinished} is not closed yet: it is kept until it is.",
        )
    # Spooled parts of the patient's calls still to be replayed wait, as the calls still in
    # Redis do, rather than being deleted: the replay writes each within a minute (the erasure
    # needs Redis, so Redis is back) and the erasure then blanks it with the written rows, or
    # it fails SET_ASIDE_AFTER replays, a minute apart, and the erasure deletes it set aside.
    # Deleted now, the call's record would lose what the reports count of it (its final
    # status, duration, queue waits), which the erasure otherwise keeps unlinked.
    if any(not spool.is_set_aside(row) for row in spooled(session, patient)):
        return SPOOLED_AWAITING_REPLAY
    return None


def spooled(session: Session, patient: Patient) -> list[RecordSpool]:
    """The record spool's rows (records.spool) of the patient's calls, oldest first: every row
    of a call whose written record names the patient, or whose spooled opening's caller match
    names their file alone (the match made when the call came in, which the written record
    would carry; a family number, several files, names none, as on a written record), or, a
    call with neither, whose spooled final status's caller is theirs, as for a dead letter
    without its opening (`unwritten_calls`).  Not matched: the parts (events, statuses) of a
    call with no written record and neither its opening nor its final status spooled (what
    names the caller is in Redis, or lost), nor an opening or final status whose payload cannot
    be read; a call of the patient's already erased (its record names no one) only by its
    opening.  The spool is rows from Redis's outages only: read whole."""
    rows = list(session.scalars(select(RecordSpool).options(defer(RecordSpool.payload)).order_by(RecordSpool.id)))
    by_call: dict[str, list[RecordSpool]] = {}
    for row in rows:
        by_call.setdefault(row.call_sid, []).append(row)
    # A join, not an IN list of the spool's CallSids: a day's outage spools more calls than a
    # statement takes parameters (65,535 on PostgreSQL).
    written = (
        select(CallRecord.call_sid)
        .join(RecordSpool, RecordSpool.call_sid == CallRecord.call_sid)
        .where(CallRecord.patient_id == patient.id)
        .distinct()
    )
    theirs = set(session.scalars(written)) if by_call else set()
    said = _callers_said(session) if len(theirs) < len(by_call) else {}
    theirs |= {
        sid
        for sid, parts in by_call.items()
        if sid not in theirs and _whose(session, _spooled_call(sid, parts, said)) == patient.id
    }
    return [row for row in rows if row.call_sid in theirs]


def _callers_said(session: Session) -> dict[int, Any]:
    """What the spool's openings and final statuses say, by row, read at once as text (one
    that cannot be decoded is its own row's None): loaded row by row, a day's outage was a
    statement per call, and on PostgreSQL a row the replay applied (and deleted) since the
    rows were listed raised ObjectDeletedError."""
    query = select(RecordSpool.id, cast(RecordSpool.payload, Text)).where(RecordSpool.job.in_(("open_call", "finish")))
    said = {}
    for row_id, text in session.execute(query):
        try:
            said[row_id] = json.loads(text)
        except (ValueError, TypeError):
            said[row_id] = None
    return said


# The spool's jobs (RecordSpool.job) in the hotline's words: which part of a call a row is.
SPOOLED_PARTS = {"open_call": "opening", "write_events": "events", "apply_status": "status", "finish": "final status"}
CANNOT_BE_READ = "cannot be read"


def _spooled_part(row: RecordSpool) -> dict[str, Any]:
    """A spool row of the patient's as the copy gives it: its call, when it was spooled, which
    part it is, whether the replays still take it or it is set aside, and its content as the
    copy gives a written call's (CANNOT_BE_READ for a payload this version cannot read: the
    row is still listed, and the copy still given)."""
    try:
        content = _spooled_content(row)
    except spool.UNREADABLE:
        content = None
    return {
        "call_sid": row.call_sid,
        "spooled_at": _iso(row.created_at),
        "part": SPOOLED_PARTS.get(row.job, "unknown"),
        "record": "set aside" if spool.is_set_aside(row) else "still to be written",
        "content": CANNOT_BE_READ if content is None else content,
    }


def _spooled_content(row: RecordSpool) -> dict[str, Any] | None:
    """What the row says, read as its replay reads it (raises spool.UNREADABLE if it cannot)."""
    data = spool.payload(row)
    if data is None:
        return None
    if row.job == "open_call":
        return _said_opening(CallOpened.from_json(data))
    if row.job == "write_events":
        return _said_events(
            Event(0, datetime.fromisoformat(at), kind, detail or {}) for _, at, kind, detail in data["events"]
        )
    if row.job in ("apply_status", "finish"):
        return _said_status(StatusCallback.from_json(data))
    return None  # a job this version does not write (a newer one's): not read


# What a call's parts say, as the copy gives a written call's, a spooled part's and a dead
# letter's alike (the page renders them with one template: supervisor/patient_copy.html).


def _said_opening(opened: CallOpened) -> dict[str, Any]:
    return {
        "direction": opened.direction,
        "from_number": opened.caller.e164 or opened.from_number,  # as its record would say
        "started_at": _iso(opened.at),
        "language": opened.language,
    }


def _said_events(events: Iterable[Event | CallEvent]) -> dict[str, Any]:
    """A call's events (menus, keys, what was said) and the recordings they hold."""
    events = list(events)
    return {
        "events": [_event(event.at, event.kind, event.detail) for event in events],
        "recordings": _recordings(events),
    }


def _said_status(status: StatusCallback) -> dict[str, Any]:
    said = {"status": status.status, "at": _iso(status.at), "duration_seconds": status.duration_seconds}
    return {**said, "from_number": status.from_number} if status.from_number else said


def _recordings(events: Iterable[Event | CallEvent]) -> list[str]:
    """The recordings (voicemail, recorded talk) whose address a call's events hold."""
    return [
        str(event.detail["recording_sid"])
        for event in events
        if event.kind in RECORDING_EVENTS and isinstance(event.detail, dict) and event.detail.get("recording_sid")
    ]


def _unwritten_call(letter: DeadLetter) -> dict[str, Any]:
    """A dead letter of the patient's as the copy gives it: its call, when it began, and each
    part the letter holds (opening, events, final status) with its content as a written
    call's, or CANNOT_BE_READ for a part this version cannot read (the events that can be are
    given beside it): the letter is still listed, and the copy still given."""
    call = letter.call
    parts = []
    for part, content in (
        ("opening", _said_or_not(_said_opening, call.opened)),
        ("events", _said_or_not(_said_events, call.events)),
        ("final status", _said_or_not(_said_status, call.status)),
    ):
        if content is not None:
            parts.append({"part": part, "content": content})
        if part in letter.unreadable and content != CANNOT_BE_READ:
            parts.append({"part": part, "content": CANNOT_BE_READ})
    return {"call_sid": call.call_sid, "started_at": _iso(began(call)), "record": "not yet written", "parts": parts}


def _said_or_not(say: Callable[[Any], dict[str, Any]], part: Any) -> dict[str, Any] | str | None:
    """What a letter's part says (None: the letter holds none), or CANNOT_BE_READ: a letter
    read whole may still hold what the copy cannot say (an event's detail not an object, say:
    the database's refusal may have been of it)."""
    if not part:
        return None
    try:
        return say(part)
    except spool.UNREADABLE:
        return CANNOT_BE_READ


def _spooled_call(call_sid: str, rows: list[RecordSpool], said: dict[int, Any]) -> FinishedCall:
    """What the spool holds that names a call's caller: its opening and final status, each
    None when not spooled or not readable (`said`: the rows' payloads, `_callers_said`)."""
    opened, status = None, None
    for row in rows:
        data = said.get(row.id) if row.job in ("open_call", "finish") else None
        data = data if isinstance(data, dict) else None
        try:
            if row.job == "open_call" and data is not None and opened is None:
                opened = CallOpened.from_json(data)
            elif row.job == "finish" and data is not None and status is None:
                status = StatusCallback.from_json(data)
        except spool.UNREADABLE:
            continue
    return FinishedCall(call_sid, opened, (), status)


def spooled_recordings(session: Session, patient: Patient) -> list[str]:
    """The recordings whose address the patient's spool rows hold: deleted at the carrier
    before the rows, as their other recordings (recordings_of)."""
    return [sid for row in spooled(session, patient) for sid in spool.recordings(row)]


def recordings_of(session: Session, patient: Patient) -> list[Recording]:
    """The patient's recordings still at the carrier: the view deletes them there first."""
    events = session.execute(
        select(CallEvent.id, CallEvent.detail)
        .join(CallRecord, CallRecord.id == CallEvent.call_id)
        .where(
            CallRecord.patient_id == patient.id,
            CallEvent.kind.in_(RECORDING_EVENTS),
            CallEvent.detail["recording_sid"].as_string().is_not(None),
        )
    ).all()
    comments = session.execute(
        select(SurveyResponse.id, SurveyResponse.comment_recording_sid).where(
            SurveyResponse.patient_id == patient.id, SurveyResponse.comment_recording_sid.is_not(None)
        )
    ).all()
    return [Recording(str(detail["recording_sid"]), "call_events", row_id) for row_id, detail in events] + [
        Recording(sid, "survey_responses", row_id) for row_id, sid in comments if sid is not None
    ]


def unwritten_calls(session: Session, patient: Patient, letters: Iterable[DeadLetter]) -> list[DeadLetter]:
    """The dead letters whose call is the patient's: the ones whose record, once written,
    would name the patient, by the rules a written record follows.  Its opening's caller match
    names the patient's file alone (a family number, several files, names none, as on a
    written record); a letter without its opening (set aside before letters kept the call, its
    keys since expired) by its final status's caller, whom the reconstruction sweep would give
    the written record (records.calls.carrier_caller)."""
    return [letter for letter in letters if _whose(session, letter.call) == patient.id]


def being_written(session: Session, patient: Patient, calls: Iterable[FinishedCall]) -> list[FinishedCall]:
    """The calls still in Redis (going on, or ended and waiting for the drain:
    queueing.recording.being_written) whose record, once written, would name the patient, by
    the rules of `unwritten_calls`.  Erasure waits for them (the drain would write them after
    it); the copy says they are held."""
    return [call for call in calls if _whose(session, call) == patient.id]


def _whose(session: Session, call: FinishedCall) -> int | None:
    if call.opened is not None:
        return call.opened.caller.patient_id
    if call.status is not None:
        try:
            return carrier_caller(session, call.status.as_carrier()).patient_id
        except spool.UNREADABLE:  # a number not text (the database's refusal may be of it): no one's
            return None
    return None


def began(call: FinishedCall) -> datetime | None:
    """When a call not yet written began: its opening's time, else its final status's less
    its duration (None if the letter keeps neither).  A duration not a number, or one no date
    can be taken from (a letter's: the database's refusal may be of it), the status's time
    alone, as queueing.recording.letter_began takes it."""
    if call.opened is not None:
        return call.opened.at
    if call.status is not None:
        try:
            return call.status.at - timedelta(seconds=call.status.duration_seconds or 0)
        except (TypeError, OverflowError):
            return call.status.at
    return None


def unwritten_recordings(unwritten: Iterable[FinishedCall]) -> list[str]:
    """The recordings whose address the patient's calls not yet written hold: deleted at the
    carrier before the letters, as the patient's other recordings (recordings_of)."""
    return [sid for call in unwritten for sid in _recordings(call.events)]


def _leave_waiting_lists(session: Session, patient: Patient) -> int:
    """The patient waits no more (a place held for them goes to the next, texted by the
    waitlist sweep), and the numbers their offers went to are forgotten."""
    from records import waitlist

    waitlist.withdraw(session, patient.id, datetime.now(UTC))
    return changed(session, update(WaitlistEntry).where(WaitlistEntry.patient_id == patient.id).values(offer_to=None))


def erase(session: Session, patient: Patient) -> dict[str, int]:
    """Erase what the hotline collected about the patient (see the module's docstring).
    Its recordings must already be gone at the carrier (recordings_of, then the view).
    The caller owns the transaction; returns what was erased, per kind."""
    if erasure_refused(session, patient) is not None:
        raise ValueError("erasure refused: see erasure_refused")
    call_ids = list(session.scalars(select(CallRecord.id).where(CallRecord.patient_id == patient.id)))
    # Before the calls are unlinked (`spooled` finds rows by the patient's written records):
    # all set aside now, erasure_refused waited for the others.
    spooled_ids = [row.id for row in spooled(session, patient) if spool.is_set_aside(row)]
    call_sids = list(session.scalars(select(CallRecord.call_sid).where(CallRecord.id.in_(call_ids))))
    case_ids = list(session.scalars(select(ComplaintCase.id).where(ComplaintCase.patient_id == patient.id)))
    done = {
        "call_events": changed(session, delete(CallEvent).where(CallEvent.call_id.in_(call_ids))),
        "calls": changed(
            session,
            update(CallRecord)
            .where(CallRecord.id.in_(call_ids))
            .values(from_number=PURGED, patient_id=None, matched_patients=0),
        ),
        "texts": changed(
            session,
            update(SmsMessage)
            .where(SmsMessage.patient_id == patient.id)
            .values(body="", to_number=PURGED, patient_id=None),
        ),
        "case_notes": changed(session, update(CaseNote).where(CaseNote.case_id.in_(case_ids)).values(text="")),
        "cases": changed(
            session, update(ComplaintCase).where(ComplaintCase.id.in_(case_ids)).values(summary="", address=None)
        ),
        "waiting_lists": _leave_waiting_lists(session, patient),
        "wrap_up_notes": changed(session, update(WrapUp).where(WrapUp.call_sid.in_(call_sids)).values(notes="")),
        "file_notes": changed(session, delete(PatientNote).where(PatientNote.patient_id == patient.id)),
        "surveys": changed(
            session,
            update(SurveyResponse)
            .where(SurveyResponse.patient_id == patient.id)
            .values(patient_id=None, comment_recording_sid=None, comment_recording_url=None),
        ),
        "follow_up_answers": changed(
            session, update(FollowUpTask).where(FollowUpTask.patient_id == patient.id).values(answers={}, flags=[])
        ),
        "spool": changed(session, delete(RecordSpool).where(RecordSpool.id.in_(spooled_ids))),
    }
    session.execute(update(CaseHandover).where(CaseHandover.case_id.in_(case_ids)).values(reason=""))
    session.flush()
    return done
