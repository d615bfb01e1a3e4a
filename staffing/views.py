"""/staffing (the day's plan), /staffing/recompute (edited targets -> a new run on
the RQ workers), /staffing/runs/<id> (its progress, polled by the page)."""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, jsonify, redirect, render_template, request, url_for
from flask_login import current_user

from accounts import role_required
from charts import Point, day_chart
from contactcentre import simulation
from contactcentre.staffing import StaffingInputError
from extensions import get_db, hotline
from queueing.staffing_jobs import enqueue_staffing, routine_queue, run_inputs
from records import staffing as records
from records.db import begin_write

bp = Blueprint("staffing", __name__, template_folder="templates")


def _day(text: str | None) -> date:
    try:
        return date.fromisoformat(text) if text else hotline().now().date() + timedelta(days=1)
    except ValueError:
        abort(400, "day: expected a date like 2026-12-01")


def _label(slot: int, minutes: int) -> str:
    at = slot * minutes
    return f"{at // 60:02d}:{at % 60:02d}"


@bp.get("/staffing")
@role_required("supervisor")
def day():
    app, db = hotline(), get_db()
    config = app.settings.staffing
    wanted = _day(request.args.get("day"))
    queue = request.args.get("queue") or (config.queues[0].name if config.queues else "general")
    run, pending = _plan_shown(db, wanted)
    inputs = run.inputs if run else run_inputs(config, routing=app.settings.routing)
    page = _day_plan(db, run, wanted, queue, inputs)
    return render_template("staffing/day.html", **page, day=wanted, queue=queue, run=run, pending=pending)


def _plan_shown(db, wanted: date) -> tuple:
    """The run shown (the day's latest, or the one asked for once done) and the one asked for while it is not."""
    pending = None
    if request.args.get("run", "").isdigit():
        asked = records.get_run(db, int(request.args["run"]))
        if asked is not None and asked.status in ("queued", "running", "failed"):
            pending = asked
    run = records.latest_run(db, wanted)
    if request.args.get("run", "").isdigit() and pending is None:
        asked = records.get_run(db, int(request.args["run"]))
        run = asked if asked is not None and asked.status == "done" else run
    return run, pending


def _day_plan(db, run, wanted: date, queue: str, inputs: dict) -> dict:
    rows = records.day_intervals(db, run.id, wanted, queue) if run else []
    minutes = inputs["interval_minutes"]
    return dict(
        sick=_what_if(rows, inputs, queue) if rows and request.args.get("slot", "").isdigit() else None,
        queues=inputs["queues"],
        rows=[r for r in rows if r.calls or r.seats or r.rostered],
        shifts=records.day_shifts(db, run.id, wanted, queue) if run else [],
        summary=(run.summary.get("days", {}).get(f"{queue}/{wanted.isoformat()}") if run else None) or {},
        forecast=(run.summary.get("queues", {}).get(queue) if run else None) or {},
        targets=inputs["targets"],
        inputs=inputs,
        chart=_day_chart(rows, inputs, queue, wanted),
        label=lambda slot: _label(slot, minutes),
    )


def _day_chart(rows, inputs: dict, queue: str, wanted: date):
    if not rows:
        return None
    minutes = inputs["interval_minutes"]
    points = [
        Point(_label(r.slot, minutes), r.calls, r.seats, r.roster_seats, r.roster_service_level, r.met) for r in rows
    ]
    return day_chart(points, target=inputs["targets"]["service_level"], title=f"{queue} {wanted}")


def _what_if(rows, inputs: dict, queue: str) -> dict:
    """'What if N people call in sick' for one interval of the plan shown: Erlang A and a simulation."""
    slot = int(request.args["slot"])
    row = next((r for r in rows if r.slot == slot), None)
    absent_text = request.args.get("absent", "3")
    answer = {"slot": slot, "absent": absent_text, "row": row}
    if row is None:
        return {**answer, "error": "no such interval in this plan"}
    try:
        answer["result"] = _with_absent(row, inputs, queue, absent_text)
    except ValueError as exc:  # StaffingInputError is one; so is a number that is not a number
        answer["error"] = (
            str(exc) if isinstance(exc, StaffingInputError) else f"absent: expected a whole number, got {absent_text!r}"
        )
    return answer


def _with_absent(row, inputs: dict, queue: str, absent_text: str):
    """The interval's rostered (else planned) seats, `absent_text` of them off sick."""
    patience = next((q["patience_seconds"] for q in inputs["queues"] if q["name"] == queue), 120)
    seats = row.roster_seats if row.roster_seats is not None else row.seats
    absent = int(absent_text)
    return simulation.what_if(
        calls=row.calls,
        aht=row.aht,
        interval_seconds=inputs["interval_minutes"] * 60,
        seats=seats,
        absent=absent,
        patience=patience,
        answer_seconds=inputs["targets"]["answer_seconds"],
    )


def _share(name: str) -> float | None:
    text = request.form.get(name, "").strip()
    if not text:
        return None
    try:
        return float(text) / 100
    except ValueError:
        raise StaffingInputError(f"{name}: expected a percentage such as 80, got {text!r}") from None


@bp.post("/staffing/recompute")
@role_required("supervisor")
def recompute():
    app = hotline()
    wanted = _day(request.form.get("day"))
    queue = request.form.get("queue", "")
    try:
        inputs = run_inputs(app.settings.staffing, _targets_asked(), routing=app.settings.routing)
    except StaffingInputError as exc:
        flash(f"目标无效，未重新计算。Targets not valid, nothing recomputed: {exc}", "error")
        return redirect(url_for("staffing.day", day=wanted.isoformat(), queue=queue))
    run = _new_run(inputs, wanted)
    if not enqueue_staffing(routine_queue(app), run.id):
        flash("计算任务暂时无法排队，请稍后再试。The job queue cannot be reached: try again shortly.", "error")
    return redirect(url_for("staffing.day", day=wanted.isoformat(), queue=queue, run=run.id))


def _targets_asked() -> dict:
    """The targets the supervisor typed in; a blank field keeps the configured one."""
    targets = {"service_level": _share("service_level"), "max_occupancy": _share("max_occupancy")}
    seconds = request.form.get("answer_seconds", "").strip()
    try:
        targets["answer_seconds"] = float(seconds) if seconds else None
    except ValueError:
        raise StaffingInputError(f"answer_seconds: expected seconds such as 20, got {seconds!r}") from None
    return {k: v for k, v in targets.items() if v is not None}


def _new_run(inputs: dict, wanted: date):
    """The supervisor's run for the day, stored (committed) before it is queued for the workers."""
    db = get_db()
    begin_write(db)
    run = records.create_run(
        db,
        inputs=inputs,
        first_day=wanted,
        days=1,
        trigger="supervisor",
        at=hotline().now(),
        requested_by=current_user.id,
    )
    db.commit()
    return run


@bp.get("/staffing/runs/<int:run_id>")
@role_required("supervisor")
def progress(run_id: int):
    run = records.get_run(get_db(), run_id)
    if run is None:
        abort(404)
    return jsonify(id=run.id, status=run.status, progress=run.progress, message=run.message)
