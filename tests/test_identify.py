"""Identification by phone: the caller's number and birthday, or record number and
birth date; attempts limited per call and per number; family numbers."""

from tests.test_calls import FAMILY, MS_WANG, UNKNOWN


def to_booking(call):
    call.take_text()
    call.press("5")
    return call.take_text()


def test_a_known_number_confirms_with_month_and_day(dial):
    call = dial(MS_WANG)  # 王秀英, born 1948-05-02
    assert "请输入患者出生月日" in to_booking(call)
    call.press("0502#")
    assert "预约专家门诊请按1" in call.take_text()


def test_eight_digits_keyed_for_a_birthday_are_understood(dial):
    call = dial(MS_WANG)
    to_booking(call)
    call.press("19480502#")
    assert "预约专家门诊请按1" in call.take_text()


def test_a_date_that_does_not_exist_is_named_and_asked_again(dial):
    call = dial(MS_WANG)
    to_booking(call)
    call.press("0230#")
    heard = call.take_text()
    assert heard.startswith("对不起，您输入的不是有效的日期。")
    assert "请输入患者出生月日" in heard


def test_both_members_of_a_family_number_can_identify(dial):
    for birthday in ("0115", "0709"):  # 张伟 1960-01-15, 张丽 1988-07-09 share one number
        call = dial(FAMILY)
        to_booking(call)
        call.press(f"{birthday}#")
        assert "预约专家门诊请按1" in call.take_text()


def test_an_unknown_number_keys_record_number_and_birth_date(dial):
    call = dial(UNKNOWN)
    assert "请输入您的病历号中的数字" in to_booking(call)
    call.press("00000002#")  # 李明 M00000002, born 1985-11-20
    assert "请输入患者的出生日期，共八位数字" in call.take_text()
    call.press("19851120#")
    assert "预约专家门诊请按1" in call.take_text()
    # What was keyed never travels in a URL (access logs print URLs).
    assert not [e.url for e in call.log if e.kind == "fetch" and ("00000002" in e.url or "19851120" in e.url)]


def test_a_record_number_can_be_said(dial):
    call = dial(UNKNOWN)
    to_booking(call)
    call.speak("零零零零零零零二")
    call.take_text()
    call.press("19851120#")
    assert "预约专家门诊请按1" in call.take_text()


def test_a_wrong_record_number_is_not_revealed_and_three_tries_offer_a_person(dial, carrier):
    carrier.set_endpoint("+861065281999", behaviour="answer")
    call = dial(UNKNOWN)
    to_booking(call)
    for attempt in range(3):
        call.press("99999999#")
        assert "请输入患者的出生日期" in call.take_text()  # the same question whether or not it exists
        call.press("19851120#")
        heard = call.take_text()
        if attempt < 2:
            assert heard.startswith("对不起，信息不符。")
    assert "我们无法核实您的身份" in heard
    assert "目前没有工作人员可以接听" in heard  # a person: nobody is logged in here (tests/acd)


def test_a_number_that_fails_too_often_is_locked_out(dial, settings):
    limit = settings.identification.failures_per_number
    for _ in range(-(-limit // settings.identification.attempts_per_call)):
        call = dial(MS_WANG)
        to_booking(call)
        for _ in range(settings.identification.attempts_per_call):
            call.press("1231#")
        call.hangup()
    call = dial(MS_WANG)
    assert "该号码暂时无法通过电话核实身份" in to_booking(call)
    # Another number is not affected.
    other = dial(FAMILY)
    assert "请输入患者出生月日" in to_booking(other)


def test_nothing_is_said_about_a_patient_before_identification(dial):
    call = dial(MS_WANG)
    heard = to_booking(call)
    call.press("1231#")
    heard += call.take_text()
    assert "1948" not in heard and "秀英" not in heard and "预约号" not in heard


def test_a_record_number_said_with_letters_is_asked_again_as_digits(dial):
    call = dial(UNKNOWN)
    to_booking(call)
    call.speak("M零零零零零零零二")
    heard = call.take_text()
    assert heard.startswith("对不起，请用按键输入数字，或者只说数字。")
    assert "请输入您的病历号中的数字" in heard


def test_with_redis_down_nobody_is_identified_and_the_caller_is_offered_a_person(dial, app, carrier):
    import redis
    from redis.backoff import NoBackoff
    from redis.retry import Retry

    carrier.set_endpoint("+861065281999", behaviour="answer")
    call = dial(MS_WANG)
    call.take_text()
    # Redis stops answering mid-call: the menus go on, identification does not guess.
    # (A client set up as extensions.Hotline sets its own: short timeouts, one quick retry.)
    dead = redis.Redis(port=1, decode_responses=True, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 1))
    app.extensions["hotline"].calls.redis = dead
    call.press("5")
    heard = call.take_text()
    assert heard.startswith("对不起，身份核实暂时无法使用。")
    assert "目前没有工作人员可以接听" in heard  # a person: nobody is logged in here (tests/acd)
