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
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

from flask import Flask, request
from werkzeug.middleware.proxy_fix import ProxyFix

import headers
import settings as settings_module
from extensions import Hotline, close_db
from ivr.security import HotlineRequest
from settings import Settings

ROOT = Path(__file__).resolve().parent


def create_app(
    config: Settings | str | Path | None = None,
    *,
    clock: Callable[[], datetime] | None = None,
) -> Flask:
    if not isinstance(config, Settings):
        try:
            config = settings_module.load(config or os.environ.get("HOTLINE_CONFIG") or ROOT / "config.yaml")
        except settings_module.ConfigError as error:
            if config is not None:
                raise
            # Started by `flask` or gunicorn: say it plainly, without a traceback, and stop.
            raise SystemExit(f"The hotline cannot start, its configuration is wrong:\n{error}") from None
    settings = config
    app = Flask(__name__, instance_path=str(ROOT / "instance"))
    app.request_class = HotlineRequest  # no NUL in form fields or query arguments (ivr/security.py)
    app.extensions["hotline"] = Hotline(settings, Path(app.instance_path), clock)
    app.teardown_appcontext(close_db)

    import accounts

    accounts.init_app(app, settings, Path(app.instance_path))
    headers.init_app(app)  # CSP, frame, nosniff, referrer, HSTS over https (headers.py)
    import supervisor

    supervisor.init_app(app)

    from ivr.sms import bp as sms_blueprint
    from ivr.webhooks import bp as ivr_blueprint
    from ivr.webhooks import not_found

    # Twilio authenticates with X-Twilio-Signature, not with a browser's CSRF token.
    for blueprint in (ivr_blueprint, sms_blueprint):
        app.extensions["csrf"].exempt(blueprint)
        app.register_blueprint(blueprint)

    from ivr.agents.api import bp as agent_api_blueprint  # the seats (issue 4)

    app.register_blueprint(agent_api_blueprint)

    from ivr.agents.console import register as register_console

    register_console(app)

    import aftercare  # after care and outreach (issue 7)

    aftercare.register(app)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def twiml_for_lost_webhooks(error):
        # Twilio only ever calls /ivr/...; a wrong URL there must still answer TwiML.
        if request.path.startswith("/ivr/"):
            return not_found(error)
        return error

    from ivr.cli import register as register_call_commands
    from queueing.cli import register as register_queue_commands
    from records.cli import register as register_records_commands

    register_records_commands(app)
    register_call_commands(app)
    register_queue_commands(app)
    from queueing.staffing_cli import register as register_staffing_commands
    from staffing import bp as staffing_blueprint

    app.register_blueprint(staffing_blueprint)
    accounts.add_link(app, "staffing.day", "人员排班 Staffing", "supervisor")

    register_staffing_commands(app)

    # Twilio signs the public URL; behind a TLS proxy, trust its X-Forwarded-* headers.
    app.wsgi_app = ProxyFix(app.wsgi_app, x_for=1, x_proto=1, x_host=1, x_port=1, x_prefix=1)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    return app
