"""The hospital hotline's Flask app.

    flask --app app seed --demo     # schema + the demo hospital (idempotent)
    flask --app app run             # the webhooks on http://127.0.0.1:5000/ivr/voice
    flask --app app call            # ring it from the local carrier emulator's phone
    flask --app app worker          # an RQ worker: SMS and reminders (queueing/)
    flask --app app cron            # the scheduler: reminders the day before

`create_app(config)` takes a Settings object (tests), a path to a YAML file, or
nothing (HOTLINE_CONFIG or config.yaml beside this file; secrets from the environment).
"""

from __future__ import annotations

import logging
import os
import weakref
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask
from werkzeug.middleware.proxy_fix import ProxyFix

import headers
import limits
import monitoring
import settings as settings_module
from extensions import Hotline, close_db, refuse_unless_sentinels_answer
from ivr.security import HotlineRequest, serving_requests, staff_pages_only, unchecked_webhooks
from settings import Settings

ROOT = Path(__file__).resolve().parent


class HotlineFlask(Flask):
    request_class = HotlineRequest  # no NUL in form fields or query arguments (ivr/security.py)

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        # Weak: a function made for one request (after_this_request) leaves with it.  None: the
        # function itself (a value that held it would keep it).
        self._made_sync: weakref.WeakKeyDictionary[Callable, Callable | None] = weakref.WeakKeyDictionary()

    def ensure_sync(self, func: Callable) -> Callable:
        """Flask's, asked once per hook or view: Flask asks on every call whether each is a
        coroutine function, some eight times a webhook (issue 17)."""
        try:
            return self._made_sync[func] or func
        except KeyError:
            sync = super().ensure_sync(func)
            self._made_sync[func] = None if sync is func else sync
            return sync
        except TypeError:  # not hashable, or no weak reference to it
            return super().ensure_sync(func)


def create_app(
    config: Settings | str | Path | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    try:
        if isinstance(config, Settings):
            settings = config
        else:
            settings = settings_module.load(config or os.environ.get("HOTLINE_CONFIG") or ROOT / "config.yaml")
        unchecked = unchecked_webhooks(settings.env)  # no TWILIO_AUTH_TOKEN: no start (ivr/security.py)
    except settings_module.ConfigError as error:
        if config is not None:
            raise
        # Started by `flask` or gunicorn: say it plainly, without a traceback, and stop.
        raise SystemExit(f"The hotline cannot start, its configuration is wrong:\n{error}") from None
    if config is None and serving_requests():
        # A web server (gunicorn, `flask run`) under Redis Sentinel: sentinels that cannot be
        # reached or refuse the password are said now, not at the first call (`flask worker`
        # and `cron` check the same as they start: queueing/cli.py).
        refuse_unless_sentinels_answer(settings.env)
    if unchecked:
        logging.getLogger(__name__).warning(unchecked)
    app = HotlineFlask(__name__, instance_path=str(ROOT / "instance"))
    app.extensions["hotline"] = Hotline(settings, Path(app.instance_path), clock)
    app.teardown_appcontext(close_db)

    # Each area adds its pages, webhooks and commands.  In this order: a role lands on the
    # first navigation link it sees (supervisors on the call log, agents on the console).
    import accounts
    import aftercare
    import booking_api
    import console
    import ivr
    import quality
    import queueing
    import records
    import staffing
    import supervisor

    accounts.init_app(app)  # log in, roles, CSRF, the navigation
    headers.init_app(app)  # CSP, frame, nosniff, referrer, HSTS over https (headers.py)
    limits.init_app(app)  # body size and JSON depth (limits.py)
    supervisor.init_app(app)  # call log, wallboard, reports (issue 5)
    ivr.init_app(app)  # the webhooks, the call commands
    console.init_app(app)  # the agents' console and its API (issue 4), booking at the desk
    aftercare.init_app(app)  # after care and outreach (issue 7)
    booking_api.init_app(app)  # the hospital's web site and app book through it (issue 20)
    quality.init_app(app)  # quality review of calls (质检); after the console: agents land on it
    staffing.init_app(app)  # the staffing page and commands
    records.init_app(app)  # seed, import and the other records commands
    queueing.init_app(app)  # worker, cron
    monitoring.init_app(app)  # /healthz, /readyz, /metrics (monitoring/)

    # Twilio signs the public URL; behind TRUSTED_PROXIES proxies (nginx: 1, default 0, see
    # settings.Environment), believe their X-Forwarded-* headers, and no one else's.
    if hops := settings.env.trusted_proxies:
        app.wsgi_app = ProxyFix(app.wsgi_app, x_for=hops, x_proto=hops, x_host=hops, x_port=hops, x_prefix=hops)
    # Last, so every app-wide hook is registered: Twilio's requests skip the staff pages' session,
    # CSRF, login and security headers (ivr/security.py); they keep the metrics and no-store.
    from monitoring.metrics import WEBHOOK_HOOKS

    staff_pages_only(app, webhooks_need=(*WEBHOOK_HOOKS, headers.not_kept))
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return app
