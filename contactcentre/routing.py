"""The fairness rule of the hotline's call distributor, as pure functions.

Who is served first, and by whom (docs/routing.md says the same in prose):

1. **Callers** are served in order of *time waited*, counted with a **head start**
   for priority: a complaint, a VIP, a patient aged 70 or over add the weights in
   config ``routing.priorities``, and each point counts as ``seconds_per_point``
   seconds of waiting, up to ``max_head_start_seconds`` (as FreeSWITCH's base score
   and Amazon Connect's routing age do).  So priority callers go ahead of those who
   came a little before them, and the head start's cap is the **bound**: a caller is
   never passed by a priority caller who joined more than ``max_head_start_seconds``
   after them (a strict priority order starved an ordinary caller for an hour while
   callers aged 70+ kept arriving).  A caller who asked to be called back keeps the
   place they had: their entry stays in the queue with its original time, it is only
   not offered before its next attempt is due.
2. A caller may be taken by an agent who has the queue's skill at the queue's
   ``min_level`` or more.  As the caller waits, the queue's **tiers** unlock: after
   ``after_seconds`` a tier may lower the level needed (``min_level``) or add the
   skills of ``overflow`` queues (agents of the general enquiries desk take a
   booking caller nobody at booking could take in a minute).  This is FreeSWITCH's
   tier rules / Asterisk's penalty changes, expressed as waits.
3. Among the free agents a caller may have, the one **idle longest** takes the
   call (FreeSWITCH's default ``longest-idle-agent``): work spreads evenly and
   nobody is starved or flooded.  An agent who declined this caller is not
   offered them again.
4. One pass: the best caller first gets their agent, then the next caller from
   the agents left, and so on.  A caller nobody free may take waits; the agents
   go on to the next caller they may take.  So an expert agent is never held back
   for a caller who will not come, and a caller never skips ahead of a caller of
   higher rank who could take the same agent.

The ACD (acd/distributor.py) reads a snapshot from Redis, asks `match` for the
pairs, and reserves each pair with an atomic Lua script that checks both sides
are still free; a pair that lost a race is dropped and the match is run again.
"""

from __future__ import annotations

import statistics
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # a type only: the maths imports nothing of the hotline (.importlinter)
    from settings import Routing


@dataclass(frozen=True)
class Waiting:
    """A caller waiting in a queue (or a callback keeping its place)."""

    entry: str
    queue: str
    priority: int
    enqueued_at: float  # epoch seconds when they first joined: their place
    not_before: float = 0.0  # a callback's next attempt
    declined_by: frozenset[int] = frozenset()


@dataclass(frozen=True)
class FreeAgent:
    staff_id: int
    idle_since: float
    skills: Mapping[str, int] = field(default_factory=dict)


def head_start(routing: Routing, priority: int) -> float:
    """Seconds of waiting a caller's priority counts for, capped by the bound."""
    weights = routing.priorities
    return min(max(priority, 0) * weights.seconds_per_point, weights.max_head_start_seconds)


def rank_score(routing: Routing, priority: int, enqueued_at: float) -> float:
    """The queue's sort key (lower first): when the caller joined, moved earlier by their
    head start.  The same number orders a Redis sorted set, so the queue is kept in this order."""
    return enqueued_at - head_start(routing, priority)


def rank(routing: Routing, caller: Waiting) -> tuple[float, str]:
    return rank_score(routing, caller.priority, caller.enqueued_at), caller.entry


def eligible_skills(routing: Routing, queue: str, waited: float) -> dict[str, int]:
    """Skill -> least level an agent needs to take a caller of `queue` who has waited so long."""
    config = routing.queues[queue]
    needs = {config.skill: config.min_level}
    for tier in config.tiers:
        if waited < tier.after_seconds:
            break
        if tier.min_level is not None:
            needs[config.skill] = min(needs[config.skill], tier.min_level)
        for other in tier.overflow:
            skill, level = routing.queues[other].skill, routing.queues[other].min_level
            needs[skill] = min(needs.get(skill, level), level)
    return needs


def queues_served(routing: Routing, skills: set[str]) -> list[str]:
    """The queues whose callers agents with these skills may take, at some wait."""
    served = []
    for name, config in routing.queues.items():
        reachable = {config.skill} | {routing.queues[o].skill for tier in config.tiers for o in tier.overflow}
        if reachable & skills:
            served.append(name)
    return served


def can_take(agent: FreeAgent, needs: Mapping[str, int]) -> bool:
    return any(agent.skills.get(skill, 0) >= level for skill, level in needs.items())


def match(
    routing: Routing, callers: Iterable[Waiting], agents: Iterable[FreeAgent], now: float
) -> list[tuple[Waiting, FreeAgent]]:
    """Pairs (caller, agent) to offer now, best caller first (see the module's rule)."""
    free = sorted(agents, key=lambda agent: (agent.idle_since, agent.staff_id))
    pairs: list[tuple[Waiting, FreeAgent]] = []
    for caller in sorted(callers, key=lambda caller: rank(routing, caller)):
        if not free:
            break
        if caller.not_before > now or caller.queue not in routing.queues:
            continue
        needs = eligible_skills(routing, caller.queue, now - caller.enqueued_at)
        chosen = next(
            (agent for agent in free if agent.staff_id not in caller.declined_by and can_take(agent, needs)), None
        )
        if chosen is not None:
            free.remove(chosen)
            pairs.append((caller, chosen))
    return pairs


def priority(routing: Routing, *, complaint: bool, vip: bool, age: int | None) -> int:
    weights = routing.priorities
    total = weights.complaint if complaint else 0
    total += weights.vip if vip else 0
    total += weights.aged if age is not None and age >= weights.aged_from else 0
    return total


def estimated_wait(position: int, answers: Sequence[tuple[float, float]], now: float) -> int | None:
    """Seconds a caller at `position` (1 = next) may still wait, from the queue's recent
    answers ``(answered_at, waited)``, newest last; None when there are too few to say.

    With three or more recent answers: the pace at which the queue is answered
    (the span they cover, up to now, over their number) times the position, since
    each caller ahead must be answered first.  With one or two: their median wait.
    Never a made-up figure: no recent answers, no estimate."""
    if not answers:
        return None
    if len(answers) < 3:
        return round(statistics.median(waited for _, waited in answers))
    first = min(at for at, _ in answers)
    pace = max(now - first, 1.0) / len(answers)
    return round(pace * max(position, 1))


def spoken_minutes(seconds: int) -> int:
    """Whole minutes to say, rounded up, at least one: 'about 1 minute' rather than '0'."""
    return max(1, -(-seconds // 60))
