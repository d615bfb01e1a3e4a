"""<Gather>: digits, finish keys, timeouts, speech, barge-in."""

import pytest

from emulator import EmulatorError

from .conftest import HOTLINE


def gather(app, carrier, attrs="", prompt="<Say>Press a key</Say>", after="<Say>No input</Say>"):
    app.twiml("/voice", f'<Gather action="/got" {attrs}>{prompt}</Gather>{after}')
    app.twiml("/got", "<Say>Thanks</Say><Hangup/>")
    return carrier.dial(to=HOTLINE)


def test_defaults_are_exposed_while_waiting(app, carrier):
    call = gather(app, carrier, 'language="cmn-CN" hints="心内科,儿科"')
    assert call.waiting_for == "gather"
    assert call.gather["input"] == "dtmf" and call.gather["timeout"] == 5 and call.gather["finishOnKey"] == "#"
    assert call.gather["numDigits"] is None and call.gather["actionOnEmptyResult"] is False
    assert call.gather["action"] == app.url("/got") and call.gather["method"] == "POST"
    assert call.gather["language"] == "cmn-CN" and call.gather["hints"] == "心内科,儿科"


def test_num_digits_submits_as_soon_as_enough_keys_are_in(app, carrier):
    call = gather(app, carrier, 'numDigits="3"')
    call.press("12")
    assert call.waiting_for == "gather"
    call.press("3")
    assert app.last("/got").form["Digits"] == "123" and call.status == "completed"


def test_the_finish_key_submits_without_itself(app, carrier):
    call = gather(app, carrier)
    call.press("42#")
    assert app.last("/got").form["Digits"] == "42" and app.last("/got").form["FinishedOnKey"] == "#"


def test_finish_key_before_any_digit_is_no_input(app, carrier):
    call = gather(app, carrier)
    call.press("#")
    assert app.to("/got") == [] and "No input" in call.take_text()


def test_empty_finish_on_key_collects_until_the_timeout(app, carrier):
    call = gather(app, carrier, 'finishOnKey=""')
    call.press("12#")
    assert call.waiting_for == "gather"
    call.silence()
    assert app.last("/got").form["Digits"] == "12#"


def test_digits_without_a_finish_key_are_submitted_when_the_timeout_passes(app, carrier):
    call = gather(app, carrier, 'timeout="3"')
    start = carrier.clock.time()
    call.press("7")
    call.wait(2.9)
    assert call.waiting_for == "gather"  # the timeout restarts after each key
    call.wait(0.2)
    assert app.last("/got").form["Digits"] == "7" and carrier.clock.time() - start > 3


def test_silence_falls_through_to_the_next_verb(app, carrier):
    call = gather(app, carrier, 'timeout="4"')
    start = carrier.clock.time()
    call.silence()
    assert call.take_text().endswith("No input")
    assert app.to("/got") == []
    # The timeout starts once the prompt ("Press a key", 1.2 s) has been said.
    gave_up = next(entry.at for entry in call.log if entry.text == "no input")
    assert gave_up - start == pytest.approx(1.2 + 4)


def test_action_on_empty_result_posts_without_input(app, carrier):
    call = gather(app, carrier, 'actionOnEmptyResult="true"')
    call.silence()
    form = app.last("/got").form
    assert "Digits" not in form and "SpeechResult" not in form


def test_without_an_action_the_gather_posts_to_its_own_document(app, carrier):
    app.twiml("/voice", '<Gather numDigits="1"><Say>menu</Say></Gather>')
    call = carrier.dial(to=HOTLINE)
    call.press("2")
    assert [h.form.get("Digits") for h in app.to("/voice")] == [None, "2"]
    assert call.waiting_for == "gather"


def test_pressing_waits_for_the_prompt_unless_barging_in(app, carrier):
    prompt = "<Say>Welcome to the hospital information line</Say><Say>Press one</Say>"  # 2.4 s + 0.8 s
    call = gather(app, carrier, 'numDigits="1"', prompt=prompt)
    start = carrier.clock.time()
    call.press("1")
    assert call.fetches[-1].at - start == pytest.approx(3.2)
    call = gather(app, carrier, 'numDigits="1"', prompt=prompt)
    start = carrier.clock.time()
    call.wait(1)
    call.press("1", barge_in=True)  # interrupts the first sentence
    assert call.fetches[-1].at - start == pytest.approx(1)
    assert app.last("/got").form["Digits"] == "1"
    assert any(entry.text == "barge-in during say" for entry in call.log)


def test_speech_counts_only_when_the_gather_listens_for_it(app, carrier):
    call = gather(app, carrier, 'input="speech" language="cmn-CN" speechTimeout="auto"')
    call.speak("心内科", confidence=0.92)
    form = app.last("/got").form
    assert form["SpeechResult"] == "心内科" and form["Confidence"] == "0.92"
    call = gather(app, carrier)  # dtmf only: speech is not heard, the gather times out
    call.speak("心内科")
    assert "No input" in call.take_text()


def test_keys_are_ignored_by_a_speech_only_gather(app, carrier):
    call = gather(app, carrier, 'input="speech"')
    call.press("1")
    assert call.waiting_for == "gather"
    assert any("ignored" in entry.text for entry in call.log)


def test_with_dtmf_and_speech_the_first_kind_wins(app, carrier):
    call = gather(app, carrier, 'input="dtmf speech" finishOnKey="#"')
    call.speak("cardiology")
    assert app.last("/got").form["SpeechResult"] == "cardiology"
    call = gather(app, carrier, 'input="dtmf speech"')
    call.press("4")
    call.speak("cardiology")  # too late: keys came first
    assert call.waiting_for == "gather"
    call.press("#")
    assert app.last("/got").form["Digits"] == "4"


def test_speech_time_uses_the_speech_timeout(app, carrier):
    call = gather(app, carrier, 'input="speech" speechTimeout="2"', prompt="")
    start = carrier.clock.time()
    call.speak("I need cardiology")  # three words, 1.2 s, then two seconds of silence
    assert app.to("/got") and carrier.clock.time() - start >= 3.2


def test_invalid_values_fall_back_to_defaults_with_a_warning(app, carrier):
    call = gather(app, carrier, 'timeout="soon" numDigits="-1" input="telepathy"')
    assert call.gather["timeout"] == 5 and call.gather["numDigits"] is None and call.gather["input"] == "dtmf"
    assert call.errors == [12200, 12200, 12200]


def test_input_apis_refuse_what_cannot_happen(app, carrier):
    app.twiml("/voice", "<Say>hi</Say>")
    call = carrier.dial(to=HOTLINE)
    with pytest.raises(EmulatorError):
        call.press("1")
    with pytest.raises(ValueError):
        gather(app, carrier).press("A")
    app.twiml("/voice", '<Pause length="1"/><Enqueue>q</Enqueue>')
    with pytest.raises(EmulatorError):
        carrier.dial(to=HOTLINE).silence()


def test_inline_gather_in_a_wait_with_a_nested_pause(app, carrier):
    call = gather(app, carrier, 'numDigits="1"', prompt='<Pause length="2"/><Play>http://x/a.mp3</Play>')
    assert [u.kind for u in call.heard] == ["pause", "play"]
    call.press("9")
    assert app.last("/got").form["Digits"] == "9"


def test_speech_can_barge_in_too(app, carrier):
    call = gather(
        app, carrier, 'input="speech" speechTimeout="1"', prompt="<Say>Tell us in a few words what you need</Say>"
    )
    start = carrier.clock.time()
    call.speak("cardiology", barge_in=True)
    assert app.last("/got").form["SpeechResult"] == "cardiology"
    assert call.fetches[-1].at - start == pytest.approx(0.5 + 1)  # the prompt (3.2 s) was cut short
