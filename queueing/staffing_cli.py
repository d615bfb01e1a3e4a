"""`flask --app app staffing ...`: plan seats and rosters, show a day, try a what-if.

flask --app app staffing plan                       # tomorrow + config horizon, here, with a progress bar
flask --app app staffing plan --from 2026-12-01 --days 7 --service-level 0.9 --answer-seconds 15
flask --app app staffing plan --enqueue             # let an RQ worker compute it
flask --app app staffing show --day 2026-12-01      # the newest finished plan for a day
flask --app app staffing what-if --calls 300 --seats 20 --absent 3
"""

from __future__ import annotations

from datetime import timedelta

import click
from flask import Flask
from flask.cli import AppGroup

from contactcentre.simulation import what_if as simulate_what_if
from contactcentre.staffing import StaffingInputError
from extensions import hotline
from queueing.staffing_jobs import compute_run, enqueue_staffing, routine_queue, run_inputs
from records import staffing as records
from records.db import begin_write


def register(app: Flask) -> None:
    app.cli.add_command(staffing)


@click.group("staffing", cls=AppGroup)
def staffing() -> None:
    """Forecast calls, seats per interval (Erlang C / A), people and rosters."""


@staffing.command("plan")
@click.option("--from", "first_day", type=click.DateTime(["%Y-%m-%d"]), help="First day (default: tomorrow).")
@click.option("--days", type=click.IntRange(1, 62), help="How many days (default: staffing.horizon_days).")
@click.option("--service-level", type=float, help="Share answered in time, e.g. 0.8.")
@click.option("--answer-seconds", type=float, help="The answer-time target in seconds, e.g. 20.")
@click.option("--max-occupancy", type=float, help="e.g. 0.85.")
@click.option("--enqueue", is_flag=True, help="Store the run and let an RQ worker compute it.")
def plan(first_day, days, service_level, answer_seconds, max_occupancy, enqueue) -> None:
    """Store a staffing run with its inputs and compute it."""
    app = hotline()
    config = app.settings.staffing
    targets = {
        key: value
        for key, value in (
            ("service_level", service_level),
            ("answer_seconds", answer_seconds),
            ("max_occupancy", max_occupancy),
        )
        if value is not None
    }
    try:
        inputs = run_inputs(config, targets, routing=app.settings.routing)
    except StaffingInputError as exc:
        raise click.ClickException(str(exc)) from None
    start = first_day.date() if first_day else app.now().date() + timedelta(days=1)
    with app.sessions() as db:
        begin_write(db)
        run = records.create_run(
            db, inputs=inputs, first_day=start, days=days or config.horizon_days, trigger="cli", at=app.now()
        )
        db.commit()
        run_id, total = run.id, run.days * len(inputs["queues"])
    if enqueue:
        if not enqueue_staffing(routine_queue(app), run_id):
            raise click.ClickException(f"run {run_id} stored, but Redis did not take the job")
        click.echo(f"run {run_id} enqueued")
        return
    with click.progressbar(length=total, label=f"run {run_id}", show_pos=True) as bar:
        done = [0]

        def progress(share: float, message: str) -> None:
            step = round(share * total)
            bar.update(step - done[0])
            done[0] = step

        result = compute_run(app, run_id, progress)
    if result != "done":
        raise click.ClickException(f"run {run_id} {result}")
    click.echo(f"run {run_id} done")


@staffing.command("show")
@click.option("--day", type=click.DateTime(["%Y-%m-%d"]), help="Default: tomorrow.")
@click.option("--queue", "queue_name", help="Default: the first queue in config.")
def show(day, queue_name) -> None:
    """The newest finished plan for a day: per interval, calls, seats, people, roster and its service level."""
    app = hotline()
    config = app.settings.staffing
    wanted = day.date() if day else app.now().date() + timedelta(days=1)
    name = queue_name or (config.queues[0].name if config.queues else "general")
    with app.sessions() as db:
        run = records.latest_run(db, wanted)
        if run is None:
            raise click.ClickException(
                f"no finished staffing plan covers {wanted}: run `flask --app app staffing plan`"
            )
        rows = records.day_intervals(db, run.id, wanted, name)
        summary = run.summary.get("days", {}).get(f"{name}/{wanted.isoformat()}", {})
        predicted = run.summary.get("queues", {}).get(name, {})
    minutes = run.inputs["interval_minutes"]
    click.echo(f"run {run.id} ({run.trigger}, {run.created_at:%Y-%m-%d %H:%M}), queue {name}, {wanted}")
    click.echo(f"{'time':>5} {'calls':>7} {'seats':>5} {'people':>6} {'roster':>6} {'SL':>6} {'roster SL':>9}")
    for row in rows:
        if not row.calls and not row.rostered:
            continue
        at = row.slot * minutes
        mark = "" if row.met else "  cannot meet"
        sl = "-" if row.service_level is None else f"{row.service_level:.1%}"
        rsl = "-" if row.roster_service_level is None else f"{row.roster_service_level:.1%}"
        click.echo(
            f"{at // 60:02d}:{at % 60:02d} {row.calls:7.1f} {row.seats:5d} {row.people:6.1f} "
            f"{row.rostered if row.rostered is not None else '-':>6} {sl:>6} {rsl:>9}{mark}"
        )
    if predicted:
        error = (
            f", held-out MAPE {predicted['mape']:.1%}, WAPE {predicted['wape']:.1%}"
            if predicted.get("mape") is not None
            else ""
        )
        click.echo(f"forecast from {predicted['source']}{error}")
    if summary:
        click.echo(
            f"people per seat {summary['people_per_seat']:.2f}; the day's seat-hours staffed all month: "
            f"{summary['people_for_month']:.1f} people after {run.inputs['shrinkage']:.0%} shrinkage"
        )


@staffing.command("what-if")
@click.option("--calls", type=float, required=True, help="Calls offered in the interval.")
@click.option("--seats", type=int, required=True, help="Seats planned.")
@click.option("--absent", type=int, default=3, show_default=True, help="People off sick.")
@click.option("--aht", type=float, help="Handle time in seconds (default: the first queue's).")
@click.option("--patience", type=float, help="Mean patience in seconds (default: the first queue's).")
def what_if(calls, seats, absent, aht, patience) -> None:
    """The interval's service with some seats empty: Erlang A and a simulation."""
    config = hotline().settings.staffing
    queue = config.queues[0] if config.queues else None
    try:
        result = simulate_what_if(
            calls=calls,
            aht=aht or (queue.aht_seconds if queue else 180),
            interval_seconds=config.interval_minutes * 60,
            seats=seats,
            absent=absent,
            patience=patience or (queue.patience_seconds if queue else 120),
            answer_seconds=config.targets.answer_seconds,
        )
    except StaffingInputError as exc:
        raise click.ClickException(str(exc)) from None
    f, s = result.formula, result.simulated
    click.echo(f"{result.seats_present} of {result.seats_planned} seats filled:")
    click.echo(
        f"  Erlang A:   {f.service_level:.1%} answered within {config.targets.answer_seconds:g} s, "
        f"{f.abandon_probability:.1%} hang up, average wait {f.asa:.0f} s"
    )
    click.echo(
        f"  simulated:  {s['service_level'].mean:.1%} ± {s['service_level'].half_width:.1%}, "
        f"{s['abandon_rate'].mean:.1%} ± {s['abandon_rate'].half_width:.1%} hang up"
    )
