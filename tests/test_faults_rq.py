"""Redis restarted under the hotline's RQ processes (the test's own redis-server, never the
machine's): `flask worker`, the records pool (`flask worker --records --count 2`) and
`flask cron`, run as in production, go on by themselves once Redis is back, even though
it lost everything it held: an enqueued job runs, a retry RQ scheduled moves on, the cron
scheduler's jobs fire again, every process is listed again under its name, and the
supervisor pages' health line (queueing/health.py) sees each role alive again.  Each says
once that Redis went away and once that it is back, not a line per try."""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import pytest
import redis as redis_lib
from rq import Queue, Retry, Worker
from rq.cron import CronScheduler
from rq.registry import FinishedJobRegistry

from queueing import ROUTINE, URGENT, health, queue_name
from queueing.recording import RECORDS
from tests.conftest import AUTH_TOKEN
from tests.faults import Flask, OwnRedis

PREFIX = "fault:"
WAIT = 90  # seconds: a deadline for things that happen by themselves, not a measure


@pytest.fixture
def own_redis():
    server = OwnRedis().start()
    yield server
    server.close()


@pytest.fixture
def environ(database_url, own_redis):
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": own_redis.url,
        "REDIS_PREFIX": PREFIX,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    }


def wait_until(what: str, condition: Callable[[], object], *processes: Flask) -> None:
    deadline = time.monotonic() + WAIT
    while not condition():
        for process in processes:
            assert process.alive(), f"{process.command[4:]} ended:\n{process.output()[-3000:]}"
        if time.monotonic() > deadline:
            logs = "\n".join(f"--- {p.command[4:]}:\n{p.output()[-2000:]}" for p in processes)
            pytest.fail(f"not within {WAIT} s: {what}\n{logs}")
        time.sleep(0.2)


def names(connection) -> dict[str, set[str]]:
    """The workers RQ lists (by name), by the queues they take."""
    listed: dict[str, set[str]] = {}
    for worker in Worker.all(connection=connection):
        listed.setdefault(",".join(worker.queue_names()), set()).add(worker.name)
    return listed


def said(process: Flask, pattern: str) -> int:
    return len(re.findall(pattern, process.output()))


def test_the_worker_the_records_pool_and_cron_go_on_after_redis_restarts(environ, own_redis, tmp_path):
    connection = redis_lib.Redis.from_url(own_redis.url)
    urgent = Queue(queue_name(PREFIX, URGENT), connection=connection)
    records = Queue(queue_name(PREFIX, RECORDS), connection=connection)
    all_queues = ",".join(queue_name(PREFIX, kind) for kind in (URGENT, RECORDS, ROUTINE))

    with (
        Flask(environ, "worker") as worker,
        Flask(environ, "worker", "--records", "--count", "2") as pool,
        Flask(environ, "cron") as cron,
    ):
        processes = (worker, pool, cron)

        def listed() -> bool:
            workers = names(connection)
            return len(workers.get(all_queues, ())) == 1 and len(workers.get(records.name, ())) == 2

        wait_until("every worker is listed", listed, *processes)
        before = names(connection)
        wait_until("the cron scheduler is listed", lambda: CronScheduler.all(connection), *processes)
        wait_until("the supervisor pages see every role alive", lambda: health.check(connection, PREFIX).ok, *processes)

        own_redis.stop()
        for process in processes:
            wait_until(f"{process.command[4:]} notices", lambda p=process: said(p, "Redis unreachable"), *processes)
        own_redis.start()  # empty: everything it held is gone, as after a crash without persistence

        def mark(name: str) -> Path:
            return tmp_path / f"{name}-{uuid.uuid4().hex[:6]}"

        sms, record, retried = mark("urgent"), mark("records"), mark("retried")
        urgent.enqueue("tests.faults.leave_mark", str(sms), job_timeout=30)
        records.enqueue("tests.faults.leave_mark", str(record), job_timeout=30)
        # Fails once: its retry waits in RQ's scheduled registry until a live scheduler moves it.
        urgent.enqueue("tests.faults.fail_once", str(retried), job_timeout=30, retry=Retry(max=2, interval=1))
        wait_until("the worker runs a job enqueued after the restart", sms.exists, *processes)
        wait_until("the records pool runs one", record.exists, *processes)
        wait_until("a retry RQ scheduled after the restart runs", retried.exists, *processes)

        def cron_fired() -> bool:  # sweep_seats, every routing.sweep_seconds, run by the worker
            finished = FinishedJobRegistry(queue=urgent).get_job_ids()
            return any(
                job and job.func_name == "queueing.jobs.sweep_seats"
                for job in urgent.job_class.fetch_many(finished, connection)
            )

        wait_until("a cron job fires and runs after the restart", cron_fired, *processes)
        wait_until("every worker is listed again", lambda: names(connection) == before, *processes)
        wait_until("the cron scheduler is listed again", lambda: CronScheduler.all(connection), *processes)
        wait_until("and seen alive again", lambda: health.check(connection, PREFIX).ok, *processes)

        # Said once per process (the pool's two workers each once), not once per try: RQ's own
        # "retrying in N seconds" at most once per worker (a wait for a job cut short).
        logs = "\n".join(f"--- {p.command[4:]}:\n{p.output()[-3000:]}" for p in processes)
        assert [said(p, "Redis unreachable") for p in processes] == [1, 2, 1], logs
        assert [said(p, "Redis is back") for p in processes] == [1, 2, 1], logs
        assert said(worker, "retrying in") <= 1 and said(pool, "retrying in") <= 2 and not said(cron, "retrying"), logs
