"""Staff logins: passwords, roles, CSRF, session limits, and the audit of file access."""

from __future__ import annotations

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import select

from accounts import role_required
from records.audit import accesses, record_access
from records.cli import DEMO_PASSWORD, DEMO_STAFF, _demo_staff
from records.models import Staff
from records.staff import StaffError, authenticate, create_staff, set_password
from tests.web import csrf_token, log_in, log_in_page, make_staff


@pytest.fixture
def guarded_app(app):
    """The app with one page for supervisors and one JSON API for agents, as areas add them."""
    bp = Blueprint("guarded", __name__)

    @bp.get("/supervisor-only")
    @role_required("supervisor")
    def supervisor_only():
        return "for supervisors"

    @bp.get("/agent/api/ping")
    @role_required("agent")
    def agent_ping():
        return jsonify(ok=True)

    app.register_blueprint(bp)
    return app


def test_a_stranger_is_sent_to_the_login_page(client_app):
    response = client_app.get("/")
    assert response.status_code == 302 and response.headers["Location"].endswith("/login")


@pytest.fixture
def client_app(app):
    return app.test_client()


def test_right_password_logs_in_and_wrong_one_says_so(app, client_app):
    agent = make_staff(app, "agent", "wang.agent")
    wrong = log_in(client_app, agent.username, "not-the-password")
    assert wrong.status_code == 401
    assert "Wrong username or password" in wrong.get_data(as_text=True)
    right = log_in(client_app, "Wang.Agent ", agent.password)  # names are case- and space-blind
    assert right.status_code == 302
    home = client_app.get("/", follow_redirects=True).get_data(as_text=True)
    assert "wang.agent (agent)" in home


def test_a_login_form_without_its_csrf_token_is_refused(app, client_app):
    agent = make_staff(app, "agent")
    response = client_app.post("/login", data={"username": agent.username, "password": agent.password})
    assert response.status_code == 400
    assert client_app.get("/").status_code == 302  # still not logged in


def test_roles_guard_pages_and_apis(guarded_app):
    agent, supervisor, admin = (make_staff(guarded_app, role) for role in ("agent", "supervisor", "admin"))
    anonymous = guarded_app.test_client()
    assert anonymous.get("/supervisor-only").status_code == 302
    api = anonymous.get("/agent/api/ping")
    assert api.status_code == 401 and api.json == {"error": "未登录，请重新登录 Not logged in: log in again"}
    for who, page_status, api_status in ((agent, 403, 200), (supervisor, 200, 403), (admin, 200, 200)):
        client = guarded_app.test_client()
        log_in(client, who.username, who.password)
        assert client.get("/supervisor-only").status_code == page_status, who.username
        assert client.get("/agent/api/ping").status_code == api_status, who.username


def test_after_too_many_wrong_passwords_even_the_right_one_waits(app, client_app):
    agent = make_staff(app, "agent")
    for _ in range(app.extensions["hotline"].settings.accounts.failed_logins):
        assert log_in(client_app, agent.username, "wrong-password").status_code == 401
    locked = log_in(client_app, agent.username, agent.password)
    assert locked.status_code == 429
    assert "Too many failed attempts" in locked.get_data(as_text=True)


def test_parallel_wrong_passwords_are_checked_at_most_the_limit(app, monkeypatch):
    """Issue 22.3: 40 parallel wrong passwords were checked 12 times against a limit of 5:
    every request read the count before any failure was added.  Each attempt is now
    counted (one atomic INCR) before its password is checked.  The password check is
    slowed here so the requests overlap as they would under a real attack."""
    import threading
    import time

    import accounts.views

    agent = make_staff(app, "agent")
    limit = app.extensions["hotline"].settings.accounts.failed_logins
    checked, real = [], accounts.views.authenticate

    def slow_authenticate(*args, **kwargs):
        checked.append(1)
        time.sleep(0.2)  # scrypt takes its time too; the requests overlap meanwhile
        return real(*args, **kwargs)

    monkeypatch.setattr(accounts.views, "authenticate", slow_authenticate)
    clients = [app.test_client() for _ in range(40)]
    tokens = [csrf_token(client.get("/login").get_data(as_text=True)) for client in clients]
    start, statuses = threading.Barrier(len(clients)), []

    def guess(client, token):
        start.wait()
        form = {"username": agent.username, "password": "wrong-password", "csrf_token": token}
        statuses.append(client.post("/login", data=form).status_code)

    threads = [threading.Thread(target=guess, args=pair) for pair in zip(clients, tokens, strict=True)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert len(checked) <= limit
    assert sorted(statuses) == [401] * len(checked) + [429] * (len(clients) - len(checked))
    # The owner, with the right password, waits too: the pause is per username.
    assert log_in(app.test_client(), agent.username, agent.password).status_code == 429


def test_spraying_guesses_over_many_usernames_pauses_that_address(app):
    """Issue 22.3: a few guesses at each of many usernames never locked anything.  Wrong
    passwords are also counted per address (accounts.failed_logins_per_address)."""
    hotline = app.extensions["hotline"]
    rules = hotline.settings.accounts.model_copy(update={"failed_logins_per_address": 6})
    hotline.settings = hotline.settings.model_copy(update={"accounts": rules})
    agent = make_staff(app, "agent")
    sprayer = app.test_client()
    sprayer.environ_base["REMOTE_ADDR"] = "10.0.0.66"
    for n in range(6):
        assert log_in(sprayer, f"staff{n}", "winter2026").status_code == 401
    refused = log_in(sprayer, agent.username, agent.password)  # even a right guess, from there
    assert refused.status_code == 429 and "Too many failed attempts" in refused.get_data(as_text=True)
    colleague = app.test_client()
    colleague.environ_base["REMOTE_ADDR"] = "10.0.0.67"
    assert log_in(colleague, agent.username, agent.password).status_code == 302  # other addresses log in


def test_right_passwords_do_not_count_as_failures(app):
    agent = make_staff(app, "agent")
    limit = app.extensions["hotline"].settings.accounts.failed_logins
    for _ in range(limit + 3):
        client = app.test_client()
        assert log_in(client, agent.username, agent.password).status_code == 302
    client = app.test_client()
    for _ in range(limit - 1):
        assert log_in(client, agent.username, "wrong-password").status_code == 401
    assert log_in(client, agent.username, agent.password).status_code == 302  # one short of the limit


def test_a_disabled_account_cannot_log_in(app, client_app):
    agent = make_staff(app, "agent", active=False)
    assert log_in(client_app, agent.username, agent.password).status_code == 401


def test_login_goes_back_only_to_pages_of_this_site(app, client_app):
    agent = make_staff(app, "agent")
    response = log_in(client_app, agent.username, agent.password, next_url="//evil.example/phish")
    assert response.headers["Location"] == "/"


@pytest.mark.parametrize(
    "next_url",
    [
        "/\t/evil.example",  # browsers drop tabs and line breaks: //evil.example
        "/\n/evil.example",
        "/\r\nSet-Cookie: stolen=1",  # a header of our own answer
        "/\x00/evil.example",
        "/\\evil.example",
        "https://evil.example/",
        "/ /evil.example",
        "\t//evil.example",
    ],
)
def test_login_never_sends_anyone_to_another_site(app, next_url):
    """Issue 22.1: `next=/%09/evil.example` answered `Location: //evil.example` and a line
    break in `next` a 500; both now land on this site's home page."""
    agent = make_staff(app, "agent")
    client = app.test_client()
    form = client.get("/login", query_string={"next": next_url})
    assert form.status_code == 200
    assert 'name="next"' not in form.get_data(as_text=True)  # not carried into the form either
    response = log_in(client, agent.username, agent.password, next_url=next_url)
    assert response.status_code == 302 and response.headers["Location"] == "/"


def test_login_still_goes_back_to_the_page_asked_for(app, client_app):
    agent = make_staff(app, "agent")
    response = log_in(client_app, agent.username, agent.password, next_url="/agent/cases?closed=1")
    assert response.headers["Location"] == "/agent/cases?closed=1"


def test_a_session_ends_after_the_configured_hours_however_busy(app, client_app):
    agent = make_staff(app, "agent")
    log_in(client_app, agent.username, agent.password)
    # Logged in: home is a page, or the first page of the agent's navigation (the console).
    assert not client_app.get("/").headers.get("Location", "").endswith("/login")
    hours = app.extensions["hotline"].settings.accounts.session_hours
    with client_app.session_transaction() as session:
        session["logged_in_at"] -= hours * 3600 + 1
    assert client_app.get("/").headers["Location"].endswith("/login")


def test_the_cookie_expires_after_the_idle_time_and_is_not_readable_by_scripts(app, client_app):
    agent = make_staff(app, "agent")
    response = log_in(client_app, agent.username, agent.password)
    cookie = response.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Lax" in cookie and "Expires=" in cookie
    idle = app.extensions["hotline"].settings.accounts.idle_minutes
    assert app.permanent_session_lifetime.total_seconds() == idle * 60


def test_logging_out_needs_the_token_and_ends_the_session(app, client_app):
    agent = make_staff(app, "agent")
    log_in(client_app, agent.username, agent.password)
    page = client_app.get("/", follow_redirects=True).get_data(as_text=True)  # home, or the role's first page
    assert client_app.post("/logout").status_code == 400
    client_app.post("/logout", data={"csrf_token": csrf_token(page)})
    assert client_app.get("/").headers["Location"].endswith("/login")


def test_passwords_are_stored_hashed_and_rules_are_explained(db):
    """The hotline's accounts and new passwords are hashed with scrypt, whatever method the
    other tests' accounts are made with (tests/web.py's one-round PBKDF2)."""
    staff = create_staff(db, username="li", display_name="李", role="agent", password="long-enough-pw")
    assert "long-enough-pw" not in staff.password_hash and staff.password_hash.startswith("scrypt:")
    assert authenticate(db, "li", "long-enough-pw") is staff
    set_password(db, staff, "another-long-pw")
    assert staff.password_hash.startswith("scrypt:") and authenticate(db, "li", "another-long-pw") is staff
    assert authenticate(db, "li", "long-enough-pw") is None
    assert authenticate(db, "nobody", "long-enough-pw") is None
    with pytest.raises(StaffError, match="at least 10 characters"):
        create_staff(db, username="short", display_name="", role="agent", password="short")
    with pytest.raises(StaffError, match="role must be one of"):
        create_staff(db, username="boss", display_name="", role="owner", password="long-enough-pw")
    with pytest.raises(StaffError, match="taken"):
        create_staff(db, username="LI", display_name="", role="agent", password="long-enough-pw")


def test_every_access_to_a_file_needs_a_reason_and_is_kept(db):
    staff = create_staff(db, username="auditee", display_name="", role="agent", password="long-enough-pw")
    with pytest.raises(ValueError, match="reason"):
        record_access(db, staff_id=staff.id, action="view_file", patient_id=1, reason="  ")
    record_access(db, staff_id=staff.id, action="view_file", patient_id=1, reason="incoming call", call_sid="CA1")
    record_access(db, staff_id=staff.id, action="search", patient_id=2, reason="patient asked by letter")
    assert [(e.action, e.reason) for e in accesses(db, patient_id=1)] == [("view_file", "incoming call")]
    assert len(accesses(db)) == 2


def test_the_demo_seeding_creates_the_logins_once(app, db):
    with app.app_context():
        _demo_staff()
        _demo_staff()
    db.rollback()
    names = set(db.scalars(select(Staff.username)))
    assert names == {username for username, _name, _role in DEMO_STAFF}
    assert authenticate(db, "supervisor", DEMO_PASSWORD).role == "supervisor"


def test_logging_in_and_out_in_a_real_browser(app, server, page):
    supervisor = make_staff(app, "supervisor", "zhang", display_name="张主管")
    page.goto(f"{server}/")
    assert page.url.endswith("/login")
    log_in_page(page, server, supervisor.username, "wrong password")
    assert page.get_by_role("alert").inner_text().endswith("Wrong username or password.")
    log_in_page(page, server, supervisor.username, supervisor.password)
    assert page.locator(".who").inner_text() == "张主管 (supervisor)"
    page.get_by_role("button", name="退出 Log out").click()
    assert page.get_by_role("alert").inner_text() == "已退出。You are logged out."


def test_an_open_console_does_not_keep_an_idle_session_alive(app, client_app):
    """The console polls every few seconds; polls are not the agent at work (issue 15)."""
    agent = make_staff(app, "agent")
    log_in(client_app, agent.username, agent.password)
    assert client_app.get("/agent").status_code == 200  # a page the agent opened: activity
    with client_app.session_transaction() as session:
        opened = session["active_at"]
    for _ in range(3):
        assert client_app.get("/agent/api/status").status_code == 200
    with client_app.session_transaction() as session:
        assert session["active_at"] == opened  # the polls did not count
        session["active_at"] -= app.extensions["hotline"].settings.accounts.idle_minutes * 60 + 1
    # Idle too long: the next poll finds the agent logged out (the console then reloads to
    # the login page), and the agent takes no more calls.
    assert client_app.get("/agent/api/status").status_code == 401
    assert client_app.get("/agent").headers["Location"].startswith("/login")
    assert app.extensions["hotline"].acd.agent(agent.id)["state"] == "offline"
