"""After care on the patient file: discharges and results from the hospital's
systems, follow-up campaigns and their tasks, satisfaction surveys, opt-outs.

Functions take a Session and never commit: the caller owns the transaction.
Storing a batch of events checks every event first and stores either all of
them or none (`BadBatch`); an event id already stored is skipped (idempotent).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import and_, case, func, insert, select, true, update
from sqlalchemy.orm import Session, selectinload

from records import aftercare_rules as rules
from records.aftercare_events import BadBatch, Batch, DischargeEvent, Problem, ResultEvent
from records.db import changed
from records.models import (
    CallRecord,
    Discharge,
    FollowUpCampaign,
    FollowUpTask,
    OutreachOptOut,
    Patient,
    PatientNote,
    PatientPhone,
    ResultReady,
    SmsMessage,
    SurveyResponse,
)
from settings import FollowUp, Seats, Settings

CHUNK = 900  # ids per IN (...) list: SQLite allows 999 bound parameters by default
FINISHED = ("completed", "incomplete", "unreached", "opted_out", "no_number")


@dataclass(frozen=True)
class Stored:
    stored: int
    duplicates: int
    ids: tuple[int, ...] = ()


# ---- opt-outs -----------------------------------------------------------------------------------


def is_opted_out(db: Session, patient_id: int) -> bool:
    return db.scalar(select(OutreachOptOut.id).where(OutreachOptOut.patient_id == patient_id)) is not None


def opted_out_among(db: Session, patient_ids: Iterable[int]) -> set[int]:
    ids = list(patient_ids)
    found: set[int] = set()
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(db.scalars(select(OutreachOptOut.patient_id).where(OutreachOptOut.patient_id.in_(chunk))))
    return found


def opt_out(
    db: Session, patient_id: int, *, channel: str, now: datetime, by_staff_id: int | None = None, note: str = ""
) -> bool:
    """No more non-essential calls and texts for this patient.  False if already so."""
    if is_opted_out(db, patient_id):
        return False
    db.add(OutreachOptOut(patient_id=patient_id, at=now, channel=channel, by_staff_id=by_staff_id, note=note or None))
    how = {"keypad": "by keypad", "sms": "by text", "agent": "through a member of staff"}.get(channel, channel)
    db.add(PatientNote(patient_id=patient_id, at=now, kind="opted_out", text=f"opted out of follow-ups {how}"))
    db.flush()
    return True


def opt_in(db: Session, patient_id: int, *, now: datetime, by_staff_id: int | None = None) -> bool:
    found = db.scalar(select(OutreachOptOut).where(OutreachOptOut.patient_id == patient_id))
    if found is None:
        return False
    db.delete(found)
    db.add(PatientNote(patient_id=patient_id, at=now, kind="opted_in", text="follow-ups allowed again"))
    db.flush()
    return True


def patients_on_number(db: Session, e164: str) -> list[int]:
    query = select(PatientPhone.patient_id).where(PatientPhone.e164 == e164).order_by(PatientPhone.patient_id)
    return list(db.scalars(query))


def patient(db: Session, patient_id: int) -> Patient | None:
    return db.get(Patient, patient_id)


def patient_by_mrn(db: Session, mrn: str) -> Patient | None:
    return db.scalar(select(Patient).where(Patient.mrn == mrn.strip().upper()))


# ---- events from the hospital's systems ---------------------------------------------------------


def store_discharges(db: Session, batch: Batch[DischargeEvent], now: datetime) -> Stored:
    patients = patients_for(db, batch)
    known = _known_ids(db, Discharge, [e.event_id for e in batch.events])
    rows = [
        {
            "source_event_id": e.event_id,
            "patient_id": patients[e.mrn.upper()],
            "ward": e.ward,
            "discharged_on": e.discharge_date,
            "attending_doctor": e.attending_doctor,
            "received_at": now,
        }
        for e in batch.events
        if e.event_id not in known
    ]
    if rows:
        db.execute(insert(Discharge), rows)
    return Stored(len(rows), len(batch.events) - len(rows))


def store_results(db: Session, batch: Batch[ResultEvent], now: datetime, *, zone, within: timedelta) -> Stored:
    """Results-ready events; a ready time without an offset is the hospital's time."""
    patients = patients_for(db, batch)
    known = _known_ids(db, ResultReady, [e.event_id for e in batch.events])
    new = []
    for event in batch.events:
        if event.event_id in known:
            continue
        ready = event.ready_at if event.ready_at.tzinfo else event.ready_at.replace(tzinfo=zone)
        result = ResultReady(
            source_event_id=event.event_id,
            patient_id=patients[event.mrn.upper()],
            test_name=event.test,
            ready_at=ready,
            received_at=now,
            due_at=ready + within,
            notice_status="pending",
        )
        db.add(result)
        new.append(result)
    db.flush()
    return Stored(len(new), len(batch.events) - len(new), tuple(r.id for r in new))


def patients_for(db: Session, batch: Batch) -> dict[str, int]:
    """Record number -> patient id for every event, or BadBatch naming each unknown one."""
    mrns = sorted({e.mrn.upper() for e in batch.events})
    found: dict[str, int] = {}
    for start in range(0, len(mrns), CHUNK):
        rows = db.execute(select(Patient.mrn, Patient.id).where(Patient.mrn.in_(mrns[start : start + CHUNK])))
        found.update({mrn: patient_id for mrn, patient_id in rows})
    problems = [
        Problem(field=batch.field(index, "mrn"), message=f"no patient with the record number {event.mrn!r}")
        for index, event in enumerate(batch.events)
        if event.mrn.upper() not in found
    ]
    if problems:
        raise BadBatch(problems)
    return found


def _known_ids(db: Session, model, event_ids: Sequence[str]) -> set[str]:
    known: set[str] = set()
    for start in range(0, len(event_ids), CHUNK):
        chunk = event_ids[start : start + CHUNK]
        known.update(db.scalars(select(model.source_event_id).where(model.source_event_id.in_(chunk))))
    return known


# ---- results-ready notices ----------------------------------------------------------------------


def result(db: Session, result_id: int) -> ResultReady | None:
    query = select(ResultReady).options(selectinload(ResultReady.patient).selectinload(Patient.phones))
    return db.scalar(query.where(ResultReady.id == result_id))


def notice_queued(db: Session, found: ResultReady, message: SmsMessage) -> None:
    found.sms_message_id = message.id
    db.flush()


def notice_sent(db: Session, found: ResultReady, sent_at: datetime) -> None:
    """The text left for the patient's phone: the event-to-notice time is recorded."""
    found.notice_status = "sent"
    found.notified_at = sent_at
    found.notice_seconds = max(0, round((sent_at - found.ready_at).total_seconds()))
    db.flush()


def notice_not_sent(db: Session, found: ResultReady, status: str) -> None:
    found.notice_status = status
    db.flush()


def pending_notices(db: Session, *, since: datetime) -> list[int]:
    query = select(ResultReady.id).where(ResultReady.notice_status == "pending", ResultReady.ready_at >= since)
    return list(db.scalars(query.order_by(ResultReady.due_at)))


@dataclass(frozen=True)
class NoticeReport:
    total: int
    on_time: int
    late: int
    overdue: int  # not sent, past its deadline
    not_sendable: int  # opted out, or no mobile number
    slowest_seconds: int | None
    missed: list[ResultReady]


def notice_report(db: Session, *, since: datetime, until: datetime, now: datetime) -> NoticeReport:
    """Results that became ready in [since, until): how fast their notices went out."""
    query = (
        select(ResultReady)
        .options(selectinload(ResultReady.patient))
        .where(ResultReady.ready_at >= since, ResultReady.ready_at < until)
        .order_by(ResultReady.ready_at)
    )
    found = list(db.scalars(query))
    sent = [r for r in found if r.notified_at is not None]
    late = [r for r in found if r.notified_at is not None and r.notified_at > r.due_at]
    overdue = [
        r for r in found if r.notified_at is None and r.notice_status in ("pending", "failed") and now > r.due_at
    ]
    return NoticeReport(
        total=len(found),
        on_time=len(sent) - len(late),
        late=len(late),
        overdue=len(overdue),
        not_sendable=sum(r.notice_status in ("opted_out", "no_mobile") for r in found),
        slowest_seconds=max((r.notice_seconds or 0 for r in sent), default=None),
        missed=sorted(late + overdue, key=lambda r: r.due_at),
    )


# ---- follow-up campaigns ------------------------------------------------------------------------


def campaign_for(db: Session, month: str) -> FollowUpCampaign | None:
    return db.scalar(select(FollowUpCampaign).where(FollowUpCampaign.month == month))


def create_campaign(
    db: Session,
    month: str,
    followup: FollowUp,
    now: datetime,
    progress: Callable[[int, int], None] | None = None,
) -> tuple[FollowUpCampaign, bool]:
    """The month's campaign and its tasks (False: it existed already, unchanged).
    Tasks of patients who opted out are created as 'opted_out', so the sample stays
    the one its seed draws.  `progress(done, total)` hears of each stored chunk."""
    existing = campaign_for(db, month)
    if existing is not None:
        return existing, False
    start, end = rules.month_bounds(month)
    discharges = db.execute(
        select(Discharge.id, Discharge.ward, Discharge.patient_id).where(
            Discharge.discharged_on >= start, Discharge.discharged_on < end
        )
    ).all()
    seed = rules.seed_for(month)
    chosen = rules.sample(
        [(d.id, d.ward) for d in discharges], share=followup.share, min_per_ward=followup.min_per_ward, seed=seed
    )
    campaign = FollowUpCampaign(
        month=month,
        seed=seed,
        share=followup.share,
        min_per_ward=followup.min_per_ward,
        discharges=len(discharges),
        created_at=now,
    )
    db.add(campaign)
    db.flush()
    patient_of = {d.id: d.patient_id for d in discharges}
    opted_out = opted_out_among(db, {patient_of[i] for i in chosen})
    for begin in range(0, len(chosen), CHUNK):
        chunk = chosen[begin : begin + CHUNK]
        rows = [
            {
                "campaign_id": campaign.id,
                "discharge_id": discharge_id,
                "patient_id": patient_of[discharge_id],
                "status": "opted_out" if patient_of[discharge_id] in opted_out else "planned",
                "attempts": 0,
                "answers": {},
                "flagged": False,
                "flags": [],
                "finished_at": now if patient_of[discharge_id] in opted_out else None,
            }
            for discharge_id in chunk
        ]
        db.execute(insert(FollowUpTask), rows)
        if progress is not None:
            progress(len(chunk), len(chosen))
    return campaign, True


def tasks_to_call(db: Session, campaign_id: int) -> list[int]:
    query = select(FollowUpTask.id).where(
        FollowUpTask.campaign_id == campaign_id, FollowUpTask.status.in_(("planned", "retry"))
    )
    return list(db.scalars(query.order_by(FollowUpTask.id)))


def task(db: Session, task_id: int) -> FollowUpTask | None:
    query = select(FollowUpTask).options(selectinload(FollowUpTask.patient).selectinload(Patient.phones))
    return db.scalar(query.where(FollowUpTask.id == task_id))


def claim_attempt(db: Session, task_id: int, now: datetime) -> bool:
    """Start one more call attempt, unless another job did or the task is over
    (a conditional UPDATE: two jobs for one task never both call)."""
    taken = changed(
        db,
        update(FollowUpTask)
        .where(FollowUpTask.id == task_id, FollowUpTask.status.in_(("planned", "retry")))
        .values(
            status="calling",
            attempts=FollowUpTask.attempts + 1,
            last_attempt_at=now,
            next_attempt_at=None,
            last_result=None,
        )
        .execution_options(synchronize_session=False),
    )
    return bool(taken)


def attempt_placed(db: Session, found: FollowUpTask, call_sid: str) -> None:
    found.last_call_sid = call_sid
    db.flush()


def finish(db: Session, found: FollowUpTask, status: str, now: datetime, result: str | None = None) -> None:
    found.status = status
    found.finished_at = now
    found.next_attempt_at = None
    if result:
        found.last_result = result
    text = {
        "completed": "follow-up call: questionnaire answered" + (" (flagged for a nurse)" if found.flagged else ""),
        "incomplete": "follow-up call: reached, questionnaire not finished",
        "unreached": f"follow-up call: not reached after {found.attempts} attempt(s) ({found.last_result or '-'})",
        "opted_out": "follow-up call: not placed, the patient opted out",
        "no_number": "follow-up call: not placed, no phone number on file",
    }[status]
    db.add(PatientNote(patient_id=found.patient_id, at=now, kind="followup", text=text, call_sid=found.last_call_sid))
    db.flush()


def not_reached(
    db: Session, found: FollowUpTask, result: str, now: datetime, followup: FollowUp, seats: Seats
) -> datetime | None:
    """This attempt reached nobody (no answer, busy, a machine, the carrier failed): when
    to try again (after the spacing, inside the calling hours), or None when the attempts
    are used up (the task is 'unreached')."""
    found.last_result = result[:24]
    later = now + rules.retry_delay(followup, found.attempts)
    when = rules.next_call_time(followup, seats, later)
    if found.attempts >= followup.max_attempts or when is None:
        finish(db, found, "unreached", now)
        return None
    found.status = "retry"
    found.next_attempt_at = when
    db.flush()
    return when


def call_ended(
    db: Session,
    task_id: int,
    attempt: int,
    call_sid: str,
    call_status: str,
    now: datetime,
    settings: Settings,
) -> datetime | None:
    """The carrier's final status for a follow-up call: when to try again, if at all.
    Only the task's current attempt counts (a late callback of an earlier one changes nothing)."""
    found = _current(db, task_id, attempt)
    if found is None:
        return None
    found.last_call_sid = found.last_call_sid or call_sid
    if found.reached_at is None:
        # What the flow saw ('machine', 'not_identified'), else what the carrier says ('busy').
        result = found.last_result or call_status
        return not_reached(db, found, result, now, settings.aftercare.followup, settings.seats)
    finish(db, found, "completed" if _all_answered(found, settings.aftercare.followup) else "incomplete", now)
    return None


def attempt_failed(
    db: Session, task_id: int, attempt: int | None, result: str, now: datetime, settings: Settings
) -> datetime | None:
    """The attempt never became a call (the carrier refused it, or its status never came)."""
    found = _current(db, task_id, attempt)
    if found is None:
        return None
    return not_reached(db, found, result, now, settings.aftercare.followup, settings.seats)


def _current(db: Session, task_id: int, attempt: int | None) -> FollowUpTask | None:
    # Locked on PostgreSQL (SQLite's writer already holds the database): a duplicate callback waits.
    found = db.get(FollowUpTask, task_id, populate_existing=True, with_for_update=True)
    if found is None or found.status != "calling" or (attempt is not None and found.attempts != attempt):
        return None
    return found


def plan_attempts(db: Session, campaign_id: int, at: datetime) -> None:
    """When the campaign's first calls are due (the sweeper re-queues what is long overdue)."""
    db.execute(
        update(FollowUpTask)
        .where(FollowUpTask.campaign_id == campaign_id, FollowUpTask.status == "planned")
        .values(next_attempt_at=at)
        .execution_options(synchronize_session=False)
    )


def plan_attempt(db: Session, found: FollowUpTask, at: datetime) -> None:
    found.next_attempt_at = at
    db.flush()


def _all_answered(found: FollowUpTask, followup: FollowUp) -> bool:
    return all(question.id in (found.answers or {}) for question in followup.questions)


def attempt_result(db: Session, found: FollowUpTask, result: str) -> None:
    """What the flow found on the line: 'machine', 'not_identified'."""
    found.last_result = result
    db.flush()


def reached(db: Session, found: FollowUpTask, now: datetime) -> None:
    """The patient proved who they are (birth date) on this call."""
    if found.reached_at is None:
        found.reached_at = now
    db.flush()


def record_answer(db: Session, found: FollowUpTask, question_id: str, key: str, followup: FollowUp) -> bool:
    """Keep the answer; True if it is worrying (the task is flagged)."""
    found.answers = {**(found.answers or {}), question_id: key}
    worrying = rules.worrying(followup, question_id, key)
    if worrying and question_id not in (found.flags or []):
        found.flags = [*(found.flags or []), question_id]
        found.flagged = True
    db.flush()
    return worrying


def nurse_requested(db: Session, found: FollowUpTask, now: datetime, reference: str | None) -> None:
    found.nurse_requested_at = found.nurse_requested_at or now
    found.nurse_reference = reference or found.nurse_reference
    db.flush()


def nurse_done(db: Session, task_id: int, *, staff_id: int | None, now: datetime) -> FollowUpTask | None:
    found = db.get(FollowUpTask, task_id)
    if found is None or not found.flagged or found.nurse_done_at is not None:
        return None
    found.nurse_done_at = now
    found.nurse_done_by = staff_id
    db.add(PatientNote(patient_id=found.patient_id, at=now, kind="followup", text="nurse called back after follow-up"))
    db.flush()
    return found


def stale_calls(db: Session, *, before: datetime) -> list[int]:
    """Tasks 'calling' since before `before`: their status callback never came."""
    query = select(FollowUpTask.id).where(FollowUpTask.status == "calling", FollowUpTask.last_attempt_at < before)
    return list(db.scalars(query))


def due_retries(db: Session, *, now: datetime) -> list[int]:
    """Tasks whose next attempt is due (their job may have been lost with Redis)."""
    query = select(FollowUpTask.id).where(
        FollowUpTask.status.in_(("planned", "retry")), FollowUpTask.next_attempt_at <= now
    )
    return list(db.scalars(query.order_by(FollowUpTask.id)))


# ---- what supervisors see -----------------------------------------------------------------------


@dataclass(frozen=True)
class Progress:
    campaign: FollowUpCampaign
    planned: int
    reached: int
    completed: int
    retries: int
    flagged: int
    failed: int  # not reached after every attempt, or no number
    opted_out: int
    in_progress: int
    nurse_waiting: int

    @property
    def reach_rate(self) -> float | None:
        """Reached, of the tasks that were tried and are over (or reached)."""
        tried = self.reached + self.failed
        return self.reached / tried if tried else None


def campaigns(db: Session) -> list[FollowUpCampaign]:
    return list(db.scalars(select(FollowUpCampaign).order_by(FollowUpCampaign.month.desc())))


def progress(db: Session, campaign: FollowUpCampaign) -> Progress:
    t = FollowUpTask
    row = db.execute(
        select(
            func.count(),
            func.count(t.reached_at),
            func.sum(case((t.status == "completed", 1), else_=0)),
            func.sum(case((t.attempts > 1, t.attempts - 1), else_=0)),
            func.sum(case((t.flagged, 1), else_=0)),
            func.sum(case((t.status.in_(("unreached", "no_number")), 1), else_=0)),
            func.sum(case((t.status == "opted_out", 1), else_=0)),
            func.sum(case((t.status.in_(("planned", "calling", "retry")), 1), else_=0)),
            func.sum(case((and_(t.flagged, t.nurse_done_at.is_(None)), 1), else_=0)),
        ).where(t.campaign_id == campaign.id)
    ).one()
    values = [int(v or 0) for v in row]
    return Progress(campaign, *values)


def flags_waiting(db: Session, campaign_id: int | None = None) -> list[FollowUpTask]:
    query = (
        select(FollowUpTask)
        .options(selectinload(FollowUpTask.patient), selectinload(FollowUpTask.discharge))
        .where(FollowUpTask.flagged, FollowUpTask.nurse_done_at.is_(None))
        .order_by(FollowUpTask.nurse_requested_at, FollowUpTask.id)
    )
    if campaign_id is not None:
        query = query.where(FollowUpTask.campaign_id == campaign_id)
    return list(db.scalars(query))


def campaign_tasks(db: Session, campaign_id: int) -> list[FollowUpTask]:
    query = (
        select(FollowUpTask)
        .options(selectinload(FollowUpTask.patient), selectinload(FollowUpTask.discharge))
        .where(FollowUpTask.campaign_id == campaign_id)
        .order_by(FollowUpTask.id)
    )
    return list(db.scalars(query))


# ---- satisfaction surveys -----------------------------------------------------------------------


def survey_score(
    db: Session,
    *,
    call_sid: str,
    score: int,
    agent_id: int | None,
    queue: str | None,
    patient_id: int | None,
    now: datetime,
) -> SurveyResponse:
    """The caller's score for this call (a second key press replaces the first)."""
    found = db.scalar(select(SurveyResponse).where(SurveyResponse.call_sid == call_sid))
    if found is None:
        found = SurveyResponse(call_sid=call_sid, patient_id=patient_id, at=now)
        db.add(found)
    found.score, found.agent_id, found.queue = score, agent_id, queue
    db.flush()
    return found


def survey_comment(db: Session, *, call_sid: str, recording_sid: str, url: str, seconds: int | None) -> None:
    found = db.scalar(select(SurveyResponse).where(SurveyResponse.call_sid == call_sid))
    if found is None:
        return
    found.comment_recording_sid = recording_sid[:64] or None
    found.comment_recording_url = url[:500] or None
    found.comment_seconds = seconds
    db.flush()


def call_patient(db: Session, call_sid: str) -> int | None:
    return db.scalar(select(CallRecord.patient_id).where(CallRecord.call_sid == call_sid))


@dataclass(frozen=True)
class ScoreRow:
    name: str | int | None
    responses: int
    average: float | None


def survey_scores(db: Session, *, since: datetime, by: str, until: datetime | None = None) -> list[ScoreRow]:
    """Average survey score per agent ('agent') or per queue ('queue') since `since` (until `until`)."""
    column = SurveyResponse.agent_id if by == "agent" else SurveyResponse.queue
    before = SurveyResponse.at < until if until is not None else true()
    rows = db.execute(
        select(column, func.count(SurveyResponse.score), func.avg(SurveyResponse.score))
        .where(SurveyResponse.at >= since, before, SurveyResponse.score.is_not(None))
        .group_by(column)
        .order_by(column)
    )
    return [ScoreRow(name, count, float(average) if average is not None else None) for name, count, average in rows]
