"""The one place a follow-up call asks for a nurse: the seam to the human seats.

A worrying answer flags the task and puts the patient into the nurse queue
(settings aftercare.followup.nurse_queue, a queue of the routing engine) as a
callback: the ACD offers it to the next free agent with the nurse skill and
rings the patient back on the number the follow-up call reached (acd/).
The ACD entry is the follow-up call's sid, so its queue events land on that
call's record, on the patient's file.

The flagged task stays on the campaign page ("flags waiting for a nurse") until a
nurse marks it done, also when the callback could not be queued (Redis down).
"""

from __future__ import annotations

import logging
from datetime import datetime

from sqlalchemy.orm import Session

from contactcentre import routing as rule
from records import aftercare
from records.models import FollowUpTask
from records.patients import mask
from wording.texts import language

log = logging.getLogger(__name__)


def request_callback(
    db: Session, hotline, task: FollowUpTask, *, number: str, call_sid: str, now: datetime, base_url: str
) -> str | None:
    """Ask the nurse queue to call the patient back, once per task; the ACD entry, if queued."""
    if task.nurse_requested_at is not None:
        return task.nurse_reference
    patient = task.patient
    age = patient.age_on(now.date())
    priority = rule.priority(hotline.settings.routing, complaint=False, vip=patient.category == "vip", age=age)
    reference = None
    try:
        _queue_callback(hotline, task, priority, number=number, call_sid=call_sid, now=now, base_url=base_url)
        reference = call_sid
    except Exception:  # the flag stays on the campaign page for the nurses either way
        log.exception("follow-up %s: the nurse callback could not be queued", task.id)
    aftercare.nurse_requested(db, task, now, reference)
    return reference


def _queue_callback(
    hotline, task: FollowUpTask, priority: int, *, number: str, call_sid: str, now: datetime, base_url: str
) -> None:
    """Into the nurse queue as a callback (joined and left at once, keeping the place), as a
    caller who pressed the callback key would be."""
    settings = hotline.settings
    queue = settings.aftercare.followup.nurse_queue
    patient = task.patient
    acd = hotline.acd
    acd.remember_base_url(base_url)  # where the ACD's callback call will fetch its TwiML
    lang = language(patient, settings)
    acd.enqueue(
        call_sid, queue, priority=priority, now=now.timestamp(), patient_id=patient.id, caller=mask(number), lang=lang
    )
    acd.set_callback_number(call_sid, number)
    acd.leave(call_sid, now.timestamp(), "callback")
    hotline.calls.add_events(call_sid, now, [("callback_requested", {"queue": queue, "waited": 0})])
