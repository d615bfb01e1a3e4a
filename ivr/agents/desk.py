"""What an agent does at their desk, by staff id: the domain behind the agent API
(/agent/api/...) and the console.  Each function returns a JSON-ready dict; a
refusal is a `DeskError` whose message says why (the API answers 409 with it).

Answering is the agent's phone's job: in production the Twilio Voice SDK in the
browser picks up the <Client> leg; in development and tests, with
TWILIO_API_BASE pointing at the local carrier emulator, `answer` picks up the
emulated leg through the emulator's control API.  Either way the answer is
marked by the leg's whisper webhook (ivr/flows/queue.py), where the carrier
says the agent really picked up.
"""

from __future__ import annotations

import logging
from datetime import datetime

import requests
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException

from extensions import Hotline
from ivr.agents import seats
from records import seats as records_seats
from records.staff import get_staff

log = logging.getLogger(__name__)
STATES = ("available", "break", "offline")


class DeskError(Exception):
    """The agent cannot do that now; the message says why."""


def _iso(value: str | float | None, hotline: Hotline) -> str | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(float(value), hotline.settings.hospital.zone).isoformat()


def set_state(hotline: Hotline, session: Session, staff_id: int, state: str, reason: str = "") -> dict:
    """available | break (with a reason) | offline.  Going available reads the agent's skills."""
    if state not in STATES:
        raise DeskError(f"state must be one of {', '.join(STATES)}, not {state!r}")
    staff = get_staff(session, staff_id)
    if staff is None:
        raise DeskError("no such agent")
    skills = records_seats.agent_skills(session, staff_id)
    if state == "available" and not skills:
        raise DeskError("this agent has no skills yet: ask a supervisor to give some")
    now = hotline.now()
    reason = (reason or "").strip()[:40] if state == "break" else ("" if state == "available" else "logged_out")
    result = hotline.acd.set_state(
        staff_id, state, seats.epoch(now), reason=reason, name=staff.display_name, skills=skills
    )
    if result.status == "busy":
        raise DeskError("finish the call (or decline the ringing one) first")
    if result.status == "wrap_up":
        raise DeskError("wrap-up is running: end it with a disposition first")
    if state == "available":
        seats.dispatch(hotline)
    return status(hotline, staff_id)


def heartbeat(hotline: Hotline, staff_id: int) -> dict:
    alive = hotline.acd.heartbeat(staff_id, seats.epoch(hotline.now()))
    return {"logged_in": alive, "state": hotline.acd.agent(staff_id)["state"]}


def status(hotline: Hotline, staff_id: int) -> dict:
    acd = hotline.acd
    routing = hotline.settings.routing
    agent = acd.agent(staff_id)
    now = seats.epoch(hotline.now())
    skills = _skills(agent)
    mine = [name for name, queue in routing.queues.items() if queue.skill in skills]
    result = {
        "staff_id": staff_id,
        "state": agent["state"],
        "reason": agent.get("reason", ""),
        "since": _iso(agent.get("since"), hotline),
        "queues": acd.queue_stats(mine, now),
        "offer": None,
        "call": None,
        "wrap_up": None,
    }
    if agent["state"] == "reserved" and agent.get("offer"):
        entry = acd.entry(agent["offer"])
        rings_until = float(agent.get("since") or now) + routing.offer_timeout_seconds
        result["offer"] = {
            "call_sid": agent["offer"],
            "queue": agent.get("offer_queue", ""),
            "patient_id": int(entry["patient_id"]) if entry.get("patient_id") else None,
            "caller": entry.get("caller", ""),
            "kind": entry.get("kind", "call"),
            "expires_at": _iso(rings_until, hotline),
        }
    if agent["state"] == "on_call" and agent.get("call"):
        entry = acd.entry(agent["call"])
        result["call"] = {
            "call_sid": agent["call"],
            "queue": agent.get("call_queue", ""),
            "patient_id": int(entry["patient_id"]) if entry.get("patient_id") else None,
            "caller": entry.get("caller", ""),
            "since": _iso(agent.get("call_since"), hotline),
        }
    if agent["state"] == "wrap_up":
        result["wrap_up"] = {
            "call_sid": agent.get("wrap_call", ""),
            "queue": agent.get("wrap_queue", ""),
            "ends_at": _iso(agent.get("wrap_until"), hotline),
        }
    return result


def _skills(agent: dict) -> dict[str, int]:
    import json

    try:
        return json.loads(agent.get("skills") or "{}")
    except ValueError:
        return {}


def _offer_of(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    agent = hotline.acd.agent(staff_id)
    if agent["state"] != "reserved" or agent.get("offer") != call_sid:
        raise DeskError("this call is not ringing for you (it may have been answered elsewhere or timed out)")
    return agent


def _call_of(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    agent = hotline.acd.agent(staff_id)
    if agent["state"] != "on_call" or agent.get("call") != call_sid:
        raise DeskError("you are not on this call")
    return agent


def answer(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    """Pick up the ringing offer.  With the emulator, answer the emulated agent leg; in
    production the browser's Voice SDK has already done so (this only reports the state)."""
    agent = hotline.acd.agent(staff_id)
    if agent["state"] == "on_call" and agent.get("call") == call_sid:
        return status(hotline, staff_id)
    _offer_of(hotline, staff_id, call_sid)
    base = hotline.settings.env.twilio_api_base
    if base:
        _answer_emulated_leg(base.rstrip("/"), staff_id)
    return status(hotline, staff_id)


def _answer_emulated_leg(base: str, staff_id: int) -> None:
    try:
        ringing = requests.get(f"{base}/_emulator/ringing", params={"target": f"client:agent-{staff_id}"}, timeout=10)
        if ringing.status_code != 200:
            raise DeskError("your phone is not ringing yet: try again in a moment")
        sid = ringing.json()["sid"]
        requests.post(f"{base}/_emulator/calls/{sid}/answer", json={}, timeout=10).raise_for_status()
    except requests.RequestException as exc:
        raise DeskError(f"the phone could not be answered: {exc}") from None


def decline(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    """Refuse the ringing offer: the caller goes back on hold in their place and is offered
    to the next agent (never again to this one); this agent stays available."""
    _offer_of(hotline, staff_id, call_sid)
    now = hotline.now()
    entry = hotline.acd.entry(call_sid)
    result = hotline.acd.release(call_sid, staff_id, seats.epoch(now), "declined")
    if result.ok:
        detail = {"queue": result.queue, "agent_id": staff_id, "reason": "declined"}
        seats.add_events(hotline, call_sid, now, ("missed_offer", detail))
        if entry.get("kind") == "call" and entry.get("live_sid"):
            _redirect(hotline, entry["live_sid"], "queue/hold_again", q=result.queue, lang=entry.get("lang", "zh"))
        seats.dispatch(hotline)
    return status(hotline, staff_id)


def hangup(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    """End the talk from the console: the caller goes on to the post-call step, the agent
    to wrap-up."""
    _call_of(hotline, staff_id, call_sid)
    entry = hotline.acd.entry(call_sid)
    seats.talk_ended(hotline, call_sid, staff_id)
    if entry.get("live_sid"):
        _redirect(
            hotline,
            entry["live_sid"],
            "queue/after_call",
            entry=call_sid,
            agent=staff_id,
            lang=entry.get("lang", "zh"),
        )
    return status(hotline, staff_id)


def transfer(
    hotline: Hotline, staff_id: int, call_sid: str, *, queue: str | None = None, agent_id: int | None = None
) -> dict:
    """Hand the caller to another queue (they wait there with their priority) or straight
    to an available agent (whose phone rings now).  This agent goes to wrap-up."""
    routing = hotline.settings.routing
    if (queue is None) == (agent_id is None):
        raise DeskError("transfer to a queue or to an agent (one of them)")
    if queue is not None and queue not in routing.queues:
        raise DeskError(f"no queue called {queue!r}")
    if agent_id is not None and (agent_id == staff_id or hotline.acd.agent(agent_id)["state"] != "available"):
        raise DeskError("that agent is not available")
    agent = _call_of(hotline, staff_id, call_sid)
    entry = hotline.acd.entry(call_sid)
    now = hotline.now()
    from_queue = agent.get("call_queue", "")
    target_queue = queue or from_queue
    detail = {"queue": from_queue, **({"to_queue": queue} if queue else {"to_agent": agent_id})}
    seats.talk_ended(hotline, call_sid, staff_id)
    seats.add_events(hotline, call_sid, now, ("transfer", detail))
    lang = entry.get("lang", "zh")
    hotline.acd.enqueue(
        call_sid,
        target_queue,
        priority=int(entry.get("priority") or 0),
        now=seats.epoch(now),
        patient_id=int(entry["patient_id"]) if entry.get("patient_id") else None,
        caller=entry.get("caller", ""),
        lang=lang,
    )
    if entry.get("live_sid") and entry["live_sid"] != call_sid:
        hotline.acd.callback_connected(call_sid, entry["live_sid"])
    if agent_id is not None:
        offer = hotline.acd.reserve(call_sid, agent_id, seats.epoch(now))
        if offer is not None and seats.ring(hotline, offer, now):
            return status(hotline, staff_id)
    _redirect(hotline, entry.get("live_sid") or call_sid, "queue/hold_again", q=target_queue, lang=lang)
    seats.dispatch(hotline)
    return status(hotline, staff_id)


def wrap_up(
    hotline: Hotline, session: Session, staff_id: int, call_sid: str, disposition: str, notes: str = ""
) -> dict:
    """Record the disposition (from config) and notes, and end wrap-up now (the agent is
    available again).  A wrap-up the timer already ended still gets its notes."""
    codes = [item.code for item in hotline.settings.console.dispositions]  # one list, with its labels
    if disposition not in codes:
        raise DeskError(f"disposition must be one of {', '.join(codes)}")
    agent = hotline.acd.agent(staff_id)
    wrapping = agent["state"] == "wrap_up" and agent.get("wrap_call") == call_sid
    if not wrapping and agent.get("wrap_call") != call_sid:
        raise DeskError("this is not a call you took")
    now = hotline.now()
    queue = agent.get("wrap_queue", "")
    records_seats.save_wrap_up(
        session, call_sid=call_sid, staff_id=staff_id, queue=queue, disposition=disposition, notes=notes[:4000], at=now
    )
    session.commit()
    if wrapping:
        result = hotline.acd.end_wrap_up(staff_id, seats.epoch(now))
        if result.ok:
            seats.add_events(hotline, call_sid, now, seats.wrap_up_event(queue, staff_id, result.seconds, disposition))
            seats.dispatch(hotline)
    return status(hotline, staff_id)


def _redirect(hotline: Hotline, live_sid: str, flow_step: str, **args: object) -> None:
    url = seats.step_url(seats.base_url(hotline), flow_step, **args)
    try:
        hotline.twilio.calls(live_sid).update(url=url, method="POST")
    except (TwilioException, requests.RequestException) as exc:
        log.info("call %s not redirected to %s: %s", live_sid, flow_step, exc)
