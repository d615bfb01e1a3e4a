"""The monthly report for the hospital's leadership: calls offered and answered, service
level, abandons, the hospital's service rules, complaints and their time to close, follow-up
calls, satisfaction over six months and quality scores by agent; printable, with charts.

The figures come from records.monthly.figures (the same functions as the supervisors'
reports, so its figures are the records' figures).  A month's report is built and stored
by an RQ job (queueing.reports: the scheduler builds last month's; "Build and store" here
builds any month, its progress shown while it runs); a month with no stored report is
shown live, computed when asked.
"""

from __future__ import annotations

from flask import Blueprint, flash, redirect, render_template, request, url_for
from flask_login import current_user

import charts
from accounts import role_required
from contactcentre import metrics
from extensions import get_db, hotline
from queueing.reports import enqueue_monthly_report, routine_queue
from records import monthly
from records.db import begin_write
from records.satisfaction import VISIT_NAMES

bp = Blueprint("monthly", __name__, url_prefix="/supervisor/monthly", template_folder="templates")


@bp.get("")
@role_required("supervisor")
def report():
    month = _month(request.args.get("month", ""))
    stored, data = _report_data(get_db(), month)
    return render_template("supervisor/monthly.html", **_report_page(month, stored, data))


def _report_data(db, month: str) -> tuple:
    """The month's stored report and its figures: stored once built, else computed now."""
    app = hotline()
    stored = monthly.stored(db, month)
    data = stored.figures if stored is not None and stored.status == "done" else None
    return stored, data or monthly.figures(db, app.settings, month, app.now())


def _report_page(month: str, stored, data: dict) -> dict:
    app = hotline()
    return dict(
        month=month,
        stored=stored,
        building=stored is not None and stored.status in ("queued", "running"),
        data=data,
        total=metrics.Figures(**data["total"]),
        **_report_charts(month, data),
        zone=app.settings.hospital.zone,
        case_types={item.code: item for item in app.settings.console.case_types},
        step_names=monthly.STEP_NAMES,
        visit_names=VISIT_NAMES,
    )


def _report_charts(month: str, data: dict) -> dict:
    return dict(
        chart=charts.intervals_chart(
            [day for day, _, _ in data["days"]],
            [offered for _, offered, _ in data["days"]],
            [level for _, _, level in data["days"]],
            data["target"],
            f"{month} 每日接入与服务水平 Calls offered and service level per day",
        ),
        quality_chart=charts.agents_chart(
            [name for name, *_ in data["quality"]],
            [round(average) for _, average, _, _ in data["quality"]],
            f"{month} 质检平均分 Quality score by agent (%)",
        ),
    )


@bp.post("/build")
@role_required("supervisor")
def build():
    """Build and store the month's report in the background; the page shows its progress."""
    app, db = hotline(), get_db()
    month = _month(request.form.get("month", ""))
    begin_write(db)
    queued = monthly.requested(db, month, staff_id=current_user.id, now=app.now())
    db.commit()
    if queued and not enqueue_monthly_report(routine_queue(app), month):
        flash("后台任务暂不可用，请稍后再试。The job queue is unavailable: try again in a minute.", "error")
    return redirect(url_for("monthly.report", month=month))


def _month(value: str) -> str:
    app = hotline()
    today = app.now().astimezone(app.settings.hospital.zone).date()
    return value if monthly.is_month(value) else f"{today:%Y-%m}"
