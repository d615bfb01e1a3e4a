"""From a day's forecast to seats, people and a roster for one queue (pure).

    seats(i)   the fewest seats meeting the targets (Erlang C or A, config)
    people(i)  = seats(i) / (1 - shrinkage)          people on shift to keep them filled
    roster     shifts covering ⌈people(i)⌉ with the fewest person-hours
    roster seats(i) = ⌊on shift(i) x (1 - shrinkage)⌋, and the service level they give

and the hospital's people-per-seat figure for the day:

    people per seat = seat hours a day x days the centre opens a month / statutory monthly hours

with "seat hours a day" the hours the queue has calls that day (a seat open 24 hours,
30 days a month, 8 x 21.75 statutory hours: 4.14 people); and the people it takes
to staff the day's required seat-hours for a month, by the same formula divided by
(1 - shrinkage) like people(i):

    people for the month = required seat-hours x days open a month / statutory monthly hours / (1 - shrinkage)
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from contactcentre import roster as rosters
from contactcentre import staffing
from contactcentre.forecast import DayForecast
from contactcentre.staffing import SeatPlan, Targets


@dataclass(frozen=True)
class QueueModel:
    """What the maths needs of a queue and the plan's settings (from a run's inputs)."""

    interval_minutes: int
    model: str  # erlang_c | erlang_a
    targets: Targets
    shrinkage: float
    max_seats: int
    patience_seconds: float
    statutory_monthly_hours: float
    open_days_per_month: float


@dataclass(frozen=True)
class IntervalPlan:
    slot: int
    calls: float
    aht: float
    traffic: float
    plan: SeatPlan
    people: float
    rostered: int | None = None
    roster_seats: int | None = None
    roster_performance: staffing.Performance | None = None


@dataclass(frozen=True)
class DayPlan:
    intervals: tuple[IntervalPlan, ...]
    roster: rosters.Roster | None
    seat_hours_open: float  # hours of the day the queue has calls
    people_per_seat: float
    required_seat_hours: float
    people_for_month: float  # people to staff the day's required seat-hours every open day, after shrinkage

    @property
    def cannot_meet(self) -> list[IntervalPlan]:
        return [i for i in self.intervals if not i.plan.met]


def _performance(model: QueueModel, seats: int, traffic: float, aht: float) -> staffing.Performance:
    if model.model == "erlang_a":
        return staffing.erlang_a(seats, traffic, aht, model.patience_seconds, model.targets.answer_seconds)
    return staffing.erlang_c(seats, traffic, aht, model.targets.answer_seconds)


def seats_for_day(forecast: DayForecast, model: QueueModel) -> list[IntervalPlan]:
    interval = model.interval_minutes * 60
    traffics = [staffing.offered_traffic(c, a, interval) for c, a in zip(forecast.calls, forecast.aht, strict=True)]
    if model.model == "erlang_a":
        plans = [
            staffing.erlang_a_seats(t, a, model.patience_seconds, model.targets, model.max_seats)
            for t, a in zip(traffics, forecast.aht, strict=True)
        ]
    else:
        # Intervals share a handle time only by chance: group them so each group is one batch.
        grouped: list[SeatPlan | None] = [None] * len(traffics)
        by_aht: dict[float, list[int]] = {}
        for slot, aht in enumerate(forecast.aht):
            by_aht.setdefault(aht, []).append(slot)
        for aht, slots in by_aht.items():
            found = staffing.erlang_c_seats_many([traffics[s] for s in slots], aht, model.targets, model.max_seats)
            for slot, plan in zip(slots, found, strict=True):
                grouped[slot] = plan
        plans = [plan for plan in grouped if plan is not None]  # every slot is in one group
    return [
        IntervalPlan(slot, calls, aht, traffic, plan, staffing.people_for_seats(plan.seats, model.shrinkage))
        for slot, (calls, aht, traffic, plan) in enumerate(
            zip(forecast.calls, forecast.aht, traffics, plans, strict=True)
        )
    ]


def plan_day(
    forecast: DayForecast,
    model: QueueModel,
    *,
    patterns: Sequence[rosters.Shift] | None,
    max_people: int = 0,
    time_limit_seconds: float = 20,
) -> DayPlan:
    intervals = seats_for_day(forecast, model)
    hours_per_interval = model.interval_minutes / 60
    open_hours = sum(hours_per_interval for i in intervals if i.calls > 0)
    seat_hours = sum(i.plan.seats * hours_per_interval for i in intervals)
    per_seat = staffing.people_per_seat(open_hours, model.open_days_per_month, model.statutory_monthly_hours)
    month = staffing.people_for_month(
        seat_hours, model.open_days_per_month, model.statutory_monthly_hours, model.shrinkage
    )
    roster = None
    if patterns is not None:
        need = [math.ceil(i.people - 1e-9) for i in intervals]
        roster = rosters.build_roster(
            need,
            interval_minutes=model.interval_minutes,
            patterns=patterns,
            max_people=max_people,
            time_limit_seconds=time_limit_seconds,
        )
        covered = []
        for interval, on_shift in zip(intervals, roster.on_shift, strict=True):
            seats = math.floor(on_shift * (1 - model.shrinkage) + 1e-9)
            perf = _performance(model, seats, interval.traffic, interval.aht) if interval.traffic else None
            covered.append(
                IntervalPlan(
                    interval.slot,
                    interval.calls,
                    interval.aht,
                    interval.traffic,
                    interval.plan,
                    interval.people,
                    rostered=on_shift,
                    roster_seats=seats,
                    roster_performance=perf,
                )
            )
        intervals = covered
    return DayPlan(tuple(intervals), roster, open_hours, per_seat, seat_hours, month)
