"""The contact centre's figures, each defined once, here, as pure functions over
queue entries (records.entries.Entry, or QueueEntry rows: anything with the
same attributes).  Definitions: docs/records.md and section 8 of the shared
contact-centre reference.

- A call counts in the interval in which it *left the queue*; handle time counts
  in the interval in which *wrap-up ended*.
- Per queue, T is the service-level threshold and S the short-abandon threshold.
- Offered = queue entries (that have left the queue; callers still waiting are
  counted by `waiting` and `longest_wait`).  Answered = connected to an agent.
  Abandoned = the caller hung up while queued (hang-ups in the voice menus never
  enter a queue).  Timeouts, callback requests, voicemail and transfers out of the
  queue are flow-outs, counted apart.
- A ratio with nothing to divide by is None ("no calls"), never 0 % or 100 %.
- Occupancy = handle time / (handle time + available idle time): the handle time
  of the calls whose wrap-up ended in the period, the seconds agents spent
  'available' in it, from their state history (records.agent_states) cut to the
  period.  Breaks, logged-out time and ringing ('reserved') are neither.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Hashable, Iterable
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, timedelta
from typing import Any, Protocol
from zoneinfo import ZoneInfo

FLOW_OUTS = frozenset({"timeout", "callback", "voicemail", "transferred"})


class EntryLike(Protocol):
    """What the figures read of a queue entry: the one list of its fields
    (records.call_log copies entries into a dataclass made from it)."""

    queue: str
    enqueued_at: datetime
    answered_at: datetime | None
    left_at: datetime | None
    result: str
    waited: float | None
    agent_id: int | None
    wrap_up_end_at: datetime | None
    talk_seconds: float | None
    hold_seconds: float | None
    wrap_up_seconds: float | None
    offers: list[dict[str, Any]]
    survey_score: int | None


@dataclass(frozen=True)
class Thresholds:
    service_level: float = 20.0  # T, seconds
    short_abandon: float = 5.0  # S, seconds


@dataclass
class Figures:
    """One row of a report: a queue, an interval, a day or an agent."""

    offered: int = 0
    answered: int = 0
    answered_within_t: int = 0
    abandoned: int = 0
    short_abandoned: int = 0
    abandoned_within_t: int = 0
    flow_outs: int = 0
    missed_offers: int = 0
    wait_answered: float = 0.0  # seconds, summed
    wait_abandoned: float = 0.0
    handled: int = 0
    handle_seconds: float = 0.0
    hold_seconds: float = 0.0  # the part of handle_seconds callers spent on hold (issue 14)
    survey_scores: list[int] = field(default_factory=list)
    # Seconds agents were available and idle; None where the report has no state
    # history to read (a report of one queue: agents are not one queue's).
    available_seconds: float | None = None

    @property
    def service_level(self) -> float | None:
        """Answered within T / (answered + abandoned - short abandons): the primary figure."""
        return ratio(self.answered_within_t, self.answered + self.abandoned - self.short_abandoned)

    @property
    def service_level_answered(self) -> float | None:
        """Answered within T / answered."""
        return ratio(self.answered_within_t, self.answered)

    @property
    def service_level_positive(self) -> float | None:
        """(Answered within T + abandoned within T) / (answered + abandoned)."""
        return ratio(self.answered_within_t + self.abandoned_within_t, self.answered + self.abandoned)

    @property
    def service_level_offered(self) -> float | None:
        """Answered within T / offered."""
        return ratio(self.answered_within_t, self.offered)

    @property
    def average_speed_of_answer(self) -> float | None:
        """Mean seconds from enqueue to answer, over answered calls."""
        return ratio(self.wait_answered, self.answered)

    @property
    def abandon_rate(self) -> float | None:
        """Abandoned / offered."""
        return ratio(self.abandoned, self.offered)

    @property
    def abandon_rate_without_short(self) -> float | None:
        """(Abandoned - short abandons) / (offered - short abandons): short abandons
        (callers who hung up within S, often a wrong number) left out of both."""
        return ratio(self.abandoned - self.short_abandoned, self.offered - self.short_abandoned)

    @property
    def average_abandon_time(self) -> float | None:
        """Mean seconds abandoned callers waited before hanging up."""
        return ratio(self.wait_abandoned, self.abandoned)

    @property
    def average_handle_time(self) -> float | None:
        """(Talk + hold + wrap-up) / handled, over calls whose wrap-up ended."""
        return ratio(self.handle_seconds, self.handled)

    @property
    def average_hold_time(self) -> float | None:
        """Seconds on hold / handled, over calls whose wrap-up ended (part of AHT)."""
        return ratio(self.hold_seconds, self.handled)

    @property
    def average_survey_score(self) -> float | None:
        return ratio(sum(self.survey_scores), len(self.survey_scores))

    @property
    def occupancy(self) -> float | None:
        """Handle time / (handle time + available idle time)."""
        if self.available_seconds is None:
            return None
        return occupancy(self.handle_seconds, self.available_seconds)


def ratio(numerator: float, denominator: float) -> float | None:
    return numerator / denominator if denominator > 0 else None


def handle_seconds(entry: EntryLike) -> float:
    return (entry.talk_seconds or 0.0) + (entry.hold_seconds or 0.0) + (entry.wrap_up_seconds or 0.0)


def waited(entry: EntryLike) -> float:
    if entry.waited is not None:
        return entry.waited
    left = entry.answered_at or entry.left_at
    return (left - entry.enqueued_at).total_seconds() if left else 0.0


def count_queue_leaving(figures: Figures, entry: EntryLike, thresholds: Thresholds) -> None:
    """Add one entry that left the queue to the figures of the period it left in."""
    figures.offered += 1
    wait = waited(entry)
    figures.missed_offers += sum(1 for offer in entry.offers or () if offer.get("missed"))
    if entry.result == "answered":
        figures.answered += 1
        figures.wait_answered += wait
        figures.answered_within_t += wait <= thresholds.service_level
    elif entry.result == "abandoned":
        figures.abandoned += 1
        figures.wait_abandoned += wait
        figures.short_abandoned += wait <= thresholds.short_abandon
        figures.abandoned_within_t += wait <= thresholds.service_level
    elif entry.result in FLOW_OUTS:
        figures.flow_outs += 1


def count_handling(figures: Figures, entry: EntryLike) -> None:
    """Add one entry's handling to the figures of the period its wrap-up ended in."""
    figures.handled += 1
    figures.handle_seconds += handle_seconds(entry)
    figures.hold_seconds += entry.hold_seconds or 0.0
    survey = entry.survey_score
    if survey is not None:
        figures.survey_scores.append(survey)


def figures(entries: Iterable[EntryLike], thresholds: Thresholds) -> Figures:
    """All the figures of a set of entries, as one row."""
    rows = group(entries, lambda _at, _entry: "all", lambda _queue: thresholds)
    return rows.get("all", Figures())


def group(
    entries: Iterable[EntryLike],
    key: Callable[[datetime, EntryLike], Hashable],
    thresholds_for: Callable[[str], Thresholds],
) -> dict[Hashable, Figures]:
    """Figures per key: `key(when, entry)` is called with the time the entry left the
    queue (for the queue counts) and with the time its wrap-up ended (for handling),
    so a call that crosses a boundary counts each part where it belongs."""
    rows: dict[Hashable, Figures] = defaultdict(Figures)
    for entry in entries:
        if entry.left_at is not None and entry.result != "waiting":
            count_queue_leaving(rows[key(entry.left_at, entry)], entry, thresholds_for(entry.queue))
        if entry.wrap_up_end_at is not None:
            count_handling(rows[key(entry.wrap_up_end_at, entry)], entry)
    return dict(rows)


def interval_start(at: datetime, minutes: int, zone: ZoneInfo) -> datetime:
    """The start of the `minutes`-long interval (15 or 30) holding `at`, in the hospital's time."""
    local = at.astimezone(zone)
    floored = local.replace(minute=local.minute - local.minute % minutes, second=0, microsecond=0)
    return floored


def by_interval(
    entries: Iterable[EntryLike], minutes: int, zone: ZoneInfo, thresholds_for: Callable[[str], Thresholds]
) -> dict[datetime, Figures]:
    return group(entries, lambda at, _entry: interval_start(at, minutes, zone), thresholds_for)  # type: ignore[return-value]


def by_day(
    entries: Iterable[EntryLike], zone: ZoneInfo, thresholds_for: Callable[[str], Thresholds]
) -> dict[date, Figures]:
    return group(entries, lambda at, _entry: at.astimezone(zone).date(), thresholds_for)  # type: ignore[return-value]


def by_queue(entries: Iterable[EntryLike], thresholds_for: Callable[[str], Thresholds]) -> dict[str, Figures]:
    return group(entries, lambda _at, entry: entry.queue, thresholds_for)  # type: ignore[return-value]


def by_agent(entries: Iterable[EntryLike], thresholds_for: Callable[[str], Thresholds]) -> dict[int, Figures]:
    """Per agent who answered (calls nobody answered belong to no agent)."""
    answered = [entry for entry in entries if entry.agent_id is not None]
    return group(answered, lambda _at, entry: entry.agent_id, thresholds_for)  # type: ignore[return-value]


def occupancy(handle: float, available_idle: float) -> float | None:
    """Handle time / (handle time + available idle time); breaks are neither."""
    return ratio(handle, handle + available_idle)


# ---- agents' states: available idle time for occupancy ---------------------------------------


class StateChangeLike(Protocol):
    """An agent's state from `at` until their next change (records.models.AgentStateChange)."""

    staff_id: int
    state: str
    at: datetime


@dataclass(frozen=True)
class Span:
    """An agent in one state from `start` to `end`."""

    staff_id: int
    state: str
    start: datetime
    end: datetime

    @property
    def seconds(self) -> float:
        # Not end - start: two times in one zone subtract as clock readings, an hour off
        # across a change of the clocks.
        return self.end.timestamp() - self.start.timestamp()


def state_spans(changes: Iterable[StateChangeLike], start: datetime, end: datetime) -> list[Span]:
    """Each agent's states over [start, end).  A state lasts until the agent's next
    change, the last one until `end` (give `end` no later than now).  `changes` must
    hold each agent's last change before `start` (the state they began the period in);
    an agent with none before is taken as logged out until their first change."""
    by_agent: dict[int, list[StateChangeLike]] = defaultdict(list)
    for change in sorted(changes, key=lambda change: change.at):  # stable: ties keep their order
        by_agent[change.staff_id].append(change)
    spans = []
    for staff_id, rows in by_agent.items():
        for this, following in zip(rows, [*rows[1:], None], strict=True):
            begin = max(this.at, start)
            finish = min(following.at if following is not None else end, end)
            if finish > begin:
                spans.append(Span(staff_id, this.state, begin, finish))
    return spans


def split_spans(spans: Iterable[Span], minutes: int, zone: ZoneInfo) -> list[Span]:
    """The spans cut at every interval boundary, so each piece lies in one interval (and one day)."""
    pieces = []
    for span in spans:
        # Stepped in UTC: adding minutes to a local time skips or repeats the hour the clocks change.
        at, end = span.start.astimezone(UTC), span.end.astimezone(UTC)
        while at < end:
            boundary = min(interval_start(at, minutes, zone).astimezone(UTC) + timedelta(minutes=minutes), end)
            pieces.append(replace(span, start=at, end=boundary))
            at = boundary
    return pieces


def seconds_in(spans: Iterable[Span], state: str, key: Callable[[Span], Hashable]) -> dict[Hashable, float]:
    """Seconds spent in `state`, summed per key."""
    totals: dict[Hashable, float] = defaultdict(float)
    for span in spans:
        if span.state == state:
            totals[key(span)] += span.seconds
    return dict(totals)


def add_available(rows: dict, spans: Iterable[Span], key: Callable[[Span], Hashable]) -> None:
    """Set each row's available idle seconds, per `key` of the spans, adding a row for a
    period or agent that was available but handled nothing (occupancy 0 %).  A row with
    no state history at all (states logged only since it began, an agent never logged
    in) keeps None: its occupancy is unknown ("—"), not 100 %."""
    spans = list(spans)
    known = {key(span) for span in spans}
    available = seconds_in(spans, "available", key)
    for name in rows.keys() | available.keys():
        if name in known:
            rows.setdefault(name, Figures()).available_seconds = available.get(name, 0.0)


def waiting(entries: Iterable[EntryLike]) -> list[EntryLike]:
    return [entry for entry in entries if entry.result == "waiting"]


def longest_wait(entries: Iterable[EntryLike], now: datetime) -> float | None:
    """Seconds the longest-waiting caller still in the queue has waited, None if nobody waits."""
    oldest = min((entry.enqueued_at for entry in waiting(entries)), default=None)
    return (now - oldest).total_seconds() if oldest is not None else None


# ---- hospital service rules ----------------------------------------------------------------


@dataclass(frozen=True)
class Item:
    """Something a service rule times: a complaint, a results notice, a callback..."""

    reference: str
    started_at: datetime
    done_at: datetime | None


@dataclass
class RuleResult:
    name: str
    within: timedelta
    met: int = 0
    missed: list[Item] = field(default_factory=list)
    pending: int = 0  # not done yet, still within time

    @property
    def share_met(self) -> float | None:
        return ratio(self.met, self.met + len(self.missed))


def service_rule(name: str, within: timedelta, items: Iterable[Item], now: datetime) -> RuleResult:
    """Met when done within the time; missed when done late, or not done and the time is
    up; pending when not done and there is still time."""
    result = RuleResult(name, within)
    for item in items:
        deadline = item.started_at + within
        if item.done_at is not None:
            if item.done_at <= deadline:
                result.met += 1
            else:
                result.missed.append(item)
        elif now > deadline:
            result.missed.append(item)
        else:
            result.pending += 1
    return result
