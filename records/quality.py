"""Quality reviews in the database: the day's reviewable calls, the sample stored as
reviews, a reviewer's score, the agent's answer.  The rules (who is sampled, what the
answers score) are records.scorecard's pure functions; the caller owns the transaction."""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import exists, select
from sqlalchemy.orm import Session

from records.db import insert_new
from records.models import CallEvent, CallRecord, CaseCall, QualityReview, QueueEntry, Staff
from records.scorecard import Picked, Reviewable, Score

REVIEWER_ROLES = ("reviewer", "supervisor")


def reviewable_calls(
    session: Session, start: datetime, end: datetime, *, complaint_queue: str, complaint_dispositions: set[str]
) -> list[Reviewable]:
    """Talks with an agent answered in [start, end) whose recording the carrier reported."""
    recorded = exists().where(
        CallEvent.call_id == CallRecord.id,
        CallEvent.kind == "recording",
        CallEvent.detail["recording_sid"].as_string().is_not(None),
    )
    has_case = exists().where(CaseCall.call_sid == CallRecord.call_sid)
    rows = session.execute(
        select(CallRecord.call_sid, QueueEntry.agent_id, QueueEntry.queue, QueueEntry.disposition, has_case)
        .join(CallRecord, CallRecord.id == QueueEntry.call_id)
        .where(QueueEntry.answered_at >= start, QueueEntry.answered_at < end, QueueEntry.agent_id.is_not(None))
        .where(recorded)
        .order_by(CallRecord.call_sid)
    ).all()
    return [
        Reviewable(
            call_sid,
            agent_id,
            queue,
            complaint=queue == complaint_queue or (disposition or "") in complaint_dispositions or bool(case),
        )
        for call_sid, agent_id, queue, disposition, case in rows
        if agent_id is not None  # the query excludes NULL: this tells mypy
    ]


def reviewers(session: Session) -> list[int]:
    return list(
        session.scalars(
            select(Staff.id).where(Staff.role.in_(REVIEWER_ROLES), Staff.active.is_(True)).order_by(Staff.id)
        )
    )


def store_sample(session: Session, day: date, assigned: list[tuple[Picked, int | None]], form_for) -> int:
    """The day's sample as reviews; a second run of the same day adds nothing."""
    done = set(session.scalars(select(QualityReview.call_sid).where(QualityReview.sampled_on == day)))
    rows = [
        {
            "call_sid": item.call.call_sid,
            "agent_id": item.call.agent_id,
            "reviewer_id": reviewer,
            "queue": item.call.queue,
            "form": form_for(item.call.queue),
            "reason": item.reason,
            "sampled_on": day,
            "status": "assigned",
            "answers": {},
            "failed_critical": [],
            "comment": "",
            "agent_comment": "",
        }
        for item, reviewer in assigned
        if item.call.call_sid not in done
    ]
    insert_new(session, QualityReview, rows, ["call_sid", "reviewer_id"])
    return len(rows)


def save_score(
    session: Session, review: QualityReview, answers: dict[str, str], result: Score, comment: str, now: datetime
) -> None:
    review.answers = dict(answers)
    review.percent, review.passed = result.percent, result.passed
    review.failed_critical = list(result.failed_critical)
    review.comment = comment
    review.scored_at, review.status = now, "scored"
    session.flush()


def respond(session: Session, review: QualityReview, *, agrees: bool, comment: str, now: datetime) -> None:
    """The agent's answer to a scored review: acknowledged, or disputed with why."""
    review.status = "acknowledged" if agrees else "disputed"
    review.agent_comment, review.responded_at = comment, now
    session.flush()


def add_reviewer(session: Session, model: QualityReview, reviewer_id: int) -> QualityReview | None:
    """A second reviewer for the same call (calibration); None if they already have it."""
    rows = [
        {
            "call_sid": model.call_sid,
            "agent_id": model.agent_id,
            "reviewer_id": reviewer_id,
            "queue": model.queue,
            "form": model.form,
            "reason": "calibration",
            "sampled_on": model.sampled_on,
            "status": "assigned",
            "answers": {},
            "failed_critical": [],
            "comment": "",
            "agent_comment": "",
        }
    ]
    insert_new(session, QualityReview, rows, ["call_sid", "reviewer_id"])
    return session.scalar(
        select(QualityReview).where(QualityReview.call_sid == model.call_sid, QualityReview.reviewer_id == reviewer_id)
    )


def reviews_of_call(session: Session, call_sid: str) -> list[QualityReview]:
    return list(
        session.scalars(select(QualityReview).where(QualityReview.call_sid == call_sid).order_by(QualityReview.id))
    )
