"""Booking by phone: a specialist (department → a doctor, or the first available
doctor → their earliest free session, with 2 for the others) or an exam (exam → day →
session), read back and confirmed with 1 (a returning patient's offer of their last
doctor says it all, and its key books); the booking reference is spoken digit by digit
and sent by SMS.  A session full when the caller reaches it offers its waiting list.

Moving an appointment (from ivr/flows/appointments.py) runs through the same
day and session steps with `move=<appointment id>`, and the confirmation moves
instead of booking.  What the caller chose travels in the step's URL; who the
caller is comes from the call's identification, never from the URL.
"""

from __future__ import annotations

from datetime import date, datetime, timedelta

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import MAIN_MENU, Choice, Conversation, Target, is_id, key_name, paged_choices, step
from ivr.flows.departments import choose_department
from ivr.flows.doctors import name_phrases, title
from ivr.flows.identify import patient_or_identify
from records import booking, returning, waitlist
from records.booking import Outcome
from records.db import begin_write
from records.models import Appointment, ClinicSession, localized
from wording import speaking
from wording.refusals import ALREADY, REFUSALS

BOOKING = Target("booking", "start")
DEPARTMENTS = Target("booking", "departments")
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
    """The booking menu, just after identification.  A patient with an appointment coming
    hears it first, with a key to cancel or change it; a returning patient is offered their
    last doctor's first free session (a follow-up is usually with the same doctor), read
    back in the offer; then specialist, exam, or all their appointments."""
    patient = patient_or_identify(conversation, "booking.start")
    if isinstance(patient, VoiceResponse):
        return patient
    offers = [offer for offer in (_next_appointment(conversation, patient), _again(conversation, patient)) if offer]
    choices = [*(choice for _, choice in offers if choice is not None), *USUAL_CHOICES]
    return conversation.menu([*(line for line, _ in offers), conversation.t("booking_start")], choices)


# Specialist, exam, or all the caller's appointments: after the offers (NEXT_APPOINTMENT_KEY, AGAIN_KEY).
USUAL_CHOICES = (
    Choice(Target("booking", "departments"), "1", phrases=("专家", "门诊", "挂号", "specialist", "doctor")),
    Choice(Target("booking", "exams"), "2", phrases=("检查", "exam", "scan", "test")),
    Choice(
        Target("appointments", "start"),
        "3",
        phrases=("我的预约", "取消", "改约", "my appointments", "cancel", "change"),
    ),
)


# The keys of the offers made before the usual three (specialist 1, exam 2, appointments 3).
NEXT_APPOINTMENT_KEY = "4"
AGAIN_KEY = "5"


def _next_appointment(conversation: Conversation, patient) -> tuple[str, Choice | None] | None:
    """'Your next appointment is ...; to cancel or change it press 4' (its detail: cancel 1,
    change 2).  Said only here, after identification, never to an unidentified caller."""
    upcoming = booking.upcoming(conversation.db, patient.id, conversation.now)
    if not upcoming:
        return None
    first, lang = upcoming[0], conversation.lang
    said = {"day": speaking.day(first.date, lang), "when": when(conversation, first.session)}
    said["what"] = what(first.session, lang)
    cutoff = timedelta(minutes=conversation.settings.booking.cancel_cutoff_minutes)
    if booking.starts_at(first, conversation.now) - conversation.now < cutoff:
        # Too close to change by phone: said, but no key that could only be refused.
        return conversation.t("next_appointment_soon", **said), None
    line = conversation.t("next_appointment", **said, key=NEXT_APPOINTMENT_KEY)
    target = Target("appointments", "detail", {"appointment": str(first.id)})
    return line, Choice(target, NEXT_APPOINTMENT_KEY, phrases=("下一个预约", "next appointment"))


def _again(conversation: Conversation, patient) -> tuple[str, Choice] | None:
    """The doctor of the patient's last visit, with their first free session, unless the
    patient already has an appointment coming with them.  The offer says all the read-back
    would (department, doctor, day, time), so its key books: a second read-back of what was
    just said cost a returning patient 15 s and a key (issue 20, bench/booking_keys.py)."""
    doctor_id = returning.last_doctor_id(conversation.db, patient.id, conversation.now)
    if doctor_id is None:
        return None
    if any(a.doctor_id == doctor_id for a in booking.upcoming(conversation.db, patient.id, conversation.now)):
        return None
    session = first_free_session(conversation, {"doctor_ids": [doctor_id]})
    if session is None:
        return None
    lang = conversation.lang
    line = conversation.t(
        "book_again_option",
        what=what(session, lang),
        day=speaking.day(session.date, lang),
        when=when(conversation, session),
        key=AGAIN_KEY,
    )
    # Not the doctor's name: said at this menu, it may ask for another day, and the key books.
    phrases = ("再次预约", "还是这位医生", "same doctor", "book again")
    return line, Choice(Target("booking", "book", {"session": str(session.id)}), AGAIN_KEY, phrases=phrases)


def first_free_session(conversation: Conversation, search: dict) -> ClinicSession | None:
    """The earliest session with a free place for a booking search (see _what_is_wanted)."""
    db, rules = conversation.db, conversation.settings.booking
    days = booking.free_days(db, conversation.now, rules, limit=1, **search)
    if not days:
        return None
    found = booking.free_sessions(db, days[0], conversation.now, rules, limit=1, **search)
    return found[0] if found else None


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
    if conversation.directory.department(department) is None:
        return conversation.go(DEPARTMENTS, conversation.line("unknown_department"))
    choices, lines = paged_choices(
        conversation,
        conversation.directory.doctors_in(department),
        conversation.int_arg(page),
        list_target=Target("booking", "doctors", {"department": department}),
        target_of=lambda d: Target("booking", "first", {"doctor": d.code}),
        label_of=lambda d, key: conversation.t("doctor_to_book", name=localized(d, "name", conversation.lang), key=key),
        phrases_of=name_phrases,
    )
    intro = [conversation.t("doctors_to_book"), *lines]
    return conversation.menu(intro, [_any_doctor(conversation, department), *choices], back=DEPARTMENTS)


def _any_doctor(conversation: Conversation, department: str) -> Choice:
    """The first available doctor of the department (booking.first), before its doctors."""
    return Choice(
        Target("booking", "first", {"department": department}),
        ANY_DOCTOR_KEY,
        conversation.t("any_doctor_option", key=ANY_DOCTOR_KEY),
        ("任意", "最早", "随便", "any doctor", "first available"),
    )


@step("booking", "first")
def first(conversation: Conversation, department: str = "", doctor: str = "") -> VoiceResponse:
    """The earliest free session, read back at once: of the department's doctors (the first
    available doctor; 2 there lists the department's days) or of the doctor chosen (2 lists
    their sessions).  A caller choosing a doctor mostly takes their first session: the list
    of sessions before it cost a key and 21 s (issue 20, bench/booking_keys.py)."""
    then = f"doctor:{doctor}" if doctor else "booking.start"
    if isinstance(patient := patient_or_identify(conversation, then), VoiceResponse):
        return patient
    search = _what_is_wanted(conversation, doctor, "" if doctor else department, "")
    if search is None:
        return conversation.go(DEPARTMENTS, conversation.line("unknown_doctor" if doctor else "unknown_department"))
    session = first_free_session(conversation, search)
    if session is None:
        return nothing_free(conversation, patient, search, BOOKING if doctor else DEPARTMENTS)
    chosen = {"session": str(session.id), **({} if doctor else {"department": department})}
    return conversation.go(Target("booking", "confirm", chosen))


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
    """From a doctor's page (ivr/flows/doctors.py) the caller comes back here, to that doctor, once identified."""
    then = f"doctor:{doctor}" if doctor and not move else "booking.start"
    if isinstance(patient := patient_or_identify(conversation, then), VoiceResponse):
        return patient
    if (search := _what_is_wanted(conversation, doctor, department, exam)) is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    rules = conversation.settings.booking
    free = booking.free_days(conversation.db, conversation.now, rules, limit=rules.days_offered, **search)
    back = Target("appointments", "start") if move else BOOKING
    if not free:  # a move keeps its appointment: no waiting list
        return nothing_free(conversation, None if move else patient, search, back)
    return _days_menu(conversation, search, free, _chosen(doctor, department, exam, move), back)


def _chosen(doctor: str, department: str, exam: str, move: str) -> dict[str, str]:
    """What the caller has chosen so far, carried in the URLs of the days and sessions."""
    return {k: v for k, v in {"doctor": doctor, "department": department, "exam": exam, "move": move}.items() if v}


def _days_menu(conversation: Conversation, search: dict, free: list[date], args: dict, back: Target) -> VoiceResponse:
    """The free days to choose from; for one doctor, their free sessions at once (_doctor_sessions)."""
    if args.get("doctor"):
        return _doctor_sessions(conversation, search, free, args.get("move", ""), back)
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


def _doctor_sessions(
    conversation: Conversation, search: dict, free: list[date], move: str, back: Target
) -> VoiceResponse:
    """One doctor's next free sessions, each with its day, in one list: a doctor holds one or
    two sessions a day, so a list of days and then of that day's sessions cost the caller a
    key and a menu for nothing (issue 20).  Many doctors (the first available) or an exam keep
    days, then sessions."""
    db, rules, lang = conversation.db, conversation.settings.booking, conversation.lang
    found = [s for day in free for s in booking.free_sessions(db, day, conversation.now, rules, **search)]
    choices = [
        Choice(
            Target("booking", "confirm", {"session": str(s.id), **({"move": move} if move else {})}),
            str(i),
            conversation.t(
                "doctor_session_option", day=speaking.day(s.date, lang), period=when(conversation, s), key=i
            ),
            (speaking.day(s.date, "zh"), speaking.day(s.date, "en")),
        )
        for i, s in enumerate(found[: rules.days_offered], start=1)
    ]
    return conversation.menu([conversation.t("doctor_sessions_intro")], choices, back=back)


@step("booking", "sessions")
def sessions(
    conversation: Conversation, day: str = "", doctor: str = "", department: str = "", exam: str = "", move: str = ""
) -> VoiceResponse:
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    search = _what_is_wanted(conversation, doctor, department, exam)
    args = _chosen(doctor, department, exam, move)
    if search is None or (on := _date(day)) is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    free = booking.free_sessions(
        conversation.db, on, conversation.now, conversation.settings.booking, limit=7, **search
    )
    if not free:
        return _day_full(conversation, on, search, args)
    return _sessions_menu(conversation, on, free, args)


def _day_full(conversation: Conversation, on: date, search: dict, args: dict) -> VoiceResponse:
    """The day filled up since it was listed: its first session, with its waiting list."""
    rules = conversation.settings.booking
    full = booking.sessions_ahead(conversation.db, conversation.now, rules, day=on, limit=1, **search)
    if full:
        return _full_now(conversation, full[0], args.get("move", ""))
    return conversation.go(Target("booking", "days", args), conversation.line("session_full"))


def _sessions_menu(conversation: Conversation, on: date, free: list[ClinicSession], args: dict) -> VoiceResponse:
    """The day's free sessions, each with its time, who and how many places are left."""
    lang, move = conversation.lang, args.get("move", "")
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
def confirm(conversation: Conversation, session: str = "", move: str = "", department: str = "") -> VoiceResponse:
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    chosen = conversation.db.get(ClinicSession, conversation.int_arg(session)) if is_id(session) else None
    if chosen is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    if chosen.free <= 0:  # filled up since it was listed: no read-back whose 1 could only be refused
        return _full_now(conversation, chosen, move)
    again = _other_days(conversation, chosen, move, department)
    yes = Choice(Target("booking", "book", {"session": session, **({"move": move} if move else {})}), "1")
    return conversation.menu([_read_back(conversation, chosen, move)], [yes, Choice(again, "2")], back=again)


def _full_now(conversation: Conversation, chosen: ClinicSession, move: str) -> VoiceResponse:
    """A session full when the caller reaches it: its waiting list right there (the full step
    offers it when the caller can join, else says so and lists the other days); a move keeps
    its appointment, so it only chooses again."""
    if move:
        again = Target("booking", "days", {**same_doctor_or_exam(chosen), "move": move})
        return conversation.go(again, conversation.line("session_full"))
    return conversation.go(Target("booking", "full", {"session": str(chosen.id)}))


def _other_days(conversation: Conversation, chosen: ClinicSession, move: str, department: str) -> Target:
    """Where 2 at the read-back leads: the days of the same doctor or exam, or, for the first
    available doctor, the department's days."""
    search = same_doctor_or_exam(chosen)
    if department and not move and conversation.directory.department(department) is not None:
        search = {"department": department}  # from the first available doctor: the department's days
    return Target("booking", "days", {**search, **({"move": move} if move else {})})


def _read_back(conversation: Conversation, chosen: ClinicSession, move: str) -> str:
    lang = conversation.lang
    prompt = "confirm_move" if move else "confirm_booking"
    return conversation.t(
        prompt, day=speaking.day(chosen.date, lang), when=when(conversation, chosen), what=what(chosen, lang)
    )


# A place taken, and the text that tells the patient so.
TEXT_SAYING = {Outcome.BOOKED: "confirmation", Outcome.MOVED: "moved"}


@step("booking", "book")
def book(conversation: Conversation, session: str = "", move: str = "") -> VoiceResponse:
    """Take the place (or move to it) — reached only by pressing 1 at the read-back, or the
    returning patient's key after an offer that said it all (_again)."""
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    chosen = conversation.db.get(ClinicSession, int(session)) if is_id(session) else None
    if chosen is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    begin_write(conversation.db)
    result = _take(conversation, patient.id, chosen.id, move)
    if result.outcome not in TEXT_SAYING:
        conversation.db.rollback()
        return _refused(conversation, result.outcome, patient, chosen, session, move)
    message = send_text(conversation, result.appointment, TEXT_SAYING[result.outcome])
    conversation.db.commit()
    return _booked(conversation, result, message, move)


def _take(conversation: Conversation, patient_id: int, session_id: int, move: str) -> booking.Result:
    """A new appointment in the session, or, with `move`, that appointment moved to it."""
    db, rules, now, call_sid = conversation.db, conversation.settings.booking, conversation.now, conversation.call_sid
    if is_id(move):
        return booking.move(
            db,
            patient_id=patient_id,
            appointment_id=int(move),
            session_id=session_id,
            now=now,
            rules=rules,
            call_sid=call_sid,
        )
    return booking.book(db, patient_id=patient_id, session_id=session_id, now=now, rules=rules, call_sid=call_sid)


def _refused(
    conversation: Conversation, outcome: Outcome, patient, chosen: ClinicSession, session: str, move: str
) -> VoiceResponse:
    """The place was not taken (nothing was written): what the caller hears, and where they
    choose again (REFUSALS: another day of the same doctor or exam; ALREADY: their appointments)."""
    if outcome is Outcome.TOO_LATE:  # inside the cut-off: no day can be chosen instead
        return conversation.menu([too_late(conversation)], back=Target("appointments", "start"))
    if outcome in ALREADY:  # another call (or a text) cancelled or moved it first
        return gone(conversation, outcome)
    conversation.event("booking_refused", outcome=str(outcome))
    if outcome is Outcome.FULL and not move and may_wait(conversation, patient, chosen):
        return conversation.go(Target("booking", "full", {"session": session}))
    return conversation.go(Target("booking", "days", same_doctor_or_exam(chosen)), conversation.line(REFUSALS[outcome]))


def _booked(conversation: Conversation, result: booking.Result, message, move: str) -> VoiceResponse:
    hand_texts_to_workers(conversation, message, result.offered)  # a move freed the old place
    conversation.event(str(result.outcome), appointment=result.appointment.id, reference=result.appointment.reference)
    done = {"appointment": str(result.appointment.id), **({"moved": "1"} if move else {})}
    return conversation.go(Target("booking", "done", done))


def hand_texts_to_workers(conversation: Conversation, message, offered: tuple) -> None:
    """After the commit: the text queued in it, and the offers to waiting patients of a place
    it freed, are handed to the RQ workers once the response is built."""
    if message is not None:
        conversation.texts_to_send.append(message.id)
    conversation.offers_to_text = bool(offered)


def same_doctor_or_exam(session: ClinicSession) -> dict[str, str]:
    """The days step's search for another session of the same doctor or exam."""
    return {"exam": session.exam_type.code} if session.exam_type else {"doctor": session.doctor.code}


def too_late(conversation: Conversation) -> str:
    hours = conversation.settings.booking.cancel_cutoff_minutes / 60
    return conversation.t("too_late_to_change", hours=int(hours) if hours.is_integer() else round(hours, 1))


def gone(conversation: Conversation, outcome: Outcome) -> VoiceResponse:
    """Back to the caller's appointments, saying what became of the one they chose."""
    conversation.event("appointment_gone", outcome=str(outcome))
    return conversation.go(Target("appointments", "start"), conversation.line(ALREADY.get(outcome, "appointment_gone")))


@step("booking", "done")
def done(conversation: Conversation, appointment: str = "", moved: str = "") -> VoiceResponse:
    """The booking reference, repeatable with * (said here: menus other than the main one
    leave it unsaid), then book another, or # for the main menu."""
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    found = booking.find(conversation.db, patient.id, conversation.int_arg(appointment))
    if found is None:
        return conversation.go(BOOKING)
    return conversation.menu(_booked_lines(conversation, found, moved), [book_another(conversation)], back=MAIN_MENU)


def _booked_lines(conversation: Conversation, found: Appointment, moved: str) -> list[str]:
    """The place and reference, the estimated time, an exam's preparation, and how to hear it again."""
    lang = conversation.lang
    prompt = "moved_ok" if moved else "booked"
    lines = [conversation.t(prompt, place=found.place, reference=reference(found.reference, lang))]
    if estimate := estimated_time(conversation, found):
        lines.append(estimate)
    if found.session.exam_type is not None:
        lines.append(conversation.t("preparation", text=localized(found.session.exam_type, "preparation", lang)))
    lines.append(conversation.t("repeat_reference", key=key_name(conversation.settings.dialogue.repeat_key, lang)))
    return lines


def book_another(conversation: Conversation) -> Choice:
    return Choice(BOOKING, "1", conversation.t("book_another_option", key="1"))


# ---- waiting lists (issue 20): offered only when the caller can join ---------------------------

WAITLIST_KEY, CHOOSE_AGAIN_KEY = "1", "2"


def may_wait(conversation: Conversation, patient, session: ClinicSession | None) -> bool:
    """This patient could join this session's waiting list (records.waitlist.refusal: the
    hospital offers waiting lists, booking.waitlist; the session full, not over, a mobile to
    text...)."""
    if patient is None or session is None:
        return False
    refused, _ = waitlist.refusal(
        conversation.db,
        patient_id=patient.id,
        session_id=session.id,
        now=conversation.now,
        rules=conversation.settings.booking,
        region=conversation.settings.hospital.phone_region,
    )
    return refused is None


def wait_choice(conversation: Conversation, session: ClinicSession) -> Choice:
    lang = conversation.lang
    label = conversation.t(
        "waitlist_option", day=speaking.day(session.date, lang), when=when(conversation, session), key=WAITLIST_KEY
    )
    target = Target("booking", "wait", {"session": str(session.id)})
    return Choice(target, WAITLIST_KEY, label, ("候补", "排队", "waiting list", "wait"))


def nothing_free(conversation: Conversation, patient, search: dict, back: Target) -> VoiceResponse:
    """No free place up to the horizon: said, with the earliest full session's waiting list
    when the caller can join it (None for a patient: never offered)."""
    db, rules = conversation.db, conversation.settings.booking
    earliest = booking.sessions_ahead(db, conversation.now, rules, limit=1, **search)
    choices = [wait_choice(conversation, s) for s in earliest if may_wait(conversation, patient, s)]
    return conversation.menu([conversation.t("no_free_days", days=rules.days_ahead)], choices, back=back)


@step("booking", "full")
def full(conversation: Conversation, session: str = "") -> VoiceResponse:
    """The session chosen filled up while the caller listened: its waiting list, or choose again."""
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    chosen = conversation.db.get(ClinicSession, int(session)) if is_id(session) else None
    if chosen is None:
        return conversation.go(BOOKING, conversation.line("lost"))
    again = Target("booking", "days", same_doctor_or_exam(chosen))
    if not may_wait(conversation, patient, chosen):  # a place came free, or the caller joined meanwhile
        return conversation.go(again, conversation.line("session_full"))
    choose_again = Choice(again, CHOOSE_AGAIN_KEY, conversation.t("choose_again_option", key=CHOOSE_AGAIN_KEY))
    return conversation.menu(
        [conversation.t("session_just_full")], [wait_choice(conversation, chosen), choose_again], back=again
    )


# Where joining leads: the list the caller is now on, or, a place being free after all, its
# read-back; the rest (races: the key was offered only when joining could happen) say why not.
JOINED_GOES_TO = {
    waitlist.Joined.JOINED: "waiting",
    waitlist.Joined.ALREADY_WAITING: "waiting",
    waitlist.Joined.NOT_FULL: "confirm",
}
NOT_JOINED = {
    waitlist.Joined.CLOSED: "waitlist_closed",
    waitlist.Joined.NO_MOBILE: "waitlist_no_mobile",
    waitlist.Joined.PAST: "session_over",
    waitlist.Joined.TOO_FAR: "too_far",
    waitlist.Joined.NOT_FOUND: "lost",
}


@step("booking", "wait")
def wait(conversation: Conversation, session: str = "") -> VoiceResponse:
    """Join the session's waiting list: reached only by its key where it was offered."""
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    if not is_id(session):
        return conversation.go(BOOKING, conversation.line("lost"))
    db = conversation.db
    begin_write(db)
    joined = _join(conversation, patient.id, int(session))
    if joined is waitlist.Joined.JOINED:
        db.commit()
    else:
        db.rollback()
    return _after_joining(conversation, joined, session)


def _join(conversation: Conversation, patient_id: int, session_id: int) -> waitlist.Joined:
    joined, _entry = waitlist.join(
        conversation.db,
        patient_id=patient_id,
        session_id=session_id,
        now=conversation.now,
        rules=conversation.settings.booking,
        region=conversation.settings.hospital.phone_region,
        call_sid=conversation.call_sid,
    )
    return joined


def _after_joining(conversation: Conversation, joined: waitlist.Joined, session: str) -> VoiceResponse:
    """Where joining leads (JOINED_GOES_TO), or why the caller is not on the list (NOT_JOINED)."""
    conversation.event("waitlist", outcome=str(joined), session=int(session))
    if joined in JOINED_GOES_TO:
        return conversation.go(Target("booking", JOINED_GOES_TO[joined], {"session": session}))
    return conversation.go(BOOKING, conversation.line(NOT_JOINED[joined]))


@step("booking", "waiting")
def waiting(conversation: Conversation, session: str = "") -> VoiceResponse:
    """What the caller waits for, and how the offer will come; then book another or leave."""
    if isinstance(patient := patient_or_identify(conversation, "booking.start"), VoiceResponse):
        return patient
    entry = waitlist.standing(conversation.db, patient.id, int(session)) if is_id(session) else None
    if entry is None:
        return conversation.go(BOOKING)
    return conversation.menu([_waiting_for(conversation, entry.session)], [book_another(conversation)], back=MAIN_MENU)


def _waiting_for(conversation: Conversation, chosen: ClinicSession) -> str:
    lang = conversation.lang
    return conversation.t(
        "waitlist_joined",
        day=speaking.day(chosen.date, lang),
        when=when(conversation, chosen),
        what=what(chosen, lang),
        minutes=conversation.settings.booking.waitlist_offer_minutes,
    )


def send_text(conversation: Conversation, appointment: Appointment, kind: str):
    """Queue the SMS in this transaction (the patient's mobile, in the language of the call:
    a caller who switched to English reads it in English); the webhook hands it to the RQ
    workers once the transaction is committed."""
    from wording.texts import queue_appointment_sms

    return queue_appointment_sms(
        conversation.db,
        conversation.settings,
        appointment,
        kind,
        conversation.now,
        conversation.call_sid,
        lang=conversation.lang,
    )


def _date(text: str) -> date | None:
    try:
        return date.fromisoformat(text)
    except ValueError:
        return None
