"""Words for the text-to-speech voice, and TwiML builders, without a server."""

from datetime import date, datetime, time
from zoneinfo import ZoneInfo

import pytest

import settings as settings_module
from app import ROOT
from ivr.dialogue import Line, _merge, paginate
from ivr.errors import apology
from tests.twiml import parse, spoken, verbs
from wording import speaking


def test_phone_numbers_are_read_digit_by_digit_in_groups():
    assert speaking.phone("+861058731201", "zh") == "0 1 0，5 8 7 3，1 2 0 1"
    assert speaking.phone("+8613800138000", "en") == "1 3 8, 0 0 1 3, 8 0 0 0"


def test_days_and_times_in_each_language():
    assert speaking.day(date(2026, 11, 24), "en") == "Tuesday 24 November"
    assert speaking.day(date(2026, 11, 24), "zh").startswith("11月24日")
    assert speaking.clock(time(8, 0), "zh") == "上午8点"
    assert speaking.clock(time(13, 30), "zh") == "下午1点30分"
    assert speaking.clock(time(12, 0), "zh") == "中午12点"
    assert speaking.clock(time(13, 30), "en") == "1:30 pm"


@pytest.mark.parametrize(
    ("count", "page", "expected"), [(15, 0, (7, 0, 3)), (15, 2, (1, 2, 3)), (15, 3, (7, 0, 3)), (0, 0, (0, 0, 1))]
)
def test_paginate_wraps_around(count, page, expected):
    shown, number, pages = paginate(list(range(count)), page, 7)
    assert (len(shown), number, pages) == expected


def test_lines_in_one_language_are_merged_into_one_say():
    merged = _merge(
        [Line("您好。", "zh"), Line("请按1。", "zh"), Line("For English, press 9.", "en"), Line("再见。", "zh")]
    )
    assert [(line.text, line.lang) for line in merged] == [
        ("您好。请按1。", "zh"),
        ("For English, press 9.", "en"),
        ("再见。", "zh"),
    ]


@pytest.fixture(scope="module")
def config():
    return settings_module.load(ROOT / "config.yaml", environ={})


def test_the_apology_in_hours_dials_the_operator(config):
    root = parse(str(apology(config, "en", datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai")))))
    assert verbs(root) == ["Say", "Say", "Dial", "Say", "Hangup"]
    assert root.find("Dial").text == config.seats.operator_number
    assert spoken(root).startswith("Sorry, something went wrong on our side.")


def test_the_apology_out_of_hours_gives_the_hours(config):
    root = parse(str(apology(config, "zh", datetime(2026, 11, 24, 23, 0, tzinfo=ZoneInfo("Asia/Shanghai")))))
    assert "Dial" not in verbs(root)
    assert config.seats.hours_spoken("zh") in spoken(root)


def test_spoken_dates_and_times_from_cached_patterns_say_what_babel_says():
    """Dates and times come from patterns found once (wording/speaking.py, issue 17): the
    words are Babel's format_skeleton's, for every day of a year and every 5 minutes."""
    from datetime import timedelta

    from babel.dates import format_skeleton

    from wording.prompts import LOCALES

    for lang, locale in LOCALES.items():
        for offset in range(366):
            value = date(2026, 1, 1) + timedelta(days=offset)
            assert speaking.day(value, lang) == format_skeleton("MMMMdEEEE", value, locale=locale)
        if lang == "zh":
            continue  # said in words of its own (上午/下午), not Babel's
        for minutes in range(0, 24 * 60, 5):
            value = time(minutes // 60, minutes % 60)
            expected = format_skeleton("hmm" if value.minute else "h a", value, locale=locale).replace("\u202f", " ")
            assert speaking.clock(value, lang) == expected
