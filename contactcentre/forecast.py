"""Forecast: calls offered and handle time per interval for the coming days.

Pure functions; `records.staffing.call_history` reads the history they take.

The model is the one a workforce planner keeps in a spreadsheet, and it is hard
to beat for a hotline whose calls follow the clinic week:

    calls(day, i) = Σ_w weight(w)·calls(w, i) / Σ_w weight(w)

over the past usual days w of the same weekday, weight = recent_weight^(weeks ago),
so last week counts most.  A holiday gets that profile times the holiday factor:
measured on the holidays in the history (their calls against what their weekday
predicted), else the one in config.  Handle time per interval is the weighted
total handle seconds over the weighted calls, or the queue's configured handle
time where none is recorded.

Its error is measured on held-out history: the last week is forecast from the
weeks before it and compared interval by interval: MAPE over the intervals that
had calls, and WAPE (Σ|error| / Σ calls, which small intervals cannot blow up).

With fewer than `min_history_weeks` weeks of history, the volumes in config
are used (calls an hour per weekday and time range).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import date, timedelta

from contactcentre.staffing import StaffingInputError


@dataclass(frozen=True)
class Observed:
    """One day of one queue's calls: offered calls and total handle seconds per interval."""

    day: date
    calls: tuple[float, ...]
    handle_seconds: tuple[float | None, ...] = ()  # None where no handle time was recorded


@dataclass(frozen=True)
class DayForecast:
    day: date
    calls: tuple[float, ...]
    aht: tuple[float, ...]
    holiday: bool
    source: str  # 'history' or 'config'


@dataclass(frozen=True)
class Accuracy:
    mape: float | None  # mean absolute percentage error over intervals that had calls
    wape: float | None  # Σ|error| / Σ actual
    days: int  # held-out days compared


@dataclass(frozen=True)
class Forecast:
    days: tuple[DayForecast, ...]
    accuracy: Accuracy | None
    history_weeks: float
    holiday_factor: float
    notes: tuple[str, ...] = field(default=())


def intervals_per_day(interval_minutes: int) -> int:
    if interval_minutes <= 0 or (24 * 60) % interval_minutes:
        raise StaffingInputError(f"interval length must divide a day, got {interval_minutes} minutes")
    return 24 * 60 // interval_minutes


def config_volumes(volumes: dict[str, dict[str, float]], day: date, interval_minutes: int) -> tuple[float, ...]:
    """Calls per interval from config's calls an hour per weekday and range ("08:00-12:00": 60)."""
    weekday = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")[day.weekday()]
    slots = [0.0] * intervals_per_day(interval_minutes)
    for hours, per_hour in volumes.get(weekday, {}).items():
        if per_hour < 0:
            raise StaffingInputError(f"config volumes for {weekday} {hours}: calls cannot be negative")
        start, end = _minutes(hours)
        for index in range(len(slots)):
            low, high = index * interval_minutes, (index + 1) * interval_minutes
            overlap = max(0, min(high, end) - max(low, start))
            slots[index] += per_hour * overlap / 60
    return tuple(slots)


def _minutes(hours: str) -> tuple[int, int]:
    first, last = hours.split("-")
    h1, m1 = (int(p) for p in first.split(":"))
    h2, m2 = (int(p) for p in last.split(":"))
    return h1 * 60 + m1, h2 * 60 + m2


def _check(history: Iterable[Observed], slots: int) -> list[Observed]:
    checked = []
    for day in history:
        if len(day.calls) != slots:
            raise StaffingInputError(f"history for {day.day}: expected {slots} intervals, got {len(day.calls)}")
        if any(c is None or c < 0 for c in day.calls):
            raise StaffingInputError(f"history for {day.day}: calls missing or negative")
        checked.append(day)
    return sorted(checked, key=lambda d: d.day)


def _weighted_profile(days: Sequence[Observed], latest: date, recent_weight: float, slots: int):
    calls, handle, handled_calls = [0.0] * slots, [0.0] * slots, [0.0] * slots
    total_weight = 0.0
    for day in days:
        weight = recent_weight ** ((latest - day.day).days // 7)
        total_weight += weight
        for i, count in enumerate(day.calls):
            calls[i] += weight * count
            seconds = day.handle_seconds[i] if i < len(day.handle_seconds) else None
            if seconds is not None and count:
                handle[i] += weight * seconds
                handled_calls[i] += weight * count
    if not total_weight:
        return None
    return [c / total_weight for c in calls], handle, handled_calls


def _model(
    history: list[Observed], holidays: set[date], recent_weight: float, slots: int, default_holiday_factor: float
):
    """Per weekday: the weighted profile of usual days; the measured holiday factor."""
    usual = [d for d in history if d.day not in holidays]
    latest = history[-1].day
    profiles = {}
    for weekday in range(7):
        same = [d for d in usual if d.day.weekday() == weekday]
        profiles[weekday] = _weighted_profile(same, latest, recent_weight, slots) if same else None
    seen, expected = 0.0, 0.0
    for day in history:
        profile = profiles.get(day.day.weekday())
        if day.day in holidays and profile:
            seen += sum(day.calls)
            expected += sum(profile[0])
    factor = seen / expected if expected else default_holiday_factor
    return profiles, factor


def forecast(
    history: Iterable[Observed],
    days: Sequence[date],
    *,
    interval_minutes: int,
    holidays: Iterable[date] = (),
    recent_weight: float = 0.7,
    min_history_weeks: int = 3,
    holiday_factor: float = 0.4,
    default_aht: float = 180.0,
    fallback: Callable[[date], Sequence[float]] | None = None,
    measure_accuracy: bool = True,
) -> Forecast:
    """Calls and handle time per interval for `days` (see the module doc)."""
    slots = intervals_per_day(interval_minutes)
    if default_aht is None or default_aht <= 0:
        raise StaffingInputError(f"the queue's handle time must be more than 0 seconds, got {default_aht}")
    if not 0 < recent_weight <= 1:
        raise StaffingInputError(f"recent weight must be above 0 and at most 1, got {recent_weight}")
    holidays = set(holidays)
    history = _check(history, slots)
    weeks = ((history[-1].day - history[0].day).days + 1) / 7 if history else 0.0
    if weeks < min_history_weeks:
        if fallback is None:
            raise StaffingInputError(f"only {weeks:.1f} weeks of history and no volumes in config")
        planned = []
        for day in days:
            calls = tuple(float(c) for c in fallback(day))
            if len(calls) != slots or any(c < 0 for c in calls):
                raise StaffingInputError(f"config volumes for {day}: expected {slots} non-negative intervals")
            if day in holidays:
                calls = tuple(c * holiday_factor for c in calls)
            planned.append(DayForecast(day, calls, (default_aht,) * slots, day in holidays, "config"))
        note = f"{weeks:.1f} weeks of call records (fewer than {min_history_weeks}): volumes from config"
        return Forecast(tuple(planned), None, weeks, holiday_factor, (note,))

    profiles, factor = _model(history, holidays, recent_weight, slots, holiday_factor)
    planned = []
    for day in days:
        profile = profiles.get(day.weekday())
        if profile is None:  # a weekday never seen (the centre was closed): nothing expected
            planned.append(DayForecast(day, (0.0,) * slots, (default_aht,) * slots, day in holidays, "history"))
            continue
        calls, handle, handled = profile
        scale = factor if day in holidays else 1.0
        aht = tuple(handle[i] / handled[i] if handled[i] else default_aht for i in range(slots))
        planned.append(DayForecast(day, tuple(c * scale for c in calls), aht, day in holidays, "history"))
    accuracy = (
        None
        if not measure_accuracy
        else held_out_accuracy(
            history,
            interval_minutes=interval_minutes,
            holidays=holidays,
            recent_weight=recent_weight,
            min_history_weeks=min_history_weeks,
            holiday_factor=holiday_factor,
        )
    )
    return Forecast(tuple(planned), accuracy, weeks, factor)


def held_out_accuracy(
    history: Sequence[Observed],
    *,
    interval_minutes: int,
    holidays: set[date],
    recent_weight: float,
    min_history_weeks: int,
    holiday_factor: float,
) -> Accuracy | None:
    """Forecast the last week of history from the weeks before it and compare."""
    if not history:
        return None
    cut = history[-1].day - timedelta(days=7)
    train = [d for d in history if d.day <= cut]
    test = [d for d in history if d.day > cut]
    if not train or ((train[-1].day - train[0].day).days + 1) / 7 < min(min_history_weeks, 2):
        return None
    predicted = forecast(
        train,
        [d.day for d in test],
        interval_minutes=interval_minutes,
        holidays=holidays,
        recent_weight=recent_weight,
        min_history_weeks=min(min_history_weeks, 2),
        holiday_factor=holiday_factor,
        measure_accuracy=False,
    )
    errors, percents, actual_total = 0.0, [], 0.0
    for actual, guess in zip(test, predicted.days, strict=True):
        for real, expected in zip(actual.calls, guess.calls, strict=True):
            errors += abs(real - expected)
            actual_total += real
            if real > 0:
                percents.append(abs(real - expected) / real)
    return Accuracy(
        mape=sum(percents) / len(percents) if percents else None,
        wape=errors / actual_total if actual_total else None,
        days=len(test),
    )
