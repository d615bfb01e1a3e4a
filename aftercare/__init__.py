"""After care and outreach (issue 7): discharges and results from the hospital's
systems, monthly follow-up call campaigns, results-ready texts, satisfaction
surveys, opt-outs, and the supervisors' campaign pages.  See docs/aftercare.md."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The API, the follow-up calls' status webhook, the pages and the CLI."""
    from accounts import add_link
    from aftercare import api, cli, satisfaction, views
    from ivr import followup_status

    # A token-authenticated JSON API and a signed webhook: no browser, no CSRF token.
    app.extensions["csrf"].exempt(api.bp)
    app.extensions["csrf"].exempt(followup_status.bp)
    app.register_blueprint(api.bp)
    app.register_blueprint(followup_status.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(satisfaction.bp)  # the patients' survey page (/s/...) and the results
    # Supervisors only in the navigation (whose first link is where a role lands); agents
    # open /aftercare/opt-outs from the console or by its address.
    add_link(app, "aftercare.campaigns", "出院回访 Follow-ups", "supervisor")
    add_link(app, "aftercare.opt_outs", "退订 Opt-outs", "supervisor")
    add_link(app, "satisfaction.results", "满意度 Satisfaction", "supervisor")
    cli.register(app)
