"""The fairness rule, as pure functions: no Redis, no server."""

from __future__ import annotations

from pathlib import Path

import pytest

import settings as settings_module
from contactcentre.routing import FreeAgent, Waiting, eligible_skills, estimated_wait, match, priority

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def rules():
    return settings_module.load(ROOT / "config.yaml", environ={}).routing


def pairs(rules, callers, agents, now=1000.0):
    return [(c.entry, a.staff_id) for c, a in match(rules, callers, agents, now)]


def test_priority_is_a_head_start_in_seconds(rules):
    points = rules.priorities
    early = Waiting("early", "general", 0, 100.0)
    # A VIP (2 points) who came a little later than the head start they are given goes first...
    vip = Waiting("vip", "general", 2, 100.0 + 2 * points.seconds_per_point - 1)
    agent = FreeAgent(1, 0.0, {"general": 3})
    assert pairs(rules, [early, vip], [agent]) == [("vip", 1)]
    # ... one who came later than that does not.
    later = Waiting("vip", "general", 2, 100.0 + 2 * points.seconds_per_point + 1)
    assert pairs(rules, [early, later], [agent]) == [("early", 1)]


def test_no_priority_passes_a_caller_who_came_more_than_the_bound_earlier(rules):
    bound = rules.priorities.max_head_start_seconds
    assert 5 * rules.priorities.seconds_per_point > bound  # the cap is what decides here
    early = Waiting("early", "general", 0, 100.0)
    most = Waiting("complaint-vip-aged", "general", 5, 100.0 + bound + 1)
    assert pairs(rules, [most, early], [FreeAgent(1, 0.0, {"general": 3})]) == [("early", 1)]


def test_an_ordinary_caller_is_served_within_the_bound_while_priority_callers_keep_coming(rules):
    """The review's morning: an ordinary caller at t=0, a VIP aged 70+ every minute, one
    agent free every minute.  A strict priority order never served the ordinary caller."""
    bound, minute = rules.priorities.max_head_start_seconds, 60.0
    waiting = [Waiting("ordinary", "general", 0, 0.0)]
    served_at = None
    for n in range(1, 61):
        now = n * minute
        waiting.append(Waiting(f"aged-vip-{n}", "general", 3, now - minute / 2))
        (caller, _agent), *_ = match(rules, waiting, [FreeAgent(n, now, {"general": 3})], now)
        waiting.remove(caller)
        if caller.entry == "ordinary":
            served_at = now
            break
    assert served_at is not None, "the ordinary caller was never served"
    # Within the bound, plus the wait for the next agent to free up.
    assert served_at <= bound + minute


def test_equal_priority_first_come_first_served(rules):
    callers = [Waiting("second", "general", 0, 200.0), Waiting("first", "general", 0, 100.0)]
    assert pairs(rules, callers, [FreeAgent(1, 0.0, {"general": 1})]) == [("first", 1)]


def test_the_agent_idle_longest_takes_the_call(rules):
    agents = [FreeAgent(1, 500.0, {"general": 5}), FreeAgent(2, 300.0, {"general": 1}), FreeAgent(3, 400.0, {})]
    assert pairs(rules, [Waiting("a", "general", 0, 900.0)], agents) == [("a", 2)]


def test_an_agent_without_the_skill_never_takes_the_caller(rules):
    agents = [FreeAgent(1, 0.0, {"general": 5})]
    assert pairs(rules, [Waiting("b", "booking", 0, 990.0)], agents) == []


def test_tiers_unlock_lower_levels_then_overflow_queues(rules):
    # medicine: level 3 at first, level 1 after 30 s, the general desk after 90 s.
    assert eligible_skills(rules, "medicine", 0) == {"medicine": 3}
    assert eligible_skills(rules, "medicine", 30) == {"medicine": 1}
    assert eligible_skills(rules, "medicine", 95) == {"medicine": 1, "general": 1}
    junior, generalist = FreeAgent(1, 0.0, {"medicine": 1}), FreeAgent(2, 0.0, {"general": 2})
    assert pairs(rules, [Waiting("m", "medicine", 0, 990.0)], [junior, generalist]) == []
    assert pairs(rules, [Waiting("m", "medicine", 0, 960.0)], [junior, generalist]) == [("m", 1)]
    assert pairs(rules, [Waiting("m", "medicine", 0, 900.0)], [generalist]) == [("m", 2)]


def test_a_caller_nobody_free_may_take_does_not_hold_up_the_next(rules):
    callers = [Waiting("complaint", "complaints", 2, 990.0), Waiting("general", "general", 0, 100.0)]
    assert pairs(rules, callers, [FreeAgent(1, 0.0, {"general": 2})]) == [("general", 1)]


def test_a_higher_caller_gets_the_shared_agent_and_the_specialist_the_other(rules):
    callers = [Waiting("booking", "booking", 0, 100.0), Waiting("general", "general", 0, 200.0)]
    both, general_only = FreeAgent(1, 0.0, {"booking": 2, "general": 2}), FreeAgent(2, 50.0, {"general": 2})
    # The booking caller came first and takes the only booking agent; the general caller the other.
    assert pairs(rules, callers, [both, general_only]) == [("booking", 1), ("general", 2)]


def test_a_callback_is_not_offered_before_its_next_attempt_but_keeps_its_place(rules):
    callback = Waiting("cb", "general", 0, 100.0, not_before=2000.0)
    later = Waiting("later", "general", 0, 500.0)
    agent = FreeAgent(1, 0.0, {"general": 1})
    assert pairs(rules, [callback, later], [agent], now=1000.0) == [("later", 1)]
    assert pairs(rules, [callback, later], [agent], now=2000.0) == [("cb", 1)]


def test_an_agent_who_declined_is_not_offered_the_same_caller(rules):
    caller = Waiting("c", "general", 0, 100.0, declined_by=frozenset({1}))
    agents = [FreeAgent(1, 0.0, {"general": 1}), FreeAgent(2, 10.0, {"general": 1})]
    assert pairs(rules, [caller], agents) == [("c", 2)]


def test_priority_weights_add_up(rules):
    assert priority(rules, complaint=False, vip=False, age=40) == 0
    assert priority(rules, complaint=False, vip=False, age=70) == 1
    assert priority(rules, complaint=True, vip=True, age=78) == 5
    assert priority(rules, complaint=False, vip=True, age=None) == 2


def test_estimated_wait_comes_from_recent_answers_not_a_guess():
    assert estimated_wait(3, [], now=1000.0) is None
    assert estimated_wait(1, [(900.0, 40.0), (950.0, 60.0)], now=1000.0) == 50
    # Four answers in the last 400 s: one every 100 s; the third in line waits about 300 s.
    answers = [(600.0, 10.0), (700.0, 20.0), (800.0, 30.0), (900.0, 40.0)]
    assert estimated_wait(3, answers, now=1000.0) == 300
    assert estimated_wait(1, answers, now=1000.0) == 100


def test_routing_config_errors_name_the_key(rules):
    data = settings_module.yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["routing"]["queues"]["booking"]["tiers"] = [{"after_seconds": 60, "overflow": ["nowhere"]}]
    with pytest.raises(settings_module.ConfigError, match=r"routing: queues.booking.tiers\[0\].overflow"):
        settings_module.parse(data, environ={})
    data = settings_module.yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    data["routing"]["offer_timeout_seconds"] = 1
    with pytest.raises(settings_module.ConfigError, match=r"routing.offer_timeout_seconds"):
        settings_module.parse(data, environ={})
    data["routing"]["offer_timeout_seconds"] = 15
    data["routing"]["general_queue"] = "nope"
    with pytest.raises(settings_module.ConfigError, match=r"general_queue: no queue called 'nope'"):
        settings_module.parse(data, environ={})
