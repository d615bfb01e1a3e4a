"""Who is calling, before anything about a patient's care is said or changed.

- A number that belongs to patient files (one, or a family's several) is asked
  for the patient's month and day of birth (four digits); the file it matches
  is the caller.  Twins on one number are asked for the record number.
- Any other number keys the medical record number, then the full birth date;
  both are checked together, so the hotline never says whether a record
  number exists.
- Three wrong attempts in a call end identification politely and offer a
  person.  Failures are also counted per number in Redis, and a number with
  too many is locked out for a while, so one phone cannot try many record
  numbers quickly.

The proven identity is kept in the call's Redis state; flows that need it call
`patient_or_identify`.
"""

from __future__ import annotations

import functools
from datetime import date

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import Conversation, Target, step
from records.models import Patient
from records.patients import by_record_number, get_patient, patients

# Flows that may ask for identification, and where they continue afterwards.  Besides these,
# `then=doctor:<code>` continues at booking that doctor (from the doctor's page): see next_step.
NEXT_STEPS = {"booking.start": Target("booking", "start"), "appointments.start": Target("appointments", "start")}


def next_step(conversation: Conversation, then: str) -> Target | None:
    """Where a caller goes once identified; None for anything not known (`then` travels in
    the URL, so it is checked against the flows and the directory, never trusted)."""
    if then in NEXT_STEPS:
        return NEXT_STEPS[then]
    kind, _, code = then.partition(":")
    if kind == "doctor" and len(code) <= 20 and conversation.directory.doctor(code) is not None:
        return Target("booking", "first", {"doctor": code})
    return None


def patient_or_identify(conversation: Conversation, then: str) -> Patient | VoiceResponse:
    """The identified caller's patient file, or the identification dialogue."""
    patient_id = conversation.calls.identified(conversation.call_sid)
    patient = get_patient(conversation.db, patient_id) if patient_id else None
    if patient is not None:
        return patient
    return conversation.go(Target("identify", "start", {"then": then}))


@step("identify", "start")
def start(conversation: Conversation, then: str = "booking.start") -> VoiceResponse:
    number, matches = conversation.calls.matches(conversation.call_sid)
    failures = conversation.calls.identity_failures(number or "unknown")
    if failures is None:
        return conversation.go(Target("person", "transfer"), conversation.line("identity_unavailable"))
    if failures >= conversation.settings.identification.failures_per_number:
        conversation.event("identity_locked")
        return conversation.go(Target("person", "transfer"), conversation.line("identity_locked"))
    args = {"then": then if next_step(conversation, then) else "booking.start"}
    if matches:
        return conversation.go(Target("identify", "birthday", args))
    return conversation.go(Target("identify", "record_number", args))


@step("identify", "birthday")
def birthday(conversation: Conversation, then: str = "booking.start", tries: str = "0") -> VoiceResponse:
    lines = [conversation.t("ask_birthday"), conversation.person_offer_by_voice()]
    return conversation.entry(lines, functools.partial(_birthday_keyed, conversation, lines, then, tries))


def _birthday_keyed(conversation: Conversation, lines: list, then: str, tries: str, digits: str) -> VoiceResponse:
    """The month and day of birth of one of the patient files the caller's number belongs to."""
    month_day = _month_day(digits)
    if month_day is None:
        return conversation.failed_entry(conversation.line("not_a_date"), lines)
    number, matches = conversation.calls.matches(conversation.call_sid)
    born = [p for p in patients(conversation.db, matches) if (p.birth_date.month, p.birth_date.day) == month_day]
    if len(born) == 1:
        return _proven(conversation, born[0], then)
    if len(born) > 1:  # twins sharing a phone: the record number tells them apart
        return conversation.go(Target("identify", "record_number", {"then": then, "tries": tries}))
    return _wrong(conversation, number, then, tries, "birthday")


@step("identify", "record_number")
def record_number(conversation: Conversation, then: str = "booking.start", tries: str = "0") -> VoiceResponse:
    lines = [conversation.t("ask_record_number"), conversation.person_offer_by_voice()]

    def keep(digits: str) -> VoiceResponse:
        if not digits.isdigit() or len(digits) > 20:
            return conversation.failed_entry(conversation.line("identity_mismatch"), lines)
        if not conversation.calls.note_record_number(conversation.call_sid, digits):
            return conversation.go(Target("person", "transfer"), conversation.line("identity_unavailable"))
        return conversation.go(Target("identify", "birth_date", {"then": then, "tries": tries}))

    return conversation.entry(lines, keep)


@step("identify", "birth_date")
def birth_date(
    conversation: Conversation, then: str = "booking.start", tries: str = "0", record: str = ""
) -> VoiceResponse:
    lines = [conversation.t("ask_birth_date"), conversation.person_offer_by_voice()]
    return conversation.entry(lines, functools.partial(_birth_date_keyed, conversation, lines, then, tries))


def _birth_date_keyed(conversation: Conversation, lines: list, then: str, tries: str, digits: str) -> VoiceResponse:
    """The full birth date, checked together with the record number keyed before it (so the
    hotline never says whether a record number exists)."""
    born = _full_date(digits)
    if born is None:
        return conversation.failed_entry(conversation.line("not_a_date"), lines)
    prefix = conversation.settings.identification.record_number_prefix
    record = conversation.calls.record_number(conversation.call_sid)
    patient = by_record_number(conversation.db, record, prefix)
    number, matches = conversation.calls.matches(conversation.call_sid)
    if patient is not None and patient.birth_date == born:
        return _proven(conversation, patient, then)
    return _wrong(conversation, number, then, tries, "record_number")


def _proven(conversation: Conversation, patient: Patient, then: str) -> VoiceResponse:
    if not conversation.calls.identify(conversation.call_sid, patient.id):
        return conversation.go(Target("person", "transfer"), conversation.line("identity_unavailable"))
    conversation.event("identified", patient_id=patient.id)
    return conversation.go(next_step(conversation, then) or NEXT_STEPS["booking.start"])


def _wrong(conversation: Conversation, number: str, then: str, tries: str, again: str) -> VoiceResponse:
    settings = conversation.settings.identification
    conversation.event("identity_mismatch")
    conversation.calls.identity_failed(number or "unknown", settings.lockout_minutes * 60)
    attempts = conversation.int_arg(tries) + 1
    if attempts >= settings.attempts_per_call or _locked(conversation, number):
        conversation.event("identity_failed")
        return conversation.go(Target("person", "transfer"), conversation.line("identity_failed"))
    sorry = conversation.line("identity_mismatch")
    return conversation.go(Target("identify", again, {"then": then, "tries": str(attempts)}), sorry)


def _locked(conversation: Conversation, number: str) -> bool:
    failures = conversation.calls.identity_failures(number or "unknown")
    return failures is None or failures >= conversation.settings.identification.failures_per_number


def _month_day(digits: str) -> tuple[int, int] | None:
    """MMDD; an 8-digit YYYYMMDD keyed by mistake is read for its month and day."""
    if len(digits) == 8:
        full = _full_date(digits)
        return (full.month, full.day) if full else None
    if len(digits) != 4 or not (digits.isascii() and digits.isdigit()):
        return None
    month, day = int(digits[:2]), int(digits[2:])
    try:
        date(2000, month, day)  # a leap year, so 0229 is a real birthday
    except ValueError:
        return None
    return month, day


def _full_date(digits: str) -> date | None:
    if len(digits) != 8 or not (digits.isascii() and digits.isdigit()):
        return None
    try:
        return date(int(digits[:4]), int(digits[4:6]), int(digits[6:]))
    except ValueError:
        return None
