"""Booking by phone, whole calls through the emulator: book a specialist or an exam,
hear, cancel and move appointments; full sessions and the cut-off."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr.flows.booking import reference
from records import booking, directory
from records.db import begin_write
from records.models import Appointment, ClinicSession, Patient, PatientNote, SmsMessage, WaitlistEntry
from tests.conftest import OPEN
from tests.test_calls import MS_WANG, assert_each_key_offered_once
from wording import speaking

MS_WANG_BIRTHDAY = "0502#"


@pytest.fixture
def ms_wang(db):
    return db.scalar(select(Patient).where(Patient.mrn == "M00000001"))


def identified(dial):
    """A call from Ms Wang, identified, at the booking menu."""
    call = dial(MS_WANG)
    call.press("5")
    call.press(MS_WANG_BIRTHDAY)
    assert "预约专家门诊请按1" in call.take_text()
    return call


def active(db, patient):
    # A fresh look: the server wrote since this session last read (end the snapshot,
    # forget the loaded rows).
    db.rollback()
    db.expire_all()
    return db.scalars(
        select(Appointment).where(Appointment.patient_id == patient.id, Appointment.status == "booked")
    ).all()


def test_booking_a_specialist_reads_back_confirms_and_gives_the_reference(dial, db, ms_wang, settings, clock):
    doctor = directory.load(db, OPEN).doctor("D001")
    first_day = booking.free_days(db, clock(), settings.booking, doctor_ids=[doctor.id])[0]
    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    assert "最早可预约的医生请按9" in call.take_text()
    call.press("1")  # the first doctor of the list: D001, his first free session read back at once
    read_back = call.take_text()
    assert read_back.startswith(f"您预约的是：{speaking.day(first_day, 'zh')}")
    assert "心血管内科张志远主任医师" in read_back and "确认预约请按1" in read_back
    assert active(db, ms_wang) == []  # nothing is booked before the caller confirms
    call.press("1")
    heard = call.take_text()
    [appointment] = active(db, ms_wang)
    assert f"您的就诊序号是{appointment.place}号，预约号是{reference(appointment.reference, 'zh')}" in heard
    assert appointment.date == first_day and appointment.doctor_id == doctor.id and appointment.call_sid == call.sid
    notes = db.scalars(select(PatientNote.kind).where(PatientNote.patient_id == ms_wang.id)).all()
    assert notes == ["booked"]
    [sms] = db.scalars(select(SmsMessage).where(SmsMessage.appointment_id == appointment.id)).all()
    assert sms.kind == "confirmation" and appointment.reference in sms.body
    assert sms.call_sid == call.sid  # the call's page lists the texts it sent
    call.press("*")  # the reference again
    assert reference(appointment.reference, "zh") in call.take_text()


def test_after_booking_each_key_is_offered_once_with_one_meaning(dial, db, ms_wang):
    # Issue 22, 12: star was offered twice, and hash meant both "the main menu" and "back".
    call = identified(dial)
    call.press("1")
    call.take_text()
    call.speak("心内科")
    assert_each_key_offered_once(call.take_text())
    for key in "1":  # the first doctor: his first session read back
        call.press(key)
        assert_each_key_offered_once(call.take_text())
    call.press("1")  # confirm
    heard = call.take_text()
    assert heard.startswith("预约成功")
    assert_each_key_offered_once(heard)
    assert "重听预约号请按星号键。" in heard  # said here: other menus leave * unsaid
    assert heard.endswith("继续预约请按1。留言或回电请按0。返回主菜单请按井号键。")
    call.press("*")
    assert call.take_text() == heard
    call.press("#")
    assert "医院介绍与特色服务请按1" in call.take_text()


def test_the_other_menus_after_an_action_offer_each_key_once(dial, db, ms_wang, settings, clock):
    book_first_free(db, ms_wang, settings, clock)
    call = identified(dial)
    for key in "312":  # my appointments, the first one, change it (the days)
        call.press(key)
        assert_each_key_offered_once(call.take_text())
    call.press("#")  # back to the appointment: cancel it
    assert "更改预约请按2" in call.take_text()
    call.press("1")
    assert_each_key_offered_once(call.take_text())
    call.press("1")
    after = call.take_text()
    assert after.startswith("预约已取消") and "您目前没有待就诊的预约" in after
    assert_each_key_offered_once(after)


def test_the_first_available_doctor(dial, db, ms_wang, settings, clock):
    ids = booking.department_doctor_ids(db, "CARD")
    first_day = booking.free_days(db, clock(), settings.booking, doctor_ids=ids)[0]
    first_session = booking.free_sessions(db, first_day, clock(), settings.booking, doctor_ids=ids)[0]
    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    call.take_text()
    call.press("9")  # read back at once: the department's earliest free session
    read_back = call.take_text()
    assert read_back.startswith(f"您预约的是：{speaking.day(first_day, 'zh')}") and "心血管内科" in read_back
    assert active(db, ms_wang) == []
    call.press("1")
    [appointment] = active(db, ms_wang)
    # The first day with a free place, and on it the first session of any of the department's doctors.
    assert appointment.date == first_day
    assert appointment.session_id == first_session.id and appointment.doctor_id in ids


def test_booking_an_exam_speaks_the_preparation(dial, db, ms_wang):
    call = identified(dial)
    call.press("2")
    assert "请选择检查项目" in call.take_text()
    call.speak("我要做B超")
    call.press("1")
    call.press("1")
    assert "超声检查" in call.take_text()
    call.press("1")
    heard = call.take_text()
    exam = booking.exam_type(db, "US")
    assert f"检查须知：{exam.preparation_zh}" in heard
    [appointment] = active(db, ms_wang)
    assert appointment.exam_type_id == exam.id
    [sms] = db.scalars(select(SmsMessage).where(SmsMessage.appointment_id == appointment.id)).all()
    assert exam.preparation_zh in sms.body


def book_first_free(db, patient, settings, clock, code="D002"):
    doctor = directory.load(db, clock()).doctor(code)
    day = booking.free_days(db, clock(), settings.booking, doctor_ids=[doctor.id])[0]
    session = booking.free_sessions(db, day, clock(), settings.booking, doctor_ids=[doctor.id])[0]
    result = booking.book(db, patient_id=patient.id, session_id=session.id, now=clock(), rules=settings.booking)
    db.commit()
    return result.appointment


def test_hearing_and_cancelling_an_appointment(dial, db, ms_wang, settings, clock):
    appointment = book_first_free(db, ms_wang, settings, clock)
    call = identified(dial)
    call.press("3")
    heard = call.take_text()
    assert "您有1个预约" in heard and speaking.day(appointment.date, "zh") in heard
    call.press("1")
    assert reference(appointment.reference, "zh") in call.take_text()
    call.press("1")
    assert "确认取消" in call.take_text()
    call.press("1")
    assert call.take_text().startswith("预约已取消")
    assert active(db, ms_wang) == []
    session = db.get(ClinicSession, appointment.session_id)
    assert session.booked == 0
    texts = db.execute(select(SmsMessage.kind, SmsMessage.call_sid).where(SmsMessage.patient_id == ms_wang.id)).all()
    assert ("cancellation", call.sid) in texts


def test_a_caller_who_switched_to_english_hears_and_reads_english(dial, db, ms_wang, settings, clock):
    # Issue 22, 21: Ms Wang's file says Mandarin, but she asked for English on this call: the
    # confirmation text was in Mandarin, and she heard "You have 1 upcoming appointments".
    book_first_free(db, ms_wang, settings, clock)
    call = dial(MS_WANG)
    call.press("9")
    call.press("5")
    call.press(MS_WANG_BIRTHDAY)
    assert "To book a specialist, press 1." in call.take_text()
    call.press("3")
    assert "You have 1 upcoming appointment:" in call.take_text()
    call.press("#")
    call.press("1")
    call.speak("cardiology")
    for key in "11":  # the first doctor (his first session read back); confirm
        call.press(key)
    assert "You are booked." in call.take_text()
    booked = [a for a in active(db, ms_wang) if a.call_sid == call.sid]
    [sms] = db.scalars(select(SmsMessage).where(SmsMessage.appointment_id == booked[0].id)).all()
    assert sms.body.startswith("【Minghu Demonstration Hospital】Ms Wang, you are booked:"), sms.body


def test_cancelling_inside_the_cut_off_is_refused_with_the_reason(dial, db, ms_wang, settings, clock):
    appointment = book_first_free(db, ms_wang, settings, clock)
    clock.now = booking.starts_at(appointment, clock()) - timedelta(minutes=settings.booking.cancel_cutoff_minutes - 10)
    call = identified(dial)
    call.press("3")
    call.press("1")
    call.press("1")
    call.take_text()
    call.press("1")
    assert "距离就诊时间已不足2小时" in call.take_text()
    assert [a.id for a in active(db, ms_wang)] == [appointment.id]


def test_moving_an_appointment_to_another_day(dial, db, ms_wang, settings, clock):
    appointment = book_first_free(db, ms_wang, settings, clock)
    call = identified(dial)
    call.press("3")
    call.press("1")
    call.press("2")  # change it
    sessions = call.take_text()
    assert "以下时段有号" in sessions
    call.press("2")  # another session (the first is the one she has)
    assert "原预约将同时取消" in call.take_text()
    call.press("1")
    assert call.take_text().startswith("改约成功，原预约已取消。")
    [new] = active(db, ms_wang)
    assert new.id != appointment.id and new.doctor_id == appointment.doctor_id
    assert appointment.status == "moved" and appointment.moved_to_id == new.id


def fill_while_listening(dial, db):
    """Ms Wang hears the read-back of Dr Zhang's first session; someone else then takes
    every remaining place before she presses 1.  The call and the session."""
    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    call.press("1")  # D001: his first session read back
    call.take_text()
    begin_write(db)
    session = db.scalars(
        select(ClinicSession)
        .where(ClinicSession.doctor_id == directory.load(db, OPEN).doctor("D001").id)
        .order_by(ClinicSession.date, ClinicSession.start_time)
    ).first()
    db.execute(
        ClinicSession.__table__.update()
        .where(ClinicSession.id == session.id)
        .values(booked=session.capacity - session.held_back)
    )
    db.commit()
    return call, session


def test_a_session_that_fills_up_while_the_caller_listens_offers_its_waiting_list(dial, db, ms_wang):
    call, session = fill_while_listening(dial, db)
    call.press("1")
    heard = call.take_text()
    day = speaking.day(session.date, "zh")
    assert heard.startswith(f"对不起，这个时段刚刚约满了。候补{day}上午8点，有空位时短信通知您，请按1。重新选择请按2。")
    assert_each_key_offered_once(heard)
    assert active(db, ms_wang) == []
    call.press("1")
    joined = call.take_text()
    assert joined.startswith(f"您已在候补名单中：{day}上午8点，心血管内科张志远主任医师。")
    assert "请在30分钟内回复1预约" in joined
    db.rollback()
    [entry] = db.scalars(select(WaitlistEntry).where(WaitlistEntry.patient_id == ms_wang.id)).all()
    assert (entry.session_id, entry.status, entry.channel, entry.call_sid) == (session.id, "waiting", "phone", call.sid)
    call.press("*")  # heard again: she is not put on the list twice
    assert call.take_text() == joined
    assert len(db.scalars(select(WaitlistEntry)).all()) == 1
    notes = db.scalars(select(PatientNote.kind).where(PatientNote.patient_id == ms_wang.id)).all()
    assert notes == ["waitlist"]


def test_choosing_again_instead_of_waiting(dial, db, ms_wang):
    call, session = fill_while_listening(dial, db)
    call.press("1")
    call.take_text()
    call.press("2")
    heard = call.take_text()
    assert heard.startswith("以下时段有号：") and speaking.day(session.date, "zh") + "上午" not in heard[:20]
    db.rollback()
    assert db.scalars(select(WaitlistEntry)).all() == []


def waiting_lists_off(app):
    """The hospital's switch `booking.waitlist: false`, set on the running app."""
    hotline = app.extensions["hotline"]
    hotline.settings = hotline.settings.model_copy(
        update={"booking": hotline.settings.booking.model_copy(update={"waitlist": False})}
    )


def test_with_waiting_lists_off_a_full_session_is_said_and_no_list_is_offered(dial, db, ms_wang, app):
    waiting_lists_off(app)
    call, _session = fill_while_listening(dial, db)
    call.press("1")
    heard = call.take_text()
    assert heard.startswith("对不起，这个时段刚刚约满了，请重新选择。")
    assert "以下时段有号" in heard and "候补" not in heard
    assert active(db, ms_wang) == []


def test_a_read_back_heard_again_after_its_session_filled_offers_the_waiting_list_right_there(dial, db, ms_wang):
    # Before: the read-back again, its "确认预约请按1" an option that could only be refused.
    call, session = fill_while_listening(dial, db)
    call.press("*")
    heard = call.take_text()
    day = speaking.day(session.date, "zh")
    assert heard.startswith(f"对不起，这个时段刚刚约满了。候补{day}上午8点，有空位时短信通知您，请按1。重新选择请按2。")
    assert "确认预约" not in heard
    assert_each_key_offered_once(heard)
    call.press("1")
    assert call.take_text().startswith(f"您已在候补名单中：{day}上午8点，心血管内科张志远主任医师。")
    db.rollback()
    [entry] = db.scalars(select(WaitlistEntry)).all()
    assert (entry.patient_id, entry.session_id, entry.status) == (ms_wang.id, session.id, "waiting")
    assert active(db, ms_wang) == []


def test_with_waiting_lists_off_a_read_back_heard_again_after_its_session_filled_says_nothing_of_waiting(
    dial, db, ms_wang, app
):
    waiting_lists_off(app)
    call, session = fill_while_listening(dial, db)
    call.press("*")
    heard = call.take_text()
    assert heard.startswith("对不起，这个时段刚刚约满了，请重新选择。以下时段有号：")
    assert "候补" not in heard and "确认预约" not in heard
    db.rollback()
    assert db.scalars(select(WaitlistEntry)).all() == [] and active(db, ms_wang) == []


def test_a_day_that_filled_up_offers_its_first_sessions_waiting_list(dial, db, ms_wang):
    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    call.press("9")  # the first available doctor's read-back
    call.press("2")  # another day: the department's days
    call.take_text()
    call.press("1")  # the first day's sessions
    assert "可预约的时段" in call.take_text()
    doctors = [d.id for d in directory.load(db, OPEN).doctors_in("CARD")]
    begin_write(db)
    first_day = db.scalar(
        select(ClinicSession.date)
        .where(
            ClinicSession.doctor_id.in_(doctors),
            ClinicSession.booked + ClinicSession.held_back < ClinicSession.capacity,
        )
        .order_by(ClinicSession.date)
    )
    db.execute(
        ClinicSession.__table__.update()
        .where(ClinicSession.doctor_id.in_(doctors), ClinicSession.date == first_day)
        .values(booked=ClinicSession.capacity - ClinicSession.held_back)
    )
    db.commit()
    call.press("*")  # the day's sessions again: none free now
    heard = call.take_text()
    assert heard.startswith(f"对不起，这个时段刚刚约满了。候补{speaking.day(first_day, 'zh')}上午8点")
    assert_each_key_offered_once(heard)


def test_another_patients_appointment_is_never_read_out(dial, db, ms_wang, settings, clock, app, server):
    other = db.scalar(select(Patient).where(Patient.mrn == "M00000002"))
    theirs = book_first_free(db, other, settings, clock)
    call = identified(dial)
    call.press("3")
    heard = call.take_text()
    assert "没有待就诊的预约" in heard
    assert reference(theirs.reference, "zh") not in heard
    assert booking.find(db, ms_wang.id, theirs.id) is None


def every_day_full(db, code="D001"):
    begin_write(db)
    doctor_id = directory.load(db, OPEN).doctor(code).id
    db.execute(
        ClinicSession.__table__.update()
        .where(ClinicSession.doctor_id == doctor_id)
        .values(booked=ClinicSession.capacity - ClinicSession.held_back)
    )
    db.commit()
    return db.scalars(
        select(ClinicSession).where(ClinicSession.doctor_id == doctor_id).order_by(ClinicSession.date)
    ).first()


def test_a_doctor_with_every_day_full_offers_the_first_sessions_waiting_list(dial, db, ms_wang):
    earliest = every_day_full(db)
    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    call.take_text()
    call.press("1")  # D001
    heard = call.take_text()
    day = speaking.day(earliest.date, "zh")
    assert heard.startswith(f"对不起，近14天内没有可预约的号源。候补{day}上午8点，有空位时短信通知您，请按1。")
    assert_each_key_offered_once(heard)
    call.press("1")
    assert call.take_text().startswith(f"您已在候补名单中：{day}上午8点")
    db.rollback()
    [entry] = db.scalars(select(WaitlistEntry)).all()
    assert (entry.patient_id, entry.session_id) == (ms_wang.id, earliest.id)


def test_a_doctor_with_every_day_full_says_so_and_offers_the_way_back(dial, db, app):
    waiting_lists_off(app)
    every_day_full(db)
    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    call.take_text()
    call.press("1")  # D001
    heard = call.take_text()
    assert "对不起，近14天内没有可预约的号源。" in heard
    assert "候补" not in heard and "请按1" not in heard
    assert "返回请按井号键" in heard
    call.press("#")
    assert "最早可预约的医生请按9" in call.take_text()  # back to the doctors the caller chose from
