"""Work done outside the call: text messages and reminders, run by RQ workers.

A patient must never wait on the phone for an SMS gateway, so webhooks only
store an SmsMessage (status 'queued') and enqueue `queueing.jobs.send_sms`;
an RQ worker sends it through Twilio's REST API and records what became of it.

Two queues, which every worker takes in this order:

- `<REDIS_PREFIX>urgent`: the SMS of a call in progress (confirmations,
  cancellations): a patient is waiting for them;
- `<REDIS_PREFIX>routine`: the evening's reminders (hundreds at once) and the
  housekeeping, which must not hold the others up.

Running it (the same environment as the web app: DATABASE_URL, REDIS_URL,
TWILIO_*, PUBLIC_BASE_URL, HOTLINE_CONFIG):

    flask --app app worker      # one RQ worker on both queues; start as many as needed
    flask --app app cron        # the scheduler: reminders the day before, the SMS sweeper

Run one `cron` process (two would enqueue everything twice; the jobs are
idempotent, so that costs work, not duplicate messages).  With REDIS_URL set,
RQ's own `rq cron queueing.cron --url $REDIS_URL` does the same as `flask cron`.

Timeouts and retries are set here, where jobs are enqueued; the jobs
themselves are plain functions in queueing/jobs.py that take ids.
"""

from __future__ import annotations

import logging

from redis.exceptions import RedisError
from rq import Queue, Retry

from settings import Settings

log = logging.getLogger(__name__)

URGENT, ROUTINE = "urgent", "routine"
SMS_TIMEOUT = 30  # seconds; the REST client itself gives up after 10
CALL_TIMEOUT = 30
# Seconds before the 1st, 2nd, 3rd... retry of an SMS the carrier refused with a 5xx
# (further retries wait as long as the first: RQ's rule).
SMS_RETRY_INTERVALS = (15, 60, 300)
CALL_RETRIES = Retry(max=2, interval=[60, 300])


def init_app(app) -> None:
    """The workers' and the scheduler's commands (flask worker, cron: queueing/cli.py)."""
    from queueing.cli import register

    register(app)


def queue_name(prefix: str, kind: str) -> str:
    return f"{prefix}{kind}"


def queues(connection, prefix: str) -> list[Queue]:
    """The project's queues, most urgent first (the order workers take them in)."""
    return [Queue(queue_name(prefix, kind), connection=connection) for kind in (URGENT, ROUTINE)]


def sms_retry(settings: Settings) -> Retry | None:
    retries = settings.booking.sms_retries
    return Retry(max=retries, interval=list(SMS_RETRY_INTERVALS)) if retries else None


def enqueue_sms(queue: Queue, message_id: int, settings: Settings) -> None:
    """Have a worker send a stored message.  Call it after the commit that stored it.

    If Redis cannot be reached the message simply stays 'queued' in the database,
    and `queueing.jobs.requeue_stuck_sms` (every few minutes) enqueues it again:
    the caller never hears about it."""
    from queueing.jobs import send_sms  # here: queueing.jobs imports this module

    try:
        queue.enqueue(
            send_sms,
            message_id,
            job_timeout=SMS_TIMEOUT,
            retry=sms_retry(settings),
            description=f"send SMS {message_id}",
        )
    except RedisError as exc:
        log.warning("SMS %s stays queued for the sweeper: Redis unavailable (%s)", message_id, exc)


def enqueue_texts(app, ids: list[int]) -> None:
    """Hand committed texts to the SMS workers (without Redis they stay queued for the
    stuck-SMS sweep)."""
    for message_id in ids:
        enqueue_sms(app.queue, message_id, app.settings)


WAITLIST_TEXTS_TIMEOUT = 30
WAITLIST_TEXTS_RETRIES = Retry(max=3, interval=[5, 20, 60])


def enqueue_waitlist_texts(queue: Queue) -> None:
    """Have a worker text, at once, the waitlist offers a cancellation or a move just made
    (records.booking's Result.offered).  Call it after the commit that made them.  Without
    Redis the offers wait for the minute's sweep (queueing.jobs.sweep_waitlist)."""
    from queueing.jobs import text_waitlist_offers

    try:
        queue.enqueue(
            text_waitlist_offers,
            job_timeout=WAITLIST_TEXTS_TIMEOUT,
            retry=WAITLIST_TEXTS_RETRIES,
            description="text the waitlist offers not texted yet",
        )
    except RedisError as exc:
        log.warning("waitlist offers stay for the sweep: Redis unavailable (%s)", exc)


def enqueue_reminder_call(queue: Queue, appointment_id: int) -> None:
    from queueing.jobs import call_reminder  # here: queueing.jobs imports this module

    try:
        queue.enqueue(
            call_reminder,
            appointment_id,
            job_timeout=CALL_TIMEOUT,
            retry=CALL_RETRIES,
            description=f"reminder call for appointment {appointment_id}",
        )
    except RedisError as exc:
        log.warning("appointment %s: no reminder call, Redis unavailable (%s)", appointment_id, exc)
