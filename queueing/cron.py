"""The hotline's schedule, for RQ's cron scheduler:

    flask --app app cron                          # on the hotline's Redis (the embedded one too)
    rq cron queueing.cron --url "$REDIS_URL"      # the same, with RQ's own command

- `send_reminders` once a day at booking.reminder_time, hospital time (the
  reminders for tomorrow's appointments);
- `requeue_stuck_sms` every 5 minutes;
- `run_campaigns` once a day at aftercare.followup.run_time, hospital time (last
  month's follow-up campaign, created once, on the first run of the month);
- `sweep_aftercare` every 5 minutes (lost notice and call jobs, missed deadlines);
- `sweep_seats` every routing.sweep_seconds (the seats' timers, then dispatch);
- `escalate_overdue_cases` every console.overdue_sweep_minutes (complaints past their deadline);
- `nightly_staffing` once a day at staffing.nightly_at, hospital time (forecast,
  seats and rosters for the coming staffing.horizon_days).
- `replay_spool` every minute: call records spooled while Redis was away
  (queueing.recording), written once Redis (and so this scheduler) is back.
- `copy_agent_states` every minute: the agents' state changes from the ACD's
  log stream into agent_state_changes (the occupancy figures read them).

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
from queueing.jobs import requeue_stuck_sms, send_reminders, sweep_seats
from queueing.recording import RECORDS, copy_agent_states, replay_spool
from queueing.staffing_jobs import STAFFING_TIMEOUT, nightly_staffing
from settings import Settings

REMINDERS_TIMEOUT = 15 * 60
SWEEP_EVERY = 5 * 60
CAMPAIGN_TIMEOUT = 30 * 60
REPLAY_EVERY = 60
AGENT_STATES_EVERY = 60


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
    cron.register(sweep_aftercare, routine, interval=SWEEP_EVERY, job_timeout=300, name="sweep_aftercare")
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
    records = queue_name(settings.env.redis_prefix, RECORDS)
    cron.register(replay_spool, records, interval=REPLAY_EVERY, job_timeout=300, name="replay_spool")
    cron.register(copy_agent_states, records, interval=AGENT_STATES_EVERY, job_timeout=300, name="copy_agent_states")


register(context.get().settings)
