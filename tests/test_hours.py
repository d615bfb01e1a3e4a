"""Opening hours of the human seats."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

import settings
from acd.hours import holiday, is_open
from app import ROOT

BEIJING = ZoneInfo("Asia/Shanghai")


@pytest.fixture(scope="module")
def seats():
    return settings.load(ROOT / "config.yaml", environ={}).seats


@pytest.mark.parametrize(
    ("when", "expected"),
    [
        (datetime(2026, 11, 24, 7, 59), False),  # Tuesday, before 08:00
        (datetime(2026, 11, 24, 8, 0), True),
        (datetime(2026, 11, 24, 19, 59), True),
        (datetime(2026, 11, 24, 20, 0), False),  # the end is exclusive
        (datetime(2026, 11, 29, 12, 30), False),  # Sunday lunch break
        (datetime(2026, 11, 29, 13, 0), True),
        (datetime(2027, 1, 1, 10, 0), False),  # New Year's Day, a Friday
    ],
)
def test_opening_hours(seats, when, expected):
    assert is_open(seats, when.replace(tzinfo=BEIJING)) is expected


def test_holidays_have_names(seats):
    assert holiday(seats, datetime(2027, 2, 6, 10, 0, tzinfo=BEIJING))("en") == "Spring Festival"
