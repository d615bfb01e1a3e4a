"""Redis stopped in the middle of a call and started again (the test's own redis-server,
never the machine's): the menus go on from what travels in their URLs and the directory
snapshot, '0' still reaches the operator, and once Redis is back calls are whole again."""

import time

import pytest
from sqlalchemy import func, select

from records.models import CallEvent, CallRecord, RecordSpool
from tests.conftest import AUTH_TOKEN
from tests.faults import Flask, OwnRedis
from tests.test_calls import MS_WANG, OPERATOR, UNKNOWN, dialled

APOLOGY = "对不起，系统暂时出现问题"


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
        "REDIS_PREFIX": "fault:",
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    }


def record(db, call_sid, records_worker) -> CallRecord:
    # Records are written by the records queue's workers, spooled ones once Redis is back.
    from queueing import recording

    recording.replay_spool()
    records_worker.work()
    db.rollback()
    db.expire_all()
    return db.scalar(select(CallRecord).where(CallRecord.call_sid == call_sid))


def test_redis_stopped_mid_call_the_menus_go_on_and_zero_reaches_the_operator(
    dial, carrier, own_redis, db, records_worker, app
):
    # A menu speaks of '0' from a reading of the seats up to 2 s old (ACD.skills_logged_in_lately);
    # Redis stops here between two steps milliseconds apart: read afresh at each step.
    app.extensions["hotline"].acd.skills_max_age = 0.0
    carrier.set_endpoint(OPERATOR, behaviour="answer")
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    departments = call.take_text()
    assert "请按1" in departments

    own_redis.stop()
    call.press("1")  # a department's details: from the directory snapshot, no Redis needed
    heard = call.take_text()
    assert APOLOGY not in heard and "请按" in heard and call.waiting_for == "gather"
    call.press("#")  # back to the departments
    # The same list; without the seats' state 0 rings the operator, so it offers a person
    # (with Redis, nobody was logged in: a message or a callback).
    assert call.take_text() == departments.replace("留言或回电请按0", "人工服务请按0")

    late = dial(MS_WANG)  # a call that comes in while Redis is down is greeted as usual
    assert "王女士您好" in late.take_text() and late.waiting_for == "gather"
    late.press("0")
    assert dialled(late) == [OPERATOR]

    call.press("0")
    assert APOLOGY not in call.take_text()
    assert dialled(call) == [OPERATOR]

    own_redis.start()
    call.hangup()
    late.hangup()
    for sid in (call.sid, late.sid):
        assert record(db, sid, records_worker).status == "completed"  # one record each, closed by the status callback


def test_after_redis_is_back_calls_keep_their_events_again(dial, own_redis, db, records_worker):
    own_redis.stop()
    own_redis.start()  # empty: everything it held is gone, as after a crash without persistence
    call = dial(UNKNOWN)
    call.press("1")
    call.hangup()
    closed = record(db, call.sid, records_worker)
    assert closed.status == "completed"
    assert closed.menu_path == "menu.main > introduction.start"
    kinds = db.scalars(select(CallEvent.kind).where(CallEvent.call_id == closed.id)).all()
    assert "menu" in kinds


def spooled(db) -> int:
    db.rollback()
    return db.scalar(select(func.count()).select_from(RecordSpool))


def whole(db, sid) -> bool:
    db.rollback()
    db.expire_all()
    found = db.scalar(select(CallRecord).where(CallRecord.call_sid == sid))
    return found is not None and found.status == "completed" and found.menu_path == "menu.main > introduction.start"


def test_the_records_worker_replays_the_spool_by_itself_once_redis_is_back(dial, own_redis, db, environ):
    # Issue 16: calls made while Redis was away were written only when someone ran
    # `flask records replay-spool` (or a minute later, if the cron scheduler had lived).
    with Flask(environ, "worker", "--records", "--count", "1") as pool:
        wait_until("the records worker listens", lambda: "Listening on" in pool.output(), pool)
        own_redis.stop()
        call = dial(UNKNOWN)
        call.press("1")
        call.hangup()
        assert call.errors == [] and spooled(db) >= 3
        wait_until("the worker notices", lambda: "Redis unreachable" in pool.output(), pool)
        own_redis.start()  # empty, as after a crash without persistence
        wait_until("the spooled call is written, no command run", lambda: whole(db, call.sid), pool)
        assert spooled(db) == 0


def test_the_first_job_redis_takes_again_brings_the_spool_with_it(dial, own_redis, db, records_worker):
    own_redis.stop()
    away = dial(UNKNOWN)
    away.press("1")
    away.hangup()
    assert spooled(db) >= 3
    own_redis.start()
    back = dial(MS_WANG)  # this web process spooled: its next enqueue asks for a replay too
    back.press("1")
    back.hangup()
    records_worker.work()  # the records workers, nobody else
    assert whole(db, away.sid) and whole(db, back.sid)
    assert spooled(db) == 0


def wait_until(what: str, condition, process: Flask, seconds: float = 90) -> None:
    """A deadline for what happens by itself, not a measure."""
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.alive(), process.output()[-3000:]
        if time.monotonic() > deadline:
            pytest.fail(f"not within {seconds} s: {what}\n{process.output()[-3000:]}")
        time.sleep(0.2)
