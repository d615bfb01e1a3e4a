"""Forecast (weekday x interval profile, recent weeks weighted, holidays,
held-out error, config fallback) and rosters (integer programme)."""

from __future__ import annotations

import random
from datetime import date, timedelta

import pytest

from contactcentre import forecast, roster
from contactcentre.forecast import Observed
from contactcentre.staffing import StaffingInputError

SLOTS = 48
MONDAY = date(2026, 10, 5)


def shape(day: date, scale: float) -> tuple[float, ...]:
    """A clinic day: calls from 08:00 to 20:00, busiest in the morning, quieter at weekends."""
    weekday_scale = (1.2, 1.0, 1.0, 1.0, 0.9, 0.5, 0.3)[day.weekday()]
    return tuple(
        round(scale * weekday_scale * (30 if 16 <= i < 24 else 15 if 24 <= i < 40 else 0)) for i in range(SLOTS)
    )


def history(weeks: int, scale_of_week=lambda week: 1.0, holidays=(), holiday_share=1.0, noise=0.0, aht=200.0):
    rng = random.Random(3)
    days = []
    for offset in range(weeks * 7):
        day = MONDAY + timedelta(days=offset)
        calls = shape(day, scale_of_week(offset // 7))
        if day in holidays:
            calls = tuple(c * holiday_share for c in calls)
        if noise:
            calls = tuple(max(0.0, c + rng.gauss(0, noise * c)) for c in calls)
        days.append(Observed(day, calls, tuple(c * aht for c in calls)))
    return days


def test_the_profile_follows_the_weekday_and_weights_recent_weeks_more():
    past = history(6, scale_of_week=lambda week: 1.0 + week * 0.1)  # growing 10% a week
    next_monday = MONDAY + timedelta(days=42)
    result = forecast.forecast(
        past, [next_monday, next_monday + timedelta(days=5)], interval_minutes=30, recent_weight=0.5
    )
    monday, saturday = result.days
    assert monday.source == "history" and not monday.holiday
    mondays = [d for d in past if d.day.weekday() == 0]
    weights = [0.5 ** ((past[-1].day - d.day).days // 7) for d in mondays]
    expected = sum(w * d.calls[17] for w, d in zip(weights, mondays, strict=True)) / sum(weights)
    assert monday.calls[17] == pytest.approx(expected)
    flat = sum(d.calls[17] for d in mondays) / len(mondays)
    assert monday.calls[17] > flat  # recent, busier weeks count more
    assert saturday.calls[17] < monday.calls[17] and monday.calls[2] == 0
    assert monday.aht[17] == pytest.approx(200.0)
    assert monday.aht[2] == 180.0  # no calls at 01:00: the queue's configured handle time


def test_holidays_get_the_share_measured_in_history():
    holiday = MONDAY + timedelta(days=16)  # a Wednesday
    past = history(5, holidays={holiday}, holiday_share=0.5)
    coming = MONDAY + timedelta(days=37)  # a Wednesday declared a holiday
    result = forecast.forecast(
        past, [coming, coming + timedelta(days=7)], interval_minutes=30, holidays={holiday, coming}
    )
    assert result.holiday_factor == pytest.approx(0.5)
    off, usual = result.days
    assert off.holiday and off.calls[17] == pytest.approx(usual.calls[17] * 0.5)


def test_without_holiday_history_the_configured_factor_applies():
    coming = MONDAY + timedelta(days=37)
    result = forecast.forecast(history(5), [coming], interval_minutes=30, holidays={coming}, holiday_factor=0.25)
    assert result.days[0].calls[17] == pytest.approx(0.25 * result.days[0].calls[17] / 0.25)
    assert result.holiday_factor == 0.25
    usual = forecast.forecast(history(5), [coming], interval_minutes=30).days[0]
    assert result.days[0].calls[17] == pytest.approx(0.25 * usual.calls[17])


def test_the_error_on_held_out_history_is_reported():
    exact = forecast.forecast(history(5), [MONDAY + timedelta(days=35)], interval_minutes=30)
    assert exact.accuracy.mape == pytest.approx(0, abs=1e-12) and exact.accuracy.wape == pytest.approx(0, abs=1e-12)
    assert exact.accuracy.days == 7
    noisy = forecast.forecast(history(5, noise=0.2), [MONDAY + timedelta(days=35)], interval_minutes=30)
    assert 0.05 < noisy.accuracy.mape < 0.5 and 0.05 < noisy.accuracy.wape < 0.5


def test_short_history_falls_back_to_the_volumes_in_config():
    volumes = {"mon": {"08:00-12:00": 60, "12:00-13:15": 40}}
    result = forecast.forecast(
        history(1),
        [MONDAY + timedelta(days=14), MONDAY + timedelta(days=15)],
        interval_minutes=30,
        fallback=lambda day: forecast.config_volumes(volumes, day, 30),
    )
    monday, tuesday = result.days
    assert monday.source == "config" and "volumes from config" in result.notes[0]
    assert monday.calls[16] == 30 and monday.calls[24] == 20 and monday.calls[26] == pytest.approx(10)
    assert sum(tuesday.calls) == 0


@pytest.mark.parametrize(
    ("days", "message"),
    [
        ([Observed(MONDAY, (-1.0,) * SLOTS)], "negative"),
        ([Observed(MONDAY, (1.0,) * 10)], "expected 48 intervals"),
    ],
)
def test_bad_history_is_refused_clearly(days, message):
    with pytest.raises(StaffingInputError, match=message):
        forecast.forecast(days, [MONDAY], interval_minutes=30, fallback=lambda day: (0.0,) * SLOTS)


def test_the_roster_covers_every_interval_with_the_fewest_person_hours():
    patterns = roster.shift_patterns(hours=[8], start_every_minutes=60, earliest_start=0, latest_end=24 * 60)
    need = [0] * 16 + [4, 6, 9, 12, 12, 12, 10, 8, 6, 6, 8, 9, 9, 8, 6, 4, 3, 2, 2, 2] + [0] * 12
    result = roster.build_roster(need, interval_minutes=30, patterns=patterns, max_people=100)
    assert result.covered and result.status == "optimal" and result.gap == 0
    assert all(on >= n for on, n in zip(result.on_shift, need, strict=True))
    assert result.person_hours == 8 * sum(result.people.values())
    # No roster can do with fewer people than the busiest interval needs, each working 8 hours.
    assert result.person_hours >= 8 * max(need)
    # Removing any one person leaves some interval short: nothing is wasted.
    for shift in result.people:
        fewer = dict(result.people)
        fewer[shift] -= 1
        on = [sum(n for s, n in fewer.items() if s.covers(i, 30)) for i in range(len(need))]
        assert any(o < n for o, n in zip(on, need, strict=True))


def test_a_roster_that_cannot_cover_says_where_it_is_short():
    patterns = roster.shift_patterns(hours=[8], start_every_minutes=60, earliest_start=8 * 60, latest_end=20 * 60)
    need = [1] * 12 + [5] * 36  # 06:00-08:00 is outside the shift window; 5 people a day at most
    result = roster.build_roster(need, interval_minutes=30, patterns=patterns, max_people=4)
    assert not result.covered
    assert result.short[0] == 1 and sum(result.people.values()) <= 4


def test_no_shift_fits_the_window():
    with pytest.raises(StaffingInputError, match="no shift of"):
        roster.shift_patterns(hours=[10], start_every_minutes=60, earliest_start=9 * 60, latest_end=17 * 60)
