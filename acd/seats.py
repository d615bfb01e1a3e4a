"""Human seats: what the ACD decides, carried out on the phone network (Twilio's
REST API) and written to the calls' events.

The ACD (acd.py) only changes state in Redis; this module makes the offers ring
(redirect the queued caller to TwiML that dials the agent, or call a patient
back), writes the queue events of the contract (docs/routing.md), and holds the
agent's operations (state, answer, decline, hang up, transfer, wrap-up) that the
agent API and the console call with a staff id.

Dispatch runs when a caller joins a queue, when an agent becomes free, and in
`sweep` (every few seconds, from the scheduler), which also ends the timers
nobody else ends: reservations, wrap-ups, silent consoles.
"""

from __future__ import annotations

import logging
from datetime import datetime
from urllib.parse import urlencode

import requests
from sqlalchemy.exc import SQLAlchemyError
from twilio.base.exceptions import TwilioException

from acd.distributor import Offer, Result
from extensions import Hotline
from records.db import begin_write
from records.seats import NOT_GIVEN, save_wrap_up, wrap_ups

log = logging.getLogger(__name__)


def epoch(when: datetime) -> float:
    return when.timestamp()


def add_events(hotline: Hotline, call_sid: str, at: datetime, *events: tuple[str, dict]) -> None:
    if call_sid:
        hotline.calls.add_events(call_sid, at, list(events))


def base_url(hotline: Hotline) -> str:
    return (hotline.settings.env.public_base_url or hotline.acd.base_url() or "").rstrip("/")


def step_url(base: str, flow_step: str, **args: object) -> str:
    query = urlencode(sorted((k, str(v)) for k, v in args.items()))
    return f"{base}/ivr/{flow_step}?{query}"


# ---- offers ------------------------------------------------------------------------------------


def dispatch(hotline: Hotline, *, answering: str = "") -> list[Offer]:
    """Offer waiting callers to free agents (the fairness rule) and make the offers ring.
    An offer of `answering` (the caller whose webhook is asking) is left to that webhook,
    which puts the caller through in its answer (ivr/flows/queue.py, `join`)."""
    now = hotline.now()
    offers = hotline.acd.dispatch(epoch(now))
    for offer in offers:
        if not (offer.entry == answering and offer.kind == "call"):
            ring(hotline, offer, now)
    return offers


def ring(hotline: Hotline, offer: Offer, now: datetime) -> bool:
    """A queued caller is redirected to TwiML that dials the agent; a callback calls the
    patient first.  If the carrier refuses (the caller has just hung up), the agent is freed."""
    args = {"entry": offer.entry, "agent": offer.agent_id, "lang": offer.lang}
    try:
        if offer.kind == "callback":
            _call_back(hotline, offer, args)
        else:
            url = step_url(base_url(hotline), "queue/connect", **args)
            hotline.twilio.calls(offer.live_sid).update(url=url, method="POST")
    except (TwilioException, requests.RequestException) as exc:
        log.warning("offer of %s to agent %s could not ring: %s", offer.entry, offer.agent_id, exc)
        _could_not_ring(hotline, offer, now)
        return False
    add_events(hotline, offer.entry, now, ("offer", {"queue": offer.queue, "agent_id": offer.agent_id}))
    return True


def _call_back(hotline: Hotline, offer: Offer, args: dict) -> None:
    """Call the patient back; the reserved agent's phone rings once they answer (queue/callback)."""
    base = base_url(hotline)
    call = hotline.twilio.calls.create(
        to=offer.number,
        from_=hotline.settings.twilio.caller_id,
        url=step_url(base, "queue/callback", **args),
        status_callback=step_url(base, "queue/callback_status", **args),
        status_callback_event=["completed"],
        timeout=hotline.settings.routing.callbacks.ring_seconds,
    )
    log.info("callback %s: calling the patient back (%s)", offer.entry, call.sid)


def _could_not_ring(hotline: Hotline, offer: Offer, now: datetime) -> None:
    """The carrier refused the offer: a callback counts as a failed attempt; a queued caller
    has hung up, so the agent is freed and the caller written down as abandoned."""
    if offer.kind == "callback":
        callback_not_answered(hotline, offer.entry, offer.agent_id, now)
        return
    result = hotline.acd.release(offer.entry, offer.agent_id, epoch(now), "caller_gone")
    if result.ok:
        left = hotline.acd.leave(offer.entry, epoch(now), "left")
        add_events(hotline, offer.entry, now, ("abandon", {"queue": offer.queue, "waited": round(left.seconds)}))


def callback_not_answered(hotline: Hotline, entry: str, agent_id: int, now: datetime) -> Result:
    """A callback's attempt failed (the patient did not answer, or the call could not be
    placed): the agent reserved for it is free in their place, the patient called again after
    the spacing or, after the retries, given up (written on the call that asked for it)."""
    result = hotline.acd.callback_failed(entry, agent_id, epoch(now))
    if result.status == "given_up":
        add_events(
            hotline, entry, now, ("callback_failed", {"queue": result.queue, "attempts": result.detail["attempts"]})
        )
    return result


def offer_missed(hotline: Hotline, entry: str, agent_id: int, reason: str) -> bool:
    """The agent's phone rang out (or could not ring): the agent goes on break 'missed',
    the caller keeps their place and the next agent is tried."""
    now = hotline.now()
    outcome = "missed" if reason in ("no-answer", "expired", "missed") else "failed"
    result = hotline.acd.release(entry, agent_id, epoch(now), outcome)
    if result.ok:
        add_events(
            hotline, entry, now, ("missed_offer", {"queue": result.queue, "agent_id": agent_id, "reason": reason})
        )
    return result.ok


def answered(hotline: Hotline, entry: str, agent_id: int) -> bool:
    now = hotline.now()
    result = hotline.acd.answer(entry, agent_id, epoch(now))
    if result.ok:
        add_events(
            hotline,
            entry,
            now,
            ("answer", {"queue": result.queue, "agent_id": agent_id, "waited": round(result.seconds)}),
        )
    return result.status in ("ok", "already")


def being_put_through(entry: dict[str, str], live_sid: str) -> bool:
    """Whether the entry (its fields) is a caller on the call `live_sid` whom an agent's phone
    rings for (offered) or who has been answered (connected)."""
    return entry.get("kind") == "call" and entry.get("live_sid") == live_sid and entry.get("state") in _PUTTING_THROUGH


_PUTTING_THROUGH = ("offered", "connected")


def caller_gone(hotline: Hotline, entry: str, live_sid: str) -> bool:
    """The caller's call `live_sid` has ended while being put through: typically they hung up
    during "正在为您转接…" (or the recording notice, or the callback's greeting), before the
    TwiML that joins the talk, so no <Dial> action will tell.  The agent is not left with a
    phone ringing for nobody, or alone in the talk until they hang up: an offer ends as an
    abandon (the agent free at once, not 'missed'); an answered one as a talk does (talk_end),
    then wrap-up only if the caller had joined the talk (this status came before their
    <Dial>'s action): an agent who never spoke to them has nothing to wrap up and is free at
    once.  The agent's leg is ended.  Whatever a <Dial> action did first is not done again
    (the ACD's scripts refuse a second leave or talk_end).  True if it ended something."""
    from acd import talks

    data = hotline.acd.entry(entry)
    if not being_put_through(data, live_sid):
        return False
    now = hotline.now()
    if data["state"] == "offered":
        gone = hotline.acd.leave(entry, epoch(now), "left")
        if gone.detail["was"] != "offered":
            return False
        add_events(hotline, entry, now, ("abandon", {"queue": gone.queue, "waited": round(gone.seconds)}))
        talks.end(hotline, entry)
        dispatch(hotline)
        return True
    agent = data.get("agent") or ""
    if not agent.isdigit():
        return False
    spoke = talks.caller_joined(hotline, entry)  # before `end`: its hang-up ends the conference
    talks.end(hotline, entry)  # first: a talk_end without wrap-up may offer the agent the next caller
    return talk_ended(hotline, entry, int(agent), wrap_up=spoke)


def talk_ended(hotline: Hotline, entry: str, agent_id: int, *, wrap_up: bool = True) -> bool:
    """The agent's part of the talk is over: `talk_end` with the seconds talked and the seconds
    the caller was held (issue 14; talk excludes hold, so talk + hold + wrap-up is the handling
    time), then wrap-up (the queue's; none with `wrap_up` False: the caller never reached the
    agent, who is free at once and keeps their place in the idle line)."""
    from acd.talks import held_seconds

    now = hotline.now()
    hold = held_seconds(hotline.acd.talk(entry), epoch(now))
    result = hotline.acd.talk_end(entry, agent_id, epoch(now), wrap_up=wrap_up)
    if result.ok:
        talk = max(0.0, result.seconds - hold)
        detail = {"queue": result.queue, "agent_id": agent_id, "talk": round(talk), "hold": round(hold)}
        add_events(hotline, entry, now, ("talk_end", detail))
        if hotline.acd.agent(agent_id).get("state") == "available":  # no wrap-up for this queue
            add_events(hotline, entry, now, wrap_up_event(result.queue, agent_id, 0, ""))
            dispatch(hotline)
    return result.ok


def wrap_up_event(queue: str, agent_id: int, seconds: float, disposition: str) -> tuple[str, dict]:
    return "wrap_up_end", {"queue": queue, "agent_id": agent_id, "wrap_up": round(seconds), "disposition": disposition}


# ---- the sweep -----------------------------------------------------------------------------------


def sweep(hotline: Hotline) -> dict[str, int]:
    """End the timers nobody else ends, then dispatch: reservations past their expiry
    (the agent goes on break 'missed', the caller keeps their place), wrap-ups that are
    over, consoles silent past the heartbeat timeout (logged out)."""
    now = hotline.now()
    expired = sum(
        _offer_expired(hotline, agent_id, entry) for agent_id, entry in hotline.acd.expired_offers(epoch(now))
    )
    wrapped = sum(_wrap_up_due(hotline, agent_id, now) for agent_id in hotline.acd.wrap_ups_due(epoch(now)))
    logged_out = sum(_silent(hotline, agent_id, now) for agent_id in hotline.acd.silent_agents(epoch(now)))
    offers = dispatch(hotline)
    return {"expired": expired, "wrapped": wrapped, "logged_out": logged_out, "offers": len(offers)}


def _offer_expired(hotline: Hotline, agent_id: int, entry: str) -> bool:
    """A reservation past its expiry: the agent goes on break 'missed', the caller keeps
    their place.  A callback still a callback is not the agent's miss: its patient's answer
    never came (the agent's phone rings only after it), so the news of the attempt was lost
    (queue/callback_status could not reach the seats' state): a failed attempt, tried again
    after the spacing.  True if it was still the agent's."""
    data = hotline.acd.entry(entry)
    if data.get("kind") == "callback":
        result = callback_not_answered(hotline, entry, agent_id, hotline.now())
        log.info("callback %s: no news of the attempt by the reservation's expiry (%s)", entry, result.status)
        return result.status in ("retry", "given_up")
    if not offer_missed(hotline, entry, agent_id, "expired"):
        return False
    # A caller stuck ringing an agent is taken back to the queue's hold.
    live = data.get("live_sid")
    if live and data.get("kind") == "call":
        _back_to_hold(hotline, live, data)
    return True


def _wrap_up_due(hotline: Hotline, agent_id: int, now: datetime) -> bool:
    """A wrap-up whose time is over ends, with the notes typed so far kept.  True if it ended."""
    result = hotline.acd.end_wrap_up(agent_id, epoch(now), only_if_due=True)
    if result.ok:
        call_sid = result.detail["call"]
        add_events(hotline, call_sid, now, wrap_up_event(result.queue, agent_id, result.seconds, ""))
        _keep_unfinished_wrap_up(hotline, agent_id, call_sid, result.queue, now)
    return result.ok


def _silent(hotline: Hotline, agent_id: int, now: datetime) -> bool:
    """A console silent past the heartbeat timeout: logged out, with its wrap-up ended and the
    call ringing for it put back on hold.  True if it was logged out."""
    result = hotline.acd.logout(agent_id, epoch(now), "heartbeat")
    if not result.ok:
        return False
    log.info("agent %s logged out: no heartbeat", agent_id)
    if result.detail["wrap_call"]:  # the wrap-up it cut short still ends, once
        event = wrap_up_event(result.queue, agent_id, result.seconds, "")
        add_events(hotline, result.detail["wrap_call"], now, event)
        _keep_unfinished_wrap_up(hotline, agent_id, result.detail["wrap_call"], result.queue, now)
    if result.detail["offer"]:
        _offer_lost(hotline, agent_id, result.detail["offer"], now)
    return True


def _offer_lost(hotline: Hotline, agent_id: int, entry: str, now: datetime) -> None:
    data = hotline.acd.entry(entry)
    detail = {"queue": data.get("queue", ""), "agent_id": agent_id, "reason": "logged_out"}
    add_events(hotline, entry, now, ("missed_offer", detail))
    if data.get("live_sid") and data.get("kind") == "call":
        _back_to_hold(hotline, data["live_sid"], data)


def _keep_unfinished_wrap_up(hotline: Hotline, agent_id: int, call_sid: str, queue: str, now: datetime) -> None:
    """The wrap-up timer ran out (or the console went silent) before the agent finished:
    a wrap-up row with the notes typed so far (the console keeps them in the ACD as they are
    typed) and the disposition 'not given', so nothing typed is lost and the call has its row."""
    notes = hotline.acd.take_draft(agent_id, call_sid)
    try:
        with hotline.sessions() as session:
            begin_write(session)
            if not any(row.staff_id == agent_id for row in wrap_ups(session, call_sid)):
                wrap = {"call_sid": call_sid, "staff_id": agent_id, "queue": queue, "notes": notes, "at": now}
                save_wrap_up(session, disposition=NOT_GIVEN, **wrap)
            session.commit()
    except SQLAlchemyError:  # the sweep goes on; the wrap_up_end event still says it ended
        log.warning("wrap-up of agent %s not saved", agent_id, exc_info=True)


def redirect(hotline: Hotline, live_sid: str, flow_step: str, **args: object) -> bool:
    """Send a live call to another step's TwiML; False if the carrier refused (it has ended)."""
    try:
        hotline.twilio.calls(live_sid).update(url=step_url(base_url(hotline), flow_step, **args), method="POST")
        return True
    except (TwilioException, requests.RequestException) as exc:
        log.info("call %s not redirected to %s: %s", live_sid, flow_step, exc)
        return False


def _back_to_hold(hotline: Hotline, live_sid: str, entry: dict) -> None:
    base = base_url(hotline)
    url = step_url(base, "queue/hold_again", q=entry.get("queue", ""), lang=entry.get("lang", "zh"))
    try:
        hotline.twilio.calls(live_sid).update(url=url, method="POST")
    except (TwilioException, requests.RequestException) as exc:
        log.info("call %s not taken back to hold: %s", live_sid, exc)
