"""/login and /logout.  Wrong passwords are counted in Redis per username and per
address; after too many the username (or the address) pauses for a while, whoever is
trying."""

from __future__ import annotations

import logging
import unicodedata
from datetime import UTC, datetime
from urllib.parse import urlsplit

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from redis.exceptions import RedisError

from extensions import get_db, hotline
from records.models import Staff
from records.staff import authenticate

bp = Blueprint("accounts", __name__, template_folder="templates")
log = logging.getLogger(__name__)


# What a refused login is told, and its status, by why it was refused.
REFUSED = {
    "paused": ("登录失败次数过多，请稍后再试。Too many failed attempts: try again later.", 429),
    "wrong": ("用户名或密码不正确。Wrong username or password.", 401),
}


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("accounts/login.html", next=_safe_next(request.args.get("next")))
    staff, refused = _checked(request.form.get("username", "").strip().lower(), request.form.get("password", ""))
    if staff is None:
        message, status = REFUSED[refused]
        flash(message, "error")
        return render_template("accounts/login.html", next=_safe_next(request.form.get("next"))), status
    _log_in(staff)
    return redirect(_safe_next(request.form.get("next")) or url_for("accounts.home"))


def _checked(username: str, password: str) -> tuple[Staff | None, str]:
    """The staff member with this password, or why the login is refused: 'paused' or 'wrong'."""
    counters = _counters(username)
    if not _count_attempt(counters):
        _uncount(counters)  # refused unchecked: not a wrong password
        return None, "paused"
    staff = authenticate(get_db(), username, password)
    if staff is None:
        log.info("failed login for a staff username")  # the name itself is not logged
        return None, "wrong"
    _uncount(counters)  # the right password: not a failure
    return staff, ""


def _log_in(staff: Staff) -> None:
    """A fresh session for the staff member (nothing of the one before kept), stamped with when they logged in."""
    session.clear()
    login_user(staff)
    session.permanent = True
    session["logged_in_at"] = datetime.now(UTC).timestamp()


@bp.post("/logout")
def logout():
    logout_user()
    session.clear()
    flash("已退出。You are logged out.", "info")
    return redirect(url_for("accounts.login"))


@bp.get("/")
def home():
    """Where staff land: the first page their role may see."""
    if not current_user.is_authenticated:
        return redirect(url_for("accounts.login"))
    for endpoint, _label, roles in current_app.extensions.get("nav", []):
        if current_user.role == "admin" or current_user.role in roles:
            return redirect(url_for(endpoint))
    return render_template("accounts/home.html")


def _safe_next(target: str | None) -> str | None:
    """Only a path on this site: an open redirect would let a phishing link borrow our login page.

    Browsers drop tabs and line breaks from a URL and read a backslash as a slash, so
    `/<TAB>/evil.example` is `//evil.example` to them: any control character, space or
    backslash refuses the target, and what is left must parse with no scheme and no host."""
    if not target or any(ch.isspace() or ch == "\\" or unicodedata.category(ch) == "Cc" for ch in target):
        return None
    parts = urlsplit(target)
    if parts.scheme or parts.netloc or not target.startswith("/") or target.startswith("//"):
        return None
    return target


def _counters(username: str) -> tuple[str, str]:
    """The Redis keys counting wrong passwords for this username and from this address
    (the client's, as ProxyFix reads it from the TLS proxy's X-Forwarded-For)."""
    prefix = f"{hotline().settings.env.redis_prefix}login-failures"
    return f"{prefix}:{username}", f"{prefix}-from:{request.remote_addr or '-'}"


def _count_attempt(counters: tuple[str, str]) -> bool:
    """Count this attempt as a failure *before* its password is checked, and say whether it
    is within both limits.  Counting first, in one atomic INCR per key (a MULTI/EXEC
    pipeline, with the pause as expiry), is what bounds parallel guesses: reading the count
    and adding to it after the check let 40 parallel guesses all read 'none yet'.
    Without Redis, logins go on: passwords are still checked."""
    rules = hotline().settings.accounts
    try:
        with hotline().redis.pipeline() as pipe:
            for key in counters:
                pipe.incr(key).expire(key, rules.lockout_minutes * 60)
            by_name, _, by_address, _ = pipe.execute()
    except RedisError:
        log.warning("could not count a login attempt: Redis unavailable")
        return True
    return by_name <= rules.failed_logins and by_address <= rules.failed_logins_per_address


def _uncount(counters: tuple[str, str]) -> None:
    """Take back an attempt that was not a wrong password (the right one, or refused unchecked)."""
    ttl = hotline().settings.accounts.lockout_minutes * 60
    try:
        with hotline().redis.pipeline() as pipe:
            for key in counters:
                pipe.decr(key).expire(key, ttl)
            pipe.execute()
    except RedisError:
        log.warning("could not take back a login attempt: Redis unavailable")
