"""/login and /logout.  Wrong passwords are counted per username in Redis; after
too many the account pauses for a while, whoever is trying."""

from __future__ import annotations

import logging
from datetime import UTC, datetime

from flask import Blueprint, current_app, flash, redirect, render_template, request, session, url_for
from flask_login import current_user, login_user, logout_user
from redis.exceptions import RedisError

from extensions import get_db, hotline
from records.staff import authenticate

bp = Blueprint("accounts", __name__, template_folder="templates")
log = logging.getLogger(__name__)


@bp.route("/login", methods=["GET", "POST"])
def login():
    if request.method == "GET":
        return render_template("accounts/login.html", next=_safe_next(request.args.get("next")))
    username = request.form.get("username", "").strip().lower()
    password = request.form.get("password", "")
    if _locked_out(username):
        flash("登录失败次数过多，请稍后再试。Too many failed attempts: try again later.", "error")
        return render_template("accounts/login.html", next=_safe_next(request.form.get("next"))), 429
    staff = authenticate(get_db(), username, password)
    if staff is None:
        _count_failure(username)
        log.info("failed login for a staff username")  # the name itself is not logged
        flash("用户名或密码不正确。Wrong username or password.", "error")
        return render_template("accounts/login.html", next=_safe_next(request.form.get("next"))), 401
    session.clear()
    login_user(staff)
    session.permanent = True
    session["logged_in_at"] = datetime.now(UTC).timestamp()
    return redirect(_safe_next(request.form.get("next")) or url_for("accounts.home"))


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
    # Only paths on this site: an open redirect would let a phishing link borrow our login page.
    if target and target.startswith("/") and not target.startswith("//") and "\\" not in target:
        return target
    return None


def _failures_key(username: str) -> str:
    return f"{hotline().settings.env.redis_prefix}login-failures:{username}"


def _locked_out(username: str) -> bool:
    try:
        failures = hotline().redis.get(_failures_key(username))
    except RedisError:
        return False  # without Redis, logins go on; passwords are still checked
    return int(failures or 0) >= hotline().settings.accounts.failed_logins


def _count_failure(username: str) -> None:
    key = _failures_key(username)
    try:
        with hotline().redis.pipeline() as pipe:
            pipe.incr(key).expire(key, hotline().settings.accounts.lockout_minutes * 60).execute()
    except RedisError:
        log.warning("could not count a failed login: Redis unavailable")
