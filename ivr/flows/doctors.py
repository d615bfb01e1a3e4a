"""Doctor information: find a doctor by department or by saying the name; hear
the title, department, specialties and the next clinic sessions.  A doctor's list
is also reached from a department's page: `#` goes back the way the caller came
(the trail in the URL, ivr.dialogue), the `back=` here only when it is empty."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr import speech
from ivr.dialogue import Choice, Conversation, Target, paged_choices, step
from ivr.flows.departments import choose_department
from records.directory import Doctor
from records.models import localized
from wording import speaking
from wording.prompts import TITLES

DOCTORS = Target("doctors", "start")
# Words callers put after a surname: 张医生, 王主任, Doctor Zhang.
HONORIFICS = ("医生", "大夫", "主任", "教授", "doctor", "dr", "professor")


def title(doctor: Doctor, lang: str) -> str:
    return TITLES.get(doctor.title, {}).get(lang, "")


def name_phrases(doctor: Doctor) -> tuple[str, ...]:
    return (doctor.name_zh, doctor.name_en, doctor.name_en.replace(" ", ""))


def find_by_name(doctors: list[Doctor], said: str) -> list[Doctor]:
    """Doctors whose full name was said; failing that, whose surname was said with
    an honorific ('张医生' may be several doctors: the caller then chooses)."""
    full = speech.best_match(said, [(d, name_phrases(d)) for d in doctors])
    if full:
        return full
    heard = speech.normalize(said)
    return [
        d
        for d in doctors
        if any(
            speech.phrase(family + honorific) in heard or speech.phrase(honorific + family) in heard
            for family in (d.family_name_zh, d.family_name_en)
            for honorific in HONORIFICS
        )
    ]


def choose_among(conversation: Conversation, found: list[Doctor]) -> VoiceResponse | None:
    if not found:
        return None
    if len(found) == 1:
        return conversation.forward(Target("doctors", "detail", {"code": found[0].code}))
    if len(found) > conversation.settings.dialogue.page_size:
        return conversation.go(DOCTORS, conversation.line("too_many_doctors"))
    codes = ",".join(d.code for d in found)
    return conversation.forward(Target("doctors", "pick", {"codes": codes}))


@step("doctors", "start")
def start(conversation: Conversation) -> VoiceResponse:
    by_department = Choice(Target("doctors", "departments"), key="1")
    everyone = conversation.directory.doctors
    return conversation.menu(
        [conversation.t("doctors_start", key="1")],
        [by_department],
        on_speech=lambda said: choose_among(conversation, find_by_name(everyone, said)),
    )


@step("doctors", "departments")
def departments(conversation: Conversation, page: str = "0") -> VoiceResponse:
    here = Target("doctors", "departments")
    return choose_department(
        conversation, page, here=here, then=lambda d: Target("doctors", "list", {"department": d.code}), back=DOCTORS
    )


@step("doctors", "list")
def doctors_in(conversation: Conversation, department: str = "", page: str = "0") -> VoiceResponse:
    found = conversation.directory.department(department)
    if found is None:
        return conversation.go(Target("doctors", "departments"), conversation.line("unknown_department"))
    staff = conversation.directory.doctors_in(department)
    choices, lines = _doctor_pages(conversation, staff, department, page)
    intro = conversation.t("doctors_in", department=localized(found, "name", conversation.lang))
    return conversation.menu(
        [intro, *lines],
        choices,
        back=Target("doctors", "departments"),
        on_speech=lambda said: choose_among(conversation, find_by_name(staff, said)),
    )


def _doctor_pages(
    conversation: Conversation, staff: list[Doctor], department: str, page: str
) -> tuple[list[Choice], list[str]]:
    """The department's doctors a page at a time, each by name and title."""
    lang = conversation.lang
    return paged_choices(
        conversation,
        staff,
        conversation.int_arg(page),
        list_target=Target("doctors", "list", {"department": department}),
        target_of=lambda d: Target("doctors", "detail", {"code": d.code, "page": page}),
        label_of=lambda d, key: conversation.t(
            "doctor_choice", name=localized(d, "name", lang), title=title(d, lang), key=key
        ),
        phrases_of=name_phrases,
    )


@step("doctors", "pick")
def pick(conversation: Conversation, codes: str = "") -> VoiceResponse:
    wanted = codes.split(",")[: conversation.settings.dialogue.page_size]
    found = [d for d in (conversation.directory.doctor(code) for code in wanted) if d is not None]
    if not found:
        return conversation.go(DOCTORS, conversation.line("unknown_doctor"))
    choices = [_picked(conversation, d, i) for i, d in enumerate(found, start=1)]
    return conversation.menu([conversation.t("doctors_matched", count=len(found))], choices, back=DOCTORS)


def _picked(conversation: Conversation, d: Doctor, i: int) -> Choice:
    """One of the doctors with the name the caller said, told apart by department and title."""
    lang = conversation.lang
    return Choice(
        Target("doctors", "detail", {"code": d.code}),
        key=str(i),
        label=conversation.t(
            "doctor_pick",
            department=localized(d.department, "name", lang),
            name=localized(d, "name", lang),
            title=title(d, lang),
            key=i,
        ),
        phrases=name_phrases(d),
    )


@step("doctors", "detail")
def doctor(conversation: Conversation, code: str = "", page: str = "0") -> VoiceResponse:
    found = conversation.directory.doctor(code)
    if found is None:
        return conversation.go(DOCTORS, conversation.line("unknown_doctor"))
    lines = [_about(conversation, found), _sessions_sentence(conversation, found)]
    back = Target("doctors", "list", {"department": found.department.code, "page": page})
    return conversation.menu(lines, _book(conversation, found), back=back)


def _about(conversation: Conversation, doctor: Doctor) -> str:
    lang = conversation.lang
    return conversation.t(
        "doctor_detail",
        name=localized(doctor, "name", lang),
        title=title(doctor, lang),
        department=localized(doctor.department, "name", lang),
        specialties=localized(doctor, "specialties", lang),
    )


BOOK_KEY = "1"


def _book(conversation: Conversation, doctor: Doctor) -> list[Choice]:
    """Booking this doctor (identification first, then their first free session read back),
    offered only when they have a free place to book: never a key that leads nowhere."""
    if doctor.id not in _doctors_with_free_places():
        return []
    label = conversation.t("book_doctor_option", key=BOOK_KEY)
    target = Target("booking", "first", {"doctor": doctor.code})
    return [Choice(target, BOOK_KEY, label, phrases=("预约", "挂号", "book", "appointment"))]


def _doctors_with_free_places() -> frozenset[int]:
    from extensions import hotline  # as acd's seats in ivr/flows/person.py: a reading kept by the app

    return hotline().doctors_with_free_places()


def _sessions_sentence(conversation: Conversation, doctor: Doctor) -> str:
    lang = conversation.lang
    limit = conversation.settings.dialogue.next_sessions_spoken
    upcoming = conversation.directory.next_sessions(doctor, conversation.now, limit=limit)
    if not upcoming:
        return conversation.t("no_sessions")
    spoken = conversation.t("list_separator").join(
        conversation.t(
            "session",
            day=speaking.day(s.date, lang),
            start=speaking.clock(s.start_time, lang),
            end=speaking.clock(s.end_time, lang),
        )
        for s in upcoming
    )
    return conversation.t("next_sessions", sessions=spoken)
