"""The supervisors' pages (issue 5): call log, call detail, wallboard, reports, audit."""

from __future__ import annotations

from flask import Flask

from accounts import add_link
from records import titles


def _queue_title(name: str | None) -> str:
    """'综合咨询 general enquiries' for a queue's code (its title in config.yaml), else the code."""
    from extensions import hotline

    queue = hotline().settings.routing.queues.get(name or "")
    return f"{queue.title.zh} {queue.title.en}" if queue else (name or "")


def init_app(app: Flask) -> None:
    from supervisor.monthly import bp as monthly_bp
    from supervisor.privacy import bp as privacy_bp
    from supervisor.views import bp

    app.register_blueprint(bp)
    app.add_template_filter(lambda code: titles.title(titles.OUTCOME_TITLES, code), "outcome_title")
    app.add_template_filter(lambda code: titles.title(titles.EVENT_TITLES, code), "event_title")
    app.add_template_filter(_queue_title, "queue_title")
    app.register_blueprint(privacy_bp)
    app.register_blueprint(monthly_bp)
    add_link(app, "supervisor.calls", "通话记录 Calls", "supervisor")
    add_link(app, "supervisor.wallboard", "实时看板 Wallboard", "supervisor")
    add_link(app, "supervisor.reports", "报表 Reports", "supervisor")
    add_link(app, "supervisor.audit_view", "访问审计 Audit", "supervisor")
    add_link(app, "monthly.report", "月度报告 Monthly", "supervisor")
    add_link(app, "privacy.overview", "资料保留 Retention", "supervisor")
