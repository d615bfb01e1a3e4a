"""Who may reach what: every URL the app has, walked from its URL map.

- Nothing but the Twilio webhooks (which need a valid X-Twilio-Signature), static files
  and the login page answers without a logged-in session; staff pages redirect to the
  login page, JSON APIs answer 401.
- Every Twilio-facing URL refuses an unsigned, a forged, or a replayed-elsewhere request,
  and accepts a signed one, also behind a TLS proxy with PUBLIC_BASE_URL.
- An agent cannot open supervisor pages.
- Every answer carries the secure headers (CSP, frame, content type, referrer), and HSTS
  when served over https.

The walk is rerun as areas land: a new route is covered without editing this file, and
one that forgets its role check fails here."""

from __future__ import annotations

import pytest
from twilio.request_validator import RequestValidator

import settings as settings_module
from app import ROOT, create_app
from tests.conftest import AUTH_TOKEN
from tests.web import log_in, make_staff

OPEN_WITHOUT_LOGIN = {"static", "accounts.login"}
# JSON APIs for other systems, authenticated by a bearer token in their blueprint's
# before_request (not by a staff login): refused without the token.
TOKEN_BLUEPRINTS = {"aftercare_api"}
FORM = {"CallSid": "CA" + "e" * 32, "From": "+8613912345678", "To": "+861065281000", "CallStatus": "ringing",
        "AccountSid": "AC" + "1" * 32, "MessageSid": "SM" + "e" * 32, "Body": "1"}  # fmt: skip


def sample_url(rule) -> str:
    """The rule's URL with a plausible value for each variable."""
    values = {}
    for name, converter in rule._converters.items():
        kind = type(converter).__name__
        values[name] = {"IntegerConverter": 1, "PathConverter": "hotline.css"}.get(kind, "menu")
    if rule.endpoint == "ivr.step":
        values = {"flow": "menu", "name": "main"}
    return rule.build(values, append_unknown=False)[1]


def routes(app):
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            yield rule, method, sample_url(rule)


def is_twilio_facing(url: str) -> bool:
    return url.startswith("/ivr/")


@pytest.fixture
def open_app(environ, clock):
    """CSRF off, so that a POST reaches the login check rather than stopping at the
    missing token (CSRF itself is the login foundation's, tested there); the token APIs on."""
    settings = settings_module.load(ROOT / "config.yaml", environ={**environ, "AFTERCARE_API_TOKENS": "walk-token"})
    app = create_app(settings, clock=clock)
    app.config.update(TESTING=True, WTF_CSRF_ENABLED=False)
    yield app
    app.extensions["hotline"].engine.dispose()


def token_api(rule) -> bool:
    return rule.endpoint.split(".", 1)[0] in TOKEN_BLUEPRINTS


def test_nothing_but_webhooks_static_files_and_the_login_page_answers_without_a_session(open_app):
    client = open_app.test_client()
    answered = []
    for rule, method, url in routes(open_app):
        response = client.open(url, method=method, data=FORM if method == "POST" else None)
        status = response.status_code
        if is_twilio_facing(url):
            assert status == 403, (method, url, status)  # unsigned
        elif token_api(rule):
            assert status == 401, (method, url, status)
            wrong = client.open(url, method=method, json={}, headers={"Authorization": "Bearer not-the-token"})
            assert wrong.status_code == 401, (method, url, wrong.status_code)
        elif rule.endpoint in OPEN_WITHOUT_LOGIN:
            assert status < 500, (method, url, status)  # the form, a wrong password, a file or none
        elif status in (302, 303):
            assert response.headers["Location"].split("?")[0].endswith("/login"), (method, url, response.location)
        else:
            assert status in (401, 403), (method, url, status, response.get_data()[:200])
        answered.append((method, url))
    assert len(answered) > 20  # the walk saw the app's routes (its own sanity check)


def test_every_staff_route_has_a_role_check(open_app):
    """The structural side of the walk: a view that is neither open nor Twilio-facing is
    wrapped by accounts.role_required (or is the home page and logout, which need a login)."""
    unguarded = []
    for rule in open_app.url_map.iter_rules():
        view = open_app.view_functions[rule.endpoint]
        if rule.endpoint in OPEN_WITHOUT_LOGIN or rule.rule.startswith("/ivr/"):
            continue
        if rule.endpoint in ("accounts.home", "accounts.logout"):
            continue
        if token_api(rule):
            # Guarded by its view's decorator (aftercare.api.token_required) or its blueprint's before_request.
            guarded = getattr(view, "roles", None) or open_app.before_request_funcs.get(rule.endpoint.split(".", 1)[0])
            assert guarded, rule.rule
            continue
        if not getattr(view, "roles", None):
            unguarded.append(rule.rule)
    assert unguarded == []


def test_an_agent_cannot_open_supervisor_pages(open_app):
    agent = make_staff(open_app, "agent")
    client = open_app.test_client()
    log_in(client, agent.username, agent.password)
    checked = 0
    for rule, method, url in routes(open_app):
        roles = getattr(open_app.view_functions[rule.endpoint], "roles", None)
        if method != "GET" or not roles or "agent" in roles:
            continue
        response = client.get(url)
        assert response.status_code == 403, (url, response.status_code)
        checked += 1
    assert checked >= 5


def sign(url: str, form: dict) -> dict:
    return {"X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(url, form)}


def twilio_urls(app) -> list[str]:
    return sorted({url for rule, method, url in routes(app) if is_twilio_facing(url) and method == "POST"})


def test_every_twilio_url_checks_the_signature(app):
    client = app.test_client()
    urls = twilio_urls(app)
    assert {"/ivr/voice", "/ivr/status", "/ivr/sms/incoming", "/ivr/sms/status"} <= set(urls)
    for url in urls:
        full = f"http://localhost{url}"
        assert client.post(url, data=FORM).status_code == 403, url
        assert client.post(url, data=FORM, headers={"X-Twilio-Signature": "Zm9yZ2Vk"}).status_code == 403, url
        tampered = {**FORM, "From": "+8613800138000"}  # signed for other fields
        assert client.post(url, data=tampered, headers=sign(full, FORM)).status_code == 403, url
        elsewhere = "http://localhost/ivr/voice" if url != "/ivr/voice" else "http://localhost/ivr/status"
        assert client.post(url, data=FORM, headers=sign(elsewhere, FORM)).status_code == 403, url
        assert client.post(url, data=FORM, headers=sign(full, FORM)).status_code in (200, 204), url


def test_behind_a_proxy_signatures_are_checked_against_public_base_url(environ, clock):
    public = "https://hotline.example.org"
    settings = settings_module.load(ROOT / "config.yaml", environ={**environ, "PUBLIC_BASE_URL": public})
    app = create_app(settings, clock=clock)
    client = app.test_client()
    try:
        for url in twilio_urls(app):
            proxied = {"X-Forwarded-Proto": "https", "X-Forwarded-Host": "hotline.example.org"}
            ok = client.post(url, data=FORM, headers={**proxied, **sign(public + url, FORM)})
            assert ok.status_code in (200, 204), url
            # What the app itself sees (http://localhost) is not what Twilio signed.
            internal = client.post(url, data=FORM, headers=sign(f"http://localhost{url}", FORM))
            assert internal.status_code == 403, url
    finally:
        app.extensions["hotline"].engine.dispose()


# ---- secure headers ------------------------------------------------------------------------------


def test_every_answer_carries_the_secure_headers(app):
    client = app.test_client()
    for url in ("/login", "/ivr/voice", "/static/hotline.css", "/supervisor/calls"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "script-src 'self' 'nonce-" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers  # plain http: not promised


def test_over_https_behind_the_proxy_hsts_is_sent(app):
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_inline_scripts_carry_the_requests_nonce(app):
    """The only inline scripts (wallboard, staffing) run under the CSP: their nonce is the
    one the header allows."""
    supervisor = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, supervisor.username, supervisor.password)
    for url in ("/supervisor/wallboard", "/staffing"):
        response = client.get(url)
        assert response.status_code == 200, url
        nonce = response.headers["Content-Security-Policy"].split("'nonce-", 1)[1].split("'", 1)[0]
        html = response.get_data(as_text=True)
        assert html.count("<script") == html.count(f'nonce="{nonce}"') + html.count("<script src="), url
