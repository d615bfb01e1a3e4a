"""The supervisors' pages (issue 5): call log, call detail, wallboard, reports, audit."""

from __future__ import annotations

from flask import Flask

from accounts import add_link


def init_app(app: Flask) -> None:
    from supervisor.views import bp

    app.register_blueprint(bp)
    add_link(app, "supervisor.calls", "通话记录 Calls", "supervisor")
    add_link(app, "supervisor.wallboard", "实时看板 Wallboard", "supervisor")
    add_link(app, "supervisor.reports", "报表 Reports", "supervisor")
    add_link(app, "supervisor.audit_view", "访问审计 Audit", "supervisor")
