"""The agent API the console calls (JSON, logged-in agents, CSRF token in the
X-CSRFToken header):

    POST /agent/api/state      {state: available|break|offline, reason}
    POST /agent/api/heartbeat
    GET  /agent/api/status     -> {state, reason, since, queues, offer, call, wrap_up}
    GET  /agent/api/stream     text/event-stream: a `change` event when this agent's state
                               changes (queueing/push.py); the console then asks /status
    POST /agent/api/answer     {call_sid}
    POST /agent/api/decline    {call_sid}
    POST /agent/api/hangup     {call_sid}
    POST /agent/api/transfer   {call_sid, queue | agent_id}
    POST /agent/api/wrap-up    {call_sid, disposition, notes}
    POST /agent/api/wrap-up-draft  {call_sid, notes}   (kept for the timer running out)

The talk's controls (issue 14; docs/console.md has the shapes), each answering the status:

    POST /agent/api/hold, resume, consult-cancel, complete-transfer, drop-party   {call_sid}
    POST /agent/api/consult    {call_sid, agent_id | outside}
    POST /agent/api/add-party  {call_sid, outside}
    GET  /agent/api/directory  -> {agents, outside}
    POST /agent/api/listen     {call_sid, reason}        (supervisors)
    POST /agent/api/whisper, barge, stop-monitoring  {call_sid}   (supervisors)

A refusal (not ringing for you, wrap-up running...) is 409 with {error}, in Chinese and
English for the call controls; bad input 400 with {error}; the phone network refusing a
call control 502 (the call is unchanged).  Views only translate: acd/desk.py and
acd/talks.py do the work.
"""

from __future__ import annotations

import logging

import redis
from flask import Blueprint, Response, jsonify, request
from flask_login import current_user

from accounts import background, role_required, still_active
from acd import desk, talks
from extensions import get_db, hotline
from queueing import push

log = logging.getLogger(__name__)
bp = Blueprint("agent_api", __name__, url_prefix="/agent/api")
# Supervisors take calls too, and their console is the phone a listen rings (issue 14).
STAFF_ON_PHONES = ("agent", "supervisor")


def _body() -> dict:
    data = request.get_json(silent=True)
    return data if isinstance(data, dict) else request.form.to_dict()


def _text(data: dict, name: str, limit: int = 64) -> str:
    value = data.get(name, "")
    if not isinstance(value, str) or not value.strip():
        raise ValueError(f"缺少 {name}：请求不完整 {name} is required")
    return value.strip()[:limit]


@bp.errorhandler(desk.DeskError)
def refused(error: desk.DeskError):
    return jsonify(error=str(error), code=error.code), 409


@bp.errorhandler(talks.TalkRefused)
def talk_refused(error: talks.TalkRefused):
    status = 403 if error.code == "supervisors_only" else 409
    return jsonify(error=str(error), code=error.code), status


@bp.errorhandler(talks.CarrierRefused)
def carrier_refused(error: talks.CarrierRefused):
    log.warning("agent API: the carrier refused a call control: %s", error.detail)
    return jsonify(error=str(error)), 502


@bp.errorhandler(redis.RedisError)
def routing_down(error: redis.RedisError):
    log.warning("agent API: routing state unavailable: %s", error)
    return jsonify(
        error="排队系统暂时不可用，您的状态未变，请重试 Routing is unavailable for a moment: your state is unchanged, try again"
    ), 503


@bp.errorhandler(ValueError)
def bad_input(error: ValueError):
    return jsonify(error=str(error)), 400


@bp.post("/state")
@role_required(*STAFF_ON_PHONES)
def state():
    data = _body()
    reason = data.get("reason") if isinstance(data.get("reason"), str) else ""
    return jsonify(desk.set_state(hotline(), get_db(), current_user.id, _text(data, "state", 16), reason))


@bp.post("/heartbeat")
@background
@role_required(*STAFF_ON_PHONES)
def heartbeat():
    console_id = _body().get("console")
    return jsonify(desk.heartbeat(hotline(), current_user.id, console_id if isinstance(console_id, str) else None))


@bp.get("/status")
@background
@role_required(*STAFF_ON_PHONES)
def status():
    result = desk.status(hotline(), current_user.id)
    if result["state"] in ("reserved", "on_call"):  # ringing or talking: at work, mouse or not
        still_active()
    return jsonify(result)


@bp.get("/stream")
@background  # an open console is not someone at work: the idle logout runs on
@role_required("agent")
def stream():
    """This agent's state changes as they happen (the console polls /status as well)."""
    app, me = hotline(), str(current_user.id)
    source = push.hub(app.redis, app.settings.env.redis_prefix)
    try:
        body = push.open_stream(source, lambda change: change.get("agent") == me)
    except push.Full:
        return jsonify(error=push.FULL_MESSAGE), 503, {"Retry-After": "60"}
    return Response(body, mimetype="text/event-stream", headers=push.HEADERS)


@bp.post("/answer")
@role_required(*STAFF_ON_PHONES)
def answer():
    return jsonify(desk.answer(hotline(), current_user.id, _text(_body(), "call_sid")))


@bp.post("/decline")
@role_required(*STAFF_ON_PHONES)
def decline():
    return jsonify(desk.decline(hotline(), current_user.id, _text(_body(), "call_sid")))


@bp.post("/hangup")
@role_required(*STAFF_ON_PHONES)
def hangup():
    return jsonify(desk.hangup(hotline(), current_user.id, _text(_body(), "call_sid")))


@bp.post("/transfer")
@role_required(*STAFF_ON_PHONES)
def transfer():
    data = _body()
    agent_id = data.get("agent_id")
    if agent_id is not None and not (isinstance(agent_id, int) or str(agent_id).isdigit()):
        raise ValueError("agent_id 须为坐席编号 agent_id must be a staff id")
    queue = data.get("queue") if isinstance(data.get("queue"), str) else None
    target = int(agent_id) if agent_id is not None else None
    return jsonify(desk.transfer(hotline(), current_user.id, _text(data, "call_sid"), queue=queue, agent_id=target))


@bp.post("/wrap-up")
@role_required(*STAFF_ON_PHONES)
def wrap_up():
    data = _body()
    notes = data.get("notes") if isinstance(data.get("notes"), str) else ""
    result = desk.wrap_up(
        hotline(), get_db(), current_user.id, _text(data, "call_sid"), _text(data, "disposition", 32), notes
    )
    return jsonify(result)


@bp.post("/wrap-up-draft")
@role_required(*STAFF_ON_PHONES)
def wrap_up_draft():
    data = _body()
    notes = data.get("notes") if isinstance(data.get("notes"), str) else ""
    return jsonify(desk.save_draft(hotline(), current_user.id, _text(data, "call_sid"), notes))


# ---- the talk's controls (issue 14) --------------------------------------------------------------------


def _control(action: str):
    call_sid = _text(_body(), "call_sid")
    return jsonify(desk.call_control(hotline(), current_user.id, call_sid, action))


@bp.post("/hold")
@role_required(*STAFF_ON_PHONES)
def hold():
    return _control("hold")


@bp.post("/resume")
@role_required(*STAFF_ON_PHONES)
def resume():
    return _control("resume")


@bp.post("/consult-cancel")
@role_required(*STAFF_ON_PHONES)
def consult_cancel():
    return _control("consult_cancel")


@bp.post("/complete-transfer")
@role_required(*STAFF_ON_PHONES)
def complete_transfer():
    return _control("complete_transfer")


@bp.post("/drop-party")
@role_required(*STAFF_ON_PHONES)
def drop_party():
    return _control("drop_party")


@bp.post("/consult")
@role_required(*STAFF_ON_PHONES)
def consult():
    data = _body()
    agent_id = data.get("agent_id")
    if agent_id is not None and not (isinstance(agent_id, int) or str(agent_id).isdigit()):
        raise ValueError("agent_id 须为坐席编号 agent_id must be a staff id")
    outside = data.get("outside") if isinstance(data.get("outside"), str) else None
    target = int(agent_id) if agent_id is not None else None
    return jsonify(
        desk.call_control(
            hotline(), current_user.id, _text(data, "call_sid"), "consult", to_agent=target, outside=outside
        )
    )


@bp.post("/add-party")
@role_required(*STAFF_ON_PHONES)
def add_party():
    data = _body()
    outside = data.get("outside") if isinstance(data.get("outside"), str) else None
    return jsonify(desk.call_control(hotline(), current_user.id, _text(data, "call_sid"), "add_party", outside=outside))


@bp.get("/directory")
@role_required(*STAFF_ON_PHONES)
def directory():
    return jsonify(desk.directory(hotline(), current_user.id))


def _supervisor() -> None:
    if current_user.role not in ("supervisor", "admin"):
        raise talks.TalkRefused("supervisors_only")


@bp.post("/listen")
@role_required("agent", "supervisor")
def listen():
    _supervisor()
    data = _body()
    reason = data.get("reason") if isinstance(data.get("reason"), str) else ""
    return jsonify(desk.listen(hotline(), get_db(), current_user.id, _text(data, "call_sid"), reason))


def _monitor(mode: str):
    _supervisor()
    return jsonify(desk.monitor(hotline(), current_user.id, _text(_body(), "call_sid"), mode))


@bp.post("/whisper")
@role_required("agent", "supervisor")
def whisper():
    return _monitor("whisper")


@bp.post("/barge")
@role_required("agent", "supervisor")
def barge():
    return _monitor("barge")


@bp.post("/stop-monitoring")
@role_required("agent", "supervisor")
def stop_monitoring():
    return _monitor("stop")


@bp.get("/monitoring")
@background
@role_required("agent", "supervisor")
def monitoring():
    """A supervisor's view of the call they listen to (the status, for a supervisor)."""
    return jsonify(desk.status(hotline(), current_user.id))
