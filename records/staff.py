"""Staff accounts: agents, supervisors, administrators.

Passwords are stored as werkzeug's salted hashes (scrypt): a well-kept,
already-installed implementation, so no hashing code of our own.  A hash names its own
method, so a login checks whatever method the account was made with.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session
from werkzeug.security import check_password_hash, generate_password_hash

from records.models import Staff

# reviewer: scores sampled calls (质检); sees no supervisor page.
ROLES = ("agent", "reviewer", "supervisor", "admin")
MIN_PASSWORD = 10
# werkzeug's method for new passwords: scrypt costs about 0.1 s of CPU a hash, which is its
# point.  The test suite's accounts are made with a one-round PBKDF2 instead (tests/web.py),
# as Django's docs advise for tests; tests/test_accounts.py checks this stays scrypt.
PASSWORD_HASH = "scrypt"
# Checked against when the username is unknown, so a wrong name takes as long as a wrong password.
_NOBODY = generate_password_hash("no such user, no such password", method=PASSWORD_HASH)


class StaffError(ValueError):
    """A staff account cannot be made as asked; the message says why."""


def create_staff(
    session: Session,
    *,
    username: str,
    display_name: str,
    role: str,
    password: str,
    at: datetime | None = None,
    hash_method: str = PASSWORD_HASH,
) -> Staff:
    username = username.strip().lower()
    if not username or len(username) > 64:
        raise StaffError("a username of 1 to 64 characters is needed")
    if role not in ROLES:
        raise StaffError(f"role must be one of {', '.join(ROLES)}, not {role!r}")
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password must have at least {MIN_PASSWORD} characters")
    if find_staff(session, username) is not None:
        raise StaffError(f"the username {username!r} is taken")
    staff = Staff(
        username=username,
        display_name=display_name.strip() or username,
        role=role,
        password_hash=generate_password_hash(password, method=hash_method),
        active=True,
        created_at=at or datetime.now(UTC),
    )
    session.add(staff)
    session.flush()
    return staff


def find_staff(session: Session, username: str) -> Staff | None:
    return session.scalar(select(Staff).where(Staff.username == username.strip().lower()))


def get_staff(session: Session, staff_id: int) -> Staff | None:
    return session.get(Staff, staff_id)


def authenticate(session: Session, username: str, password: str) -> Staff | None:
    """The active account with this username and password, else None."""
    staff = find_staff(session, username or "")
    if staff is None:
        check_password_hash(_NOBODY, password or "")
        return None
    if not check_password_hash(staff.password_hash, password or "") or not staff.active:
        return None
    return staff


def set_password(session: Session, staff: Staff, password: str) -> None:
    if len(password) < MIN_PASSWORD:
        raise StaffError(f"the password must have at least {MIN_PASSWORD} characters")
    staff.password_hash = generate_password_hash(password, method=PASSWORD_HASH)
