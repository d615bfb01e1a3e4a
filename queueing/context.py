"""What a job needs, built in the worker from the environment and config.yaml,
the way create_app builds it for the web (extensions.Hotline, without Flask):
settings from HOTLINE_CONFIG (or config.yaml), the database from DATABASE_URL,
Redis from REDIS_URL, the Twilio client (TWILIO_API_BASE for the emulator).

Built on first use and kept for the process.  `flask worker` builds it before it
forks, so RQ's work-horses (a fork per job) and the pool's workers inherit it
instead of each rereading config.yaml; what they must not inherit, the parent's
pooled database connections, is dropped in every forked child (below).

Tests point the environment at their own database, Redis and emulator, then
call `reset()`.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import settings as settings_module
from extensions import Hotline

ROOT = Path(__file__).resolve().parent.parent

log = logging.getLogger(__name__)

_current: Hotline | None = None
_clock: Callable[[], datetime] | None = None


def get() -> Hotline:
    global _current
    if _current is None:
        path = os.environ.get("HOTLINE_CONFIG") or ROOT / "config.yaml"
        # Once a worker, not once a job: a repeat of this line means a forked job rebuilt it.
        log.info("job context: settings from %s", path)
        _current = Hotline(settings_module.load(path), ROOT / "instance", _clock)
    return _current


def reset(clock: Callable[[], datetime] | None = None) -> None:
    """Forget the context (closing its database connections); the next job builds
    it again from the environment, with `clock` as its time if given (tests)."""
    global _current, _clock
    if _current is not None and "engine" in vars(_current):
        _current.engine.dispose()
    _current, _clock = None, clock


def _after_fork_in_child() -> None:
    # A pooled connection's socket is shared with the parent after fork(): used from
    # both, the server sees one conversation interleaved.  Drop the child's copies
    # without closing them (they are the parent's), as SQLAlchemy's docs prescribe
    # (engine.dispose(close=False)); the child connects anew on first use.  Redis
    # needs nothing: redis-py's pools notice the new pid and reconnect.
    if _current is not None and "engine" in vars(_current):
        _current.engine.dispose(close=False)


os.register_at_fork(after_in_child=_after_fork_in_child)
