"""Quality review of calls (质检), as pure functions: which calls are reviewed, and what a
reviewer's answers on a form score.

The sample (each day, for the day before):
- every call of an agent that was a **complaint** is reviewed (the hospital's manual asks
  for each complaint to be looked at);
- then, at random, more of the agent's recorded calls until they have
  ``max(ceil(share x their calls), min_per_agent)`` in all (or all their calls, if fewer);
- the draw is seeded by the day, so running it twice draws the same calls.

The score: each item is met (its weight counts), not met, or not applicable (left out of
the total).  Score = met weight / applicable weight, in per cent; the call passes at the
form's ``pass_mark``.  A **critical** item not met fails the call whatever the score
(checking who the caller is before speaking of their health; courtesy).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from settings import QualityForm

MET, NOT_MET, NOT_APPLICABLE = "met", "not_met", "na"
ANSWERS = (MET, NOT_MET, NOT_APPLICABLE)


@dataclass(frozen=True)
class Reviewable:
    """A recorded call with an agent, as the sampler sees it."""

    call_sid: str
    agent_id: int
    queue: str
    complaint: bool


@dataclass(frozen=True)
class Picked:
    call: Reviewable
    reason: str  # complaint | sample


def sample(calls: Iterable[Reviewable], share: float, minimum: int, seed: str) -> list[Picked]:
    """The calls to review, per agent (see the module's rule), in call order per agent."""
    by_agent: dict[int, list[Reviewable]] = {}
    for call in calls:
        by_agent.setdefault(call.agent_id, []).append(call)
    picked: list[Picked] = []
    for agent_id in sorted(by_agent):
        theirs = sorted(by_agent[agent_id], key=lambda call: call.call_sid)
        complaints = [call for call in theirs if call.complaint]
        others = [call for call in theirs if not call.complaint]
        wanted = min(len(theirs), max(math.ceil(share * len(theirs)), minimum))
        draw = random.Random(f"{seed}:{agent_id}").sample(others, max(wanted - len(complaints), 0))
        picked += [Picked(call, "complaint") for call in complaints]
        picked += [Picked(call, "sample") for call in sorted(draw, key=lambda call: call.call_sid)]
    return picked


def assign(picked: list[Picked], reviewers: list[int]) -> list[tuple[Picked, int | None]]:
    """Each picked call to a reviewer, in turn, never to the agent who took the call."""
    assigned: list[tuple[Picked, int | None]] = []
    turn = 0
    for item in picked:
        others = [reviewer for reviewer in reviewers if reviewer != item.call.agent_id]
        if not others:
            assigned.append((item, None))
            continue
        assigned.append((item, others[turn % len(others)]))
        turn += 1
    return assigned


@dataclass(frozen=True)
class Score:
    percent: float | None  # None when no item applied
    failed_critical: tuple[str, ...]  # ids of critical items not met
    passed: bool


def score(form: QualityForm, answers: Mapping[str, str]) -> Score:
    """What the answers (question id -> met | not_met | na) score on the form."""
    applicable = [question for question in form.questions if answers.get(question.id) in (MET, NOT_MET)]
    total = sum(question.weight for question in applicable)
    met = sum(question.weight for question in applicable if answers[question.id] == MET)
    percent = round(100 * met / total, 1) if total else None
    failed = tuple(q.id for q in form.questions if q.critical and answers.get(q.id) == NOT_MET)
    return Score(percent, failed, not failed and percent is not None and percent >= form.pass_mark)


def unanswered(form: QualityForm, answers: Mapping[str, str]) -> list[str]:
    """The form's items without a valid answer: a review is saved only complete."""
    return [question.id for question in form.questions if answers.get(question.id) not in ANSWERS]
