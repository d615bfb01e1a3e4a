"""The one place a follow-up call asks for a nurse (the seam to the human seats).

A worrying answer flags the task and asks the nurse queue (settings
aftercare.followup.nurse_queue) to call the patient back.  Until the routing
engine offers callbacks, the flagged task itself is the request: it waits on
the campaign page ("flags waiting for a nurse") until a nurse marks it done.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from records import aftercare
from records.models import FollowUpTask
from settings import Settings


def request_callback(db: Session, settings: Settings, task: FollowUpTask, now: datetime) -> str | None:
    """Ask for the nurse's callback once per task; the reference the seats gave, if any."""
    if task.nurse_requested_at is not None:
        return task.nurse_reference
    reference = None
    aftercare.nurse_requested(db, task, now, reference)
    return reference
