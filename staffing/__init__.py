"""The supervisors' staffing page: for a chosen day, the forecast calls, the seats
they need, the roster's seats and the service level it gives, people per seat;
targets to edit and a 'recompute' that has an RQ worker plan the day again."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The page, its navigation link, and the staffing commands (queueing/staffing_cli.py)."""
    from accounts import add_link
    from queueing.staffing_cli import register as register_staffing_commands
    from staffing.views import bp

    app.register_blueprint(bp)
    add_link(app, "staffing.day", "人员排班 Staffing", "supervisor")
    register_staffing_commands(app)
