"""Redis stopped in the middle of a call and started again (the test's own redis-server,
never the machine's): the menus go on from what travels in their URLs and the directory
snapshot, '0' still reaches the operator, and once Redis is back calls are whole again."""

import pytest
from sqlalchemy import select

from records.models import CallEvent, CallRecord
from tests.conftest import AUTH_TOKEN
from tests.faults import OwnRedis
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
    dial, carrier, own_redis, db, records_worker
):
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
    assert call.take_text() == departments

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
