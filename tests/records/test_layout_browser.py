"""Every supervisor page on a phone (390 px wide: the page never scrolls sideways, a
wide table scrolls inside itself, the navigation wraps) and the reports and wallboard
at 1366x768 (the figures a supervisor looks for first in the first screen)."""

from __future__ import annotations

from datetime import timedelta

import pytest
from playwright.sync_api import expect

from tests.acd.test_agent_api import Console, agent_with
from tests.conftest import OPEN
from tests.records.helpers import make_call
from tests.records.test_supervisor_browser import calls, supervisor  # noqa: F401, F811 (fixtures)

PHONE = {"width": 390, "height": 844}
LAPTOP = {"width": 1366, "height": 768}
# What sticks out, named, for the failure message.
WIDEST = """() => [document.scrollingElement.scrollWidth, [...document.querySelectorAll('body *')]
  .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
  .map(e => e.tagName + (e.id ? '#' + e.id : '') + '.' + e.className).slice(-5)]"""
NO_SIDEWAYS_SCROLL = "() => document.scrollingElement.scrollWidth <= window.innerWidth"


def supervisor_pages(page, server) -> list[str]:
    """Every page the navigation offers a supervisor, and one call's page."""
    page.goto(f"{server}/supervisor/calls")
    links = page.locator("header.top nav a").evaluate_all("links => links.map(a => a.getAttribute('href'))")
    return [*links, "/supervisor/calls/CA-b1"]


def test_every_supervisor_page_fits_a_phone(page, server, supervisor, calls, clock):  # noqa: F811
    clock.now = OPEN + timedelta(hours=1)
    page.set_viewport_size(PHONE)
    pages = supervisor_pages(page, server)
    assert {"/supervisor/wallboard", "/supervisor/reports", "/supervisor/audit"} <= set(pages)
    for path in pages:
        page.goto(f"{server}{path}")
        widths = page.evaluate(WIDEST)
        assert page.evaluate(NO_SIDEWAYS_SCROLL), f"{path} scrolls sideways on a phone: {widths}"
    page.goto(f"{server}/supervisor/reports")
    table = page.locator("#intervals")  # the widest table scrolls inside itself
    assert table.evaluate("t => t.scrollWidth > t.clientWidth && getComputedStyle(t).overflowX === 'auto'")
    nav = page.locator("header.top nav a").last
    assert nav.bounding_box()["x"] + nav.bounding_box()["width"] <= PHONE["width"]  # the nav wraps


def in_first_screen(locator) -> bool:
    box = locator.bounding_box()
    return (
        box is not None
        and box["y"] >= 0
        and box["y"] + box["height"] <= LAPTOP["height"]
        and (box["x"] + box["width"] <= LAPTOP["width"])
    )


def test_the_reports_show_abandon_rate_aht_and_occupancy_in_the_first_screen(page, server, supervisor, db, app, clock):  # noqa: F811
    agent = agent_with(app, {"general": 1}, display_name="坐席小周")
    make_call(db, "CA-r1", OPEN, wait=8, agent_id=agent.id)
    make_call(db, "CA-r2", OPEN + timedelta(minutes=3), wait=25, result="abandon")
    clock.now = OPEN + timedelta(hours=1)
    page.set_viewport_size(LAPTOP)
    page.goto(f"{server}/supervisor/reports?start={OPEN.date().isoformat()}")
    headline = page.locator("#headline")
    expect(headline.locator(".abandon-rate dd")).to_have_text("50.0%")
    for name in ("abandon-rate", "aht", "occupancy", "service-level"):
        assert in_first_screen(headline.locator(f".{name}")), name
    assert page.evaluate(NO_SIDEWAYS_SCROLL)


@pytest.mark.parametrize("viewport", [LAPTOP, PHONE], ids=["1366", "390"])
def test_the_wallboard_shows_each_agent_with_state_since_queue_and_colours(
    page,
    server,
    supervisor,  # noqa: F811 (the fixture imported above)
    app,
    clock,
    viewport,
):
    clock.now = OPEN + timedelta(hours=1)
    agent = Console(app, agent_with(app, {"general": 1}, display_name="坐席小吴"))
    agent.post("state", state="break", reason="training")  # as the console sends a break reason
    page.set_viewport_size(viewport)
    page.goto(f"{server}/supervisor/wallboard")
    row = page.locator(f'#agent-list tr[data-staff="{agent.login.id}"]')
    expect(row.locator(".state")).to_have_text("休息 Break · 培训 Training")
    expect(row.locator(".since")).to_have_text(f"{OPEN + timedelta(hours=1):%H:%M:%S} (0 s)")
    expect(row).to_have_class("agent-break")
    general = page.locator('#queues tr[data-queue="general"]')
    expect(general.locator(".target")).to_have_text("80.0%")
    expect(general).to_have_class("standing-none")  # no call today yet: neither met nor missed
    assert page.evaluate(NO_SIDEWAYS_SCROLL)
    row.scroll_into_view_if_needed()
    assert row.locator(".name").is_visible()
