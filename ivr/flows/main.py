"""Answering the call, and the menus written in config.yaml (the main menu first)."""

from __future__ import annotations

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import MAIN_MENU, Choice, Conversation, Line, Target, step
from ivr.flows.person import goodbye
from ivr.prompts import t
from records.models import Patient
from settings import LANGUAGES


def greet(conversation: Conversation, patient: Patient | None) -> VoiceResponse:
    """The first thing a caller hears: the hospital, the emergency number once, the menu.

    A caller whose number belongs to exactly one patient file may be greeted by
    title and surname (config switch) — never by full name, and nothing medical:
    a phone number is not an identification."""
    settings = conversation.settings
    hospital = settings.hospital.name(conversation.lang)
    if patient is not None and settings.dialogue.greet_known_callers:
        title = "mr" if patient.sex == "M" else "ms"
        name = conversation.t(title, family=getattr(patient, f"family_name_{conversation.lang}"))
        welcome = conversation.line("welcome_known", name=name, hospital=hospital)
    else:
        welcome = conversation.line("welcome", hospital=hospital)
    emergency = conversation.line("emergency", number=settings.hospital.emergency_number)
    return conversation.go(MAIN_MENU, welcome, emergency)


def too_many_calls(conversation: Conversation) -> VoiceResponse:
    """A number over its call limit (config call_limits): the emergency number first, since
    a frightened person redials too, then goodbye, without the menus or a seat."""
    settings = conversation.settings
    conversation.event("call_limited")
    emergency = conversation.line("emergency", number=settings.hospital.emergency_number)
    later = conversation.line("too_many_calls", minutes=settings.call_limits.window_minutes)
    return goodbye(conversation, emergency, later)


@step("menu", "main")
def main_menu(conversation: Conversation) -> VoiceResponse:
    return config_menu(conversation, "main")


@step("menu", "show")
def config_menu(conversation: Conversation, name: str = "main") -> VoiceResponse:
    settings = conversation.settings
    menu = settings.menus.get(name)
    if menu is None:
        return conversation.go(MAIN_MENU, conversation.line("lost"))
    lang = conversation.lang
    choices = [
        Choice(
            target=_target(option.goto),
            key=option.key,
            label=conversation.t("option", label=option.label(lang), key=option.key),
            phrases=(*option.speech.zh, *option.speech.en, option.label.zh, option.label.en),
        )
        for option in menu.options
    ]
    lines: list[str | Line] = [conversation.t("or_say")]
    if name == "main":
        other = next(code for code in LANGUAGES if code != lang)
        key = settings.dialogue.language_key
        choices.append(Choice(target=Target("menu", "main", {"lang": other}), key=key))
        lines.append(Line(t("language_offer", other, key=key), other))
    return conversation.menu(lines, choices, back=None if name == "main" else MAIN_MENU)


def _target(goto: str) -> Target:
    kind, _, name = goto.partition(":")
    if kind == "menu":
        return MAIN_MENU if name == "main" else Target("menu", "show", {"name": name})
    return Target(name, "start")
