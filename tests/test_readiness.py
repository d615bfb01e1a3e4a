"""/healthz and /readyz as a probe sees them: no login, JSON with each check's state.

Readiness is read from the real processes: a general worker (`flask worker`), a records
worker (`flask worker --records`) and the scheduler (`flask cron`) on a Redis of the test's own, which the test stops and
starts again (with its append-only file, as production's Redis keeps one)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import pytest

import settings as settings_module
from app import ROOT, create_app
from queueing.health import ROLES
from tests.conftest import AUTH_TOKEN
from tests.faults import OwnRedis

OWN = ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "TWILIO_AUTH_TOKEN", "HOTLINE_CONFIG", "TWILIO_API_BASE")


@pytest.fixture
def own_redis():
    server = OwnRedis(persistent=True).start()
    yield server
    server.close()


@pytest.fixture
def environ(database_url, own_redis):
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": own_redis.url,
        "REDIS_PREFIX": "health:",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    }


class Process:
    """`flask --app app <args>` in the background with the test's environment."""

    def __init__(self, environ: dict[str, str], *args: str):
        env = {k: v for k, v in os.environ.items() if k not in OWN} | environ
        self.log = Path(tempfile.mkstemp(prefix="hotline-process-", suffix=".log")[1])
        self.process = subprocess.Popen(
            [sys.executable, "-m", "flask", "--app", "app", *args],
            cwd=ROOT,
            env=env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)  # as systemd stops it: RQ's warm shutdown
            try:
                # As patient as hotline-records.service (90 s): a job in hand on a loaded machine
                # finishes first, and a worker killed outright stays in RQ's registry for 480 s.
                self.process.wait(90)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(10)
        if self.log.exists():  # shown by pytest if the test failed
            print(f"--- flask {' '.join(self.process.args[4:])} (exit {self.process.returncode}):")
            print(self.log.read_text(errors="replace")[-3000:])
            self.log.unlink()


@pytest.fixture
def background(environ):
    started: list[Process] = []

    def start(*args: str) -> Process:
        started.append(Process(environ, *args))
        return started[-1]

    yield start
    for process in started:
        process.stop()


def until(client, wanted, seconds: float = 120) -> dict:
    """/readyz's answer once `wanted(answer)` holds (the processes take a moment to start: on
    the 2-core machine under the whole suite, once more than 60 s)."""
    deadline = time.monotonic() + seconds
    while True:
        response = client.get("/readyz")
        state = response.get_json() | {"status": response.status_code}
        if wanted(state):
            return state
        assert time.monotonic() < deadline, state
        time.sleep(0.2)


def test_healthz_answers_without_a_login(app):
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok"}


def test_ready_only_with_every_job_process_and_not_while_redis_is_down(app, own_redis, background):
    client = app.test_client()
    state = client.get("/readyz")
    answer = state.get_json()
    assert state.status_code == 503 and answer["ready"] is False
    assert answer["checks"]["database"]["ok"] and answer["checks"]["redis"]["ok"]
    assert answer["checks"]["records_worker"] == {"ok": False, "alive": 0, "reason": "no heartbeat in the last 120 s"}
    assert {role for role, check in answer["checks"].items() if not check["ok"]} == set(ROLES)

    general = background("worker")  # urgent, records, routine; holds the urgent queue's retry lock
    records = background("worker", "--records", "--count", "1")
    scheduler = background("cron")
    # Two records workers: the general worker takes the records queue too.
    ready = until(client, lambda s: s["ready"] and s["checks"]["records_worker"].get("alive") == 2)
    assert ready["status"] == 200
    assert ready["checks"]["scheduler"] == {"ok": True, "alive": 1}

    general.stop()  # as systemd stops it (RQ's warm shutdown leaves the registry at once)
    gone = until(client, lambda s: not s["checks"]["worker"]["ok"])
    assert gone["status"] == 503 and gone["checks"]["records_worker"] == {"ok": True, "alive": 1}
    records.stop()
    assert until(client, lambda s: not s["checks"]["records_worker"]["ok"])["checks"]["scheduler"]["ok"]
    scheduler.stop()
    assert until(client, lambda s: not s["checks"]["scheduler"]["ok"])["checks"]["scheduler"]["alive"] == 0

    general = background("worker")
    background("worker", "--records", "--count", "1")
    background("cron")
    until(client, lambda s: s["ready"])
    own_redis.stop()
    down = until(client, lambda s: not s["ready"], seconds=10)
    assert down["status"] == 503
    assert down["checks"]["redis"] == {"ok": False, "reason": "redis.exceptions.ConnectionError"}
    assert down["checks"]["records_worker"] == {"ok": False, "reason": "Redis does not answer"}
    assert down["checks"]["database"]["ok"] is True

    own_redis.start()  # with its append-only file: the heartbeats are there again
    back = until(client, lambda s: s["ready"])
    assert back["status"] == 200 and back["checks"]["redis"] == {"ok": True}
    assert general.process.poll() is None  # the general worker waited the outage out


def test_a_database_not_migrated_to_head_is_not_ready(environ, clock, tmp_path):
    environ = environ | {"DATABASE_URL": f"sqlite:///{tmp_path / 'empty.db'}"}
    app = create_app(settings_module.load(ROOT / "config.yaml", environ=environ), clock=clock)
    answer = app.test_client().get("/readyz")
    database = answer.get_json()["checks"]["database"]
    assert answer.status_code == 503
    assert database["ok"] is False and database["revision"] == [] and database["head"]
    assert "alembic upgrade head" in database["reason"]
    app.extensions["hotline"].engine.dispose()


def test_readiness_shows_no_connection_string(environ, clock):
    secret = "postgresql://hotline:pa55word@127.0.0.1:1/hotline"
    app = create_app(
        settings_module.load(ROOT / "config.yaml", environ=environ | {"DATABASE_URL": secret}), clock=clock
    )
    answer = app.test_client().get("/readyz")
    assert answer.status_code == 503
    assert "pa55word" not in answer.get_data(as_text=True)
    assert answer.get_json()["checks"]["database"] == {"ok": False, "reason": "sqlalchemy.exc.OperationalError"}
