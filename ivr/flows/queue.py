"""Waiting for a person: the caller's side of the human seats.

A caller who asks for a person joins the ACD queue for where they are (see
person.py) and is put on hold with Twilio's <Enqueue>.  The hold (`wait`, the
Enqueue's waitUrl) says their position and an estimated wait taken from the
queue's recent answers, offers a callback that keeps their place, then plays
music or a pause, and is requested again: so the message repeats every
`routing.hold_message_seconds`.

The ACD picks the agent and redirects the queued call to `connect`, which rings
the agent's browser (<Client> agent-<staff id>) into a conference named after the
call by the Participants API and joins the caller to it (issue 14).  A caller for
whom an agent is free as they join is not put on hold at all: `join` answers with
what `connect` would (issue 17: no REST redirect, no second webhook).  The agent
leg's status callback (`leg`) marks the answer; the Dial's action (`bridged`) ends
the talk or, when nobody answered, puts the caller back on hold in their place.
When the talk is over the caller goes on to POST_CALL.

Maximum wait, nobody logged in, or out of hours: `unavailable` offers a
voicemail (<Record>, kept as a `voicemail` event on the call and so on the
patient's file) or a callback, with the opening hours.
"""

from __future__ import annotations

import logging
from datetime import date

import redis
from twilio.twiml.voice_response import VoiceResponse

from acd import seats, talks
from acd.distributor import Offer
from acd.hours import holiday, is_open
from contactcentre import routing as rule
from ivr.dialogue import Choice, Conversation, Line, Target, step
from ivr.flows.person import goodbye, nobody_to_answer
from records.patients import get_patient, mask
from wording.speaking import key_name

log = logging.getLogger(__name__)

# ---- HOOK: after the talk with an agent ---------------------------------------------------------
# Where the caller goes when the agent's side of the bridge ends.  The satisfaction survey
# (a later issue) replaces this target with its first step; that step receives
# `entry` (the call's queue entry) and `agent` (the staff id) in its arguments.
POST_CALL = Target("survey", "start")  # the satisfaction survey (ivr/flows/survey.py, issue 7)


def call_over() -> VoiceResponse:
    """The answer to a request about a call that has ended (or a status callback)."""
    response = VoiceResponse()
    response.hangup()
    return response


def ignored() -> VoiceResponse:
    """The answer Twilio ignores (the Enqueue action of a caller the ACD redirected)."""
    response = VoiceResponse()
    response.pause(length=1)
    return response


def _hotline():
    from extensions import hotline

    return hotline()


def _queue(conversation: Conversation, q: str) -> str:
    routing = conversation.settings.routing
    return q if q in routing.queues else routing.general_queue


def _title(conversation: Conversation, queue: str) -> str:
    return conversation.settings.routing.queues[queue].title(conversation.lang)


def _flush(conversation: Conversation) -> None:
    """Write the request's events so far, so the queue events written next follow them."""
    conversation.calls.add_events(conversation.call_sid, conversation.now, list(conversation.events))
    conversation.events.clear()


def _age(born: date, today: date) -> int:
    return today.year - born.year - ((today.month, today.day) < (born.month, born.day))


def _caller_priority(conversation: Conversation, queue: str) -> tuple[int, int | None, str]:
    routing = conversation.settings.routing
    number, ids, identified = conversation.calls.who(conversation.call_sid)
    patient_id = identified or (ids[0] if len(ids) == 1 else None)
    patient = get_patient(conversation.db, patient_id) if patient_id else None
    priority = rule.priority(
        routing,
        complaint=queue == routing.complaint_queue,
        vip=patient is not None and patient.category == "vip",
        age=_age(patient.birth_date, conversation.now.date()) if patient else None,
    )
    return priority, patient_id, number


# ---- joining and holding ----------------------------------------------------------------------


@step("queue", "join")
def join(conversation: Conversation, q: str = "") -> VoiceResponse:
    queue = _queue(conversation, q)
    app = _hotline()
    preamble = list(conversation.preamble)
    if (why := nobody_to_answer(conversation, queue)) is not None:
        return conversation.go(Target("queue", "unavailable", {"q": queue, "why": why}), *preamble)
    if not _enqueued(conversation, app, queue):
        return operator(conversation, preamble)
    _flush(conversation)
    lines = [*preamble, conversation.line("queue_joined", queue=_title(conversation, queue))]
    offer = _dispatch_after_joining(conversation, app, queue)
    if offer is not None:
        return _put_through(conversation, offer, lines)
    if (agent := _offered_to(app, conversation.call_sid)) is not None:
        return _put_through_again(conversation, agent, lines)
    return hold(conversation, queue, lines)


def _enqueued(conversation: Conversation, app, queue: str) -> bool:
    """Into the ACD's queue with the caller's priority; False when Redis, where the queues
    live, cannot be reached (the caller is put through to the operator instead)."""
    try:
        priority, patient_id, number = _caller_priority(conversation, queue)
        added = _into_queue(conversation, app, queue, (priority, patient_id, number), seats.epoch(conversation.now))
    except redis.RedisError as exc:
        log.warning("call %s: the seats' queues are unavailable (%s): ringing the operator", conversation.call_sid, exc)
        return False
    if added:
        conversation.event("enqueue", queue=queue, priority=priority)
    return True


def _into_queue(conversation: Conversation, app, queue: str, caller: tuple[int, int | None, str], at: float) -> bool:
    """The caller into the ACD's `queue` since `at` (epoch seconds), with their (priority,
    patient, number); the base URL is kept for the redirects that ring the agent.  True if
    newly added (asking again is harmless: a retried webhook)."""
    priority, patient_id, number = caller
    return app.acd.enqueue(
        conversation.call_sid,
        queue,
        priority=priority,
        now=at,
        patient_id=patient_id,
        caller=mask(number),
        lang=conversation.lang,
        base_url=conversation.base_url,
    )


def _dispatch_after_joining(conversation: Conversation, app, queue: str) -> Offer | None:
    """Dispatch with the caller in the queue; this caller's own offer, if an agent was free
    for them at once (the other offers ring as usual)."""
    me = conversation.call_sid
    try:
        offers = seats.dispatch(app, answering=me)
    except Exception:  # the caller is queued; the sweep dispatches again in a few seconds
        log.exception("call %s: dispatch after joining %s failed", me, queue)
        return None
    return next((offer for offer in offers if offer.entry == me and offer.kind == "call"), None)


def _put_through(conversation: Conversation, offer: Offer, lines: list[Line]) -> VoiceResponse:
    """An agent was free at once: `lines`, then the TwiML `connect` answers, in this answer.
    Not a hold then a redirect by the REST API to `connect` (issue 17: a REST request and a
    webhook more before the agent's phone rang); the agent's phone is rung in the same way."""
    conversation.event("offer", queue=offer.queue, agent_id=offer.agent_id)
    _flush(conversation)  # before the agent's leg can answer, and write its own events
    response = VoiceResponse()
    for line in lines:
        conversation.say(response, line.text, line.lang)
    for verb in _talk(conversation, offer.entry, str(offer.agent_id)).verbs:
        response.append(verb)
    return response


def operator(conversation: Conversation, preamble: list[Line]) -> VoiceResponse:
    """The queues live in Redis: without it the caller still reaches a person, at the
    operator number, as before the seats (issue 8: Redis stopped mid-call)."""
    seats_config = conversation.settings.seats
    conversation.event("transfer", to="operator", reason="queues unavailable")
    response = VoiceResponse()
    for line in [*preamble, conversation.line("connecting")]:
        conversation.say(response, line.text, line.lang)
    response.dial(seats_config.operator_number, timeout=seats_config.dial_timeout_seconds)
    conversation.say(response, conversation.line("goodbye").text)
    response.hangup()
    return response


def hold(conversation: Conversation, queue: str, lines: list[Line]) -> VoiceResponse:
    """Say `lines`, then wait in the Twilio queue named like the ACD's."""
    response = VoiceResponse()
    for line in lines:
        conversation.say(response, line.text, line.lang)
    here = {"q": queue}
    response.enqueue(
        queue,
        action=conversation.url(Target("queue", "left", here)),
        method="POST",
        wait_url=conversation.url(Target("queue", "wait", here)),
        wait_url_method="POST",
    )
    return response


@step("queue", "hold_again")
def hold_again(conversation: Conversation, q: str = "") -> VoiceResponse:
    """Back on hold in the same place after an agent's phone rang out."""
    return hold(conversation, _queue(conversation, q), [conversation.line("agent_missed")])


@step("queue", "wait")
def wait(conversation: Conversation, q: str = "") -> VoiceResponse:
    """The waitUrl: position, estimated wait, the callback key, then music or a pause.
    If the routing state cannot be read, the caller simply stays on hold (a <Dial> or an
    apology is not allowed here, and leaving would lose their place)."""
    try:
        return _hold_message(conversation, q)
    except redis.RedisError as exc:
        log.warning("call %s: hold message without routing state: %s", conversation.call_sid, exc)
        response = VoiceResponse()
        response.pause(length=conversation.settings.routing.hold_message_seconds)
        return response


def _hold_message(conversation: Conversation, q: str) -> VoiceResponse:
    queue = _queue(conversation, q)
    app = _hotline()
    why = _reason_to_leave(conversation, app, queue)
    if why is not None:
        return _leave_hold(app, conversation.call_sid, why)
    return _hold_gather(conversation, queue, _hold_lines(conversation, app, queue))


def _reason_to_leave(conversation: Conversation, app, queue: str) -> str | None:
    """Why a waiting caller leaves the hold now: 'timeout' at the queue's maximum wait,
    'nobody' when the last agent who could take the call has logged out; None to stay."""
    entry = app.acd.entry(conversation.call_sid)
    if not entry:
        return None
    routing = conversation.settings.routing
    now = seats.epoch(conversation.now)
    if now - float(entry.get("enqueued_at") or now) >= routing.queues[queue].max_wait_seconds:
        return "timeout"
    if queue not in rule.queues_served(routing, set(app.acd.skills_logged_in())):
        return "nobody"
    return None


def _leave_hold(app, call_sid: str, why: str) -> VoiceResponse:
    """Out of the <Enqueue>; its action (`left`) reads `why` from the entry's exit."""
    app.acd.mark_exit(call_sid, why)
    response = VoiceResponse()
    response.leave()
    return response


def _hold_lines(conversation: Conversation, app, queue: str) -> list[Line]:
    """The caller's position, the estimated wait when the queue's recent answers give one, and
    the callback key."""
    position = app.acd.position(conversation.call_sid) or conversation.int_arg(
        conversation.form.get("QueuePosition"), 1
    )
    lines = [_position_line(conversation, position)]
    estimate = app.acd.estimated_wait(queue, position, seats.epoch(conversation.now))
    if estimate is not None:
        lines.append(conversation.line("queue_estimate", minutes=rule.spoken_minutes(estimate)))
    key = key_name(conversation.settings.routing.callback_key, conversation.lang)
    lines.append(conversation.line("callback_offer", key=key))
    return lines


def _position_line(conversation: Conversation, position: int) -> Line:
    if position <= 1:
        return conversation.line("queue_next")
    return conversation.line("queue_position", ahead=position - 1, position=position)


def _hold_gather(conversation: Conversation, queue: str, lines: list[Line]) -> VoiceResponse:
    """`lines` in a one-key Gather (for the callback key), then music or a pause: then Twilio asks again."""
    response = VoiceResponse()
    gather = response.gather(
        input="dtmf",
        num_digits=1,
        timeout=1,
        action=conversation.url(Target("queue", "hold_key", {"q": queue})),
        method="POST",
    )
    for line in lines:
        conversation.say(gather, line.text, line.lang)
    for verb in _music(conversation).verbs:
        gather.append(verb)
    return response


@step("queue", "hold_key")
def hold_key(conversation: Conversation, q: str = "") -> VoiceResponse:
    """A key pressed on hold: the callback key leaves the queue keeping the place."""
    if (conversation.heard.digits or "").strip() == conversation.settings.routing.callback_key:
        conversation.event("key", step="queue.hold", digits=conversation.heard.digits[:1])
        return _leave_hold(_hotline(), conversation.call_sid, "callback")
    response = VoiceResponse()
    response.redirect(conversation.url(Target("queue", "wait", {"q": _queue(conversation, q)})), method="POST")
    return response


@step("queue", "left")
def left(conversation: Conversation, q: str = "") -> VoiceResponse:
    """The <Enqueue> action: the caller hung up, left by a key or a timeout, or was taken
    out by the ACD (redirected: nothing to do, Twilio ignores this answer)."""
    result = conversation.form.get("QueueResult", "")
    queue = _queue(conversation, q)
    app = _hotline()
    if result in ("redirected", "redirected-from-bridged", "bridged", "bridging-in-process"):
        return ignored()  # Twilio ignores this answer and follows the redirect
    reason = app.acd.entry(conversation.call_sid).get("exit", "") if result == "leave" else ""
    if result == "hangup":
        return _hung_up_on_hold(conversation, app)
    if reason == "callback":
        return callback_requested(conversation, queue)
    return _timed_out(conversation, app, queue, reason)


def _timed_out(conversation: Conversation, app, queue: str, reason: str) -> VoiceResponse:
    """Left at the maximum wait, or as the last agent who could answer logged out (`reason`
    'nobody'): a voicemail or a callback instead."""
    _leave_queue(conversation, app, "left", "queue_timeout")
    why = "nobody" if reason == "nobody" else "busy"
    return conversation.go(Target("queue", "unavailable", {"q": queue, "why": why}))


def _hung_up_on_hold(conversation: Conversation, app) -> VoiceResponse:
    """Abandoned; an agent the caller was being offered to is free for the next caller."""
    gone = _leave_queue(conversation, app, "left", "abandon")
    if gone.detail["agent"]:
        seats.dispatch(app)
    return call_over()


def _leave_queue(conversation: Conversation, app, how: str, event: str):
    """Out of the ACD's queue (`how`: 'left', 'callback'); `event` says so, with the wait, for a
    caller who was still waiting (not one an agent had answered)."""
    gone = app.acd.leave(conversation.call_sid, seats.epoch(conversation.now), how)
    if gone.detail["was"] in ("waiting", "offered"):
        conversation.event(event, queue=gone.queue, waited=round(gone.seconds))
    return gone


def callback_requested(conversation: Conversation, queue: str) -> VoiceResponse:
    """Keep the caller's place and call them back on the number they called from."""
    app = _hotline()
    number, _ = conversation.calls.matches(conversation.call_sid)
    if not number:
        return _no_number_to_call(conversation, app, queue)
    entry = app.acd.entry(conversation.call_sid)
    if entry.get("state") not in ("waiting", "offered"):
        _join_as_callback(conversation, app, queue, entry, number)
    app.acd.set_callback_number(conversation.call_sid, number)
    _leave_queue(conversation, app, "callback", "callback_requested")
    return goodbye(conversation, *_callback_confirmed(conversation, number))


def _no_number_to_call(conversation: Conversation, app, queue: str) -> VoiceResponse:
    """No number to call back on: out of the queue, and to the voicemail-or-callback menu
    with the reason."""
    _leave_queue(conversation, app, "left", "queue_timeout")
    no_number = conversation.line("callback_no_number")
    return conversation.go(Target("queue", "unavailable", {"q": queue, "why": "busy"}), no_number)


def _join_as_callback(conversation: Conversation, app, queue: str, entry: dict, number: str) -> None:
    """Asked from the voicemail-or-callback menu: join as a callback; a caller who waited
    until the maximum wait keeps the place they had."""
    priority, patient_id, _ = _caller_priority(conversation, queue)
    if entry.get("enqueued_at"):
        queue, priority = entry.get("queue", queue), int(entry.get("priority") or priority)
    joined = float(entry.get("enqueued_at") or seats.epoch(conversation.now))
    added = _into_queue(conversation, app, queue, (priority, patient_id, number), joined)
    if added and not entry:
        conversation.event("enqueue", queue=queue, priority=priority)


def _callback_confirmed(conversation: Conversation, number: str) -> list[Line]:
    """The last four digits we will call, and the opening hours when the seats are closed now."""
    lines = [conversation.line("callback_confirmed", last4=" ".join(number[-4:]))]
    if not is_open(conversation.settings.seats, conversation.now):
        lines.append(_hours(conversation))
    return lines


def _hours(conversation: Conversation) -> Line:
    return Line(conversation.settings.seats.hours_spoken(conversation.lang), conversation.lang)


# ---- nobody can answer: voicemail or a callback ---------------------------------------------------


@step("queue", "unavailable")
def unavailable(conversation: Conversation, q: str = "", why: str = "busy") -> VoiceResponse:
    queue = _queue(conversation, q)
    lines: list[str | Line] = [_why_nobody_answers(conversation, why), _hours(conversation)]
    here = {"q": queue}
    choices = [
        Choice(Target("queue", "voicemail", here), "1", conversation.t("leave_message_option")),
        Choice(Target("queue", "callback_request", here), "2", conversation.t("callback_option")),
    ]
    # What the caller asked `0` for is not to be had: `0` is not offered here (person=False).
    return conversation.menu(lines, choices, give_up=Target("person", "goodbye"), person=False)


def _why_nobody_answers(conversation: Conversation, why: str) -> Line:
    """Closed (a holiday said by name), nobody logged in who could answer, or all busy."""
    if why != "closed":
        return conversation.line("seats_empty" if why == "nobody" else "seats_busy")
    day_off = holiday(conversation.settings.seats, conversation.now)
    return (
        conversation.line("closed_holiday", holiday=day_off(conversation.lang))
        if day_off
        else conversation.line("closed")
    )


@step("queue", "callback_request")
def callback_request(conversation: Conversation, q: str = "") -> VoiceResponse:
    return callback_requested(conversation, _queue(conversation, q))


@step("queue", "voicemail")
def voicemail(conversation: Conversation, q: str = "") -> VoiceResponse:
    response = VoiceResponse()
    for line in [*conversation.preamble, conversation.line("voicemail_prompt")]:
        conversation.say(response, line.text, line.lang)
    response.record(
        action=conversation.url(Target("queue", "voicemail_saved", {"q": _queue(conversation, q)})),
        method="POST",
        max_length=conversation.settings.routing.voicemail_max_seconds,
        finish_on_key="#",
        play_beep=True,
        timeout=5,
    )
    return response


@step("queue", "voicemail_saved")
def voicemail_saved(conversation: Conversation, q: str = "") -> VoiceResponse:
    form = conversation.form
    url = form.get("RecordingUrl", "")
    duration = conversation.int_arg(form.get("RecordingDuration"), 0)
    queue = _queue(conversation, q)
    if not url or duration <= 0:
        if form.get("Digits") == "hangup":
            return call_over()
        return conversation.go(Target("queue", "unavailable", {"q": queue}), conversation.line("voicemail_empty"))
    sid = form.get("RecordingSid") or url.rstrip("/").rsplit("/", 1)[-1]
    conversation.event("voicemail", queue=queue, recording_sid=sid[:64], recording_url=url[:500], duration=duration)
    if form.get("Digits") == "hangup":
        return call_over()
    return goodbye(conversation, conversation.line("voicemail_saved"))


# ---- the bridge to the agent ---------------------------------------------------------------------


def _recorded(conversation: Conversation, response: VoiceResponse, args: dict, record: str) -> dict:
    """With `routing.record_calls`: the caller is told, and the attributes that record the talk
    (a <Dial>'s or a <Conference>'s; `record` is how each spells it).  Said in the TwiML that
    joins the agent, so nothing can cut it short (a redirect by the REST API interrupts whatever
    the caller is hearing): every way to an agent passes here.  The recording's callback comes
    whatever ends the talk (the Dial's action does not when the console's hang-up redirects
    the caller)."""
    if not conversation.settings.routing.record_calls:
        return {}
    conversation.say(response, conversation.t("calls_recorded"))
    return {
        "record": record,
        "recording_status_callback": conversation.url(Target("queue", "recorded", args)),
        "recording_status_callback_event": "completed",
    }


def _dial_agent(conversation: Conversation, entry: str, agent: str) -> VoiceResponse:
    args = {"entry": entry, "agent": agent}
    response = VoiceResponse()
    recording = _recorded(conversation, response, args, "record-from-answer-dual")
    response.dial(
        action=conversation.url(Target("queue", "bridged", args)),
        method="POST",
        timeout=conversation.settings.routing.offer_timeout_seconds,
        answer_on_bridge=True,
        # The hospital's number, not the caller's: a <Client> leg shows the <Dial>'s callerId,
        # which would otherwise be the patient's full number (the SDK's call.parameters.From).
        caller_id=conversation.settings.twilio.caller_id,
        **recording,
    ).client(f"agent-{agent}", url=conversation.url(Target("queue", "whisper", args)), method="POST")
    return response


def _talk(conversation: Conversation, entry: str, agent: str) -> VoiceResponse:
    """The talk with the agent as a conference named after the caller's entry (issue 14): the
    agent's phone is rung into it by the REST API, the caller joins by TwiML.  If the carrier
    refuses the agent's leg, the caller's call dials the agent directly, as before the call
    controls (no hold or transfer for that talk, but the caller reaches the agent)."""
    app = _hotline()
    try:
        talks.start(app, entry, int(agent), conversation.lang)
    except talks.CarrierRefused as exc:
        log.warning("call %s: agent %s not rung into a conference (%s): dialling directly", entry, agent, exc.detail)
        app.acd.set_talk(entry, conf=None)
        return _dial_agent(conversation, entry, agent)
    return _join_talk(conversation, entry, agent)


def _join_talk(conversation: Conversation, entry: str, agent: str) -> VoiceResponse:
    """The caller's TwiML into the talk's conference, named after their entry."""
    args = {"entry": entry, "agent": agent}
    response = VoiceResponse()
    recording = _recorded(conversation, response, args, "record-from-start")
    response.dial(action=conversation.url(Target("queue", "bridged", args)), method="POST").conference(
        entry,
        start_conference_on_enter=True,
        end_conference_on_exit=True,  # the caller hanging up ends the talk for everyone
        beep="false",
        wait_url=conversation.url(Target("queue", "ringing_wait", {})),
        wait_method="POST",
        **recording,
    )
    return response


def _offered_to(app, entry: str) -> str | None:
    """The agent this caller is being offered to already, or whose answer they are already
    connected to (a call, not a callback), or None."""
    data = app.acd.entry(entry)
    agent = data.get("agent") or ""
    if data.get("kind") != "call" or not agent.isdigit():
        return None
    if data.get("state") == "offered":
        return agent if _offered(entry, agent) else None
    if data.get("state") == "connected":  # the agent answered the first sending's ring
        return agent if app.acd.agent(int(agent)).get("call") == entry else None
    return None


def _put_through_again(conversation: Conversation, agent: str, lines: list[Line]) -> VoiceResponse:
    """`join` sent again (nginx resends a request whose server died in it) after the first
    sending had the caller offered, or even answered: the caller goes on to that talk, not to
    hold while the agent waits in it alone; the agent's phone rings once (a talk already
    started is joined)."""
    entry = conversation.call_sid
    talk = _hotline().acd.talk(entry)
    started = talk.get("conf") == "1" and talk.get("owner") == agent and talk.get("agent_leg")
    response = VoiceResponse()
    for line in lines:
        conversation.say(response, line.text, line.lang)
    joined = _join_talk(conversation, entry, agent) if started else _talk(conversation, entry, agent)
    for verb in joined.verbs:
        response.append(verb)
    return response


@step("queue", "ringing_wait")
def ringing_wait(conversation: Conversation) -> VoiceResponse:
    """What the caller hears in the conference while the agent's phone rings."""
    return _music(conversation)


@step("queue", "agent_wait")
def agent_wait(conversation: Conversation) -> VoiceResponse:
    """What the agent hears in the talk until the caller is in (their Participant's waitUrl;
    the agent does not start the talk, the caller does): who picks up while the caller still
    hears "正在为您转接…" hears that the call is coming, not silence.  Requested again when
    it has played out."""
    return _said_then_music(conversation, "agent_call_coming")


@step("queue", "on_hold")
def on_hold(conversation: Conversation) -> VoiceResponse:
    """The holdUrl of a caller the agent put on hold (or a consult): the message, then music."""
    return _said_then_music(conversation, "on_hold")


def _said_then_music(conversation: Conversation, prompt: str) -> VoiceResponse:
    response = VoiceResponse()
    line = conversation.line(prompt)
    conversation.say(response, line.text, line.lang)
    for verb in _music(conversation).verbs:
        response.append(verb)
    return response


def _music(conversation: Conversation) -> VoiceResponse:
    response = VoiceResponse()
    routing = conversation.settings.routing
    if routing.hold_music_url:
        response.play(routing.hold_music_url)
    else:
        response.pause(length=routing.hold_message_seconds)
    return response


@step("queue", "leg")
def leg(conversation: Conversation, entry: str = "", role: str = "", agent: str = "") -> VoiceResponse:
    """The status callback of a leg the REST API rang into a talk (issue 14): the agent's
    answer marks the offer answered (what the <Client> whisper did before); an agent's phone
    that rang out puts the caller back on hold in their place; a consult, third party or
    supervisor leg answering or ending changes the talk's state."""
    app = _hotline()
    status = conversation.form.get("CallStatus", "")
    if role == "agent" and agent.isdigit():
        _agent_leg(conversation, app, entry, int(agent), status)
    elif role in talks.ROLES:
        if status == "in-progress":
            talks.leg_answered(app, entry, role, conversation.call_sid)
        elif status in (*talks.UNANSWERED, "completed"):
            talks.leg_ended(app, entry, role, conversation.call_sid, status)
    return call_over()  # a status callback: the carrier ignores the answer


def _agent_leg(conversation: Conversation, app, entry: str, agent: int, status: str) -> None:
    """The agent's phone answered (the offer is marked answered), or rang out (the caller back
    on hold in their place, and the next agent sought)."""
    leg_sid = conversation.call_sid
    if status == "in-progress":
        if not seats.answered(app, entry, agent):
            _hang_up(app, leg_sid)  # the reservation is gone: this leg must not reach the caller
        else:  # the agent hears which queue the caller comes from, as the <Client> whisper said
            talks.announce(app, entry, leg_sid, _url_of(conversation, "announce_queue", entry))
    elif status in talks.UNANSWERED and seats.offer_missed(app, entry, agent, status):
        data = app.acd.entry(entry)
        if data.get("live_sid") and data.get("kind") == "call":
            seats.redirect(app, data["live_sid"], "queue/hold_again", q=data.get("queue", ""), lang=conversation.lang)
        seats.dispatch(app)


def _hang_up(app, call_sid: str) -> None:
    try:
        app.twilio.calls(call_sid).update(status="completed")
    except talks.CARRIER_ERRORS as exc:
        log.info("leg %s not hung up: %s", call_sid, exc)


def _offered(entry: str, agent: str) -> bool:
    return agent.isdigit() and _hotline().acd.agent(int(agent)).get("offer") == entry


@step("queue", "connect")
def connect(conversation: Conversation, entry: str = "", agent: str = "") -> VoiceResponse:
    """The ACD took this caller out of the queue for `agent`: ring the agent."""
    if not _offered(entry, agent):
        data = _hotline().acd.entry(entry)
        return hold(conversation, _queue(conversation, data.get("queue", "")), [])
    return _talk(conversation, entry, agent)


def _url_of(conversation: Conversation, name: str, entry: str) -> str:
    return conversation.url(Target("queue", name, {"entry": entry}))


@step("queue", "announce_queue")
def announce_queue(conversation: Conversation, entry: str = "") -> VoiceResponse:
    """The announcement the agent alone hears as their talk starts: the caller's queue."""
    response = VoiceResponse()
    queue = _hotline().acd.entry(entry).get("queue", "")
    if queue in conversation.settings.routing.queues:
        conversation.say(response, conversation.t("agent_whisper", queue=_title(conversation, queue)))
    else:  # the call is gone: a blank moment (never an empty answer; Say, Play, Pause only here)
        response.pause(length=1)
    return response


@step("queue", "whisper")
def whisper(conversation: Conversation, entry: str = "", agent: str = "") -> VoiceResponse:
    """Heard by the agent on answering, before the bridge: the answer is marked here."""
    app = _hotline()
    response = VoiceResponse()
    if not agent.isdigit() or not seats.answered(app, entry, int(agent)):
        response.hangup()  # the reservation is gone: this leg must not reach the caller
        return response
    queue = app.acd.entry(entry).get("queue", "")
    if queue in conversation.settings.routing.queues:
        conversation.say(response, conversation.t("agent_whisper", queue=_title(conversation, queue)))
    return response


@step("queue", "bridged")
def bridged(conversation: Conversation, entry: str = "", agent: str = "") -> VoiceResponse:
    """The <Dial> to the agent ended: the talk is over, or the agent did not answer."""
    app = _hotline()
    status = conversation.form.get("DialCallStatus", "")
    if not agent.isdigit():
        return conversation.go(POST_CALL)
    agent_id = int(agent)
    if status == "answered":  # the talk was a conference (issue 14): it has ended
        return _conference_ended(conversation, app, entry, agent)
    if status in ("completed", "answered") and conversation.form.get("DialBridged") != "false":
        seats.talk_ended(app, entry, agent_id)
        return conversation.go(POST_CALL)
    if status == "canceled":  # the caller hung up while the agent's phone rang: the agent is freed
        return _abandoned(conversation, entry)
    return _agent_missed(conversation, app, entry, agent_id, status)


def _conference_ended(conversation: Conversation, app, entry: str, agent: str) -> VoiceResponse:
    owner = app.acd.entry(entry).get("agent") or agent
    if seats.talk_ended(app, entry, int(owner)):
        return conversation.go(POST_CALL)
    caller_gone = conversation.form.get("CallStatus") == "completed"
    if caller_gone and app.acd.agent(int(agent)).get("offer") == entry:
        return _abandoned(conversation, entry)  # hung up while the agent's phone rang
    return call_over() if caller_gone else conversation.go(POST_CALL)


def _agent_missed(conversation: Conversation, app, entry: str, agent_id: int, status: str) -> VoiceResponse:
    """The agent's phone rang out: back on hold in the caller's place, and the next agent sought."""
    seats.offer_missed(app, entry, agent_id, status or "no-answer")
    data = app.acd.entry(entry)
    response = hold(conversation, _queue(conversation, data.get("queue", "")), [conversation.line("agent_missed")])
    _flush(conversation)
    seats.dispatch(app)
    return response


def _abandoned(conversation: Conversation, entry: str) -> VoiceResponse:
    app = _hotline()
    gone = app.acd.leave(entry, seats.epoch(conversation.now), "left")
    if gone.detail["was"] in ("waiting", "offered"):
        conversation.event("abandon", queue=gone.queue, waited=round(gone.seconds))
    seats.dispatch(app)
    return call_over()


@step("queue", "recorded")
def recorded(conversation: Conversation, entry: str = "", agent: str = "") -> VoiceResponse:
    """The carrier has the recording of the talk with the agent: keep its reference with the call."""
    form = conversation.form
    sid = str(form.get("RecordingSid", ""))[:64]
    if sid and form.get("RecordingStatus", "completed") == "completed":
        detail = _recording(conversation, entry, agent, sid)
        if form.get("CallSid") or not entry:
            conversation.event("recording", **detail)
        else:  # a conference's recording carries no CallSid: it is kept with the caller's call
            seats.add_events(_hotline(), entry, conversation.now, ("recording", detail))
    return call_over()  # a status callback: the carrier ignores the answer


def _recording(conversation: Conversation, entry: str, agent: str, sid: str) -> dict:
    """The recording's reference, with the caller's queue and the agent."""
    form = conversation.form
    try:
        queue = _hotline().acd.entry(entry).get("queue", "") if entry else ""
    except redis.RedisError:  # the reference matters more than the queue's name
        queue = ""
    return {
        "queue": queue,
        "agent_id": conversation.int_arg(agent) or None,
        "recording_sid": sid,
        "recording_url": str(form.get("RecordingUrl", ""))[:500],
        "duration": conversation.int_arg(form.get("RecordingDuration"), 0),
    }


@step("queue", "after_call")
def after_call(conversation: Conversation, entry: str = "", agent: str = "") -> VoiceResponse:
    """Where the console's hang-up sends the caller: on to POST_CALL (the satisfaction survey)."""
    return conversation.go(Target(POST_CALL.flow, POST_CALL.step, {"entry": entry, "agent": agent}))


# ---- callbacks -------------------------------------------------------------------------------------


@step("queue", "callback")
def callback(conversation: Conversation, entry: str = "", agent: str = "") -> VoiceResponse:
    """The patient answered our callback: greet them and ring the reserved agent.

    With the seats' state unreachable, the patient is greeted and put through to the
    operator, as every caller who asks for a person is while it is away (`operator`): they
    asked to speak to someone and have answered, so they are not hung up on with a promise
    that the hospital will call again, which nothing could keep while Redis is away (nor once
    the callback's retries are spent).  The agent reserved for them is not left reserved:
    Redis refused this answer's first command, so the reservation is still the callback's,
    and the sweep ends it at its expiry (seats._offer_expired) as a failed attempt, the agent
    free in their place; the patient is then called again after the spacing (nothing in
    Redis can say that the operator took the call)."""
    hospital = conversation.settings.hospital.name(conversation.lang)
    greeting = conversation.line("callback_greeting", hospital=hospital)
    try:
        return _callback_answered(conversation, entry, agent, greeting)
    except redis.RedisError as exc:
        # Numbers stay out of the log: the entry and the call are named by their SIDs only.
        log.warning(
            "callback %s: call %s answered, but the seats' state is unreachable (%s): ringing the operator",
            entry,
            conversation.call_sid,
            exc,
        )
        return operator(conversation, [greeting])


def _callback_answered(conversation: Conversation, entry: str, agent: str, greeting: Line) -> VoiceResponse:
    """From now on the callback is a live call: the greeting, then the reserved agent's phone
    rings, or (the reservation gone meanwhile) the patient is on hold like any caller."""
    app = _hotline()
    app.acd.callback_connected(entry, conversation.call_sid)
    if not _offered(entry, agent):
        data = app.acd.entry(entry)
        return hold(conversation, _queue(conversation, data.get("queue", "")), [greeting])
    response = _talk(conversation, entry, agent)
    said = VoiceResponse()
    conversation.say(said, greeting.text, greeting.lang)
    for verb in response.verbs:
        said.append(verb)
    return said


@step("queue", "callback_status")
def callback_status(conversation: Conversation, entry: str = "", agent: str = "") -> VoiceResponse:
    """The callback call ended.  Not answered (busy, no answer, failed): try again later, as
    configured, keeping the place.  A status callback: the call is over whatever happens here,
    so Redis unreachable is logged and the answer is the same.  Each change of the seats is
    one script, done whole or not at all; what was not done is ended later by what ends a
    forgotten offer (the agent's ring running out, the sweep's reservation expiry) or, for an
    agent who had picked up, by the agent hanging up from the console."""
    status = conversation.form.get("CallStatus", "")
    try:
        _callback_ended(conversation, _hotline(), entry, agent, status)
    except redis.RedisError as exc:
        # Numbers stay out of the log: the entry and the call are named by their SIDs only.
        log.warning(
            "callback %s: call %s %s, but the seats' state is unreachable (%s): left as it was",
            entry,
            conversation.call_sid,
            status,
            exc,
        )
    return call_over()


def _callback_ended(conversation: Conversation, app, entry: str, agent: str, status: str) -> None:
    """What the callback call's end changes in the seats (queue/callback_status)."""
    if status == "completed":  # the patient hung up: during the greeting, the agent waits for nobody
        seats.caller_gone(app, entry, conversation.call_sid)
    elif status in ("busy", "no-answer", "failed", "canceled") and agent.isdigit():
        _callback_not_answered(conversation, app, entry, int(agent), status)


def _callback_not_answered(conversation: Conversation, app, entry: str, agent: int, status: str) -> None:
    """A failed attempt (seats.callback_not_answered), then the agent is offered on."""
    result = seats.callback_not_answered(app, entry, agent, conversation.now)
    log.info("callback %s: %s (%s)", entry, status, result.status)
    seats.dispatch(app)
