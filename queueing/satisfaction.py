"""The satisfaction programme's daily job (RQ's cron at aftercare.satisfaction.run_time):
last month's sample of each visit type is drawn once, and each sampled patient who has a
mobile number and has not opted out gets a text with a link to one question.

Run twice, it draws nothing new and sends nothing twice: a survey leaves 'planned' in the
transaction that stores its text, and the text is sent by the SMS job (a text whose job was
lost in a Redis outage is sent by `requeue_stuck_sms`)."""

from __future__ import annotations

import logging
import secrets
from datetime import datetime, timedelta

from rq import Queue

from queueing import ROUTINE, context, enqueue_sms, queue_name
from records import aftercare_rules as rules
from records import messages, satisfaction
from records.db import begin_write
from records.models import SatisfactionSurvey
from settings import VISIT_TYPES, Settings
from wording import texts

log = logging.getLogger(__name__)
SATISFACTION_TIMEOUT = 30 * 60
TOKEN_BYTES = 12  # 16 characters in the link, 96 random bits: not guessable, short in a text


def run_satisfaction(month: str | None = None) -> str:
    hotline = context.get()
    settings = hotline.settings
    now = hotline.now()
    month = month or rules.previous_month(now.astimezone(settings.hospital.zone).date())
    queue = Queue(queue_name(settings.env.redis_prefix, ROUTINE), connection=hotline.queue_redis)
    said = []
    for visit_type in VISIT_TYPES:
        with hotline.sessions() as db:
            begin_write(db)
            campaign, created = satisfaction.create_campaign(
                db, month, visit_type, settings.aftercare.satisfaction, now
            )
            # No public address, no link a patient could open: the sample waits, planned, for
            # PUBLIC_BASE_URL (the next daily run sends it) rather than texting a local one.
            planned = satisfaction.planned(db, campaign.id) if settings.env.public_base_url else []
            message_ids = [
                message_id for survey in planned if (message_id := _text(db, settings, survey, month, now)) is not None
            ]
            db.commit()
        for message_id in message_ids:  # after the commit: the SMS job reads the stored text
            enqueue_sms(queue, message_id, settings)
        said.append(f"{visit_type} {'drawn' if created else 'existed'}, {len(message_ids)} texts")
    if not settings.env.public_base_url:
        log.error("satisfaction surveys not texted: PUBLIC_BASE_URL is not set, so no link would open")
        said.append("no texts: PUBLIC_BASE_URL is not set")
    return f"{month}: " + "; ".join(said)


def survey_link(settings: Settings, token: str) -> str:
    base = settings.env.public_base_url.rstrip("/")  # set: run_satisfaction checked
    return f"{base}/s/{token}"


def _text(db, settings: Settings, survey: SatisfactionSurvey, month: str, now: datetime) -> int | None:
    """The survey's text, stored to send (its id), or None with the reason on the survey."""
    number = messages.mobile_number(survey.patient, settings.hospital.phone_region)
    if number is None:
        satisfaction.not_sent(db, survey, "no_mobile")
        return None
    token = secrets.token_urlsafe(TOKEN_BYTES)
    days = settings.aftercare.satisfaction.answer_days
    until = (now + timedelta(days=days)).astimezone(settings.hospital.zone).date()
    link = survey_link(settings, token)
    body = texts.satisfaction(
        settings, survey.patient, department=survey.department, month=month, link=link, until=until
    )
    message = messages.queue_sms(
        db, to_number=number, body=body, kind="satisfaction", now=now, patient_id=survey.patient_id
    )
    db.flush()
    satisfaction.sent(db, survey, token=token, sms_id=message.id, now=now, days=days)
    return message.id
