"""The hospital's booking API (issue 20): its web site or app searches free places and books
into the same capacity as the phone and the desk (records.booking, channel 'api'), with the
same limits and refusals.  Bearer tokens, like the discharge API (aftercare/api.py); no
CSRF (no browser).  docs/booking.md has the examples.

    GET  /api/v1/booking/places?department=CARD | doctor=D001 | exam=US [&day=2026-11-25]
    POST /api/v1/booking/appointments  {"mrn": "M00000001", "birth_date": "1948-05-02", "session_id": 42}
    POST /api/v1/booking/waitlist      the same body: a full session's waiting list (booking.waitlist)

The patient is named by record number and birth date (as the phone identifies a caller):
a pair that does not match is refused as one, never saying which part was wrong.
Refusals are JSON with `error` in Chinese and English and a machine-readable `outcome`.
Tokens: BOOKING_API_TOKENS (comma-separated)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import date
from functools import wraps

from flask import Blueprint, Flask, Response, jsonify, request
from sqlalchemy import select
from werkzeug.exceptions import HTTPException

from extensions import get_db, hotline
from queueing import enqueue_texts
from records import booking, waitlist
from records.booking import Outcome
from records.db import begin_write
from records.models import ClinicSession, ExamType, Patient
from wording.prompts import t
from wording.texts import queue_appointment_sms, text_offers

log = logging.getLogger(__name__)
bp = Blueprint("booking_api", __name__, url_prefix="/api/v1/booking")

# The phone's words for each refusal, and the HTTP status it is.
REFUSED = {
    Outcome.FULL: ("session_full", 409),
    Outcome.ALREADY_BOOKED: ("already_booked", 409),
    Outcome.DAILY_LIMIT: ("daily_limit", 409),
    Outcome.TOO_FAR: ("too_far", 422),
    Outcome.PAST: ("session_over", 422),
    Outcome.NOT_FOUND: ("appointment_gone", 404),
}


def _error(status: int, zh: str, en: str, **more) -> Response:
    response = jsonify(error=f"{zh} ({en})", error_zh=zh, error_en=en, **more)
    response.status_code = status
    return response


def token_required(view: Callable) -> Callable:
    """Only for a hospital system with a token from BOOKING_API_TOKENS."""

    @wraps(view)
    def guarded(*args, **kwargs):
        tokens = [x.strip() for x in (hotline().settings.env.booking_api_tokens or "").split(",") if x.strip()]
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if tokens and scheme.lower() == "bearer" and any(hmac.compare_digest(given.strip(), x) for x in tokens):
            return view(*args, **kwargs)
        if not tokens:
            response = _error(
                401, "预约接口未开放：未配置令牌", "the API is off: no token is configured (BOOKING_API_TOKENS)"
            )
        else:
            response = _error(401, "令牌无效", "expected 'Bearer <token>' with a known token")
        response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
        return response

    guarded.roles = ("hospital_system",)
    return guarded


def _place(session: ClinicSession) -> dict:
    doctor, exam = session.doctor, session.exam_type
    return {
        "session_id": session.id,
        "date": session.date.isoformat(),
        "start": session.start_time.strftime("%H:%M"),
        "end": session.end_time.strftime("%H:%M"),
        "free": session.free,
        "department": (
            {"code": doctor.department.code, "name_zh": doctor.department.name_zh, "name_en": doctor.department.name_en}
            if doctor
            else None
        ),
        "doctor": {"code": doctor.code, "name_zh": doctor.name_zh, "name_en": doctor.name_en} if doctor else None,
        "exam": {"code": exam.code, "name_zh": exam.name_zh, "name_en": exam.name_en} if exam else None,
    }


@bp.get("/places")
@token_required
def places() -> Response:
    """Sessions with a free place, by department, doctor or exam, the soonest first."""
    db, app = get_db(), hotline()
    args = request.args
    directory = app.directory()
    if code := args.get("exam"):
        exam = db.scalar(select(ExamType).where(ExamType.code == code))
        search = {"exam_type_id": exam.id} if exam else None
    elif code := args.get("doctor"):
        doctor = directory.doctor(code)
        search = {"doctor_ids": [doctor.id]} if doctor else None
    elif code := args.get("department"):
        search = {"doctor_ids": [d.id for d in directory.doctors_in(code)]} if directory.department(code) else None
    else:
        return _error(400, "请指定科室、医生或检查", "give department, doctor or exam")
    if search is None:
        return _error(404, "没有这个科室、医生或检查", "no such department, doctor or exam")
    day = None
    if args.get("day"):
        try:
            day = date.fromisoformat(args["day"])
        except ValueError:
            return _error(400, "日期格式应为 YYYY-MM-DD", "day: expected YYYY-MM-DD")
    found = booking.sessions_ahead(db, app.now(), app.settings.booking, day=day, limit=200, **search)
    return jsonify(places=[_place(s) for s in found if s.free > 0])


def _patient_and_session(db) -> tuple[Patient, int] | Response:
    """The patient the body names (record number and birth date, as one) and the session id,
    in a write transaction begun here; or the refusal."""
    body = request.get_json(silent=True) if request.is_json else None
    if not isinstance(body, dict):
        return _error(400, "请求体应为 JSON 对象", "expected a JSON object")
    session_id, mrn, born = body.get("session_id"), str(body.get("mrn") or ""), str(body.get("birth_date") or "")
    if not isinstance(session_id, int) or not mrn or not born:
        return _error(422, "需要 mrn、birth_date 和 session_id", "mrn, birth_date and session_id are required")
    begin_write(db)
    patient = db.scalar(select(Patient).where(Patient.mrn == mrn[:20]))
    if patient is None or patient.birth_date.isoformat() != born.strip():
        db.rollback()
        return _error(404, "病历号与出生日期不符", "no patient with that record number and birth date")
    return patient, session_id


@bp.post("/appointments")
@token_required
def book() -> Response:
    app, db = hotline(), get_db()
    if isinstance(found := _patient_and_session(db), Response):
        return found
    patient, session_id = found
    now = app.now()
    result = booking.book(
        db, patient_id=patient.id, session_id=session_id, now=now, rules=app.settings.booking, channel="api"
    )
    if result.outcome is not Outcome.BOOKED:
        db.rollback()
        key, status = REFUSED[result.outcome]
        # A full session: whether the app may offer its waiting list (POST /waitlist).
        more = {"waitlist": waitlist.is_open(app.settings.booking)} if result.outcome is Outcome.FULL else {}
        return _error(status, t(key, "zh"), t(key, "en"), outcome=str(result.outcome), **more)
    appointment = result.appointment
    sms = queue_appointment_sms(db, app.settings, appointment, "confirmation", now)
    offers = text_offers(db, app.settings, waitlist.untexted(db), now)
    db.commit()
    enqueue_texts(app, ([sms.id] if sms else []) + offers)
    response = jsonify(
        reference=appointment.reference,
        place=appointment.place,
        channel=appointment.channel,
        **{k: v for k, v in _place(appointment.session).items() if k != "free"},
    )
    response.status_code = 201
    return response


# Why the patient is not on the waiting list: the words (wording.prompts) and the HTTP status.
NOT_JOINED = {
    waitlist.Joined.CLOSED: ("waitlist_closed", 403),  # booking.waitlist: false
    waitlist.Joined.NOT_FULL: ("waitlist_not_full", 409),
    waitlist.Joined.NO_MOBILE: ("waitlist_no_mobile", 422),
    waitlist.Joined.PAST: ("session_over", 422),
    waitlist.Joined.TOO_FAR: ("too_far", 422),
    waitlist.Joined.NOT_FOUND: ("no_such_session", 404),
}


@bp.post("/waitlist")
@token_required
def join_waitlist() -> Response:
    """A full session's waiting list: 201 joined (texted when a place is freed), 200 already on it."""
    app, db = hotline(), get_db()
    if isinstance(found := _patient_and_session(db), Response):
        return found
    patient, session_id = found
    rules, region = app.settings.booking, app.settings.hospital.phone_region
    joined, entry = waitlist.join(
        db, patient_id=patient.id, session_id=session_id, now=app.now(), rules=rules, region=region, channel="api"
    )
    if joined not in (waitlist.Joined.JOINED, waitlist.Joined.ALREADY_WAITING):
        db.rollback()
        key, status = NOT_JOINED[joined]
        return _error(status, t(key, "zh"), t(key, "en"), outcome=str(joined))
    db.commit()
    response = jsonify(outcome=str(joined), status=entry.status, session_id=session_id)
    response.status_code = 201 if joined is waitlist.Joined.JOINED else 200
    return response


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    return _error(error.code or 500, "请求有误", error.description or error.name)


@bp.errorhandler(Exception)
def failed(error: Exception) -> Response:
    log.exception("booking API %s failed", request.path)
    get_db().rollback()
    return _error(500, "系统暂时无法预约，请稍后再试", "could not book now; nothing was booked, try again")


def init_app(app: Flask) -> None:
    app.extensions["csrf"].exempt(bp)
    app.register_blueprint(bp)
