"""Whole-call helpers for talks with agents, which are conferences (issue 14)."""

from __future__ import annotations

import time


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


def soon(check, seconds: float = 10.0) -> bool:
    """`check()` turns true within `seconds`.  A browser's click returns when the page has
    redrawn, which can be before the emulator has fetched the agent leg's TwiML on its own
    thread: the page says "On call" a few milliseconds before the leg is in the conference.
    A wait for what the test checks, not a measure of speed (the timeout is generous)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True
