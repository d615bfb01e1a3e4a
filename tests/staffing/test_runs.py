"""Staffing runs end to end: call records in, a job on an RQ worker, results per
interval stored with their inputs; the CLI; the nightly schedule; bad input."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, time, timedelta

import pytest
import redis
from rq.cron import CronScheduler

from queueing import context, staffing_jobs
from queueing.staffing_jobs import enqueue_staffing, routine_queue, run_inputs
from records import staffing as records
from records.db import begin_write
from records.models import CallEvent, CallRecord, StaffingRun
from tests.conftest import OPEN
from tests.test_sms import worker as worker  # noqa: F401  (the fixture)

ZONE = OPEN.tzinfo
TOMORROW = OPEN.date() + timedelta(days=1)  # a Wednesday


def call(db, at: datetime, *, queue: str | None = None, talk: float = 0, wrap_up: float = 0) -> None:
    record = CallRecord(
        call_sid="CA" + uuid.uuid4().hex,
        direction="inbound",
        from_number="+8613900000000",
        to_number="+861065281000",
        language="zh",
        started_at=at,
        status="completed",
    )
    # Added, not flushed: the calls go in batches at commit (one test adds 8,400 of them).
    db.add(record)
    if queue:
        events = [
            ("enqueue", {"queue": queue, "priority": 0}),
            ("talk_end", {"queue": queue, "talk": talk, "hold": 0}),
            ("wrap_up_end", {"queue": queue, "wrap_up": wrap_up}),
        ]
        db.add_all(
            CallEvent(call=record, sequence=k, at=at + timedelta(seconds=k), kind=kind, detail=detail)
            for k, (kind, detail) in enumerate(events)
        )


def busy_weeks(db, weeks: int, per_slot: dict[int, int], **kwargs) -> None:
    """`per_slot[slot]` calls in each 30-minute slot of every day of the past `weeks` weeks."""
    begin_write(db)
    for back in range(1, weeks * 7 + 1):
        day = OPEN.date() - timedelta(days=back - 1)
        for slot, count in per_slot.items():
            start = datetime.combine(day, time(slot // 2, 30 * (slot % 2)), ZONE)
            for k in range(count):
                call(db, (start + timedelta(seconds=1 + k * 1700 / count)).astimezone(UTC), **kwargs)
    db.commit()


def stored_run(db, settings, *, days: int = 2, **targets) -> int:
    begin_write(db)
    run = records.create_run(
        db, inputs=run_inputs(settings.staffing, targets), first_day=TOMORROW, days=days, trigger="supervisor", at=OPEN
    )
    db.commit()
    return run.id


def fresh_run(db, run_id: int) -> StaffingRun:
    db.rollback()
    db.expire_all()
    return db.get(StaffingRun, run_id)


def test_a_run_forecasts_from_call_records_and_stores_every_interval(db, settings, app, worker):
    busy_weeks(db, 4, {20: 40, 21: 20})  # 10:00 and 10:30, every day for four weeks
    run_id = stored_run(db, settings)
    assert enqueue_staffing(routine_queue(app.extensions["hotline"]), run_id)
    worker.work()

    run = fresh_run(db, run_id)
    assert run.status == "done" and run.progress == 1.0 and run.finished_at is not None
    assert run.inputs["targets"]["service_level"] == 0.8  # the inputs that produced it
    assert run.summary["queues"]["general"]["source"] == "history"
    assert run.summary["queues"]["general"]["mape"] == pytest.approx(0, abs=1e-9)
    rows = records.day_intervals(db, run_id, TOMORROW, "general")
    assert len(rows) == 48
    ten, half_past, eleven = rows[20], rows[21], rows[22]
    assert ten.calls == pytest.approx(40) and half_past.calls == pytest.approx(20) and eleven.calls == 0
    assert ten.aht == 180  # no handle times in plain call records: the queue's configured one
    assert ten.seats > half_past.seats > eleven.seats == 0
    assert ten.met and ten.service_level >= 0.8 and ten.occupancy <= 0.85
    assert ten.people == pytest.approx(ten.seats / 0.7)
    assert ten.rostered >= ten.people and ten.roster_service_level >= ten.service_level
    shifts = records.day_shifts(db, run_id, TOMORROW, "general")
    assert sum(s.people for s in shifts) == run.summary["days"][f"general/{TOMORROW}"]["roster"]["people"]
    day = run.summary["days"][f"general/{TOMORROW}"]
    assert day["roster"]["covered"] and day["roster"]["status"] == "optimal"
    assert day["seat_hours_open"] == 1.0  # calls in two half hours
    assert day["people_per_seat"] == pytest.approx(1.0 * 30 / 174)
    # People for the month: the day's seat-hours staffed every open day, after shrinkage.
    inputs = run.inputs
    seat_hours = sum(r.seats for r in rows) * inputs["interval_minutes"] / 60
    assert day["required_seat_hours"] == pytest.approx(seat_hours)
    on_the_phone = seat_hours * inputs["open_days_per_month"] / inputs["statutory_monthly_hours"]
    assert inputs["shrinkage"] > 0
    assert day["people_for_month"] == pytest.approx(on_the_phone / (1 - inputs["shrinkage"]))


def test_queue_events_give_the_queues_calls_and_handle_time(db, settings, worker):
    busy_weeks(db, 3, {20: 30}, queue="general", talk=200, wrap_up=40)
    busy_weeks(db, 3, {20: 50}, queue="another queue", talk=100)
    run_id = stored_run(db, settings, days=1)
    assert staffing_jobs.compute_staffing(run_id) == "done"
    ten = records.day_intervals(db, run_id, TOMORROW, "general")[20]
    assert ten.calls == pytest.approx(30) and ten.aht == pytest.approx(240)


def test_short_history_uses_the_volumes_in_config(db, settings, worker):
    busy_weeks(db, 1, {20: 40})
    run_id = stored_run(db, settings, days=1)
    assert staffing_jobs.compute_staffing(run_id) == "done"
    run = fresh_run(db, run_id)
    assert run.summary["queues"]["general"]["source"] == "config"
    assert "volumes from config" in run.summary["queues"]["general"]["notes"][0]
    rows = records.day_intervals(db, run_id, TOMORROW, "general")
    wednesday = settings.staffing.queues[0].volumes["wed"]["08:00-12:00"]
    assert rows[16].calls == pytest.approx(wednesday / 2)


def test_a_target_the_seats_cannot_meet_is_marked(db, settings, worker):
    busy_weeks(db, 3, {20: 400})
    begin_write(db)
    inputs = run_inputs(settings.staffing)
    inputs["max_seats"] = 20
    run = records.create_run(db, inputs=inputs, first_day=TOMORROW, days=1, trigger="cli", at=OPEN)
    db.commit()
    assert staffing_jobs.compute_staffing(run.id) == "done"
    ten = records.day_intervals(db, run.id, TOMORROW, "general")[20]
    assert not ten.met and ten.seats == 20
    day = fresh_run(db, run.id).summary["days"][f"general/{TOMORROW}"]
    assert day["cannot_meet"] == [20] and "cannot meet the targets with at most 20 seats" in day["cannot_meet_reason"]


def test_inputs_that_make_no_sense_fail_the_run_with_a_message(db, settings, worker):
    begin_write(db)
    inputs = run_inputs(settings.staffing)
    inputs["shifts"]["hours"] = [16]
    inputs["shifts"]["earliest_start"], inputs["shifts"]["latest_end"] = "08:00", "20:00"
    run = records.create_run(db, inputs=inputs, first_day=TOMORROW, days=1, trigger="cli", at=OPEN)
    db.commit()
    assert staffing_jobs.compute_staffing(run.id).startswith("failed")
    run = fresh_run(db, run.id)
    assert run.status == "failed" and "no shift of [16.0] hours fits" in run.message


def test_targets_are_checked_before_a_run_is_stored(settings):
    with pytest.raises(staffing_jobs.StaffingInputError, match="below 1"):
        run_inputs(settings.staffing, {"service_level": 1.0})
    with pytest.raises(staffing_jobs.StaffingInputError, match="answer_seconds"):
        run_inputs(settings.staffing, {"answer_seconds": -5})


# ---- CLI and schedule ----------------------------------------------------------------------


def test_the_cli_plans_shows_and_tries_a_what_if(app, db, worker):
    busy_weeks(db, 3, {20: 40})
    runner = app.test_cli_runner()
    result = runner.invoke(args=["staffing", "plan", "--from", TOMORROW.isoformat(), "--days", "2"])
    assert result.exit_code == 0, result.output
    assert "done" in result.output
    shown = runner.invoke(args=["staffing", "show", "--day", TOMORROW.isoformat()])
    assert shown.exit_code == 0, shown.output
    line = next(line for line in shown.output.splitlines() if line.startswith("10:00"))
    assert line.split()[1] == "40.0"
    assert "people per seat" in shown.output
    run = records.latest_run(db, TOMORROW)
    month = run.summary["days"][f"general/{TOMORROW}"]["people_for_month"]
    assert f"staffed all month: {month:.1f} people after {run.inputs['shrinkage']:.0%} shrinkage" in shown.output
    assert "forecast from history, held-out MAPE 0.0%" in shown.output

    bad = runner.invoke(args=["staffing", "plan", "--service-level", "1.0"])
    assert bad.exit_code != 0 and "no number of seats answers every one of them" in bad.output
    assert "Traceback" not in bad.output
    sick = runner.invoke(args=["staffing", "what-if", "--calls", "300", "--seats", "22", "--absent", "3"])
    assert sick.exit_code == 0 and "19 of 22 seats filled" in sick.output and "simulated" in sick.output
    negative = runner.invoke(args=["staffing", "what-if", "--calls", "-3", "--seats", "22"])
    assert negative.exit_code != 0 and "calls cannot be negative" in negative.output


def test_the_nightly_plan_is_scheduled_at_two_in_the_morning_hospital_time(redis_url, redis_prefix, monkeypatch):
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("TZ", "UTC")
    import time as time_module

    time_module.tzset()
    try:
        context.reset()
        scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
        scheduler.load_config_from_file("queueing.cron")
        entry = {job.name: job for job in scheduler.get_jobs()}["nightly_staffing"]
        due = entry.next_enqueue_time
        assert (due.hour, due.minute) == (18, 0)  # 02:00 in Beijing
        assert entry.queue_name == f"{redis_prefix}routine"
    finally:
        monkeypatch.undo()
        time_module.tzset()
        context.reset()


def test_the_nightly_job_plans_the_coming_days_for_every_acd_queue(db, settings, worker):
    busy_weeks(db, 3, {20: 30}, queue="booking", talk=100, wrap_up=20)
    assert staffing_jobs.nightly_staffing() == "done"
    run = records.latest_run(db, TOMORROW)
    assert run.trigger == "nightly" and run.first_day == TOMORROW and run.days == settings.staffing.horizon_days
    planned = {queue["name"] for queue in run.inputs["queues"]}
    assert planned == {"general"} | set(settings.routing.queues)
    booking = records.day_intervals(db, run.id, TOMORROW, "booking")[20]
    assert booking.calls == pytest.approx(30) and booking.aht == pytest.approx(120) and booking.seats > 0


def test_wrong_staffing_settings_name_the_key(settings):
    import yaml

    import settings as settings_module
    from app import ROOT

    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["staffing"]["queues"][0]["volumes"]["mon"]["08:00-12:00"] = -5
    data["staffing"]["interval_minutes"] = 20
    with pytest.raises(settings_module.ConfigError) as error:
        settings_module.parse(data)
    message = str(error.value)
    assert "staffing.interval_minutes" in message
    assert "staffing.queues[0].volumes: mon 08:00-12:00: calls an hour cannot be negative" in message
