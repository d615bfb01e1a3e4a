"""Live push (issue 15): the console's and the wallboard's event streams, fed by the
ACD's agent log, and the polling fallback when a web process is full."""

from __future__ import annotations

import json
import threading
from datetime import timedelta

from playwright.sync_api import expect

from queueing import push
from tests.acd.test_agent_api import Console, agent_with
from tests.conftest import OPEN
from tests.web import log_in, log_in_page, make_staff


def events(response):
    """The stream's `change` events, in order, as they come (reading blocks until one does)."""
    for chunk in response.response:
        text = chunk.decode() if isinstance(chunk, bytes) else chunk
        for block in text.split("\n\n"):
            lines = dict(line.split(": ", 1) for line in block.splitlines() if ": " in line and line[0] != ":")
            if lines.get("event") == "change":
                yield json.loads(lines["data"])


def first_chunk(response) -> str:
    chunk = next(iter(response.response))
    return chunk.decode() if isinstance(chunk, bytes) else chunk


def test_the_console_hears_of_its_own_agents_changes_only(app):
    mine = Console(app, agent_with(app, {"general": 1}, display_name="坐席甲"))
    other = Console(app, agent_with(app, {"general": 1}, display_name="坐席乙"))
    response = mine.client.get("/agent/api/stream", buffered=False)
    assert response.status_code == 200 and response.mimetype == "text/event-stream"
    assert first_chunk(response).startswith("retry: ")  # the browser reconnects after a stream ends
    assert other.post("state", state="available").status_code == 200
    assert mine.post("state", state="available").status_code == 200
    change = next(events(response))
    assert change == [{"agent": mine.login.id, "state": "available", "reason": "", "at": change[0]["at"]}]
    assert mine.post("state", state="break", reason="lunch").status_code == 200
    assert [(c["state"], c["reason"]) for c in next(events(response))] == [("break", "lunch")]
    response.close()


def test_the_wallboard_hears_of_every_agent(app):
    agent = Console(app, agent_with(app, {"general": 1}, display_name="坐席丙"))
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    response = client.get("/supervisor/wallboard/stream", buffered=False)
    assert response.status_code == 200
    first_chunk(response)
    agent.post("state", state="available")
    assert [(c["agent"], c["state"]) for c in next(events(response))] == [(agent.login.id, "available")]
    response.close()
    assert agent.client.get("/supervisor/wallboard/stream").status_code == 403  # supervisors only


def test_a_full_web_process_refuses_the_stream_and_the_page_polls(app, monkeypatch):
    console = Console(app, agent_with(app, {"general": 1}))
    monkeypatch.setattr(push, "_slots", threading.BoundedSemaphore(1))
    held = console.client.get("/agent/api/stream", buffered=False)
    first_chunk(held)
    refused = console.client.get("/agent/api/stream")
    assert refused.status_code == 503 and refused.headers["Retry-After"] == "60"
    assert "Live updates are full" in refused.get_json()["error"] and "实时推送已满" in refused.get_json()["error"]
    assert console.client.get("/agent/api/status").status_code == 200  # the polling fallback still answers
    held.close()  # a closed stream gives its place back
    again = console.client.get("/agent/api/stream", buffered=False)
    assert again.status_code == 200
    again.close()


def test_the_wallboard_in_a_browser_shows_a_change_before_its_next_refresh(page, server, app, clock):
    hotline = app.extensions["hotline"]
    # A refresh every 5 minutes: what the page shows within the test's few seconds came by push.
    records = hotline.settings.records.model_copy(update={"wallboard_refresh_seconds": 300})
    hotline.settings = hotline.settings.model_copy(update={"records": records})
    clock.now = OPEN + timedelta(hours=1)
    agent = Console(app, agent_with(app, {"general": 1}, display_name="坐席丁"))
    agent.post("state", state="break", reason="training")
    supervisor = make_staff(app, "supervisor")
    log_in_page(page, server, supervisor.username, supervisor.password)
    page.goto(f"{server}/supervisor/wallboard")
    row = page.locator(f'#agent-list tr[data-staff="{agent.login.id}"]')
    expect(row.locator(".state")).to_have_text("休息 Break · 培训 Training")
    expect(page.locator("#live")).to_be_visible()  # the stream is open
    agent.post("state", state="available")
    expect(row.locator(".state")).to_have_text("空闲 Available")


def test_an_open_stream_does_not_keep_the_session_alive(app):
    """The idle logout runs on while a console or wallboard only listens: the stream is a
    `background` view (accounts), so it does not count as the agent at work; a page does."""
    console = Console(app, agent_with(app, {"general": 1}))
    assert console.client.get("/agent").status_code == 200
    with console.client.session_transaction() as session:
        session["active_at"] -= 60  # the agent's last click, a minute ago
        opened = session["active_at"]
    stream = console.client.get("/agent/api/stream", buffered=False)
    assert stream.status_code == 200
    stream.close()
    with console.client.session_transaction() as session:
        assert session["active_at"] == opened  # listening did not count
    assert console.client.get("/agent").status_code == 200
    with console.client.session_transaction() as session:
        assert session["active_at"] > opened  # opening a page did


def test_a_stream_never_read_gives_its_place_back(app, monkeypatch):
    """A browser gone before the first byte (or a HEAD request): the server closes the body unread."""
    monkeypatch.setattr(push, "_slots", threading.BoundedSemaphore(1))
    hotline = app.extensions["hotline"]
    source = push.hub(hotline.redis, hotline.settings.env.redis_prefix)
    push.open_stream(source, lambda change: True).close()  # closed without reading a byte
    push.open_stream(source, lambda change: True).close()  # not Full: the place was given back
