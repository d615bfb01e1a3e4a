"""Turning data into words a text-to-speech voice reads well, per language."""

from __future__ import annotations

from datetime import date, time
from functools import cache, lru_cache

import phonenumbers
from babel import Locale
from babel.dates import DateTimePattern, match_skeleton, parse_pattern

from wording.prompts import LOCALES, t


def warm() -> None:
    """Load the locale data the voice speaks dates and times with (Babel keeps it for the
    process, some 4.5 MiB: bench/results/memory.md).  gunicorn's master calls this before
    it forks, so the workers share one copy instead of each loading its own on its first
    spoken date."""
    for lang in LOCALES:
        day(date(2026, 1, 1), lang)
        clock(time(9, 30), lang)
        clock(time(9, 0), lang)


@lru_cache(maxsize=1024)
def phone(e164: str, lang: str, region: str = "CN") -> str:
    """Digit by digit in groups ('0 1 0, 6 5 2 9, 1 2 0 1'), as a person reads a
    number out; TTS would otherwise read 65291201 as sixty-five million...  Remembered:
    the numbers said are the hospital's own (its main line, its departments'), and
    phonenumbers' parse and format cost a menu naming one more than the rest of it."""
    try:
        national = phonenumbers.format_number(phonenumbers.parse(e164, region), phonenumbers.PhoneNumberFormat.NATIONAL)
    except phonenumbers.NumberParseException:
        national = e164
    groups = [group for group in national.replace("(", " ").replace(")", " ").replace("-", " ").split() if group]
    separator = "，" if lang == "zh" else ", "
    return separator.join(" ".join(group) for group in groups)


@cache
def _pattern(skeleton: str, locale: str) -> tuple[DateTimePattern, Locale]:
    """The locale's pattern for a skeleton, as babel.dates.format_skeleton finds it (fuzzy
    matching included) but found once per process: format_skeleton parses the locale and
    matches the skeleton on every call, some 0.7 ms of a clinic session's spoken dates
    against 0.07 ms from the cached pattern (issue 17).  A few skeletons x locales: unbounded is fine."""
    parsed = Locale.parse(locale)
    skeletons = parsed.datetime_skeletons
    found = skeleton if skeleton in skeletons else match_skeleton(skeleton, skeletons)
    return parse_pattern(skeletons[found]), parsed


def _formatted(skeleton: str, value: date | time, lang: str) -> str:
    pattern, locale = _pattern(skeleton, LOCALES[lang])
    return pattern.apply(value, locale)


# Sentences memoised too: a day's menus speak the same few dates and session times to
# every caller.  Bounded: a date is a key for as long as it is spoken.
@lru_cache(maxsize=2048)
def day(value: date, lang: str) -> str:
    """'11月24日星期二' / 'Tuesday 24 November'."""
    return _formatted("MMMMdEEEE", value, lang)


@lru_cache(maxsize=2048)
def clock(value: time, lang: str) -> str:
    if lang == "zh":
        period = "上午" if value.hour < 12 else "中午" if value.hour == 12 else "下午" if value.hour < 18 else "晚上"
        hour = value.hour if value.hour <= 12 else value.hour - 12
        return f"{period}{hour}点" + (f"{value.minute}分" if value.minute else "")
    return _formatted("hmm" if value.minute else "h a", value, lang).replace("\u202f", " ")


def key_name(key: str, lang: str) -> str:
    return {"*": t("star", lang), "#": t("hash", lang)}.get(key, key)
