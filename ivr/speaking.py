"""Turning data into words a text-to-speech voice reads well, per language."""

from __future__ import annotations

from datetime import date, time

import phonenumbers
from babel.dates import format_skeleton

from ivr.prompts import t

LOCALES = {"zh": "zh_CN", "en": "en_GB"}


def warm() -> None:
    """Load the locale data the voice speaks dates and times with (Babel keeps it for the
    process, some 4.5 MiB: bench/results/memory.md).  gunicorn's master calls this before
    it forks, so the workers share one copy instead of each loading its own on its first
    spoken date."""
    for lang in LOCALES:
        day(date(2026, 1, 1), lang)
        clock(time(9, 30), lang)
        clock(time(9, 0), lang)


def phone(e164: str, lang: str, region: str = "CN") -> str:
    """Digit by digit in groups ('0 1 0, 6 5 2 9, 1 2 0 1'), as a person reads a
    number out; TTS would otherwise read 65291201 as sixty-five million..."""
    try:
        national = phonenumbers.format_number(phonenumbers.parse(e164, region), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        national = e164
    groups = [group for group in national.replace("(", " ").replace(")", " ").replace("-", " ").split() if group]
    separator = "，" if lang == "zh" else ", "
    return separator.join(" ".join(group) for group in groups)


def day(value: date, lang: str) -> str:
    """'11月24日星期二' / 'Tuesday 24 November'."""
    return format_skeleton("MMMMdEEEE", value, locale=LOCALES[lang])


def clock(value: time, lang: str) -> str:
    if lang == "zh":
        period = "上午" if value.hour < 12 else "中午" if value.hour == 12 else "下午" if value.hour < 18 else "晚上"
        hour = value.hour if value.hour <= 12 else value.hour - 12
        return f"{period}{hour}点" + (f"{value.minute}分" if value.minute else "")
    return format_skeleton("hmm" if value.minute else "h a", value, locale=LOCALES[lang]).replace("\u202f", " ")


def key_name(key: str, lang: str) -> str:
    return {"*": t("star", lang), "#": t("hash", lang)}.get(key, key)
