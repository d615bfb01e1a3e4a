"""Staff pages for after care.

- `/aftercare/campaigns` (supervisors): each month's follow-up campaign, its progress
  (planned, reached, retries, flagged, failed), the reach rate; the flags waiting for
  a nurse, marked done when the nurse has called; results notices and their missed
  deadlines; survey scores per queue and agent.
- `/aftercare/campaigns/<month>.csv` (supervisors): the campaign's tasks, by record
  number (no names or phone numbers); each export is audited.
- `/aftercare/opt-outs` (agents and supervisors): opt a patient out of follow-up
  calls, surveys and notices, or back in, with the reason kept in the audit log.
"""

from __future__ import annotations

import csv
import io
from datetime import timedelta

from flask import Blueprint, Response, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user

from accounts import role_required
from extensions import get_db, hotline
from records import aftercare
from records.audit import record_access
from records.db import begin_write

bp = Blueprint("aftercare", __name__, url_prefix="/aftercare", template_folder="templates")
NOTICE_DAYS = 7
SURVEY_DAYS = 30


@bp.get("/campaigns")
@role_required("supervisor")
def campaigns() -> str:
    app = hotline()
    return render_template(
        "aftercare/campaigns.html",
        **_campaign_figures(get_db(), app.now()),
        zone=app.settings.hospital.zone,
        questions={q.id: q.prompt("zh") for q in app.settings.aftercare.followup.questions},
    )


def _campaign_figures(db, now) -> dict:
    """The campaigns' progress, the flags for a nurse, the week's notices and the month's survey scores."""
    since = now - timedelta(days=SURVEY_DAYS)
    return dict(
        progress=[aftercare.progress(db, campaign) for campaign in aftercare.campaigns(db)],
        notices=aftercare.notice_report(db, since=now - timedelta(days=NOTICE_DAYS), until=now, now=now),
        flags=aftercare.flags_waiting(db),
        notice_days=NOTICE_DAYS,
        by_queue=aftercare.survey_scores(db, since=since, by="queue"),
        by_agent=aftercare.survey_scores(db, since=since, by="agent"),
        survey_days=SURVEY_DAYS,
    )


@bp.post("/flags/<int:task_id>/done")
@role_required("supervisor")
def flag_done(task_id: int) -> Response:
    """The nurse has called the patient back."""
    db = get_db()
    begin_write(db)
    task = aftercare.nurse_done(db, task_id, staff_id=current_user.id, now=hotline().now())
    if task is None:
        db.rollback()
        flash("没有找到待处理的提醒。No open flag by that number.", "error")
    else:
        record_access(
            db, staff_id=current_user.id, action="followup_flag", reason="nurse called back", patient_id=task.patient_id
        )
        db.commit()
        flash(f"已处理：{task.patient.mrn}。Marked done.", "info")
    return redirect(url_for("aftercare.campaigns"))


@bp.get("/campaigns/<month>.csv")
@role_required("supervisor")
def export(month: str) -> Response:
    db = get_db()
    campaign = aftercare.campaign_for(db, month)
    if campaign is None:
        abort(404)
    begin_write(db)
    record_access(db, staff_id=current_user.id, action="export", reason=f"follow-up campaign {month} (CSV)")
    db.commit()
    zone = hotline().settings.hospital.zone
    tasks = [_task_row(task, zone) for task in aftercare.campaign_tasks(db, campaign.id)]
    return _download([TASK_COLUMNS, *tasks], f"followup-{month}.csv")


TASK_COLUMNS = ["task", "record_number", "ward", "discharged_on", "status", "attempts", "last_result", "reached_at",
                "flagged", "flags", "nurse_requested_at", "nurse_done_at"]  # fmt: skip


def _task_row(task, zone) -> list:
    """One follow-up task by record number: no name, no phone number."""
    return [
        task.id,
        task.patient.mrn,
        task.discharge.ward,
        task.discharge.discharged_on.isoformat(),
        task.status,
        task.attempts,
        task.last_result or "",
        _local(task.reached_at, zone),
        "yes" if task.flagged else "no",
        " ".join(task.flags or []),
        _local(task.nurse_requested_at, zone),
        _local(task.nurse_done_at, zone),
    ]


def _download(rows: list[list], filename: str) -> Response:
    out = io.StringIO()
    csv.writer(out).writerows(rows)
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM, so spreadsheet programs read the Chinese ward names
        mimetype="text/csv",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@bp.route("/opt-outs", methods=["GET", "POST"])
@role_required("agent", "supervisor")
def opt_outs():
    if request.method == "GET":
        return render_template("aftercare/opt_outs.html")
    db = get_db()
    mrn, reason = (request.form.get(field, "").strip() for field in ("mrn", "reason"))
    begin_write(db)
    patient = aftercare.patient_by_mrn(db, mrn) if mrn else None
    if patient is None or not reason:
        flash("请填写有效的病历号和原因。Give a valid record number and a reason.", "error")
        return render_template("aftercare/opt_outs.html", mrn=mrn, reason=reason), 422
    done = _opt_out_or_in(db, patient, request.form.get("action", "opt_out"), reason)
    db.commit()
    flash(f"{patient.mrn}: {done}", "info")
    return redirect(url_for("aftercare.opt_outs"))


# What the agent is told, by what was asked (anything but 'opt_in' opts out) and whether it changed anything.
OPTED = {
    ("opt_in", True): "已恢复回访和通知。Follow-ups allowed again.",
    ("opt_in", False): "该患者未退订。Not opted out.",
    ("opt_out", True): "已退订回访和通知。Opted out.",
    ("opt_out", False): "该患者已退订。Already opted out.",
}


def _opt_out_or_in(db, patient, action: str, reason: str) -> str:
    """Opt the patient out of follow-ups (or back in), with the reason in the audit log; what became of it."""
    now = hotline().now()
    if action == "opt_in":
        changed = aftercare.opt_in(db, patient.id, now=now, by_staff_id=current_user.id)
    else:
        changed = aftercare.opt_out(db, patient.id, channel="agent", now=now, by_staff_id=current_user.id, note=reason)
    record_access(db, staff_id=current_user.id, action=action, reason=reason, patient_id=patient.id)
    return OPTED["opt_in" if action == "opt_in" else "opt_out", bool(changed)]


def _local(value, zone) -> str:
    return value.astimezone(zone).strftime("%Y-%m-%d %H:%M") if value else ""
