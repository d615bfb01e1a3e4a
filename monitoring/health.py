"""/healthz and /readyz: for the load balancer, systemd and the people on call.

- /healthz: this process answers HTTP (nothing else is touched): 200 while it can.
- /readyz: everything a call needs behind it: the database answers and is migrated
  to Alembic's head, Redis answers, and every kind of job process (queueing.health's
  ROLES: the general and the call-record workers, the scheduler, the two retry
  schedulers) has beaten in the last two minutes, read by queueing.health from RQ's
  own records.  200 when all are well, else 503, with each check's state in JSON.

No login and no patient data: counts, revisions and error class names only.  Each
check is a small function returning (ok, details); `readiness` runs them and never
raises, so a probe always gets an answer.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from functools import cache

from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from flask import Blueprint, jsonify

from extensions import Hotline, hotline
from queueing import health as job_health
from records.db import alembic_config

bp = Blueprint("monitoring", __name__)

Check = tuple[bool, dict]


@cache
def alembic_heads() -> frozenset[str]:
    """The newest migrations shipped with this code (read once: they cannot change under it)."""
    return frozenset(ScriptDirectory.from_config(alembic_config("sqlite://")).get_heads())


def check_database(app: Hotline) -> Check:
    with app.engine.connect() as connection:
        current = frozenset(MigrationContext.configure(connection).get_current_heads())
    head = alembic_heads()
    details = {"revision": sorted(current), "head": sorted(head)}
    if current != head:
        details["reason"] = "not migrated to head: run `flask --app app seed` (alembic upgrade head)"
    return current == head, details


def check_redis(app: Hotline) -> Check:
    app.queue_redis.ping()
    return True, {}


def read_heartbeats(app: Hotline) -> dict[str, list[datetime]]:
    # The one place heartbeats are read: queueing.health's reader, the supervisor pages' too.
    return job_health.heartbeats(app.queue_redis, app.settings.env.redis_prefix)


def readiness(app: Hotline, now: datetime | None = None) -> dict:
    """Every check's state, and whether the whole is ready."""
    now = now or datetime.now(UTC)
    checks = {
        "database": _run(check_database, app),
        "redis": _run(check_redis, app),
    }
    beats, reason = None, "Redis does not answer"
    if checks["redis"]["ok"]:
        try:
            beats = read_heartbeats(app)
        except Exception as error:  # Redis went away between the two checks
            reason = _reason(error)
    within = int(job_health.ALIVE_WITHIN.total_seconds())
    for role in job_health.ROLES:  # each kind of job process, as queueing.health names them
        if beats is None:
            checks[role] = {"ok": False, "reason": reason}
            continue
        alive = sum(1 for beat in beats.get(role, ()) if now - beat <= job_health.ALIVE_WITHIN)
        checks[role] = {"ok": alive > 0, "alive": alive}
        if not alive:
            checks[role]["reason"] = f"no heartbeat in the last {within} s"
    return {"ready": all(check["ok"] for check in checks.values()), "checks": checks}


def _run(check: Callable[[Hotline], Check], app: Hotline) -> dict:
    try:
        ok, details = check(app)
    except Exception as error:  # a probe reports what failed; it never fails itself
        return {"ok": False, "reason": _reason(error)}
    return {"ok": ok, **details}


def _reason(error: Exception) -> str:
    # The class only: a driver's message may hold a connection string with its password.
    return f"{type(error).__module__}.{type(error).__name__}"


@bp.get("/healthz")
def healthz():
    return jsonify(status="ok")


@bp.get("/readyz")
def readyz():
    state = readiness(hotline())
    return jsonify(state), 200 if state["ready"] else 503
