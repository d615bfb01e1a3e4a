"""Quality review of calls (质检): scorecards from config, a daily sample of each agent's
recorded calls, reviewers' scores, the agents' own scores, calibration between reviewers.
records.scorecard holds the rules as pure functions; records.quality the rows."""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    from accounts import add_link
    from quality.views import bp

    app.register_blueprint(bp)
    add_link(app, "quality.reviews", "质检 Quality", "reviewer", "supervisor")
    add_link(app, "quality.mine", "我的质检 My scores", "agent")
