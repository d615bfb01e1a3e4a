"""Where a call's record waits in Redis until a records worker writes it (issue 17).

During the call nothing is enqueued: `/ivr/voice` keeps the call's opening
(`<prefix>call:<sid>:opened`, a records.calls.CallOpened's JSON) with the greeting's events,
and each webhook appends its events to the call's list (ivr/state.py).  The open calls are
a sorted set scored by their last activity, where the reconstruction sweep finds the calls
whose final status never came.  At the final status the call is handed over once: an entry
in the finished calls' stream, read by the records workers' drain job through a consumer
group (queueing/recording.py), and a drain job enqueued only when none is pending.

Only names and the events' reading here, so the web side (ivr.state) and the workers
(queueing.recording) spell them once, and importing them imports nothing of the app.
"""

from __future__ import annotations

import json
from datetime import datetime

from records.calls import Event, event_sequence

# The drain-pending flag's life: a drain job killed before it cleared it holds back new
# jobs at most this long (and the minute's reconstruction sweep drains meanwhile).
DRAIN_PENDING_SECONDS = 60
DEAD_LETTER_AFTER = 5  # refusals of one call's record (a drain retakes it once a minute)
GROUP = "records"  # the records workers' consumer group on the finished calls' stream


class RecordKeys:
    def __init__(self, prefix: str):
        self.prefix = prefix
        self.finished = f"{prefix}calls:finished"  # a stream: call_sid, and the status callback's JSON
        self.open_calls = f"{prefix}calls:open"  # a sorted set: CallSid scored by last activity (s)
        self.drain_pending = f"{prefix}calls:drain-pending"
        # A finished call whose record the database refused DEAD_LETTER_AFTER times (the call's
        # own data, not an outage) leaves the finished calls' stream for this one, as it was
        # handed over, with the attempts, the error's name and the call's opening, epoch and
        # events (its own keys expire); `refused` counts the refusals.
        self.dead_letters = f"{prefix}calls:dead-letters"
        self.refused = f"{prefix}calls:refused"  # a hash: CallSid -> refusals so far

    def call(self, call_sid: str, part: str) -> str:
        """A call's keys: opened, events, epoch, sent, finished, caller."""
        return f"{self.prefix}call:{call_sid}:{part}"


def kept_events(epoch: str | None, raw: list[str]) -> list[Event]:
    """A call's events as its list in Redis keeps them, numbered as they were appended
    (records.calls.event_sequence: the epoch, and each event's place in the list)."""
    events = []
    for position, item in enumerate(raw, start=1):
        data = json.loads(item)
        sequence = event_sequence(int(epoch or 0), position)
        events.append(Event(sequence, datetime.fromisoformat(data["at"]), data["kind"], data["detail"]))
    return events
