"""Agents' skills and what they record after a call (the seats, issue 4)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from records.models import AgentSkill, Staff, WrapUp

LEVELS = range(1, 6)


class SkillError(ValueError):
    """A skill cannot be set as asked; the message says why."""


def agent_skills(session: Session, staff_id: int) -> dict[str, int]:
    """Skill -> level (1-5) of one agent."""
    rows = session.execute(select(AgentSkill.skill, AgentSkill.level).where(AgentSkill.staff_id == staff_id))
    return {skill: level for skill, level in rows}


def set_skills(session: Session, staff_id: int, skills: Mapping[str, int], known: set[str] | None = None) -> None:
    """Replace an agent's skills.  `known`: the skills the routing config uses (others are refused)."""
    for skill, level in skills.items():
        if known is not None and skill not in known:
            raise SkillError(f"no queue uses the skill {skill!r} (skills: {', '.join(sorted(known))})")
        if level not in LEVELS:
            raise SkillError(f"{skill}: the level must be 1 to 5, not {level!r}")
    if session.get(Staff, staff_id) is None:
        raise SkillError(f"no staff member {staff_id}")
    session.execute(delete(AgentSkill).where(AgentSkill.staff_id == staff_id))
    session.add_all(AgentSkill(staff_id=staff_id, skill=skill, level=level) for skill, level in skills.items())
    session.flush()


def save_wrap_up(
    session: Session, *, call_sid: str, staff_id: int, queue: str, disposition: str, notes: str, at: datetime
) -> WrapUp:
    wrap_up = WrapUp(
        call_sid=call_sid[:64], staff_id=staff_id, queue=queue[:32], disposition=disposition[:32], notes=notes, at=at
    )
    session.add(wrap_up)
    session.flush()
    return wrap_up


# The disposition of a wrap-up whose timer ran out before the agent chose one (issue 15):
# what was typed is kept, and reports can tell these apart.
NOT_GIVEN = "not_given"


def unfinished_wrap_up(session: Session, call_sid: str, staff_id: int) -> WrapUp | None:
    """The row the timer saved for this agent's call, which the agent may still complete."""
    return session.scalar(
        select(WrapUp).where(
            WrapUp.call_sid == call_sid[:64], WrapUp.staff_id == staff_id, WrapUp.disposition == NOT_GIVEN
        )
    )


def wrap_ups(session: Session, call_sid: str) -> list[WrapUp]:
    return list(session.scalars(select(WrapUp).where(WrapUp.call_sid == call_sid).order_by(WrapUp.id)))
