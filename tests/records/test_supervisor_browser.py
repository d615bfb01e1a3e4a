"""The supervisor's pages in headless Chromium: filter the log, open a call, watch
the wallboard change when a caller joins a queue, download a CSV, read an agent's
occupancy in the reports."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import expect

from tests.conftest import OPEN
from tests.records.helpers import make_call
from tests.records.test_occupancy import work_a_call
from tests.records.test_supervisor import join_queue
from tests.web import log_in_page, make_staff


@pytest.fixture
def supervisor(app, page, server):
    login = make_staff(app, "supervisor", display_name="主管乙")
    log_in_page(page, server, login.username, login.password)
    return login


@pytest.fixture
def calls(db, app):
    agent = make_staff(app, "agent", display_name="坐席小王")
    make_call(db, "CA-b1", OPEN, phone="+8613800138000", wait=6, agent_id=agent.id)
    make_call(db, "CA-b2", OPEN + timedelta(minutes=3), wait=25, result="abandon")
    make_call(db, "CA-b3", OPEN + timedelta(minutes=6), queue=None)


def test_filter_the_log_and_open_a_call(page, server, supervisor, calls):
    page.goto(f"{server}/supervisor/calls")
    expect(page.locator("tr[data-call]")).to_have_count(3)
    page.locator("select[name=outcome]").select_option("abandoned")
    page.get_by_role("button", name="查询 Search").click()
    rows = page.locator("tr[data-call]")
    expect(rows).to_have_count(1)
    expect(rows.first.locator(".outcome")).to_have_text("排队放弃 abandoned")  # both languages (issue 15)
    rows.first.get_by_role("link").click()
    expect(page.get_by_role("heading", level=1)).to_contain_text("CA-b2")
    expect(page.locator("tr.event.abandon")).to_have_count(1)
    expect(page.locator("tr.event.enqueue")).to_contain_text("general")
    expect(page.locator("tr.event.enqueue .kind")).to_have_text("进入队列 joined the queue")
    expect(page.locator("tr.event.abandon .kind")).to_have_text("排队放弃 abandoned")


def test_the_wallboard_updates_itself_when_a_caller_joins_a_queue(
    page, server, supervisor, calls, app, records_worker, clock
):
    hotline = app.extensions["hotline"]
    records = hotline.settings.records.model_copy(update={"wallboard_refresh_seconds": 1})
    hotline.settings = hotline.settings.model_copy(update={"records": records})
    clock.now = OPEN + timedelta(hours=1)
    page.goto(f"{server}/supervisor/wallboard")
    row = page.locator('#queues tr[data-queue="general"]')
    expect(row.locator(".waiting")).to_have_text("0")
    expect(row.locator(".offered")).to_have_text("2")
    url_before = page.url

    join_queue(app, "CA-b4", "general", clock.now - timedelta(seconds=30))
    records_worker.work()
    expect(row.locator(".waiting")).to_have_text("1", timeout=10_000)
    expect(row.locator(".longest")).to_have_text("30 s")
    assert page.url == url_before  # refreshed in place, not reloaded


def test_download_the_filtered_log_as_csv(page, server, supervisor, calls):
    page.goto(f"{server}/supervisor/calls?queue=general")
    page.get_by_label("导出原因 Why you export").fill("月度质检抽查")
    with page.expect_download() as download:
        page.get_by_role("button", name="导出 CSV Export").click()
    text = Path(download.value.path()).read_text(encoding="utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["call_sid"] for row in rows] == ["CA-b2", "CA-b1"]
    assert rows[1]["record_number"] == "M00000001" and rows[1]["caller"] == "+86****00"


def test_an_agents_occupancy_in_the_reports(page, server, supervisor, app, db, records_worker, clock):
    agent = make_staff(app, "agent", display_name="坐席小孙")
    work_a_call(app, db, agent.id, clock)  # 260 s handled, 930 s available
    clock.now = OPEN + timedelta(minutes=40)
    records_worker.queue.enqueue("queueing.recording.copy_agent_states")
    records_worker.work()
    page.goto(f"{server}/supervisor/reports?interval=30")
    row = page.locator("#agents tbody tr", has_text="坐席小孙")
    expect(row.locator(".occupancy")).to_have_text("21.8%")
    expect(row.locator(".available")).to_have_text("930 s")
    expect(page.locator("#agents th", has_text="占用率 Occupancy")).to_have_attribute(
        "title", "handle time / (handle time + available idle time); breaks, logged-out and ringing time excluded"
    )
