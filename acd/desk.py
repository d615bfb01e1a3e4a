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
import secrets
from datetime import datetime

import redis
import requests
from sqlalchemy.orm import Session
from twilio.base.exceptions import TwilioException

from acd import seats, talks
from extensions import Hotline
from records import seats as records_seats
from records.db import begin_write
from records.staff import get_staff
from records.titles import reason_title, state_title

log = logging.getLogger(__name__)
STATES = ("available", "break", "offline")
CONSOLE_SECONDS = 24 * 3600  # which console page counts, kept a working day and more


# Why the desk refuses, in both languages (the console shows the message as it comes);
# the code goes to the API's answer beside it, for scripts and tests.
REFUSALS = {
    "bad_state": "状态只能是 空闲、休息 或 离线 State must be one of {states}, not {state!r}",
    "no_agent": "没有这位坐席 No such agent",
    "no_skills": "该坐席尚未分配技能，请联系主管 This agent has no skills yet: ask a supervisor to give some",
    "busy": "请先结束通话（或拒接正在振铃的来电） Finish the call (or decline the ringing one) first",
    "wrap_up": "话后处理进行中，请先选择处理结果 Wrap-up is running: end it with a disposition first",
    "not_ringing": "这通来电不在为您振铃（可能已被他人接听或已超时） "
    "This call is not ringing for you (it may have been answered elsewhere or timed out)",
    "not_on_call": "您当前没有这通电话 You are not on this call",
    "phone_not_ringing": "您的电话尚未振铃，请稍后再试 Your phone is not ringing yet: try again in a moment",
    "phone_failed": "电话未能接听 The phone could not be answered: {detail}",
    "one_target": "请转给一个队列或一位坐席（二选一） Transfer to a queue or to an agent (one of them)",
    "no_queue": "没有这个队列 No queue called {queue!r}",
    "agent_unavailable": "该坐席现在不空闲 That agent is not available",
    "bad_disposition": "处理结果只能是 Disposition must be one of {codes}",
    "not_your_call": "这不是您接听的电话 This is not a call you took",
    "wrap_up_over": "此通话的话后处理已结束 The wrap-up of this call is over",
    "replaced": "您已在另一个窗口打开坐席页面，此窗口已停止工作 "
    "This console was opened in another window: this one has stopped",
}


class DeskError(Exception):
    """The agent cannot do that now; `code` is a key of REFUSALS, the message says why in both
    languages.  A refusal worded where it happens (the call controls' in acd/talks.py)
    comes as its message, code 'refused'."""

    def __init__(self, code: str, **fields: object):
        known = code in REFUSALS
        super().__init__(REFUSALS[code].format(**fields) if known else code)
        self.code = code if known else "refused"


def _queue_title(routing, name: str) -> dict[str, str] | None:
    queue = routing.queues.get(name)
    return queue.title.model_dump() if queue else None


def _iso(value: str | float | None, hotline: Hotline) -> str | None:
    if value in (None, ""):
        return None
    return datetime.fromtimestamp(float(value), hotline.settings.hospital.zone).isoformat()


def set_state(hotline: Hotline, session: Session, staff_id: int, state: str, reason: str = "") -> dict:
    """available | break (with a reason) | offline.  Going available reads the agent's skills."""
    name, skills = _agent_for(session, staff_id, state)
    now = hotline.now()
    reason = (reason or "").strip()[:40] if state == "break" else ("" if state == "available" else "logged_out")
    result = hotline.acd.set_state(staff_id, state, seats.epoch(now), reason=reason, name=name, skills=skills)
    if result.status in ("busy", "wrap_up"):  # on a call, or its wrap-up: the refusal of that name
        raise DeskError(result.status)
    if state == "available":
        seats.dispatch(hotline)
    return status(hotline, staff_id)


def _agent_for(session: Session, staff_id: int, state: str) -> tuple[str, dict[str, int]]:
    """The agent's name and skills, or the refusal: a state that does not exist, nobody by
    that id, or going available with no skills (no queue would ever reach them)."""
    if state not in STATES:
        raise DeskError("bad_state", states=", ".join(STATES), state=state)
    staff = get_staff(session, staff_id)
    if staff is None:
        raise DeskError("no_agent")
    skills = records_seats.agent_skills(session, staff_id)
    if state == "available" and not skills:
        raise DeskError("no_skills")
    return staff.display_name, skills


def open_console(hotline: Hotline, staff_id: int) -> str:
    """A console page opened for this agent becomes the one that counts: two would both ring,
    both offer Answer and both save a wrap-up.  The older one learns so at its next heartbeat
    (`heartbeat`) and stops."""
    console_id = secrets.token_hex(8)
    try:
        hotline.redis.set(_console_key(hotline, staff_id), console_id, ex=CONSOLE_SECONDS)
    except redis.RedisError:  # the page still opens; its status says the routing engine is away
        log.warning("console for agent %s not registered: Redis unavailable", staff_id)
    return console_id


def heartbeat(hotline: Hotline, staff_id: int, console_id: str | None = None) -> dict:
    """The console is alive; from a console another one replaced, nothing is done but saying so."""
    current = hotline.redis.get(_console_key(hotline, staff_id)) if console_id else None
    if current is not None and current != console_id:
        return {"replaced": True, "message": REFUSALS["replaced"]}
    alive = hotline.acd.heartbeat(staff_id, seats.epoch(hotline.now()))
    return {"logged_in": alive, "state": hotline.acd.agent(staff_id)["state"]}


def _console_key(hotline: Hotline, staff_id: int) -> str:
    return f"{hotline.settings.env.redis_prefix}acd:console:{staff_id}"


def status(hotline: Hotline, staff_id: int) -> dict:
    agent = hotline.acd.agent(staff_id)
    now = seats.epoch(hotline.now())
    return {
        **_agent_view(hotline, staff_id, agent, now),
        "offer": _offer_view(hotline, agent, now),
        "call": _call_view(hotline, agent, now),
        "wrap_up": _wrap_up_view(hotline, agent),
        "monitoring": _monitoring_view(hotline, staff_id),
    }


def _agent_view(hotline: Hotline, staff_id: int, agent: dict, now: float) -> dict:
    """The agent's state and reason, titled in both languages for the screen, and the queues
    their skills serve."""
    routing = hotline.settings.routing
    skills = _skills(agent)
    mine = [name for name, queue in routing.queues.items() if queue.skill in skills]
    return {
        "staff_id": staff_id,
        "state": agent["state"],
        "state_title": state_title(agent["state"]),  # both languages for the screen
        "reason": agent.get("reason", ""),
        "reason_title": reason_title(agent.get("reason", ""), hotline.settings.console.break_reasons),
        "since": _iso(agent.get("since"), hotline),
        "queues": hotline.acd.queue_stats(mine, now),
    }


def _caller_view(entry: dict) -> dict:
    return {
        "patient_id": int(entry["patient_id"]) if entry.get("patient_id") else None,
        "caller": entry.get("caller", ""),
    }


def _offer_view(hotline: Hotline, agent: dict, now: float) -> dict | None:
    """The call ringing for the agent, and until when it rings."""
    if agent["state"] != "reserved" or not agent.get("offer"):
        return None
    routing = hotline.settings.routing
    entry = hotline.acd.entry(agent["offer"])
    rings_until = float(agent.get("since") or now) + routing.offer_timeout_seconds
    return {
        "call_sid": agent["offer"],
        "queue": agent.get("offer_queue", ""),
        "queue_title": _queue_title(routing, agent.get("offer_queue", "")),
        **_caller_view(entry),
        "kind": "consult" if agent.get("offer_kind") == "consult" else entry.get("kind", "call"),
        "expires_at": _iso(rings_until, hotline),
    }


def _call_view(hotline: Hotline, agent: dict, now: float) -> dict | None:
    """The call the agent is on, with what its talk allows now (hold, consult, a third party)."""
    if agent["state"] != "on_call" or not agent.get("call"):
        return None
    entry = hotline.acd.entry(agent["call"])
    return {
        "call_sid": agent["call"],
        "queue": agent.get("call_queue", ""),
        "queue_title": _queue_title(hotline.settings.routing, agent.get("call_queue", "")),
        **_caller_view(entry),
        "since": _iso(agent.get("call_since"), hotline),
        **talks.view(hotline.acd.talk(agent["call"]), now, _outside_labels(hotline)),
    }


def _wrap_up_view(hotline: Hotline, agent: dict) -> dict | None:
    if agent["state"] != "wrap_up":
        return None
    return {
        "call_sid": agent.get("wrap_call", ""),
        "queue": agent.get("wrap_queue", ""),
        "ends_at": _iso(agent.get("wrap_until"), hotline),
    }


def _monitoring_view(hotline: Hotline, staff_id: int) -> dict | None:
    """The talk this supervisor listens to (or whispers in, or has barged into)."""
    monitored = hotline.acd.monitoring(staff_id)
    if not monitored:
        return None
    talk = hotline.acd.talk(monitored)
    if talk.get("monitor_staff") != str(staff_id):
        return None
    return {
        "call_sid": monitored,
        "mode": talk.get("monitor_mode") or "listen",
        "state": "talking" if talks.answered(talk, "monitor") else "ringing",
    }


def _skills(agent: dict) -> dict[str, int]:
    import json

    try:
        return json.loads(agent.get("skills") or "{}")
    except ValueError:
        return {}


def _offer_of(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    agent = hotline.acd.agent(staff_id)
    if agent["state"] != "reserved" or agent.get("offer") != call_sid:
        raise DeskError("not_ringing")
    return agent


def _call_of(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    agent = hotline.acd.agent(staff_id)
    if agent["state"] != "on_call" or agent.get("call") != call_sid:
        raise DeskError("not_on_call")
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
            raise DeskError("phone_not_ringing")
        sid = ringing.json()["sid"]
        requests.post(f"{base}/_emulator/calls/{sid}/answer", json={}, timeout=10).raise_for_status()
    except requests.RequestException as exc:
        raise DeskError("phone_failed", detail=exc) from None


def decline(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    """Refuse the ringing offer: the caller goes back on hold in their place and is offered
    to the next agent (never again to this one); this agent stays available."""
    agent = _offer_of(hotline, staff_id, call_sid)
    if agent.get("offer_kind") == "consult":  # asked to help a colleague: their caller stays with them
        if not _end_consult(hotline, staff_id, call_sid, "declined"):
            hotline.acd.consult_ended(call_sid, staff_id, seats.epoch(hotline.now()))
        return status(hotline, staff_id)
    _declined(hotline, staff_id, call_sid)
    return status(hotline, staff_id)


def _declined(hotline: Hotline, staff_id: int, call_sid: str) -> None:
    """The caller's offer released: back on hold in their place, and the next agent sought."""
    now = hotline.now()
    entry = hotline.acd.entry(call_sid)
    result = hotline.acd.release(call_sid, staff_id, seats.epoch(now), "declined")
    if result.ok:
        detail = {"queue": result.queue, "agent_id": staff_id, "reason": "declined"}
        seats.add_events(hotline, call_sid, now, ("missed_offer", detail))
        if entry.get("kind") == "call" and entry.get("live_sid"):
            _redirect(hotline, entry["live_sid"], "queue/hold_again", q=result.queue, lang=entry.get("lang", "zh"))
        seats.dispatch(hotline)


def _end_consult(hotline: Hotline, staff_id: int, call_sid: str, how: str) -> bool:
    """This agent's consult about a colleague's caller ends (`how`: 'declined', 'hung up'); the
    caller stays with the colleague.  False when this agent is not the consult's."""
    talk = hotline.acd.talk(call_sid)
    if not (talk.get("consult_leg") and talk.get("consult_agent") == str(staff_id)):
        return False
    owner = talk.get("owner", "")
    talks.consult_over(hotline, call_sid, int(owner) if owner.isdigit() else None, talk["consult_leg"], how)
    _hang_up(hotline, talk["consult_leg"])
    return True


def hangup(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    """End the talk from the console: the caller goes on to the post-call step, the agent
    to wrap-up."""
    _call_of(hotline, staff_id, call_sid)
    # Consulted about a colleague's caller: only this consult ends; the caller stays with them.
    if _end_consult(hotline, staff_id, call_sid, "hung up"):
        return status(hotline, staff_id)
    entry = hotline.acd.entry(call_sid)
    seats.talk_ended(hotline, call_sid, staff_id)
    if entry.get("live_sid"):
        args = {"entry": call_sid, "agent": staff_id, "lang": entry.get("lang", "zh")}
        _redirect(hotline, entry["live_sid"], "queue/after_call", **args)
    return status(hotline, staff_id)


def transfer(
    hotline: Hotline, staff_id: int, call_sid: str, *, queue: str | None = None, agent_id: int | None = None
) -> dict:
    """Hand the caller to another queue (they wait there with their priority) or straight
    to an available agent (whose phone rings now).  This agent goes to wrap-up."""
    _check_transfer(hotline, staff_id, queue, agent_id)
    agent = _call_of(hotline, staff_id, call_sid)
    entry = hotline.acd.entry(call_sid)
    now = hotline.now()
    from_queue = agent.get("call_queue", "")
    target_queue = queue or from_queue
    detail = {"queue": from_queue, **({"to_queue": queue} if queue else {"to_agent": agent_id})}
    seats.talk_ended(hotline, call_sid, staff_id)
    seats.add_events(hotline, call_sid, now, ("transfer", detail))
    _requeue(hotline, call_sid, entry, target_queue, now)
    if agent_id is not None and _ring_agent(hotline, call_sid, agent_id, now):
        return status(hotline, staff_id)
    _wait_in(hotline, call_sid, entry, target_queue)
    return status(hotline, staff_id)


def _wait_in(hotline: Hotline, call_sid: str, entry: dict, queue: str) -> None:
    """The transferred caller on hold in `queue`, and the next free agent sought."""
    lang = entry.get("lang", "zh")
    _redirect(hotline, entry.get("live_sid") or call_sid, "queue/hold_again", q=queue, lang=lang)
    seats.dispatch(hotline)


def _check_transfer(hotline: Hotline, staff_id: int, queue: str | None, agent_id: int | None) -> None:
    """One target: a queue that exists, or another agent who is available now."""
    if (queue is None) == (agent_id is None):
        raise DeskError("one_target")
    if queue is not None and queue not in hotline.settings.routing.queues:
        raise DeskError("no_queue", queue=queue)
    if agent_id is not None and (agent_id == staff_id or hotline.acd.agent(agent_id)["state"] != "available"):
        raise DeskError("agent_unavailable")


def _requeue(hotline: Hotline, call_sid: str, entry: dict, queue: str, now: datetime) -> None:
    """The caller into `queue` with the priority they had; a called-back patient's live call
    stays the one the ACD redirects."""
    hotline.acd.enqueue(
        call_sid,
        queue,
        priority=int(entry.get("priority") or 0),
        now=seats.epoch(now),
        patient_id=int(entry["patient_id"]) if entry.get("patient_id") else None,
        caller=entry.get("caller", ""),
        lang=entry.get("lang", "zh"),
    )
    if entry.get("live_sid") and entry["live_sid"] != call_sid:
        hotline.acd.callback_connected(call_sid, entry["live_sid"])


def _ring_agent(hotline: Hotline, call_sid: str, agent_id: int, now: datetime) -> bool:
    """The caller offered to `agent_id` now; False if the agent was taken meanwhile or the
    phone could not ring (the caller then waits in the queue)."""
    offer = hotline.acd.reserve(call_sid, agent_id, seats.epoch(now))
    return offer is not None and seats.ring(hotline, offer, now)


def wrap_up(
    hotline: Hotline, session: Session, staff_id: int, call_sid: str, disposition: str, notes: str = ""
) -> dict:
    """Record the disposition (from config) and notes, and end wrap-up now (the agent is
    available again).  A wrap-up the timer already ended still gets its notes."""
    wrapping, queue = _wrap_up_of(hotline, staff_id, call_sid, disposition)
    now = hotline.now()
    _save_wrap_up(session, staff_id, call_sid, queue, disposition, notes[:4000], now, wrapping)
    hotline.acd.take_draft(staff_id, call_sid)
    if wrapping:
        result = hotline.acd.end_wrap_up(staff_id, seats.epoch(now))
        if result.ok:
            seats.add_events(hotline, call_sid, now, seats.wrap_up_event(queue, staff_id, result.seconds, disposition))
            seats.dispatch(hotline)
    return status(hotline, staff_id)


def _wrap_up_of(hotline: Hotline, staff_id: int, call_sid: str, disposition: str) -> tuple[bool, str]:
    """Whether the agent is wrapping `call_sid` up now (False: its timer ended it first) and
    its queue; refused for a disposition not in the config or a call this agent did not take."""
    codes = [item.code for item in hotline.settings.console.dispositions]  # one list, with its labels
    if disposition not in codes:
        raise DeskError("bad_disposition", codes=", ".join(codes))
    agent = hotline.acd.agent(staff_id)
    wrapping = agent["state"] == "wrap_up" and agent.get("wrap_call") == call_sid
    if not wrapping and agent.get("wrap_call") != call_sid:
        raise DeskError("not_your_call")
    return wrapping, agent.get("wrap_queue", "")


def _save_wrap_up(
    session: Session,
    staff_id: int,
    call_sid: str,
    queue: str,
    disposition: str,
    notes: str,
    at: datetime,
    wrapping: bool,
) -> None:
    # The request has read (the login, the agent): on SQLite a write in that same transaction
    # fails at once, 'database is locked', while the records worker writes (issue 22.5).
    begin_write(session)
    late = None if wrapping else records_seats.unfinished_wrap_up(session, call_sid, staff_id)
    if late is not None:  # the timer ran out first and saved the draft: this is the real one
        late.disposition, late.notes, late.at = disposition, notes, at
    else:
        records_seats.save_wrap_up(
            session, call_sid=call_sid, staff_id=staff_id, queue=queue, disposition=disposition, notes=notes, at=at
        )
    session.commit()


def save_draft(hotline: Hotline, staff_id: int, call_sid: str, notes: str) -> dict:
    """The notes typed so far in the wrap-up of `call_sid`, kept for the timer running out."""
    agent = hotline.acd.agent(staff_id)
    if agent["state"] != "wrap_up" or agent.get("wrap_call") != call_sid:
        raise DeskError("wrap_up_over")
    hotline.acd.save_draft(staff_id, call_sid, notes[:4000])
    return {"saved": True}


def _redirect(hotline: Hotline, live_sid: str, flow_step: str, **args: object) -> None:
    url = seats.step_url(seats.base_url(hotline), flow_step, **args)
    try:
        hotline.twilio.calls(live_sid).update(url=url, method="POST")
    except (TwilioException, requests.RequestException) as exc:
        log.info("call %s not redirected to %s: %s", live_sid, flow_step, exc)


def _hang_up(hotline: Hotline, call_sid: str) -> None:
    if call_sid == talks.PENDING:
        return
    try:
        hotline.twilio.calls(call_sid).update(status="completed")
    except (TwilioException, requests.RequestException) as exc:
        log.info("leg %s not hung up: %s", call_sid, exc)


# ---- call controls: the talk is a conference (issue 14, acd/talks.py) ------------------------------


def _outside_labels(hotline: Hotline) -> dict[str, str]:
    return {item.key: f"{item.label.zh} {item.label.en}" for item in hotline.settings.console.consult_numbers}


def _owner(hotline: Hotline, staff_id: int, call_sid: str) -> dict:
    """The ACD entry of the caller this agent is talking with; refused otherwise."""
    agent = hotline.acd.agent(staff_id)
    if agent["state"] != "on_call" or agent.get("call") != call_sid:
        raise talks.TalkRefused("not_on_call")
    talk = hotline.acd.talk(call_sid)
    if talk.get("conf") == "1" and talk.get("owner") != str(staff_id):
        raise talks.TalkRefused("not_on_call")  # consulted about it: the owner holds and transfers
    return hotline.acd.entry(call_sid)


# What each call control does: (hotline, call_sid, staff_id, lang, target) -> the talk changed.
CALL_CONTROLS = {
    "hold": lambda hotline, sid, me, lang, target: talks.hold(hotline, sid, me, lang),
    "resume": lambda hotline, sid, me, lang, target: talks.resume(hotline, sid, me),
    "consult": lambda hotline, sid, me, lang, target: talks.consult(
        hotline, sid, me, to_agent=target.get("to_agent"), outside=target.get("outside"), lang=lang
    ),
    "consult_cancel": lambda hotline, sid, me, lang, target: talks.cancel_consult(hotline, sid, me),
    "complete_transfer": lambda hotline, sid, me, lang, target: talks.complete_transfer(hotline, sid, me),
    "add_party": lambda hotline, sid, me, lang, target: talks.add_party(hotline, sid, me, target.get("outside"), lang),
    "drop_party": lambda hotline, sid, me, lang, target: talks.drop_party(hotline, sid, me),
}


def call_control(hotline: Hotline, staff_id: int, call_sid: str, action: str, **target: object) -> dict:
    """hold | resume | consult (to_agent or outside) | consult_cancel | complete_transfer |
    add_party (outside) | drop_party, by the agent who owns the talk."""
    entry = _owner(hotline, staff_id, call_sid)
    if action not in CALL_CONTROLS:
        raise ValueError(f"no call control {action!r}")
    CALL_CONTROLS[action](hotline, call_sid, staff_id, entry.get("lang", "zh"), target)
    return status(hotline, staff_id)


def directory(hotline: Hotline, staff_id: int) -> dict:
    """Whom a consult or a third party can reach: the other agents (with their state) and
    the configured outside numbers."""
    snapshot = hotline.acd.snapshot(hotline.now())
    agents = [
        {"staff_id": a["staff_id"], "display_name": a["display_name"], "state": a["state"]}
        for a in snapshot["agents"]
        if a["staff_id"] != staff_id and a["state"] != "offline"
    ]
    outside = [{"key": n.key, "label": n.label.model_dump()} for n in hotline.settings.console.consult_numbers]
    return {"agents": agents, "outside": outside}


# ---- a supervisor on an agent's call (issue 14) ------------------------------------------------------------


def listen(hotline: Hotline, session: Session, staff_id: int, call_sid: str, reason: str) -> dict:
    """Ring the supervisor's phone into the talk, muted.  Every listen is audited (who, which
    call, when, why), also one the carrier then refuses: the listen was asked for."""
    reason = (reason or "").strip()
    entry = _listenable(hotline, staff_id, call_sid, reason)
    _audit_listen(hotline, session, staff_id, call_sid, reason, entry)
    talks.listen(hotline, call_sid, staff_id, entry.get("lang", "zh"))
    base = hotline.settings.env.twilio_api_base
    if base:  # the local carrier emulator (the demo): the supervisor's emulated phone picks up
        try:
            _answer_emulated_leg(base.rstrip("/"), staff_id)
        except DeskError as exc:
            log.info("supervisor %s: emulated phone not answered: %s", staff_id, exc)
    return status(hotline, staff_id)


def _listenable(hotline: Hotline, staff_id: int, call_sid: str, reason: str) -> dict:
    """The caller's entry, or the refusal: no reason given, nobody talking with the caller in a
    conference, or this supervisor already listening to a call."""
    if len(reason) < hotline.settings.console.search_reason_min_length:
        raise talks.TalkRefused("reason_needed")
    entry = hotline.acd.entry(call_sid)
    if entry.get("state") != "connected" or hotline.acd.talk(call_sid).get("conf") != "1":
        raise talks.TalkRefused("not_talking")
    if hotline.acd.monitoring(staff_id):
        raise talks.TalkRefused("already_monitoring")
    return entry


def _audit_listen(hotline: Hotline, session: Session, staff_id: int, call_sid: str, reason: str, entry: dict) -> None:
    from records.audit import record_access

    begin_write(session)
    record_access(
        session,
        staff_id=staff_id,
        action="listen_call",
        reason=reason[:500],
        patient_id=int(entry["patient_id"]) if entry.get("patient_id") else None,
        call_sid=call_sid,
        at=hotline.now(),
    )
    session.commit()


def monitor(hotline: Hotline, staff_id: int, call_sid: str, mode: str) -> dict:
    """whisper | barge | stop, on the call this supervisor listens to."""
    if mode == "stop":
        talks.stop_monitoring(hotline, call_sid, staff_id)
    elif mode in ("whisper", "barge"):
        talks.coach(hotline, call_sid, staff_id, mode)
    else:
        raise ValueError(f"no monitoring mode {mode!r}")
    return status(hotline, staff_id)
