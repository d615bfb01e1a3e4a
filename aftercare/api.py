"""The JSON API the hospital's systems post events to (bearer token, no CSRF):

    POST /api/v1/discharges   {"events": [{"event_id", "mrn", "ward", "discharge_date", "attending_doctor"}]}
    POST /api/v1/results      {"events": [{"event_id", "mrn", "test", "ready_at"}]}

One event may also be posted alone, or a plain list.  201 with what was stored
(200 if every event was already stored: posting again is harmless); 4xx with
`problems` naming each wrong field (`events[3].mrn`), and then nothing of the
batch is stored.  Tokens: AFTERCARE_API_TOKENS (comma-separated)."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Callable
from datetime import timedelta
from functools import wraps

from flask import Blueprint, Response, jsonify, request
from werkzeug.exceptions import BadRequest, HTTPException, RequestEntityTooLarge

from extensions import get_db, hotline
from limits import too_large_message
from queueing.aftercare import enqueue_notices, urgent_queue
from records import aftercare
from records.aftercare_events import BadBatch, DischargeEvent, Problem, ResultEvent, parse_batch
from records.db import begin_write

log = logging.getLogger(__name__)
bp = Blueprint("aftercare_api", __name__, url_prefix="/api/v1")


def token_required(view: Callable) -> Callable:
    """Only for a hospital system with a token from AFTERCARE_API_TOKENS (no staff login:
    `roles` says who may call it, as accounts.role_required does for staff views)."""

    @wraps(view)
    def guarded(*args, **kwargs):
        tokens = [t.strip() for t in (hotline().settings.env.aftercare_api_tokens or "").split(",") if t.strip()]
        scheme, _, given = request.headers.get("Authorization", "").partition(" ")
        if not tokens:
            message = "the API is off: no token is configured (AFTERCARE_API_TOKENS)"
        elif scheme.lower() != "bearer" or not any(hmac.compare_digest(given.strip(), t) for t in tokens):
            message = "expected 'Bearer <token>' with a known token"
        else:
            return view(*args, **kwargs)
        response = _problems(401, [Problem(field="Authorization", message=message)])
        response.headers["WWW-Authenticate"] = 'Bearer realm="hotline"'
        return response

    guarded.roles = ("hospital_system",)
    return guarded


@bp.post("/discharges")
@token_required
def discharges() -> Response:
    batch = parse_batch(DischargeEvent, _json())
    app = hotline()
    db = get_db()
    begin_write(db)
    stored = aftercare.store_discharges(db, batch, app.now())
    db.commit()
    return _stored(stored.stored, stored.duplicates)


@bp.post("/results")
@token_required
def results() -> Response:
    batch = parse_batch(ResultEvent, _json())
    app = hotline()
    settings = app.settings
    db = get_db()
    begin_write(db)
    within = timedelta(minutes=settings.aftercare.results.within_minutes)
    stored = aftercare.store_results(db, batch, app.now(), zone=settings.hospital.zone, within=within)
    db.commit()
    enqueue_notices(urgent_queue(app), stored.ids)
    return _stored(stored.stored, stored.duplicates)


def _json():
    if not request.is_json:
        raise BadBatch([Problem(field="Content-Type", message="expected application/json")])
    try:
        return request.get_json()
    except BadRequest as error:  # not JSON, or nested too deeply (limits.py): say which
        raise BadBatch([Problem(field="body", message=error.description or "not valid JSON")]) from None


def _stored(stored: int, duplicates: int) -> Response:
    response = jsonify(stored=stored, duplicates=duplicates)
    response.status_code = 201 if stored else 200
    return response


def _problems(status: int, problems: list[Problem]) -> Response:
    response = jsonify(
        error=problems[0].message if len(problems) == 1 else "invalid events",
        problems=[p.model_dump() for p in problems],
    )
    response.status_code = status
    return response


@bp.errorhandler(BadBatch)
def bad_batch(error: BadBatch) -> Response:
    get_db().rollback()
    return _problems(422 if error.problems[0].field not in ("body", "Content-Type") else 400, error.problems)


@bp.errorhandler(HTTPException)
def http_error(error: HTTPException) -> Response:
    return _problems(error.code or 500, [Problem(field="request", message=error.description or error.name)])


@bp.errorhandler(RequestEntityTooLarge)  # by its code, or the app's plain-text 413 would answer
def too_large(_error: RequestEntityTooLarge) -> Response:
    return _problems(413, [Problem(field="request", message=too_large_message())])


@bp.errorhandler(Exception)
def failed(error: Exception) -> Response:
    log.exception("aftercare API %s failed", request.path)
    get_db().rollback()
    return _problems(
        500, [Problem(field="server", message="could not store the events; nothing was stored, send them again")]
    )
