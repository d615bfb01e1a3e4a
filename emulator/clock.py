"""A virtual clock: simulated time that moves only when told, with timers.

The carrier is a discrete-event simulation. Everything that takes time on a
phone line (a prompt being spoken, a Gather timeout, ringing, hold music) is a
timer on this clock, so a test can let a minute pass in a microsecond and get
the same result every run.
"""

from __future__ import annotations

import heapq
import itertools
from collections.abc import Callable
from datetime import UTC, datetime, timedelta


class Timer:
    """A scheduled callback; cancel() stops it from running."""

    __slots__ = ("due", "callback", "cancelled")

    def __init__(self, due: float, callback: Callable[[], None]):
        self.due = due
        self.callback = callback
        self.cancelled = False

    def cancel(self) -> None:
        self.cancelled = True


class VirtualClock:
    """Time that starts at `start` (default: the real now, UTC, whole seconds) and
    advances only through advance()/advance_to().

    Times inside the emulator are float seconds since the start (`clock.time()`),
    which keeps arithmetic exact enough and lets logs show small numbers;
    `clock.now()` gives the matching aware datetime.
    """

    def __init__(self, start: datetime | None = None):
        start = start or datetime.now(UTC).replace(microsecond=0)
        if start.tzinfo is None:
            raise ValueError("start must be timezone-aware")
        self.start = start.astimezone(UTC)
        self._t = 0.0
        self._heap: list[tuple[float, int, Timer]] = []
        self._seq = itertools.count()

    def time(self) -> float:
        """Seconds elapsed on this clock since it started."""
        return self._t

    def now(self) -> datetime:
        return self.at(self._t)

    def at(self, t: float) -> datetime:
        """The datetime of clock time `t`."""
        return self.start + timedelta(seconds=t)

    def call_at(self, t: float, callback: Callable[[], None]) -> Timer:
        # A timer in the past runs at the next run_due(), never retroactively.
        timer = Timer(max(t, self._t), callback)
        heapq.heappush(self._heap, (timer.due, next(self._seq), timer))
        return timer

    def call_later(self, delay: float, callback: Callable[[], None]) -> Timer:
        return self.call_at(self._t + max(0.0, delay), callback)

    def call_soon(self, callback: Callable[[], None]) -> Timer:
        return self.call_at(self._t, callback)

    def next_due(self) -> float | None:
        """When the earliest live timer is due, or None when nothing is scheduled."""
        while self._heap and self._heap[0][2].cancelled:
            heapq.heappop(self._heap)
        return self._heap[0][0] if self._heap else None

    def run_due(self) -> int:
        """Run every timer due now (including ones those timers schedule for now)."""
        ran = 0
        while True:
            due = self.next_due()
            if due is None or due > self._t:
                return ran
            _, _, timer = heapq.heappop(self._heap)
            timer.callback()
            ran += 1

    def step(self) -> bool:
        """Jump to the next timer and run everything due then; False if none is scheduled."""
        due = self.next_due()
        if due is None:
            return False
        self._t = max(self._t, due)
        self.run_due()
        return True

    def advance_to(self, t: float) -> None:
        """Move time forward to `t`, running timers in due order on the way."""
        while True:
            due = self.next_due()
            if due is None or due > t:
                break
            self._t = max(self._t, due)
            self.run_due()
        self._t = max(self._t, t)

    def advance(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError("time only moves forward")
        self.advance_to(self._t + seconds)
