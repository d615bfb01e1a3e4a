"""An agent's talk with a caller as a Twilio conference (issue 14): hold, consult transfer,
a third party, and a supervisor's listen / whisper / barge.

The conference is named after the caller's entry (the CallSid the ACD knows the call by:
nothing personal in the name).  The caller joins it by TwiML (ivr/flows/queue.py, with
`endConferenceOnExit`: the caller hanging up ends the talk); everybody else is a leg the
Participants API dials, each with a status callback (`queue/leg`, role agent | consult |
party | monitor) that tells us when it answers and when it ends.  The owner of the talk
(the agent, or whoever a transfer gave the caller to) has `endConferenceOnExit` too, so
their hanging up ends the talk and the caller goes on to the survey, as before.

What the talk is like now is kept with the caller's ACD entry (`talk_*` fields, see
`ACD.talk`); the rules below read that dict and say what is allowed, pure functions
tested without a server.  Participants are always addressed by CallSid, never by label.

Every change that could leave the caller alone is ordered so that each prefix of it
still leaves them with somebody (see `complete_transfer`).
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

import requests
from twilio.base.exceptions import TwilioException

from extensions import Hotline

log = logging.getLogger(__name__)

CARRIER_ERRORS = (TwilioException, requests.RequestException)
ROLES = ("agent", "consult", "party", "monitor")
MONITOR_MODES = ("listen", "whisper", "barge")

# What a refusal says: Chinese first, then English, in one string (the console shows it).
REFUSALS = {
    "not_on_call": "您当前没有这通电话 You are not on this call",
    "no_controls": "这通电话不支持保持或转接 This call cannot be held or transferred (it is not a conference)",
    "already_held": "来电者已在保持中 The caller is already on hold",
    "not_held": "来电者没有在保持中 The caller is not on hold",
    "consult_running": "已有一个咨询在进行 A consult is already running",
    "no_consult": "当前没有咨询 There is no consult to end or complete",
    "consult_ringing": "对方尚未接听，无法完成转接 The other party has not answered yet: the transfer cannot complete",
    "agent_unavailable": "该坐席现在不空闲 That agent is not available",
    "self": "不能咨询自己 You cannot consult yourself",
    "unknown_number": "没有这个外线号码 No such outside number",
    "one_target": "请选择一位坐席或一个外线号码 Choose an agent or an outside number (one of them)",
    "party_present": "已有第三方在通话中 A third party is already in the call",
    "no_party": "当前没有第三方 There is no third party to drop",
    "supervisors_only": "只有班长可以监听、密语或插话 Only a supervisor can listen, whisper or barge in",
    "reason_needed": "请填写监听原因 Give a reason for listening",
    "not_talking": "这通电话现在没有坐席在通话 Nobody is talking with this caller now",
    "already_monitoring": "您已在监听一通电话 You are already listening to a call",
    "not_monitoring": "您没有在监听这通电话 You are not listening to this call",
    "monitor_ringing": "您的电话尚未接通 Your phone has not connected yet",
}
CARRIER_REFUSED = "电话网络拒绝了操作，通话保持不变 The phone network refused: the call is unchanged"


class TalkRefused(Exception):
    """The change is not allowed now; `code` is a key of REFUSALS."""

    def __init__(self, code: str):
        super().__init__(REFUSALS[code])
        self.code = code


class CarrierRefused(Exception):
    """The carrier's REST API refused (or could not be reached); the caller is unchanged."""

    def __init__(self, detail: str = ""):
        super().__init__(CARRIER_REFUSED)
        self.detail = detail


# ---- the rules (pure) --------------------------------------------------------------------------------


PENDING = "pending"  # a leg being placed: its REST answer (and so its CallSid) is not back yet


def answered(talk: dict[str, str], role: str) -> bool:
    """Whether the `role` leg has answered.  A leg's status callbacks may come before the REST
    answer that tells us its CallSid, so they are kept as `<role>_answered` / `<role>_ended`
    (the CallSid they were about) and compared with `<role>_leg` once it is known."""
    leg = talk.get(f"{role}_leg")
    return bool(leg) and leg != PENDING and talk.get(f"{role}_answered") == leg


def held_seconds(talk: dict[str, str], now: float) -> float:
    """How long the caller has been held in the current owner's part of the talk."""
    total = float(talk.get("hold_total") or 0)
    since = talk.get("hold_since")
    return total + (max(0.0, now - float(since)) if since else 0.0)


@dataclass(frozen=True)
class Request:
    """A change an agent (or supervisor) asks of a talk."""

    action: str  # hold | resume | consult | consult_cancel | complete_transfer | add_party | drop_party
    to_agent: int | None = None
    outside: str | None = None


# action -> what must be true of the talk, checked in this order: (test, refusal code).
_NEEDS = {
    "hold": (("held", False, "already_held"),),
    "resume": (("held", True, "not_held"), ("consult", False, "consult_running")),
    "consult": (("consult", False, "consult_running"),),
    "consult_cancel": (("consult", True, "no_consult"),),
    "complete_transfer": (("consult", True, "no_consult"), ("consult_talking", True, "consult_ringing")),
    "add_party": (("party", False, "party_present"),),
    "drop_party": (("party", True, "no_party"),),
}


def refusal(talk: dict[str, str], request: Request) -> str | None:
    """Why `request` cannot be done on a talk in state `talk` (a REFUSALS key), or None."""
    if talk.get("conf") != "1":
        return "no_controls"
    facts = {
        "held": bool(talk.get("hold_since")),
        "consult": bool(talk.get("consult_leg")),
        "consult_talking": answered(talk, "consult"),
        "party": bool(talk.get("party_leg")),
    }
    for fact, wanted, code in _NEEDS[request.action]:
        if facts[fact] != wanted:
            return code
    return _target_refusal(request)


def _target_refusal(request: Request) -> str | None:
    """A consult rings one agent or one outside number; a third party is an outside number."""
    if request.action == "consult" and (request.to_agent is None) == (request.outside is None):
        return "one_target"
    if request.action == "add_party" and request.outside is None:
        return "unknown_number"
    return None


def view(talk: dict[str, str], now: float, labels: dict[str, str]) -> dict:
    """The talk as the console's status shows it (`labels`: outside key -> its label)."""
    return {
        "controls": talk.get("conf") == "1",
        "on_hold": bool(talk.get("hold_since")),
        "hold_seconds": round(held_seconds(talk, now)),
        "consult": _leg_view(talk, "consult", labels),
        "party": _leg_view(talk, "party", labels),
        "monitor": _monitor_view(talk),
    }


def _leg_view(talk: dict[str, str], role: str, labels: dict[str, str]) -> dict | None:
    """A consult or third-party leg: who (an agent, or an outside number and its label), and
    whether it rings or talks."""
    if not talk.get(f"{role}_leg"):
        return None
    agent = talk.get(f"{role}_agent")
    key = talk.get(f"{role}_key") or None
    return {
        "agent_id": int(agent) if agent else None,
        "outside": key,
        "label": labels.get(key or "", ""),
        "state": "talking" if answered(talk, role) else "ringing",
    }


def _monitor_view(talk: dict[str, str]) -> dict | None:
    if not talk.get("monitor_leg"):
        return None
    return {
        "staff_id": int(talk.get("monitor_staff") or 0),
        "mode": talk.get("monitor_mode") or "listen",
        "state": "talking" if answered(talk, "monitor") else "ringing",
    }


# ---- the carrier --------------------------------------------------------------------------------------


def _epoch(when: datetime) -> float:
    return when.timestamp()


def _url(hotline: Hotline, flow_step: str, **args: object) -> str:
    from acd import seats

    return seats.step_url(seats.base_url(hotline), flow_step, **args)


def _participants(hotline: Hotline, talk: dict[str, str]):
    return hotline.twilio.conferences(talk["conf_sid"]).participants


def _dial(
    hotline: Hotline, entry: str, to: str, role: str, *, label: str, lang: str, wait_url: str = "", **options: object
):
    """Ring `to` into the entry's conference; returns the Participant (call_sid, conference_sid).
    `wait_url`: what the leg hears until the talk starts ('': silence)."""
    args = {"entry": entry, "role": role, "lang": lang}
    if options.pop("agent", None) is not None:
        args["agent"] = to.removeprefix("client:agent-")
    return hotline.twilio.conferences(entry).participants.create(
        from_=hotline.settings.twilio.caller_id,
        to=to,
        label=label,
        timeout=hotline.settings.routing.offer_timeout_seconds,
        early_media=True,
        beep="false",
        wait_url=wait_url,
        status_callback=_url(hotline, "queue/leg", **args),
        status_callback_event=["answered", "completed"],
        **options,
    )


def _fields(role: str, **values: object) -> dict[str, object]:
    return {f"{role}_{name}": value for name, value in values.items()}


def _clear(role: str) -> dict[str, object]:
    return _fields(role, leg=None, agent=None, key=None, answered=None, ended=None, staff=None, mode=None)


def _place(
    hotline: Hotline,
    entry: str,
    role: str,
    to: str,
    *,
    label: str,
    lang: str,
    fields: dict[str, object],
    **options: object,
) -> str:
    """Place a consult, party or monitor leg: marked pending (with `fields`) before the REST
    request, so that its status callbacks, which may come first, are kept; then caught up."""
    hotline.acd.set_talk(entry, **{**_clear(role), **_fields(role, leg=PENDING, **fields)})
    try:
        leg = _dial(hotline, entry, to, role, label=label, lang=lang, **options)
    except CARRIER_ERRORS as exc:
        hotline.acd.set_talk(entry, **_clear(role))
        raise CarrierRefused(str(exc)) from None
    hotline.acd.set_talk(entry, **_fields(role, leg=leg.call_sid))
    if hotline.acd.talk(entry).get(f"{role}_ended") == leg.call_sid:  # it ended before we knew its CallSid
        leg_ended(hotline, entry, role, leg.call_sid, "completed")
    return leg.call_sid


def start(hotline: Hotline, entry: str, agent_id: int, lang: str) -> str:
    """Ring the agent into a new talk for `entry` (the caller joins by TwiML); returns the
    agent's leg.  Raises CarrierRefused: the caller is then connected the old way.
    The agent's phone may be answered before the caller is in (the caller first hears that
    they are being put through): the agent does not start the talk, and hears until the
    caller starts it that the call is coming (queue/agent_wait), not silence."""
    try:
        leg = _dial(
            hotline,
            entry,
            f"client:agent-{agent_id}",
            "agent",
            label=f"agent-{agent_id}",
            lang=lang,
            agent=agent_id,
            wait_url=_url(hotline, "queue/agent_wait", lang=lang),
            start_conference_on_enter=False,
            end_conference_on_exit=True,
        )
    except CARRIER_ERRORS as exc:
        raise CarrierRefused(str(exc)) from None
    _new_talk(hotline, entry, agent_id, leg)
    return leg.call_sid


def _new_talk(hotline: Hotline, entry: str, agent_id: int, leg) -> None:
    """The talk's state as it starts: this agent owns it, nobody held, no consult, third party
    or supervisor (what an earlier talk of the same entry left is cleared)."""
    hotline.acd.set_talk(
        entry,
        conf="1",
        conf_sid=leg.conference_sid,
        agent_leg=leg.call_sid,
        owner=agent_id,
        hold_total=0,
        hold_since=None,
        **_clear("consult"),
        **_clear("party"),
        **_clear("monitor"),
    )


def announce(hotline: Hotline, entry: str, leg: str, url: str) -> None:
    """Play `url` to the `leg` participant alone (Participant update, AnnounceUrl): what the
    agent hears as the talk starts.  A refusal only costs the announcement."""
    talk = hotline.acd.talk(entry)
    if talk.get("conf") != "1" or not talk.get("conf_sid"):
        return
    try:
        _participants(hotline, talk)(leg).update(announce_url=url, announce_method="POST")
    except CARRIER_ERRORS as exc:
        log.info("talk %s: no announcement for leg %s: %s", talk.get("conf_sid"), leg, exc)


def caller_joined(hotline: Hotline, entry: str) -> bool:
    """Whether the caller has been in the entry's talk: asked of the carrier, since the caller
    alone starts its conference (the agent's leg has startConferenceOnEnter false), so one still
    'init' never had them.  Asked before `end`, whose hang-up of the agent's leg ends it.
    True without a conference (the agent dialled by the caller's own <Dial>, whose whisper
    marks the answer as the two are bridged) and when the carrier cannot say: a wrap-up too
    many costs the agent seconds, one too few the notes of a real talk."""
    talk = hotline.acd.talk(entry)
    if talk.get("conf") != "1" or not talk.get("conf_sid"):
        return True
    try:
        return hotline.twilio.conferences(talk["conf_sid"]).fetch().status != "init"
    except CARRIER_ERRORS as exc:
        log.info("talk %s: not known whether the caller joined: %s", talk["conf_sid"], exc)
        return True


def end(hotline: Hotline, entry: str) -> None:
    """End the entry's talk on the carrier before the caller joined it: the agent's leg, which
    still rings or waits alone, is hung up (its end ends the conference: end_conference_on_exit).
    By the Calls resource, whose `Status=completed` hangs up a call ringing or answered: the
    conference itself is not started yet (its only participant does not start it), and
    Twilio documents ending one in progress, not one that never started.  A refusal (the leg
    has ended already) is only logged."""
    talk = hotline.acd.talk(entry)
    if talk.get("conf") != "1" or not talk.get("agent_leg"):
        return  # no conference: the agent was not rung, or is dialled by the caller's own <Dial>
    try:
        hotline.twilio.calls(talk["agent_leg"]).update(status="completed")
    except CARRIER_ERRORS as exc:
        log.info("talk %s: agent's leg not ended: %s", talk.get("conf_sid"), exc)


def _caller_leg(hotline: Hotline, entry: str) -> str:
    return hotline.acd.entry(entry).get("live_sid") or entry


def _update(hotline: Hotline, talk: dict[str, str], call_sid: str, **changes: object) -> None:
    try:
        _participants(hotline, talk)(call_sid).update(**changes)
    except CARRIER_ERRORS as exc:
        raise CarrierRefused(str(exc)) from None


def _drop(hotline: Hotline, talk: dict[str, str], call_sid: str) -> bool:
    try:
        _participants(hotline, talk)(call_sid).delete()
        return True
    except CARRIER_ERRORS as exc:
        log.info("talk %s: leg %s not dropped: %s", talk.get("conf_sid"), call_sid, exc)
        return False


def _check(hotline: Hotline, entry: str, request: Request) -> dict[str, str]:
    talk = hotline.acd.talk(entry)
    code = refusal(talk, request)
    if code:
        raise TalkRefused(code)
    return talk


def _event(hotline: Hotline, entry: str, kind: str, **detail: object) -> None:
    from acd import seats

    queue = hotline.acd.entry(entry).get("queue", "")
    seats.add_events(hotline, entry, hotline.now(), (kind, {"queue": queue, **detail}))


def hold(hotline: Hotline, entry: str, agent_id: int, lang: str = "zh") -> None:
    talk = _check(hotline, entry, Request("hold"))
    _update(
        hotline,
        talk,
        _caller_leg(hotline, entry),
        hold=True,
        hold_url=_url(hotline, "queue/on_hold", lang=lang),
        hold_method="POST",
    )
    hotline.acd.set_talk(entry, hold_since=_epoch(hotline.now()))
    _event(hotline, entry, "hold", agent_id=agent_id)


def resume(hotline: Hotline, entry: str, agent_id: int, *, during_consult: bool = False) -> None:
    talk = hotline.acd.talk(entry)
    if not during_consult:
        talk = _check(hotline, entry, Request("resume"))
    elif not talk.get("hold_since"):
        return
    _update(hotline, talk, _caller_leg(hotline, entry), hold=False)
    now = _epoch(hotline.now())
    seconds = now - float(talk["hold_since"])
    hotline.acd.set_talk(entry, hold_since=None, hold_total=held_seconds(talk, now))
    _event(hotline, entry, "resume", agent_id=agent_id, seconds=round(seconds))


def consult(
    hotline: Hotline,
    entry: str,
    agent_id: int,
    *,
    to_agent: int | None = None,
    outside: str | None = None,
    lang: str = "zh",
) -> None:
    """Put the caller on hold and ring another agent (or an outside number) into the talk."""
    talk = _check(hotline, entry, Request("consult", to_agent, outside))
    number = _consult_target(hotline, entry, agent_id, to_agent, outside)
    held_here = not talk.get("hold_since")
    try:
        if held_here:
            hold(hotline, entry, agent_id, lang)
        _ring_consult(hotline, entry, to_agent, number, lang)
    except CarrierRefused:
        _consult_refused(hotline, entry, agent_id, to_agent, held_here)
        raise
    target = {"to_agent": to_agent} if number is None else {"to_number": number.key}
    _event(hotline, entry, "consult", agent_id=agent_id, **target)


def _consult_target(hotline: Hotline, entry: str, agent_id: int, to_agent: int | None, outside: str | None):
    """The outside number to ring, or None for an agent (reserved here for the consult); refused
    for oneself, an agent who is not available or a number not configured."""
    if to_agent is None:
        number = hotline.settings.console.consult_number(outside or "")
        if number is None:
            raise TalkRefused("unknown_number")
        return number
    if to_agent == agent_id:
        raise TalkRefused("self")
    if not hotline.acd.consult_reserve(entry, to_agent, _epoch(hotline.now())):
        raise TalkRefused("agent_unavailable")
    return None


def _ring_consult(hotline: Hotline, entry: str, to_agent: int | None, number, lang: str) -> None:
    if number is None:
        agent = {"agent": to_agent}  # the leg's status callback says which agent answered
        to, label, fields, options = f"client:agent-{to_agent}", f"consult-{to_agent}", agent, agent
    else:
        to, label, fields, options = number.number, f"consult-{number.key}", {"key": number.key}, {}
    _place(hotline, entry, "consult", to, label=label, lang=lang, fields=fields, **options)


def _consult_refused(hotline: Hotline, entry: str, agent_id: int, to_agent: int | None, held_here: bool) -> None:
    """The carrier refused the consult's leg: the consulted agent is free again, and a caller
    this consult put on hold is taken off it."""
    if to_agent is not None:
        hotline.acd.consult_ended(entry, to_agent, _epoch(hotline.now()))
    if held_here and hotline.acd.talk(entry).get("hold_since"):
        try:
            resume(hotline, entry, agent_id, during_consult=True)
        except CarrierRefused:
            log.warning("talk %s: the caller stays on hold after a failed consult", entry)


def consult_over(hotline: Hotline, entry: str, agent_id: int | None, leg: str, reason: str) -> bool:
    """The consult leg `leg` ended (cancelled, not answered, hung up) without a transfer:
    the consulted agent is free and the caller is taken off hold.  False if `leg` is not
    the running consult (already transferred, or an old leg)."""
    talk = hotline.acd.talk(entry)
    if talk.get("consult_leg") != leg:
        return False
    consulted = talk.get("consult_agent")
    hotline.acd.set_talk(entry, **_clear("consult"))
    if consulted:
        hotline.acd.consult_ended(entry, int(consulted), _epoch(hotline.now()))
    _event(hotline, entry, "consult_end", agent_id=agent_id, reason=reason)
    owner = talk.get("owner", "")
    try:
        resume(hotline, entry, int(owner) if owner.isdigit() else (agent_id or 0), during_consult=True)
    except CarrierRefused:
        log.warning("talk %s: the caller could not be taken off hold after the consult", entry)
    return True


def cancel_consult(hotline: Hotline, entry: str, agent_id: int) -> None:
    talk = _check(hotline, entry, Request("consult_cancel"))
    leg = talk["consult_leg"]
    consult_over(hotline, entry, agent_id, leg, "cancelled")
    if leg != PENDING:
        _drop(hotline, talk, leg)


def complete_transfer(hotline: Hotline, entry: str, agent_id: int) -> None:
    """The consulted party keeps the caller.  In an order where each step done leaves the
    caller with somebody: the consulted party becomes an owner, this agent stops being one,
    the caller comes off hold, the ACD moves the call, and only then this agent leaves."""
    talk = _check(hotline, entry, Request("complete_transfer"))
    new_leg, old_leg = talk["consult_leg"], talk["agent_leg"]
    _update(hotline, talk, new_leg, end_conference_on_exit=True)
    _update(hotline, talk, old_leg, end_conference_on_exit=False)
    if talk.get("hold_since"):
        resume(hotline, entry, agent_id, during_consult=True)
    _move_call(hotline, entry, agent_id, talk)
    _drop(hotline, talk, old_leg)


def _move_call(hotline: Hotline, entry: str, agent_id: int, talk: dict[str, str]) -> None:
    """The ACD moves the call to the consulted party (an agent, or an outside number's key)
    and this agent's part ends: talk and hold, then wrap-up."""
    from acd import seats

    new_leg = talk["consult_leg"]
    to_agent = talk.get("consult_agent")
    detail = {"to_agent": int(to_agent)} if to_agent else {"to_number": talk.get("consult_key", "")}
    seats.talk_ended(hotline, entry, agent_id)  # this agent's part: talk and hold, then wrap-up
    _event(hotline, entry, "transfer", agent_id=agent_id, **detail)
    if to_agent:
        hotline.acd.handed_over(entry, int(to_agent))
    owner = to_agent or f"number:{talk.get('consult_key', '')}"
    hotline.acd.set_talk(entry, agent_leg=new_leg, owner=owner, hold_total=0, hold_since=None, **_clear("consult"))


def add_party(hotline: Hotline, entry: str, agent_id: int, outside: str | None, lang: str = "zh") -> None:
    _check(hotline, entry, Request("add_party", outside=outside))
    number = hotline.settings.console.consult_number(outside or "")
    if number is None:
        raise TalkRefused("unknown_number")
    _place(hotline, entry, "party", number.number, label=f"party-{number.key}", lang=lang, fields={"key": number.key})
    _event(hotline, entry, "party_join", agent_id=agent_id, to_number=number.key)


def party_over(hotline: Hotline, entry: str, leg: str, agent_id: int | None, reason: str) -> bool:
    talk = hotline.acd.talk(entry)
    if talk.get("party_leg") != leg:
        return False
    hotline.acd.set_talk(entry, **_clear("party"))
    _event(hotline, entry, "party_leave", agent_id=agent_id, to_number=talk.get("party_key", ""), reason=reason)
    return True


def drop_party(hotline: Hotline, entry: str, agent_id: int) -> None:
    talk = _check(hotline, entry, Request("drop_party"))
    leg = talk["party_leg"]
    if leg != PENDING and not _drop(hotline, talk, leg):
        raise CarrierRefused()
    party_over(hotline, entry, leg, agent_id, "dropped")


# ---- a supervisor on the call ---------------------------------------------------------------------------


def listen(hotline: Hotline, entry: str, staff_id: int, lang: str = "zh") -> None:
    """Ring the supervisor's phone into the talk, muted: they hear everyone, nobody hears them."""
    talk = hotline.acd.talk(entry)
    if talk.get("conf") != "1" or hotline.acd.entry(entry).get("state") != "connected":
        raise TalkRefused("not_talking")
    if hotline.acd.monitoring(staff_id) or talk.get("monitor_leg"):
        raise TalkRefused("already_monitoring")
    hotline.acd.set_monitoring(staff_id, entry)
    fields = {"staff": staff_id, "mode": "listen"}
    try:
        phone = f"client:agent-{staff_id}"
        _place(hotline, entry, "monitor", phone, label=f"monitor-{staff_id}", lang=lang, fields=fields, muted=True)
    except CarrierRefused:
        hotline.acd.set_monitoring(staff_id, None)
        raise
    _event(hotline, entry, "monitor", staff_id=staff_id, mode="listen")


def _monitor_of(hotline: Hotline, entry: str, staff_id: int) -> dict[str, str]:
    talk = hotline.acd.talk(entry)
    if not talk.get("monitor_leg") or talk.get("monitor_staff") != str(staff_id):
        raise TalkRefused("not_monitoring")
    return talk


def coach(hotline: Hotline, entry: str, staff_id: int, mode: str) -> None:
    """whisper: only the agent hears the supervisor; barge: everyone does."""
    talk = _monitor_of(hotline, entry, staff_id)
    if not answered(talk, "monitor"):
        raise TalkRefused("monitor_ringing")
    if mode == "whisper":
        _update(hotline, talk, talk["monitor_leg"], muted=False, coaching=True, call_sid_to_coach=talk["agent_leg"])
    else:
        _update(hotline, talk, talk["monitor_leg"], muted=False, coaching=False)
    hotline.acd.set_talk(entry, monitor_mode=mode)
    _event(hotline, entry, "monitor", staff_id=staff_id, mode=mode)


def stop_monitoring(hotline: Hotline, entry: str, staff_id: int) -> None:
    talk = _monitor_of(hotline, entry, staff_id)
    if talk["monitor_leg"] != PENDING:
        _drop(hotline, talk, talk["monitor_leg"])
    monitor_over(hotline, entry, talk["monitor_leg"], "stopped")


def monitor_over(hotline: Hotline, entry: str, leg: str, reason: str) -> bool:
    talk = hotline.acd.talk(entry)
    if talk.get("monitor_leg") != leg:
        return False
    staff = talk.get("monitor_staff")
    hotline.acd.set_talk(entry, **_clear("monitor"))
    if staff:
        hotline.acd.set_monitoring(int(staff), None)
        _event(hotline, entry, "monitor_end", staff_id=int(staff), reason=reason)
    return True


# ---- what the legs' status callbacks say ------------------------------------------------------------------

UNANSWERED = ("busy", "no-answer", "failed", "canceled")


def leg_answered(hotline: Hotline, entry: str, role: str, leg: str) -> None:
    """A consult, third party or supervisor leg answered (the agent's is seats.answered)."""
    talk = hotline.acd.talk(entry)
    if role in ("consult", "party", "monitor") and talk.get(f"{role}_leg") in (leg, PENDING):
        hotline.acd.set_talk(entry, **_fields(role, answered=leg))
        if role == "consult" and talk.get("consult_agent"):
            hotline.acd.consult_answered(entry, int(talk["consult_agent"]), _epoch(hotline.now()))


def leg_ended(hotline: Hotline, entry: str, role: str, leg: str, status: str) -> None:
    talk = hotline.acd.talk(entry)
    if talk.get(f"{role}_leg") == PENDING:  # before its REST answer: `_place` catches up
        hotline.acd.set_talk(entry, **_fields(role, ended=leg))
        return
    owner = talk.get("owner", "")
    owner_id = int(owner) if owner.isdigit() else None
    reason = "not answered" if status in UNANSWERED or talk.get(f"{role}_answered") != leg else "hung up"
    if role == "consult":
        consult_over(hotline, entry, owner_id, leg, reason)
    elif role == "party":
        party_over(hotline, entry, leg, owner_id, reason)
    elif role == "monitor":
        monitor_over(hotline, entry, leg, reason)
