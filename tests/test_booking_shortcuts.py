"""Shorter booking by phone (issue 20), whole calls through the emulator: after
identification (never before) a patient hears their next appointment first, with a key to
cancel or change it; a returning patient is offered their last doctor's first free
session; a doctor's page offers to book that doctor."""

from datetime import timedelta

import pytest
from sqlalchemy import select

from ivr.flows.booking import reference
from records import booking, calls, directory
from records.db import begin_write
from records.models import ClinicSession, Patient
from tests import twiml
from tests.test_booking_calls import MS_WANG_BIRTHDAY, active, book_first_free, identified
from tests.test_calls import MS_WANG, UNKNOWN, assert_each_key_offered_once
from wording import speaking


@pytest.fixture
def ms_wang(db):
    return db.scalar(select(Patient).where(Patient.mrn == "M00000001"))


def first_free(db, settings, now, code):
    doctor = directory.load(db, now).doctor(code)
    day = booking.free_days(db, now, settings.booking, doctor_ids=[doctor.id])[0]
    return booking.free_sessions(db, day, now, settings.booking, doctor_ids=[doctor.id])[0]


# ---- the next appointment, after identification ------------------------------------------------


def identified_in_english(dial):
    """A call from Ms Wang who chose English (9), identified at booking (5): the call, and what
    she hears once identified."""
    call = dial(MS_WANG)
    call.press("9")
    call.press("5")
    call.take_text()
    call.press(MS_WANG_BIRTHDAY)
    return call, call.take_text()


def test_the_next_appointment_is_said_first_after_identification_and_never_before(dial, db, ms_wang, settings, clock):
    appointment = book_first_free(db, ms_wang, settings, clock)  # Dr Wang Jianguo (D002), cardiology
    day = speaking.day(appointment.date, "zh")
    call = dial(MS_WANG)
    greeting = call.take_text()
    call.press("5")
    asked = call.take_text()
    for before in (greeting, asked):  # a phone number is not an identification
        assert day not in before and "下一个预约" not in before and "王建国" not in before
    call.press(MS_WANG_BIRTHDAY)
    heard = call.take_text()
    assert heard.startswith(f"您的下一个预约是：{day}上午8点，心血管内科王建国主任医师。取消或更改请按4。")
    assert "预约专家门诊请按1，预约检查请按2，查询、取消或改约请按3。" in heard
    assert_each_key_offered_once(heard)
    call.press("4")
    detail = call.take_text()
    assert reference(appointment.reference, "zh") in detail and "取消预约请按1，更改预约请按2" in detail
    call.press("1")
    assert "确认取消" in call.take_text()
    call.press("1")
    assert call.take_text().startswith("预约已取消")
    assert active(db, ms_wang) == []


def test_the_next_appointment_in_english(dial, db, ms_wang, settings, clock):
    appointment = book_first_free(db, ms_wang, settings, clock)
    call, heard = identified_in_english(dial)
    day = speaking.day(appointment.date, "en")
    assert heard.startswith(
        f"Your next appointment is Chief Physician Wang Jianguo, Cardiology, {day}, morning, from 8 am. "
        "To cancel or change it, press 4."
    ), heard
    call.press("4")
    assert "To cancel it, press 1. To change it, press 2." in call.take_text()
    call.press("2")  # change it: the same doctor's free sessions
    assert "These sessions have free places" in call.take_text()


def test_without_appointments_the_booking_menu_is_as_before(dial, db, ms_wang):
    call = identified(dial)  # asserts the booking menu
    call.press("*")
    heard = call.take_text()
    assert heard.startswith("预约专家门诊请按1")
    assert "下一个预约" not in heard and "再次预约" not in heard
    call.press("4")  # not offered: a wrong key
    assert call.take_text().startswith("对不起，您按的")


# ---- a returning patient: their last doctor first ------------------------------------------------


def test_a_returning_patient_books_their_last_doctor_in_seven_keys(dial, db, ms_wang, settings, clock):
    visit = book_first_free(db, ms_wang, settings, clock, code="D001")  # 张志远, cardiology
    clock.now = clock.now + timedelta(days=7)  # a week after the visit
    assert visit.date < clock.now.date()
    session = first_free(db, settings, clock(), "D001")
    day = speaking.day(session.date, "zh")
    call = dial(MS_WANG)
    call.press("5")
    call.take_text()
    call.press(MS_WANG_BIRTHDAY)
    heard = call.take_text()
    # The offer is the read-back: department, doctor, day and time, then its key.
    assert heard.startswith(f"心血管内科张志远主任医师，{day}上午8点，再次预约请按5。")
    assert "下一个预约" not in heard  # the visit is past: nothing coming
    assert [a.id for a in active(db, ms_wang)] == [visit.id]  # nothing booked before the caller presses it
    assert_each_key_offered_once(heard)
    call.press("5")
    assert call.take_text().startswith("预约成功")
    keys = [e.text.removeprefix("pressed ") for e in call.log if e.kind == "event" and e.text.startswith("pressed ")]
    assert len("".join(keys)) == 7
    [new] = [a for a in active(db, ms_wang) if a.id != visit.id]
    assert new.session_id == session.id and new.call_sid == call.sid


def test_a_returning_patient_hears_the_offer_in_english(dial, db, ms_wang, settings, clock):
    book_first_free(db, ms_wang, settings, clock, code="D001")
    clock.now = clock.now + timedelta(days=7)
    session = first_free(db, settings, clock(), "D001")
    call, heard = identified_in_english(dial)
    day = speaking.day(session.date, "en")
    assert heard.startswith(
        f"To book Chief Physician Zhang Zhiyuan, Cardiology again, {day}, morning, from 8 am, press 5."
    ), heard
    call.press("5")
    assert call.take_text().startswith("You are booked.")


def test_the_last_doctor_is_not_offered_again_when_already_booked_with_them(dial, db, ms_wang, settings, clock):
    book_first_free(db, ms_wang, settings, clock, code="D001")
    clock.now = clock.now + timedelta(days=7)
    book_first_free(db, ms_wang, settings, clock, code="D001")  # and again, coming up
    call = identified(dial)
    call.press("*")
    heard = call.take_text()
    assert heard.startswith("您的下一个预约是：") and "再次预约" not in heard


def test_a_cancelled_visit_is_no_last_doctor(dial, db, ms_wang, settings, clock):
    visit = book_first_free(db, ms_wang, settings, clock, code="D001")
    booking.cancel(db, patient_id=ms_wang.id, appointment_id=visit.id, now=clock(), rules=settings.booking)
    db.commit()
    clock.now = clock.now + timedelta(days=7)
    call = identified(dial)
    call.press("*")
    assert "再次预约" not in call.take_text()


# ---- a doctor's page books that doctor -----------------------------------------------------------


def test_a_doctor_named_at_the_main_menu_can_be_booked_from_their_page(dial, db, ms_wang, settings, clock):
    session = first_free(db, settings, clock(), "D001")
    call = dial(MS_WANG)
    call.take_text()
    call.speak("我要挂张志远的号")
    page = call.take_text()
    assert "张志远" in page and "预约这位医生请按1。" in page
    assert_each_key_offered_once(page)
    call.press("1")
    assert "请输入患者出生月日" in call.take_text()  # identification first
    call.press(MS_WANG_BIRTHDAY)
    read_back = call.take_text()  # his first free session, read back at once
    assert read_back.startswith(f"您预约的是：{speaking.day(session.date, 'zh')}上午8点，心血管内科张志远主任医师。")
    assert "确认预约请按1，重新选择请按2。" in read_back
    call.press("1")
    assert call.take_text().startswith("预约成功")
    [appointment] = active(db, ms_wang)
    assert appointment.session_id == session.id


def test_an_identified_caller_goes_from_a_doctors_page_to_the_first_session_and_2_lists_the_others(dial, db, ms_wang):
    call = identified(dial)
    call.press("#")  # the main menu
    call.take_text()
    call.speak("心内科")
    call.press("1")  # the department's doctors
    call.press("1")  # 张志远's page
    assert "预约这位医生请按1" in call.take_text()
    call.press("1")
    assert call.take_text().startswith("您预约的是：")
    call.press("2")  # another session of his
    assert call.take_text().startswith("以下时段有号：")
    assert active(db, ms_wang) == []


def test_a_doctor_with_no_free_place_is_not_offered_for_booking(dial, db, clock):
    doctor = directory.load(db, clock()).doctor("D001")
    begin_write(db)
    db.execute(
        ClinicSession.__table__.update()
        .where(ClinicSession.doctor_id == doctor.id)
        .values(booked=ClinicSession.capacity - ClinicSession.held_back)
    )
    db.commit()
    call = dial(UNKNOWN)
    call.take_text()
    call.speak(doctor.name_zh)
    page = call.take_text()
    assert doctor.name_zh in page and "近期门诊时间" in page and "预约这位医生" not in page
    call.press("1")  # not offered: a wrong key
    assert call.take_text().startswith("对不起，您按的")


# ---- the first available doctor -----------------------------------------------------------------


def test_the_first_available_doctor_is_read_back_at_once_and_2_lists_the_departments_days(dial, db, ms_wang):
    call = identified(dial)
    call.press("1")
    call.speak("心内科")
    call.take_text()
    call.press("9")
    read_back = call.take_text()
    assert read_back.startswith("您预约的是：") and "确认预约请按1，重新选择请按2。" in read_back
    assert_each_key_offered_once(read_back)
    call.press("2")  # another day: the department's days, then its sessions
    assert call.take_text().startswith("以下日期有号：")
    call.press("2")
    assert "可预约的时段" in call.take_text()
    assert active(db, ms_wang) == []


# ---- barge-in ------------------------------------------------------------------------------------


def test_every_booking_prompt_can_be_interrupted_by_a_key(dial, db, ms_wang, settings, clock):
    """Each prompt on the way to a booking is said inside a <Gather>, so a caller who knows
    the key presses it without hearing the rest (the seconds 'barging in' of
    bench/booking_keys.py)."""
    book_first_free(db, ms_wang, settings, clock)  # a next appointment to be told of
    call = dial(MS_WANG)
    for key in ("5", MS_WANG_BIRTHDAY, "1"):
        call.press(key, barge_in=True)
    call.speak("心内科", barge_in=True)
    call.take_heard()
    call.press("1", barge_in=True)  # D001 at once, while the doctors are read: his first session
    call.press("1", barge_in=True)  # confirm
    assert "预约成功" in call.take_text()
    assert len(active(db, ms_wang)) == 2
    for fetch in (e for e in call.log if e.kind == "fetch" and e.body):
        root = twiml.parse(fetch.body)
        outside = [say.text for say in root.findall("Say")]  # said outside a Gather: cannot be interrupted
        assert not outside or "Hangup" in twiml.verbs(root), (fetch.url, outside)


def test_inside_the_cut_off_the_next_appointment_is_said_without_a_key_to_change_it(dial, db, ms_wang, settings, clock):
    appointment = book_first_free(db, ms_wang, settings, clock)
    clock.now = booking.starts_at(appointment, clock()) - timedelta(minutes=settings.booking.cancel_cutoff_minutes - 10)
    call = identified(dial)
    call.press("*")
    heard = call.take_text()
    assert heard.startswith(
        f"您的下一个预约是：{speaking.day(appointment.date, 'zh')}上午8点，心血管内科王建国主任医师。"
    )
    assert "请按4" not in heard
    call.press("4")
    assert call.take_text().startswith("对不起，您按的")


def test_a_doctor_named_in_english_at_the_main_menu_can_be_booked(dial, db, ms_wang, settings, clock):
    call = dial(MS_WANG)
    call.press("9")
    call.take_text()
    call.speak("Doctor Zhang Zhiyuan please")
    page = call.take_text()
    assert "Zhang Zhiyuan" in page and "To book this doctor, press 1." in page
    call.press("1")
    call.take_text()
    call.press(MS_WANG_BIRTHDAY)
    assert call.take_text().startswith("You are booking Chief Physician Zhang Zhiyuan, Cardiology,")


# ---- names at the main menu, before the options' words ----------------------------------------


def test_a_name_with_doctor_or_department_said_at_the_main_menu_goes_to_the_page(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.speak("张志远医生")  # "医生" is also the doctor-information option's word
    assert call.take_text().startswith("张志远，主任医师，心血管内科。")
    english = dial(UNKNOWN)
    english.press("9")
    english.take_text()
    english.speak("the cardiology department please")
    assert english.take_text().startswith("Cardiology is in the Outpatient Building")


def test_a_complaint_naming_a_doctor_is_a_complaint(dial, db, records_worker):
    # "投诉" (complaints) and "医生" (doctor information) tied, and the name took the caller to
    # the doctor's page: the option said besides the name wins.
    call = dial(UNKNOWN)
    call.take_text()
    call.speak("我要投诉张志远医生")
    assert "张志远，主任医师" not in call.take_text()
    call.hangup()
    records_worker.work()
    db.rollback()
    record = calls.find_call(db, call.sid)
    events = [(e.kind, e.detail) for e in record.events]
    assert ("to_person", {"queue": "complaints"}) in events, events
    assert [kind for kind, _ in events].count("speech") == 1


def test_booking_a_named_doctor_at_the_main_menu_is_booking(dial):
    call = dial(MS_WANG)
    call.take_text()
    call.speak("预约张志远")
    assert "请输入患者出生月日" in call.take_text()
