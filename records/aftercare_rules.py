"""The after-care rules as pure functions: which discharges a month's campaign
calls, when a call may be placed, how long to wait before trying again."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import date, datetime, time, timedelta

from settings import FollowUp, Seats

LOOK_AHEAD_DAYS = 31  # a calling window is searched this far ahead


def seed_for(month: str) -> str:
    """The sample's seed: the month itself, so anyone can draw the same sample again."""
    return f"followup:{month}"


def sample(discharges: Sequence[tuple[int, str]], *, share: float, min_per_ward: int, seed: str) -> list[int]:
    """Discharge ids to call: `share` of them (rounded up), with at least `min_per_ward`
    from each ward (all of a smaller ward's), drawn at random but reproducibly from
    `seed` whatever order the discharges come in.

    Python's `random.Random(str)` seeds from the string's SHA-512, the same on every
    machine and run; the draw is over discharges sorted by id."""
    ordered = sorted(discharges)
    if not ordered:
        return []
    rng = random.Random(seed)
    wanted = math.ceil(share * len(ordered))
    wards: dict[str, list[int]] = {}
    for discharge_id, ward in ordered:
        wards.setdefault(ward, []).append(discharge_id)
    chosen: set[int] = set()
    for ward in sorted(wards):
        members = wards[ward]
        chosen.update(rng.sample(members, min(min_per_ward, len(members))))
    rest = [discharge_id for discharge_id, _ in ordered if discharge_id not in chosen]
    more = max(0, wanted - len(chosen))
    chosen.update(rng.sample(rest, min(more, len(rest))))
    return sorted(chosen)


def previous_month(day: date) -> str:
    first = day.replace(day=1) - timedelta(days=1)
    return f"{first.year:04d}-{first.month:02d}"


def month_bounds(month: str) -> tuple[date, date]:
    """The first day of `month` (YYYY-MM) and the first day of the next."""
    year, number = (int(part) for part in month.split("-"))
    start = date(year, number, 1)
    end = date(year + (number == 12), number % 12 + 1, 1)
    return start, end


def may_call(rules: FollowUp, seats: Seats, when: datetime) -> bool:
    """`when` is in the hospital's zone; holidays are the seats' holidays."""
    if when.date() in seats.holidays:
        return False
    now = when.time()
    return any(start <= now < end for start, end in rules.ranges(when.weekday()))


def next_call_time(rules: FollowUp, seats: Seats, when: datetime) -> datetime | None:
    """`when` if a call may be placed then, else the start of the next calling window
    (None if there is none in the next month: the hours are configured empty)."""
    if may_call(rules, seats, when):
        return when
    for days in range(LOOK_AHEAD_DAYS + 1):
        day = when.date() + timedelta(days=days)
        if day in seats.holidays:
            continue
        for start, _end in sorted(rules.ranges(day.weekday())):
            opening = datetime.combine(day, start, when.tzinfo)
            if opening > when:
                return opening
    return None


def retry_delay(rules: FollowUp, attempts: int) -> timedelta:
    """How long to wait after the `attempts`-th unanswered call (the last spacing repeats)."""
    spacing = rules.retry_minutes
    return timedelta(minutes=spacing[min(attempts, len(spacing)) - 1])


def worrying(rules: FollowUp, question_id: str, key: str) -> bool:
    return any(q.id == question_id and key in q.worrying for q in rules.questions)


def clock_time(value: str) -> time:
    return time.fromisoformat(value)
