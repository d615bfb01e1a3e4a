"""Faults: Redis stopped in the middle of calls, a worker killed with SIGKILL mid-batch.

Both use servers and processes of their own: a redis-server this module starts
on a free port (never the machine's), and a worker started with the project's
own command (`flask --app app worker --records`)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from datetime import timedelta
from pathlib import Path

import pytest
import redis as redis_lib
from sqlalchemy import func, select, text

from app import ROOT
from queueing import recording
from records import calls
from records.db import begin_write
from records.models import CallEvent, RecordSpool

MS_WANG = "13800138000"
FLASK = str(Path(sys.executable).parent / "flask")


class OwnRedis:
    """A redis-server of this module's own, stopped and started again by tests.  It keeps
    an append-only file, as a production Redis for RQ must, so jobs queued before it
    stopped are still there when it is back."""

    def __init__(self, directory: Path):
        self.directory = directory
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self.process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "yes",
                "--appendfsync",
                "always",
                "--dir",
                str(self.directory),
            ],
            stdout=subprocess.DEVNULL,
        )
        client = redis_lib.Redis.from_url(self.url)
        for _ in range(100):
            try:
                client.ping()
                return
            except redis_lib.ConnectionError:
                time.sleep(0.05)
        raise RuntimeError("own redis-server did not start")

    def stop(self) -> None:
        if self.process is not None:
            self.process.terminate()
            self.process.wait(10)
            self.process = None


@pytest.fixture(scope="module")
def own_redis(tmp_path_factory):
    server = OwnRedis(tmp_path_factory.mktemp("own-redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def redis_url(own_redis):
    """Every Redis client of these tests (app, worker, cleanup) uses the module's own server."""
    if own_redis.process is None:
        own_redis.start()
    return own_redis.url


def spooled(db) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(RecordSpool))


def test_redis_stopped_during_a_call_the_caller_hears_nothing_different_and_the_record_is_whole(
    dial, db, clock, records_worker, own_redis
):
    call = dial(MS_WANG)
    assert call.take_text().startswith("王女士您好")
    clock.now += timedelta(seconds=5)
    call.press("2")
    call.take_text()
    own_redis.stop()

    clock.now += timedelta(seconds=5)
    call.speak("我想问一下心内科在哪里。")
    heard = call.take_text()
    assert "心血管内科，位于门诊楼三层东区" in heard and "抱歉" not in heard
    clock.now += timedelta(seconds=5)
    call.press("1")  # its doctors
    assert "心血管内科" in call.take_text()
    call.hangup()
    assert call.errors == []
    waiting = spooled(db)
    assert waiting >= 3  # the two steps' events and the final status, at least
    assert calls.find_call(db, call.sid) is None

    own_redis.start()
    records_worker.work()  # the jobs queued before Redis stopped (kept in its append-only file)
    assert recording.replay_spool() == waiting
    assert spooled(db) == 0
    db.expire_all()
    record = calls.find_call(db, call.sid)
    assert record.status == "completed" and record.patient is not None and record.patient.mrn == "M00000001"
    assert record.menu_path == "menu.main > departments.start > departments.detail > doctors.list"
    kinds = [event.kind for event in sorted(record.events, key=lambda e: (e.at, e.sequence))]
    assert kinds.count("key") == 2 and kinds.count("speech") == 1
    before = [(e.sequence, e.kind) for e in record.events]

    # Replaying again, and the workers running again, change nothing.
    assert recording.replay_spool() == 0
    records_worker.work()
    db.rollback()
    db.expire_all()
    assert [(e.sequence, e.kind) for e in calls.find_call(db, call.sid).events] == before


def test_calls_made_while_redis_is_down_are_recorded_once_it_is_back(dial, db, records_worker, own_redis, app):
    own_redis.stop()
    made = []
    for number in (MS_WANG, "+8613912345678"):
        call = dial(number)
        assert "欢迎致电" in call.take_text()
        call.press("1")
        call.hangup()
        made.append(call.sid)
    assert calls.find_call(db, made[0]) is None
    own_redis.start()
    with app.app_context():  # what the operator runs (the worker pool also does it at start)
        result = app.test_cli_runner().invoke(args=["records", "replay-spool"])
    assert "replayed" in result.output and result.exit_code == 0
    db.rollback()
    for sid in made:
        record = calls.find_call(db, sid)
        assert record is not None and record.status == "completed" and record.menu_path.startswith("menu.main")
    assert calls.find_call(db, made[0]).patient_id is not None


# ---- a worker killed with SIGKILL ------------------------------------------------------------


def _start_worker(environ) -> subprocess.Popen:
    env = {**os.environ, **environ}
    env.pop("HOTLINE_CONFIG", None)
    return subprocess.Popen(
        [FLASK, "--app", "app", "worker", "--records", "--count", "1"],
        cwd=ROOT,
        env=env,
        start_new_session=True,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def _until(condition, seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while not condition():
        if time.monotonic() > deadline:
            raise AssertionError("timed out waiting")
        time.sleep(0.05)


def _pending(store) -> int:
    """Entries of the finished calls' stream read and not acknowledged (0 before any drain)."""
    try:
        return store.redis.xpending(store.keys.finished, "records")["pending"]
    except redis_lib.ResponseError:  # no consumer group yet
        return 0


def test_a_drain_job_killed_after_reading_loses_and_doubles_nothing(
    app, db, environ, records_worker, backend, monkeypatch
):
    """Issue 17: a call's record is written by a drain job from the finished calls' stream.
    Killed (SIGKILL) after it read the call and before it acknowledged it, the entry waits,
    read and unacknowledged; the next drain job takes it over and writes the call once."""
    from rq import Worker

    hotline = app.extensions["hotline"]
    queue, store = hotline.records_queue, hotline.calls
    caller = calls.CallerMatch("+8613800138000", (1,))
    opened = calls.CallOpened("CAkill", MS_WANG, "", caller, "zh", hotline.now())
    for second in range(5):
        store.add_events(
            "CAkill",
            hotline.now() + timedelta(seconds=second),
            [("key", {"digits": str(second)})],
            opened=opened if second == 0 else None,
        )
    worker = _start_worker(environ)
    try:
        _until(lambda: any(queue.name in w.queue_names() for w in Worker.all(connection=hotline.queue_redis)))
        # Hold the call's row to be (PostgreSQL: the same CallSid inserted, not committed) or
        # the database's write lock (SQLite), so the drain job is inside its transaction, the
        # entry read, when it is killed.
        begin_write(db)
        if backend == "postgresql":
            calls.open_call(db, opened)
            db.flush()
        else:
            db.execute(text("UPDATE call_records SET language = language WHERE call_sid = 'CAkill'"))
        store.status(calls.StatusCallback("CAkill", "completed", 7, 5, hotline.now() + timedelta(seconds=5)))
        _until(lambda: _pending(store) == 1)
        time.sleep(0.3)  # the job is waiting on the lock, inside its transaction
        os.killpg(worker.pid, signal.SIGKILL)
        worker.wait(10)
    finally:
        if worker.poll() is None:
            os.killpg(worker.pid, signal.SIGKILL)
            worker.wait(10)
    db.rollback()
    assert calls.find_call(db, "CAkill") is None

    # RQ's maintenance finds the job abandoned (here without waiting for its timeout) and
    # retries it, as RETRY allows; the entry's idle time is taken as past its claim time.
    monkeypatch.setattr(recording, "CLAIM_IDLE_MS", 0)
    queue.started_job_registry.cleanup(timestamp=time.time() + 10**6)
    for job_id in queue.scheduled_job_registry.get_job_ids():
        queue.scheduled_job_registry.requeue(job_id)
    records_worker.work()
    queue.enqueue(recording.drain_finished)  # and once more: nothing doubled
    records_worker.work()
    db.rollback()
    record = calls.find_call(db, "CAkill")
    rows = db.scalars(select(CallEvent).where(CallEvent.call_id == record.id).order_by(CallEvent.sequence)).all()
    numbered = [(calls.epoch_and_position(e.sequence)[1], e.detail["digits"]) for e in rows]
    assert numbered == [(i + 1, str(i)) for i in range(5)]
    assert (record.status, record.patient_id, record.reconstructed) == ("completed", 1, False)
    assert _pending(store) == 0
    assert queue.failed_job_registry.count == 0
