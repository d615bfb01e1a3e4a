"""What the hotline keeps about people, for how long, and the purge that ends it.

The periods are the hospital's (config: `retention`, settings.Retention).  Past its period
each kind of data is deleted or blanked:

| kind | what goes | what stays (for the reports) |
|---|---|---|
| recordings | recorded talks, voicemails, survey comments: at the carrier, then their addresses | that there was one |
| speech | what callers said, as recognised text in call events | the event (step, confidence) |
| texts | an SMS's body and number | its kind, status and times |
| notes | notes and summaries of cases closed that long ago, wrap-up and file notes, quality reviewers' and agents' comments | the case, its dates and status; the review's score |
| survey | follow-up answers; the link from a survey score to the patient; a satisfaction answer's comment, patient and visit | the score, agent, queue; the satisfaction score, department, doctor, month |
| callers | the call's number, its link to the patient, and its events | the call record and its queue waits |
| audit | audit rows | nothing |
| spool | parts of calls kept in the database while Redis was away, not yet written (set aside or not) | nothing |

Each step works in batches: one batch is one short transaction that selects at most `batch`
rows *still holding* what has expired and blanks or deletes it.  So a purge killed midway
has lost nothing (its finished batches are committed, its last one rolled back) and the next
run simply finds what is left, and a second run finds nothing.  The caller owns the
transaction: each step only flushes; the job (queueing.retention) commits each batch.

Recordings are the one step with a side outside the database: `expired_recordings` lists
them, the job deletes each at the carrier, and `forget_recordings` drops the addresses of
those the carrier no longer has.  Killed between the two, the next run asks the carrier
again, which answers "not found", and the address is dropped then.  So do the spool rows: a
row may hold the only address of a recording (`expired_spool`, then the carrier, then
`forget_spool`).  The carrier is asked between the read and the write with no transaction
open (a delete is a network call, seconds when the carrier is slow, and SQLite's one write
lock would hold every other writer meanwhile): so the write asks each row again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Text, cast, delete, exists, or_, select, update
from sqlalchemy.orm import Session, defer

from records.db import changed
from records.models import (
    AuditEntry,
    CallEvent,
    CallRecord,
    CaseHandover,
    CaseNote,
    ComplaintCase,
    FollowUpTask,
    PatientNote,
    QualityReview,
    QueueEntry,
    RecordSpool,
    SatisfactionSurvey,
    SmsMessage,
    SurveyResponse,
    WrapUp,
)
from settings import Retention

# The order the purge runs in: recordings before callers (a call's events, where recording
# addresses live, go with the caller), speech before callers for the same reason.  Last, what
# is not written yet: the spool rows (records.spool), and the dead letters, finished calls
# whose record the database kept refusing, kept whole in Redis (queueing.recording) until retried.
KINDS = ("recordings", "speech", "texts", "notes", "survey", "callers", "audit", "spool", "dead_letters")

_PERIOD = {
    "recordings": "recordings_days",
    "speech": "speech_days",
    "texts": "texts_days",
    "notes": "notes_days",
    "survey": "survey_days",
    "callers": "call_records_days",
    "audit": "audit_days",
}

# Call events that may carry a recording's address (voicemail, the recorded talk).
RECORDING_EVENTS = ("voicemail", "recording")
PURGED = "purged"  # what stands where a caller's number was


def dead_letter_days(retention: Retention) -> int:
    """How long a dead letter is kept: the shortest of the periods.  A letter is a whole call
    not yet written (its caller's number and file, what they said, recordings' addresses,
    wrap-up notes), which cannot be blanked piece by piece as a written call is: it goes
    whole, before any of what it holds would have gone from a written call.  So does a spool
    row (part of a call not yet written: an opening, events with what was said, a status),
    set aside or still awaiting its replay: one that old is stuck too."""
    return min(getattr(retention, field) for kind, field in _PERIOD.items() if kind != "audit")


def cutoffs(now: datetime, retention: Retention) -> dict[str, datetime]:
    """For each kind, the moment before which its data has expired."""
    periods = {kind: getattr(retention, field) for kind, field in _PERIOD.items()}
    periods["dead_letters"] = periods["spool"] = dead_letter_days(retention)
    return {kind: now - timedelta(days=days) for kind, days in periods.items()}


# ---- recordings: at the carrier first -------------------------------------------------------------


@dataclass(frozen=True)
class Recording:
    sid: str
    table: str  # call_events | survey_responses
    row_id: int


def expired_recordings(
    session: Session, cutoff: datetime, batch: int, after: dict[str, int] | None = None
) -> list[Recording]:
    """Recordings made before `cutoff` whose address is still kept, each table walked by id
    after `after` (its last row the job has seen, by table): a recording the carrier kept is
    not found again at the front of every batch, the ones after it never reached."""
    after = after or {}
    has_sid = CallEvent.detail["recording_sid"].as_string().is_not(None)
    events = session.execute(
        select(CallEvent.id, CallEvent.detail)
        .where(
            CallEvent.kind.in_(RECORDING_EVENTS),
            CallEvent.at < cutoff,
            CallEvent.id > after.get("call_events", 0),
            has_sid,
        )
        .order_by(CallEvent.id)
        .limit(batch)
    ).all()
    found = [Recording(str(detail["recording_sid"]), "call_events", row_id) for row_id, detail in events]
    comments = session.execute(
        select(SurveyResponse.id, SurveyResponse.comment_recording_sid)
        .where(
            SurveyResponse.at < cutoff,
            SurveyResponse.id > after.get("survey_responses", 0),
            SurveyResponse.comment_recording_sid.is_not(None),
        )
        .order_by(SurveyResponse.id)
        .limit(max(batch - len(found), 0))
    ).all()
    return found + [Recording(sid, "survey_responses", row_id) for row_id, sid in comments if sid is not None]


def forget_recordings(session: Session, cutoff: datetime, gone: list[Recording]) -> int:
    """Drop the addresses of recordings the carrier no longer has (the job deleted them): the
    count of those.  Asked again of each row, still there, still past `cutoff` and still
    holding that recording: the job asks the carrier between its read and this write, with
    no transaction open (an erasure may have deleted the row meanwhile)."""
    sids = {item.sid for item in gone}
    held = {item.row_id: item.sid for item in gone if item.table == "call_events"}
    events = select(CallEvent).where(CallEvent.id.in_(held), CallEvent.at < cutoff)
    for event in session.scalars(events) if held else ():
        # As `expired_recordings` read it (as text: JSON may hold the address as a number,
        # which never equals the text the carrier was asked about, and the row, kept, would
        # be found and deleted again for ever).
        if str(event.detail.get("recording_sid")) != held[event.id]:
            continue
        detail = {key: value for key, value in event.detail.items() if key not in ("recording_sid", "recording_url")}
        event.detail = {**detail, "recording": PURGED}
        if event.kind == "voicemail":  # the queue wait shows the voicemail's address too
            session.execute(
                update(QueueEntry)
                .where(QueueEntry.call_id == event.call_id, QueueEntry.voicemail_sid.is_not(None))
                .values(voicemail_sid=None, voicemail_url=None)
            )
    comment_ids = [item.row_id for item in gone if item.table == "survey_responses"]
    if comment_ids:
        session.execute(
            update(SurveyResponse)
            .where(
                SurveyResponse.id.in_(comment_ids),
                SurveyResponse.at < cutoff,
                SurveyResponse.comment_recording_sid.in_(sids),
            )
            .values(comment_recording_sid=None, comment_recording_url=None)
        )
    session.flush()
    return len(gone)


def expired_spool(session: Session, cutoff: datetime, batch: int, after: int = 0) -> list[RecordSpool]:
    """Spool rows written before `cutoff` (set aside or not), by id after `after`; their
    payload read row by row (records.spool.recordings), one that cannot be decoded alone."""
    query = (
        select(RecordSpool)
        .where(RecordSpool.created_at < cutoff, RecordSpool.id > after)
        .options(defer(RecordSpool.payload))
        .order_by(RecordSpool.id)
        .limit(batch)
    )
    return list(session.scalars(query))


def forget_spool(session: Session, cutoff: datetime, row_ids: list[int]) -> int:
    """Delete these spool rows (their recordings gone at the carrier) still past `cutoff`;
    the ones deleted (a replay may have applied and deleted one meanwhile: the job asks the
    carrier with no transaction open).  A row's payload is never changed once spooled."""
    if not row_ids:
        return 0
    return changed(session, delete(RecordSpool).where(RecordSpool.id.in_(row_ids), RecordSpool.created_at < cutoff))


# ---- the steps inside the database ----------------------------------------------------------------


def forget_speech(session: Session, cutoff: datetime, batch: int, after: int = 0) -> tuple[int, int]:
    """What callers said: the recognised text goes, the event (step, confidence) stays.
    Walked by id from `after` (the last batch's last row): speech already blanked keeps its
    kind and time, and a search from the start each batch would read it all again."""
    rows = session.execute(
        select(CallEvent.id, CallEvent.detail)
        .where(
            CallEvent.kind == "speech",
            CallEvent.at < cutoff,
            CallEvent.id > after,
            CallEvent.detail["text"].as_string().is_not(None),
        )
        .order_by(CallEvent.id)
        .limit(batch)
    ).all()
    if rows:
        blanked = [
            {"id": row_id, "detail": {**{k: v for k, v in detail.items() if k != "text"}, "text_purged": True}}
            for row_id, detail in rows
        ]
        session.execute(update(CallEvent), blanked)
    return len(rows), rows[-1][0] if rows else after


def forget_texts(session: Session, cutoff: datetime, batch: int) -> int:
    """An SMS's words and number; its kind, status and times stay for the reports."""
    ids = session.scalars(
        select(SmsMessage.id).where(SmsMessage.created_at < cutoff, SmsMessage.to_number != PURGED).limit(batch)
    ).all()
    if ids:
        session.execute(update(SmsMessage).where(SmsMessage.id.in_(ids)).values(body="", to_number=PURGED))
    return len(ids)


def forget_notes(session: Session, cutoff: datetime, batch: int) -> int:
    """Staff's free text about patients: closed cases' notes, summaries and hand-over reasons,
    wrap-up notes, notes on the file.  A case still open keeps everything, however old."""
    done = 0
    closed_long_ago = select(ComplaintCase.id).where(ComplaintCase.status == "closed", ComplaintCase.closed_at < cutoff)
    note_ids = session.scalars(
        select(CaseNote.id).where(CaseNote.case_id.in_(closed_long_ago), CaseNote.text != "").limit(batch)
    ).all()
    if note_ids:
        session.execute(update(CaseNote).where(CaseNote.id.in_(note_ids)).values(text=""))
    done += len(note_ids)
    case_ids = session.scalars(
        select(ComplaintCase.id).where(ComplaintCase.id.in_(closed_long_ago), ComplaintCase.summary != "").limit(batch)
    ).all()
    if case_ids:
        # An errand's address goes with the summary: where the patient lives is theirs too.
        session.execute(update(ComplaintCase).where(ComplaintCase.id.in_(case_ids)).values(summary="", address=None))
        session.execute(update(CaseHandover).where(CaseHandover.case_id.in_(case_ids)).values(reason=""))
    done += len(case_ids)
    wrap_ids = session.scalars(select(WrapUp.id).where(WrapUp.at < cutoff, WrapUp.notes != "").limit(batch)).all()
    if wrap_ids:
        session.execute(update(WrapUp).where(WrapUp.id.in_(wrap_ids)).values(notes=""))
    done += len(wrap_ids)
    review_ids = session.scalars(
        select(QualityReview.id)
        .where(QualityReview.scored_at < cutoff, or_(QualityReview.comment != "", QualityReview.agent_comment != ""))
        .limit(batch)
    ).all()
    if review_ids:
        session.execute(
            update(QualityReview).where(QualityReview.id.in_(review_ids)).values(comment="", agent_comment="")
        )
    done += len(review_ids)
    file_ids = session.scalars(
        select(PatientNote.id).where(PatientNote.at < cutoff, PatientNote.text != "").limit(batch)
    ).all()
    if file_ids:
        session.execute(update(PatientNote).where(PatientNote.id.in_(file_ids)).values(text=""))
    return done + len(file_ids)


def forget_survey_answers(session: Session, cutoff: datetime, batch: int) -> int:
    """Follow-up answers go; a survey score stays, no longer linked to the patient."""
    task_ids = session.scalars(
        select(FollowUpTask.id)
        .where(FollowUpTask.finished_at < cutoff, cast(FollowUpTask.answers, Text) != "{}")
        .limit(batch)
    ).all()
    if task_ids:
        session.execute(update(FollowUpTask).where(FollowUpTask.id.in_(task_ids)).values(answers={}))
    score_ids = session.scalars(
        select(SurveyResponse.id).where(SurveyResponse.at < cutoff, SurveyResponse.patient_id.is_not(None)).limit(batch)
    ).all()
    if score_ids:
        session.execute(update(SurveyResponse).where(SurveyResponse.id.in_(score_ids)).values(patient_id=None))
    # The satisfaction programme's: by the visit's day, as the follow-up's by the call's end.
    asked_ids = session.scalars(
        select(SatisfactionSurvey.id)
        .where(SatisfactionSurvey.visited_on < cutoff.date(), SatisfactionSurvey.patient_id.is_not(None))
        .limit(batch)
    ).all()
    for survey_id in asked_ids:  # `visit` is unique: each row its own placeholder
        session.execute(
            update(SatisfactionSurvey)
            .where(SatisfactionSurvey.id == survey_id)
            .values(patient_id=None, comment=None, token_hash=None, visit=f"forgotten:{survey_id}")
        )
    return len(task_ids) + len(score_ids) + len(asked_ids)


def forget_callers(session: Session, cutoff: datetime, batch: int, after: int = 0) -> tuple[int, int]:
    """A call past its period keeps its record and queue waits (the reports count them) but
    loses who called and its events.  A call still holding a recording's address waits for
    the recordings step (the carrier refused the delete): its events say where the recording is."""
    holds_recording = exists().where(
        CallEvent.call_id == CallRecord.id,
        CallEvent.kind.in_(RECORDING_EVENTS),
        CallEvent.detail["recording_sid"].as_string().is_not(None),
    )
    ids = session.scalars(
        select(CallRecord.id)
        .where(
            CallRecord.started_at < cutoff, CallRecord.id > after, CallRecord.from_number != PURGED, ~holds_recording
        )
        .order_by(CallRecord.id)
        .limit(batch)
    ).all()
    if ids:
        session.execute(delete(CallEvent).where(CallEvent.call_id.in_(ids)))
        session.execute(
            update(CallRecord)
            .where(CallRecord.id.in_(ids))
            .values(from_number=PURGED, patient_id=None, matched_patients=0)
        )
    return len(ids), ids[-1] if ids else after


def forget_audit(session: Session, cutoff: datetime, batch: int) -> int:
    ids = session.scalars(select(AuditEntry.id).where(AuditEntry.at < cutoff).limit(batch)).all()
    if ids:
        session.execute(delete(AuditEntry).where(AuditEntry.id.in_(ids)))
    return len(ids)


def _unordered(step):
    """A step over few rows, searched from the start each batch (it finds only what is left)."""

    def walk(session: Session, cutoff: datetime, batch: int, after: int = 0) -> tuple[int, int]:
        return step(session, cutoff, batch), 0

    return walk


# Each step inside the database: (session, cutoff, batch, after) -> (rows changed, where the
# next batch starts); 0 rows when done.
STEPS = {
    "speech": forget_speech,
    "texts": _unordered(forget_texts),
    "notes": _unordered(forget_notes),
    "survey": _unordered(forget_survey_answers),
    "callers": forget_callers,
    "audit": _unordered(forget_audit),
}
