"""The satisfaction programme's pages (records.satisfaction holds the data).

- `/s/<token>` (the patient, no login): the link texted by queueing.satisfaction.  One
  question (1-5) and an optional comment; it shows the visit's month and department, never
  the patient's name, and works once, until its date.
- `/aftercare/satisfaction` (supervisors): each month's samples by visit type, how many
  answered (the response rate), scores by department, doctor and month, and the comments
  to follow up, each turned into a complaint case in one click.
- `/aftercare/satisfaction/week` (supervisors): the weekly summary of opinions: this
  programme's answers and the after-call survey's scores of one ISO week, and its comments.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

from accounts import role_required
from extensions import get_db, hotline
from records import aftercare, complaints, satisfaction
from records import aftercare_rules as rules
from records.audit import record_access
from records.db import begin_write
from settings import VISIT_TYPES

bp = Blueprint("satisfaction", __name__, template_folder="templates")
TREND_MONTHS = 6
# What the patient's page says, by what became of the answer (records.satisfaction.answer).
OUTCOMES = {
    "answered": (200, "感谢您的评价！Thank you for your answer."),
    "answered_before": (409, "您已经评价过了，感谢！You have answered already. Thank you."),
    "expired": (410, "此链接已过期。This link has expired."),
    "unknown": (404, "找不到此调查，请检查链接。No survey at this address: please check the link."),
}


# ---- the patient's page ------------------------------------------------------------------------------


@bp.route("/s/<token>", methods=["GET", "POST"])
def answer(token: str):
    db = get_db()
    survey = satisfaction.by_token(db, token)
    now = hotline().now()
    if survey is None or survey.status != "sent" or survey.expires_at <= now:
        return _told(_closed(survey))
    if request.method == "GET":
        return render_template("aftercare/survey_answer.html", survey=survey, limit=_comment_limit())
    score, comment = request.form.get("score", ""), request.form.get("comment", "").strip()
    if score not in {"1", "2", "3", "4", "5"} or len(comment) > _comment_limit():
        return _ask_again(survey, comment)
    begin_write(db)
    outcome = satisfaction.answer(db, token, score=int(score), comment=comment or None, now=now)
    db.commit()
    return _told(outcome)


def _closed(survey) -> str:
    """Why a link takes no answer: no such survey, answered already, or past its date (or not sent)."""
    return "unknown" if survey is None else "answered_before" if survey.status == "answered" else "expired"


def _told(outcome: str):
    """The patient's page for what became of the answer (OUTCOMES), with its status."""
    status, message = OUTCOMES[outcome]
    return render_template("aftercare/survey_answer.html", message=message), status


def _ask_again(survey, comment: str):
    """The form again, its comment kept, when the score or the comment's length is not valid."""
    error = f"请选择1到5分，意见最多{_comment_limit()}字。Choose a score from 1 to 5; at most {_comment_limit()} characters."
    return render_template(
        "aftercare/survey_answer.html", survey=survey, limit=_comment_limit(), error=error, comment=comment
    ), 422


def _comment_limit() -> int:
    return hotline().settings.aftercare.satisfaction.comment_chars


# ---- the supervisors' pages ---------------------------------------------------------------------------


@bp.get("/aftercare/satisfaction")
@role_required("supervisor")
def results():
    app, db = hotline(), get_db()
    today = app.now().astimezone(app.settings.hospital.zone).date()
    month = _month(request.args.get("month", ""), rules.previous_month(today))
    return render_template(
        "aftercare/satisfaction.html",
        **_month_results(db, month, _months_to(month, TREND_MONTHS)),
        visit_names=satisfaction.VISIT_NAMES,
        visit_types=VISIT_TYPES,
        zone=app.settings.hospital.zone,
    )


def _month_results(db, month: str, months: list[str]) -> dict:
    """Response rates and scores by month over the trend's months; by department and doctor, and comments, for one."""
    return dict(
        month=month,
        months=months,
        rates=satisfaction.rates(db, months),
        by_month=satisfaction.scores(db, months, "month"),
        by_department=satisfaction.scores(db, [month], "department"),
        by_doctor=satisfaction.scores(db, [month], "doctor"),
        comments=satisfaction.comments(db, [month]),
    )


@bp.post("/aftercare/satisfaction/<int:survey_id>/complaint")
@role_required("supervisor")
def open_complaint(survey_id: int):
    """A comment becomes a complaint case owned by whoever clicked (first contact owns it)."""
    db = get_db()
    begin_write(db)
    try:
        case = _case_from_comment(db, survey_id)
    except complaints.CaseError as refused:
        db.rollback()
        flash(str(refused), "error")
        return redirect(url_for("satisfaction.results", month=request.form.get("month", "")))
    db.commit()
    flash(f"已立案 {case.id}。Complaint case {case.id} opened: it is yours until closed.", "info")
    return redirect(url_for("console.case", case_id=case.id))


def _case_from_comment(db, survey_id: int):
    """The case opened by the supervisor who clicked, with its audit row (nothing if it is refused)."""
    app = hotline()
    actor = complaints.Actor(current_user.id, supervisor=True)
    case = satisfaction.open_complaint(
        db, survey_id, actor=actor, now=app.now(), deadline_days=app.settings.console.complaint_deadline_days
    )
    record_access(
        db,
        staff_id=current_user.id,
        action="open_case",
        reason=f"satisfaction survey comment {survey_id}",
        patient_id=case.patient_id,
    )
    return case


@bp.get("/aftercare/satisfaction/week")
@role_required("supervisor")
def week():
    app, db = hotline(), get_db()
    zone = app.settings.hospital.zone
    today = app.now().astimezone(zone).date()
    monday = _monday(request.args.get("week", ""), today - timedelta(days=today.weekday() + 7))
    return render_template(
        "aftercare/satisfaction_week.html",
        **_week_summary(db, monday, zone),
        visit_names=satisfaction.VISIT_NAMES,
        zone=zone,
    )


def _week_summary(db, monday: date, zone) -> dict:
    """One ISO week's answers to the programme and the after-call survey's scores per queue."""
    since = datetime.combine(monday, time(), zone)
    until = since + timedelta(days=7)
    answers = satisfaction.answers_between(db, since=since, until=until)
    return dict(
        **_week_names(monday),
        answers=answers,
        **_opinions(answers),
        after_calls=aftercare.survey_scores(db, since=since, by="queue", until=until),
    )


def _week_names(monday: date) -> dict:
    """The week shown and the weeks before and after it, written 2026-W48."""
    return dict(
        monday=monday,
        week=f"{monday:%G-W%V}",
        previous=f"{monday - timedelta(days=7):%G-W%V}",
        following=f"{monday + timedelta(days=7):%G-W%V}",
    )


def _opinions(answers) -> dict:
    return dict(
        average=sum(a.score for a in answers) / len(answers) if answers else None,
        unhappy=[a for a in answers if a.score <= 2],
        by_department=_by_department(answers),
        comments=[a for a in answers if a.comment],
    )


def _by_department(answers) -> list[tuple[str, int, float]]:
    groups: dict[str, list[int]] = {}
    for item in answers:
        groups.setdefault(item.department, []).append(item.score)
    return [(name, len(scores), sum(scores) / len(scores)) for name, scores in sorted(groups.items())]


def _month(value: str, default: str) -> str:
    try:
        rules.month_bounds(value)
    except ValueError:
        return default
    return value if len(value) == 7 else default


def _months_to(month: str, count: int) -> list[str]:
    start, _ = rules.month_bounds(month)
    months = [month]
    for _ in range(count - 1):
        start = (start - timedelta(days=1)).replace(day=1)
        months.append(f"{start:%Y-%m}")
    return sorted(months)


def _monday(value: str, default: date) -> date:
    """The Monday of an ISO week written 2026-W48 (the week before this one by default)."""
    try:
        return datetime.strptime(value + "-1", "%G-W%V-%u").date()
    except ValueError:
        return default
