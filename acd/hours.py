"""Opening hours of the human seats, and whether anybody can answer: pure functions of the
settings, a time and the seats' state."""

from __future__ import annotations

from datetime import datetime

from contactcentre.routing import queues_served
from settings import Localized, Routing, Seats


def holiday(seats: Seats, when: datetime) -> Localized | None:
    return seats.holidays.get(when.date())


def is_open(seats: Seats, when: datetime) -> bool:
    """`when` is in the hospital's time zone."""
    if holiday(seats, when) is not None:
        return False
    now = when.time()
    return any(start <= now < end for start, end in seats.ranges(when.weekday()))


def nobody_to_answer(
    seats: Seats, routing: Routing, when: datetime, queue: str, skills_logged_in: frozenset[str] | None
) -> str | None:
    """Why no person can answer a caller for `queue` at `when`, or None when one can:
    'closed' (out of opening hours, or a holiday), 'nobody' (no agent logged in has a skill
    that serves the queue, at any wait).  `skills_logged_in` is None when the seats' state
    cannot be read: then a person can answer (the queue rings the operator number instead).
    An agent on a break or on another call counts: they come back, and the caller waits."""
    if not is_open(seats, when):
        return "closed"
    if skills_logged_in is None or queue in queues_served(routing, set(skills_logged_in)):
        return None
    return "nobody"
