"""The daily quality sample (质检), run by RQ's cron at quality.sample_time for the day
before: every agent's complaints and a random share of their recorded calls, assigned to
reviewers in turn (records.scorecard).  Run twice, it draws and stores the same sample once."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from queueing import context
from records import quality, scorecard
from records.db import begin_write

SAMPLE_TIMEOUT = 10 * 60


def sample_calls_for_review(day: str | None = None) -> str:
    hotline = context.get()
    settings = hotline.settings
    zone = settings.hospital.zone
    reviewed = date.fromisoformat(day) if day else hotline.now().astimezone(zone).date() - timedelta(days=1)
    if not settings.quality.forms:
        return "no quality form in config: nothing sampled"
    start = datetime.combine(reviewed, time(), zone)
    complaint_codes = {item.code for item in settings.console.dispositions if item.complaint}
    with hotline.sessions() as db:
        begin_write(db)
        calls = quality.reviewable_calls(
            db,
            start,
            start + timedelta(days=1),
            complaint_queue=settings.routing.complaint_queue,
            complaint_dispositions=complaint_codes,
        )
        picked = scorecard.sample(calls, settings.quality.share, settings.quality.min_per_agent, reviewed.isoformat())
        stored = quality.store_sample(
            db, reviewed, scorecard.assign(picked, quality.reviewers(db)), settings.quality.form_for
        )
        db.commit()
    return f"{reviewed}: {len(calls)} recorded calls, {len(picked)} sampled, {stored} new reviews"
