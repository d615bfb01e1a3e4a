"""Booking by phone: a specialist (department → doctor or the first available →
day → session) or an exam (exam → day → session), read back and confirmed with
1; the booking reference is spoken digit by digit and sent by SMS.

Moving an appointment (from ivr/flows/appointments.py) runs through the same
day and session steps with `move=<appointment id>`, and the confirmation moves
instead of booking.  What the caller chose travels in the step's URL; who the
caller is comes from the call's identification, never from the URL.
"""

from __future__ import annotations

from datetime import date, datetime

from twilio.twiml.voice_response import VoiceResponse

from ivr import speaking
from ivr.dialogue import MAIN_MENU, Choice, Conversation, Line, Target, is_id, paged_choices, step
from ivr.flows.departments import choose_department
from ivr.flows.doctors import name_phrases, title
from ivr.flows.identify import patient_or_identify
from records import booking
from records.booking import Outcome
from records.db import begin_write
from records.models import Appointment, ClinicSession, localized

BOOKING = Target("booking", "start")
ANY_DOCTOR_KEY = "9"


# ---- how a session is spoken -----------------------------------------------------------------


def who(session: ClinicSession, lang: str) -> str:
    if session.exam_type is not None:
        return localized(session.exam_type, "name", lang)
    doctor = session.doctor
    name = localized(doctor, "name", lang)
    return f"{name}{title(doctor, lang)}" if lang == "zh" else f"{title(doctor, lang)} {name}"


def what(session: ClinicSession, lang: str) -> str:
    if session.exam_type is not None:
        return who(session, lang)
    department = localized(session.doctor.department, "name", lang)
    return f"{department}{who(session, lang)}" if lang == "zh" else f"{who(session, lang)}, {department}"


def when(conversation: Conversation, session: ClinicSession) -> str:
    period = conversation.t("morning" if session.start_time.hour < 12 else "afternoon")
    return conversation.t("period_at", period=period, start=speaking.clock(session.start_time, conversation.lang))


def reference(digits: str, lang: str) -> str:
    """Digit by digit, in groups of four: '1 2 3 4，5 6 7 8'."""
    groups = [" ".join(digits[i : i + 4]) for i in range(0, len(digits), 4)]
    return ("，" if lang == "zh" else ", ").join(groups)


def estimated_time(conversation: Conversation, appointment: Appointment) -> str | None:
    """With announce: time, a time slot from the place number, spread over the session."""
    if conversation.settings.booking.announce != "time":
        return None
    session = appointment.session
    start = datetime.combine(session.date, session.start_time)
    length = datetime.combine(session.date, session.end_time) - start
    at = start + length * (appointment.place - 1) / max(session.capacity, 1)
    return conversation.t(
        "estimated_time", time=speaking.clock(at.time().replace(second=0, microsecond=0), conversation.lang)
    )


# ---- the steps -------------------------------------------------------------------------------


@step("booking", "start")
def start(conversation: Conversation) -> VoiceResponse:
    patient = patient_or_identify(conversation, "booking.start")
    if isinstance(patient, VoiceResponse):
        return patient
    choices = [
        Choice(Target("booking", "departments"), "1", phrases=("专家", "门诊", "挂号", "specialist", "doctor")),
        Choice(Target("booking", "exams"), "2", phrases=("检查", "exam", "scan", "test")),
        Choice(
            Target("appointments", "start"),
            "3",
            phrases=("我的预约", "取消", "改约", "my appointments", "cancel", "change"),
        ),
    ]
    return conversation.menu([conversation.t("booking_start")], choices)


@step("booking", "departments")
def departments(conversation: Conversation, page: str = "0") -> VoiceResponse:
    here = Target("booking", "departments")
    return choose_department(
        conversation,
        page,
        here=here,
        then=lambda d: Target("booking", "doctors", {"department": d.code}),
        intro="booking_departments",
        back=BOOKING,
    )


@step("booking", "doctors")
def doctors(conversation: Conversation, department: str = "", page: str = "0") -> VoiceResponse:
    found = conversation.directory.department(department)
    if found is None:
        return conversation.go(Target("booking", "departments"), conversation.line("unknown_department"))
    lang = conversation.lang
    staff = conversation.directory.doctors_in(department)
    choices, lines = paged_choices(
        conversation,
        staff,
        conversation.int_arg(page),
        list_target=Target("booking", "doctors", {"department": department}),
        target_of=lambda d: Target("booking", "days", {"doctor": d.code}),
        label_of=lambda d, key: conversation.t(
            "doctor_choice", name=localized(d, "name", lang), title=title(d, lang), key=key
        ),
        phrases_of=name_phrases,
    )
    anyone = Choice(
        Target("booking", "days", {"department": department}),
        ANY_DOCTOR_KEY,
        conversation.t("any_doctor_option", key=ANY_DOCTOR_KEY),
        ("任意", "最早", "随便", "any doctor", "first available"),
    )
    intro = [conversation.t("doctors_in", department=localized(found, "name", lang)), *lines]
    return conversation.menu(intro, [anyone, *choices], back=Target("booking", "departments"))


@step("booking", "exams")
def exams(conversation: Conversation, page: str = "0") -> VoiceResponse:
    lang = conversation.lang
    choices, lines = paged_choices(
        conversation,
        booking.exam_types(conversation.db),
        conversation.int_arg(page),
        list_target=Target("booking", "exams"),
        target_of=lambda e: Target("booking", "days", {"exam": e.code}),
        label_of=lambda e, key: conversation.t("option", label=localized(e, "name", lang), key=key),
        phrases_of=lambda e: (e.name_zh, e.name_en, *e.aliases_zh, *e.aliases_en),
    )
    return conversation.menu([conversation.t("exams_intro"), *lines], choices, back=BOOKING)


def _what_is_wanted(conversation: Conversation, doctor: str, department: str, exam: str) -> dict | None:
    """The booking search the URL asks for: {'doctor_ids': [...]} or {'exam_type_id': id}."""
    db = conversation.db
    if exam:
        found = booking.exam_type(db, exam)
        return {"exam_type_id": found.id} if found else None
    if doctor:
        found = conversation.directory.doctor(doctor)
        return {"doctor_ids": [found.id]} if found else None
    if department and conversation.directory.department(department):
        return {"doctor_ids": [d.id for d in conversation.directory.doctors_in(department)]}
    return None


@step("booking", "days")
def days(
    conversation: Conversation, doctor: str = "", department: str = "", exam: str = "", move: str = ""
) -> VoiceResponse:
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    search = _what_is_wanted(conversation, doctor, department, exam)
    if search is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    rules = conversation.settings.booking
    free = booking.free_days(conversation.db, conversation.now, rules, limit=rules.days_offered, **search)
    args = {k: v for k, v in {"doctor": doctor, "department": department, "exam": exam, "move": move}.items() if v}
    back = Target("appointments", "start") if move else BOOKING
    if not free:
        return conversation.menu([conversation.t("no_free_days", days=rules.days_ahead)], back=back)
    lang = conversation.lang
    choices = [
        Choice(
            Target("booking", "sessions", {**args, "day": day.isoformat()}),
            str(i),
            conversation.t("day_option", day=speaking.day(day, lang), key=i),
            (speaking.day(day, "zh"), speaking.day(day, "en")),
        )
        for i, day in enumerate(free, start=1)
    ]
    return conversation.menu([conversation.t("days_intro")], choices, back=back)


@step("booking", "sessions")
def sessions(
    conversation: Conversation, day: str = "", doctor: str = "", department: str = "", exam: str = "", move: str = ""
) -> VoiceResponse:
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    search = _what_is_wanted(conversation, doctor, department, exam)
    on = _date(day)
    args = {k: v for k, v in {"doctor": doctor, "department": department, "exam": exam, "move": move}.items() if v}
    if search is None or on is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    free = booking.free_sessions(
        conversation.db, on, conversation.now, conversation.settings.booking, limit=7, **search
    )
    if not free:
        return conversation.go(Target("booking", "days", args), conversation.line("session_full"))
    lang = conversation.lang
    choices = [
        Choice(
            Target("booking", "confirm", {"session": str(s.id), **({"move": move} if move else {})}),
            str(i),
            conversation.t("session_option", period=when(conversation, s), who=who(s, lang), free=s.free, key=i),
        )
        for i, s in enumerate(free, start=1)
    ]
    intro = conversation.t("sessions_intro", day=speaking.day(on, lang))
    return conversation.menu([intro], choices, back=Target("booking", "days", args))


@step("booking", "confirm")
def confirm(conversation: Conversation, session: str = "", move: str = "") -> VoiceResponse:
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    chosen = conversation.db.get(ClinicSession, conversation.int_arg(session)) if is_id(session) else None
    if chosen is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    lang = conversation.lang
    search = {"exam": chosen.exam_type.code} if chosen.exam_type else {"doctor": chosen.doctor.code}
    again = Target("booking", "days", {**search, **({"move": move} if move else {})})
    prompt = "confirm_move" if move else "confirm_booking"
    text = conversation.t(
        prompt, day=speaking.day(chosen.date, lang), when=when(conversation, chosen), what=what(chosen, lang)
    )
    yes = Choice(Target("booking", "book", {"session": session, **({"move": move} if move else {})}), "1")
    return conversation.menu([text], [yes, Choice(again, "2")], back=again)


@step("booking", "book")
def book(conversation: Conversation, session: str = "", move: str = "") -> VoiceResponse:
    """Take the place (or move to it) — reached only by pressing 1 at the read-back."""
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    if not is_id(session):
        return conversation.go(BOOKING, conversation.line("lost"))
    db, rules = conversation.db, conversation.settings.booking
    chosen = db.get(ClinicSession, int(session))
    if chosen is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    search = {"exam": chosen.exam_type.code} if chosen.exam_type else {"doctor": chosen.doctor.code}
    begin_write(db)
    if is_id(move):
        result = booking.move(
            db,
            patient_id=patient.id,
            appointment_id=int(move),
            session_id=chosen.id,
            now=conversation.now,
            rules=rules,
            call_sid=conversation.call_sid,
        )
    else:
        result = booking.book(
            db,
            patient_id=patient.id,
            session_id=chosen.id,
            now=conversation.now,
            rules=rules,
            call_sid=conversation.call_sid,
        )
    if result.outcome is Outcome.TOO_LATE:
        db.rollback()
        return conversation.menu([too_late(conversation)], back=Target("appointments", "start"))
    if result.outcome not in (Outcome.BOOKED, Outcome.MOVED):
        db.rollback()
        conversation.event("booking_refused", outcome=str(result.outcome))
        return conversation.go(Target("booking", "days", search), conversation.line(REFUSALS[result.outcome]))
    kind = "moved" if result.outcome is Outcome.MOVED else "confirmation"
    message = send_text(conversation, result.appointment, kind)
    db.commit()
    if message is not None:
        conversation.texts_to_send.append(message.id)
    conversation.event(str(result.outcome), appointment=result.appointment.id, reference=result.appointment.reference)
    done = {"appointment": str(result.appointment.id), **({"moved": "1"} if move else {})}
    return conversation.go(Target("booking", "done", done))


def too_late(conversation: Conversation) -> str:
    hours = conversation.settings.booking.cancel_cutoff_minutes / 60
    return conversation.t("too_late_to_change", hours=int(hours) if hours.is_integer() else round(hours, 1))


REFUSALS = {
    Outcome.FULL: "session_full",
    Outcome.ALREADY_BOOKED: "already_booked",
    Outcome.DAILY_LIMIT: "daily_limit",
    Outcome.TOO_FAR: "too_far",
    Outcome.PAST: "session_over",
    Outcome.NOT_FOUND: "appointment_gone",
}


@step("booking", "done")
def done(conversation: Conversation, appointment: str = "", moved: str = "") -> VoiceResponse:
    """The booking reference, repeatable with *, then book another or leave."""
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    found = booking.find(conversation.db, patient.id, conversation.int_arg(appointment))
    if found is None:
        return conversation.go(BOOKING)
    lang = conversation.lang
    prompt = "moved_ok" if moved else "booked"
    lines = [conversation.t(prompt, place=found.place, reference=reference(found.reference, lang))]
    if estimate := estimated_time(conversation, found):
        lines.append(estimate)
    if found.session.exam_type is not None:
        lines.append(conversation.t("preparation", text=localized(found.session.exam_type, "preparation", lang)))
    lines.append(Line(conversation.t("after_booking"), lang))
    return conversation.menu(lines, [Choice(BOOKING, "1")], back=MAIN_MENU)


def send_text(conversation: Conversation, appointment: Appointment, kind: str):
    """Queue the SMS in this transaction (the patient's mobile, in their language); the
    webhook hands it to the RQ workers once the transaction is committed."""
    from ivr.sms import queue_appointment_sms

    return queue_appointment_sms(
        conversation.db, conversation.settings, appointment, kind, conversation.now, conversation.call_sid
    )


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
