"""The hotline's schedule, for RQ's cron scheduler:

    flask --app app cron                          # on the hotline's Redis (the embedded one too)
    rq cron queueing.cron --url "$REDIS_URL"      # the same, with RQ's own command

- `send_reminders` once a day at booking.reminder_time, hospital time (the
  reminders for tomorrow's appointments);
- `requeue_stuck_sms` every 5 minutes;
- `run_campaigns` once a day at aftercare.followup.run_time, hospital time (last
  month's follow-up campaign, created once, on the first run of the month);
- `run_satisfaction` once a day at aftercare.satisfaction.run_time, hospital time (last
  month's satisfaction samples, drawn once, and their texts);
- `sweep_aftercare` every 5 minutes (lost notice and call jobs, missed deadlines);
- `sweep_seats` every routing.sweep_seconds (the seats' timers, then dispatch);
- `escalate_overdue_cases` every console.overdue_sweep_minutes (complaints past their deadline);
- `nightly_staffing` once a day at staffing.nightly_at, hospital time (forecast,
  seats and rosters for the coming staffing.horizon_days).
- `replay_spool` every minute: call records spooled while Redis was away
  (queueing.recording), written once Redis (and so this scheduler) is back.
- `sample_calls_for_review` once a day at quality.sample_time, hospital time: the
  day before's quality sample (complaints and a share of each agent's recorded calls).
- `build_monthly_report` once a day at 06:00, hospital time: last month's report for the
  leadership, built and stored once (queueing.reports).
- `purge_expired` once a day at retention.run_time, hospital time: what has passed
  its retention period (records.retention), in batches, with a run row.
- `sweep_waitlist` every minute: waitlist offers past their time go to the next patient,
  offers not texted yet are texted (records.waitlist).
- `copy_agent_states` every minute: the agents' state changes from the ACD's
  log stream into agent_state_changes (the occupancy figures read them).
- `reconstruct_calls` every records.reconstruct_every_seconds (5 minutes): calls that lost their events, opening or final
  status (a Redis that lost its data) completed from the spool and the carrier's Calls
  API, and marked reconstructed (queueing/reconstruction.py).

RQ matches a cron expression against the *scheduler process's local time*
(rq/cron.py runs croniter on `now().astimezone()`), which is neither UTC nor
necessarily the hospital's zone.  So the reminder time is converted here from
the hospital's zone to the process's (18:00 Asia/Shanghai is `0 10 * * *` on
a UTC server).  The conversion holds as long as neither zone changes its
offset: Asia/Shanghai has no daylight saving time; for a zone that has, run
the scheduler with TZ set to the hospital's zone (then the expression is the
hospital's own time and croniter follows the clock changes).
"""

from __future__ import annotations

from datetime import date, datetime, time

from rq import cron

from queueing import ROUTINE, URGENT, context, queue_name
from queueing.aftercare import run_campaigns, sweep_aftercare
from queueing.complaints import escalate_overdue_cases
from queueing.jobs import requeue_stuck_sms, send_reminders, sweep_seats, sweep_waitlist
from queueing.quality import SAMPLE_TIMEOUT, sample_calls_for_review
from queueing.reconstruction import SWEEP_TIMEOUT as RECONSTRUCT_TIMEOUT
from queueing.reconstruction import reconstruct_calls
from queueing.recording import RECORDS, copy_agent_states, replay_spool
from queueing.reports import REPORT_TIMEOUT, build_monthly_report
from queueing.retention import PURGE_TIMEOUT, purge_expired
from queueing.satisfaction import SATISFACTION_TIMEOUT, run_satisfaction
from queueing.staffing_jobs import STAFFING_TIMEOUT, nightly_staffing
from settings import Settings

REMINDERS_TIMEOUT = 15 * 60
SWEEP_EVERY = 5 * 60
CAMPAIGN_TIMEOUT = 30 * 60
REPLAY_EVERY = 60
AGENT_STATES_EVERY = 60
MONTHLY_REPORT_AT = "06:00"  # hospital time: before the leadership's working day
WAITLIST_EVERY = 60


def reminder_cron(settings: Settings, day: date | None = None) -> str:
    """The daily cron expression for the reminder time, in this process's local time."""
    return daily_cron(settings, settings.booking.reminder_time, day)


def daily_cron(settings: Settings, at_time: str, day: date | None = None) -> str:
    """A daily cron expression for a hospital time of day, in this process's local time."""
    zone = settings.hospital.zone
    at = datetime.combine(day or datetime.now(zone).date(), time.fromisoformat(at_time), zone)
    local = at.astimezone()  # the zone RQ's croniter reads
    return f"{local.minute} {local.hour} * * *"


def register(settings: Settings) -> None:
    routine = queue_name(settings.env.redis_prefix, ROUTINE)
    cron.register(
        send_reminders, routine, cron=reminder_cron(settings), job_timeout=REMINDERS_TIMEOUT, name="send_reminders"
    )
    cron.register(requeue_stuck_sms, routine, interval=SWEEP_EVERY, job_timeout=120, name="requeue_stuck_sms")
    campaigns = daily_cron(settings, settings.aftercare.followup.run_time)
    cron.register(run_campaigns, routine, cron=campaigns, job_timeout=CAMPAIGN_TIMEOUT, name="run_campaigns")
    surveys = daily_cron(settings, settings.aftercare.satisfaction.run_time)
    cron.register(run_satisfaction, routine, cron=surveys, job_timeout=SATISFACTION_TIMEOUT, name="run_satisfaction")
    cron.register(sweep_aftercare, routine, interval=SWEEP_EVERY, job_timeout=300, name="sweep_aftercare")
    cron.register(sweep_waitlist, routine, interval=WAITLIST_EVERY, job_timeout=120, name="sweep_waitlist")
    # The seats' timers (offers, wrap-ups, heartbeats), on the urgent queue: callers wait on it.
    urgent = queue_name(settings.env.redis_prefix, URGENT)
    cron.register(sweep_seats, urgent, interval=settings.routing.sweep_seconds, job_timeout=30, name="sweep_seats")
    cron.register(
        escalate_overdue_cases,
        routine,
        interval=settings.console.overdue_sweep_minutes * 60,
        job_timeout=120,
        name="escalate_overdue_cases",
    )
    cron.register(
        nightly_staffing,
        routine,
        cron=daily_cron(settings, settings.staffing.nightly_at),
        job_timeout=STAFFING_TIMEOUT,
        name="nightly_staffing",
    )
    sample_at = daily_cron(settings, settings.quality.sample_time)
    cron.register(
        sample_calls_for_review, routine, cron=sample_at, job_timeout=SAMPLE_TIMEOUT, name="sample_calls_for_review"
    )
    # Last month's report for the leadership, built once (the page can build any month again).
    report_at = daily_cron(settings, MONTHLY_REPORT_AT)
    cron.register(
        build_monthly_report, routine, cron=report_at, job_timeout=REPORT_TIMEOUT, name="build_monthly_report"
    )
    purge_at = daily_cron(settings, settings.retention.run_time)
    cron.register(purge_expired, routine, cron=purge_at, job_timeout=PURGE_TIMEOUT, name="purge_expired")
    records = queue_name(settings.env.redis_prefix, RECORDS)
    cron.register(replay_spool, records, interval=REPLAY_EVERY, job_timeout=300, name="replay_spool")
    cron.register(copy_agent_states, records, interval=AGENT_STATES_EVERY, job_timeout=300, name="copy_agent_states")
    # No Retry here (RQ's cron takes none): a sweep that failed is the next sweep's work.
    every = settings.records.reconstruct_every_seconds
    cron.register(reconstruct_calls, records, interval=every, job_timeout=RECONSTRUCT_TIMEOUT, name="reconstruct_calls")


register(context.get().settings)
