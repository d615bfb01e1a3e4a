"""Staff logins: agents, supervisors and administrators, with roles.

Flask-Login keeps who is logged in (a signed session cookie); Flask-WTF's
CSRFProtect guards every form and JSON POST from a browser.  The Twilio webhooks
are exempt from CSRF: they are authenticated by X-Twilio-Signature instead.

    from accounts import role_required

    @bp.get("/supervisor/calls")
    @role_required("supervisor")        # admin passes every role check
    def call_log(): ...
"""

from __future__ import annotations

import secrets
from collections.abc import Callable
from datetime import UTC, datetime
from functools import wraps
from pathlib import Path
from urllib.parse import urlsplit

from flask import Flask, abort, current_app, jsonify, render_template, request, session
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from accounts.views import bp
from extensions import get_db
from records.staff import get_staff

__all__ = ["add_link", "background", "bp", "init_app", "role_required", "still_active"]


def background(view: Callable) -> Callable:
    """Mark a view that pages call by themselves (the console's polls and heartbeats, a
    token refresh): it does not count as the staff member being there, so a console left
    open still reaches the idle logout (issue 15)."""
    view.background = True
    return view


def still_active() -> None:
    """The staff member is working though they click nothing (an agent on a long call)."""
    session["active_at"] = datetime.now(UTC).timestamp()


def role_required(*roles: str) -> Callable:
    """Only for logged-in staff with one of these roles (admin always passes)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                if "/api/" in request.path:  # a script, not a person: say so, don't redirect
                    return jsonify(error="未登录，请重新登录 Not logged in: log in again"), 401
                return current_app.login_manager.unauthorized()
            if current_user.role != "admin" and current_user.role not in roles:
                abort(403)
            return view(*args, **kwargs)

        guarded.roles = roles  # read by the test that walks the URL map
        return guarded

    return decorate


def add_link(app: Flask, endpoint: str, label: str, *roles: str) -> None:
    """A link in every page's navigation bar, shown to these roles (and admin)."""
    app.extensions.setdefault("nav", []).append((endpoint, label, roles))


def init_app(app: Flask) -> None:
    settings = app.extensions["hotline"].settings
    accounts = settings.accounts
    app.secret_key = settings.env.secret_key or _instance_secret(Path(app.instance_path))
    app.config.update(
        PERMANENT_SESSION_LIFETIME=accounts.idle_minutes * 60,
        SESSION_REFRESH_EACH_REQUEST=True,  # the idle timeout restarts with every request
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=(settings.env.public_base_url or "").startswith("https://"),
        WTF_CSRF_TIME_LIMIT=accounts.session_hours * 3600,
    )
    manager = LoginManager(app)
    manager.login_view = "accounts.login"
    manager.login_message = "请先登录 Please log in."
    manager.session_protection = "strong"

    @manager.user_loader
    def load_staff(staff_id: str):
        staff = get_staff(get_db(), int(staff_id)) if staff_id.isdigit() else None
        return staff if staff is not None and staff.active else None

    app.extensions["csrf"] = CSRFProtect(app)

    @app.before_request
    def end_long_sessions():
        # Idle expiry is the cookie's lifetime; this caps a session however busy it is.
        started = session.get("logged_in_at")
        too_old = started is not None and datetime.now(UTC).timestamp() - started > accounts.session_hours * 3600
        if too_old and current_user.is_authenticated:
            logout_user()
            session.clear()

    @app.before_request
    def end_idle_sessions():
        # The cookie's lifetime alone would restart with every poll of an open console:
        # only requests a person made (not views marked `background`) keep the session alive.
        if request.endpoint is None or not current_user.is_authenticated:
            return
        now = datetime.now(UTC).timestamp()
        last = session.get("active_at", session.get("logged_in_at"))
        if last is not None and now - last > accounts.idle_minutes * 60:
            logout_user()
            session.clear()
            return
        if not getattr(app.view_functions.get(request.endpoint), "background", False):
            session["active_at"] = now

    @app.context_processor
    def navigation():
        def links():
            if not current_user.is_authenticated:
                return []
            shown = {}  # one link per page (an admin has every role's)
            for endpoint, label, roles in app.extensions.get("nav", []):
                if current_user.role == "admin" or current_user.role in roles:
                    shown.setdefault(endpoint, label)
            return list(shown.items())

        return {"nav_links": links, "hospital_name": settings.hospital.name("zh")}

    app.register_error_handler(403, forbidden)
    app.register_blueprint(bp)


FORBIDDEN = "无权进行此操作 Your role may not do this"


def forbidden(error):
    """A refusal staff can read (both languages) with a way back: the page they came
    from (when it is on this site) and their own start page; JSON for the APIs."""
    if "/api/" in request.path or request.accept_mimetypes.best == "application/json":
        return jsonify(error=FORBIDDEN), 403
    back = _same_site(request.referrer)
    return render_template("accounts/forbidden.html", back=back), 403


def _same_site(url: str | None) -> str | None:
    if not url:
        return None
    here, there = urlsplit(request.host_url), urlsplit(url)
    if (there.scheme, there.netloc) != (here.scheme, here.netloc) or there.path == request.path:
        return None
    return there.path + (f"?{there.query}" if there.query else "")


def _instance_secret(instance_path: Path) -> str:
    """A development key kept across restarts; production sets SECRET_KEY."""
    path = instance_path / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
