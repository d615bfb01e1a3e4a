"""The webhooks one request at a time: signatures, proxies, odd requests.
Whole calls are in test_calls.py."""

import pytest
from twilio.request_validator import RequestValidator

import settings as settings_module
from app import ROOT, create_app
from tests.conftest import AUTH_TOKEN
from tests.twiml import parse, spoken, verbs

FORM = {"CallSid": "CA" + "a" * 32, "From": "+8613912345678", "To": "+861065281000", "CallStatus": "ringing"}


def signed(url: str, form: dict) -> dict:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


def post(client, path: str, form: dict = FORM, *, base="http://localhost", headers=None):
    return client.post(path, data=form, headers=headers if headers is not None else signed(base + path, form))


def test_a_signed_request_is_answered_with_a_menu(app):
    response = post(app.test_client(), "/ivr/voice")
    assert response.status_code == 200
    assert response.mimetype == "application/xml"
    root = parse(response.data)
    assert verbs(root) == ["Gather", "Redirect"]
    assert "欢迎致电明湖示范医院" in spoken(root)


@pytest.mark.parametrize(
    "headers",
    [{}, {"X-Twilio-Signature": "bm90IGEgc2lnbmF0dXJl"}, signed("http://localhost/ivr/voice", {**FORM, "Digits": "1"})],
    ids=["unsigned", "forged", "signed-for-other-fields"],
)
def test_unsigned_or_forged_requests_are_refused_and_logged(app, headers, caplog):
    response = post(app.test_client(), "/ivr/voice", headers=headers)
    assert response.status_code == 403
    assert "rejected unsigned or forged webhook" in caplog.text
    assert "13912345678" not in caplog.text  # numbers are masked in logs


def test_behind_a_proxy_the_forwarded_public_url_is_what_is_checked(environ, clock):
    app = create_app(
        settings_module.load(ROOT / "config.yaml", environ=environ | {"TRUSTED_PROXIES": "1"}), clock=clock
    )
    public = "https://hotline.example.org"
    headers = {
        **signed(public + "/ivr/voice", FORM),
        "X-Forwarded-Proto": "https",
        "X-Forwarded-Host": "hotline.example.org",
    }
    response = post(app.test_client(), "/ivr/voice", headers=headers)
    app.extensions["hotline"].engine.dispose()
    assert response.status_code == 200
    action = parse(response.data).find("Gather").get("action")
    assert action.startswith("https://hotline.example.org/ivr/menu/main?")


def test_public_base_url_wins_over_what_the_app_sees(environ, clock):
    settings = settings_module.load(
        ROOT / "config.yaml", environ={**environ, "PUBLIC_BASE_URL": "https://ivr.example.cn/hotline"}
    )
    app = create_app(settings, clock=clock)
    form = dict(FORM)
    response = post(
        app.test_client(), "/ivr/voice", form, headers=signed("https://ivr.example.cn/hotline/ivr/voice", form)
    )
    assert response.status_code == 200
    assert parse(response.data).find("Gather").get("action").startswith("https://ivr.example.cn/hotline/ivr/menu/main?")
    app.extensions["hotline"].engine.dispose()


def test_an_unknown_ivr_url_still_answers_twiml(app):
    response = post(app.test_client(), "/ivr/nowhere/at-all")
    assert response.status_code == 200
    assert "对不起" in spoken(parse(response.data))


@pytest.mark.parametrize("path", ["/ivr/nowhere", "/ivr/a/b/c", "/ivr/", "/ivr/voice/", "/ivr/sms/incoming/more"])
def test_an_unknown_ivr_url_checks_the_signature_like_every_other(app, path):
    """Issue 22.9: URLs under /ivr/ that match no route answered 200 with TwiML before any
    signature check.  Now: 403 unsigned or forged (any method), and signed, the apology of
    an unknown step and the main menu."""
    client = app.test_client()
    assert client.post(path, data=FORM).status_code == 403
    assert client.get(path).status_code == 403
    assert post(client, path, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}).status_code == 403
    assert client.put("/ivr/voice", data=FORM).status_code == 403  # a method no route takes
    response = post(client, path)
    assert response.status_code == 200
    root = parse(response.data)
    assert spoken(root).startswith("对不起，这个选项暂时无法使用，为您返回主菜单。")
    assert verbs(root) == ["Gather", "Redirect"]
    assert "/ivr/menu/main" in root.find("Gather").get("action")


def test_an_unknown_step_returns_to_the_main_menu(app):
    response = post(app.test_client(), "/ivr/departments/teleport?lang=zh")
    root = parse(response.data)
    assert spoken(root).startswith("对不起，这个选项暂时无法使用，为您返回主菜单。")
    assert verbs(root) == ["Gather", "Redirect"]


def test_garbage_arguments_are_ignored(app):
    response = post(app.test_client(), "/ivr/departments/start?lang=xx&page=-3&f=abc&evil=%00")
    root = parse(response.data)
    assert "请选择科室" in spoken(root)


def test_a_request_without_a_callsid_is_answered(app):
    response = post(app.test_client(), "/ivr/voice", {})
    assert response.status_code == 200
    assert "欢迎致电" in spoken(parse(response.data))


def test_the_status_callback_answers_204_even_without_a_call(app):
    assert post(app.test_client(), "/ivr/status", {}).status_code == 204


def test_without_an_auth_token_signatures_are_not_required(environ, clock):
    environ = {k: v for k, v in environ.items() if k != "TWILIO_AUTH_TOKEN"} | {"HOTLINE_INSECURE_WEBHOOKS": "1"}
    app = create_app(settings_module.load(ROOT / "config.yaml", environ=environ), clock=clock)
    assert post(app.test_client(), "/ivr/voice", headers={}).status_code == 200
    app.extensions["hotline"].engine.dispose()


@pytest.mark.parametrize(
    "path",
    [
        "/ivr/booking/days?doctor=D001",
        "/ivr/booking/sessions?doctor=D001&day=2026-11-26",
        "/ivr/booking/confirm?session=1",
        "/ivr/booking/book?session=1",
        "/ivr/appointments/start",
        "/ivr/appointments/cancelled?appointment=1",
    ],
)
def test_booking_steps_ask_who_is_calling_first(app, path):
    """Reached without identification (a stale or crafted URL): the caller is asked who they are."""
    response = post(app.test_client(), path, {**FORM, "CallSid": "CA" + "b" * 32})
    assert "请输入您的病历号中的数字" in spoken(parse(response.data))
