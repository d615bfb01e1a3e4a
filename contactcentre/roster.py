"""Roster: which shifts to staff so that every interval has the people it needs,
with the fewest person-hours.

An integer programme (PuLP, solved by the CBC solver that ships inside PuLP's
wheel, so it works offline):

    minimise    Σ_s hours(s)·x_s + M·Σ_i short_i
    subject to  Σ_{s covers i} x_s + short_i ≥ need_i     for every interval i
                Σ_s x_s ≤ max_people
                x_s, short_i ≥ 0 integers

x_s is the number of people on shift pattern s (a start time and a length from
config).  `short_i` lets the programme stay solvable when the cap on people (or
the shift window) cannot cover an interval: the roster then says which
intervals it leaves short instead of failing.  M is larger than any roster's
hours, so no one is ever left short when covering is possible.

The solver stops at the configured time limit; the result says whether it is
proven optimal and its gap to the lower bound (the linear relaxation rounded
up), so a supervisor knows how far from the best a roster can be.
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import pulp

from contactcentre.staffing import StaffingInputError


@dataclass(frozen=True)
class Shift:
    start_minute: int  # from midnight
    hours: float

    @property
    def end_minute(self) -> int:
        return self.start_minute + round(self.hours * 60)

    def covers(self, interval: int, interval_minutes: int) -> bool:
        low = interval * interval_minutes
        return self.start_minute <= low and low + interval_minutes <= self.end_minute

    @property
    def label(self) -> str:
        end = self.end_minute
        return f"{self.start_minute // 60:02d}:{self.start_minute % 60:02d}-{end // 60:02d}:{end % 60:02d}"


@dataclass(frozen=True)
class Roster:
    people: dict[Shift, int]  # people per shift pattern (only patterns used)
    on_shift: tuple[int, ...]  # people on shift per interval
    short: tuple[int, ...]  # people missing per interval (0 when covered)
    person_hours: float
    lower_bound: float  # no roster can use fewer person-hours
    status: str  # 'optimal', 'time limit' (feasible, maybe not optimal), 'not solved'
    seconds: float

    @property
    def gap(self) -> float:
        """Relative distance to the lower bound (0 when proven optimal)."""
        if not self.person_hours:
            return 0.0
        return max(0.0, (self.person_hours - self.lower_bound) / self.person_hours)

    @property
    def covered(self) -> bool:
        return not any(self.short)


def shift_patterns(
    *, hours: Sequence[float], start_every_minutes: int, earliest_start: int, latest_end: int
) -> list[Shift]:
    """Every shift of the given lengths starting every `start_every_minutes` inside the window."""
    patterns = []
    for length in hours:
        start = earliest_start
        while start + round(length * 60) <= latest_end:
            patterns.append(Shift(start, float(length)))
            start += start_every_minutes
    if not patterns:
        raise StaffingInputError(
            f"no shift of {list(hours)} hours fits between minute {earliest_start} and {latest_end} of the day"
        )
    return patterns


def _cbc(time_limit_seconds: float):
    # The CBC binary inside PuLP's wheel (pinned 3.3.x): no download, works offline.  PuLP 4
    # moves it to the pulp[cbc] extra and COIN_CMD; until then silence the notice saying so.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        return pulp.PULP_CBC_CMD(msg=False, timeLimit=time_limit_seconds)


def _lower_bound(patterns: list[Shift], cover: list[list[int]], need: Sequence[int], max_people: int) -> float:
    relaxed = pulp.LpProblem("roster_bound", pulp.LpMinimize)
    x = [relaxed.add_variable(f"x{k}", lowBound=0) for k in range(len(patterns))]
    relaxed += pulp.lpSum(p.hours * x[k] for k, p in enumerate(patterns))
    for i, required in enumerate(need):
        if required and cover[i]:
            relaxed += pulp.lpSum(x[k] for k in cover[i]) >= required
    relaxed.solve(_cbc(60))
    if pulp.LpStatus[relaxed.status] != "Optimal":
        return 0.0
    value = pulp.value(relaxed.objective) or 0.0
    # Person-hours come in whole shifts: with one shift length the bound rounds up to a multiple.
    lengths = {p.hours for p in patterns}
    if len(lengths) == 1:
        unit = lengths.pop()
        return math.ceil(value / unit - 1e-9) * unit
    return value


def build_roster(
    need: Sequence[int],
    *,
    interval_minutes: int,
    patterns: Sequence[Shift],
    max_people: int,
    time_limit_seconds: float = 20,
) -> Roster:
    """The roster covering `need` (people per interval of one day) with the fewest person-hours."""
    if any(n is None or n < 0 for n in need):
        raise StaffingInputError("people needed per interval must be whole numbers of at least 0")
    if max_people < 0:
        raise StaffingInputError(f"the most people a roster may use cannot be negative, got {max_people}")
    need = [math.ceil(n) for n in need]
    patterns = list(patterns)
    if not any(need):  # a day without calls: nobody, and nothing to solve
        zero = tuple(0 for _ in need)
        return Roster({}, zero, zero, 0.0, 0.0, "optimal", 0.0)
    cover = [[k for k, p in enumerate(patterns) if p.covers(i, interval_minutes)] for i in range(len(need))]
    problem = pulp.LpProblem("roster", pulp.LpMinimize)
    x = [problem.add_variable(f"x{k}", lowBound=0, upBound=max_people, cat="Integer") for k in range(len(patterns))]
    short = [problem.add_variable(f"short{i}", lowBound=0, cat="Integer") for i in range(len(need))]
    penalty = 1 + sum(p.hours for p in patterns) * max(1, max(need, default=0)) * 10
    problem += pulp.lpSum(p.hours * x[k] for k, p in enumerate(patterns)) + penalty * pulp.lpSum(short)
    for i, required in enumerate(need):
        problem += pulp.lpSum(x[k] for k in cover[i]) + short[i] >= required
    problem += pulp.lpSum(x) <= max_people
    problem.solve(_cbc(time_limit_seconds))
    status = pulp.LpStatus[problem.status]
    solved = problem.sol_status in (pulp.LpSolutionOptimal, pulp.LpSolutionIntegerFeasible)
    if not solved:
        zero = tuple(0 for _ in need)
        return Roster({}, zero, tuple(need), 0.0, 0.0, "not solved", problem.solutionTime)
    people = {p: round(x[k].value() or 0) for k, p in enumerate(patterns)}
    people = {p: n for p, n in people.items() if n}
    on_shift = tuple(sum(people.get(patterns[k], 0) for k in cover[i]) for i in range(len(need)))
    missing = tuple(max(0, required - on) for required, on in zip(need, on_shift, strict=True))
    hours = sum(p.hours * n for p, n in people.items())
    optimal = problem.sol_status == pulp.LpSolutionOptimal and status == "Optimal"
    bound = hours if optimal else _lower_bound(patterns, cover, need, max_people)
    return Roster(
        people=people,
        on_shift=on_shift,
        short=missing,
        person_hours=hours,
        lower_bound=min(bound, hours) if not any(missing) else bound,
        status="optimal" if optimal else "time limit",
        seconds=problem.solutionTime,
    )
