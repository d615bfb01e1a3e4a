"""The satisfaction programme on the patient file: each month's sample of the month before's
visits of each type (outpatient, inpatient, exam), the texted link's token, the patient's
answer, and the results by department, doctor and month for the hospital's leadership.

A visit is an appointment that stayed booked (outpatient: with a doctor; exam: with an exam
type) or a discharge (inpatient, by ward).  A patient with several visits in a month is asked
about the last one only.  The sample is drawn as the follow-up calls' is
(`records.aftercare_rules.sample`: a share, at least N per department, reproducible from its seed).

Functions take a Session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy import Row, func, insert, null, select, update
from sqlalchemy.orm import Session

from records import aftercare_rules as rules
from records import complaints
from records.aftercare import CHUNK, opted_out_among
from records.db import changed
from records.models import (
    Appointment,
    ComplaintCase,
    Department,
    Discharge,
    Doctor,
    ExamType,
    SatisfactionCampaign,
    SatisfactionSurvey,
)
from settings import Satisfaction, VisitType

# What staff read for each visit type (the monthly report and the programme's pages).
VISIT_NAMES = {"outpatient": "门诊 Outpatient", "inpatient": "住院 Inpatient", "exam": "检查 Exam"}
SCORES = range(1, 6)  # 1 very dissatisfied ... 5 very satisfied
GROUPS = ("department", "doctor", "month")


@dataclass(frozen=True)
class Visit:
    id: int  # the appointment's or the discharge's
    patient_id: int
    department: str
    doctor_id: int | None
    visited_on: date


def token_hash(token: str) -> str:
    """Only the token's SHA-256 is kept on the survey (the text that carried the link is purged
    with the other texts, retention.texts_days)."""
    return hashlib.sha256(token.encode()).hexdigest()


# ---- the month's samples -------------------------------------------------------------------------


def visits(db: Session, visit_type: str, month: str) -> list[Visit]:
    """The month's visits of one type, each patient's last one only."""
    start, end = rules.month_bounds(month)
    rows: Sequence[Row[int, int, str, int | None, date]]  # id, patient, department, doctor, day
    if visit_type == "inpatient":
        rows = db.execute(
            select(Discharge.id, Discharge.patient_id, Discharge.ward, null(), Discharge.discharged_on).where(
                Discharge.discharged_on >= start, Discharge.discharged_on < end
            )
        ).all()
    elif visit_type == "outpatient":
        rows = db.execute(
            select(Appointment.id, Appointment.patient_id, Department.name_zh, Appointment.doctor_id, Appointment.date)
            .join(Doctor, Doctor.id == Appointment.doctor_id)
            .join(Department, Department.id == Doctor.department_id)
            .where(Appointment.status == "booked", Appointment.date >= start, Appointment.date < end)
        ).all()
    elif visit_type == "exam":
        rows = db.execute(
            select(
                Appointment.id,
                Appointment.patient_id,
                func.coalesce(Department.name_zh, ExamType.name_zh),
                null(),
                Appointment.date,
            )
            .join(ExamType, ExamType.id == Appointment.exam_type_id)
            .outerjoin(Department, Department.id == ExamType.department_id)
            .where(Appointment.status == "booked", Appointment.date >= start, Appointment.date < end)
        ).all()
    else:
        raise ValueError(f"unknown visit type {visit_type!r}")
    last: dict[int, Visit] = {}
    for row in sorted(rows, key=lambda row: (row[4], row[0])):
        last[row[1]] = Visit(row[0], row[1], row[2], row[3], row[4])
    return sorted(last.values(), key=lambda visit: visit.id)


def campaign_for(db: Session, month: str, visit_type: str) -> SatisfactionCampaign | None:
    return db.scalar(
        select(SatisfactionCampaign).where(
            SatisfactionCampaign.month == month, SatisfactionCampaign.visit_type == visit_type
        )
    )


def create_campaign(
    db: Session, month: str, visit_type: VisitType, programme: Satisfaction, now: datetime
) -> tuple[SatisfactionCampaign, bool]:
    """The month's sample of one visit type (False: it existed already, unchanged).  Patients
    who opted out are kept in the sample as 'opted_out', so it stays the one its seed draws."""
    existing = campaign_for(db, month, visit_type)
    if existing is not None:
        return existing, False
    found = visits(db, visit_type, month)
    seed = f"satisfaction:{visit_type}:{month}"
    share = programme.shares.get(visit_type, 0.0)
    chosen = set(
        rules.sample(
            [(visit.id, visit.department) for visit in found],
            share=share,
            min_per_ward=programme.min_per_department if share else 0,
            seed=seed,
        )
    )
    campaign = SatisfactionCampaign(
        month=month, visit_type=visit_type, seed=seed, share=share, visits=len(found), created_at=now
    )
    db.add(campaign)
    db.flush()
    sample = [visit for visit in found if visit.id in chosen]
    opted_out = opted_out_among(db, {visit.patient_id for visit in sample})
    kind = "discharge" if visit_type == "inpatient" else "appointment"
    for begin in range(0, len(sample), CHUNK):
        rows = [
            {
                "campaign_id": campaign.id,
                "visit": f"{kind}:{visit.id}",
                "patient_id": visit.patient_id,
                "department": visit.department,
                "doctor_id": visit.doctor_id,
                "visited_on": visit.visited_on,
                "status": "opted_out" if visit.patient_id in opted_out else "planned",
            }
            for visit in sample[begin : begin + CHUNK]
        ]
        db.execute(insert(SatisfactionSurvey), rows)
    return campaign, True


def planned(db: Session, campaign_id: int) -> list[SatisfactionSurvey]:
    return list(
        db.scalars(
            select(SatisfactionSurvey)
            .where(SatisfactionSurvey.campaign_id == campaign_id, SatisfactionSurvey.status == "planned")
            .order_by(SatisfactionSurvey.id)
        )
    )


def sent(db: Session, survey: SatisfactionSurvey, *, token: str, sms_id: int, now: datetime, days: int) -> None:
    survey.status = "sent"
    survey.token_hash = token_hash(token)
    survey.sms_message_id = sms_id
    survey.sent_at = now
    survey.expires_at = now + timedelta(days=days)


def not_sent(db: Session, survey: SatisfactionSurvey, status: str) -> None:
    survey.status = status  # no_mobile | opted_out


# ---- the patient's answer ------------------------------------------------------------------------


def by_token(db: Session, token: str) -> SatisfactionSurvey | None:
    if not token or len(token) > 64:
        return None
    return db.scalar(select(SatisfactionSurvey).where(SatisfactionSurvey.token_hash == token_hash(token)))


def answer(db: Session, token: str, *, score: int, comment: str | None, now: datetime) -> str:
    """'answered', or why not: 'unknown', 'expired', 'answered_before'.

    One conditional UPDATE takes the answer: two submissions at once (a double tap, two
    tabs) store one, and a link past its date stores none."""
    if score not in SCORES:
        raise ValueError(f"a score from 1 to 5, got {score!r}")
    taken = changed(
        db,
        update(SatisfactionSurvey)
        .where(
            SatisfactionSurvey.token_hash == token_hash(token),
            SatisfactionSurvey.status == "sent",
            SatisfactionSurvey.expires_at > now,
        )
        .values(status="answered", answered_at=now, score=score, comment=comment or None),
    )
    if taken == 1:
        return "answered"
    found = by_token(db, token)
    if found is None:
        return "unknown"
    return "answered_before" if found.status == "answered" else "expired"


# ---- results ---------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Rate:
    month: str
    visit_type: str
    visits: int
    sampled: int
    sent: int
    answered: int
    average: float | None

    @property
    def response_rate(self) -> float | None:
        return self.answered / self.sent if self.sent else None


@dataclass(frozen=True)
class Score:
    label: str
    answers: int
    average: float
    unhappy: int  # scores of 1 or 2


def rates(db: Session, months: list[str]) -> list[Rate]:
    """Each campaign of these months: its visits, how many were asked and how many answered."""
    answered_or_expired = SatisfactionSurvey.status.in_(("sent", "answered", "expired"))
    rows = db.execute(
        select(
            SatisfactionCampaign.month,
            SatisfactionCampaign.visit_type,
            SatisfactionCampaign.visits,
            func.count(SatisfactionSurvey.id),
            func.count(SatisfactionSurvey.id).filter(answered_or_expired),
            func.count(SatisfactionSurvey.id).filter(SatisfactionSurvey.status == "answered"),
            func.avg(SatisfactionSurvey.score),
        )
        .outerjoin(SatisfactionSurvey, SatisfactionSurvey.campaign_id == SatisfactionCampaign.id)
        .where(SatisfactionCampaign.month.in_(months))
        .group_by(SatisfactionCampaign.id)
        .order_by(SatisfactionCampaign.month, SatisfactionCampaign.visit_type)
    ).all()
    return [
        Rate(month, visit_type, visits, sampled, sent, answered, float(average) if average is not None else None)
        for month, visit_type, visits, sampled, sent, answered, average in rows
    ]


def scores(db: Session, months: list[str], by: str, visit_type: str | None = None) -> list[Score]:
    """Answers and average score by department, doctor or month, over these months' campaigns."""
    if by not in GROUPS:
        raise ValueError(f"by one of {GROUPS}, got {by!r}")
    label = {
        "department": SatisfactionSurvey.department,
        "doctor": Doctor.name_zh,
        "month": SatisfactionCampaign.month,
    }[by]
    query = (
        select(
            label,
            func.count(SatisfactionSurvey.id),
            func.avg(SatisfactionSurvey.score),
            func.count(SatisfactionSurvey.id).filter(SatisfactionSurvey.score <= 2),
        )
        .join(SatisfactionCampaign, SatisfactionCampaign.id == SatisfactionSurvey.campaign_id)
        .where(SatisfactionCampaign.month.in_(months), SatisfactionSurvey.status == "answered")
        .group_by(label)
        .order_by(label)
    )
    if by == "doctor":
        query = query.join(Doctor, Doctor.id == SatisfactionSurvey.doctor_id)
    if visit_type:
        query = query.where(SatisfactionCampaign.visit_type == visit_type)
    return [Score(row[0], row[1], float(row[2]), row[3]) for row in db.execute(query)]


def comments(db: Session, months: list[str]) -> list[SatisfactionSurvey]:
    """Answers with a comment about these months' visits, newest first, for follow-up."""
    return list(
        db.scalars(
            select(SatisfactionSurvey)
            .join(SatisfactionCampaign, SatisfactionCampaign.id == SatisfactionSurvey.campaign_id)
            .where(SatisfactionSurvey.comment.is_not(None), SatisfactionCampaign.month.in_(months))
            .order_by(SatisfactionSurvey.answered_at.desc(), SatisfactionSurvey.id.desc())
        )
    )


def answers_between(db: Session, *, since: datetime, until: datetime) -> list[SatisfactionSurvey]:
    return list(
        db.scalars(
            select(SatisfactionSurvey).where(
                SatisfactionSurvey.status == "answered",
                SatisfactionSurvey.answered_at >= since,
                SatisfactionSurvey.answered_at < until,
            )
        )
    )


# ---- a comment becomes a complaint -----------------------------------------------------------------


def open_complaint(
    db: Session, survey_id: int, *, actor: complaints.Actor, now: datetime, deadline_days: int
) -> ComplaintCase:
    """A complaint case owned by `actor` from a survey's comment, once: the link is claimed by
    one conditional UPDATE after the case is made, so a second click (or a colleague's at the
    same moment) raises and its transaction, case included, is rolled back by the caller."""
    survey = db.get(SatisfactionSurvey, survey_id)
    if survey is None or survey.comment is None or survey.patient_id is None:
        raise complaints.CaseError("没有可立案的意见 (no comment to open a case from)")
    summary = (
        f"满意度调查意见 Satisfaction survey ({survey.department}, {survey.visited_on:%Y-%m-%d}, {survey.score}/5): "
    )
    case = complaints.open_case(
        db,
        patient_id=survey.patient_id,
        actor=actor,
        summary=(summary + survey.comment)[: complaints.SUMMARY_MAX],
        now=now,
        deadline_days=deadline_days,
    )
    claimed = changed(
        db,
        update(SatisfactionSurvey)
        .where(SatisfactionSurvey.id == survey_id, SatisfactionSurvey.case_id.is_(None))
        .values(case_id=case.id),
    )
    if claimed != 1:
        raise complaints.CaseError("这条意见已经立案 (a case was already opened from this comment)")
    return case
