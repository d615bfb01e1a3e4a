"""What a caller hears when something breaks inside a webhook.

Without this, Twilio plays 'an application error has occurred' and hangs up.
Built from settings alone: the database or Redis may be what broke."""

from __future__ import annotations

from datetime import datetime

from twilio.twiml.voice_response import VoiceResponse

from acd.hours import is_open
from settings import Settings
from wording.prompts import t


def apology(settings: Settings, lang: str, now: datetime) -> VoiceResponse:
    voice = settings.voice(lang)
    response = VoiceResponse()

    def say(text: str) -> None:
        response.say(text, voice=voice.voice, language=voice.say_language)

    say(t("error", lang))
    if is_open(settings.seats, now):
        say(t("connecting", lang))
        response.dial(settings.seats.operator_number, timeout=settings.seats.dial_timeout_seconds)
    else:
        say(t("closed", lang))
        say(settings.seats.hours_spoken(lang))
    say(t("goodbye", lang))
    response.hangup()
    return response
