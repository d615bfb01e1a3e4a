"""What a job needs, built in the worker from the environment and config.yaml,
the way create_app builds it for the web (extensions.Hotline, without Flask):
settings from HOTLINE_CONFIG (or config.yaml), the database from DATABASE_URL,
Redis from REDIS_URL, the Twilio client (TWILIO_API_BASE for the emulator).

Built on first use and kept for the process.  Tests point the environment at
their own database, Redis and emulator, then call `reset()`.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from datetime import datetime
from pathlib import Path

import settings as settings_module
from extensions import Hotline

ROOT = Path(__file__).resolve().parent.parent

_current: Hotline | None = None
_clock: Callable[[], datetime] | None = None


def get() -> Hotline:
    global _current
    if _current is None:
        settings = settings_module.load(os.environ.get("HOTLINE_CONFIG") or ROOT / "config.yaml")
        _current = Hotline(settings, ROOT / "instance", _clock)
    return _current


def reset(clock: Callable[[], datetime] | None = None) -> None:
    """Forget the context (closing its database connections); the next job builds
    it again from the environment, with `clock` as its time if given (tests)."""
    global _current, _clock
    if _current is not None and "engine" in vars(_current):
        _current.engine.dispose()
    _current, _clock = None, clock
