"""Occupancy end to end: the ACD's scripts log every change of an agent's state in a
Redis stream, a records job copies the stream into rows (once each, however often it
runs), and the supervisor's reports divide handle time by handle + available time."""

from __future__ import annotations

import csv
import io
from datetime import timedelta

import pytest
from sqlalchemy import select

from acd import desk, seats
from queueing import recording
from records.models import AgentStateChange
from tests.conftest import OPEN
from tests.records.test_recording import status
from tests.records.test_supervisor import join_queue
from tests.web import log_in, make_staff


def rows(db) -> list[tuple]:
    db.rollback()  # a fresh look: the job wrote in its own session
    found = db.scalars(select(AgentStateChange).order_by(AgentStateChange.id))
    return [(row.staff_id, row.state, row.reason, row.at) for row in found]


def test_the_agent_log_becomes_rows_once_however_often_the_job_runs(app, db, records_worker):
    acd = app.extensions["hotline"].acd
    start = OPEN.timestamp()
    acd.set_state(5, "available", start, name="坐席", skills={"general": 1})
    acd.set_state(5, "available", start + 10)  # already available: not a change
    acd.set_state(5, "break", start + 60, reason="lunch")
    acd.set_state(5, "offline", start + 120, reason="logged_out")
    expected = [
        (5, "available", "", OPEN),
        (5, "break", "lunch", OPEN + timedelta(seconds=60)),
        (5, "offline", "logged_out", OPEN + timedelta(seconds=120)),
    ]
    assert recording.copy_agent_states() == 3
    assert rows(db) == expected
    assert recording.copy_agent_states() == 0  # nothing new since
    # Where to start is only a hint: lost (or two workers starting from the same place),
    # the job reads the same entries again and stores none of them twice.
    acd.redis.delete(acd.p + "agent_log:copied")
    assert recording.copy_agent_states() == 3
    assert recording.copy_agent_states() == 0
    assert rows(db) == expected


def test_every_state_the_acd_moves_an_agent_through_is_logged(app, db, records_worker, clock):
    hotline = app.extensions["hotline"]
    agent = make_staff(app, "agent")
    work_a_call(app, db, agent.id, clock)
    recording.copy_agent_states()
    states = [(state, reason, at - OPEN) for staff_id, state, reason, at in rows(db) if staff_id == agent.id]
    minute = timedelta(minutes=1)
    assert states == [
        ("available", "", 0 * minute),
        ("reserved", "", 5 * minute),
        ("on_call", "", 5 * minute + timedelta(seconds=10)),
        ("wrap_up", "", 9 * minute + timedelta(seconds=10)),
        ("available", "", 9 * minute + timedelta(seconds=30)),
        ("break", "lunch", 20 * minute),
    ]
    hotline.acd.logout(agent.id, (OPEN + 30 * minute).timestamp(), "heartbeat")  # the console went silent
    recording.copy_agent_states()
    assert rows(db)[-1] == (agent.id, "offline", "heartbeat", OPEN + 30 * minute)


def work_a_call(app, db, staff_id: int, clock) -> None:
    """At 10:00 the agent goes available; a caller who joined at 10:04 is offered at
    10:05, answered 10 s later, talks 4 min (to 10:09:10), wrap-up ends 20 s after
    (10:09:30); a break for lunch at 10:20.  Available 300 + 630 = 930 s, handle 240 + 20 = 260 s."""
    hotline = app.extensions["hotline"]

    def at(minutes: int, seconds: int = 0):
        clock.now = OPEN + timedelta(minutes=minutes, seconds=seconds)
        return clock.now

    at(0)
    assert hotline.acd.set_state(staff_id, "available", seats.epoch(clock.now), skills={"general": 1}).ok
    join_queue(app, "CA-occ", "general", at(4))
    offer = hotline.acd.reserve("CA-occ", staff_id, seats.epoch(at(5)))
    assert offer is not None  # the ring itself is the carrier's part (tests/acd)
    seats.add_events(hotline, "CA-occ", clock.now, ("offer", {"queue": "general", "agent_id": staff_id}))
    at(5, 10)
    assert seats.answered(hotline, "CA-occ", staff_id)
    at(9, 10)
    assert seats.talk_ended(hotline, "CA-occ", staff_id)
    status(app, "CA-occ", "completed", 3, duration=310)  # the caller hung up: the record is written after this
    at(9, 30)
    desk.wrap_up(hotline, db, staff_id, "CA-occ", "resolved")
    assert hotline.acd.set_state(staff_id, "break", seats.epoch(at(20)), reason="lunch").ok


@pytest.fixture
def supervisor_client(app):
    login = make_staff(app, "supervisor", display_name="主管丙")
    client = app.test_client()
    log_in(client, login.username, login.password)
    return client


def cells(html: str, table: str, label: str) -> dict[str, str]:
    """The row of `label` in the report's table `table`, by column class."""
    section = html.split(f'id="{table}"')[1].split("</table>")[0]
    row = next(part for part in section.split("<tr>") if f"<td>{label}</td>" in part)
    return {name: row.split(f'class="{name}">')[1].split("<")[0] for name in ("answered", "available", "occupancy")}


def test_the_reports_show_each_agents_occupancy(app, db, records_worker, clock, supervisor_client):
    agent = make_staff(app, "agent", display_name="坐席小赵")
    work_a_call(app, db, agent.id, clock)
    at = OPEN + timedelta(minutes=40)
    clock.now = at
    # The records queue writes the call and, as RQ's cron does every minute, copies the states.
    records_worker.queue.enqueue("queueing.recording.copy_agent_states")
    records_worker.work()

    html = supervisor_client.get("/supervisor/reports?interval=30").get_data(as_text=True)
    # 260 s handled / (260 + 930 s available) = 21.8 %.
    assert cells(html, "agents", "坐席小赵") == {"answered": "1", "available": "930 s", "occupancy": "21.8%"}
    assert cells(html, "intervals", "2026-11-24 10:00") == {"answered": "1", "available": "930 s", "occupancy": "21.8%"}
    assert cells(html, "days", "2026-11-24")["occupancy"] == "21.8%"
    assert cells(html, "total", "全部 all")["occupancy"] == "21.8%"
    assert "占用率 occupancy 21.8%" in html  # beside the agent's bar
    # One queue alone: agents wait for every queue they serve, so no figure.
    one_queue = supervisor_client.get("/supervisor/reports?queue=general").get_data(as_text=True)
    assert cells(one_queue, "agents", "坐席小赵")["occupancy"] == "—"

    report = supervisor_client.get("/supervisor/reports?format=csv&table=agent").get_data(as_text=True)
    header, *body = list(csv.reader(io.StringIO(report.lstrip("\ufeff"))))
    column = next(i for i, title in enumerate(header) if title.startswith("occupancy"))
    assert [(row[0], row[column]) for row in body] == [("坐席小赵", str(round(260 / 1190, 4)))]


def test_an_interval_spent_on_break_has_no_occupancy(app, db, records_worker, clock, supervisor_client):
    agent = make_staff(app, "agent", display_name="坐席小钱")
    hotline = app.extensions["hotline"]
    hotline.acd.set_state(agent.id, "available", OPEN.timestamp(), skills={"general": 1})
    hotline.acd.set_state(agent.id, "break", (OPEN + timedelta(minutes=30)).timestamp(), reason="meeting")
    clock.now = OPEN + timedelta(minutes=90)
    recording.copy_agent_states()
    html = supervisor_client.get("/supervisor/reports?interval=30").get_data(as_text=True)
    # 10:00-10:30 available and no call: 0 %; on break from 10:30: no row, nothing to divide.
    assert cells(html, "intervals", "2026-11-24 10:00") == {"answered": "0", "available": "1800 s", "occupancy": "0.0%"}
    assert "2026-11-24 10:30" not in html.split('id="intervals"')[1].split("</table>")[0]
    assert cells(html, "agents", "坐席小钱")["occupancy"] == "0.0%"


def test_rq_cron_copies_the_states_every_minute_on_the_records_queue(environ, records_worker, redis_url):
    import redis
    from rq.cron import CronScheduler

    scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
    scheduler.load_config_from_file("queueing.cron")
    entry = {job.name: job for job in scheduler.get_jobs()}["copy_agent_states"]
    assert (entry.interval, entry.queue_name) == (60, f"{environ['REDIS_PREFIX']}records")
