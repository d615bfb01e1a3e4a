"""`flask worker` builds the jobs' context (settings, engine, clients) once, before it
forks: RQ's work-horses inherit it instead of rereading config.yaml for every job, and
still open database connections of their own."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from rq.job import Job

from app import ROOT
from queueing import queue_name
from records import calls

FLASK = str(Path(sys.executable).parent / "flask")
BUILT = "job context: settings from"


def _run_worker_until_empty(environ) -> str:
    env = {**os.environ, **environ}
    env.pop("HOTLINE_CONFIG", None)
    done = subprocess.run(
        [FLASK, "--app", "app", "worker", "--burst"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout + done.stderr


def test_a_forking_worker_builds_the_job_context_once_for_two_jobs(app, db, environ):
    hotline = app.extensions["hotline"]
    prefix = environ["REDIS_PREFIX"]
    sweep = hotline.queue.enqueue("queueing.jobs.sweep_seats")  # Redis, through the context
    opened = hotline.records_queue.enqueue(
        "queueing.recording.open_call",  # the database, through the context
        kwargs={
            "call_sid": "CAforked",
            "from_number": "13800138000",
            "to_number": "",
            "e164": "+8613800138000",
            "patient_ids": [1],
            "language": "zh",
            "at": hotline.now().isoformat(),
            "direction": "inbound",
        },
    )
    assert {sweep.origin, opened.origin} == {queue_name(prefix, "urgent"), queue_name(prefix, "records")}

    log = _run_worker_until_empty(environ)

    assert log.count(BUILT) == 1, log
    jobs = [Job.fetch(job.id, connection=hotline.queue_redis) for job in (sweep, opened)]
    assert [job.get_status() for job in jobs] == ["finished", "finished"]
    assert set(jobs[0].return_value().values()) == {0}  # no seats, nothing to sweep
    assert jobs[1].return_value() == "call CAforked opened"
    db.rollback()
    record = calls.find_call(db, "CAforked")
    assert record is not None and record.patient_id == 1


def test_a_starting_worker_copies_the_agent_states_logged_while_none_ran(app, db, environ):
    """The agents' state changes the ACD logged while no worker ran reach the occupancy
    figures as soon as a worker starts, before RQ's cron first copies them."""
    from sqlalchemy import select

    from records.models import AgentStateChange

    hotline = app.extensions["hotline"]
    now = hotline.now().timestamp()
    assert hotline.acd.set_state(7, "available", now, name="agent7", skills={"general": 3}).ok
    assert hotline.acd.set_state(7, "break", now + 60, reason="lunch").ok

    log = _run_worker_until_empty(environ)

    assert "copied 2 agent state changes" in log, log
    db.rollback()
    rows = db.scalars(select(AgentStateChange).order_by(AgentStateChange.at)).all()
    assert [(r.staff_id, r.state, r.reason) for r in rows] == [(7, "available", ""), (7, "break", "lunch")]
