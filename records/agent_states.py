"""Agents' state history (AgentStateChange): stored from the ACD's agent log, read
for the occupancy figures.

Functions take a Session and never commit: the caller owns the transaction.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime

from sqlalchemy import or_, select
from sqlalchemy.orm import Session

from records.db import insert_new
from records.models import AgentStateChange, Staff


def row(stream_id: str, fields: dict[str, str]) -> dict:
    """One stream entry of the ACD's agent log as a row to store."""
    return {
        "stream_id": stream_id,
        "staff_id": int(fields["agent"]),
        "state": fields["state"][:16],
        "reason": (fields.get("reason") or "")[:40],
        "at": datetime.fromtimestamp(float(fields["at"]), UTC),
    }


def store(session: Session, rows: Iterable[dict]) -> None:
    """INSERT ... ON CONFLICT DO NOTHING on the stream id: a rerun, or two workers
    copying the same entries, store each change once."""
    insert_new(session, AgentStateChange, list(rows), ["stream_id"])


def changes_between(session: Session, start: datetime, end: datetime) -> list[AgentStateChange]:
    """Every change in [start, end), and each agent's last change before `start` (the
    state they were in when the period began), oldest first."""
    # Per staff member, one step down the (staff_id, at) index: a GROUP BY over the history
    # before `start` would read all of it.  Ordered by time as state_spans orders them.
    latest = (
        select(AgentStateChange.id)
        .where(AgentStateChange.staff_id == Staff.id, AgentStateChange.at < start)
        .order_by(AgentStateChange.at.desc(), AgentStateChange.id.desc())
        .limit(1)
        .scalar_subquery()
    )
    last_before = select(latest).select_from(Staff)
    query = select(AgentStateChange).where(
        or_(
            (AgentStateChange.at >= start) & (AgentStateChange.at < end),
            AgentStateChange.id.in_(last_before),
        )
    )
    return list(session.scalars(query.order_by(AgentStateChange.at, AgentStateChange.id)))
