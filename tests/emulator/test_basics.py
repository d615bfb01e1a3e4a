"""The clock, TwiML parsing, timing estimates, and request signing."""

from datetime import UTC, datetime

import pytest
from twilio.request_validator import RequestValidator

from emulator import VirtualClock, speaking_seconds
from emulator import twiml as t

from .conftest import AUTH_TOKEN, CALLER, HOTLINE

# ---- the clock -----------------------------------------------------------------------------------


def test_the_clock_stands_still_until_advanced_and_runs_timers_in_order():
    clock = VirtualClock(datetime(2026, 11, 24, 2, 0, tzinfo=UTC))
    ran = []
    clock.call_later(5, lambda: ran.append(("b", clock.time())))
    clock.call_later(2, lambda: ran.append(("a", clock.time())))
    cancelled = clock.call_later(3, lambda: ran.append(("never", 0)))
    cancelled.cancel()
    assert clock.time() == 0 and ran == []
    clock.advance(4)
    assert ran == [("a", 2)] and clock.time() == 4
    clock.advance(10)
    assert ran == [("a", 2), ("b", 5)]
    assert clock.now() == datetime(2026, 11, 24, 2, 0, 14, tzinfo=UTC)


def test_the_default_clock_starts_at_the_real_now_in_utc():
    before = datetime.now(UTC).replace(microsecond=0)
    clock = VirtualClock()
    assert clock.now().tzinfo is not None and before <= clock.now() <= datetime.now(UTC)
    with pytest.raises(ValueError):
        clock.advance(-1)


# ---- parsing -----------------------------------------------------------------------------------


def test_parse_keeps_known_verbs_and_warns_about_the_rest():
    doc = t.parse(
        '<Response><Say loop="2" colour="red">Hi</Say><Shout>no</Shout><say>lower</say>'
        "<Gather><Say>menu</Say><Dial>1</Dial></Gather></Response>",
        url="http://x/doc",
    )
    assert [n.verb for n in doc.verbs] == ["Say", "Gather"]
    assert doc.verbs[0].attrs == {"loop": "2"}
    assert [c.verb for c in doc.verbs[1].children] == ["Say"]
    assert len(doc.warnings) == 4  # colour, <Shout>, <say> (names are case-sensitive), <Dial> in <Gather>


@pytest.mark.parametrize(
    "body",
    [
        " <?xml version='1.0'?><Response/>",  # whitespace before the declaration
        "<Response><Say>a & b</Say></Response>",  # unescaped &
        "<Reply><Say>hi</Say></Reply>",  # not <Response>
        '<!DOCTYPE r [<!ENTITY a "aaaa">]><Response><Say>&a;</Say></Response>',
        "",
    ],
)
def test_malformed_documents_are_rejected(body):
    with pytest.raises(t.TwimlError):
        t.parse(body)


def test_ssml_inside_say_still_counts_as_its_text():
    doc = t.parse('<Response><Say>Hello <break time="1s"/> <emphasis>there</emphasis></Say></Response>')
    assert doc.verbs[0].text == "Hello there" and doc.warnings == []


def test_speaking_time_is_deterministic():
    assert speaking_seconds("") == 0
    assert speaking_seconds("Press one") == 0.8  # 150 words a minute
    assert speaking_seconds("欢迎致电") == 1.0  # four characters a second
    assert speaking_seconds("OK") == 0.5  # nothing is shorter than half a second
    assert t.digits_seconds("1w2W") == 0.25 + 0.5 + 0.25 + 1.0


# ---- signing -----------------------------------------------------------------------------------


def test_twilio_reference_vector():
    validator = RequestValidator("12345")
    params = {
        "CallSid": "CA1234567890ABCDE",
        "Digits": "1234",
        "From": "+14158675309",
        "To": "+18005551212",
        "Caller": "+14158675309",
    }
    url = "https://mycompany.com/myapp.php?foo=1&bar=2"
    from emulator.webhooks import Webhooks

    assert Webhooks("12345").sign(url, params) == "RSOYDt4T1cUTdK1PDd93/VVr8B8="
    assert validator.validate(url, params, "RSOYDt4T1cUTdK1PDd93/VVr8B8=")


def test_every_webhook_is_signed_and_carries_the_standard_parameters(app, carrier):
    app.twiml("/voice", '<Gather numDigits="1" action="/next?step=2"/>')
    app.twiml("/next", "<Hangup/>")
    call = carrier.dial(to=HOTLINE, from_=CALLER)
    call.press("5")
    validator = RequestValidator(AUTH_TOKEN)
    for path in ("/voice", "/next", "/status"):
        hit = app.last(path)
        assert validator.validate(hit.url, hit.form, hit.headers["X-Twilio-Signature"]), path
        for name in ("CallSid", "AccountSid", "From", "To", "CallStatus", "ApiVersion", "Direction"):
            assert hit.form[name], (path, name)
    voice = app.last("/voice").form
    assert voice["CallStatus"] == "ringing" and voice["Direction"] == "inbound" and voice["ApiVersion"] == "2010-04-01"
    assert voice["From"] == voice["Caller"] == CALLER and voice["To"] == voice["Called"] == HOTLINE
    assert app.last("/next").form["Digits"] == "5" and app.last("/next").args == {"step": "2"}
    assert app.last("/next").form["CallStatus"] == "in-progress"


def test_get_requests_sign_the_full_url_with_the_parameters_in_its_query(app, carrier):
    carrier.add_number("+861000000001", voice_url=app.url("/voice?lang=zh"), voice_method="GET")
    app.twiml("/voice", "<Say>hi</Say>")
    carrier.dial(to="+861000000001")
    hit = app.last("/voice")
    assert hit.method == "GET" and hit.form == {} and hit.args["lang"] == "zh" and hit.args["CallSid"].startswith("CA")
    assert RequestValidator(AUTH_TOKEN).validate(hit.url, {}, hit.headers["X-Twilio-Signature"])
