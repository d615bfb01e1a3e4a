"""The line on the supervisor pages that says when the job processes are not running
(queueing/health.py): the rule on heartbeats without a server, then the pages."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import redis as redis_lib
from rq import Queue
from rq.cron import CronScheduler
from rq.scheduler import RQScheduler

from queueing import ROUTINE, URGENT, queue_name
from queueing.health import ALIVE_WITHIN, ROLES, Health, check, missing
from queueing.recording import RECORDS
from queueing.workers import Worker
from tests.web import log_in, make_staff

NOW = datetime(2026, 11, 24, 2, 0, tzinfo=UTC)
FRESH, STALE = NOW - timedelta(seconds=30), NOW - ALIVE_WITHIN - timedelta(seconds=1)


# ---- the rule ---------------------------------------------------------------------------------------


def test_a_role_is_alive_with_one_recent_heartbeat_whatever_the_others():
    beats = {
        "worker": [STALE, FRESH],
        "records_worker": [STALE],
        "scheduler": [NOW - ALIVE_WITHIN],  # just within
        "retries": [],
    }
    assert missing(beats, NOW) == ["records_worker", "retries", "records_retries"]
    assert missing({role: [FRESH] for role in ROLES}, NOW) == []
    assert missing({}, NOW) == list(ROLES)


def test_the_line_names_what_is_not_running_in_both_languages():
    assert Health(redis=True).line() == "" and Health(redis=True).ok
    line = Health(redis=True, missing=("records_worker", "scheduler")).line()
    assert line.startswith("未在运行：通话记录的工作进程、定时任务调度")
    assert "Not running: the call-record workers; the scheduler (flask cron)." in line
    down = Health(redis=False, missing=tuple(ROLES))
    assert not down.ok and "Redis 无法连接" in down.line() and "Redis does not answer" in down.line()


def test_a_redis_that_does_not_answer_is_said_as_such():
    nobody = redis_lib.Redis(port=1, socket_connect_timeout=0.5, retry=None)
    assert check(nobody, "test:") == Health(redis=False, missing=tuple(ROLES))


# ---- what RQ keeps, and the pages ------------------------------------------------------------------


@pytest.fixture
def client(app):
    supervisor = make_staff(app, "supervisor", display_name="主管甲")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    return client


@pytest.fixture
def running(redis_url, redis_prefix):
    """The hotline's job processes as RQ registers them, under this test's prefix (not run:
    registered, as each does when it starts and on every heartbeat)."""
    connection = redis_lib.Redis.from_url(redis_url)
    names = {kind: queue_name(redis_prefix, kind) for kind in (URGENT, RECORDS, ROUTINE)}
    worker = Worker([Queue(n, connection=connection) for n in names.values()], connection=connection)
    pool = Worker([Queue(names[RECORDS], connection=connection)], connection=connection)
    cron = CronScheduler(connection=connection)
    cron.register(print, names[ROUTINE], interval=60)
    retries = RQScheduler(list(names.values()), connection=connection)
    parts = (worker, pool, cron)
    for part in parts:
        part.register_birth()
    retries.acquire_locks()
    retries.register_birth()
    yield connection
    for part in parts:
        part.register_death()
    retries.release_locks()
    retries.register_death()


def test_the_pages_say_when_no_job_process_runs(client):
    page = client.get("/supervisor/calls").get_data(as_text=True)
    assert "未在运行：短信、提醒和座席计时的工作进程、通话记录的工作进程、定时任务调度" in page
    assert "Not running: the workers for texts, reminders and the seats&#39; timers; the call-record workers" in page
    assert client.get("/supervisor/wallboard.json").get_json()["health"].startswith("未在运行")


def test_with_every_process_beating_the_pages_say_nothing(client, running, redis_prefix):
    assert check(running, redis_prefix).ok
    page = client.get("/supervisor/wallboard").get_data(as_text=True)
    assert '<p class="flash error" id="job-health" role="alert" hidden></p>' in page
    assert client.get("/supervisor/wallboard.json").get_json()["health"] == ""


@pytest.fixture
def browser_supervisor(app, page, server):
    from tests.web import log_in_page

    login = make_staff(app, "supervisor", display_name="主管乙")
    log_in_page(page, server, login.username, login.password)
    hotline = app.extensions["hotline"]
    records = hotline.settings.records.model_copy(update={"wallboard_refresh_seconds": 1})
    hotline.settings = hotline.settings.model_copy(update={"records": records})
    return login


@pytest.mark.parametrize("width", [1366, 390])
def test_the_wallboard_shows_the_line_and_drops_it_by_itself_once_the_processes_run(
    page, server, browser_supervisor, request, width
):
    from playwright.sync_api import expect

    page.set_viewport_size({"width": width, "height": 768})
    page.goto(f"{server}/supervisor/wallboard")
    line = page.locator("#job-health")
    expect(line).to_be_visible()
    expect(line).to_contain_text("未在运行")
    expect(line).to_contain_text("Not running: the workers for texts")
    box = line.bounding_box()
    assert box["x"] >= 0 and box["x"] + box["width"] <= width  # wraps on a phone, never off the screen
    request.getfixturevalue("running")  # the processes start beating
    expect(line).to_be_hidden(timeout=10_000)  # the wallboard's own refresh (every second here)
