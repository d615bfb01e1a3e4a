"""A web worker killed in the middle of a call, and the carrier posting the same
callback three times.

The worker test serves the hotline with gunicorn (2 workers) and SIGKILLs every worker
between two steps of a call, so the next step is served by a process that has never
seen the call: it must go on from the call's state in Redis (here: who the caller
proved to be), and the call must still end with one complete record."""

import os
import signal
import time

from sqlalchemy import func, select

from emulator import Carrier
from records.models import CallEvent, CallRecord
from tests.conftest import AUTH_TOKEN
from tests.gunicorn_server import Gunicorn
from tests.test_booking_calls import MS_WANG_BIRTHDAY
from tests.test_calls import MS_WANG, UNKNOWN


def fresh(db, call_sid, records_worker):
    records_worker.work()  # records are written by the records queue's workers
    db.rollback()
    db.expire_all()
    record = db.scalar(select(CallRecord).where(CallRecord.call_sid == call_sid))
    events = db.scalar(select(func.count()).select_from(CallEvent).where(CallEvent.call_id == record.id))
    return record, events


def test_a_worker_killed_mid_call_the_next_process_continues_from_redis(environ, settings, db, records_worker):
    with Gunicorn(environ, workers=2, threads=2, app="tests.fixed_clock_app:create()") as server:
        carrier = Carrier(account_sid=settings.env.twilio_account_sid, auth_token=AUTH_TOKEN)
        carrier.add_number(settings.hospital.main_number, voice_url=f"{server.url}/ivr/voice",
                           status_callback=f"{server.url}/ivr/status", status_events=("completed",))  # fmt: skip
        call = carrier.dial(to=settings.hospital.main_number, from_=MS_WANG)
        call.press("5")
        call.press(MS_WANG_BIRTHDAY)
        assert "预约专家门诊请按1" in call.take_text()  # identified: kept in Redis

        killed = server.workers()
        for pid in killed:
            os.kill(pid, signal.SIGKILL)
        deadline = time.monotonic() + 20
        while not (len(fresh_pids := server.workers()) == 2 and not set(fresh_pids) & set(killed)):
            assert time.monotonic() < deadline, "gunicorn did not replace its workers"
            time.sleep(0.05)

        call.press("1")  # a specialist: a step that requires an identified caller
        heard = call.take_text()
        assert "出生" not in heard  # not asked to identify again
        call.speak("心内科")
        assert "最早可预约的医生请按9" in call.take_text()
        assert call.errors == []
        call.hangup()
        record, events = fresh(db, call.sid, records_worker)
        assert record.status == "completed" and record.patient_id is not None
        assert "booking" in record.menu_path and events >= 5


def test_the_same_status_callback_three_times_makes_one_record_with_its_events_once(dial, carrier, db, records_worker):
    call = dial(UNKNOWN)
    call.press("2")
    call.press("1")
    call.hangup()
    once, events = fresh(db, call.sid, records_worker)
    summary = (once.status, once.ended_at, once.duration_seconds, once.menu_path, once.outcome)
    carrier.repost_status(call, times=2)  # the same callback, identically signed, twice more
    again, events_again = fresh(db, call.sid, records_worker)
    assert (again.status, again.ended_at, again.duration_seconds, again.menu_path, again.outcome) == summary
    assert events_again == events
    assert db.scalar(select(func.count()).select_from(CallRecord).where(CallRecord.call_sid == call.sid)) == 1
    assert [code for d in call.deliveries for code in d.responses] == [204, 204, 204]
