"""The agent API the console calls (JSON, logged-in agents, CSRF token in the
X-CSRFToken header):

    POST /agent/api/state      {state: available|break|offline, reason}
    POST /agent/api/heartbeat
    GET  /agent/api/status     -> {state, reason, since, queues, offer, call, wrap_up}
    POST /agent/api/answer     {call_sid}
    POST /agent/api/decline    {call_sid}
    POST /agent/api/hangup     {call_sid}
    POST /agent/api/transfer   {call_sid, queue | agent_id}
    POST /agent/api/wrap-up    {call_sid, disposition, notes}

A refusal (not ringing for you, wrap-up running...) is 409 with {error}; bad
input 400 with {error}.  Views only translate: ivr/agents/desk.py does the work.
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, jsonify, request
from flask_login import current_user

from accounts import role_required
from extensions import get_db, hotline
from ivr.agents import desk

log = logging.getLogger(__name__)
bp = Blueprint("agent_api", __name__, url_prefix="/agent/api")


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


def _text(data: dict, name: str, limit: int = 64) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"{name} is required")
    return value.strip()[:limit]


@bp.errorhandler(desk.DeskError)
def refused(error: desk.DeskError):
    return jsonify(error=str(error)), 409


@bp.errorhandler(redis.RedisError)
def routing_down(error: redis.RedisError):
    log.warning("agent API: routing state unavailable: %s", error)
    return jsonify(error="routing is unavailable for a moment: your state is unchanged, try again"), 503


@bp.errorhandler(ValueError)
def bad_input(error: ValueError):
    return jsonify(error=str(error)), 400


@bp.post("/state")
@role_required("agent")
def state():
    data = _body()
    reason = data.get("reason") if isinstance(data.get("reason"), str) else ""
    return jsonify(desk.set_state(hotline(), get_db(), current_user.id, _text(data, "state", 16), reason))


@bp.post("/heartbeat")
@role_required("agent")
def heartbeat():
    return jsonify(desk.heartbeat(hotline(), current_user.id))


@bp.get("/status")
@role_required("agent")
def status():
    return jsonify(desk.status(hotline(), current_user.id))


@bp.post("/answer")
@role_required("agent")
def answer():
    return jsonify(desk.answer(hotline(), current_user.id, _text(_body(), "call_sid")))


@bp.post("/decline")
@role_required("agent")
def decline():
    return jsonify(desk.decline(hotline(), current_user.id, _text(_body(), "call_sid")))


@bp.post("/hangup")
@role_required("agent")
def hangup():
    return jsonify(desk.hangup(hotline(), current_user.id, _text(_body(), "call_sid")))


@bp.post("/transfer")
@role_required("agent")
def transfer():
    data = _body()
    agent_id = data.get("agent_id")
    if agent_id is not None and not (isinstance(agent_id, int) or str(agent_id).isdigit()):
        raise ValueError("agent_id must be a staff id")
    queue = data.get("queue") if isinstance(data.get("queue"), str) else None
    target = int(agent_id) if agent_id is not None else None
    return jsonify(desk.transfer(hotline(), current_user.id, _text(data, "call_sid"), queue=queue, agent_id=target))


@bp.post("/wrap-up")
@role_required("agent")
def wrap_up():
    data = _body()
    notes = data.get("notes") if isinstance(data.get("notes"), str) else ""
    result = desk.wrap_up(
        hotline(), get_db(), current_user.id, _text(data, "call_sid"), _text(data, "disposition", 32), notes
    )
    return jsonify(result)
