"""Reminders the day before: which appointments, once; the patient's answer by
SMS ('1' confirms, '2' cancels) and on the reminder call; and when the
scheduler runs them."""

from __future__ import annotations

import os
import time
from datetime import timedelta

import pytest
import redis
from rq.cron import CronScheduler
from sqlalchemy import select

from queueing import context, jobs
from queueing.cron import reminder_cron
from records import booking
from records.models import Appointment, PatientNote, SmsMessage
from tests.conftest import OPEN
from tests.test_sms import (
    FAMILY_PHONE,
    MR_LI,
    MS_WANG,
    MS_WANG_PHONE,
    TOMORROW,
    ZHANG_LI,
    ZHANG_WEI,
    a_session,
    book,
    fresh,
    signed_post,
)
from tests.test_sms import worker as worker  # noqa: F401  (the fixture)


def notes(db, appointment: Appointment) -> list[str]:
    db.rollback()
    query = select(PatientNote.kind).where(PatientNote.appointment_id == appointment.id).order_by(PatientNote.id)
    return list(db.scalars(query))


def reply(app, number: str, body: str) -> str:
    response = signed_post(app, "/ivr/sms/incoming", {"From": number, "Body": body, "MessageSid": "SM" + "9" * 32})
    assert response.status_code == 200 and response.mimetype == "application/xml"
    return response.get_data(as_text=True)


@pytest.fixture
def tomorrows(db, settings):
    """Ms Wang and the Zhang family (one phone) tomorrow; Mr Li the day after."""
    return {
        "wang": book(db, settings, MS_WANG, a_session(db, TOMORROW)),
        "zhang_wei": book(db, settings, ZHANG_WEI, a_session(db, TOMORROW, nth=1)),
        "zhang_li": book(db, settings, ZHANG_LI, a_session(db, TOMORROW, exam="US")),
        "li_later": book(db, settings, MR_LI, a_session(db, TOMORROW + timedelta(days=1))),
    }


# ---- the reminder run --------------------------------------------------------------------------


def test_reminders_go_to_tomorrows_booked_appointments_once(db, settings, worker, carrier, tomorrows):
    cancelled = book(db, settings, MR_LI, a_session(db, TOMORROW, nth=2))
    booking.cancel(db, patient_id=cancelled.patient_id, appointment_id=cancelled.id, now=OPEN, rules=settings.booking)
    db.commit()

    assert jobs.send_reminders() == 3
    assert jobs.send_reminders() == 0  # a second run (a retry, a second scheduler) adds nothing
    worker.work()

    reminders = db.scalars(select(SmsMessage).where(SmsMessage.kind == "reminder").order_by(SmsMessage.id)).all()
    expected = [tomorrows[name].id for name in ("wang", "zhang_wei", "zhang_li")]
    assert [m.appointment_id for m in reminders] == expected
    assert [m.to_number for m in reminders] == [MS_WANG_PHONE, FAMILY_PHONE, FAMILY_PHONE]
    assert all(m.status == "sent" for m in reminders) and len(carrier.messages) == 3
    # ...and one call each, placed through the carrier, ringing the patients' phones.
    assert sorted(c.to for c in carrier.calls) == sorted([MS_WANG_PHONE, FAMILY_PHONE, FAMILY_PHONE])
    for name, appointment in tomorrows.items():
        assert (fresh(db, Appointment, appointment.id).reminded_at is not None) is (name != "li_later")
    assert notes(db, tomorrows["wang"]) == ["booked", "reminded", "reminder_call"]
    assert fresh(db, Appointment, cancelled.id).reminded_at is None


# ---- answering by SMS --------------------------------------------------------------------------


def test_a_reply_confirms_or_cancels_the_appointment_reminded_to_that_number(app, db, settings, worker, tomorrows):
    jobs.send_reminders()
    wang = tomorrows["wang"]

    assert "回复1确认就诊，回复2取消预约" in reply(app, "13800138000", "好的")  # not an answer: how to answer
    answer = reply(app, "13800138000", "１")  # full-width, as phones type it
    assert "已确认" in answer and wang.reference in answer
    assert fresh(db, Appointment, wang.id).confirmed_at == OPEN
    assert "已取消" in reply(app, "+86 138 0013 8000", "2")
    assert fresh(db, Appointment, wang.id).status == "cancelled"
    assert notes(db, wang)[-2:] == ["confirmed", "cancelled"]
    assert "没有找到需要回复的预约" in reply(app, "13800138000", "1")  # nothing left to answer for

    # Mr Li's appointment (the day after) was not reminded: his number has nothing to answer for.
    assert "没有找到需要回复的预约" in reply(app, "+8613910002000", "2")
    assert fresh(db, Appointment, tomorrows["li_later"].id).status == "booked"


def test_a_shared_number_must_say_which_appointment(app, db, settings, worker, tomorrows):
    jobs.send_reminders()
    wei, li = tomorrows["zhang_wei"], tomorrows["zhang_li"]
    asked = reply(app, FAMILY_PHONE, "2")
    assert "此号码有2个待回复的预约" in asked
    assert fresh(db, Appointment, wei.id).status == fresh(db, Appointment, li.id).status == "booked"

    assert "已取消" in reply(app, FAMILY_PHONE, f"2 {li.reference}")
    assert fresh(db, Appointment, li.id).status == "cancelled"
    answer = reply(app, FAMILY_PHONE, "1")  # one left: no reference needed
    assert "已确认" in answer and wei.reference in answer and li.reference not in answer
    assert fresh(db, Appointment, wei.id).confirmed_at is not None


def test_cancelling_by_sms_obeys_the_cut_off(app, db, settings, worker, clock, tomorrows):
    jobs.send_reminders()
    wang = tomorrows["wang"]
    clock.now = booking.starts_at(wang, OPEN) - timedelta(minutes=settings.booking.cancel_cutoff_minutes - 1)
    assert "无法通过短信取消" in reply(app, MS_WANG_PHONE, "2")
    assert fresh(db, Appointment, wang.id).status == "booked"


# ---- the reminder call -------------------------------------------------------------------------


def ring(carrier, db, appointment: Appointment, number: str = MS_WANG_PHONE):
    db.rollback()  # nothing held while the call's webhooks write
    jobs.call_reminder(appointment.id)
    call = carrier.ringing(number)
    call.answer()
    return call


def test_on_the_reminder_call_1_confirms_and_0_puts_through(db, worker, carrier, tomorrows):
    wang = tomorrows["wang"]
    call = ring(carrier, db, wang)
    heard = call.take_text()
    assert "明湖示范医院" in heard and "王女士的就诊提醒" in heard and "11月25日周三上午" in heard
    department = fresh(db, Appointment, wang.id).session.doctor.department.name_zh
    assert department in heard and "秀英" not in heard
    call.press("1")
    assert "已为您确认" in call.take_text() and call.ended
    assert fresh(db, Appointment, wang.id).confirmed_at == OPEN
    assert notes(db, wang)[-2:] == ["reminder_call", "confirmed"]
    assert db.scalar(select(PatientNote.call_sid).where(PatientNote.kind == "confirmed")) == call.sid

    # On another reminder call, 0 puts the patient through to a person (the seats' queue;
    # with no agent logged in they are offered a voicemail or a callback).
    family_call = ring(carrier, db, tomorrows["zhang_wei"], FAMILY_PHONE)
    assert "张先生的就诊提醒" in family_call.take_text()
    family_call.press("0")
    assert "目前没有工作人员可以接听" in family_call.take_text() and family_call.waiting_for == "gather"


def test_on_the_reminder_call_2_cancels_after_asking_again(db, worker, carrier, tomorrows):
    wang = tomorrows["wang"]
    call = ring(carrier, db, wang)
    call.press("2")
    assert "您确定要取消" in call.take_text()
    call.press("1")
    assert "已为您取消预约" in call.take_text() and call.ended
    assert fresh(db, Appointment, wang.id).status == "cancelled"
    worker.work()  # the cancellation text, queued by the call
    assert [m.body for m in carrier.messages][-1].startswith("【明湖示范医院】王女士您")
    db.rollback()
    # Kept with the reminder call, so the call's page lists it (issue 5's "SMS sent").
    sms = db.scalar(select(SmsMessage).where(SmsMessage.kind == "cancellation"))
    assert sms.call_sid == call.sid


def test_an_answering_machine_hears_nothing_medical(db, worker, carrier, tomorrows):
    carrier.set_endpoint(MS_WANG_PHONE, "machine")
    db.rollback()
    jobs.call_reminder(tomorrows["wang"].id)
    [call] = carrier.calls
    call.wait(0)  # hear it out
    assert call.answered_by == "machine_start" and call.ended
    heard = call.take_text()
    assert "明湖示范医院" in heard and "0 1 0" in heard
    for private in ("王", "提醒", "11月", "上午", "预约"):
        assert private not in heard
    assert "reminder_machine" in notes(db, tomorrows["wang"])
    assert fresh(db, Appointment, tomorrows["wang"].id).confirmed_at is None


# ---- the schedule ------------------------------------------------------------------------------


@pytest.fixture
def local_zone():
    """Run as if the machine's clock were set to another zone (TZ), then put it back."""
    saved = os.environ.get("TZ")

    def use(zone: str) -> None:
        os.environ["TZ"] = zone
        time.tzset()

    yield use
    if saved is None:
        os.environ.pop("TZ", None)
    else:
        os.environ["TZ"] = saved
    time.tzset()


# (Scheduler's zone, the expression it is given.)  18:00 in Beijing is 10:00 UTC, 15:30 in India.
ZONES = [("UTC", "0 10 * * *"), ("Asia/Shanghai", "0 18 * * *"), ("Asia/Kolkata", "30 15 * * *")]


def test_reminders_are_scheduled_at_the_reminder_time_in_the_hospitals_zone(
    redis_url, redis_prefix, monkeypatch, local_zone
):
    """RQ's cron reads its expression in the scheduler's local time, so the reminder time
    (hospital time) is converted to it: whatever zone the scheduler runs in, it is 10:00 UTC."""
    monkeypatch.setenv("REDIS_URL", redis_url)
    monkeypatch.setenv("REDIS_PREFIX", redis_prefix)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    context.reset()
    settings = context.get().settings
    assert (settings.booking.reminder_time, settings.hospital.timezone) == ("18:00", "Asia/Shanghai")
    for zone, expression in ZONES:
        local_zone(zone)
        assert reminder_cron(settings) == expression
        scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
        scheduler.load_config_from_file("queueing.cron")
        entries = {job.name: job for job in scheduler.get_jobs()}
        due = entries["send_reminders"].next_enqueue_time
        assert (due.hour, due.minute, due.utcoffset()) == (10, 0, timedelta(0)), zone
        assert entries["send_reminders"].queue_name == f"{redis_prefix}routine"
        assert entries["requeue_stuck_sms"].interval == 300
    context.reset()
