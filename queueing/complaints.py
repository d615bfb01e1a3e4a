"""The overdue sweep for complaint cases, run by RQ's cron (queueing/cron.py).

A case not answered by its deadline is flagged and escalated to the supervisors: it
gets `escalated_at` and a note, and shows as escalated at the top of the supervisors'
case list.  The job may run twice, or in two workers at once: records.complaints
escalates each case exactly once."""

from __future__ import annotations

import logging

from queueing import context
from records import complaints
from records.db import begin_write

log = logging.getLogger(__name__)


def escalate_overdue_cases() -> str:
    hotline = context.get()
    with hotline.sessions() as db:
        begin_write(db)
        flagged = complaints.escalate_overdue(db, hotline.now())
        db.commit()
    if flagged:
        log.warning("complaint cases escalated as overdue: %s", ", ".join(map(str, flagged)))
    return f"{len(flagged)} escalated"
