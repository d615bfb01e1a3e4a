"""The follow-up call after discharge (queueing.aftercare.place_followup_call
rings the patient, with answering-machine detection, to
/ivr/followup/start?task=<id>&attempt=<n>&lang=<lang>).

Whoever picks up may not be the patient, and a voicemail is heard by anyone:

- a machine hears the hospital's name and number, nothing about health;
- a person is asked for the patient by title and surname (王女士) and, to go on,
  the patient's month and day of birth; nothing about the stay is said before;
- then the configured keypad questions (aftercare.followup.questions); a
  worrying answer flags the task and asks for a nurse's callback;
- `0` reaches a person at any question, as everywhere in the hotline.

Every request checks that the call is the task's current attempt, to one of the
patient's numbers.  What the carrier says at the end (no answer, busy...) comes
to /ivr/followup/call-status (ivr/followup_status.py).
"""

from __future__ import annotations

import functools

from twilio.twiml.voice_response import VoiceResponse

from acd import nurse
from extensions import hotline
from ivr.dialogue import Choice, Conversation, Line, Target, step
from ivr.flows.identify import _month_day
from records import aftercare
from records.db import begin_write
from records.models import FollowUpTask
from records.patients import to_e164
from wording import speaking
from wording.prompts import FOLLOWUP_CALL, fill
from wording.texts import addressee


def line(conversation: Conversation, prompt: str, **values: object) -> Line:
    settings = conversation.settings
    lang = conversation.lang
    common = {
        "hospital": settings.hospital.name(lang),
        "phone": speaking.phone(settings.hospital.main_number, lang, settings.hospital.phone_region),
        "emergency": settings.hospital.emergency_number,
    }
    return Line(fill(FOLLOWUP_CALL[prompt][lang], lang, **{**common, **values}), lang)


@step("followup", "start")
def start(conversation: Conversation, task: str = "", attempt: str = "") -> VoiceResponse:
    """The patient's phone was answered (by someone, or something)."""
    if _task(conversation, task, attempt, first=True) is None:
        return _say_and_hang_up(conversation, line(conversation, "gone"))
    begin_write(conversation.db)
    if (found := _task(conversation, task, attempt, first=True)) is None:
        return _say_and_hang_up(conversation, line(conversation, "gone"))
    _open_record(conversation, found)
    machine = _answered_by_machine(conversation)
    if machine:
        aftercare.attempt_result(conversation.db, found, "machine")
    conversation.db.commit()
    return _to_machine(conversation) if machine else conversation.go(_target("identify", found))


def _answered_by_machine(conversation: Conversation) -> bool:
    """The carrier's answering-machine detection heard a machine (or a fax)."""
    answered_by = conversation.form.get("AnsweredBy", "")
    return answered_by.startswith("machine") or answered_by == "fax"


def _to_machine(conversation: Conversation) -> VoiceResponse:
    """Only what anyone may hear: the hospital's name and number, nothing about health."""
    conversation.event("followup", outcome="machine")
    return _say_and_hang_up(conversation, line(conversation, "machine"))


@step("followup", "identify")
def identify(conversation: Conversation, task: str = "", attempt: str = "", tries: str = "0") -> VoiceResponse:
    found = _task(conversation, task, attempt)
    if found is None:
        return _say_and_hang_up(conversation, line(conversation, "gone"))
    lines = [line(conversation, "who", name=addressee(found.patient, conversation.lang))]
    check = functools.partial(_birthday_keyed, conversation, found, lines, tries)
    return conversation.entry(lines, check, back=None, give_up=_target("not_identified", found))


def _birthday_keyed(
    conversation: Conversation, found: FollowUpTask, lines: list[Line], tries: str, digits: str
) -> VoiceResponse:
    """The patient's month and day of birth: on to the questions; otherwise asked again, until
    the attempts per call are spent."""
    patient = found.patient
    month_day = _month_day(digits)
    if month_day is None:
        return conversation.failed_entry(line(conversation, "not_a_date"), lines, _target("not_identified", found))
    if month_day == (patient.birth_date.month, patient.birth_date.day):
        return _identified(conversation, found)
    conversation.event("identity_mismatch")
    wrong = conversation.int_arg(tries) + 1
    if wrong >= conversation.settings.identification.attempts_per_call:
        return conversation.go(_target("not_identified", found))
    return conversation.go(_target("identify", found, tries=str(wrong)), line(conversation, "wrong"))


def _identified(conversation: Conversation, found: FollowUpTask) -> VoiceResponse:
    begin_write(conversation.db)
    aftercare.reached(conversation.db, found, conversation.now)
    conversation.db.commit()
    conversation.event("identified", patient_id=found.patient.id)
    return conversation.go(_target("question", found, n="0"))


@step("followup", "not_identified")
def not_identified(conversation: Conversation, task: str = "", attempt: str = "") -> VoiceResponse:
    found = _task(conversation, task, attempt)
    if found is not None:
        begin_write(conversation.db)
        aftercare.attempt_result(conversation.db, found, "not_identified")
        conversation.db.commit()
    conversation.event("followup", outcome="not_identified")
    return _say_and_hang_up(conversation, line(conversation, "not_identified"))


@step("followup", "question")
def question(conversation: Conversation, task: str = "", attempt: str = "", n: str = "0") -> VoiceResponse:
    found = _task(conversation, task, attempt, reached=True)
    questions = conversation.settings.aftercare.followup.questions
    index = conversation.int_arg(n)
    if found is None or index >= len(questions):
        return _say_and_hang_up(conversation, line(conversation, "gone"))
    asked = questions[index]
    lang = conversation.lang
    lines = [line(conversation, "intro", count=len(questions))] if index == 0 else []
    lines.append(Line(asked.prompt(lang), lang))
    choices = [Choice(_target("answer", found, n=str(index), key=key), key) for key in asked.keys]
    return conversation.menu(lines, choices, back=None, give_up=_target("end", found))


@step("followup", "answer")
def answer(conversation: Conversation, task: str = "", attempt: str = "", n: str = "0", key: str = "") -> VoiceResponse:
    db = conversation.db
    begin_write(db)
    found = _task(conversation, task, attempt, reached=True)
    followup = conversation.settings.aftercare.followup
    index = conversation.int_arg(n)
    if found is None or index >= len(followup.questions) or key not in followup.questions[index].keys:
        return _say_and_hang_up(conversation, line(conversation, "gone"))
    asked = followup.questions[index]
    worrying = aftercare.record_answer(db, found, asked.id, key, followup)
    if worrying:
        _nurse_to_call_back(conversation, found)
    db.commit()
    conversation.event("followup_answer", question=asked.id, worrying=worrying)
    return conversation.go(_after(found, index, len(followup.questions)))


def _nurse_to_call_back(conversation: Conversation, found: FollowUpTask) -> None:
    """A worrying answer: a nurse calls back, on the number this call reached."""
    number = to_e164(conversation.form.get("To", ""), conversation.settings.hospital.phone_region)
    nurse.request_callback(
        conversation.db,
        hotline(),
        found,
        number=number or found.patient.phones[0].e164,
        call_sid=found.last_call_sid or conversation.call_sid,
        now=conversation.now,
        base_url=conversation.base_url,
    )


def _after(found: FollowUpTask, index: int, questions: int) -> Target:
    """The next question, or the end after the last."""
    if index + 1 < questions:
        return _target("question", found, n=str(index + 1))
    return _target("end", found)


@step("followup", "end")
def end(conversation: Conversation, task: str = "", attempt: str = "") -> VoiceResponse:
    found = _task(conversation, task, attempt, reached=True)
    flagged = found is not None and found.flagged
    conversation.event("followup", outcome="flagged" if flagged else "answered")
    return _say_and_hang_up(conversation, line(conversation, "nurse" if flagged else "thanks"))


# ---- helpers -------------------------------------------------------------------------------


def _task(
    conversation: Conversation, task_id: str, attempt: str, *, first: bool = False, reached: bool = False
) -> FollowUpTask | None:
    """The task, if this request is its current attempt, to one of its patient's numbers
    (and, after the first request, from the call that attempt placed)."""
    if not (_small(task_id) and _small(attempt)):
        return None
    found = aftercare.task(conversation.db, int(task_id))
    if found is None or found.status != "calling" or found.attempts != int(attempt):
        return None
    if not first and found.last_call_sid not in (None, conversation.call_sid):
        return None
    if reached and found.reached_at is None:
        return None
    if conversation.form:  # a step reached with conversation.go has no form of its own
        called = to_e164(conversation.form.get("To", ""), conversation.settings.hospital.phone_region)
        if called not in {phone.e164 for phone in found.patient.phones}:
            return None
    return found


def _small(value: str) -> bool:
    """A number that fits a database INTEGER (a URL may carry anything)."""
    return value.isdigit() and len(value) <= 9


def _target(name: str, found: FollowUpTask, **extra: str) -> Target:
    return Target("followup", name, {"task": str(found.id), "attempt": str(found.attempts), **extra})


def _say_and_hang_up(conversation: Conversation, *lines: Line) -> VoiceResponse:
    response = VoiceResponse()
    for said in [*conversation.preamble, *lines]:
        conversation.say(response, said.text, said.lang)
    response.hangup()
    return response


def _open_record(conversation: Conversation, found: FollowUpTask) -> None:
    """The call's record, linked to the patient (written by a worker, queueing.recording;
    the status callback completes it), and the call on the task."""
    conversation.open_outbound_record(found.patient_id)
    aftercare.attempt_placed(conversation.db, found, conversation.call_sid)
