"""The Twilio-facing webhooks (ivr.webhooks, ivr.sms) and the voice flows (ivr.flows); the seats
they hand callers to are the call distributor's (acd/), the agents' console is console/."""

from __future__ import annotations

from flask import Flask, request


def init_app(app: Flask) -> None:
    """The voice and text webhooks, the call commands."""
    from ivr.cli import register as register_call_commands
    from ivr.sms import bp as sms_blueprint
    from ivr.webhooks import bp as ivr_blueprint
    from ivr.webhooks import not_found

    # Twilio authenticates with X-Twilio-Signature, not with a browser's CSRF token.
    for blueprint in (ivr_blueprint, sms_blueprint):
        app.extensions["csrf"].exempt(blueprint)
        app.register_blueprint(blueprint)

    @app.errorhandler(404)
    @app.errorhandler(405)
    def twiml_for_lost_webhooks(error):
        # Twilio only ever calls /ivr/...; a wrong URL there must still answer TwiML.
        if request.path.startswith("/ivr/"):
            return not_found(error)
        return error

    register_call_commands(app)
