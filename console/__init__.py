"""The agents' console (issue 4): the page an agent works the phone from, the screen pop,
the file search, complaint cases, booking at the desk, and the agent API the page calls.

- views.py: the console's pages and the softphone's token (blueprint `console`);
- api.py: the JSON API under /agent/api/ (blueprint `agent_api`): views only translate,
  the call distributor (acd/) does the work;
- appointments.py: booking at the desk (issue 20, blueprint `desk_booking`);
- templates/console/: their pages; the page's script and styles are static/console.js and .css.
"""

from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """The console's pages, the agent API, and their links in the navigation bar."""
    from flask_login import user_logged_out

    from accounts import add_link
    from console import api, appointments, views

    app.register_blueprint(api.bp)
    app.register_blueprint(views.bp)
    app.register_blueprint(appointments.bp)  # booking at the desk (issue 20)
    add_link(app, "console.console", "坐席 Console", "agent")
    add_link(app, "console.my_cases", "我的投诉 My cases", "agent", "supervisor")
    add_link(app, "console.all_cases", "全部投诉 All cases", "supervisor")
    add_link(app, "console.search", "查询档案 Find a file", "agent", "supervisor")
    # A supervisor's console: the phone a listen rings, and calls if they take some.  After
    # their other links: supervisors land on their first one.
    add_link(app, "console.console", "我的电话 My phone", "supervisor")
    user_logged_out.connect(views._go_offline, app)
