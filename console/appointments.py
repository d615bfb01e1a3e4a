"""Booking at the desk: an agent books, moves and cancels for the patient on the phone with
them (callers aged 70+ often ask a person), and puts them on a full session's waiting list.

The same records.booking functions as the phone (one front door for every channel): the
same capacity, limits and refusals, said in the phone's own words (wording.prompts), with the
channel 'agent' and the agent recorded on the appointment.  Server-rendered pages, linked
from the screen pop and from a file found by a search (console/templates/console/_summary.html).

Who may: the agent on the patient's call (the screen pop's call), or an agent who opened
the file (screen pop or search, audited 'view_file') within console.booking_grant_minutes.
Every page shown and every change writes an audit row.
"""

from __future__ import annotations

from datetime import date, timedelta

from flask import Blueprint, abort, flash, redirect, render_template, request, url_for
from flask_login import current_user
from sqlalchemy import select

from accounts import role_required
from console.views import AGENTS, _agent_has_call, _caller_of
from extensions import get_db, hotline
from queueing import enqueue_texts
from records import booking, waitlist
from records.audit import record_access
from records.booking import Outcome
from records.db import begin_write
from records.models import AuditEntry, ExamType, Patient, WaitlistEntry
from wording.prompts import t
from wording.refusals import ALREADY, REFUSALS
from wording.texts import queue_appointment_sms, text_offers

bp = Blueprint("desk_booking", __name__, template_folder="templates")


def both(key: str, **values: object) -> str:
    """A phone prompt in both languages, for the agent to read to the caller."""
    return f"{t(key, 'zh', **values)} {t(key, 'en', **values)}"


def _too_late() -> str:
    hours = hotline().settings.booking.cancel_cutoff_minutes / 60
    return both("too_late_to_change", hours=int(hours) if hours.is_integer() else round(hours, 1))


# What the agent is told for each refusal: the phone's words (wording/refusals.py).
REFUSED = REFUSALS | ALREADY

JOINED = {
    waitlist.Joined.CLOSED: both("waitlist_closed"),
    waitlist.Joined.JOINED: "已加入候补，有空位时将短信通知患者 (on the waiting list: the patient is texted when a place is freed)",
    waitlist.Joined.ALREADY_WAITING: "患者已在候补名单中 (the patient is already waiting for this session)",
    waitlist.Joined.NOT_FULL: both("waitlist_not_full"),
    waitlist.Joined.NO_MOBILE: "患者没有手机号码，无法短信通知空位 (no mobile number on file: the offer comes by text)",
    waitlist.Joined.PAST: t("session_over", "zh") + " " + t("session_over", "en"),
    waitlist.Joined.TOO_FAR: t("too_far", "zh") + " " + t("too_far", "en"),
    waitlist.Joined.NOT_FOUND: "找不到该时段 (no such session)",
}


def _allowed(db, patient_id: int, call_sid: str | None) -> str:
    """Why this agent may work on this patient's appointments (the audit row's reason); 403 if not."""
    if call_sid and _agent_has_call(call_sid) and _caller_of(db, call_sid)[0] == patient_id:
        return "来电预约 booking for the caller"
    minutes = hotline().settings.console.booking_grant_minutes
    since = hotline().now() - timedelta(minutes=minutes)
    opened = db.scalar(
        select(AuditEntry.id)
        .where(
            AuditEntry.staff_id == current_user.id,
            AuditEntry.patient_id == patient_id,
            AuditEntry.action == "view_file",
            AuditEntry.at >= since,
        )
        .limit(1)
    )
    if opened is None:
        abort(403, f"请先打开患者档案（来电弹屏或查询档案，{minutes} 分钟内） (open the patient's file first)")
    return "档案已打开 file opened for the patient"


def _audit(db, patient_id: int, action: str, reason: str, call_sid: str | None) -> None:
    record_access(
        db,
        staff_id=current_user.id,
        action=action,
        reason=reason,
        patient_id=patient_id,
        call_sid=call_sid,
        at=hotline().now(),
    )


def _call_sid() -> str | None:
    return (request.values.get("call_sid") or "").strip()[:64] or None


def _search(db, form) -> tuple[dict | None, str]:
    """The search the form asks for: by doctor, by department (any of its doctors), by exam."""
    directory = hotline().directory()
    if code := form.get("exam"):
        exam = db.scalar(select(ExamType).where(ExamType.code == code))
        return ({"exam_type_id": exam.id}, exam.name_zh + " " + exam.name_en) if exam else (None, "")
    if code := form.get("doctor"):
        doctor = directory.doctor(code)
        return ({"doctor_ids": [doctor.id]}, f"{doctor.name_zh} {doctor.name_en}") if doctor else (None, "")
    if code := form.get("department"):
        department = directory.department(code)
        if department:
            ids = [d.id for d in directory.doctors_in(code)]
            return {"doctor_ids": ids}, f"{department.name_zh} {department.name_en}"
    return None, ""


def _day(text: str | None) -> date | None:
    try:
        return date.fromisoformat(text or "")
    except ValueError:
        return None


@bp.get("/agent/patients/<int:patient_id>/appointments")
@role_required(*AGENTS)
def page(patient_id: int):
    db, call_sid = get_db(), _call_sid()
    patient = _opened_for_booking(db, patient_id, call_sid)
    return render_template(
        "console/appointments.html",
        patient=patient,
        call_sid=call_sid,
        **_listing(db, patient_id, request.args),
        move=request.args.get("move", ""),
        directory=hotline().directory(),
        exams=booking.exam_types(db),
        form=request.args,
    )


def _opened_for_booking(db, patient_id: int, call_sid: str | None) -> Patient:
    """The patient whose appointments the agent may see (404, 403 if not), the page audited."""
    begin_write(db)
    patient = db.get(Patient, patient_id)
    if patient is None:
        abort(404)
    reason = _allowed(db, patient_id, call_sid)
    _audit(db, patient_id, "view_file", f"预约办理 booking desk: {reason}", call_sid)
    db.commit()
    return patient


def _listing(db, patient_id: int, args) -> dict:
    """The patient's appointments and waiting lists, and the sessions the search found
    (with how many wait for each full one)."""
    app = hotline()
    now, rules = app.now(), app.settings.booking
    search, searched = _search(db, args)
    found = booking.sessions_ahead(db, now, rules, day=_day(args.get("day")), **search) if search else []
    return {
        "upcoming": booking.upcoming(db, patient_id, now),
        "entries": waitlist.for_patient(db, patient_id),
        "found": found,
        "searched": searched,
        "waiting": {s.id: waitlist.waiting_count(db, s.id) for s in found if s.free <= 0},
        "waitlist_open": waitlist.is_open(rules),  # off: no key to join, and joining is refused
    }


def _back(patient_id: int, **args):
    args = {k: v for k, v in args.items() if v}
    return redirect(url_for("desk_booking.page", patient_id=patient_id, call_sid=_call_sid(), **args))


def _int(name: str) -> int | None:
    value = request.form.get(name, "")
    return int(value) if value.isdigit() else None


@bp.post("/agent/patients/<int:patient_id>/book")
@role_required(*AGENTS)
def book(patient_id: int):
    """Book (or, with `move`, move the patient's appointment to) the chosen session."""
    db, app = get_db(), hotline()
    call_sid, session_id, move = _call_sid(), _int("session_id"), _int("move")
    begin_write(db)
    reason = _allowed(db, patient_id, call_sid)
    if session_id is None:
        abort(400, "session_id")
    who = {"now": app.now(), "rules": app.settings.booking, "call_sid": call_sid, "channel": "agent"}
    if move is not None:
        result = booking.move(
            db, patient_id=patient_id, appointment_id=move, session_id=session_id, by_staff_id=current_user.id, **who
        )
    else:
        result = booking.book(db, patient_id=patient_id, session_id=session_id, by_staff_id=current_user.id, **who)
    return _finish(db, patient_id, result, "move_for_patient" if move else "book_for_patient", reason, call_sid)


@bp.post("/agent/patients/<int:patient_id>/cancel")
@role_required(*AGENTS)
def cancel(patient_id: int):
    db, app = get_db(), hotline()
    call_sid = _call_sid()
    begin_write(db)
    reason = _allowed(db, patient_id, call_sid)
    result = booking.cancel(
        db,
        patient_id=patient_id,
        appointment_id=_int("appointment_id") or 0,
        now=app.now(),
        rules=app.settings.booking,
        call_sid=call_sid,
        channel="agent",
        by_staff_id=current_user.id,
    )
    return _finish(db, patient_id, result, "cancel_for_patient", reason, call_sid)


SMS_KIND = {Outcome.BOOKED: "confirmation", Outcome.MOVED: "moved", Outcome.CANCELLED: "cancellation"}
DONE = {Outcome.BOOKED: "booked", Outcome.MOVED: "moved_ok", Outcome.CANCELLED: "cancelled"}


def _finish(db, patient_id: int, result: booking.Result, action: str, reason: str, call_sid: str | None):
    """Audit, text the patient (and any waitlisted patient a freed place is offered to), commit, say it."""
    app = hotline()
    if result.outcome not in SMS_KIND:
        db.rollback()
        message = _too_late() if result.outcome is Outcome.TOO_LATE else both(REFUSED[result.outcome])
        flash(message, "error")
        return _back(patient_id)
    appointment = result.appointment
    _audit(db, patient_id, action, f"{reason}: {booking.describe(appointment)}", call_sid)
    sms = queue_appointment_sms(db, app.settings, appointment, SMS_KIND[result.outcome], app.now(), call_sid)
    offers = text_offers(db, app.settings, waitlist.untexted(db), app.now())
    db.commit()
    enqueue_texts(app, ([sms.id] if sms else []) + offers)
    flash(both(DONE[result.outcome], place=appointment.place, reference=appointment.reference), "ok")
    return _back(patient_id)


@bp.post("/agent/patients/<int:patient_id>/waitlist")
@role_required(*AGENTS)
def join_waitlist(patient_id: int):
    db, call_sid = get_db(), _call_sid()
    begin_write(db)
    reason = _allowed(db, patient_id, call_sid)
    joined, entry = _join(db, patient_id, call_sid)
    if joined is waitlist.Joined.JOINED:
        _audit(db, patient_id, "waitlist_for_patient", f"{reason}: session {entry.session_id}", call_sid)
        db.commit()
    else:
        db.rollback()
    flash(JOINED[joined], "ok" if joined is waitlist.Joined.JOINED else "error")
    return _back(patient_id)


def _join(db, patient_id: int, call_sid: str | None) -> tuple[waitlist.Joined, WaitlistEntry | None]:
    app = hotline()
    return waitlist.join(
        db,
        patient_id=patient_id,
        session_id=_int("session_id") or 0,
        now=app.now(),
        rules=app.settings.booking,
        region=app.settings.hospital.phone_region,
        channel="agent",
        by_staff_id=current_user.id,
        call_sid=call_sid,
    )


@bp.post("/agent/patients/<int:patient_id>/waitlist/<int:entry_id>/leave")
@role_required(*AGENTS)
def leave_waitlist(patient_id: int, entry_id: int):
    db, app = get_db(), hotline()
    call_sid = _call_sid()
    begin_write(db)
    reason = _allowed(db, patient_id, call_sid)
    entry = db.get(WaitlistEntry, entry_id)
    if entry is None or entry.patient_id != patient_id:
        abort(404)
    offered = waitlist.leave(db, entry, app.now(), app.settings.booking)
    _audit(db, patient_id, "waitlist_for_patient", f"{reason}: left the waiting list {entry_id}", call_sid)
    ids = text_offers(db, app.settings, offered, app.now())
    db.commit()
    enqueue_texts(app, ids)
    flash("已退出候补 (no longer waiting)", "ok")
    return _back(patient_id)
