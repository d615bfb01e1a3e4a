"""Erlang B, C and A against published figures, an independent 50-digit
reference (mpmath: incomplete gamma for Erlang B, the queue's stationary
distribution and Beta waiting times for Erlang A), and monotonicity."""

from __future__ import annotations

import math

import mpmath as mp
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from contactcentre import staffing
from contactcentre.staffing import StaffingInputError, Targets

mp.mp.dps = 50
TOLERANCE = 1e-9


def close(value: float, reference) -> bool:
    return abs(value - float(reference)) <= TOLERANCE * max(1.0, abs(float(reference)))


# ---- the independent reference ------------------------------------------------------------


def ref_erlang_b(n: int, a: float):
    """B(n, A) = (A^n/n!) / Σ_{k≤n} A^k/k! = A^n e^-A / Γ(n+1, A)."""
    a = mp.mpf(a)
    return mp.exp(n * mp.log(a) - a) / mp.gammainc(n + 1, a)


def ref_erlang_c(n: int, a: float, aht: float, t: float):
    """Erlang C from the M/M/n stationary distribution summed directly."""
    a, n_ = mp.mpf(a), mp.mpf(n)
    terms = [a**k / mp.factorial(k) for k in range(n)]
    queue = a**n / mp.factorial(n) * n_ / (n_ - a)
    c = queue / (mp.fsum(terms) + queue)
    return c, 1 - c * mp.exp(-(n_ - a) * t / aht), c * aht / (n_ - a)


def ref_erlang_a(n: int, a: float, aht: float, patience: float, t: float, service_level: bool = True):
    """Erlang A from the birth-death chain truncated far out, and each waiting
    caller's answer within t: with j ahead of them their time to a seat is
    Σ_{i=0..j} Exp(nμ+iθ) = -ln(Beta(nμ/θ, j+1))/θ, answered if before their patience,
    which happens with probability x/(x+j+1)·(1 - I_c(x+1, j+1)), x = nμ/θ, c = e^(-θt)."""
    mu, theta = 1 / mp.mpf(aht), 1 / mp.mpf(patience)
    lam = mp.mpf(a) * mu
    weights = [mp.mpf(1)]
    total, negligible = mp.mpf(1), mp.mpf(10) ** -60
    k = 0
    while True:
        k += 1
        rate_out = min(k, n) * mu + max(0, k - n) * theta
        weights.append(weights[-1] * lam / rate_out)
        total += weights[-1]
        if k > n and weights[-1] < negligible * total:
            break
    pi = [w / total for w in weights]
    wait = mp.fsum(pi[n:])
    abandon = theta * mp.fsum((k - n) * pi[k] for k in range(n, len(pi))) / lam
    if not service_level:
        return wait, abandon, None
    x = n * mu / theta
    c = mp.exp(-t * theta)
    within = mp.fsum(
        pi[n + j] * x / (x + j + 1) * (1 - beta) for j, beta in enumerate(ref_beta_cdf(x + 1, c, len(pi) - n))
    )
    return wait, abandon, (1 - wait) + within


def ref_beta_cdf(p, c, count: int):
    """I_c(p, b) for b = 1..count, by the finite sum for a whole-number b,
    I_c(p, b) = c^p · Σ_{k<b} (p)_k/k! · (1-c)^k, each b one term more than the last
    (mpmath's betainc takes seconds a call at the 160,000 of fifty thousand Erlangs;
    test_the_finite_beta_sum_is_mpmaths_betainc checks the two agree)."""
    head, term, partial = c**p, mp.mpf(1), mp.mpf(0)
    for k in range(count):
        if k:
            term *= (p + k - 1) / k * (1 - c)
        partial += term
        yield head * partial


# ---- published figures --------------------------------------------------------------------


def test_erlang_b_matches_the_published_table():
    # Erlang B tables (e.g. Iversen, Teletraffic Engineering, table of the loss formula).
    assert staffing.erlang_b(10, 5) == pytest.approx(0.01838, abs=5e-6)
    assert staffing.erlang_b(5, 2) == pytest.approx(0.03670, abs=5e-6)
    assert staffing.erlang_b(1, 1) == pytest.approx(0.5)


def test_the_worked_erlang_c_example():
    # The classic worked example: 100 calls in 30 minutes, 180 s handle time, 80% in 20 s.
    traffic = staffing.offered_traffic(100, 180, 1800)
    assert traffic == 10
    eleven = staffing.erlang_c(11, traffic, 180, 20)
    assert eleven.wait_probability == pytest.approx(0.6821, abs=1e-4)
    assert eleven.service_level == pytest.approx(0.3896, abs=1e-4)
    plan = staffing.erlang_c_seats(traffic, 180, Targets(0.8, 20, max_occupancy=1.0))
    assert plan.met and plan.seats == 14
    assert plan.performance.service_level == pytest.approx(0.8884, abs=1e-4)
    # ... and 30% shrinkage makes 20 people.
    assert math.ceil(staffing.people_for_seats(14, 0.3)) == 20


def test_people_per_seat_by_the_hospitals_formula():
    assert round(staffing.people_per_seat(24, 30, 8 * 21.75), 2) == 4.14


@pytest.mark.parametrize(("seat_hours", "days", "monthly", "shrinkage"), [(183.5, 30, 174, 0.3), (24, 30, 174, 0.0)])
def test_people_for_the_month_are_on_the_payroll_after_shrinkage(seat_hours, days, monthly, shrinkage):
    on_the_phone = seat_hours * days / monthly
    people = staffing.people_for_month(seat_hours, days, monthly, shrinkage)
    assert people == pytest.approx(on_the_phone / (1 - shrinkage))
    assert people * (1 - shrinkage) * monthly == pytest.approx(seat_hours * days)  # their hours on the phone


# ---- against the 50-digit reference -------------------------------------------------------


@pytest.mark.parametrize(
    ("n", "a"),
    [(1, 0.5), (10, 5), (14, 10), (30, 29.9), (120, 100), (250, 200.5), (10, 50), (10_080, 10_000), (50_200, 50_000)],
)
def test_erlang_b_agrees_with_the_reference(n, a):
    reference = ref_erlang_b(n, a)
    assert close(staffing.erlang_b(n, a), reference)
    assert close(staffing.erlang_b_recurrence(n, a), reference)


@pytest.mark.parametrize(("n", "a"), [(11, 10), (14, 10), (53, 48.3), (230, 200)])
def test_erlang_c_agrees_with_the_reference(n, a):
    c, sl, asa = ref_erlang_c(n, a, 180, 20)
    got = staffing.erlang_c(n, a, 180, 20)
    assert close(got.wait_probability, c)
    assert close(got.service_level, sl)
    assert close(got.asa, asa)


def test_erlang_c_at_fifty_thousand_erlangs_agrees_with_the_reference():
    n, a = 50_200, 50_000.0
    b = ref_erlang_b(n, a)
    rho = mp.mpf(a) / n
    c = b / (b + (1 - rho) * (1 - b))
    got = staffing.erlang_c(n, a, 180, 20)
    assert close(got.wait_probability, c)
    assert close(got.service_level, 1 - c * mp.exp(-(n - mp.mpf(a)) * 20 / 180))


@pytest.mark.parametrize(
    ("n", "a", "patience"),
    [(5, 4.0, 60), (8, 10.0, 120), (14, 10.0, 120), (14, 10.0, 30), (20, 18.5, 200), (3, 6.0, 45)],
)
def test_erlang_a_agrees_with_the_reference(n, a, patience):
    wait, abandon, sl = ref_erlang_a(n, a, 180, patience, 20)
    got = staffing.erlang_a(n, a, 180, patience, 20)
    assert close(got.wait_probability, wait)
    assert close(got.abandon_probability, abandon)
    assert close(got.service_level, sl)
    assert close(got.asa, abandon * patience)  # Little's law on the queue


def test_the_finite_beta_sum_is_mpmaths_betainc():
    for p, c in ((mp.mpf("3.7"), mp.mpf("0.3")), (mp.mpf("400.5"), mp.mpf("0.9")), (mp.mpf(5), mp.mpf("0.999"))):
        sums = list(ref_beta_cdf(p, c, 40))
        for b in (1, 2, 17, 40):
            assert mp.almosteq(sums[b - 1], mp.betainc(p, b, 0, c, regularized=True), rel_eps=mp.mpf(10) ** -40)


def test_erlang_a_under_heavy_overload_finds_the_least_seats_by_the_reference():
    # 50,000 Erlangs, patient callers (600 s), 80% in 20 s and no occupancy cap: every seat
    # is busy, so the occupancy sits at 100% and rounding must not decide the answer.
    traffic, patience, targets = 50_000.0, 600, Targets(0.8, 20, max_occupancy=1.0)
    plan = staffing.erlang_a_seats(traffic, 180, patience, targets)
    assert plan.met and plan.performance.occupancy <= 1.0
    for seats, meets in ((plan.seats, True), (plan.seats - 1, False)):
        wait, abandon, sl = ref_erlang_a(seats, traffic, 180, patience, 20)
        got = staffing.erlang_a(seats, traffic, 180, patience, 20)
        assert close(got.wait_probability, wait) and close(got.abandon_probability, abandon)
        assert close(got.service_level, sl)
        assert (sl >= targets.service_level) is meets, (seats, sl)
        assert got.occupancy <= 1.0


def test_erlang_a_tends_to_erlang_c_as_callers_never_hang_up():
    a_model = staffing.erlang_a(14, 10, 180, 1e9, 20)
    c_model = staffing.erlang_c(14, 10, 180, 20)
    assert a_model.service_level == pytest.approx(c_model.service_level, abs=1e-6)
    assert a_model.wait_probability == pytest.approx(c_model.wait_probability, abs=1e-6)


def test_huge_traffic_stays_finite_and_fast_to_search():
    for traffic in (10_000, 50_000, 250_000):
        plan = staffing.erlang_c_seats(traffic, 180, Targets(0.8, 20, max_occupancy=1.0))
        assert plan.met
        assert traffic < plan.seats < traffic * 1.01
        assert staffing.erlang_c_seats(traffic, 180, Targets(0.8, 20, max_occupancy=1.0), plan.seats - 1).met is False
        a_plan = staffing.erlang_a_seats(traffic, 180, 120, Targets(0.8, 20, max_occupancy=1.0))
        assert a_plan.met and a_plan.seats <= plan.seats
        assert all(math.isfinite(v) for v in a_plan.performance[1:])


def test_the_seat_search_returns_the_least_that_meets_every_target():
    targets = Targets(0.9, 15, max_occupancy=0.85, max_asa_seconds=10)
    for traffic in (0.3, 2.5, 17.0, 83.2, 199.0):
        plan = staffing.erlang_c_seats(traffic, 180, targets)
        perf = plan.performance
        assert plan.met and perf.service_level >= 0.9 and perf.asa <= 10 and perf.occupancy <= 0.85
        fewer = staffing.erlang_c(plan.seats - 1, traffic, 180, 15)
        assert fewer.service_level < 0.9 or fewer.asa > 10 or fewer.occupancy > 0.85
        a_plan = staffing.erlang_a_seats(traffic, 180, 90, Targets(0.9, 15, max_abandon=0.02))
        fewer_a = staffing.erlang_a(a_plan.seats - 1, traffic, 180, 90, 15)
        assert a_plan.performance.service_level >= 0.9 and a_plan.performance.abandon_probability <= 0.02
        assert fewer_a.service_level < 0.9 or fewer_a.abandon_probability > 0.02 or fewer_a.occupancy > 0.85


# ---- monotonicity -------------------------------------------------------------------------

traffics = st.floats(min_value=0.01, max_value=400, allow_nan=False)


@settings(max_examples=60, deadline=None)
@given(traffics, st.integers(min_value=1, max_value=500))
def test_more_seats_block_less_and_answer_sooner(traffic, n):
    assert staffing.erlang_b(n + 1, traffic) <= staffing.erlang_b(n, traffic)
    assert staffing.erlang_b(n, traffic * 1.1) >= staffing.erlang_b(n, traffic)
    more, fewer = staffing.erlang_c(n + 1, traffic, 180, 20), staffing.erlang_c(n, traffic, 180, 20)
    assert more.service_level >= fewer.service_level - 1e-12
    assert more.wait_probability <= fewer.wait_probability + 1e-12


@settings(max_examples=40, deadline=None)
@given(traffics, st.integers(min_value=0, max_value=400), st.floats(min_value=5, max_value=1000))
def test_erlang_a_improves_with_seats(traffic, n, patience):
    more, fewer = staffing.erlang_a(n + 1, traffic, 180, patience), staffing.erlang_a(n, traffic, 180, patience)
    assert more.service_level >= fewer.service_level - 1e-9
    assert more.abandon_probability <= fewer.abandon_probability + 1e-9
    for perf in (more, fewer):
        assert 0 <= perf.service_level <= 1 and 0 <= perf.abandon_probability <= 1


@settings(max_examples=40, deadline=None)
@given(traffics)
def test_more_traffic_never_needs_fewer_seats(traffic):
    assert staffing.erlang_c_seats(traffic * 1.05, 180).seats >= staffing.erlang_c_seats(traffic, 180).seats
    assert staffing.erlang_a_seats(traffic * 1.05, 180, 120).seats >= staffing.erlang_a_seats(traffic, 180, 120).seats


# ---- bad input ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda: staffing.offered_traffic(-5, 180, 1800), "calls cannot be negative"),
        (lambda: staffing.offered_traffic(None, 180, 1800), "calls is missing"),
        (lambda: staffing.offered_traffic(10, 0, 1800), "handle time must be more than 0"),
        (lambda: staffing.erlang_c_seats(10, 0), "handle time must be more than 0"),
        (lambda: staffing.erlang_c_seats(float("nan"), 180), "finite"),
        (lambda: Targets(1.0, 0), "below 100%"),
        (lambda: Targets(0.8, -1), "cannot be negative"),
        (lambda: Targets(0.8, 20, max_asa_seconds=0), "cannot be met"),
        (lambda: staffing.erlang_a(5, 4, 180, 0), "patience must be more than 0"),
        (lambda: staffing.people_for_seats(10, 1.0), "shrinkage"),
        (lambda: staffing.people_per_seat(25, 30, 174), "between 0 and 24"),
        (lambda: staffing.people_for_month(100, 30, 174, 1.0), "shrinkage"),
        (lambda: staffing.people_for_month(-1, 30, 174, 0.3), "cannot be negative"),
    ],
)
def test_bad_input_is_refused_with_a_clear_message(call, message):
    with pytest.raises(StaffingInputError, match=message):
        call()


def test_traffic_beyond_the_seat_cap_is_marked_cannot_meet():
    plan = staffing.erlang_c_seats(500, 180, Targets(), max_seats=300)
    assert not plan.met and plan.seats == 300
    assert "cannot meet" in plan.reason and "300 seats" in plan.reason
    a_plan = staffing.erlang_a_seats(500, 180, 60, Targets(), max_seats=300)
    assert not a_plan.met and "cannot meet" in a_plan.reason


def test_no_calls_need_no_seats():
    assert staffing.erlang_c_seats(0, 180).seats == 0
    assert staffing.erlang_a_seats(0, 180, 60).seats == 0


def test_a_whole_day_at_once_gives_the_same_seats_as_one_interval_at_a_time():
    import random

    rng = random.Random(6)
    traffics = [0.0, 0.2, 1.0, 50_000.0, 399.0] + [rng.uniform(0, 200) for _ in range(300)]
    targets = Targets(0.8, 20, 0.85, max_asa_seconds=30)
    many = staffing.erlang_c_seats_many(traffics, 180, targets, max_seats=60_000)
    one_by_one = [staffing.erlang_c_seats(t, 180, targets, max_seats=60_000) for t in traffics]
    assert [p.seats for p in many] == [p.seats for p in one_by_one]
    for got, expected in zip(many, one_by_one, strict=True):
        assert got.met == expected.met
        assert got.performance.service_level == pytest.approx(expected.performance.service_level, rel=1e-12)
    capped = staffing.erlang_c_seats_many([10.0, 300.0], 180, targets, max_seats=250)
    assert capped[0].met and not capped[1].met and "cannot meet" in capped[1].reason


def test_extreme_inputs_answer_at_once():
    # Callers who (almost) never hang up and far fewer seats than traffic: the patience
    # series would need billions of terms; far more seats than traffic: millions.
    perf = staffing.erlang_a(5, 10.0, 180, 1e9, 20)
    assert perf.wait_probability == pytest.approx(1.0) and perf.service_level < 0.01
    assert math.isfinite(perf.asa) and 0 <= perf.abandon_probability <= 1
    patient = staffing.erlang_a_seats(10.0, 180, 1e9, Targets(0.8, 20, 1.0))
    assert patient.seats == staffing.erlang_c_seats(10.0, 180, Targets(0.8, 20, 1.0)).seats
    assert staffing.erlang_b(10_000_000, 1.0) == 0.0
    assert staffing.erlang_c(10_000_000, 1.0, 180).service_level == 1.0


@pytest.mark.parametrize(("n", "a", "patience"), [(2, 30.0, 15_000), (20, 200.0, 2_500)])
def test_erlang_a_with_far_more_callers_than_seats_agrees_with_the_reference(n, a, patience):
    # y - x > 2000: the continued-fraction branch.  The reference sums the chain directly.
    assert a * patience / 180 - n * patience / 180 > 2000
    wait, abandon, _ = ref_erlang_a(n, a, 180, patience, 20, service_level=False)
    got = staffing.erlang_a(n, a, 180, patience, 20)
    assert close(got.wait_probability, wait)
    assert abs(got.abandon_probability - float(abandon)) < 1e-9
