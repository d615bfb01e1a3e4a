"""PostgreSQL unreachable for a while (a TCP proxy the test controls cuts every
connection and refuses new ones): calls in progress go on through the menus, a call
that comes in meanwhile is greeted, and once the database is back the status callbacks
write both calls' records."""

import pytest
import sqlalchemy as sa
from sqlalchemy import select

from records.models import CallRecord
from tests.conftest import AUTH_TOKEN
from tests.faults import Proxy
from tests.test_calls import MS_WANG, UNKNOWN

APOLOGY = "对不起，系统暂时出现问题"


@pytest.fixture
def proxy(backend, database_url):
    if backend != "postgresql":
        pytest.skip("a database server to lose: PostgreSQL only")
    url = sa.make_url(database_url)
    proxy = Proxy(url.host or "127.0.0.1", url.port or 5432)
    yield proxy
    proxy.close()


@pytest.fixture
def environ(database_url, redis_url, redis_prefix, proxy):
    through_proxy = sa.make_url(database_url).set(host="127.0.0.1", port=proxy.port)
    return {
        "DATABASE_URL": through_proxy.render_as_string(hide_password=False),
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
    }


def test_calls_go_on_while_the_database_is_away_and_their_records_land_after(dial, proxy, db, records_worker):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")  # the departments (the directory snapshot is loaded by now)
    departments = call.take_text()

    proxy.cut()
    call.press("1")
    heard = call.take_text()
    assert APOLOGY not in heard and "请按" in heard and call.waiting_for == "gather"
    call.press("1")  # the department's doctors
    assert APOLOGY not in call.take_text() and call.waiting_for == "gather"
    call.press("#")
    assert "查询本科室医生请按1" in call.take_text()  # back to the department the caller came from
    call.press("#")
    assert departments in call.take_text()  # and to the list

    during = dial(MS_WANG)  # the caller's file cannot be looked up: a plain greeting, the menus work
    greeting = during.take_text()
    assert "欢迎致电" in greeting and APOLOGY not in greeting
    during.press("1")
    assert APOLOGY not in during.take_text() and during.waiting_for == "gather"

    proxy.restore()
    call.hangup()
    during.hangup()
    records_worker.work()  # the records' jobs waited in Redis for the database
    db.rollback()
    db.expire_all()
    first = db.scalar(select(CallRecord).where(CallRecord.call_sid == call.sid))
    second = db.scalar(select(CallRecord).where(CallRecord.call_sid == during.sid))
    assert first.status == "completed" and first.menu_path.startswith("menu.main > departments.start")
    # Opened by its status callback (its first webhook could not reach the database),
    # with the events Redis kept for it.
    assert second.status == "completed" and second.menu_path == "menu.main > introduction.start"
