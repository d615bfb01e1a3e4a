"""'My appointments': hear the identified caller's upcoming appointments, cancel
one (confirmed with 1), or move it to another free place (the old place is
given up only when the new one is booked).  Only the identified patient's own
appointments are ever read out or changed."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import MAIN_MENU, Choice, Conversation, Target, step
from ivr.flows.booking import (
    BOOKING,
    gone,
    hand_texts_to_workers,
    reference,
    same_doctor_or_exam,
    send_text,
    too_late,
    what,
    when,
)
from ivr.flows.identify import patient_or_identify
from records import booking
from records.booking import Outcome
from records.db import begin_write
from records.models import Appointment
from wording import speaking

APPOINTMENTS = Target("appointments", "start")


@step("appointments", "start")
def start(conversation: Conversation) -> VoiceResponse:
    if isinstance(patient := patient_or_identify(conversation, "appointments.start"), VoiceResponse):
        return patient
    upcoming = booking.upcoming(conversation.db, patient.id, conversation.now)[
        : conversation.settings.dialogue.page_size
    ]
    if not upcoming:
        return conversation.menu(
            [conversation.t("no_appointments"), conversation.t("book_now_option")], [Choice(BOOKING, "1")]
        )
    intro = conversation.t("appointments_intro", count=len(upcoming))
    return conversation.menu([intro], _appointment_choices(conversation, upcoming), back=MAIN_MENU)


def _appointment_choices(conversation: Conversation, upcoming: list[Appointment]) -> list[Choice]:
    lang = conversation.lang
    return [
        Choice(
            Target("appointments", "detail", {"appointment": str(a.id)}),
            str(i),
            conversation.t(
                "appointment_option",
                day=speaking.day(a.date, lang),
                when=when(conversation, a.session),
                what=what(a.session, lang),
                key=i,
            ),
        )
        for i, a in enumerate(upcoming, start=1)
    ]


def _own(conversation: Conversation, appointment: str) -> Appointment | VoiceResponse:
    """The identified caller's own booked appointment; otherwise what to say instead
    (identification first, or that it is not there)."""
    if isinstance(patient := patient_or_identify(conversation, "appointments.start"), VoiceResponse):
        return patient
    found = booking.find(conversation.db, patient.id, conversation.int_arg(appointment))
    if found is None or found.status != "booked":
        return gone(conversation, booking.already(found) if found else Outcome.NOT_FOUND)
    return found


@step("appointments", "detail")
def detail(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    if isinstance(found := _own(conversation, appointment), VoiceResponse):
        return found
    text = _detail(conversation, found)
    choices = [
        Choice(Target("appointments", "cancel", {"appointment": appointment}), "1"),
        Choice(Target("booking", "days", {**same_doctor_or_exam(found.session), "move": appointment}), "2"),
    ]
    return conversation.menu([text], choices, back=APPOINTMENTS)


def _detail(conversation: Conversation, found: Appointment) -> str:
    lang = conversation.lang
    return conversation.t(
        "appointment_detail",
        day=speaking.day(found.date, lang),
        when=when(conversation, found.session),
        what=what(found.session, lang),
        place=found.place,
        reference=reference(found.reference, lang),
    )


@step("appointments", "cancel")
def cancel(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    if isinstance(found := _own(conversation, appointment), VoiceResponse):
        return found
    lang = conversation.lang
    text = conversation.t("confirm_cancel", day=speaking.day(found.date, lang), when=when(conversation, found.session))
    yes = Choice(Target("appointments", "cancelled", {"appointment": appointment}), "1")
    keep = Choice(Target("appointments", "detail", {"appointment": appointment}), "2")
    return conversation.menu([text], [yes, keep], back=Target("appointments", "detail", {"appointment": appointment}))


@step("appointments", "cancelled")
def cancelled(conversation: Conversation, appointment: str = "") -> VoiceResponse:
    """Reached only by pressing 1 at the cancel confirmation."""
    if isinstance(found := _own(conversation, appointment), VoiceResponse):
        return found
    db = conversation.db
    begin_write(db)
    result = cancel_by_phone(conversation, found)
    if result.outcome is not Outcome.CANCELLED:
        db.rollback()
        return _not_cancelled(conversation, result.outcome, found)
    message = send_text(conversation, found, "cancellation")
    db.commit()
    hand_texts_to_workers(conversation, message, result.offered)
    conversation.event("cancelled", appointment=found.id, reference=found.reference)
    return conversation.go(APPOINTMENTS, conversation.line("cancelled"))


def cancel_by_phone(conversation: Conversation, found: Appointment) -> booking.Result:
    """The caller's cancellation of one of their appointments (this menu's and the reminder call's)."""
    return booking.cancel(
        conversation.db,
        patient_id=found.patient_id,
        appointment_id=found.id,
        now=conversation.now,
        rules=conversation.settings.booking,
        call_sid=conversation.call_sid,
    )


def _not_cancelled(conversation: Conversation, outcome: Outcome, found: Appointment) -> VoiceResponse:
    """Nothing was written: too late to cancel by phone, or another call got there first."""
    if outcome is Outcome.TOO_LATE:  # inside the cut-off: said, with the hours, here
        conversation.event("cancel_refused", appointment=found.id)
        return conversation.menu([too_late(conversation)], back=APPOINTMENTS)
    return gone(conversation, outcome)
