"""Answering the call, and the menus written in config.yaml (the main menu first)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr import speech
from ivr.dialogue import MAIN_MENU, Choice, Conversation, Line, Target, step
from ivr.flows.departments import phrases as department_phrases
from ivr.flows.doctors import choose_among, find_by_name
from ivr.flows.person import goodbye
from records.patients import Greeting
from settings import LANGUAGES
from wording.prompts import t


def greet(conversation: Conversation, patient: Greeting | None) -> VoiceResponse:
    """The first thing a caller hears: the hospital, the emergency number once, the menu.
    `patient`: the caller's file as the greeting reads it (records.patients.Greeting).

    A caller whose number belongs to exactly one patient file may be greeted by
    title and surname (config switch) — never by full name, and nothing medical:
    a phone number is not an identification."""
    settings = conversation.settings
    hospital = settings.hospital.name(conversation.lang)
    family = getattr(patient, f"family_name_{conversation.lang}", "") if patient is not None else ""
    if family and settings.dialogue.greet_known_callers:  # no surname kept when the switch was off
        title = "mr" if patient.sex == "M" else "ms"
        name = conversation.t(title, family=family)
        welcome = conversation.line("welcome_known", name=name, hospital=hospital)
    else:
        welcome = conversation.line("welcome", hospital=hospital)
    emergency = conversation.line("emergency", number=settings.hospital.emergency_number)
    return conversation.go(MAIN_MENU, welcome, emergency)


# What a call over its limit is told, by whether its number was withheld (ivr.call_limits).
TOO_MANY = {False: "too_many_calls", True: "too_many_withheld"}


def too_many_calls(conversation: Conversation, withheld: bool = False) -> VoiceResponse:
    """A number over its call limit (config call_limits): the emergency number first, since
    a frightened person redials too, then goodbye, without the menus or a seat."""
    settings = conversation.settings
    conversation.event("call_limited", **({"withheld": True} if withheld else {}))
    emergency = conversation.line("emergency", number=settings.hospital.emergency_number)
    later = conversation.line(TOO_MANY[withheld], minutes=settings.call_limits.window_minutes)
    return goodbye(conversation, emergency, later)


@step("menu", "main")
def main_menu(conversation: Conversation) -> VoiceResponse:
    return config_menu(conversation, "main")


@step("menu", "show")
def config_menu(conversation: Conversation, name: str = "main") -> VoiceResponse:
    menu = conversation.settings.menus.get(name)
    if menu is None:
        return conversation.go(MAIN_MENU, conversation.line("lost"))
    choices = _options(conversation, menu)
    lines: list[str | Line] = [conversation.t("or_say")]
    if name != "main":
        return conversation.menu(lines, choices, back=MAIN_MENU)
    other_language, offer = _other_language(conversation)
    choices, lines = [*choices, other_language], [*lines, offer]
    said = (conversation.heard.speech or "").strip()[:500]
    if said and not conversation.heard.digits and (first := named_first(conversation, said, menu)) is not None:
        return first
    return conversation.menu(lines, choices, back=None, on_speech=lambda said: named(conversation, said))


def _options(conversation: Conversation, menu) -> list[Choice]:
    """A menu's options as config.yaml writes them: a key, a label, and the words for each;
    built once per menu (settings are frozen) and language, not on every step (issue 17's CPU)."""
    lang = conversation.lang
    built = _BUILT_OPTIONS.get((id(menu), lang))
    if built is None or built[0] is not menu:  # held here, so an id is never another menu's
        if len(_BUILT_OPTIONS) > 256:  # settings reloaded many times: start again
            _BUILT_OPTIONS.clear()
        built = _BUILT_OPTIONS[(id(menu), lang)] = (menu, tuple(_built_options(conversation, menu)))
    return list(built[1])


_BUILT_OPTIONS: dict[tuple[int, str], tuple[object, tuple[Choice, ...]]] = {}


def _built_options(conversation: Conversation, menu) -> list[Choice]:
    lang = conversation.lang
    return [
        Choice(
            target=_target(option.goto),
            key=option.key,
            label=conversation.t("option", label=option.label(lang), key=option.key),
            phrases=(*option.speech.zh, *option.speech.en, option.label.zh, option.label.en),
        )
        for option in menu.options
    ]


def _other_language(conversation: Conversation) -> tuple[Choice, Line]:
    """The main menu's offer of the other language: its key, said in that language."""
    other = next(code for code in LANGUAGES if code != conversation.lang)
    key = conversation.settings.dialogue.language_key
    return Choice(target=Target("menu", "main", {"lang": other}), key=key), Line(
        t("language_offer", other, key=key), other
    )


# The main menu's options that a doctor's or department's name makes more precise: "张志远医生"
# and "cardiology department" name the doctor and the department, not the lists.
REFINED_BY_A_NAME = ("flow:doctors", "flow:departments")


def named_first(conversation: Conversation, said: str, menu) -> VoiceResponse | None:
    """A name said at the main menu, before the options' words ('医生', 'doctor', 'department'
    would otherwise take the caller to a list, or tie with another option's word).  When one
    other option's word was said too, that option: "投诉张医生" is a complaint, "预约张志远" a
    booking.  None: neither, and the menu hears it as usual."""
    wanted = [
        option
        for option in menu.options
        if option.goto not in REFINED_BY_A_NAME
        and speech.mentions(said, (*option.speech.zh, *option.speech.en, option.label.zh, option.label.en))
    ]
    if len(wanted) > 1:
        return None
    conversation.event("speech", step=conversation.here.name, text=said, confidence=conversation.heard.confidence)
    found = conversation.forward(_target(wanted[0].goto)) if wanted else named(conversation, said)
    if found is None:
        conversation.events.pop()  # no name: the menu records what was said, with what it made of it
    return found


def named(conversation: Conversation, said: str) -> VoiceResponse | None:
    """At the main menu a caller may name what they want instead of choosing a service: a
    department ('心内科', 'cardiology') goes straight to its page, a doctor to theirs (or to
    a choice between doctors of that name).  None: neither was named."""
    directory = conversation.directory
    departments = speech.best_match(said, [(d, department_phrases(d)) for d in directory.departments])
    if len(departments) == 1:
        conversation.event("named", department=departments[0].code)
        return conversation.forward(Target("departments", "detail", {"code": departments[0].code}))
    return choose_among(conversation, find_by_name(list(directory.doctors), said))


def _target(goto: str) -> Target:
    kind, _, name = goto.partition(":")
    if kind == "menu":
        return MAIN_MENU if name == "main" else Target("menu", "show", {"name": name})
    return Target(name, "start")
