"""The one chart module (charts.py): every chart has real axes, round ticks with grid
lines and bars scaled to the top tick."""

from __future__ import annotations

import xml.etree.ElementTree as ET

import pytest

from charts import Point, agents_chart, day_chart, intervals_chart, ticks

NS = {"s": "http://www.w3.org/2000/svg"}


@pytest.mark.parametrize(
    ("highest", "expected"),
    [
        (0, [0, 1]),
        (7, [0, 2, 4, 6, 8]),
        (10, [0, 2, 4, 6, 8, 10]),
        (37, [0, 10, 20, 30, 40]),
        (230, [0, 50, 100, 150, 200, 250]),
    ],
)
def test_ticks_are_round_and_reach_the_highest_value(highest, expected):
    assert ticks(highest) == expected


def tick_labels(svg) -> list[str]:
    return [t.text for t in svg.findall("s:text[@class='tick']", NS)]


def test_the_interval_chart_has_a_calls_axis_and_a_service_level_axis():
    svg = ET.fromstring(str(intervals_chart(["08:00", "08:30"], [7, 3], [0.9, None], 0.8, "offered")))
    labels = tick_labels(svg)
    assert labels[:5] == ["0", "2", "4", "6", "8"] and labels[5:8] == ["0%", "50%", "100%"]
    assert "08:00" in labels and "08:30" in labels  # the time axis
    assert {t.text for t in svg.findall("s:text[@class='axis-title']", NS)} == {"接入量 calls", "服务水平 SL"}
    bars = svg.findall("s:rect[@class='offered']", NS)
    plot = 240 - 22 - 56
    assert float(bars[0].get("height")) == pytest.approx(plot * 7 / 8, abs=0.1)  # scaled to the top tick, 8


def test_the_agent_chart_has_a_value_axis():
    svg = ET.fromstring(str(agents_chart(["甲", "乙"], [12, 5], "answered", [0.5, None])))
    assert tick_labels(svg) == ["0", "5", "10", "15"]
    assert len(svg.findall("s:line[@class='grid']", NS)) == 4


def test_the_staffing_chart_has_calls_seats_and_service_level_axes():
    points = [Point("08:00", 12.0, 3, 4, 0.85, True), Point("08:30", 30.0, 6, 5, 0.6, False)]
    svg = ET.fromstring(str(day_chart(points, target=0.8, title="general")))
    labels = tick_labels(svg)
    assert {"0", "10", "20", "30"} <= set(labels) and {"0%", "100%"} <= set(labels)
    assert {t.text for t in svg.findall("s:text[@class='axis-title']", NS)} == {
        "来电 calls",
        "坐席 seats",
        "服务水平 SL",
    }
