"""Staff logins: passwords, roles, CSRF, session limits, and the audit of file access."""

from __future__ import annotations

import pytest
from flask import Blueprint, jsonify
from sqlalchemy import select

from accounts import role_required
from records.audit import accesses, record_access
from records.cli import DEMO_PASSWORD, DEMO_STAFF, _demo_staff
from records.models import Staff
from records.staff import StaffError, authenticate, create_staff
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
    assert api.status_code == 401 and api.json == {"error": "not logged in"}
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


def test_a_disabled_account_cannot_log_in(app, client_app):
    agent = make_staff(app, "agent", active=False)
    assert log_in(client_app, agent.username, agent.password).status_code == 401


def test_login_goes_back_only_to_pages_of_this_site(app, client_app):
    agent = make_staff(app, "agent")
    response = log_in(client_app, agent.username, agent.password, next_url="//evil.example/phish")
    assert response.headers["Location"] == "/"


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
    staff = create_staff(db, username="li", display_name="李", role="agent", password="long-enough-pw")
    assert "long-enough-pw" not in staff.password_hash and staff.password_hash.startswith("scrypt:")
    assert authenticate(db, "li", "long-enough-pw") is staff
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
