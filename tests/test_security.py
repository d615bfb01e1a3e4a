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

import io

import pytest
from twilio.request_validator import RequestValidator

import settings as settings_module
from app import ROOT, create_app
from tests.conftest import AUTH_TOKEN
from tests.twiml import parse, spoken
from tests.web import log_in, make_staff

# The probes, for load balancers and systemd: no patient data (tests/test_health.py).
# The satisfaction survey's page: the patient's texted link carries a random token
# (tests/aftercare/test_satisfaction.py: an unknown token answers 404, an answer is taken once).
OPEN_WITHOUT_LOGIN = {"static", "accounts.login", "monitoring.healthz", "monitoring.readyz", "satisfaction.answer"}
# Prometheus' scrape: its token or an allowed address, never a staff login (tests/test_metrics.py).
SCRAPE = "metrics.metrics"
# JSON APIs for other systems, authenticated by a bearer token in their blueprint's
# before_request (not by a staff login): refused without the token.
TOKEN_BLUEPRINTS = {"aftercare_api", "booking_api"}
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
            # The form, a wrong password, a file or none; /readyz's 503 says 'not ready' (no worker here).
            assert status < 500 or (rule.endpoint, status) == ("monitoring.readyz", 503), (method, url, status)
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
        if rule.endpoint in ("accounts.home", "accounts.logout", SCRAPE):
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
        if method != "GET" or not roles or "agent" in roles or token_api(rule):
            continue  # a token API answers a staff login 401 (no token): tests/test_booking_api.py
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
    settings = settings_module.load(
        ROOT / "config.yaml", environ={**environ, "PUBLIC_BASE_URL": public, "TRUSTED_PROXIES": "1"}
    )
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
    for url in ("/login", "/static/hotline.css", "/supervisor/calls", "/supervisor/calls?from=/ivr/voice"):
        response = client.get(url)
        csp = response.headers["Content-Security-Policy"]
        assert "default-src 'self'" in csp and "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "script-src 'self' 'nonce-" in csp
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["Referrer-Policy"] == "no-referrer"
        assert "Strict-Transport-Security" not in response.headers  # plain http: not promised


def test_twilio_gets_twiml_without_the_staff_pages_cookie_csrf_and_browser_headers(app):
    """The carrier's requests skip the staff machinery (issue 17) but still get what a
    webhook needs: the signature check, no caching of a TwiML that may greet by name."""
    client = app.test_client()
    answer = client.post("/ivr/voice", data=FORM, headers=sign("http://localhost/ivr/voice", FORM))
    assert answer.status_code == 200 and parse(answer.get_data(as_text=True)).tag == "Response"
    assert answer.headers["Cache-Control"] == "no-store"
    assert "Set-Cookie" not in answer.headers and "Vary" not in answer.headers
    assert "Content-Security-Policy" not in answer.headers
    assert client.post("/ivr/voice", data=FORM).status_code == 403  # unsigned: still refused
    forged = client.post("/ivr/voice", data=FORM, headers={"X-Twilio-Signature": "Zm9yZ2Vk"})
    assert forged.status_code == 403


def test_staff_pages_still_get_their_session_csrf_and_headers_beside_webhooks(app):
    client = app.test_client()
    client.post("/ivr/voice", data=FORM, headers=sign("http://localhost/ivr/voice", FORM))
    login = client.get("/login")
    assert "Set-Cookie" in login.headers and "nonce-" in login.headers["Content-Security-Policy"]
    assert login.headers["X-Frame-Options"] == "DENY"
    refused = client.post("/login", data={"username": "nobody", "password": "x"})  # no CSRF token
    assert refused.status_code == 400


def test_a_signature_with_the_default_port_is_accepted_and_checked(app):
    """Twilio has signed URLs with and without :443/:80; both forms pass, nothing else."""
    client = app.test_client()
    url = "/ivr/voice"
    assert client.post(url, data=FORM, headers=sign("http://localhost:80/ivr/voice", FORM)).status_code == 200
    assert client.post(url, data=FORM, headers=sign("http://localhost:8080/ivr/voice", FORM)).status_code == 403


def test_a_signed_field_holding_a_nul_still_passes_the_check(app):
    client = app.test_client()
    form = {**FORM, "Digits": "1\x00"}
    answer = client.post("/ivr/voice", data=form, headers=sign("http://localhost/ivr/voice", form))
    assert answer.status_code == 200


def test_over_https_behind_the_proxy_hsts_is_sent(environ, clock):
    app = create_app(
        settings_module.load(ROOT / "config.yaml", environ=environ | {"TRUSTED_PROXIES": "1"}), clock=clock
    )
    response = app.test_client().get("/login", headers={"X-Forwarded-Proto": "https"})
    app.extensions["hotline"].engine.dispose()
    assert "max-age=31536000" in response.headers["Strict-Transport-Security"]


def test_no_page_nor_export_is_kept_in_a_cache(open_app):
    """Issue 22.6: patient files and CSV exports carried no Cache-Control, so a shared
    computer's browser (or a proxy) could keep them.  Every answer but a static file says
    no-store; the walk covers every GET route an administrator can open, the file page
    (a POST from the search) and the exports."""
    from records.models import Patient

    admin = make_staff(open_app, "admin")
    client = open_app.test_client()
    log_in(client, admin.username, admin.password)
    checked = []
    for rule, method, url in routes(open_app):
        if method != "GET" or is_twilio_facing(url):
            continue
        response = client.get(url)
        if rule.endpoint == "static":
            assert "no-store" not in response.headers.get("Cache-Control", ""), url  # the CSS may be cached
            continue
        assert response.headers.get("Cache-Control") == "no-store", (url, response.status_code)
        checked.append(url)
    assert {"/supervisor/calls", "/supervisor/calls.csv", "/agent/search"} <= set(checked)
    with open_app.extensions["hotline"].sessions() as db:
        patient_id = db.query(Patient.id).filter(Patient.mrn == "M00000001").scalar()
    file_page = client.post(f"/agent/files/{patient_id}", data={"reason": "患者来电咨询"})
    assert "王秀英" in file_page.get_data(as_text=True) and file_page.headers["Cache-Control"] == "no-store"
    report = client.get("/supervisor/reports?format=csv&table=day")
    assert report.mimetype == "text/csv" and report.headers["Cache-Control"] == "no-store"
    # The webhooks' TwiML greets callers by name: not kept either.
    assert client.post("/ivr/voice", data=FORM).headers["Cache-Control"] == "no-store"


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


# ---- hostile bodies (issue 22) -------------------------------------------------------------------

DEEP = "[" * 100_000 + "]" * 100_000  # json recursed once per level: RecursionError, a 500


def test_deeply_nested_json_is_a_400_that_says_why(open_app):
    """Issue 22.8: /api/v1/discharges answered 500 to deeply nested JSON."""
    client = open_app.test_client()
    api = {"Authorization": "Bearer walk-token", "Content-Type": "application/json"}
    for body in (DEEP, '{"events": ' + "[" * 40 + "]" * 40 + "}"):  # past json's recursion, and just past our cap
        response = client.post("/api/v1/discharges", data=body, headers=api)
        assert response.status_code == 400, response.get_data(as_text=True)[:200]
        (problem,) = response.get_json()["problems"]
        assert problem["field"] == "body"
        assert "嵌套过深" in problem["message"] and "nested too deeply" in problem["message"]
    # Still told apart from a body that is not JSON at all, and a shallow batch still goes in.
    oops = client.post("/api/v1/discharges", data="{oops", headers=api).get_json()["problems"][0]["message"]
    assert "Not valid JSON" in oops
    event = {"event_id": "ADT-9", "mrn": "M00000001", "ward": "心内科一病区", "discharge_date": "2026-11-20",
             "attending_doctor": "张伟"}  # fmt: skip
    assert client.post("/api/v1/discharges", json={"events": [event]}, headers=api).status_code == 201

    # The agents' API reads JSON the same way: a refusal, not a 500.
    agent = make_staff(open_app, "agent")
    log_in(client, agent.username, agent.password)
    response = client.post("/agent/api/wrap-up", data=DEEP, headers={"Content-Type": "application/json"})
    assert response.status_code == 400


class Body(io.RawIOBase):
    """A request body of `size` bytes ('a=aaaa...'), made as it is read, counting what the
    app reads of it: nothing is held in the test's memory."""

    def __init__(self, size: int):
        self.size, self.position, self.read_bytes = size, 0, 0

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:  # the test client measures the body by seeking to its end
        return True

    def seek(self, offset: int, whence: int = 0) -> int:
        self.position = {0: offset, 1: self.position + offset, 2: self.size + offset}[whence]
        return self.position

    def tell(self) -> int:
        return self.position

    def readinto(self, buffer) -> int:
        n = max(0, min(len(buffer), self.size - self.position))
        buffer[:n] = b"a" * n
        self.position += n
        self.read_bytes += n
        return n


def post_body(client, url: str, size: int, *, chunked: bool = False, json: bool = False, **headers):
    body = Body(size)
    if chunked:  # no length said: the server (gunicorn) passes the stream on as it comes
        headers["Transfer-Encoding"] = "chunked"
    response = client.post(
        url,
        input_stream=body,
        content_type="application/json" if json else "application/x-www-form-urlencoded",
        headers=headers,
        environ_overrides={"wsgi.input_terminated": True} if chunked else {},
    )
    return response, body.read_bytes


def test_an_unsigned_webhook_is_refused_before_its_body_is_read(app):
    """Issue 22.2: unsigned bodies were read whole before the signature was checked (four
    100 MiB posts took two workers from 160/140 to 939/845 MiB).  The memory it saves is
    measured by bench/bodies.py; here, what the app reads."""
    client = app.test_client()
    for url in twilio_urls(app) + ["/ivr/nowhere"]:
        response, read = post_body(client, url, 20 * 1024 * 1024)
        assert (response.status_code, read) == (403, 0), url


def test_a_webhook_body_over_the_cap_is_refused_unread_with_twiml_where_a_caller_may_be(app):
    """A signature header cannot be checked without the whole body: a declared length over
    the webhooks' cap (64 KiB) is refused before a byte is read, and a chunked body is cut
    at the cap.  Twilio never sends one; if it did, a caller on a voice step hears the
    apology and a person (TwiML, 200), not 'an application error'."""
    client = app.test_client()
    forged = {"X-Twilio-Signature": "Zm9yZ2Vk"}
    for url in ("/ivr/voice", "/ivr/menu/main", "/ivr/nowhere"):
        response, read = post_body(client, url, 20 * 1024 * 1024, **forged)
        assert (response.status_code, read) == (200, 0), url
        assert "对不起" in spoken(parse(response.data)), url
        # Chunked, with no length said: read up to the cap, and a body cut there is not signed.
        response, read = post_body(client, url, 20 * 1024 * 1024, chunked=True, **forged)
        assert response.status_code == 403 and read <= 64 * 1024, (url, read)
    for url in ("/ivr/status", "/ivr/sms/incoming", "/ivr/sms/status", "/ivr/followup/call-status"):
        response, read = post_body(client, url, 20 * 1024 * 1024, **forged)
        assert (response.status_code, read) == (413, 0), url
        assert "请求内容过大" in response.get_data(as_text=True) and "too large" in response.get_data(as_text=True)
    # A signed request of an honest size still goes through.
    assert client.post("/ivr/voice", data=FORM, headers=sign("http://localhost/ivr/voice", FORM)).status_code == 200


def test_staff_pages_and_the_api_cap_bodies_too(open_app):
    client = open_app.test_client()
    response, read = post_body(client, "/login", 50 * 1024 * 1024)
    assert (response.status_code, read) == (413, 0)
    agent = make_staff(open_app, "agent")
    log_in(client, agent.username, agent.password)
    for url in ("/login", "/agent/api/wrap-up"):
        response, read = post_body(client, url, 50 * 1024 * 1024)
        assert (response.status_code, read) == (413, 0), url
        assert "请求内容过大" in response.get_data(as_text=True) and "at most 4096 KiB" in response.get_data(
            as_text=True
        )
    response, read = post_body(
        client, "/api/v1/discharges", 50 * 1024 * 1024, json=True, Authorization="Bearer walk-token"
    )
    assert (response.status_code, read) == (413, 0)
    assert "请求内容过大" in response.get_json()["problems"][0]["message"]
