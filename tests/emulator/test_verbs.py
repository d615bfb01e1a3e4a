"""Simple verbs, URL resolution, HTTP behaviour, errors and the fallback URL."""

import pytest
from flask import Response

from emulator import Utterance

from .conftest import HOTLINE

APP_ERROR = "An application error has occurred."


def test_say_play_pause_with_their_defaults_and_durations(app, carrier):
    carrier.set_media_duration(app.url("/hold.mp3"), 12)
    app.twiml(
        "/voice",
        '<Say>Hello there</Say><Say language="cmn-CN" voice="Polly.Zhiyu" loop="2">您好</Say>'
        '<Play>/hold.mp3</Play><Play digits="1w"/><Pause/><Pause length="3"/>',
    )
    call = carrier.dial(to=HOTLINE)
    assert call.heard == [
        Utterance("say", "Hello there", "en-US", None, 1, 0.8),
        Utterance("say", "您好", "cmn-CN", "Polly.Zhiyu", 2, 1.0),
        Utterance("play", app.url("/hold.mp3"), None, None, 1, 12),
        Utterance("play", "digits:1w", None, None, 1, 0.75),
        Utterance("pause", "", seconds=1.0),
        Utterance("pause", "", seconds=3.0),
    ]
    # Falling off the end hangs up; the call lasted as long as it took to say and play all that.
    assert call.status == "completed"
    assert call.duration == round(0.8 + 1.0 + 12 + 0.75 + 1 + 3)
    assert call.verbs == ["Say", "Say", "Play", "Play", "Pause", "Pause"]


def test_take_heard_and_take_text_return_only_what_is_new(app, carrier):
    app.twiml("/voice", '<Say>One</Say><Gather action="/g"><Say>Two</Say></Gather>')
    app.twiml("/g", "<Say>Three</Say><Gather/>")
    call = carrier.dial(to=HOTLINE)
    assert call.take_text() == "One Two"
    assert call.take_text() == ""
    call.press("1#")
    assert [u.text for u in call.take_heard()] == ["Three"]
    assert len(call.heard) == 3


def test_loop_zero_means_a_thousand_times(app, carrier):
    app.twiml("/voice", '<Say loop="0">Hi</Say>')
    call = carrier.dial(to=HOTLINE)
    assert call.heard[0].loop == 1000 and call.duration == 500


def test_redirect_resolves_relative_urls_against_the_document_and_honours_method(app, carrier):
    app.twiml("/voice", '<Redirect method="GET">menu/main?x=1</Redirect><Say>never</Say>')
    app.twiml("/menu/main", "<Redirect>../end</Redirect>")
    app.twiml("/end", "<Say>end</Say>")
    call = carrier.dial(to=HOTLINE)
    assert [h.path for h in app.hits if h.path != "/status"] == ["/voice", "/menu/main", "/end"]
    assert app.last("/menu/main").method == "GET" and app.last("/menu/main").args["x"] == "1"
    assert app.last("/end").method == "POST"
    assert call.take_text() == "end"


def test_hangup_ends_the_call_and_later_verbs_never_run(app, carrier):
    app.twiml("/voice", "<Say>Bye</Say><Hangup/><Say>never</Say>")
    call = carrier.dial(to=HOTLINE)
    assert call.status == "completed" and call.take_text() == "Bye"


@pytest.mark.parametrize(("reason", "status"), [(None, "no-answer"), ("rejected", "no-answer"), ("busy", "busy")])
def test_reject_as_first_verb_never_answers(app, carrier, reason, status):
    attr = f' reason="{reason}"' if reason else ""
    app.twiml("/voice", f"<Reject{attr}/>")
    call = carrier.dial(to=HOTLINE)
    assert call.status == status and call.answered_at is None and call.duration == 0
    assert app.last("/status").form["CallStatus"] == status


def test_reject_after_the_call_was_answered_just_hangs_up(app, carrier):
    app.twiml("/voice", "<Say>Hi</Say><Reject/>")
    assert carrier.dial(to=HOTLINE).status == "completed"


def test_pause_as_first_verb_delays_the_pickup(app, carrier):
    app.twiml("/voice", '<Pause length="4"/><Say>Hello</Say>')
    call = carrier.dial(to=HOTLINE)
    assert call.answered_at == 4 and call.duration == 1


def test_unknown_verbs_and_attributes_are_warnings_and_skipped(app, carrier):
    app.twiml("/voice", '<Say volume="11">Hi</Say><Dance/><Say>there</Say>')
    call = carrier.dial(to=HOTLINE)
    assert call.take_text() == "Hi there"
    assert call.errors == [12200, 12200]
    assert [entry.text for entry in call.log if entry.kind == "warning"] == [
        "unknown attribute 'volume' on <Say>",
        "unknown verb <Dance>",
    ]


@pytest.mark.parametrize(
    ("answer", "code"),
    [
        (("oops", 500, "text/xml"), 11200),
        (("<Response>", 200, "text/xml"), 12100),
        (("<Response><Say>hi</Say></Response>", 200, "application/json"), 12300),
        (("", 200, "text/xml"), 12100),
    ],
)
def test_a_broken_answer_plays_the_application_error_and_ends_the_call(app, carrier, answer, code):
    app.on("/voice", answer[0], status=answer[1], content_type=answer[2])
    call = carrier.dial(to=HOTLINE)
    assert call.take_text() == APP_ERROR
    assert call.status == "completed" and call.errors == [code]
    assert call.fetches[0]["status_code"] == answer[1]


def test_a_dead_app_is_error_11205(carrier):
    carrier.add_number("+861000000002", voice_url="http://127.0.0.1:9/voice")
    call = carrier.dial(to="+861000000002")
    assert call.errors == [11205] and call.take_text() == APP_ERROR


def test_the_fallback_url_gets_error_code_and_url_and_continues_the_call(app, carrier):
    carrier.add_number("+861000000003", voice_url=app.url("/broken"), fallback_url=app.url("/fallback"))
    app.on("/broken", "no", status=503)
    app.twiml("/fallback", "<Say>Sorry, we are having trouble</Say>")
    call = carrier.dial(to="+861000000003")
    assert call.take_text() == "Sorry, we are having trouble"
    form = app.last("/fallback").form
    assert form["ErrorCode"] == "11200" and form["ErrorUrl"] == app.url("/broken")
    assert call.errors == [11200]


def test_a_broken_fallback_still_ends_in_the_application_error(app, carrier):
    carrier.add_number("+861000000004", voice_url=app.url("/broken"), fallback_url=app.url("/also-broken"))
    app.on("/broken", "<Response>", content_type="text/xml")
    app.on("/also-broken", "x", status=404)
    call = carrier.dial(to="+861000000004")
    assert call.errors == [12100, 11200] and call.take_text() == APP_ERROR


def test_action_urls_failing_later_in_the_call_use_the_fallback_too(app, carrier):
    carrier.add_number("+861000000005", voice_url=app.url("/voice"), fallback_url=app.url("/fallback"))
    app.twiml("/voice", '<Gather numDigits="1" action="/broken"/>')
    app.on("/broken", "x", status=500)
    app.twiml("/fallback", "<Say>fallback</Say>")
    call = carrier.dial(to="+861000000005")
    call.press("1")
    assert call.take_text() == "fallback" and app.last("/fallback").form["Digits"] == "1"


def test_http_redirects_are_followed_as_a_browser_would(app, carrier):
    app.on("/voice", lambda hit: Response("", 302, headers={"Location": "/moved?via=302"}))
    app.twiml("/moved", "<Say>moved</Say>")
    call = carrier.dial(to=HOTLINE)
    assert call.take_text() == "moved"
    assert app.last("/moved").method == "GET" and app.last("/moved").args["via"] == "302"


def test_more_than_ten_redirects_is_error_11215(app, carrier):
    app.on("/voice", lambda hit: Response("", 307, headers={"Location": "/voice"}))
    call = carrier.dial(to=HOTLINE)
    assert call.errors == [11215] and len(app.to("/voice")) == 11


def test_cookies_set_by_the_app_come_back_for_the_rest_of_the_call(app, carrier):
    def voice(hit):
        response = Response("<Response><Redirect>/next</Redirect></Response>", mimetype="text/xml")
        response.set_cookie("session", "abc")
        return response

    app.on("/voice", voice)
    app.twiml("/next", "<Say>ok</Say>")
    carrier.dial(to=HOTLINE)
    assert app.last("/next").cookies == {"session": "abc"}


def test_plain_text_is_read_aloud_and_audio_is_played(app, carrier):
    app.on("/voice", "We are closed today.", content_type="text/plain")
    call = carrier.dial(to=HOTLINE)
    assert call.take_text() == "We are closed today." and call.status == "completed"
    app.on("/voice", "ID3...", content_type="audio/mpeg")
    call = carrier.dial(to=HOTLINE)
    assert call.heard[0].kind == "play" and call.heard[0].text == app.url("/voice")


def test_the_log_shows_verbs_and_fetches_and_reads_like_dicts(app, carrier):
    app.twiml("/voice", '<Say>Hi</Say><Dial action="/after"><Number>+861088880000</Number></Dial>')
    carrier.set_endpoint("+861088880000", "busy")
    call = carrier.dial(to=HOTLINE)
    fetch = call.fetches[0]
    assert fetch.url == app.url("/voice") and fetch["status_code"] == 200 and "<Say>Hi</Say>" in fetch["body"]
    assert fetch["params"]["CallSid"] == call.sid
    dial = next(entry for entry in call.log if entry.get("verb") == "Dial")
    assert dial["nouns"] == [{"noun": "Number", "text": "+861088880000", "attrs": {}}]
    assert "status_code" not in dial and dial.get("missing", "x") == "x"


def test_inline_twiml_needs_absolute_urls(app, carrier):
    carrier.set_endpoint("+8613900000001", "answer")
    call = carrier.create_call("+8613900000001", HOTLINE, twiml="<Response><Redirect>/relative</Redirect></Response>")
    call.wait(0)
    assert call.errors == [11100] and call.take_text() == APP_ERROR


def test_only_a_call_in_progress_can_be_redirected(app, carrier):
    from emulator import EmulatorError

    call = carrier.create_call("+8613900000001", HOTLINE, url=app.url("/voice"))  # rings: nobody answers it
    assert call.status == "ringing" and call.waiting_for == "answer"
    with pytest.raises(EmulatorError):
        carrier.update_call(call.sid, url=app.url("/elsewhere"))
    carrier.update_call(call.sid, status="canceled")
    assert call.status == "canceled" and app.to("/voice") == []
