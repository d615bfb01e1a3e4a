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

from ivr import speaking
from ivr.dialogue import Choice, Conversation, Line, Target, step
from records import aftercare
from records.db import begin_write

PROMPTS: dict[str, dict[str, str]] = {
    "ask": {
        "zh": "请您对本次服务进行评价：非常满意请按5，满意请按4，一般请按3，不满意请按2，非常不满意请按1。",
        "en": "Please rate the service you received, from 5 for very satisfied to 1 for very dissatisfied.",
    },
    "thanks_score": {"zh": "感谢您的评价。", "en": "Thank you for your rating."},
    "more": {
        "zh": "如需留言，请按1。如不再接收我们的回访电话、满意度调查和通知短信，请按9。结束请按2或直接挂机。",
        "en": "To leave a comment, press 1. To stop our follow-up calls, surveys and notices, press 9. "
        "To finish, press 2 or hang up.",
    },
    "record": {
        "zh": "请在提示音后留言，最长{seconds}秒，结束请按井号键。",
        "en": "Please leave your comment after the tone, up to {seconds} seconds, then press the hash key.",
    },
    "recorded": {"zh": "您的留言已收到。", "en": "We have your comment."},
    "opt_out_check": {
        "zh": "您将不再收到我们的回访电话、满意度调查和通知短信。确认请按1，返回请按2。",
        "en": "You will get no more follow-up calls, surveys or notices from us. To confirm, press 1. "
        "To go back, press 2.",
    },
    "opted_out": {
        "zh": "已为您退订。如需恢复，请致电{phone}。",
        "en": "Done: you will not hear from us unless you ask. To undo it, call {phone}.",
    },
    "opt_out_unknown": {
        "zh": "对不起，我们无法确认您的身份，暂时不能为您退订。您可以回复短信TD退订，或致电{phone}。",
        "en": "Sorry, we cannot tell who you are, so we cannot do that now. Reply TD to one of our texts, "
        "or call {phone}.",
    },
    "bye": {"zh": "感谢您的来电，再见。", "en": "Thank you for calling. Goodbye."},
}
SCORES = "12345"


def line(conversation: Conversation, prompt: str, **values: object) -> Line:
    settings = conversation.settings
    lang = conversation.lang
    phone = speaking.phone(settings.hospital.main_number, lang, settings.hospital.phone_region)
    return Line(PROMPTS[prompt][lang].format(phone=phone, **values), lang)


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
    aftercare.survey_score(
        db,
        call_sid=conversation.call_sid,
        score=int(value),
        agent_id=agent_id,
        queue=queue or None,
        patient_id=_patient(conversation),
        now=conversation.now,
    )
    db.commit()
    conversation.event("survey", score=int(value), agent_id=agent_id, queue=queue or None)
    return conversation.go(Target("survey", "more"), line(conversation, "thanks_score"))


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
    response.record(
        action=conversation.url(Target("survey", "recorded")),
        method="POST",
        max_length=seconds,
        finish_on_key="#",
        play_beep=True,
        timeout=5,
    )
    # Nothing recorded (silence): the Record falls through to here.
    response.redirect(conversation.url(Target("survey", "bye")), method="POST")
    return response


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
    response = VoiceResponse()
    for said in [*conversation.preamble, *lines, line(conversation, "bye")]:
        conversation.say(response, said.text, said.lang)
    response.hangup()
    return response


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
        identified = conversation.calls.identified(conversation.call_sid)
        _number, matches = conversation.calls.matches(conversation.call_sid)
    except Exception:
        identified, matches = None, []
    if identified:
        return identified
    if len(matches) == 1:
        return matches[0]
    return aftercare.call_patient(conversation.db, conversation.call_sid)
