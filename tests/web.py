"""Helpers for tests of the staff pages: accounts, logging in by test client or browser."""

from __future__ import annotations

import re
import uuid
from dataclasses import dataclass

from records.staff import create_staff

# One round of PBKDF2 for the tests' accounts: scrypt's 0.1 s of CPU for each account and
# again for each login added up to minutes a run.  The hotline's own method stays scrypt
# (records/staff.py; tests/test_accounts.py checks that new accounts get it).
TEST_PASSWORD_HASH = "pbkdf2:sha256:1"


@dataclass(frozen=True)
class StaffLogin:
    id: int
    username: str
    password: str


def make_staff(app, role: str, username: str | None = None, password: str = "pw-test-1234", **fields) -> StaffLogin:
    """A staff account committed to the test's database."""
    hotline = app.extensions["hotline"]
    username = username or f"{role}-{uuid.uuid4().hex[:8]}"
    with hotline.sessions.begin() as session:
        staff = create_staff(
            session,
            username=username,
            display_name=fields.pop("display_name", username),
            role=role,
            password=password,
            hash_method=TEST_PASSWORD_HASH,
        )
        for name, value in fields.items():
            setattr(staff, name, value)
        session.flush()
        return StaffLogin(staff.id, staff.username, password)


def csrf_token(html: str) -> str:
    match = re.search(r'name="csrf_token" value="([^"]+)"', html) or re.search(
        r'<meta name="csrf-token" content="([^"]+)"', html
    )
    assert match, "the page carries no CSRF token"
    return match.group(1)


def log_in(client, username: str, password: str, next_url: str | None = None):
    """Log in with the Flask test client as a browser would: fetch the form, post it with its token."""
    page = client.get("/login")
    form = {"username": username, "password": password, "csrf_token": csrf_token(page.get_data(as_text=True))}
    if next_url:
        form["next"] = next_url
    return client.post("/login", data=form)


def log_in_page(page, base_url: str, username: str, password: str) -> None:
    """Log in through the real login form in the browser."""
    page.goto(f"{base_url}/login")
    page.get_by_label("用户名 Username").fill(username)
    page.get_by_label("密码 Password").fill(password)
    page.get_by_role("button", name="登录 Log in").click()
    page.wait_for_load_state()
