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

from flask import Flask, abort, current_app, jsonify, request, session
from flask_login import LoginManager, current_user, logout_user
from flask_wtf.csrf import CSRFProtect

from accounts.views import bp
from extensions import get_db
from records.staff import get_staff

__all__ = ["add_link", "bp", "init_app", "role_required"]


def role_required(*roles: str) -> Callable:
    """Only for logged-in staff with one of these roles (admin always passes)."""

    def decorate(view: Callable) -> Callable:
        @wraps(view)
        def guarded(*args, **kwargs):
            if not current_user.is_authenticated:
                if "/api/" in request.path:  # a script, not a person: say so, don't redirect
                    return jsonify(error="not logged in"), 401
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


def init_app(app: Flask, settings, instance_path: Path) -> None:
    accounts = settings.accounts
    app.secret_key = settings.env.secret_key or _instance_secret(instance_path)
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

    @app.context_processor
    def navigation():
        def links():
            if not current_user.is_authenticated:
                return []
            return [
                (endpoint, label)
                for endpoint, label, roles in app.extensions.get("nav", [])
                if current_user.role == "admin" or current_user.role in roles
            ]

        return {"nav_links": links, "hospital_name": settings.hospital.name("zh")}

    app.register_blueprint(bp)


def _instance_secret(instance_path: Path) -> str:
    """A development key kept across restarts; production sets SECRET_KEY."""
    path = instance_path / "secret_key"
    if not path.exists():
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(secrets.token_hex(32))
        path.chmod(0o600)
    return path.read_text().strip()
