"""Whole calls: the local carrier emulator rings the hotline over HTTP, signs every
request, runs the TwiML it gets back, and we check what the caller hears and the
record the call leaves."""

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from ivr import dialogue, speaking
from ivr.prompts import TITLES
from records import calls, directory
from tests.conftest import OPEN

UNKNOWN = "+8613912345678"
MS_WANG = "13800138000"  # M00000001 王秀英, prefers Mandarin
MR_LI = "+86 139 1000 2000"  # M00000002 李明, prefers English
FAMILY = "13700001111"  # M00000003 and M00000004 share it
OPERATOR = "+861065281999"


def dialled(call) -> list[str]:
    """Numbers the hotline <Dial>ed in this call."""
    return [
        noun["text"]
        for step in call.log
        if step.get("verb") == "Dial"
        for noun in step.get("nouns", [])
        if noun.get("noun") == "Number"
    ]


# ---- the greeting ----------------------------------------------------------------------------


def test_the_greeting_names_the_hospital_says_120_once_and_offers_english(dial):
    call = dial(UNKNOWN)
    heard = call.take_text()
    assert "欢迎致电明湖示范医院" in heard
    assert heard.count("120") == 1
    assert "For English, press 9." in heard
    assert "科室信息请按2" in heard and "人工服务请按0" in heard
    assert call.waiting_for == "gather"
    # The emergency notice is said once, not at every return to the menu.
    call.press("*")
    assert "120" not in call.take_text()


def test_a_recognised_caller_is_greeted_by_title_and_surname_only(dial):
    heard = dial(MS_WANG).take_text()
    assert heard.startswith("王女士您好")
    assert "秀英" not in heard


def test_a_caller_who_prefers_english_is_answered_in_english(dial):
    call = dial(MR_LI)
    heard = call.take_text()
    assert "Hello Mr Li, and thank you for calling Minghu Demonstration Hospital." in heard
    assert "中文服务请按9" in heard
    assert "Li Ming" not in heard


def test_a_family_number_is_not_greeted_by_name(dial):
    heard = dial(FAMILY).take_text()
    assert heard.startswith("您好，欢迎致电")
    assert "先生" not in heard and "女士" not in heard


def test_greeting_by_name_can_be_switched_off(dial, app):
    hotline = app.extensions["hotline"]
    dialogue_settings = hotline.settings.dialogue.model_copy(update={"greet_known_callers": False})
    hotline.settings = hotline.settings.model_copy(update={"dialogue": dialogue_settings})
    assert "王女士" not in dial(MS_WANG).take_text()


def test_nine_switches_language_both_ways(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("9")
    heard = call.take_text()
    assert "For department information, press 2." in heard
    assert "中文服务请按9" in heard
    call.press("9")
    assert "科室信息请按2" in call.take_text()


# ---- the menus -------------------------------------------------------------------------------


def test_the_introduction_then_back_to_the_main_menu(dial, settings):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("1")
    assert settings.hospital.introduction("zh") in call.take_text()
    call.press("#")
    assert "医院介绍请按1" in call.take_text()


def test_departments_by_key_with_paging_and_details(dial, db):
    everything = directory.load(db, OPEN).departments
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    page_one = call.take_text()
    assert "第1页，共3页" in page_one
    assert f"{everything[0].name_zh}请按1" in page_one
    assert everything[7].name_zh not in page_one
    call.press("8")
    page_two = call.take_text()
    assert f"{everything[7].name_zh}请按1" in page_two
    call.press("8")
    call.press("8")  # the last page offers the start again
    assert f"{everything[0].name_zh}请按1" in call.take_text()
    call.press("1")
    detail = call.take_text()
    first = everything[0]
    assert f"{first.name_zh}，位于{first.location_zh}" in detail
    assert speaking.phone(first.phone, "zh") in detail
    assert first.hours_zh in detail


def test_a_department_by_name_in_a_sentence(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    call.take_text()
    call.speak("我想问一下心内科在哪里。")
    assert "心血管内科，位于门诊楼三层东区" in call.take_text()


def test_speech_that_names_no_department_is_answered_and_asked_again(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    call.take_text()
    call.speak("今天天气怎么样")
    heard = call.take_text()
    assert heard.startswith("对不起，没有听清您说的内容。")
    assert "请选择科室" in heard


def test_a_doctor_by_name_gives_title_specialty_and_next_sessions(dial, db, clock):
    hospital = directory.load(db, clock())
    doctor = hospital.doctor("D001")
    sessions = hospital.next_sessions(doctor, clock(), limit=3)
    assert sessions, "the demo doctor should have clinic sessions"
    call = dial(UNKNOWN)
    call.take_text()
    call.press("3")
    call.take_text()
    call.speak(f"我找{doctor.name_zh}医生")
    heard = call.take_text()
    assert f"{doctor.name_zh}，{TITLES[doctor.title]['zh']}，心血管内科" in heard
    assert doctor.specialties_zh in heard
    assert speaking.day(sessions[0].date, "zh") in heard


def test_a_surname_shared_by_two_doctors_asks_which(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("3")
    call.take_text()
    call.speak("张医生")
    heard = call.take_text()
    assert "找到2位医生" in heard
    call.press("2")
    assert "张慧敏" in call.take_text()


def test_doctors_by_department_are_paged(dial, db):
    cardiology = directory.load(db, OPEN).doctors_in("CARD")
    assert len(cardiology) > 7
    call = dial(UNKNOWN)
    call.take_text()
    call.press("3")
    call.press("1")  # by department
    call.take_text()
    call.speak("心血管内科")
    page_one = call.take_text()
    first = cardiology[0]
    assert f"{first.name_zh}，{TITLES[first.title]['zh']}，请按1" in page_one
    assert cardiology[7].name_zh not in page_one
    call.press("8")
    assert cardiology[7].name_zh in call.take_text()


def test_featured_services(dial, db):
    services = directory.load(db, OPEN).services
    call = dial(UNKNOWN)
    call.take_text()
    call.press("4")
    call.take_text()
    call.press("1")
    assert services[0].description_zh in call.take_text()


# ---- robust dialogue ---------------------------------------------------------------------------


def test_a_wrong_key_is_named_and_the_menu_asked_again(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("7")
    heard = call.take_text()
    assert heard.startswith("对不起，您按的7不是有效选项。")
    assert "科室信息请按2" in heard


def test_star_repeats_and_hash_goes_back_one_menu(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    first = call.take_text()
    call.press("*")
    assert call.take_text() == first
    call.press("1")
    call.take_text()
    call.press("#")
    assert "请选择科室" in call.take_text()


def test_three_silences_in_opening_hours_put_the_caller_through_to_a_person(dial, carrier):
    # (With no agent logged in, 'a person' offers a voicemail or a callback: tests/acd.)
    call = dial(UNKNOWN)
    call.take_text()
    call.silence()
    assert call.take_text().startswith("对不起，没有收到您的选择。")
    call.silence()
    call.take_text()
    call.silence()
    heard = call.take_text()
    assert "现在为您转接人工服务" in heard and "目前没有工作人员可以接听" in heard and "留言请按1" in heard


def test_three_failures_out_of_hours_give_the_hours_and_say_goodbye(dial, clock, settings):
    clock.now = datetime(2026, 11, 24, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))
    call = dial(UNKNOWN)
    call.take_text()
    for _ in range(3):
        call.press("7")
    heard = call.take_text()
    assert settings.seats.hours_spoken("zh") in heard and "现在不是人工服务时间" in heard
    for _ in range(3):  # no voicemail, no callback: goodbye
        call.silence()
    assert call.take_text().endswith("感谢您的来电，再见。")
    assert call.status == "completed"
    assert dialled(call) == []


def test_zero_reaches_a_person_from_any_menu(dial, carrier):
    call = dial(UNKNOWN)
    call.press("2")
    call.press("1")
    call.take_text()
    call.press("0")
    assert "目前没有工作人员可以接听" in call.take_text()  # nobody logged in (tests/acd: somebody is)


def test_saying_operator_reaches_a_person(dial, carrier):
    call = dial(UNKNOWN)
    call.speak("转人工")
    assert "目前没有工作人员可以接听" in call.take_text()


def test_when_nobody_can_answer_the_caller_can_go_back(dial, carrier):
    call = dial(UNKNOWN)
    call.press("0")
    call.take_text()
    call.press("#")
    assert "科室信息请按2" in call.take_text()


def test_hostile_input_still_gets_a_menu(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.speak("'; DROP TABLE patients; --\x00\x07" + "字" * 3000)
    assert "没有听清" in call.take_text()
    assert call.waiting_for == "gather"


# ---- failures inside the hotline ---------------------------------------------------------------


def test_an_exception_inside_a_flow_apologises_and_offers_a_person(dial, carrier, monkeypatch):
    def broken(conversation, page="0"):
        raise RuntimeError("the directory is on fire")

    monkeypatch.setitem(dialogue.STEPS, ("departments", "start"), broken)
    carrier.set_endpoint(OPERATOR, behaviour="answer")
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    heard = call.take_text()
    assert heard.startswith("对不起，系统暂时出现问题。")
    assert "application error" not in heard
    assert dialled(call) == [OPERATOR]
    assert call.errors == []


def test_a_forged_signature_is_refused(carrier, settings, server):
    from emulator import Carrier

    impostor = Carrier(account_sid=settings.env.twilio_account_sid, auth_token="not-the-token")
    impostor.add_number(settings.hospital.main_number, voice_url=f"{server}/ivr/voice")
    call = impostor.dial(to=settings.hospital.main_number, from_=UNKNOWN)
    assert "An application error has occurred." in call.take_text()
    assert [entry.status for entry in call.log if entry.kind == "fetch"] == [403]
    assert 11200 in call.errors


# ---- the record every call leaves ----------------------------------------------------------------


def test_a_call_leaves_a_record_with_its_menu_path_linked_to_the_patient(dial, db, records_worker):
    call = dial(MS_WANG)
    call.press("2")
    call.speak("心内科")
    call.press("1")
    call.hangup()
    assert calls.find_call(db, call.sid) is None  # written by a worker, not while the caller waits
    records_worker.work()
    db.rollback()
    record = calls.find_call(db, call.sid)
    assert record is not None
    assert record.patient is not None and record.patient.mrn == "M00000001"
    assert record.from_number == "+8613800138000"
    assert record.status == "completed"
    assert record.duration_seconds is not None and record.duration_seconds > 0
    assert record.menu_path == "menu.main > departments.start > departments.detail > doctors.list"
    assert record.outcome == "self_service"
    kinds = [event.kind for event in record.events]
    assert kinds.count("key") == 2 and kinds.count("speech") == 1


def test_duplicate_status_callbacks_change_nothing(dial, db, carrier, records_worker):
    call = dial(UNKNOWN)
    call.press("0")
    call.hangup()
    records_worker.work()
    record = calls.find_call(db, call.sid)
    before = (record.status, record.duration_seconds, len(record.events), record.outcome)
    carrier.repost_status(call, times=3)
    records_worker.work()
    db.rollback()
    db.expire_all()
    record = calls.find_call(db, call.sid)
    assert (record.status, record.duration_seconds, len(record.events), record.outcome) == before
    assert before[3] == "transferred"


@pytest.mark.parametrize("raw", ["anonymous", "client:agent7", "", "+266696687"])
def test_callers_with_odd_numbers_are_answered_and_recorded(dial, db, raw, records_worker):
    call = dial(raw)
    assert "欢迎致电" in call.take_text()
    call.hangup()
    records_worker.work()
    record = calls.find_call(db, call.sid)
    assert record is not None and record.patient_id is None
