"""The simulation confirms Erlang A (and Erlang C) within its confidence bounds,
and answers 'what if 3 people call in sick'."""

from __future__ import annotations

import pytest

from contactcentre import simulation, staffing
from contactcentre.staffing import StaffingInputError

CASES = [
    # seats, Erlangs, handle time, mean patience
    (14, 10.0, 180, 120),  # comfortable
    (9, 10.0, 180, 60),  # overloaded: Erlang C has no answer, Erlang A does
    (52, 48.0, 240, 300),
]


@pytest.mark.parametrize(("seats", "traffic", "aht", "patience"), CASES)
def test_erlang_a_holds_within_the_simulations_confidence_bounds(seats, traffic, aht, patience):
    estimates = simulation.replicate(
        runs=8, seed=seats, seats=seats, traffic=traffic, aht=aht, patience=patience, calls=15_000
    )
    formula = staffing.erlang_a(seats, traffic, aht, patience, 20)
    assert estimates["service_level"].holds(formula.service_level)
    assert estimates["abandon_rate"].holds(formula.abandon_probability)
    assert estimates["average_wait"].holds(formula.asa)
    assert estimates["occupancy"].holds(formula.occupancy)


def test_the_simulation_can_tell_a_wrong_formula_apart():
    # Erlang C ignores callers who hang up: with short patience it is far off, and the check fails.
    estimates = simulation.replicate(runs=8, seats=11, traffic=10.0, aht=180, patience=30, calls=15_000)
    assert not estimates["service_level"].holds(staffing.erlang_c(11, 10.0, 180, 20).service_level)
    assert estimates["service_level"].holds(staffing.erlang_a(11, 10.0, 180, 30, 20).service_level)


def test_patient_callers_give_erlang_c():
    estimates = simulation.replicate(runs=8, seats=14, traffic=10.0, aht=180, patience=None, calls=15_000)
    formula = staffing.erlang_c(14, 10.0, 180, 20)
    assert estimates["service_level"].holds(formula.service_level)
    assert estimates["abandon_rate"].mean == 0


def test_a_seed_repeats_a_run_exactly():
    one = simulation.simulate(seats=5, traffic=4.0, aht=180, patience=60, calls=2_000, seed=7)
    assert one == simulation.simulate(seats=5, traffic=4.0, aht=180, patience=60, calls=2_000, seed=7)
    assert one != simulation.simulate(seats=5, traffic=4.0, aht=180, patience=60, calls=2_000, seed=8)


def test_three_people_off_sick():
    plan = staffing.erlang_a_seats(staffing.offered_traffic(300, 180, 1800), 180, 120, staffing.Targets(0.8, 20, 1.0))
    full = simulation.what_if(calls=300, aht=180, interval_seconds=1800, seats=plan.seats, absent=0, patience=120)
    sick = simulation.what_if(calls=300, aht=180, interval_seconds=1800, seats=plan.seats, absent=3, patience=120)
    assert sick.seats_present == plan.seats - 3
    assert full.formula.service_level >= 0.8 > sick.formula.service_level
    assert sick.simulated["service_level"].mean < full.simulated["service_level"].mean
    assert sick.simulated["abandon_rate"].holds(sick.formula.abandon_probability, widen=1.5)


def test_what_if_refuses_more_absent_than_seats():
    with pytest.raises(StaffingInputError, match="absent must be between 0 and the 10 seats"):
        simulation.what_if(calls=100, aht=180, interval_seconds=1800, seats=10, absent=11, patience=60)
