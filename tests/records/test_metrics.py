"""The contact-centre figures against examples worked by hand (the sums are in the comments)."""

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from queueing import metrics
from queueing.metrics import Item, Thresholds
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
