"""The contact-centre figures against examples worked by hand (the sums are in the comments)."""

from dataclasses import dataclass
from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from contactcentre import metrics
from contactcentre.metrics import Item, Thresholds
from records.entries import Entry

ZONE = ZoneInfo("Asia/Shanghai")
T0 = datetime(2026, 11, 24, 10, 0, tzinfo=ZONE)
T20_S5 = Thresholds(service_level=20, short_abandon=5)


def at(minutes: float, seconds: float = 0) -> datetime:
    return T0 + timedelta(minutes=minutes, seconds=seconds)


def answered(enqueued, wait, talk, hold, wrap, agent, queue="general", missed=0):
    entry = Entry(0, queue, enqueued)
    entry.answered_at = entry.left_at = enqueued + timedelta(seconds=wait)
    entry.result, entry.waited, entry.agent_id = "answered", wait, agent
    entry.talk_seconds, entry.hold_seconds, entry.wrap_up_seconds = talk, hold, wrap
    entry.wrap_up_end_at = entry.answered_at + timedelta(seconds=talk + hold + wrap)
    entry.offers = [{"agent_id": 99, "missed": "no answer"}] * missed + [{"agent_id": agent, "missed": None}]
    return entry


def left(enqueued, wait, result, queue="general"):
    entry = Entry(0, queue, enqueued)
    entry.left_at = enqueued + timedelta(seconds=wait)
    entry.result, entry.waited = result, wait
    return entry


def morning():
    """Seven callers leave the queue between 10:00 and 10:30; an eighth still waits."""
    return [
        answered(at(0), 10, talk=120, hold=30, wrap=30, agent=7),  # within T; handled 180 s
        answered(at(5), 30, talk=200, hold=0, wrap=60, agent=8, missed=1),  # late; handled 260 s
        left(at(10), 3, "abandoned"),  # short abandon (3 <= S), and within T
        left(at(12), 15, "abandoned"),  # within T, not short
        left(at(14), 40, "abandoned"),
        left(at(20), 120, "timeout"),  # a flow-out
        # Answered at 10:25:05; wrap-up ends 10:38:05, in the next half hour.
        answered(at(25), 5, talk=600, hold=60, wrap=120, agent=7),
        Entry(0, "general", at(40)),  # waiting
    ]


def test_every_definition_on_a_worked_morning():
    row = metrics.figures(morning(), T20_S5)
    assert (row.offered, row.answered, row.abandoned, row.short_abandoned, row.flow_outs) == (7, 3, 3, 1, 1)
    assert row.answered_within_t == 2 and row.abandoned_within_t == 2
    assert row.service_level == pytest.approx(2 / 5)  # 2 / (3 + 3 - 1)
    assert row.service_level_answered == pytest.approx(2 / 3)
    assert row.service_level_positive == pytest.approx(4 / 6)  # (2 + 2) / (3 + 3)
    assert row.service_level_offered == pytest.approx(2 / 7)
    assert row.average_speed_of_answer == pytest.approx(15)  # (10 + 30 + 5) / 3
    assert row.abandon_rate == pytest.approx(3 / 7)
    assert row.abandon_rate_without_short == pytest.approx(2 / 6)  # (3 - 1) / (7 - 1)
    assert row.average_abandon_time == pytest.approx(58 / 3)  # (3 + 15 + 40) / 3
    assert row.handled == 3
    assert row.average_handle_time == pytest.approx(1220 / 3)  # (180 + 260 + 780) / 3
    assert row.average_hold_time == pytest.approx(90 / 3)  # (30 + 0 + 60) / 3, part of AHT
    assert row.missed_offers == 1


def test_a_call_crossing_intervals_counts_where_it_left_the_queue_and_where_wrap_up_ended():
    rows = metrics.by_interval(morning(), 30, ZONE, lambda _queue: T20_S5)
    first, second = rows[at(0)], rows[at(30)]
    assert (first.offered, first.answered, first.handled) == (7, 3, 2)
    assert first.average_handle_time == pytest.approx(220)  # (180 + 260) / 2
    assert (second.offered, second.answered, second.handled) == (0, 0, 1)
    assert second.average_handle_time == pytest.approx(780)
    assert second.service_level is None  # nobody left the queue then: no figure, not 0 %
    fifteen = metrics.by_interval(morning(), 15, ZONE, lambda _queue: T20_S5)
    assert sorted(fifteen) == [at(0), at(15), at(30)]
    assert (fifteen[at(0)].offered, fifteen[at(15)].offered, fifteen[at(30)].handled) == (5, 2, 1)


def test_no_calls_gives_no_figures_rather_than_zero_or_a_hundred_percent():
    row = metrics.figures([], T20_S5)
    assert row.offered == 0
    for name in (
        "service_level",
        "service_level_answered",
        "service_level_positive",
        "service_level_offered",
        "average_speed_of_answer",
        "abandon_rate",
        "abandon_rate_without_short",
        "average_abandon_time",
        "average_handle_time",
        "average_hold_time",
    ):
        assert getattr(row, name) is None, name
    assert metrics.longest_wait([], at(0)) is None
    assert metrics.occupancy(0, 0) is None


def test_all_abandoned():
    row = metrics.figures([left(at(0), 2, "abandoned"), left(at(1), 30, "abandoned")], T20_S5)
    assert row.service_level == 0.0  # 0 / (0 + 2 - 1)
    assert row.service_level_answered is None  # nobody answered
    assert row.service_level_positive == pytest.approx(0.5)  # (0 + 1) / (0 + 2)
    assert row.service_level_offered == 0.0
    assert row.abandon_rate == 1.0 and row.abandon_rate_without_short == 1.0
    assert row.average_abandon_time == pytest.approx(16)
    assert row.average_speed_of_answer is None and row.average_handle_time is None


def test_only_short_abandons_leave_the_primary_service_level_undefined():
    row = metrics.figures([left(at(0), 1, "abandoned")], T20_S5)
    assert row.service_level is None and row.abandon_rate_without_short is None
    assert row.abandon_rate == 1.0


def test_thresholds_are_per_queue():
    entries = [answered(at(0), 15, 60, 0, 0, agent=1, queue="complaints"), answered(at(0), 15, 60, 0, 0, agent=1)]
    strict = {"complaints": Thresholds(service_level=10, short_abandon=5)}
    rows = metrics.by_queue(entries, lambda queue: strict.get(queue, T20_S5))
    assert rows["complaints"].service_level == 0.0 and rows["general"].service_level == 1.0


def test_per_agent_and_occupancy():
    rows = metrics.by_agent(morning(), lambda _queue: T20_S5)
    assert sorted(rows) == [7, 8]
    assert rows[7].answered == 2 and rows[7].average_handle_time == pytest.approx(480)  # (180 + 780) / 2
    assert rows[8].missed_offers == 1
    # 1,220 s handling and 280 s available between calls: 1220 / 1500.
    assert metrics.occupancy(1220, 280) == pytest.approx(1220 / 1500)


def test_longest_wait_now_is_the_oldest_caller_still_queued():
    assert metrics.longest_wait(morning(), at(45)) == 300
    assert [entry.enqueued_at for entry in metrics.waiting(morning())] == [at(40)]


def test_service_rules_met_missed_and_pending():
    items = [
        Item("C1", at(0), at(0) + timedelta(days=2)),  # met
        Item("C2", at(0), at(0) + timedelta(days=3, seconds=1)),  # late
        Item("C3", at(0) - timedelta(days=4), None),  # open and past its time
        Item("C4", at(0), None),  # open, still time
        Item("C5", at(0), at(0) + timedelta(days=3)),  # exactly on time
    ]
    result = metrics.service_rule("complaints", timedelta(days=3), items, now=at(60))
    assert (result.met, result.pending) == (2, 1)
    assert [item.reference for item in result.missed] == ["C2", "C3"]
    assert result.share_met == pytest.approx(2 / 4)
    assert metrics.service_rule("none", timedelta(hours=1), [], at(0)).share_met is None


# ---- occupancy from the agents' state history ------------------------------------------------


@dataclass(frozen=True)
class Change:
    """What an AgentStateChange row gives the figures."""

    staff_id: int
    at: datetime
    state: str


def a_shift():
    """State changes around a report of 10:00-11:00 (each agent's last one before 10:00 included)."""
    return [
        Change(7, at(-10), "available"),  # since 09:50: available when the report starts
        Change(7, at(10), "reserved"),
        Change(7, at(10, 10), "on_call"),
        Change(7, at(15), "wrap_up"),
        Change(7, at(16), "available"),  # crosses 10:30
        Change(7, at(40), "break"),
        Change(7, at(65), "available"),  # after the report: cut off
        Change(8, at(-60), "break"),  # on break (training) the whole time
        Change(9, at(20), "available"),
        Change(9, at(25), "offline"),  # logged out, and stays out
        Change(10, at(-120), "offline"),  # logged out since 08:00
        Change(11, at(50), "available"),  # nothing before: logged out until 10:50
    ]


def test_states_are_cut_to_the_report_and_last_until_the_next_change():
    spans = metrics.state_spans(a_shift(), at(0), at(60))
    seven = [(s.state, s.start, s.seconds) for s in spans if s.staff_id == 7]
    assert seven == [
        ("available", at(0), 600),  # from 09:50, counted from 10:00
        ("reserved", at(10), 10),
        ("on_call", at(10, 10), 290),
        ("wrap_up", at(15), 60),
        ("available", at(16), 1440),  # 10:16-10:40
        ("break", at(40), 1200),  # 10:40-11:00; the change at 11:05 is outside
    ]
    assert [(s.state, s.seconds) for s in spans if s.staff_id == 8] == [("break", 3600)]
    assert [(s.state, s.seconds) for s in spans if s.staff_id == 9] == [("available", 300), ("offline", 2100)]
    assert [(s.state, s.seconds) for s in spans if s.staff_id == 10] == [("offline", 3600)]
    assert [(s.state, s.start, s.seconds) for s in spans if s.staff_id == 11] == [("available", at(50), 600)]


@pytest.mark.parametrize(
    "utc_start",
    [datetime(2026, 10, 25, 0, 0), datetime(2026, 3, 29, 0, 0)],
    ids=["clocks-go-back", "clocks-go-forward"],
)
def test_a_state_across_a_change_of_the_clocks_keeps_its_real_length(utc_start):
    """Europe/Paris changes its clocks at 01:00 UTC on these nights: two hours available are
    7,200 s in four half-hour pieces, whatever the wall clock did."""
    from datetime import UTC

    from contactcentre.metrics import Span

    paris = ZoneInfo("Europe/Paris")
    start = utc_start.replace(tzinfo=UTC).astimezone(paris)
    span = Span(1, "available", start, (utc_start + timedelta(hours=2)).replace(tzinfo=UTC).astimezone(paris))
    assert span.seconds == 7200
    pieces = metrics.split_spans([span], 30, paris)
    assert [p.seconds for p in pieces] == [1800] * 4


def test_available_time_per_interval_and_per_agent():
    spans = metrics.state_spans(a_shift(), at(0), at(60))
    pieces = metrics.split_spans(spans, 30, ZONE)
    # Agent 7's 10:16-10:40 is cut at 10:30: 840 s in the first half hour, 600 s in the second.
    assert [(p.start, p.seconds) for p in pieces if p.staff_id == 7 and p.state == "available"] == [
        (at(0), 600),
        (at(16), 840),
        (at(30), 600),
    ]
    per_interval = metrics.seconds_in(pieces, "available", lambda s: metrics.interval_start(s.start, 30, ZONE))
    # 10:00: 600 + 840 (agent 7) + 300 (agent 9); 10:30: 600 (agent 7) + 600 (agent 11).
    assert per_interval == {at(0): 1740, at(30): 1200}
    per_agent = metrics.seconds_in(spans, "available", lambda s: s.staff_id)
    assert per_agent == {7: 2040, 9: 300, 11: 600}  # 8 (break) and 10 (logged out): none


def test_occupancy_per_agent_from_handle_and_available_time():
    spans = metrics.state_spans(a_shift(), at(0), at(60))
    rows = {
        7: metrics.Figures(handled=1, handle_seconds=350),
        8: metrics.Figures(),
        12: metrics.Figures(handled=1, handle_seconds=200),  # an agent whose states were never logged
    }
    metrics.add_available(rows, spans, lambda s: s.staff_id)
    assert rows[7].occupancy == pytest.approx(350 / (350 + 2040))
    assert rows[9].occupancy == 0.0 and rows[11].occupancy == 0.0  # available, no call handled
    assert rows[8].available_seconds == 0 and rows[8].occupancy is None  # on break throughout: "—"
    assert 10 not in rows  # logged out throughout, no call: no row at all
    assert rows[12].available_seconds is None and rows[12].occupancy is None  # unknown: "—", not 100 %
