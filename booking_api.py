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


def _json(code: int, **fields) -> Response:
    response = jsonify(**fields)
    response.status_code = code
    return response


def _error(status: int, zh: str, en: str, **more) -> Response:
    return _json(status, error=f"{zh} ({en})", error_zh=zh, error_en=en, **more)


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
    if isinstance(search := _search(db, request.args), Response):
        return search
    if isinstance(day := _day(request.args.get("day")), Response):
        return day
    found = booking.sessions_ahead(db, app.now(), app.settings.booking, day=day, limit=200, **search)
    return jsonify(places=[_place(s) for s in found if s.free > 0])


def _search(db, args) -> dict | Response:
    """What to search by: an exam, a doctor or a department (the first given); or the refusal."""
    directory = hotline().directory()
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
    return search


def _day(given: str | None) -> date | None | Response:
    """The day asked for (None: any day ahead), or the refusal of one that is not a date."""
    if not given:
        return None
    try:
        return date.fromisoformat(given)
    except ValueError:
        return _error(400, "日期格式应为 YYYY-MM-DD", "day: expected YYYY-MM-DD")


def for_patient_and_session(view: Callable) -> Callable:
    """The writes' views get the app, the request's session, the patient the body names and
    the clinic session's id, in a write transaction begun; a body that names none is refused
    here (the view is not called)."""

    @wraps(view)
    def checked() -> Response:
        app, db = hotline(), get_db()
        if isinstance(found := _patient_and_session(db), Response):
            return found
        return view(app, db, *found)

    return checked


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
@for_patient_and_session
def book(app, db, patient: Patient, session_id: int) -> Response:
    now = app.now()
    result = booking.book(
        db, patient_id=patient.id, session_id=session_id, now=now, rules=app.settings.booking, channel="api"
    )
    if result.outcome is not Outcome.BOOKED:
        db.rollback()
        return _refused(result.outcome)
    _confirm(db, result.appointment, now)
    return _booked(result.appointment)


def _confirm(db, appointment, now) -> None:
    """Commits the booking with its confirmation text and the offers of places the waiting
    list may now have (texts are queued only once they are written)."""
    app = hotline()
    sms = queue_appointment_sms(db, app.settings, appointment, "confirmation", now)
    offers = text_offers(db, app.settings, waitlist.untexted(db), now)
    db.commit()
    enqueue_texts(app, ([sms.id] if sms else []) + offers)


def _refused(outcome: Outcome) -> Response:
    key, status = REFUSED[outcome]
    # A full session: whether the app may offer its waiting list (POST /waitlist).
    more = {"waitlist": waitlist.is_open(hotline().settings.booking)} if outcome is Outcome.FULL else {}
    return _error(status, t(key, "zh"), t(key, "en"), outcome=str(outcome), **more)


def _booked(appointment) -> Response:
    return _json(
        201,
        reference=appointment.reference,
        place=appointment.place,
        channel=appointment.channel,
        **{k: v for k, v in _place(appointment.session).items() if k != "free"},
    )


# Why the patient is not on the waiting list: the words (wording.prompts) and the HTTP status.
NOT_JOINED = {
    waitlist.Joined.CLOSED: ("waitlist_closed", 403),  # booking.waitlist: false
    waitlist.Joined.NOT_FULL: ("waitlist_not_full", 409),
    waitlist.Joined.NO_MOBILE: ("waitlist_no_mobile", 422),
    waitlist.Joined.PAST: ("session_over", 422),
    waitlist.Joined.TOO_FAR: ("too_far", 422),
    waitlist.Joined.NOT_FOUND: ("no_such_session", 404),
}

# On the waiting list: the HTTP status (201 newly joined, 200 already waiting).
JOINED = {waitlist.Joined.JOINED: 201, waitlist.Joined.ALREADY_WAITING: 200}


@bp.post("/waitlist")
@token_required
@for_patient_and_session
def join_waitlist(app, db, patient: Patient, session_id: int) -> Response:
    """A full session's waiting list: 201 joined (texted when a place is freed), 200 already on it."""
    rules, region = app.settings.booking, app.settings.hospital.phone_region
    joined, entry = waitlist.join(
        db, patient_id=patient.id, session_id=session_id, now=app.now(), rules=rules, region=region, channel="api"
    )
    if joined not in JOINED:
        db.rollback()
        key, status = NOT_JOINED[joined]
        return _error(status, t(key, "zh"), t(key, "en"), outcome=str(joined))
    db.commit()
    return _json(JOINED[joined], outcome=str(joined), status=entry.status, session_id=session_id)


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
