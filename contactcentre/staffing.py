"""Staffing maths: how many seats answer the calls of one interval in time.

Pure functions, no I/O.  Notation (the hospital's words in brackets):

- λ calls offered per second, h the average handle time in seconds (talk + hold
  + wrap-up), so the offered traffic is A = λh Erlangs (busy seats needed on
  average); n seats (agents on the phone); T the answer-time target in seconds
  (the "20 s" of "80% in 20 s"); ρ = A/n the occupancy.

Erlang B (blocking, no queue), by the stable recurrence

    B(0, A) = 1,    B(n, A) = A·B(n-1, A) / (n + A·B(n-1, A)),

or directly, near the traffic, from the finite series (the same quantity)

    1/B(n, A) = Σ_{j=0..n} n!/((n-j)!·A^j) = Σ_j Π_{i<j} (n-i)/A,

summed in log scale until its terms are negligible (O(|n-A| + 9√A) terms, so
50,000 Erlangs cost about two thousand terms, not fifty thousand).  Neither
form ever builds A^n or n!, which overflow a float beyond A ≈ 170.

Erlang C (callers wait as long as it takes; M/M/n), for n > A:

    C(n, A)  = P(wait > 0) = B / (B + (1-ρ)(1-B))        (= 1 if n ≤ A)
    SL(T)    = P(wait ≤ T) = 1 - C·exp(-(n-A)·T/h)
    ASA      = C·h / (n-A)                                (mean wait, all callers)
    occupancy = A/n

Erlang A (callers hang up after an exponential patience of mean p seconds;
M/M/n+M, Palm's model).  With θ = 1/p, x = n·p/h (= nμ/θ) and y = A·p/h (= λ/θ),
and the series  S(x, y) = Σ_{j≥0} y^j / ((x+1)(x+2)…(x+j)) = x·e^y·y^-x·γ(x, y)
(γ the lower incomplete gamma function), one finds (Mandelbaum & Zeltyn 2005,
"The M/M/n+G queue: summary of performance measures"):

    P(wait > 0)          P_W = S·B / (1 + (S-1)·B)          (B = B(n, A))
    P(answered | waits)  = (x/y)·(1 - 1/S)
    P(abandon)           = P_W·(1 - (x/y)·(1 - 1/S))
    SL(T)                = 1 - P_W + P_W·[(x/y)(1 - 1/S) - R(T)],
        R(T) = γ(x+1, y·c)/(y·γ(x, y)) = c^(x+1)·e^(y(1-c))·x/(x+1)·S(x+1, yc)/S(x, y),
        c = exp(-T/p)
    average wait         = P(abandon)·p    (Little's law on the queue: callers who
                                            hang up count the time they waited)

SL is the share of *offered* calls answered within T: a caller who hangs up,
even after 5 s, is a miss.  Unlike Erlang C, Erlang A is stable when A ≥ n.

Seat searches start at the least number that could do (n > A for Erlang C,
n ≥ A/max_occupancy) and walk up with the recurrence, one multiplication per
candidate.  They stop at the seat cap (config) with a result marked
"cannot meet", never loop for ever, and never raise for a target that
cannot be met; input that makes no sense (negative calls, handle time 0, a
target of 100%) raises `StaffingInputError` with a message saying what is wrong.

Why not a library: pyworkforce recomputes Erlang B from scratch for every
candidate seat count and has no Erlang A; the formulas are short and tested here
against mpmath at 50 digits and against a simulation (contactcentre/simulation.py).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import NamedTuple

# Beyond this a search is pointless: no hospital has it; the config's cap is usually far lower.
DEFAULT_SEAT_CAP = 1_000_000
_EPS = 1e-17  # relative size of the last series term kept


class StaffingInputError(ValueError):
    """Input that makes no sense (the message says which and why)."""


class Performance(NamedTuple):
    """What n seats give for one interval's traffic."""

    seats: int
    traffic: float
    wait_probability: float  # P(a caller waits at all)
    service_level: float  # share of offered calls answered within the target time
    asa: float  # average wait in seconds (Erlang A: of all callers, abandoned ones included)
    occupancy: float  # share of the seats' time spent on calls
    abandon_probability: float = 0.0  # Erlang A only


class SeatPlan(NamedTuple):
    """The fewest seats that meet the targets, or a clearly marked failure."""

    seats: int  # the seats found; when not met, the cap that was tried
    met: bool
    performance: Performance | None
    reason: str = ""  # why not met, in words a supervisor understands


@dataclass(frozen=True)
class Targets:
    """Service targets for one queue (config's staffing.targets)."""

    service_level: float = 0.8  # share answered within answer_seconds
    answer_seconds: float = 20.0
    max_occupancy: float = 0.85
    max_asa_seconds: float | None = None
    max_abandon: float | None = None  # Erlang A only: share of callers who hang up

    def __post_init__(self) -> None:
        check_targets(self)


# ---- input checks -----------------------------------------------------------------------


def _number(name: str, value: object) -> float:
    if value is None:
        raise StaffingInputError(f"{name} is missing")
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise StaffingInputError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not math.isfinite(value):
        raise StaffingInputError(f"{name} must be a finite number, got {value!r}")
    return value


def check_traffic(traffic: object) -> float:
    traffic = _number("traffic", traffic)
    if traffic < 0:
        raise StaffingInputError(f"traffic cannot be negative, got {traffic:g} Erlangs")
    return traffic


def check_handle_time(aht: object) -> float:
    aht = _number("average handle time", aht)
    if aht <= 0:
        raise StaffingInputError(f"average handle time must be more than 0 seconds, got {aht:g}")
    return aht


def check_targets(targets: Targets) -> None:
    sl = _number("service level target", targets.service_level)
    if not 0 < sl < 1:
        raise StaffingInputError(
            f"service level target must be above 0% and below 100%, got {sl:.0%}: "
            "no number of seats answers every call in time (callers arrive at random)"
        )
    if _number("answer time target", targets.answer_seconds) < 0:
        raise StaffingInputError(f"answer time target cannot be negative, got {targets.answer_seconds:g} s")
    occupancy = _number("maximum occupancy", targets.max_occupancy)
    if not 0 < occupancy <= 1:
        raise StaffingInputError(f"maximum occupancy must be above 0% and at most 100%, got {occupancy:.0%}")
    if targets.max_asa_seconds is not None and _number("ASA target", targets.max_asa_seconds) <= 0:
        raise StaffingInputError(
            f"an average speed of answer of {targets.max_asa_seconds:g} s cannot be met: callers arrive at random"
        )
    if targets.max_abandon is not None and not 0 < _number("abandon target", targets.max_abandon) < 1:
        raise StaffingInputError(f"abandon target must be above 0% and below 100%, got {targets.max_abandon:.0%}")


def offered_traffic(calls: object, aht: object, interval_seconds: object) -> float:
    """Erlangs offered by `calls` calls of `aht` seconds in an interval: A = calls·h/interval."""
    calls = _number("calls", calls)
    if calls < 0:
        raise StaffingInputError(f"calls cannot be negative, got {calls:g}")
    interval = _number("interval length", interval_seconds)
    if interval <= 0:
        raise StaffingInputError(f"interval length must be more than 0 seconds, got {interval:g}")
    if calls == 0:
        return 0.0
    return calls * check_handle_time(aht) / interval


def _seats(seats: object) -> int:
    if isinstance(seats, bool) or not isinstance(seats, int) or seats < 0:
        raise StaffingInputError(f"seats must be a whole number of at least 0, got {seats!r}")
    return seats


# ---- Erlang B ---------------------------------------------------------------------------


def _log_sum_of_products(step, limit: int | None) -> float:
    """log Σ_{j≥0} t_j with t_0 = 1, t_j = t_{j-1}·step(j) (step(j) > 0), in log scale.

    Stops after `limit` terms (a finite series), or once the terms fall and the
    next one is below _EPS of the sum."""
    log_term = 0.0
    peak = 0.0  # log of the largest term so far: the sum is kept relative to it
    total = 1.0
    j = 0
    while limit is None or j < limit:
        j += 1
        ratio = step(j)
        if ratio <= 0:
            break
        log_term += math.log(ratio)
        if log_term > peak:
            total = total * math.exp(peak - log_term) + 1.0
            peak = log_term
            continue
        relative = math.exp(log_term - peak)
        total += relative
        if ratio < 1 and relative < _EPS * total:
            break
    return peak + math.log(total)


def log_inverse_erlang_b(seats: int, traffic: float) -> float:
    """log(1/B(n, A)) from the finite series, summed from its largest terms down
    (see the module doc).  Plain floats where the largest term cannot overflow
    (its log is about (n-A)²/2A), logs beyond."""
    if seats == 0:
        return 0.0
    excess = max(0.0, seats - traffic)
    if excess > 2 * math.sqrt(traffic) + 50:
        # Far more seats than traffic: 1/B = (n!/A^n)·e^A·P(Poisson(A) ≤ n), and that
        # probability is 1 to float precision when n is this far above A.  When B is then
        # below the smallest float, n terms of the series would only confirm it.
        log_inverse = math.lgamma(seats + 1) - seats * math.log(traffic) + traffic
        if log_inverse > 745:
            return log_inverse
    if excess * excess / (2 * traffic) + excess * 0.01 < 500:
        # Below i = A the terms fall at least as fast as exp(-k²/2A) (ln(1-x) ≤ -x), so
        # 9·√A + 2 of them reach 1e-17 of the first: the rest cannot change a float.
        lowest = max(0, math.ceil(traffic) - math.ceil(9 * math.sqrt(traffic)) - 2)
        x, step = 1.0, 1 / traffic
        for i in range(lowest + 1, seats + 1):  # Horner: 1 + (n/A)(1 + ((n-1)/A)(1 + ...))
            x = 1.0 + x * i * step
        return math.log(x)
    return _log_sum_of_products(lambda j: (seats - j + 1) / traffic, seats + 1)


def erlang_b(seats: int, traffic: float) -> float:
    """P(all n seats busy) with no queue: Erlang's loss formula B(n, A)."""
    seats, traffic = _seats(seats), check_traffic(traffic)
    if traffic == 0:
        return 0.0 if seats else 1.0
    return math.exp(-log_inverse_erlang_b(seats, traffic))


def erlang_b_recurrence(seats: int, traffic: float) -> float:
    """B(n, A) by the textbook recurrence from n = 0 (used to cross-check, and for small n)."""
    seats, traffic = _seats(seats), check_traffic(traffic)
    b = 1.0
    for n in range(1, seats + 1):
        b = traffic * b / (n + traffic * b)
    return b


# ---- Erlang C ---------------------------------------------------------------------------


def _erlang_c_from_b(b: float, seats: int, traffic: float) -> float:
    if seats <= traffic:
        return 1.0
    rho = traffic / seats
    return b / (b + (1 - rho) * (1 - b))


def _erlang_c_performance(seats: int, traffic: float, b: float, aht: float, answer_seconds: float) -> Performance:
    if traffic == 0:
        return Performance(seats, 0.0, 0.0, 1.0, 0.0, 0.0)
    if seats <= traffic:  # the queue grows without end
        return Performance(seats, traffic, 1.0, 0.0, math.inf, 1.0 if seats else math.inf)
    c = _erlang_c_from_b(b, seats, traffic)
    spare = seats - traffic
    return Performance(
        seats=seats,
        traffic=traffic,
        wait_probability=c,
        service_level=1 - c * math.exp(-spare * answer_seconds / aht),
        asa=c * aht / spare,
        occupancy=traffic / seats,
    )


def erlang_c(seats: int, traffic: float, aht: float, answer_seconds: float = 20.0) -> Performance:
    """What n seats give under Erlang C (callers never hang up)."""
    seats, traffic, aht = _seats(seats), check_traffic(traffic), check_handle_time(aht)
    answer_seconds = _number("answer time target", answer_seconds)
    b = erlang_b(seats, traffic) if traffic else 0.0
    return _erlang_c_performance(seats, traffic, b, aht, answer_seconds)


def _meets(perf: Performance, targets: Targets) -> bool:
    return (
        perf.service_level >= targets.service_level
        and perf.occupancy <= targets.max_occupancy
        and (targets.max_asa_seconds is None or perf.asa <= targets.max_asa_seconds)
        and (targets.max_abandon is None or perf.abandon_probability <= targets.max_abandon)
    )


def _cannot_meet(cap: int, perf: Performance | None, traffic: float) -> SeatPlan:
    return SeatPlan(
        seats=cap,
        met=False,
        performance=perf,
        reason=f"cannot meet the targets with at most {cap} seats ({traffic:.1f} Erlangs offered)",
    )


def erlang_c_seats(
    traffic: float, aht: float, targets: Targets = Targets(), max_seats: int = DEFAULT_SEAT_CAP
) -> SeatPlan:
    """The fewest seats meeting the service level, the ASA target and the occupancy cap.

    Starts at max(⌊A⌋+1, ⌈A/max_occupancy⌉) (nothing less can do) and walks up
    with B(n+1) = A·B(n)/(n+1+A·B(n)): one step per candidate."""
    traffic, aht = check_traffic(traffic), check_handle_time(aht)
    cap = _seats(max_seats)
    if traffic == 0:
        return SeatPlan(0, True, Performance(0, 0.0, 0.0, 1.0, 0.0, 0.0))
    start = max(math.floor(traffic) + 1, math.ceil(traffic / targets.max_occupancy - 1e-12))
    if start > cap:
        return _cannot_meet(cap, erlang_c(cap, traffic, aht, targets.answer_seconds), traffic)
    b = math.exp(-log_inverse_erlang_b(start, traffic))
    n = start
    # The loop tests the service level and ASA in line (no object per candidate): it
    # runs for every interval of every queue.
    wanted_sl, t_over_h = targets.service_level, targets.answer_seconds / aht
    max_asa = math.inf if targets.max_asa_seconds is None else targets.max_asa_seconds
    while True:
        spare = n - traffic
        c = b / (b + (spare / n) * (1 - b))
        if 1 - c * math.exp(-spare * t_over_h) >= wanted_sl and c * aht / spare <= max_asa:
            return SeatPlan(n, True, _erlang_c_performance(n, traffic, b, aht, targets.answer_seconds))
        if n >= cap:
            return _cannot_meet(cap, _erlang_c_performance(n, traffic, b, aht, targets.answer_seconds), traffic)
        n += 1
        b = traffic * b / (n + traffic * b)


def erlang_c_seats_many(
    traffics: Sequence[float], aht: float, targets: Targets = Targets(), max_seats: int = DEFAULT_SEAT_CAP
) -> list[SeatPlan]:
    """erlang_c_seats for many intervals at once (a day of every queue), the same
    answers, with numpy doing the arithmetic for all intervals side by side:

    1. every interval's starting B(n₀, A) from the series of the module doc, as one
       row of running products per interval (cumprod) summed along the row;
    2. then all intervals step n → n+1 together with the recurrence, each stopping
       at its first n that meets the targets.

    Intervals whose series would overflow a float (A in the tens of thousands)
    or that hit the seat cap go through erlang_c_seats one by one."""
    import numpy as np

    aht = check_handle_time(aht)
    cap = _seats(max_seats)
    a = np.array([check_traffic(t) for t in traffics], dtype=float)
    plans: list[SeatPlan | None] = [None] * len(a)
    start = np.maximum(np.floor(a) + 1, np.ceil(a / targets.max_occupancy - 1e-12))
    lowest = np.maximum(0, np.ceil(a) - np.ceil(9 * np.sqrt(a)) - 2)
    excess = np.maximum(0.0, start - a)
    batch = (a > 0) & (start <= cap) & (excess * excess / (2 * np.maximum(a, 1e-300)) + excess * 0.01 < 500)
    batch &= (start - lowest) <= 4096  # one row per interval: keep the matrix small
    for index in np.flatnonzero(~batch).tolist():
        plans[index] = erlang_c_seats(float(a[index]), aht, targets, cap)
    rows = np.flatnonzero(batch)
    if len(rows):
        a_b, n = a[rows], start[rows]
        width = int((n - lowest[rows]).max())
        # Row k: n/A, (n-1)/A, ... ; past lowest its terms are below 1e-17 of the sum, and
        # from i = 0 on the factor is 0, so a row shorter than the widest ends in zeros.
        factors = np.maximum(n[:, None] - np.arange(width)[None, :], 0.0) * (1 / a_b)[:, None]
        b = 1.0 / (1.0 + np.cumprod(factors, axis=1).sum(axis=1))
        wanted, t_over_h = targets.service_level, targets.answer_seconds / aht
        max_asa = np.inf if targets.max_asa_seconds is None else targets.max_asa_seconds
        open_ = np.ones(len(rows), dtype=bool)
        found_n, found_b = n.copy(), b.copy()
        while open_.any():
            spare = n - a_b
            c = b / (b + (spare / n) * (1 - b))
            meets = open_ & (1 - c * np.exp(-spare * t_over_h) >= wanted) & (c * aht / spare <= max_asa)
            found_n[meets], found_b[meets] = n[meets], b[meets]
            open_ &= ~meets
            stuck = open_ & (n >= cap)
            for index in rows[stuck]:
                plans[index] = erlang_c_seats(float(a[index]), aht, targets, cap)
            open_ &= ~stuck
            n = n + 1
            b = a_b * b / (n + a_b * b)
        for index, seats, traffic, b_found in zip(
            rows.tolist(), found_n.tolist(), a_b.tolist(), found_b.tolist(), strict=True
        ):
            if plans[index] is None:
                perf = _erlang_c_performance(int(seats), traffic, b_found, aht, targets.answer_seconds)
                plans[index] = SeatPlan(int(seats), True, perf)
    return plans  # type: ignore[return-value]


# ---- Erlang A ---------------------------------------------------------------------------


def _log_patience_series(x: float, y: float) -> float:
    """log S(x, y), S = Σ_j y^j / ((x+1)…(x+j)), summed in log scale.

    Its terms rise until j ≈ y - x, so for callers far more patient than the seats
    are many (y ≫ x) the sum would take y - x terms; there S = x·e^y·y^-x·Γ(x)·(1 - Q(x, y))
    with Q the regularised upper incomplete gamma, whose continued fraction converges
    in a few steps when y > x + 1 (Numerical Recipes' gcf, modified Lentz)."""
    if x == 0:
        return y  # S(0, y) = e^y
    if y - x > 2000:
        return math.log(x) + y - x * math.log(y) + math.lgamma(x) + math.log1p(-_upper_gamma_q(x, y))
    return _log_sum_of_products(lambda j: y / (x + j), None)


def _upper_gamma_q(a: float, z: float) -> float:
    """Q(a, z) = Γ(a, z)/Γ(a) by its continued fraction (for z > a + 1)."""
    tiny = 1e-300
    b = z + 1 - a
    c, d = 1 / tiny, 1 / b
    h = d
    for i in range(1, 1000):
        an = -i * (i - a)
        b += 2
        d = an * d + b
        d = tiny if abs(d) < tiny else d
        c = b + an / c
        c = tiny if abs(c) < tiny else c
        d = 1 / d
        delta = d * c
        h *= delta
        if abs(delta - 1) < 1e-16:
            break
    return math.exp(-z + a * math.log(z) - math.lgamma(a)) * h


def erlang_a(seats: int, traffic: float, aht: float, patience: float, answer_seconds: float = 20.0) -> Performance:
    """What n seats give when callers hang up after an exponential patience (mean seconds)."""
    seats, traffic, aht = _seats(seats), check_traffic(traffic), check_handle_time(aht)
    patience = _number("average patience", patience)
    if patience <= 0:
        raise StaffingInputError(f"average patience must be more than 0 seconds, got {patience:g}")
    answer_seconds = _number("answer time target", answer_seconds)
    if answer_seconds < 0:
        raise StaffingInputError(f"answer time target cannot be negative, got {answer_seconds:g} s")
    if traffic == 0:
        return Performance(seats, 0.0, 0.0, 1.0, 0.0, 0.0)
    x, y = seats * patience / aht, traffic * patience / aht
    log_s = _log_patience_series(x, y)
    log_b = -log_inverse_erlang_b(seats, traffic)
    # P_W = S·B/(1 + (S-1)·B) = 1/(1 + (1-B)/(S·B)), kept in logs: S and 1/B may overflow.
    log_sb = log_s + log_b
    one_minus_b = -math.expm1(log_b)
    wait = 1.0 if one_minus_b == 0 else 1 / (1 + math.exp(min(700.0, math.log(one_minus_b) - log_sb)))
    answered_if_waiting = (x / y) * -math.expm1(-log_s) if seats else 0.0
    if seats and answer_seconds > 0:
        log_c = -answer_seconds / patience
        c = math.exp(log_c)
        log_r = (x + 1) * log_c + y * -math.expm1(log_c) + math.log(x / (x + 1))
        log_r += _log_patience_series(x + 1, y * c) - log_s
        late = math.exp(min(0.0, log_r))
    else:
        late = answered_if_waiting  # with T = 0 only callers who never wait count
    within = max(0.0, answered_if_waiting - late)
    abandon = wait * (1 - answered_if_waiting)
    carried = traffic * (1 - abandon)
    # A seat answers one call at a time, so the carried traffic is at most n and the
    # occupancy at most 100%.  Under overload every seat is busy and A·(1 - abandon)
    # equals n only up to rounding: it lands on 1.0 or 1.0000000000000002 depending on n.
    # With a 100% occupancy cap that noise made "meets the targets" flip back and forth
    # as n grows, and the bisection in erlang_a_seats, which needs it to stay met once
    # met, stopped on a seat count far above the least (48,701 for 50,000 Erlangs).
    occupancy = min(1.0, carried / seats) if seats else math.inf
    return Performance(
        seats=seats,
        traffic=traffic,
        wait_probability=wait,
        service_level=(1 - wait) + wait * within,
        asa=abandon * patience,
        occupancy=occupancy,
        abandon_probability=abandon,
    )


def erlang_a_seats(
    traffic: float,
    aht: float,
    patience: float,
    targets: Targets = Targets(),
    max_seats: int = DEFAULT_SEAT_CAP,
) -> SeatPlan:
    """The fewest seats meeting the targets under Erlang A.

    Every measure improves with more seats, so the answer is found by doubling
    then bisecting over n: about 2·log2(n) evaluations of O(√A) terms each."""
    traffic, aht = check_traffic(traffic), check_handle_time(aht)
    cap = _seats(max_seats)
    if traffic == 0:
        return SeatPlan(0, True, Performance(0, 0.0, 0.0, 1.0, 0.0, 0.0))

    def perf(n: int) -> Performance:
        return erlang_a(n, traffic, aht, patience, targets.answer_seconds)

    low = 0  # no seats: nobody is answered, so no target is met
    extra = math.ceil(math.sqrt(traffic)) + 1
    while True:
        high = min(cap, math.ceil(traffic) + extra)
        high_perf = perf(high)
        if _meets(high_perf, targets):
            break
        if high >= cap:
            return _cannot_meet(cap, high_perf, traffic)
        low, extra = high, extra * 2
    while high - low > 1:  # low fails (or is 0 with traffic), high meets
        middle = (low + high) // 2
        middle_perf = perf(middle)
        if _meets(middle_perf, targets):
            high, high_perf = middle, middle_perf
        else:
            low = middle
    return SeatPlan(high, True, high_perf)


# ---- people ---------------------------------------------------------------------------


def people_for_seats(seats: float, shrinkage: float) -> float:
    """People scheduled so that `seats` are on the phone: seats / (1 - shrinkage)
    (shrinkage: breaks, training, meetings, leave, as a share of paid time)."""
    shrinkage = _number("shrinkage", shrinkage)
    if not 0 <= shrinkage < 1:
        raise StaffingInputError(f"shrinkage must be at least 0% and below 100%, got {shrinkage:.0%}")
    return _number("seats", seats) / (1 - shrinkage)


def people_per_seat(seat_hours_per_day: float, working_days_per_month: float, monthly_hours_per_person: float) -> float:
    """The hospital's formula: people needed to keep one seat staffed for a month =
    (seat hours a day x days a month the seat is open) / statutory hours a person works a month.
    A seat open 24 hours, 30 days, with 8-hour days and 21.75 working days: 24·30/(8·21.75) = 4.14."""
    hours = _number("seat hours a day", seat_hours_per_day)
    days = _number("days a month", working_days_per_month)
    monthly = _number("statutory monthly hours", monthly_hours_per_person)
    if not 0 <= hours <= 24:
        raise StaffingInputError(f"seat hours a day must be between 0 and 24, got {hours:g}")
    if not 0 <= days <= 31:
        raise StaffingInputError(f"days a month must be between 0 and 31, got {days:g}")
    if monthly <= 0:
        raise StaffingInputError(f"statutory monthly hours must be more than 0, got {monthly:g}")
    return hours * days / monthly


def people_for_month(
    seat_hours_per_day: float, open_days_per_month: float, monthly_hours_per_person: float, shrinkage: float
) -> float:
    """People on the payroll to staff a day's required seat-hours every day the centre
    opens in a month: (seat-hours a day x days open a month / statutory monthly hours)
    people on the phone, divided by (1 - shrinkage) because breaks, training, meetings
    and leave take that share of each person's paid hours (as people_for_seats does
    for one interval).  183.5 seat-hours, 30 days, 174 h: 31.64 people on the phone,
    45.20 on the payroll with 30% shrinkage."""
    seat_hours = _number("seat-hours a day", seat_hours_per_day)
    days = _number("days a month", open_days_per_month)
    monthly = _number("statutory monthly hours", monthly_hours_per_person)
    if seat_hours < 0:
        raise StaffingInputError(f"seat-hours a day cannot be negative, got {seat_hours:g}")
    if not 0 <= days <= 31:
        raise StaffingInputError(f"days a month must be between 0 and 31, got {days:g}")
    if monthly <= 0:
        raise StaffingInputError(f"statutory monthly hours must be more than 0, got {monthly:g}")
    return people_for_seats(seat_hours * days / monthly, shrinkage)
