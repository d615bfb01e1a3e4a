"""Opening hours of the human seats: pure functions of the settings and a time."""

from __future__ import annotations

from datetime import datetime

from settings import Localized, Seats


def holiday(seats: Seats, when: datetime) -> Localized | None:
    return seats.holidays.get(when.date())


def is_open(seats: Seats, when: datetime) -> bool:
    """`when` is in the hospital's time zone."""
    if holiday(seats, when) is not None:
        return False
    now = when.time()
    return any(start <= now < end for start, end in seats.ranges(when.weekday()))
