"""The satisfaction survey after an agent call: when the agent's side of the call
ends, the routing engine continues the caller's call here (ivr.flows.queue.POST_CALL,
with `entry` and `agent`); the queue and agent are read from the call's own events,
the last `answer {queue, agent_id}`, when the URL does not carry them.

- one keypad question, 1 (very dissatisfied) to 5 (very satisfied);
- then, optionally, a recorded comment (up to aftercare.survey.comment_seconds,
  '#' ends it), or `9` to opt out of follow-up calls, surveys and notices;
- the score is stored with the call's record, the agent and the queue
  (SurveyResponse) and added to the call's events as `survey {score, agent_id, queue}`.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import Choice, Conversation, Line, Target, step
from records import aftercare
from records.db import begin_write
from wording import speaking
from wording.prompts import SURVEY, fill

SCORES = "12345"


def line(conversation: Conversation, prompt: str, **values: object) -> Line:
    settings = conversation.settings
    lang = conversation.lang
    phone = speaking.phone(settings.hospital.main_number, lang, settings.hospital.phone_region)
    return Line(fill(SURVEY[prompt][lang], lang, phone=phone, **values), lang)


@step("survey", "start")
def start(conversation: Conversation, queue: str = "", agent: str = "", entry: str = "") -> VoiceResponse:
    """The routing engine's post-call hook (ivr.flows.queue.POST_CALL) passes `entry` (the
    caller's queue entry) and `agent`; the queue comes from the call's `answer` event."""
    patient_id = _patient(conversation)
    if patient_id is not None and aftercare.is_opted_out(conversation.db, patient_id):
        return bye(conversation)  # no surveys for a patient who opted out
    if not (queue and agent):
        queue, agent = _served_by(conversation, queue, agent)
    here = {"queue": queue[:32], "agent": agent[:12]}
    choices = [Choice(Target("survey", "score", {**here, "value": key}), key) for key in SCORES]
    conversation.event("survey_offered", queue=queue or None)
    return conversation.menu([line(conversation, "ask")], choices, back=None, give_up=Target("survey", "bye"))


@step("survey", "score")
def score(conversation: Conversation, queue: str = "", agent: str = "", value: str = "") -> VoiceResponse:
    if value not in SCORES or not value:
        return conversation.go(Target("survey", "start", {"queue": queue, "agent": agent}))
    agent_id = int(agent) if agent.isdigit() and len(agent) <= 9 else None  # a staff id fits an INTEGER
    db = conversation.db
    begin_write(db)
    _keep_score(conversation, int(value), agent_id, queue)
    db.commit()
    conversation.event("survey", score=int(value), agent_id=agent_id, queue=queue or None)
    return conversation.go(Target("survey", "more"), line(conversation, "thanks_score"))


def _keep_score(conversation: Conversation, value: int, agent_id: int | None, queue: str) -> None:
    """With the call's record, the agent, the queue and (if known) the patient."""
    aftercare.survey_score(
        conversation.db,
        call_sid=conversation.call_sid,
        score=value,
        agent_id=agent_id,
        queue=queue or None,
        patient_id=_patient(conversation),
        now=conversation.now,
    )


@step("survey", "more")
def more(conversation: Conversation) -> VoiceResponse:
    choices = [
        Choice(Target("survey", "comment"), "1"),
        Choice(Target("survey", "bye"), "2"),
        Choice(Target("survey", "opt_out"), "9"),
    ]
    return conversation.menu([line(conversation, "more")], choices, back=None, give_up=Target("survey", "bye"))


@step("survey", "comment")
def comment(conversation: Conversation) -> VoiceResponse:
    seconds = conversation.settings.aftercare.survey.comment_seconds
    response = VoiceResponse()
    for said in [*conversation.preamble, line(conversation, "record", seconds=seconds)]:
        conversation.say(response, said.text, said.lang)
    _record(response, conversation.url(Target("survey", "recorded")), seconds)
    # Nothing recorded (silence): the Record falls through to here.
    response.redirect(conversation.url(Target("survey", "bye")), method="POST")
    return response


def _record(response: VoiceResponse, action: str, seconds: int) -> None:
    """The comment: after a beep, up to `seconds`, ended by '#' (or 5 seconds of silence)."""
    response.record(action=action, method="POST", max_length=seconds, finish_on_key="#", play_beep=True, timeout=5)


@step("survey", "recorded")
def recorded(conversation: Conversation) -> VoiceResponse:
    form = conversation.form
    duration = form.get("RecordingDuration", "")
    db = conversation.db
    begin_write(db)
    aftercare.survey_comment(
        db,
        call_sid=conversation.call_sid,
        recording_sid=form.get("RecordingSid", ""),
        url=form.get("RecordingUrl", ""),
        seconds=int(duration) if duration.isdigit() and len(duration) <= 6 else None,
    )
    db.commit()
    conversation.event("survey_comment", recording_sid=form.get("RecordingSid", "")[:64] or None)
    return bye(conversation, line(conversation, "recorded"))


@step("survey", "opt_out")
def opt_out(conversation: Conversation) -> VoiceResponse:
    if _patient(conversation) is None:
        return conversation.go(Target("survey", "more"), line(conversation, "opt_out_unknown"))
    choices = [Choice(Target("survey", "opted_out"), "1"), Choice(Target("survey", "more"), "2")]
    return conversation.menu(
        [line(conversation, "opt_out_check")], choices, back=Target("survey", "more"), give_up=Target("survey", "bye")
    )


@step("survey", "opted_out")
def opted_out(conversation: Conversation) -> VoiceResponse:
    db = conversation.db
    begin_write(db)
    patient_id = _patient(conversation)
    if patient_id is None:
        return conversation.go(Target("survey", "more"), line(conversation, "opt_out_unknown"))
    aftercare.opt_out(
        db, patient_id, channel="keypad", now=conversation.now, note=f"survey call {conversation.call_sid}"
    )
    db.commit()
    conversation.event("opted_out", patient_id=patient_id)
    return bye(conversation, line(conversation, "opted_out"))


@step("survey", "bye")
def bye(conversation: Conversation, *lines: Line) -> VoiceResponse:
    return conversation.hang_up(*lines, line(conversation, "bye"))


def _served_by(conversation: Conversation, queue: str, agent: str) -> tuple[str, str]:
    """The queue and agent of the last `answer` event of this call (the ACD writes it)."""
    try:
        events = conversation.calls.events(conversation.call_sid)
    except Exception:  # Redis unavailable: the score is still worth keeping
        return queue, agent
    for event in reversed(events):
        if event.kind == "answer":
            return queue or str(event.detail.get("queue") or ""), agent or str(event.detail.get("agent_id") or "")
    return queue, agent


def _patient(conversation: Conversation) -> int | None:
    """Whose call this is: the identified caller, or the one patient file the number belongs
    to (the call's state in Redis; else its record)."""
    try:
        _number, matches, identified = conversation.calls.who(conversation.call_sid)
    except Exception:
        identified, matches = None, []
    if identified:
        return identified
    if len(matches) == 1:
        return matches[0]
    return aftercare.call_patient(conversation.db, conversation.call_sid)
