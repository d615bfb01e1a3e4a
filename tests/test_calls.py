"""Whole calls: the local carrier emulator rings the hotline over HTTP, signs every
request, runs the TwiML it gets back, and we check what the caller hears and the
record the call leaves."""

import re
from datetime import datetime
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

import pytest

from ivr import dialogue
from records import call_log, calls, directory
from tests.conftest import OPEN
from wording import speaking
from wording.prompts import TITLES

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


def keys_offered(heard: str) -> list[str]:
    """Every key the caller is told to press, in the order said ('请按1', 'press star')."""
    names = {"星": "*", "井": "#", "star": "*", "hash": "#"}
    said = re.findall(r"请按([0-9星井])|press (\d|star|hash)\b", heard)
    return [names.get(zh or en, zh or en) for zh, en in said]


def assert_each_key_offered_once(heard: str) -> None:
    keys = keys_offered(heard)
    assert keys and len(keys) == len(set(keys)), (keys, heard)


# ---- the greeting ----------------------------------------------------------------------------


def test_the_greeting_names_the_hospital_says_120_once_and_offers_english(dial):
    call = dial(UNKNOWN)
    heard = call.take_text()
    assert "欢迎致电明湖示范医院" in heard
    assert heard.count("120") == 1
    assert "For English, press 9." in heard
    # Nobody is logged in here (tests/acd log agents in): 0 offers what can happen instead.
    assert "科室信息请按2" in heard and "留言或回电请按0" in heard and "人工服务" not in heard
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
    assert "医院介绍与特色服务请按1" in call.take_text()


def test_departments_by_key_with_paging_and_details(dial, db):
    everything = directory.load(db, OPEN).departments
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    page_one = call.take_text()
    assert "第1页" not in page_one  # "for more, press 8" says there is more
    assert f"{everything[0].name_zh}请按1" in page_one
    assert everything[5].name_zh not in page_one  # five a page
    call.press("8")
    page_two = call.take_text()
    assert "第2页，共3页" in page_two and f"{everything[5].name_zh}请按1" in page_two
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


@pytest.mark.parametrize("said", ["心内科", "我想问一下心内科在哪里", "Cardiology"])
def test_a_department_named_at_the_main_menu_goes_straight_there(dial, said):
    call = dial(UNKNOWN)
    call.take_text()
    call.speak(said)
    heard = call.take_text()
    assert "心血管内科，位于门诊楼三层东区" in heard and "返回主菜单请按井号键" in heard
    call.press("#")  # back where the caller named it, not a list they never heard
    assert "医院介绍与特色服务请按1" in call.take_text()


def test_a_doctor_named_at_the_main_menu_goes_to_their_page(dial, db, clock):
    doctor = directory.load(db, clock()).doctor("D001")
    call = dial(UNKNOWN)
    call.take_text()
    call.speak(f"我找{doctor.name_zh}")
    assert doctor.name_zh in call.take_text()


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
    assert len(cardiology) > 5
    call = dial(UNKNOWN)
    call.take_text()
    call.press("3")
    call.press("1")  # by department
    call.take_text()
    call.speak("心血管内科")
    page_one = call.take_text()
    first = cardiology[0]
    assert f"{first.name_zh}，{TITLES[first.title]['zh']}，请按1" in page_one
    assert cardiology[5].name_zh not in page_one
    call.press("8")
    assert cardiology[5].name_zh in call.take_text()


def test_featured_services(dial, db):
    services = directory.load(db, OPEN).services
    call = dial(UNKNOWN)
    call.take_text()
    call.press("1")  # the introduction, then its featured services on 1
    assert call.take_text().endswith("特色服务请按1。留言或回电请按0。返回主菜单请按井号键。")
    call.press("1")
    assert "本院特色服务" in call.take_text()
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


def test_hash_goes_back_the_way_the_caller_came(dial):
    # Issue 22, 13: a department's doctors, reached from the department's page, used to go
    # back to the doctor information menu's department list, a menu the caller never heard.
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")
    call.take_text()
    call.press("8")  # page 2 of the departments
    call.take_text()
    call.press("1")
    department = call.take_text()
    call.press("1")  # its doctors
    assert "的医生" in call.take_text()
    call.press("#")
    assert call.take_text() == department
    call.press("#")
    assert "第2页，共3页" in call.take_text()  # the page the caller chose it from
    call.press("#")
    heard = call.take_text()
    assert "医院介绍与特色服务请按1" in heard and "按科室查找医生" not in heard


def test_hash_from_a_doctor_found_by_name_returns_to_the_choice_of_doctors(dial):
    call = dial(UNKNOWN)
    call.take_text()
    call.press("3")
    call.take_text()
    call.speak("张医生")
    choice = call.take_text()
    assert "找到2位医生" in choice
    call.press("2")
    assert "张慧敏" in call.take_text()
    call.press("#")
    assert call.take_text() == choice
    call.press("#")
    assert "按科室查找医生请按1" in call.take_text()


def test_a_hostile_trail_in_the_url_is_only_a_way_back(app):
    from tests.test_webhooks import FORM, post
    from tests.twiml import parse, spoken

    for trail in ["x|y;;==", "menu.main;lang=en|" * 50, "departments.detail;code=%00%FF;page=999999999999", "a.b;c"]:
        response = post(app.test_client(), "/ivr/departments/start?" + urlencode({"lang": "zh", "back": trail}))
        assert response.status_code == 200 and "请选择科室" in spoken(parse(response.data))
        back = post(
            app.test_client(),
            "/ivr/departments/start?" + urlencode({"lang": "zh", "back": trail}),
            {**FORM, "Digits": "#"},
        )
        assert back.status_code == 200 and spoken(parse(back.data))


@pytest.mark.parametrize(
    "when",
    [OPEN, datetime(2026, 11, 24, 23, 30, tzinfo=ZoneInfo("Asia/Shanghai"))],
    ids=["nobody logged in", "out of hours"],
)
def test_when_nobody_can_answer_zero_offers_a_message_and_never_loops(dial, clock, when):
    # Issue 22, 14: "press 0 for a person" was offered when nobody could answer, and 0 in
    # the message-or-callback menu replayed it forever.
    clock.now = when
    call = dial(UNKNOWN)
    heard = call.take_text()
    assert "人工服务请按0" not in heard and "留言或回电请按0" in heard
    call.press("2")
    assert "留言或回电请按0" in call.take_text()
    call.press("0")
    options = call.take_text()
    assert "留言请按1" in options and "由我们给您回电请按2" in options
    assert "0" not in keys_offered(options)
    presses = 0
    while not call.ended:
        call.press("0")
        presses += 1
        assert presses < 5, call.take_text()
    assert call.take_text().endswith("感谢您的来电，再见。")


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
    # Nobody is logged in: no promise of a person, the message or the callback instead.
    assert heard.startswith("对不起，我们没能理解您的选择。") and "转接人工" not in heard
    assert "目前没有工作人员可以接听" in heard and "留言请按1" in heard


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


def test_a_caller_who_switches_to_english_is_recorded_in_english(dial, db, records_worker):
    call = dial(UNKNOWN)
    call.press("9")
    call.press("1")
    call.hangup()
    records_worker.work()
    db.rollback()
    record = calls.find_call(db, call.sid)
    assert record.language == "en" and record.outcome == "self_service"


def test_a_caller_who_hangs_up_in_the_greeting_is_not_counted_as_self_service(dial, db, records_worker):
    call = dial(MS_WANG)
    call.wait(3)  # part of the greeting
    call.hangup()
    records_worker.work()
    db.rollback()
    record = calls.find_call(db, call.sid)
    assert record.status == "completed" and record.outcome == "greeting_hangup"
    # The supervisors' call log counts it apart (its outcome filter offers it).
    assert "greeting_hangup" in call_log.OUTCOMES
    assert supervisor_log(db, outcome="greeting_hangup") == [call.sid]
    assert supervisor_log(db, outcome="self_service") == []


def supervisor_log(db, **filters) -> list[str]:
    page = call_log.search(db, call_log.Filters(**filters), after=None, limit=50, zone=ZoneInfo("Asia/Shanghai"))
    return [row.call.call_sid for row in page.rows]


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


# ---- the caller match, cached in Redis (records.patients.CallerCache, issue 17) -------------------


def _statements(app):
    """The SQL statements the app runs from now on (a list that fills as it goes)."""
    from sqlalchemy import event

    seen: list[str] = []
    event.listen(app.extensions["hotline"].engine, "before_cursor_execute", lambda *args: seen.append(args[2]))
    return seen


def test_a_second_call_from_a_number_matches_its_caller_without_the_database(dial, app):
    assert dial(UNKNOWN).take_text().startswith("您好，欢迎致电")
    seen = _statements(app)
    assert dial(UNKNOWN).take_text().startswith("您好，欢迎致电")
    assert not [s for s in seen if "patient_phones" in s], seen
    dial(MS_WANG)
    seen.clear()
    assert dial(MS_WANG).take_text().startswith("王女士您好")  # her file is read, the match is not
    assert not [s for s in seen if "patient_phones" in s], seen


def test_a_patients_changed_number_is_recognised_at_once(dial, app):
    from sqlalchemy import select

    from records.models import Patient, PatientPhone

    assert dial(MS_WANG).take_text().startswith("王女士您好")
    assert dial("13600136000").take_text().startswith("您好，欢迎致电")  # both matches cached now
    with app.extensions["hotline"].sessions.begin() as session:  # an edit of her file
        patient = session.scalar(select(Patient).where(Patient.mrn == "M00000001"))
        patient.phones = [PatientPhone(e164="+8613600136000")]
    assert dial("13600136000").take_text().startswith("王女士您好")
    assert dial(MS_WANG).take_text().startswith("您好，欢迎致电")


def test_numbers_changed_by_an_import_are_recognised_at_once(dial, app, tmp_path):
    from records import loader

    stranger = "+8613912345678"
    assert dial(stranger).take_text().startswith("您好，欢迎致电")
    rows = (
        "mrn,name_zh,name_en,family_name_zh,family_name_en,sex,birth_date,phones,language,category\n"
        "M00000001,王秀英,Wang Xiuying,王,Wang,F,1948-05-02,+8613912345678,zh,standard\n"
    )
    (tmp_path / "patients.csv").write_text(rows, encoding="utf-8")
    hotline = app.extensions["hotline"]
    with hotline.sessions.begin() as session:
        loader.load(session, loader.read(tmp_path / "patients.csv"), today=hotline.now().date())
    assert dial(stranger).take_text().startswith("王女士您好")
    assert dial(MS_WANG).take_text().startswith("您好，欢迎致电")


def test_a_change_rolled_back_forgets_nothing_and_changes_nothing(dial, app):
    from sqlalchemy import select

    from records.models import Patient, PatientPhone

    dial(MS_WANG)
    with app.extensions["hotline"].sessions() as session:
        patient = session.scalar(select(Patient).where(Patient.mrn == "M00000001"))
        patient.phones = [PatientPhone(e164="+8613600136000")]
        session.flush()
        session.rollback()
    assert dial(MS_WANG).take_text().startswith("王女士您好")


def test_a_second_call_from_a_patient_is_greeted_without_the_database(dial, app):
    """The greeting of the one file a number names is kept with its match (issue 17: no SQL
    on a known caller's /ivr/voice)."""
    assert dial(MS_WANG).take_text().startswith("王女士您好")
    seen = _statements(app)
    call = dial(MS_WANG)
    assert call.take_text().startswith("王女士您好")
    assert call.waiting_for == "gather"
    assert seen == []


def test_a_renamed_file_is_greeted_by_its_new_name_at_once(dial, app):
    from sqlalchemy import select

    from records.models import Patient

    assert dial(MS_WANG).take_text().startswith("王女士您好")
    assert dial(MS_WANG).take_text().startswith("王女士您好")  # greeted from the cache
    with app.extensions["hotline"].sessions.begin() as session:  # the records office corrects her file
        patient = session.scalar(select(Patient).where(Patient.mrn == "M00000001"))
        patient.family_name_zh, patient.sex = "汪", "M"
    assert dial(MS_WANG).take_text().startswith("汪先生您好")
    with app.extensions["hotline"].sessions.begin() as session:
        session.scalar(select(Patient).where(Patient.mrn == "M00000001")).preferred_language = "en"
    assert dial(MS_WANG).take_text().startswith("Hello Mr Wang")


def test_a_file_deleted_is_no_longer_greeted(dial, app):
    from sqlalchemy import select

    from records.models import Patient

    assert dial(MS_WANG).take_text().startswith("王女士您好")
    with app.extensions["hotline"].sessions.begin() as session:
        session.delete(session.scalar(select(Patient).where(Patient.mrn == "M00000001")))
    assert dial(MS_WANG).take_text().startswith("您好，欢迎致电")


@pytest.mark.parametrize("kept", ["7", "7\n{not json", '7\n["F", "王"]', '7,9\n["F", "王", "Wang", "zh"]'])
def test_a_kept_value_without_a_greeting_that_reads_has_none(kept):
    from records.patients import CallerCache

    found = CallerCache.decode(kept)
    assert found is not None and found.greeting is None
    assert found.files == tuple(int(part) for part in kept.split("\n")[0].split(","))


def test_a_kept_greeting_reads_back():
    from records.patients import Cached, CallerCache, Greeting

    greeting = Greeting("F", "王", "Wang", "zh")
    assert CallerCache.decode('7\n["F", "王", "Wang", "zh"]'.encode()) == Cached((7,), greeting)
    assert CallerCache.decode("") == Cached(())
    assert CallerCache.decode(None) is None
