"""The reminder call: the day before an appointment the hotline rings the
patient (queueing.jobs.call_reminder places the call, with answering-machine
detection, to /ivr/reminder/start?appointment=<id>&lang=<lang>).

Whoever picks up may not be the patient, and a voicemail is heard by anyone:

- a machine (AnsweredBy=machine_*, fax) hears the hospital's name and number,
  nothing about the appointment;
- a person hears who the reminder is for by title and surname only (王女士),
  the day, the half-day and the department (or the exam) — then 1 confirms,
  2 cancels (asked twice, and only before the cancellation cut-off), 0 a person.

The outcome goes on the appointment (confirmed_at, or cancelled through
records.booking.cancel) and on the patient's file (PatientNote), with the call's
sid.  Every request checks that the call is to one of the patient's numbers.
"""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import Choice, Conversation, Line, Target, is_id, step
from ivr.flows.appointments import cancel_by_phone
from ivr.flows.booking import hand_texts_to_workers
from records import messages
from records.booking import Outcome
from records.db import begin_write
from records.models import Appointment, localized
from records.patients import to_e164
from wording import speaking
from wording.prompts import REMINDER_CALL, fill, t
from wording.texts import addressee, period, queue_appointment_sms

CONFIRM_WORDS = ("确认", "确定", "confirm", "yes")
CANCEL_WORDS = ("取消", "cancel")


def line(conversation: Conversation, prompt: str, **values: object) -> Line:
    return Line(fill(REMINDER_CALL[prompt][conversation.lang], conversation.lang, **values), conversation.lang)


@step("reminder", "start")
def start(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    """The patient's phone was answered (by someone, or something)."""
    found = _appointment(conversation, appointment)
    if found is None:
        return _machine(conversation)
    begin_write(conversation.db)
    conversation.open_outbound_record(found.patient_id)
    answered_by = conversation.form.get("AnsweredBy", "")
    machine = answered_by.startswith("machine") or answered_by == "fax"
    if machine:
        messages.note(conversation.db, found, conversation.now, "reminder_machine", "reminder call: a machine answered")
    conversation.db.commit()
    return _machine(conversation) if machine else conversation.go(_target("ask", found))


@step("reminder", "ask")
def ask(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    found = _booked(conversation, appointment)
    if found is None:
        return _gone(conversation)
    hospital = conversation.settings.hospital.name(conversation.lang)
    name = addressee(found.patient, conversation.lang)
    intro = line(conversation, "intro", hospital=hospital, name=name, **_when(conversation, found))
    choices = [
        Choice(_target("confirm", found), "1", line(conversation, "confirm_option").text, CONFIRM_WORDS),
        Choice(_target("cancel", found), "2", line(conversation, "cancel_option").text, CANCEL_WORDS),
    ]
    return conversation.menu([intro], choices, back=None, give_up=Target("reminder", "bye"))


@step("reminder", "confirm")
def confirm(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    begin_write(conversation.db)
    found = _booked(conversation, appointment)
    if found is None:
        return _gone(conversation)
    messages.confirm(conversation.db, found, conversation.now, "confirmed on the reminder call", conversation.call_sid)
    conversation.db.commit()
    conversation.event("reminder", outcome="confirmed")
    return bye(conversation, line(conversation, "confirmed"))


@step("reminder", "cancel")
def cancel(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    """Asked again: a slip of the finger must not cost the patient their place."""
    found = _booked(conversation, appointment)
    if found is None:
        return _gone(conversation)
    choices = [
        Choice(_target("cancelled", found), "1", phrases=CONFIRM_WORDS + CANCEL_WORDS),
        Choice(_target("ask", found), "2", line(conversation, "keep_option").text),
    ]
    check = line(conversation, "cancel_check", **_when(conversation, found))
    return conversation.menu([check], choices, back=_target("ask", found), give_up=Target("reminder", "bye"))


@step("reminder", "cancelled")
def cancelled(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    begin_write(conversation.db)
    if (found := _booked(conversation, appointment)) is None:
        return _gone(conversation)
    db, settings = conversation.db, conversation.settings
    result = cancel_by_phone(conversation, found)
    if result.outcome is not Outcome.CANCELLED:
        return _not_cancelled(conversation, result.outcome, found)
    sms = queue_appointment_sms(
        db, settings, found, "cancellation", conversation.now, conversation.call_sid, lang=conversation.lang
    )
    db.commit()
    hand_texts_to_workers(conversation, sms, result.offered)  # enqueued once the answer is ready
    conversation.event("reminder", outcome="cancelled")
    return bye(conversation, line(conversation, "cancelled"))


def _not_cancelled(conversation: Conversation, outcome: Outcome, found: Appointment) -> VoiceResponse:
    """Inside the cut-off only a person can help (too_late); otherwise it was not there to cancel."""
    if outcome is Outcome.TOO_LATE:
        conversation.event("reminder", outcome="too_late")
        return conversation.go(_target("too_late", found))
    return _gone(conversation)


@step("reminder", "too_late")
def too_late(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    """Inside the cut-off: only a person can help now (the menu offers 0)."""
    return conversation.menu([line(conversation, "too_late")], back=None, give_up=Target("reminder", "bye"))


@step("reminder", "bye")
def bye(conversation: Conversation, *lines: Line) -> VoiceResponse:
    return conversation.hang_up(*lines, line(conversation, "bye"))


# ---- helpers -------------------------------------------------------------------------------


def _appointment(conversation: Conversation, appointment_id: str) -> Appointment | None:
    """The appointment, if this call is to one of its patient's numbers.  (A step
    reached with conversation.go, inside a request an earlier step already
    checked, has no form of its own.)"""
    if not is_id(appointment_id):
        return None
    found = messages.appointment(conversation.db, int(appointment_id))
    if found is None or not conversation.form:
        return found
    called = to_e164(conversation.form.get("To", ""), conversation.settings.hospital.phone_region)
    return found if called in {phone.e164 for phone in found.patient.phones} else None


def _booked(conversation: Conversation, appointment_id: str) -> Appointment | None:
    found = _appointment(conversation, appointment_id)
    return found if found is not None and found.status == "booked" else None


def _target(name: str, appointment: Appointment) -> Target:
    return Target("reminder", name, {"appointment": str(appointment.id)})


def _when(conversation: Conversation, appointment: Appointment) -> dict[str, str]:
    lang = conversation.lang
    session = appointment.session
    place = session.doctor.department if session.doctor else session.exam_type
    return {
        "day": speaking.day(appointment.date, lang),
        "period": t(period(appointment), lang),
        "what": localized(place, "name", lang),
    }


def _machine(conversation: Conversation) -> VoiceResponse:
    """Only what anyone may hear: who called, and the number to call back."""
    settings = conversation.settings
    lang = conversation.lang
    phone = speaking.phone(settings.hospital.main_number, lang, settings.hospital.phone_region)
    response = VoiceResponse()
    said = line(conversation, "machine", hospital=settings.hospital.name(lang), phone=phone)
    conversation.say(response, said.text)
    response.hangup()
    return response


def _gone(conversation: Conversation) -> VoiceResponse:
    hospital = conversation.settings.hospital.name(conversation.lang)
    return bye(conversation, line(conversation, "gone", hospital=hospital))
