"""`POST /ivr/followup/call-status?task=<id>&attempt=<n>`: the carrier's final status
for a follow-up call.  The call's record is written as for every call
(ivr.webhooks.status); then the task learns what became of the attempt, and a
call that reached nobody (no answer, busy, a machine) is tried again later, at
spaced times and only inside the calling hours, until the attempts run out."""

from __future__ import annotations

import logging

from flask import Blueprint, Response, request

from extensions import get_db, hotline
from ivr import webhooks
from ivr.security import require_signature
from queueing.aftercare import routine_queue, schedule_calls
from records import aftercare, calls
from records.db import begin_write
from records.patients import CallerMatch

log = logging.getLogger(__name__)
bp = Blueprint("followup_status", __name__)
bp.before_request(require_signature)


@bp.route("/ivr/followup/call-status", methods=["POST"])
def call_status() -> Response:
    task_id, attempt = request.args.get("task", ""), request.args.get("attempt", "")
    call_sid = request.values.get("CallSid", "").strip()[:64]
    status = request.values.get("CallStatus", "")
    if not (_small(task_id) and _small(attempt) and call_sid):
        return Response(status=204)
    _open_on_patient_file(int(task_id), call_sid)
    webhooks.status()  # the call record, its events and status, like any call
    if status in calls.FINAL_STATUSES:
        _attempt_ended(int(task_id), int(attempt), call_sid, status)
    return Response(status=204)


def _open_on_patient_file(task_id: int, call_sid: str) -> None:
    """A call nobody answered never reached a step: its record is opened here, on the
    patient's file (kept in Redis until the call's final status; the first opening stays)."""
    app, db = hotline(), get_db()
    found = aftercare.task(db, task_id)
    if found is not None:
        opened = calls.CallOpened(
            call_sid=call_sid,
            from_number=request.values.get("From", ""),
            to_number=request.values.get("To", ""),
            caller=CallerMatch(None, (found.patient_id,)),
            language=found.patient.preferred_language,
            at=app.now(),
            direction=request.values.get("Direction", "outbound-api"),
        )
        app.calls.open(opened)
    db.rollback()


def _attempt_ended(task_id: int, attempt: int, call_sid: str, status: str) -> None:
    """The task learns what became of the attempt; one that reached nobody is tried again later."""
    app, db = hotline(), get_db()
    now = app.now()
    begin_write(db)
    retry_at = aftercare.call_ended(db, task_id, attempt, call_sid, status, now, app.settings)
    db.commit()
    if retry_at is not None:
        schedule_calls(routine_queue(app), [task_id], retry_at, now)


def _small(value: str) -> bool:
    return value.isdigit() and len(value) <= 9  # fits a database INTEGER


@bp.errorhandler(Exception)
def failed(error: Exception) -> Response:
    log.exception("follow-up status callback failed (task %s)", request.args.get("task", "-")[:20])
    return Response(status=500)  # the carrier only logs it; the sweeper catches the task up
