"""After care and outreach (issue 7): discharges and results from the hospital's
systems, monthly follow-up call campaigns, results-ready texts, satisfaction
surveys, opt-outs, and the supervisors' campaign pages.  See docs/aftercare.md."""

from __future__ import annotations

from flask import Flask


def register(app: Flask) -> None:
    """The API, the follow-up calls' status webhook, the pages and the CLI."""
    from aftercare import api, cli
    from ivr import followup_status

    app.register_blueprint(api.bp)
    app.register_blueprint(followup_status.bp)
    csrf = app.extensions.get("csrf")
    if csrf is not None:  # a token-authenticated JSON API and a signed webhook: no CSRF cookie
        csrf.exempt(api.bp)
        csrf.exempt(followup_status.bp)
    cli.register(app)
