"""The campaign's sample and the calling hours, as pure functions; and a month's
campaign drawn from the database (size, wards, reproducibility)."""

from __future__ import annotations

import math
import random
from datetime import date, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from records import aftercare
from records import aftercare_rules as rules
from records.db import begin_write
from records.models import FollowUpTask
from tests.aftercare.conftest import add_discharges, tasks
from tests.conftest import OPEN

WARDS = ["心内科一病区", "骨科病区", "呼吸科病区", "产科病区"]


def discharges(n: int, wards: int = 4, seed: int = 1) -> list[tuple[int, str]]:
    rng = random.Random(seed)
    return [(1000 + i, WARDS[rng.randrange(wards)]) for i in range(n)]


def test_five_percent_at_least_one_per_ward_the_same_every_time():
    month = discharges(1000)
    chosen = rules.sample(month, share=0.05, min_per_ward=1, seed=rules.seed_for("2026-10"))
    assert len(chosen) == 50
    assert {ward for i, ward in month if i in chosen} == set(WARDS)
    again = rules.sample(list(reversed(month)), share=0.05, min_per_ward=1, seed=rules.seed_for("2026-10"))
    assert again == chosen  # whatever order the discharges come in
    other_month = rules.sample(month, share=0.05, min_per_ward=1, seed=rules.seed_for("2026-11"))
    assert other_month != chosen


def test_a_small_ward_is_represented_even_when_five_percent_rounds_to_nothing():
    month = [(i, "骨科病区") for i in range(1, 40)] + [(99, "产科病区")]
    chosen = rules.sample(month, share=0.05, min_per_ward=1, seed="s")
    assert 99 in chosen and len(chosen) == 2  # ceil(5% of 40) = 2: one per ward already makes it


@given(
    n=st.integers(0, 400),
    wards=st.integers(1, 4),
    share=st.floats(0.01, 1.0),
    per_ward=st.integers(0, 3),
    seed=st.text(max_size=8),
)
def test_the_sample_size_follows_the_rules(n, wards, share, per_ward, seed):
    month = discharges(n, wards)
    chosen = rules.sample(month, share=share, min_per_ward=per_ward, seed=seed)
    assert len(set(chosen)) == len(chosen) and set(chosen) <= {i for i, _ in month}
    sizes = {ward: sum(1 for _, w in month if w == ward) for _, ward in month}
    floor = sum(min(per_ward, size) for size in sizes.values())
    assert len(chosen) == max(math.ceil(share * n), floor) if n else chosen == []
    for ward, size in sizes.items():
        assert sum(1 for i, w in month if w == ward and i in chosen) >= min(per_ward, size)


# ---- calling hours ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        ((2026, 11, 24, 10, 0), (2026, 11, 24, 10, 0)),  # Tuesday morning: now
        ((2026, 11, 24, 12, 30), (2026, 11, 24, 14, 0)),  # lunch: this afternoon
        ((2026, 11, 24, 20, 0), (2026, 11, 25, 9, 0)),  # 20:00 is the end: tomorrow
        ((2026, 11, 24, 6, 0), (2026, 11, 24, 9, 0)),  # early: at nine
        ((2026, 11, 28, 20, 30), (2026, 11, 30, 9, 0)),  # Saturday night: no calls on Sunday
        ((2026, 12, 30, 21, 0), (2027, 1, 2, 9, 0)),  # New Year's Eve and Day are seats' holidays
    ],
)
def test_the_next_calling_time(settings, at, expected):
    zone = settings.hospital.zone
    when = rules.next_call_time(settings.aftercare.followup, settings.seats, datetime(*at, tzinfo=zone))
    assert when == datetime(*expected, tzinfo=zone)


def test_no_calling_hours_at_all_means_no_time(settings):
    closed = settings.aftercare.followup.model_copy(update={"call_hours": {}})
    assert rules.next_call_time(closed, settings.seats, OPEN) is None


def test_retries_are_spaced_as_configured(settings):
    followup = settings.aftercare.followup
    assert [rules.retry_delay(followup, n) for n in (1, 2, 3)] == [
        timedelta(hours=2),
        timedelta(days=1),
        timedelta(days=1),
    ]


# ---- a month's campaign from the database -----------------------------------------------------------


def test_a_campaign_samples_the_months_discharges_reproducibly(db, settings):
    rows = [("M00000001", WARDS[i % 3], date(2026, 10, 1 + i % 28)) for i in range(90)]
    rows += [("M00000002", "产科病区", date(2026, 10, 31))]  # a ward with one discharge
    rows += [("M00000003", "骨科病区", date(2026, 11, 1))]  # next month: not in October's
    ids = add_discharges(db, rows)
    followup = settings.aftercare.followup
    begin_write(db)
    campaign, created = aftercare.create_campaign(db, "2026-10", followup, OPEN)
    db.commit()
    assert created and campaign.discharges == 91
    chosen = [t.discharge_id for t in tasks(db)]
    assert len(chosen) == 5  # ceil(5% of 91); the four wards are all there
    assert {t.discharge.ward for t in tasks(db)} == set(WARDS)
    assert ids[-1] not in chosen
    assert all(t.status == "planned" and t.attempts == 0 for t in tasks(db))

    # Drawn again from scratch (the campaign deleted), it is the same sample.
    begin_write(db)
    db.query(FollowUpTask).delete()
    db.delete(campaign)
    db.commit()
    begin_write(db)
    aftercare.create_campaign(db, "2026-10", followup, OPEN)
    db.commit()
    assert [t.discharge_id for t in tasks(db)] == chosen


def test_the_scheduler_runs_the_campaigns_daily_at_the_run_time_and_sweeps(redis_url, redis_prefix, monkeypatch):
    """08:30 in Beijing is 00:30 UTC, whatever zone the scheduler's process runs in (UTC here)."""
    import redis
    from rq.cron import CronScheduler

    from queueing import context

    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_PREFIX", redis_prefix)
    monkeypatch.setenv("TZ", "UTC")
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    import time

    time.tzset()
    context.reset()
    try:
        scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
        scheduler.load_config_from_file("queueing.cron")
        entries = {job.name: job for job in scheduler.get_jobs()}
        due = entries["run_campaigns"].next_enqueue_time
        assert (due.hour, due.minute, due.utcoffset()) == (0, 30, timedelta(0))
        assert entries["run_campaigns"].queue_name == f"{redis_prefix}routine"
        assert entries["sweep_aftercare"].interval == 300
    finally:
        context.reset()
        monkeypatch.undo()
        time.tzset()


def test_the_cli_creates_a_months_campaign_once_with_a_progress_bar(app, db, worker):
    add_discharges(db, [("M00000001", WARDS[i % 4], date(2026, 10, 1 + i)) for i in range(25)])
    runner = app.test_cli_runner()
    result = runner.invoke(args=["aftercare", "campaign", "--month", "2026-10"])
    assert result.exit_code == 0, result.output
    assert "campaign 2026-10: storing tasks" in result.output
    assert "campaign 2026-10: created, 4 calls queued" in result.output  # one per ward (5% of 25 is 2)
    assert len(tasks(db)) == 4
    again = runner.invoke(args=["aftercare", "campaign", "--month", "2026-10"])
    assert "already exists, 0 calls queued" in again.output
    wrong = runner.invoke(args=["aftercare", "campaign", "--month", "October"])
    assert wrong.exit_code != 0 and "expected YYYY-MM" in wrong.output
