"""A discrete-event simulation of one queue: callers arrive at random (Poisson),
wait first come first served for one of N seats, hang up when their patience
runs out, and hold a seat for a random handle time.  Seeded, so a run can be
repeated exactly.

It checks the Erlang A formulas (tests/staffing/test_simulation.py) and lets a
supervisor try a plan before the day: "what if 3 people call in sick?"
(`what_if`, and `flask --app app staffing what-if`).

The queue is simulated caller by caller rather than event by event: with FCFS
and callers who leave when their patience ends, a caller's wait is known the
moment they arrive: the earliest time a seat frees up after everyone ahead who
stays has taken theirs (a min-heap of the seats' free times).  A caller who would
wait longer than their patience hangs up and takes no seat.  That is exact for
this queue and costs O(log N) per caller, so 100,000 callers take a fraction of
a second; a general event engine (SimPy) would be slower and say no more here.
"""

from __future__ import annotations

import heapq
import math
import random
import statistics
from dataclasses import dataclass

from contactcentre import staffing


@dataclass(frozen=True)
class Outcome:
    offered: int
    answered: int
    abandoned: int
    answered_in_time: int
    total_wait: float  # seconds, every caller (abandoned ones until they hung up)
    busy_seconds: float
    seat_seconds: float

    @property
    def service_level(self) -> float:
        return self.answered_in_time / self.offered if self.offered else 1.0

    @property
    def abandon_rate(self) -> float:
        return self.abandoned / self.offered if self.offered else 0.0

    @property
    def average_wait(self) -> float:
        return self.total_wait / self.offered if self.offered else 0.0

    @property
    def occupancy(self) -> float:
        return self.busy_seconds / self.seat_seconds if self.seat_seconds else 0.0


def simulate(
    *,
    seats: int,
    traffic: float,
    aht: float,
    patience: float | None,
    answer_seconds: float = 20.0,
    calls: int = 20_000,
    warm_up: int = 1_000,
    seed: int = 0,
) -> Outcome:
    """Simulate `calls` callers after `warm_up` callers (not counted) fill the queue.

    traffic in Erlangs and aht in seconds give the arrival rate λ = traffic/aht;
    handle times are exponential (mean aht), patience exponential (mean
    `patience` seconds; None: callers never hang up)."""
    staffing.check_traffic(traffic)
    staffing.check_handle_time(aht)
    if seats < 0 or calls <= 0 or warm_up < 0:
        raise staffing.StaffingInputError("seats, calls and warm-up must be whole numbers, calls at least 1")
    if patience is not None and patience <= 0:
        raise staffing.StaffingInputError(f"average patience must be more than 0 seconds, got {patience:g}")
    if traffic == 0:
        return Outcome(calls, calls, 0, calls, 0.0, 0.0, 0.0)
    if seats == 0 and patience is None:
        raise staffing.StaffingInputError("no seats and callers who never hang up: nobody is ever answered")
    rng = random.Random(seed)
    rate, service_rate = traffic / aht, 1 / aht
    give_up_rate = None if patience is None else 1 / patience
    free_at = [0.0] * seats  # when each seat is next free (a heap)
    now = 0.0
    answered = abandoned = in_time = 0
    total_wait = busy = 0.0
    started = 0.0
    for caller in range(warm_up + calls):
        now += rng.expovariate(rate)
        counted = caller >= warm_up
        if caller == warm_up:
            started = now
        patience_left = math.inf if give_up_rate is None else rng.expovariate(give_up_rate)
        handle = rng.expovariate(service_rate)
        wait = max(0.0, free_at[0] - now) if seats else math.inf
        if wait <= patience_left:
            heapq.heapreplace(free_at, now + wait + handle)
            if counted:
                answered += 1
                in_time += wait <= answer_seconds
                total_wait += wait
                busy += handle
        elif counted:
            abandoned += 1
            total_wait += patience_left
    return Outcome(calls, answered, abandoned, in_time, total_wait, busy, seats * (now - started))


@dataclass(frozen=True)
class Estimate:
    """A measure's mean over independent runs with its 95% confidence half-width."""

    mean: float
    half_width: float

    def holds(self, value: float, widen: float = 1.0) -> bool:
        return abs(value - self.mean) <= self.half_width * widen


def replicate(runs: int = 10, seed: int = 0, **kwargs) -> dict[str, Estimate]:
    """Independent runs (seeds seed, seed+1, ...): each measure's mean and 95% interval."""
    outcomes = [simulate(seed=seed + run, **kwargs) for run in range(runs)]
    measures = {
        "service_level": [o.service_level for o in outcomes],
        "abandon_rate": [o.abandon_rate for o in outcomes],
        "average_wait": [o.average_wait for o in outcomes],
        "occupancy": [o.occupancy for o in outcomes],
    }
    t = _student_t_975(runs - 1)
    return {
        name: Estimate(statistics.fmean(values), t * statistics.stdev(values) / math.sqrt(runs))
        for name, values in measures.items()
    }


def _student_t_975(degrees: int) -> float:
    # Two-sided 95% quantiles of Student's t (the few a supervisor's run uses).
    table = {1: 12.706, 2: 4.303, 3: 3.182, 4: 2.776, 5: 2.571, 6: 2.447, 7: 2.365, 8: 2.306, 9: 2.262}
    return table.get(degrees, 2.228 if degrees < 20 else 2.0)


@dataclass(frozen=True)
class WhatIf:
    seats_planned: int
    seats_present: int
    formula: staffing.Performance  # Erlang A for the seats present
    simulated: dict[str, Estimate]


def what_if(
    *,
    calls: float,
    aht: float,
    interval_seconds: int,
    seats: int,
    absent: int,
    patience: float,
    answer_seconds: float = 20.0,
    runs: int = 5,
    seed: int = 0,
) -> WhatIf:
    """The interval's service with `absent` of the planned seats empty, by formula and by simulation."""
    traffic = staffing.offered_traffic(calls, aht, interval_seconds)
    if not 0 <= absent <= seats:
        raise staffing.StaffingInputError(f"absent must be between 0 and the {seats} seats planned, got {absent}")
    present = seats - absent
    return WhatIf(
        seats_planned=seats,
        seats_present=present,
        formula=staffing.erlang_a(present, traffic, aht, patience, answer_seconds),
        simulated=replicate(
            runs=runs,
            seed=seed,
            seats=present,
            traffic=traffic,
            aht=aht,
            patience=patience,
            answer_seconds=answer_seconds,
            calls=10_000,
        ),
    )
