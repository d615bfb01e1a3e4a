"""After-care jobs (RQ): results-ready texts, the monthly follow-up campaign and
its calls, and a sweeper.  Plain functions that take ids and open their own
session (queueing.context); every one checks the patient's opt-out first.

- `notify_result(result_id)`: the text that results are ready, through the SMS
  path every text takes (records.messages + queueing.jobs.send_sms); the time
  from the results' ready time to the text is recorded on the ResultReady;
- `run_campaigns()` (daily, cron): creates last month's campaign if it does not
  exist yet and queues its calls;
- `place_followup_call(task_id)`: one attempt, only inside the calling hours
  (otherwise it schedules itself for the next allowed time);
- `sweep_aftercare()` (every 5 minutes): notices and calls whose job was lost
  (Redis down when they were due), calls whose status never came back, and a
  warning for each results notice past its deadline.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable
from datetime import datetime, timedelta

import requests
from redis.exceptions import RedisError
from rq import Queue, Retry
from twilio.base.exceptions import TwilioException

from extensions import Hotline
from queueing import CALL_TIMEOUT, ROUTINE, SMS_TIMEOUT, URGENT, context, queue_name
from queueing import jobs as sms_jobs
from records import aftercare, messages
from records import aftercare_rules as rules
from records.db import begin_write
from records.models import SmsMessage
from records.patients import mask
from wording import texts

log = logging.getLogger(__name__)

NOTICE_RETRY = Retry(max=3, interval=[15, 60, 300])
STALE_CALL = timedelta(minutes=30)  # 'calling' this long: its status callback is lost
LATE_JOB = timedelta(minutes=10)  # a planned call this far past due: its job is lost
SWEEP_NOTICES_SINCE = timedelta(days=2)


# ---- enqueueing (from the API, the webhooks, the jobs) --------------------------------------------


def enqueue_notices(queue: Queue, result_ids: Iterable[int]) -> None:
    """After the commit that stored the results.  Redis down: the sweeper sends them."""
    try:
        with queue.connection.pipeline() as pipe:
            for result_id in result_ids:
                queue.enqueue(
                    notify_result,
                    result_id,
                    job_timeout=SMS_TIMEOUT * 2,
                    retry=NOTICE_RETRY,
                    description=f"results-ready notice {result_id}",
                    pipeline=pipe,
                )
            pipe.execute()
    except RedisError as exc:
        log.warning("results notices wait for the sweeper: Redis unavailable (%s)", exc)


def schedule_calls(queue: Queue, task_ids: Iterable[int], at: datetime | None, now: datetime) -> int:
    """Queue follow-up call attempts, now or at `at` (one Redis round trip)."""
    ids = list(task_ids)
    try:
        with queue.connection.pipeline() as pipe:
            for task_id in ids:
                options = {"job_timeout": CALL_TIMEOUT, "description": f"follow-up call {task_id}", "pipeline": pipe}
                if at is None or at <= now:
                    queue.enqueue(place_followup_call, task_id, **options)
                else:
                    queue.enqueue_at(at, place_followup_call, task_id, **options)
            pipe.execute()
    except RedisError as exc:
        log.warning("%d follow-up calls wait for the sweeper: Redis unavailable (%s)", len(ids), exc)
        return 0
    return len(ids)


def routine_queue(hotline: Hotline) -> Queue:
    return Queue(queue_name(hotline.settings.env.redis_prefix, ROUTINE), connection=hotline.queue_redis)


def urgent_queue(hotline: Hotline) -> Queue:
    return Queue(queue_name(hotline.settings.env.redis_prefix, URGENT), connection=hotline.queue_redis)


# ---- results-ready notices --------------------------------------------------------------------------


def notify_result(result_id: int) -> str:
    hotline = context.get()
    settings = hotline.settings
    with hotline.sessions() as db:
        begin_write(db)
        found = aftercare.result(db, result_id)
        if found is None:
            raise LookupError(f"no results event {result_id} (enqueued before its commit?)")
        if found.notice_status != "pending":
            return f"already {found.notice_status}"
        if aftercare.is_opted_out(db, found.patient_id):
            aftercare.notice_not_sent(db, found, "opted_out")
            db.commit()
            return "opted out"
        if found.sms_message_id is None:
            number = messages.mobile_number(found.patient, settings.hospital.phone_region)
            if number is None:
                aftercare.notice_not_sent(db, found, "no_mobile")
                db.commit()
                log.warning("results %s: no mobile number to tell the patient", result_id)
                return "no mobile"
            message = messages.queue_sms(
                db,
                to_number=number,
                body=texts.results_ready(settings, found.patient),
                kind="results_ready",
                now=hotline.now(),
                patient_id=found.patient_id,
            )
            aftercare.notice_queued(db, found, message)
        message_id = found.sms_message_id
        db.commit()
    outcome = sms_jobs.send_sms(message_id)  # raises on a carrier 5xx: RQ retries this job
    with hotline.sessions() as db:
        begin_write(db)
        settled = _settle_notice(db, result_id)
        db.commit()
    return f"{outcome}, notice {settled}"


def _settle_notice(db, result_id: int) -> str:
    """Copy what became of the text onto the results event (sent: when, and how long after ready)."""
    found = aftercare.result(db, result_id)
    message = db.get(SmsMessage, found.sms_message_id) if found and found.sms_message_id else None
    if found is None or message is None or found.notice_status != "pending":
        return found.notice_status if found else "missing"
    if message.sent_at is not None and message.status in ("sent", "delivered"):
        aftercare.notice_sent(db, found, message.sent_at)
    elif message.status in ("failed", "undelivered"):
        aftercare.notice_not_sent(db, found, "failed")
    return found.notice_status


# ---- follow-up campaigns ------------------------------------------------------------------------


def run_campaigns(month: str | None = None) -> str:
    """Create last month's campaign (or `month`'s) if it does not exist, and queue its calls."""
    hotline = context.get()
    now = hotline.now()
    month = month or rules.previous_month(now.date())
    created, queued = create_and_queue(hotline, month, now)
    return f"{month}: {'created' if created else 'exists'}, {queued} calls queued"


def create_and_queue(
    hotline: Hotline, month: str, now: datetime, progress: Callable[[int, int], None] | None = None
) -> tuple[bool, int]:
    """The campaign (if new) and its calls, queued for the first allowed time."""
    settings = hotline.settings
    followup = settings.aftercare.followup
    first_call = rules.next_call_time(followup, settings.seats, now)
    with hotline.sessions() as db:
        begin_write(db)
        campaign, created = aftercare.create_campaign(db, month, followup, now, progress)
        if not created:
            db.rollback()
            return False, 0
        task_ids = aftercare.tasks_to_call(db, campaign.id)
        aftercare.plan_attempts(db, campaign.id, first_call or now)
        db.commit()
    if first_call is None:
        log.error("campaign %s: no calling hours configured in the next month; no calls queued", month)
        return True, 0
    queued = schedule_calls(routine_queue(hotline), task_ids, first_call, now)
    log.info("campaign %s: %d tasks, %d calls queued for %s", month, len(task_ids), queued, first_call.isoformat())
    return True, queued


def place_followup_call(task_id: int) -> str:
    """One attempt.  Outside the calling hours it waits for the next allowed time."""
    hotline = context.get()
    settings = hotline.settings
    followup = settings.aftercare.followup
    base = settings.env.public_base_url
    if not base:
        log.error("follow-up %s: no call, PUBLIC_BASE_URL is not set", task_id)
        return "no PUBLIC_BASE_URL"
    now = hotline.now()
    with hotline.sessions() as db:
        begin_write(db)
        found = aftercare.task(db, task_id)
        if found is None or found.status not in ("planned", "retry"):
            return f"nothing to do ({found.status if found else 'no task'})"
        due = found.next_attempt_at
        if due is not None and due > now + timedelta(seconds=60):
            db.rollback()
            # Early (a clock set differently, a duplicate): back in line for its time; of
            # several jobs for one attempt, the first to claim it calls, the rest find it taken.
            schedule_calls(routine_queue(hotline), [task_id], due, now)
            return f"not due until {due.isoformat()}"
        if aftercare.is_opted_out(db, found.patient_id):
            aftercare.finish(db, found, "opted_out", now)
            db.commit()
            return "opted out"
        allowed = rules.next_call_time(followup, settings.seats, now)
        if allowed is None or allowed > now:
            if allowed is not None:
                aftercare.plan_attempt(db, found, allowed)
            db.commit()
            if allowed is not None:
                schedule_calls(routine_queue(hotline), [task_id], allowed, now)
            return f"outside calling hours: {allowed.isoformat() if allowed else 'no hours configured'}"
        if not found.patient.phones:
            aftercare.finish(db, found, "no_number", now)
            db.commit()
            return "no number"
        number = found.patient.phones[0].e164
        lang = texts.language(found.patient, settings)
        if not aftercare.claim_attempt(db, task_id, now):
            db.rollback()
            return "taken by another job"
        db.commit()
        attempt = found.attempts + 1
    # No transaction open while the carrier works: it may ring our webhooks at once.
    root = base.rstrip("/")
    try:
        call = hotline.twilio.calls.create(
            to=number,
            from_=settings.twilio.caller_id,
            url=f"{root}/ivr/followup/start?task={task_id}&attempt={attempt}&lang={lang}",
            status_callback=f"{root}/ivr/followup/call-status?task={task_id}&attempt={attempt}",
            machine_detection="Enable",  # a machine hears nothing medical (AnsweredBy)
            timeout=followup.ring_seconds,
        )
    except (requests.RequestException, TwilioException) as exc:
        log.warning("follow-up %s: the carrier did not take the call to %s: %s", task_id, mask(number), exc)
        with hotline.sessions() as db:
            begin_write(db)
            retry_at = aftercare.attempt_failed(db, task_id, attempt, "carrier_error", now, settings)
            db.commit()
        if retry_at is not None:
            schedule_calls(routine_queue(hotline), [task_id], retry_at, now)
        return "carrier error"
    log.info("follow-up %s: attempt %d, call %s to %s", task_id, attempt, call.sid, mask(number))
    return call.sid


# ---- the sweeper ----------------------------------------------------------------------------------


def sweep_aftercare() -> str:
    hotline = context.get()
    settings = hotline.settings
    followup = settings.aftercare.followup
    now = hotline.now()
    retries = []
    with hotline.sessions() as db:
        begin_write(db)
        for task_id in aftercare.stale_calls(db, before=now - STALE_CALL):
            retry_at = aftercare.attempt_failed(db, task_id, None, "no_status", now, settings)
            if retry_at is not None:
                retries.append((task_id, retry_at))
        late_calls = aftercare.due_retries(db, now=now - LATE_JOB)
        pending = aftercare.pending_notices(db, since=now - SWEEP_NOTICES_SINCE)
        unsettled = [result_id for result_id in pending if _settle_notice(db, result_id) == "pending"]
        report = aftercare.notice_report(db, since=now - SWEEP_NOTICES_SINCE, until=now, now=now)
        db.commit()
    for missed in report.missed:
        log.warning(
            "results %s: notice deadline %s missed (%s)", missed.id, missed.due_at.isoformat(), missed.notice_status
        )
    for task_id, retry_at in retries:
        schedule_calls(routine_queue(hotline), [task_id], retry_at, now)
    if late_calls:
        schedule_calls(routine_queue(hotline), late_calls, rules.next_call_time(followup, settings.seats, now), now)
    if unsettled:
        enqueue_notices(urgent_queue(hotline), unsettled)
    return f"{len(late_calls)} calls and {len(unsettled)} notices queued again, {len(report.missed)} notices late"
