"""The ACD's Redis state and Lua scripts, without a server: states, offers,
timers, callbacks, and no double assignment under concurrency."""

from __future__ import annotations

import multiprocessing
import threading
from pathlib import Path

import pytest
import redis as redis_lib

import settings as settings_module
from acd.distributor import ACD

ROOT = Path(__file__).resolve().parents[2]
T0 = 1_800_000_000.0


@pytest.fixture(scope="module")
def rules():
    return settings_module.load(ROOT / "config.yaml", environ={}).routing


@pytest.fixture
def acd(redis_url, redis_prefix, rules):
    return ACD(redis_lib.Redis.from_url(redis_url, decode_responses=True), redis_prefix, rules)


def login(acd, agent_id, skills, at=T0, name=None):
    assert acd.set_state(agent_id, "available", at, name=name or f"agent{agent_id}", skills=skills).ok


def test_a_caller_is_offered_to_an_available_agent_with_the_skill(acd):
    login(acd, 1, {"booking": 3})
    login(acd, 2, {"general": 3})
    acd.enqueue("CA1", "general", priority=0, now=T0 + 1)
    [offer] = acd.dispatch(T0 + 1)
    assert (offer.entry, offer.agent_id, offer.queue) == ("CA1", 2, "general")
    assert acd.agent(2)["state"] == "reserved" and acd.agent(1)["state"] == "available"
    assert acd.answer("CA1", 2, T0 + 5).seconds == 4
    assert acd.agent(2)["state"] == "on_call"


def test_a_repeated_enqueue_changes_nothing(acd):
    assert acd.enqueue("CA1", "general", priority=0, now=T0)
    assert not acd.enqueue("CA1", "general", priority=3, now=T0 + 9)
    assert acd.position("CA1") == 1 and acd.entry("CA1")["priority"] == "0"


def test_two_callers_one_agent_the_second_waits_for_the_first_to_end(acd):
    login(acd, 1, {"general": 2})
    acd.enqueue("CA1", "general", priority=0, now=T0)
    acd.enqueue("CA2", "general", priority=0, now=T0 + 1)
    assert [o.entry for o in acd.dispatch(T0 + 2)] == ["CA1"]
    assert acd.position("CA2") == 1
    acd.answer("CA1", 1, T0 + 3)
    assert acd.dispatch(T0 + 4) == []
    assert acd.talk_end("CA1", 1, T0 + 60).seconds == 57
    assert acd.agent(1)["state"] == "wrap_up"
    assert acd.dispatch(T0 + 70) == []  # wrap-up (30 s for general) blocks new offers
    assert acd.wrap_ups_due(T0 + 89) == [] and acd.wrap_ups_due(T0 + 90) == [1]
    assert acd.end_wrap_up(1, T0 + 90, only_if_due=True).seconds == 30
    assert [o.entry for o in acd.dispatch(T0 + 90)] == ["CA2"]


def test_wrap_up_counts_across_queues(acd):
    """An agent in wrap-up after a complaint is not offered a general caller either."""
    login(acd, 1, {"general": 2, "complaints": 2})
    acd.enqueue("CA1", "complaints", priority=2, now=T0)
    acd.dispatch(T0)
    acd.answer("CA1", 1, T0 + 1)
    acd.talk_end("CA1", 1, T0 + 100)
    acd.enqueue("CA2", "general", priority=0, now=T0 + 101)
    assert acd.dispatch(T0 + 200) == []  # complaints wrap up for 120 s
    assert acd.set_state(1, "available", T0 + 201).status == "wrap_up"
    assert acd.end_wrap_up(1, T0 + 210).ok  # the agent ends it early
    assert [o.entry for o in acd.dispatch(T0 + 210)] == ["CA2"]


def test_a_talk_the_caller_never_reached_ends_without_wrap_up_and_the_agent_keeps_their_place(acd):
    """The caller vanished between the agent's pick-up and the talk: nothing to wrap up, and
    not the agent's doing, so they are first in the idle line again (before agent 2, free
    since later), as after an offer whose caller hung up."""
    login(acd, 1, {"complaints": 3})
    login(acd, 2, {"complaints": 3}, at=T0 + 1)
    acd.enqueue("CA1", "complaints", priority=0, now=T0 + 2)
    [offer] = acd.dispatch(T0 + 2)
    assert offer.agent_id == 1 and acd.answer("CA1", 1, T0 + 4).ok
    assert acd.talk_end("CA1", 1, T0 + 6, wrap_up=False).ok
    agent = acd.agent(1)
    assert agent["state"] == "available" and float(agent["idle_since"]) == T0 and not agent["wrap_until"]
    assert acd.entry("CA1")["state"] == "done"
    acd.enqueue("CA2", "complaints", priority=0, now=T0 + 7)
    assert [o.agent_id for o in acd.dispatch(T0 + 7)] == [1]


def test_a_missed_offer_puts_the_agent_on_break_and_the_caller_back_in_place(acd):
    login(acd, 1, {"general": 2}, at=T0)
    login(acd, 2, {"general": 2}, at=T0 + 1)
    acd.enqueue("CA1", "general", priority=0, now=T0 + 2)
    acd.enqueue("CA2", "general", priority=0, now=T0 + 3)
    first = acd.dispatch(T0 + 3)
    assert [(o.entry, o.agent_id) for o in first] == [("CA1", 1), ("CA2", 2)]
    assert acd.release("CA1", 1, T0 + 20, "missed").ok
    assert acd.agent(1)["state"] == "break" and acd.agent(1)["reason"] == "missed"
    assert acd.position("CA1") == 1
    assert acd.release("CA1", 1, T0 + 21, "missed").status == "no_offer"  # once only


def test_an_unresolved_reservation_expires(acd, rules):
    login(acd, 1, {"general": 2})
    acd.enqueue("CA1", "general", priority=0, now=T0)
    acd.dispatch(T0)
    assert acd.expired_offers(T0 + rules.reservation_expiry_seconds - 1) == []
    assert acd.expired_offers(T0 + rules.reservation_expiry_seconds) == [(1, "CA1")]


def test_silent_consoles_are_logged_out_but_not_during_a_call(acd, rules):
    login(acd, 1, {"general": 2})
    login(acd, 2, {"general": 2})
    acd.enqueue("CA1", "general", priority=0, now=T0)
    acd.dispatch(T0)
    acd.answer("CA1", 1, T0 + 1)
    assert acd.heartbeat(2, T0 + 10)
    late = T0 + rules.heartbeat_timeout_seconds + 5
    assert acd.silent_agents(late) == [1]
    assert acd.silent_agents(T0 + rules.heartbeat_timeout_seconds + 11) == [1, 2]
    assert acd.logout(1, late).status == "on_call"
    assert acd.logout(2, T0 + 100).ok and acd.agent(2)["state"] == "offline"
    assert not acd.heartbeat(2, T0 + 101)
    acd.talk_end("CA1", 1, T0 + 110)  # the call ends; the console is still silent
    cut = acd.logout(1, T0 + 120)
    assert cut.ok and cut.detail["wrap_call"] == "CA1" and (cut.queue, cut.seconds) == ("general", 10)


def test_a_caller_who_hangs_up_while_offered_frees_the_agent_in_their_place(acd):
    login(acd, 1, {"general": 2}, at=T0)
    acd.enqueue("CA1", "general", priority=0, now=T0 + 1)
    acd.dispatch(T0 + 1)
    left = acd.leave("CA1", T0 + 8, "left")
    assert left.detail == {"was": "offered", "agent": "1"} and left.seconds == 7
    agent = acd.agent(1)
    assert agent["state"] == "available" and float(agent["idle_since"]) == T0
    assert acd.leave("CA1", T0 + 9, "left").detail["was"] == "left"  # a second hang-up event changes nothing


def test_a_callback_keeps_the_callers_place(acd, rules):
    acd.enqueue("CA1", "general", priority=0, now=T0)
    acd.enqueue("CA2", "general", priority=0, now=T0 + 10)
    assert acd.leave("CA1", T0 + 30, "callback").detail["was"] == "waiting"
    acd.set_callback_number("CA1", "+8613800138000")
    assert acd.redis.ttl(acd.p + "entry:CA1") > 3 * 24 * 3600  # asked at night, called in the morning
    acd.enqueue("CA3", "general", priority=0, now=T0 + 40)
    assert acd.position("CA1") == 1
    login(acd, 1, {"general": 2}, at=T0 + 50)
    [offer] = acd.dispatch(T0 + 50)
    assert (offer.entry, offer.kind, offer.number) == ("CA1", "callback", "+8613800138000")
    # Nobody answers: back in place, not offered again before the spacing.
    assert acd.callback_failed("CA1", 1, T0 + 80).status == "retry"
    assert acd.position("CA1") == 1
    assert [o.entry for o in acd.dispatch(T0 + 81)] == ["CA2"]


def test_a_caller_whose_entry_expired_is_cleared_from_the_queue(acd):
    acd.enqueue("CA1", "general", priority=0, now=T0)
    acd.enqueue("CA2", "general", priority=0, now=T0 + 1)
    acd.redis.delete(acd.p + "entry:CA1")  # its TTL ran out
    login(acd, 1, {"general": 2})
    assert [o.entry for o in acd.dispatch(T0 + 5)] == ["CA2"]
    assert acd.redis.zcard(acd.p + "queue:general") == 0


def test_callbacks_give_up_after_the_retries(acd, rules):
    acd.enqueue("CA1", "general", priority=0, now=T0)
    acd.leave("CA1", T0 + 1, "callback")
    login(acd, 1, {"general": 2})
    now = T0 + 2
    for _attempt in range(rules.callbacks.retries + 1):
        [offer] = acd.dispatch(now)
        result = acd.callback_failed("CA1", 1, now + 30)
        now += 30 + rules.callbacks.spacing_seconds
    assert result.status == "given_up" and acd.position("CA1") is None
    assert acd.dispatch(now) == []


def test_state_changes_are_refused_while_ringing(acd):
    login(acd, 1, {"general": 2})
    acd.enqueue("CA1", "general", priority=0, now=T0)
    acd.dispatch(T0)
    assert acd.set_state(1, "break", T0 + 1, reason="lunch").status == "busy"
    assert acd.release("CA1", 1, T0 + 2, "declined").ok
    assert acd.set_state(1, "break", T0 + 3, reason="lunch").ok
    assert acd.agent(1)["reason"] == "lunch"


def test_the_skills_logged_in_are_every_logged_in_agents_whatever_their_state(acd):
    assert acd.skills_logged_in() == frozenset()
    login(acd, 1, {"general": 3, "booking": 2})
    login(acd, 2, {"general": 1, "medicine": 4})
    assert acd.set_state(3, "break", T0, reason="meal", name="agent3", skills={"english": 3}).ok
    login(acd, 4, {"surgery": 3})
    assert acd.logout(4, T0 + 1, "heartbeat").ok
    login(acd, 5, {})
    assert acd.skills_logged_in() == frozenset({"general", "booking", "medicine", "english"})


def test_snapshot_for_the_wallboard(acd):
    login(acd, 1, {"general": 2}, name="张护士")
    acd.set_state(2, "break", T0, reason="lunch", name="李明", skills={"general": 1})
    acd.enqueue("CA1", "general", priority=2, now=T0 + 50)
    acd.enqueue("CA2", "general", priority=0, now=T0 + 10)
    acd.set_state(1, "offline", T0 + 60)
    snapshot = acd.snapshot(T0 + 70)
    general = next(q for q in snapshot["queues"] if q["name"] == "general")
    assert general["waiting"] == 2 and general["longest_wait"] == 60 and general["title"]["zh"] == "综合咨询"
    assert {(a["staff_id"], a["display_name"], a["state"], a["reason"]) for a in snapshot["agents"]} == {
        (1, "张护士", "offline", ""),
        (2, "李明", "break", "lunch"),
    }


# ---- concurrency -----------------------------------------------------------------------------


def _hammer(redis_url, prefix, callers, agents, now, results):
    rules = settings_module.load(ROOT / "config.yaml", environ={}).routing
    acd = ACD(redis_lib.Redis.from_url(redis_url, decode_responses=True), prefix, rules)
    for _ in range(30):
        for offer in acd.dispatch(now):
            results.append((offer.entry, offer.agent_id))


def _hammer_process(redis_url, prefix, callers, agents, now, queue):
    found: list = []
    _hammer(redis_url, prefix, callers, agents, now, found)
    queue.put(found)


def test_no_double_assignment_with_many_processes_and_threads(acd, redis_url, redis_prefix):
    callers, agents = 120, 40
    for i in range(agents):
        login(acd, i + 1, {"general": 1 + i % 5, "booking": 2})
    for i in range(callers):
        acd.enqueue(f"CA{i:04d}", "general" if i % 3 else "booking", priority=i % 2, now=T0 + i)
    now = T0 + 500
    context = multiprocessing.get_context("spawn")
    results_queue = context.Queue()
    processes = [
        context.Process(target=_hammer_process, args=(redis_url, redis_prefix, callers, agents, now, results_queue))
        for _ in range(3)
    ]
    thread_results: list = []
    threads = [
        threading.Thread(target=_hammer, args=(redis_url, redis_prefix, callers, agents, now, thread_results))
        for _ in range(4)
    ]
    for worker in [*processes, *threads]:
        worker.start()
    for thread in threads:
        thread.join()
    offers = [*thread_results]
    for _ in processes:
        offers += results_queue.get(timeout=60)
    for process in processes:
        process.join(30)
    entries = [entry for entry, _ in offers]
    agent_ids = [agent for _, agent in offers]
    assert len(offers) == agents  # every agent got exactly one caller...
    assert len(set(entries)) == len(entries) and len(set(agent_ids)) == len(agent_ids)  # ...and no caller two agents
    for entry, agent in offers:
        assert acd.agent(agent)["offer"] == entry and acd.entry(entry)["agent"] == str(agent)


def test_dispatch_reading_queue_heads_lazily_offers_what_the_rule_gives_on_everyone(acd, rules):
    """dispatch reads a few heads per queue (more only when needed); its offers are the pure
    rule's on the whole snapshot (every waiting caller, every free agent), event after event:
    priorities, tiers unlocking with the wait, overflow, declines and callbacks included."""
    import random

    from contactcentre import routing

    rng = random.Random(17)
    acd.first_heads = 1  # fewer than the 2 it reads first: the lazy path taken more often
    names = list(rules.queues)
    for number in range(300):
        queue = rng.choice(names)
        acd.enqueue(f"CA{number:04d}", queue, priority=rng.choice((0, 0, 0, 1, 2, 5)), now=T0 - rng.uniform(0, 300))
    for number in range(300):  # most are callbacks whose next attempt is not due: heads nobody may take
        if rng.random() < 0.8:
            acd.leave(f"CA{number:04d}", T0, "callback")
            acd.redis.hset(acd.p + f"entry:CA{number:04d}", "not_before", T0 + 10_000)
    skills = {agent: {rules.queues[q].skill: rng.randint(1, 5) for q in rng.sample(names, rng.randint(1, 2))}
              for agent in range(1, 41)}  # fmt: skip
    now, offered = T0, 0
    for agent, agent_skills in skills.items():
        now += 1
        login(acd, agent, agent_skills, at=now - rng.uniform(0, 50))
        if agent % 4 == 0:  # several free at once
            continue
        free = acd.free_agents(now)
        everyone = acd.waiting(per_queue=10_000)
        expected = {(c.entry, a.staff_id) for c, a in routing.match(rules, everyone, free, now)}
        made = {(offer.entry, offer.agent_id) for offer in acd.dispatch(now)}
        assert made == expected
        offered += len(made)
        for entry, agent_id in made:
            if agent_id % 3 == 0:  # a decline: the caller goes back, not to this agent again
                acd.release(entry, agent_id, now, "declined")
                acd.set_state(agent_id, "available", now)
    assert offered > 20


def test_a_caller_deeper_in_a_queue_than_dispatch_first_reads_still_comes_before_a_later_caller(acd):
    """The first heads of `general` are callbacks not yet due; the caller behind them came
    before `booking`'s first caller, and the agent (both skills) must get them, not the latter."""
    acd.first_heads = 2
    for number, at in ((1, 0), (2, 1), (3, 2)):
        acd.enqueue(f"CAg{number}", "general", priority=0, now=T0 + at)
    for number in (1, 2):
        acd.redis.hset(acd.p + f"entry:CAg{number}", "not_before", T0 + 10_000)  # a callback, due later
    acd.enqueue("CAb1", "booking", priority=0, now=T0 + 3)
    acd.enqueue("CAb2", "booking", priority=0, now=T0 + 4)
    login(acd, 1, {"general": 3, "booking": 3}, at=T0 + 5)
    assert [(o.entry, o.agent_id) for o in acd.dispatch(T0 + 6)] == [("CAg3", 1)]
