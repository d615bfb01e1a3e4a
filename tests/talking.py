"""Whole-call helpers for talks with agents, which are conferences (issue 14)."""

from __future__ import annotations


def talking(call, leg) -> bool:
    """The caller and the agent's leg are connected in the same conference."""
    return (
        call.waiting_for == "conference"
        and leg.waiting_for == "conference"
        and call.conference is not None
        and call.conference == leg.conference
    )


def in_talk(call) -> bool:
    """The caller is in a talk (a conference with an agent)."""
    return call.waiting_for == "conference" and call.conference is not None
