"""The staffing jobs RQ workers run (plain functions taking ids; each opens its
own session): `compute_staffing(run_id)` computes a stored run from the inputs
stored with it; `nightly_staffing()` (cron, config staffing.nightly_at) stores
a run for the coming days from config and computes it.

A run reads its inputs from the database, never from config, so its results can
always be traced to what produced them, and a supervisor's edited targets apply
to their run alone.  Progress (share done, what it is doing) is written to the
run as it goes; the supervisor page polls it.
"""

from __future__ import annotations

import logging
import math
import time as clock
from collections.abc import Callable
from datetime import date, timedelta

from pydantic import ValidationError
from redis.exceptions import RedisError
from rq import Queue, Retry

from contactcentre import forecast as forecasting
from contactcentre import roster as rosters
from contactcentre.planning import DayPlan, QueueModel, plan_day
from contactcentre.staffing import StaffingInputError, Targets
from queueing import ROUTINE, context, queue_name
from records import staffing as records
from records.db import begin_write
from settings import Staffing, _describe

log = logging.getLogger(__name__)

STAFFING_TIMEOUT = 30 * 60  # a fortnight of every queue, with the roster solver's time limit per day


def run_inputs(staffing: Staffing, targets: dict | None = None, routing=None) -> dict:
    """The inputs stored with a run: config's staffing section, with a supervisor's targets,
    and (given `routing`, config's ACD section) every ACD queue staffing.queues does not
    list, planned from its history with the default handle time and patience.

    Raises StaffingInputError naming the wrong target (pydantic's checks, in words)."""
    data = staffing.model_dump(mode="json")
    if targets:
        data["targets"] = {**data["targets"], **targets}
    if routing is not None:
        listed = {queue["name"] for queue in data["queues"]}
        data["queues"] += [
            {"name": name, "title": queue.title.model_dump(mode="json")}
            for name, queue in routing.queues.items()
            if name not in listed
        ]
    try:
        return Staffing.model_validate(data).model_dump(mode="json")
    except ValidationError as exc:
        raise StaffingInputError(_describe(exc, "staffing")) from None


def enqueue_staffing(queue: Queue, run_id: int) -> bool:
    """Have a worker compute a stored run; False when Redis cannot take it (the run stays queued)."""
    try:
        queue.enqueue(
            compute_staffing,
            run_id,
            job_timeout=STAFFING_TIMEOUT,
            retry=Retry(max=1, interval=60),
            description=f"staffing run {run_id}",
        )
        return True
    except RedisError as exc:
        log.warning("staffing run %s not enqueued: Redis unavailable (%s)", run_id, exc)
        return False


def _minute(text: str) -> int:
    hours, minutes = (int(part) for part in text.split(":"))
    return hours * 60 + minutes


def _model(config: Staffing, queue) -> QueueModel:
    return QueueModel(
        interval_minutes=config.interval_minutes,
        model=config.model,
        targets=Targets(**config.targets.model_dump()),
        shrinkage=config.shrinkage,
        max_seats=config.max_seats,
        patience_seconds=queue.patience_seconds,
        statutory_monthly_hours=config.statutory_monthly_hours,
        open_days_per_month=config.open_days_per_month,
    )


def _rows(plan: DayPlan) -> tuple[list[dict], list[dict]]:
    def finite(value):
        return value if value is not None and math.isfinite(value) else None

    rows = []
    for i in plan.intervals:
        perf = i.plan.performance
        rows.append(
            dict(
                slot=i.slot,
                calls=i.calls,
                aht=i.aht,
                traffic=i.traffic,
                seats=i.plan.seats,
                met=i.plan.met,
                service_level=finite(perf.service_level) if perf else None,
                occupancy=finite(perf.occupancy) if perf else None,
                asa=finite(perf.asa) if perf else None,
                abandon=finite(perf.abandon_probability) if perf else None,
                people=i.people,
                rostered=i.rostered,
                roster_seats=i.roster_seats,
                roster_service_level=finite(i.roster_performance.service_level) if i.roster_performance else None,
            )
        )
    shifts = []
    if plan.roster:
        shifts = [dict(start_minute=s.start_minute, hours=s.hours, people=n) for s, n in plan.roster.people.items()]
    return rows, shifts


def _summary(plan: DayPlan) -> dict:
    roster = plan.roster
    return {
        "people_per_seat": plan.people_per_seat,
        "seat_hours_open": plan.seat_hours_open,
        "required_seat_hours": plan.required_seat_hours,
        "people_for_month": plan.people_for_month,
        "cannot_meet": [i.slot for i in plan.cannot_meet],
        "cannot_meet_reason": plan.cannot_meet[0].plan.reason if plan.cannot_meet else "",
        "roster": None
        if roster is None
        else {
            "status": roster.status,
            "person_hours": roster.person_hours,
            "lower_bound": roster.lower_bound,
            "gap": roster.gap,
            "covered": roster.covered,
            "short": [slot for slot, n in enumerate(roster.short) if n],
            "people": sum(roster.people.values()),
            "seconds": roster.seconds,
        },
    }


def compute_staffing(run_id: int) -> str:
    """The job: forecast, seats, people and rosters for every queue and day of a stored run."""
    return compute_run(context.get(), run_id)


def compute_run(hotline, run_id: int, progress: Callable[[float, str], None] | None = None) -> str:
    """compute_staffing with a given Hotline (the CLI's) and a progress callback."""
    zone = hotline.settings.hospital.zone
    holidays = set(hotline.settings.seats.holidays)
    with hotline.sessions() as db:
        begin_write(db)
        run = records.get_run(db, run_id)
        if run is None:
            raise LookupError(f"no staffing run {run_id}")
        records.start_run(db, run, hotline.now())
        db.commit()
        try:
            summary = _compute(hotline, db, run, zone, holidays, progress)
        except StaffingInputError as exc:
            db.rollback()
            begin_write(db)
            run = records.get_run(db, run_id)
            records.fail_run(run, hotline.now(), str(exc))
            db.commit()
            log.warning("staffing run %s failed: %s", run_id, exc)
            return f"failed: {exc}"
        except Exception:
            db.rollback()
            begin_write(db)
            records.fail_run(
                records.get_run(db, run_id), hotline.now(), "the computation stopped on an error (see the worker log)"
            )
            db.commit()
            raise
        begin_write(db)
        run = records.get_run(db, run_id)
        records.finish_run(db, run, hotline.now(), summary)
        db.commit()
    return "done"


def _compute(hotline, db, run, zone, holidays, progress) -> dict:
    try:
        config = Staffing.model_validate(run.inputs)
    except ValidationError as exc:
        raise StaffingInputError(_describe(exc, "staffing run inputs")) from None
    if not config.queues:
        raise StaffingInputError("no queues to plan: add staffing.queues to config.yaml")
    days = [run.first_day + timedelta(days=k) for k in range(run.days)]
    shifts = config.shifts
    patterns = rosters.shift_patterns(
        hours=shifts.hours,
        start_every_minutes=shifts.start_every_minutes,
        earliest_start=_minute(shifts.earliest_start),
        latest_end=_minute(shifts.latest_end),
    )
    steps, done = len(config.queues) * len(days), 0
    summary: dict = {"queues": {}, "days": {}}
    started = clock.monotonic()
    for number, queue in enumerate(config.queues):
        history = records.call_history(
            db,
            queue=queue.name,
            since=run.first_day - timedelta(weeks=config.history_weeks),
            until=run.first_day - timedelta(days=1),
            interval_minutes=config.interval_minutes,
            zone=zone,
            inbound_fallback=number == 0,
        )
        predicted = forecasting.forecast(
            history,
            days,
            interval_minutes=config.interval_minutes,
            holidays=holidays,
            recent_weight=config.recent_weight,
            min_history_weeks=config.min_history_weeks,
            holiday_factor=config.holiday_factor,
            default_aht=queue.aht_seconds,
            fallback=lambda day, volumes=queue.volumes: forecasting.config_volumes(
                volumes, day, config.interval_minutes
            ),
        )
        accuracy = predicted.accuracy
        summary["queues"][queue.name] = {
            "source": predicted.days[0].source if predicted.days else "config",
            "history_weeks": predicted.history_weeks,
            "holiday_factor": predicted.holiday_factor,
            "mape": accuracy.mape if accuracy else None,
            "wape": accuracy.wape if accuracy else None,
            "notes": list(predicted.notes),
        }
        model = _model(config, queue)
        for day_forecast in predicted.days:
            plan = plan_day(
                day_forecast,
                model,
                patterns=patterns,
                max_people=shifts.max_people,
                time_limit_seconds=shifts.time_limit_seconds,
            )
            rows, used = _rows(plan)
            records.store_day(db, run.id, queue.name, day_forecast.day, rows, used)
            summary["days"][f"{queue.name}/{day_forecast.day.isoformat()}"] = _summary(plan)
            done += 1
            message = f"{queue.name}: {day_forecast.day.isoformat()} planned ({done} of {steps})"
            records.note_progress(run, done / steps, message)
            db.commit()  # results and progress visible to the page as they come
            begin_write(db)
            if progress:
                progress(done / steps, message)
    summary["seconds"] = clock.monotonic() - started
    return summary


def nightly_staffing(first_day: str | None = None) -> str:
    """Cron: plan the coming days (from tomorrow, config horizon) with config's inputs."""
    hotline = context.get()
    config = hotline.settings.staffing
    start = date.fromisoformat(first_day) if first_day else hotline.now().date() + timedelta(days=1)
    with hotline.sessions() as db:
        begin_write(db)
        run = records.create_run(
            db,
            inputs=run_inputs(config, routing=hotline.settings.routing),
            first_day=start,
            days=config.horizon_days,
            trigger="nightly",
            at=hotline.now(),
        )
        db.commit()
        run_id = run.id
    return compute_run(hotline, run_id)


def routine_queue(hotline) -> Queue:
    return Queue(queue_name(hotline.settings.env.redis_prefix, ROUTINE), connection=hotline.queue_redis)
