"""Fault benchmark (issue 16): emulated callers play whole calls while the parts the call
records rely on fail on a schedule; afterwards, with nobody running a command, every call
placed is compared with what the database kept.  Writes bench/results/faults-<topic>.txt.

    .venv/bin/python bench/faults.py                                  # every fault, this checkout's code
    .venv/bin/python bench/faults.py --app-dir /work/wt/pipeline --topic pipeline
    .venv/bin/python bench/faults.py --faults worker-kill,db-cut --every 40
    .venv/bin/python bench/faults.py --faults none                    # the same load without faults

What one run starts (all its own, removed afterwards; the machine's Redis is never touched):
- a redis-server on a free port with an append-only file synced on every write, in a
  temporary folder (tests/faults.OwnRedis, as production's Redis with AOF);
- a PostgreSQL database of its own on 127.0.0.1:5432, schema and demo hospital made by the
  app's own `flask seed --demo` (Alembic), which the services reach through a TCP proxy in
  this process (tests/faults.Proxy) so that the database can be cut;
- from `--app-dir` (default: this checkout): gunicorn with 2 workers (the project's
  gunicorn.conf.py), the records worker pool (`flask worker --records --count 2`), the
  general worker (`flask worker`) and the scheduler (`flask cron`, exactly one), each
  restarted 2 s after it exits, as systemd does with deploy/systemd's Restart=always,
  RestartSec=2; and the carrier emulator's REST API (texts) in this process;
- `--callers` callers (bench/load.py's callers and mix: information, departments,
  doctors, booking by a demo patient, and '0' for a person), each call's CallSid and its
  final status as the carrier knows them kept.  Each caller drives a carrier of its own (as
  in the load benchmark), so each call is told, as it ends, to the carrier whose REST API the
  app uses: its Calls API (`GET .../Calls/{sid}.json`, the Calls list) knows every call
  placed, with its final status and duration, as Twilio's would.
- `--set section.key=value` changes the app's config.yaml for the run (e.g. how often a
  reconstruction sweep runs); the command in the results shows them.

The faults (`--faults`, in this order, `--every` seconds apart after `--lead` seconds):
- worker-kill: SIGKILL to the records pool and the general worker (their whole process
  groups: the pool's children and a work-horse mid-job too);
- redis-restart: SIGKILL to redis-server, started again 2 s later on the same port and
  folder (it reloads its append-only file);
- web-kill: SIGKILL to one gunicorn worker (the master starts another);
- db-cut: every database connection closed and new ones refused for 10 s;
- redis-flush: FLUSHALL on the run's Redis (a Redis that lost its data);
- redis-lost: SIGKILL to redis-server, its append-only file removed, started again 2 s
  later empty (a restart without persistence): the calls handed over at their final status
  and not yet drained, the queued jobs and the open calls' state are lost with it, and the
  reconstruction sweep finds the finished ones in the carrier's Calls list from the mark it
  keeps in the database (issue 17).

Then it waits, running nothing, until every call's record is complete, or nothing has
changed for `--stable` seconds (150: longer than RQ's retries of a record job, 2+10+30+
120 s, and its handling of a job abandoned by a killed worker, the job's 60 s timeout plus
a minute's maintenance), or `--settle` seconds have passed, and reports per fault
(the calls in progress from the fault's start to 5 s after its end) and in total: calls
placed, records complete, missing, incomplete (with why), doubled, and reconstructed (a
`reconstructed` column of call_records, when the app's schema has one; else n/a).  A call
in progress during two faults counts under both; the total counts it once.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shlex
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import Counter
from collections.abc import Callable, Iterable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench import common, load  # noqa: E402
from emulator import Carrier  # noqa: E402
from records.patients import to_e164  # noqa: E402
from tests.faults import OwnRedis, Proxy, Sentinel, eventually  # noqa: E402

ACCOUNT_SID = load.ACCOUNT_SID
AUTH_TOKEN = load.AUTH_TOKEN
RESTART_AFTER = 2.0  # deploy/systemd: RestartSec=2
DB_CUT_SECONDS = 10.0
AFTER_FAULT = 5.0  # a call counts under a fault if in progress up to this long after it ended
SPOOL_SEQUENCE_FROM = 1_000_000_000  # docs/records.md: spooled events numbered from here
EPOCH_SPAN = 1_000_000  # the pipeline branch: sequence = epoch (ms) x EPOCH_SPAN + position
EPOCH_SEQUENCE_FROM = 10**15  # an epoch in ms since 1970 times EPOCH_SPAN is far above this
FAULT_ORDER = ("worker-kill", "redis-restart", "web-kill", "db-cut", "redis-flush", "redis-lost")
SERVICE = "hotline"  # the Redis master's name for the sentinel (scaleout.py --failover-at)
# The events a caller's keys or speech leave: the keys of a birth date are not kept, only
# whether they identified the caller (ivr/flows/identify.py); a step that cannot go on
# without Redis or the database hands the caller to a person instead of noting the key.
INPUT_EVENTS = ("key", "speech", "identified", "identity_failed", "identity_mismatch", "identity_locked",
                "to_person")  # fmt: skip
# Steps whose keys are kept in the call's state, never as an event (a record number).
UNNOTED_KEYS = ("/ivr/identify/record_number",)
FINAL_STATUSES = ("completed", "busy", "no-answer", "failed", "canceled")


# ---- what the database kept, against what the carrier knows (pure) ------------------------------


@dataclass(frozen=True)
class Kept:
    """One call record as the database has it."""

    status: str
    ended: bool
    menu_path: str
    sequences: tuple[int, ...]  # its events' sequence numbers
    inputs: int  # its events left by keys or speech (INPUT_EVENTS)
    twice: int  # events stored twice (same time, kind and detail under two numbers)
    reconstructed: bool | None  # None: the schema has no such column
    kinds: tuple[str, ...] = ()  # its events' kinds in order (to show a loss)


@dataclass(frozen=True)
class Placed:
    """One call as the carrier (the emulator) knows it."""

    sid: str
    final_status: str
    started: float
    ended: float
    answered_inputs: int  # webhooks carrying the caller's keys or speech that the app took (2xx, no apology)
    caller_errors: bool  # the caller heard the apology, a webhook failed, or the call ended early
    inputs_at: tuple[str, ...] = ()  # the steps those keys or speech were answered at (to show a loss)
    kind: str = ""  # of the load's mix


def has_gap(sequences: Iterable[int]) -> bool:
    """Events numbered by Redis with one missing between two kept.  Main numbers a call's
    events 1, 2, 3...; the pipeline branch epoch x 1,000,000 + position, the positions from 1
    again in each epoch (a new one after Redis lost the call's keys); spooled events have
    numbers of their own (from SPOOL_SEQUENCE_FROM), not checked."""
    runs: dict[int, list[int]] = {}
    for sequence in sequences:
        if sequence < SPOOL_SEQUENCE_FROM:
            runs.setdefault(0, []).append(sequence)
        elif sequence >= EPOCH_SEQUENCE_FROM:
            epoch, position = divmod(sequence, EPOCH_SPAN)
            runs.setdefault(epoch, []).append(position)
    return any(sorted(run) != list(range(1, len(run) + 1)) for run in runs.values())


def why_incomplete(placed: Placed, record: Kept) -> list[str]:
    """What is wrong with a call's one record ([] if it is complete)."""
    reasons = []
    if record.status != placed.final_status:
        reasons.append("status not final" if record.status not in FINAL_STATUSES else "other final status")
    if not record.ended:
        reasons.append("no end")
    if not record.sequences:
        reasons.append("no events")
    if not record.menu_path:
        reasons.append("no menu path")
    if has_gap(record.sequences):
        reasons.append("gap in events")
    if record.inputs < placed.answered_inputs:
        reasons.append("keys or speech answered but not kept")
    return reasons


def verdict(placed: Placed, records: list[Kept]) -> tuple[str, list[str]]:
    """complete, missing, doubled or incomplete, with the reasons for incomplete."""
    if not records:
        return "missing", []
    if len(records) > 1 or records[0].twice:
        return "doubled", []
    reasons = why_incomplete(placed, records[0])
    return ("incomplete", reasons) if reasons else ("complete", [])


@dataclass
class Tally:
    placed: int = 0
    complete: int = 0
    missing: int = 0
    incomplete: int = 0
    doubled: int = 0
    reconstructed: int = 0
    incomplete_not_reconstructed: int = 0
    caller_errors: int = 0
    reasons: Counter = field(default_factory=Counter)

    def add(self, placed: Placed, records: list[Kept]) -> str:
        kind, reasons = verdict(placed, records)
        self.placed += 1
        setattr(self, kind, getattr(self, kind) + 1)
        self.reasons.update(reasons)
        self.caller_errors += placed.caller_errors
        rebuilt = any(r.reconstructed for r in records)
        self.reconstructed += rebuilt
        if kind == "incomplete" and not rebuilt:
            self.incomplete_not_reconstructed += 1
        return kind


@dataclass(frozen=True)
class Fault:
    name: str
    started: float
    ended: float


def during(fault: Fault, call: Placed) -> bool:
    """The call was in progress from the fault's start to AFTER_FAULT seconds after its end."""
    return call.started <= fault.ended + AFTER_FAULT and call.ended >= fault.started


def tally(calls: Iterable[Placed], kept: dict[str, list[Kept]], faults: list[Fault]) -> dict[str, Tally]:
    """Per fault (by name), 'no fault' (calls in progress during none) and 'total'."""
    out = {f.name: Tally() for f in faults} | {"no fault": Tally(), "total": Tally()}
    for call in calls:
        records = kept.get(call.sid, [])
        out["total"].add(call, records)
        hit = [f for f in faults if during(f, call)]
        for f in hit:
            out[f.name].add(call, records)
        if not hit:
            out["no fault"].add(call, records)
    return out


def reconstructed_value(value) -> bool:
    """A reconstructed column may be a flag, a time or what the record was completed from."""
    return bool(value) and value not in ("0", "false", "f")


def table(tallies: dict[str, Tally], faults: list[Fault], t0: float, with_reconstructed: bool) -> list[str]:
    rebuilt = "reconstructed" if with_reconstructed else "reconstructed (n/a)"
    lines = [
        f"{'':15} {'at s':>6} {'placed':>7} {'complete':>9} {'missing':>8} {'incomplete':>11} {'doubled':>8} "
        f"{rebuilt:>14} {'caller errors':>14}",
    ]
    at = {f.name: f"{f.started - t0:.0f}" for f in faults}
    for name, t in tallies.items():
        r = str(t.reconstructed) if with_reconstructed else "n/a"
        lines.append(f"{name:15} {at.get(name, ''):>6} {t.placed:>7} {t.complete:>9} {t.missing:>8} "
                     f"{t.incomplete:>11} {t.doubled:>8} {r:>14} {t.caller_errors:>14}")  # fmt: skip
    return lines


# ---- the services, supervised as systemd would ----------------------------------------------------


class Service:
    """A command in its own process group, started again RESTART_AFTER seconds after it
    exits (unless `restart` is False or the run is stopping)."""

    def __init__(self, name: str, command: list[str], env: dict, cwd: Path, log: Path, restart: bool = True):
        self.name, self.command, self.env, self.cwd, self.log = name, command, env, cwd, log
        self.restart = restart
        self.process: subprocess.Popen | None = None
        self.starts = 0
        self.lock = threading.Lock()
        self.stopping = False
        self.watcher = threading.Thread(target=self._watch, daemon=True)

    def start(self) -> Service:
        with self.lock:
            self.process = subprocess.Popen(self.command, cwd=self.cwd, env=self.env, stdout=self.log.open("a"),
                                            stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
            self.starts += 1
        if not self.watcher.is_alive():
            self.watcher.start()
        return self

    def _watch(self) -> None:
        while not self.stopping:
            process = self.process
            if process is not None and process.poll() is not None and self.restart:
                time.sleep(RESTART_AFTER)
                if not self.stopping:
                    self.start()
            time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL to its whole process group (children and work-horses too)."""
        with self.lock, contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        self.stopping = True
        if self.process is not None:
            load.stop(self.process)


class Harness:
    """Redis, the database behind a proxy, the REST carrier and the hotline's processes."""

    def __init__(self, args, scratch: Path, *, web_servers: int = 1, nginx: bool = False, sentinel: bool = False):
        self.args, self.scratch = args, scratch
        self.app_dir = Path(args.app_dir).resolve()
        python = self.app_dir / ".venv" / "bin" / "python"
        self.python = str(python if python.exists() else Path(sys.executable))
        self.redis = OwnRedis(persistent=True)
        self.proxy: Proxy | None = None
        self.database = f"faults_bench_{uuid.uuid4().hex[:8]}"
        self.admin_url = args.postgres
        self.rest = Carrier(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        self.services: dict[str, Service] = {}
        self.web_servers, self.with_nginx = web_servers, nginx
        self.with_sentinel = sentinel
        self.replica: OwnRedis | None = None
        self.sentinel: Sentinel | None = None
        self.web_ports: list[int] = []
        self.engine: sa.Engine | None = None

    # -- start
    def start(self) -> None:
        self.redis.start()
        if self.with_sentinel:
            self.start_sentinel()
        common.admin(self.admin_url, f'CREATE DATABASE "{self.database}"')
        direct = sa.make_url(self.admin_url).set(database=self.database)
        self.direct_url = direct.render_as_string(hide_password=False)
        self.proxy = Proxy(direct.host or "127.0.0.1", direct.port or 5432)
        through = direct.set(host="127.0.0.1", port=self.proxy.port).render_as_string(hide_password=False)
        config_path, self.config = self.load_config()
        self.env = {**{k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "PYTHONPATH")},
                    "DATABASE_URL": through, "REDIS_URL": self.redis.url, "REDIS_PREFIX": "hotline:",
                    "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
                    "TWILIO_API_BASE": self.rest.serve(), "HOTLINE_CONFIG": str(config_path),
                    "PYTHONUNBUFFERED": "1", "PYTHONDONTWRITEBYTECODE": "1"}  # fmt: skip
        if self.sentinel is not None:  # REDIS_URL then gives only the database number
            self.env |= {"REDIS_SENTINELS": f"127.0.0.1:{self.sentinel.port}", "REDIS_SENTINEL_SERVICE": SERVICE}
        subprocess.run([self.python, "-m", "flask", "--app", "app", "seed", "--demo"], cwd=self.app_dir,
                       env={**self.env, "DATABASE_URL": self.direct_url}, check=True, capture_output=True)  # fmt: skip
        self.engine = sa.create_engine(self.direct_url)
        for n in range(self.web_servers):
            port = common.free_port()
            self.web_ports.append(port)
            name = "web" if self.web_servers == 1 else f"web{n + 1}"
            self.add(name, ["-m", "gunicorn", "-w", str(self.args.web_workers), "-b", f"127.0.0.1:{port}",
                            "--log-level", "warning", "app:create_app()"])  # fmt: skip
        self.add("records", ["-m", "flask", "--app", "app", "worker", "--records", "--count",
                             str(self.args.record_workers)])  # fmt: skip
        self.add("worker", ["-m", "flask", "--app", "app", "worker"])
        self.add("cron", ["-m", "flask", "--app", "app", "cron"])
        self.url = f"http://127.0.0.1:{self.web_ports[0]}"
        if self.with_nginx:
            self.url = self.start_nginx()
        for port in self.web_ports:
            service = next(s for s in self.services.values() if f"127.0.0.1:{port}" in s.command)
            load.wait_until_answers(f"http://127.0.0.1:{port}", service.process, service.log)
        if self.with_nginx:
            load.wait_until_answers(self.url, self.services["nginx"].process, self.services["nginx"].log)

    def add(self, name: str, arguments: list[str], *, executable: str | None = None, env: dict | None = None) -> None:
        command = [executable or self.python, *arguments]
        self.services[name] = Service(name, command, env or self.env, self.app_dir,
                                      self.scratch / f"{name}.log").start()  # fmt: skip

    def start_sentinel(self) -> None:
        """A replica of the run's Redis (AOF too) and a sentinel watching the pair."""
        import redis

        self.replica = OwnRedis(persistent=True).start()
        client = redis.Redis(port=self.replica.port, decode_responses=True)
        client.replicaof("127.0.0.1", self.redis.port)
        eventually(lambda: client.info("replication")["master_link_status"] == "up", "replicating")
        client.close()
        self.sentinel = Sentinel(SERVICE, self.redis.port, self.scratch)
        eventually(lambda: self.sentinel.client.sentinel_slaves(SERVICE), "knowing the replica")

    def start_nginx(self) -> str:
        port = common.free_port()
        folder = self.scratch / "nginx"
        folder.mkdir()
        servers = "\n".join(f"        server 127.0.0.1:{p} max_fails=1 fail_timeout=10s;" for p in self.web_ports)
        # deploy/nginx/hotline.conf's proxying, on loopback and without TLS; Host with the port
        # (PUBLIC_BASE_URL below is what signatures are checked against).
        (folder / "nginx.conf").write_text(NGINX_CONF.format(dir=folder, servers=servers, port=port))
        self.env["PUBLIC_BASE_URL"] = f"http://127.0.0.1:{port}"
        self.add("nginx", ["-c", str(folder / "nginx.conf"), "-p", str(folder), "-e", str(folder / "error.log")],
                 executable="nginx")  # fmt: skip
        return f"http://127.0.0.1:{port}"

    def load_config(self) -> tuple[Path, dict]:
        """The app's config.yaml with seats open around the clock and call limits too high to
        turn a caller away (as bench/load.py)."""
        document = yaml.safe_load((self.app_dir / "config.yaml").read_text(encoding="utf-8"))
        document["call_limits"].update(calls_per_number=10_000, withheld_calls=100_000)
        week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        document["seats"]["opening_hours"] = {day: ["00:00-24:00"] for day in week}
        document["seats"]["holidays"] = {}
        for setting in self.args.set:  # --set records.reconstruct_every_seconds=30
            dotted, _, value = setting.partition("=")
            *parents, name = dotted.split(".")
            place = document
            for parent in parents:
                place = place.setdefault(parent, {})
            place[name] = yaml.safe_load(value)
        path = self.scratch / "config.yaml"
        path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
        return path, document

    # -- faults
    def web_workers(self, name: str = "web") -> list[int]:
        return load.children(self.services[name].process.pid)

    def kill_redis(self) -> None:
        self.redis.stop()  # SIGKILL
        time.sleep(RESTART_AFTER)
        self.redis.start()

    def flush_redis(self) -> None:
        import redis

        client = redis.Redis.from_url(self.redis.url)
        client.flushall()
        client.close()

    def lose_redis(self) -> None:
        """A Redis restarted without persistence: killed, its files removed, started empty."""
        self.redis.stop()  # SIGKILL
        for path in self.redis.dir.iterdir():  # appendonly.aof, or Redis 7's appendonlydir
            shutil.rmtree(path) if path.is_dir() else path.unlink()
        time.sleep(RESTART_AFTER)
        self.redis.start()

    def kill_web_worker(self) -> None:
        workers = self.web_workers()
        if workers:
            os.kill(workers[0], signal.SIGKILL)

    def kill_workers(self) -> None:
        self.services["records"].kill()
        self.services["worker"].kill()

    def cut_database(self) -> None:
        self.proxy.cut()
        time.sleep(DB_CUT_SECONDS)
        self.proxy.restore()

    def fault(self, name: str) -> Callable[[], None]:
        return {"worker-kill": self.kill_workers, "redis-restart": self.kill_redis, "redis-flush": self.flush_redis,
                "redis-lost": self.lose_redis, "web-kill": self.kill_web_worker,
                "db-cut": self.cut_database}[name]  # fmt: skip

    # -- stop
    def stop(self) -> None:
        for service in reversed(list(self.services.values())):
            service.stop()
        self.rest.stop()
        if self.proxy is not None:
            self.proxy.close()
        self.redis.close()
        if self.sentinel is not None:
            self.sentinel.stop()
        if self.replica is not None:
            self.replica.close()
        if self.engine is not None:
            self.engine.dispose()
        common.admin(self.admin_url, f'DROP DATABASE IF EXISTS "{self.database}" WITH (FORCE)')

    def left(self) -> dict[str, int]:
        """Record jobs RQ still holds (queued, scheduled for a retry, failed, started) and the spool's rows."""
        import redis
        import rq

        out = {}
        try:
            port = self.sentinel.master()[1] if self.sentinel is not None else self.redis.port
            connection = redis.Redis(port=port)
            queue = rq.Queue("hotline:records", connection=connection)
            out = {"records queued": queue.count, "retries waiting": queue.scheduled_job_registry.count,
                   "failed": queue.failed_job_registry.count, "started": queue.started_job_registry.count}  # fmt: skip
            connection.close()
        except redis.RedisError as exc:
            out["rq unreadable"] = type(exc).__name__
        with self.engine.connect() as c:
            out["spooled"] = c.execute(sa.text("SELECT count(*) FROM record_spool")).scalar()
        return out

    # -- what the database kept
    def reconstructed_column(self) -> str | None:
        columns = [c["name"] for c in sa.inspect(self.engine).get_columns("call_records")]
        return next((c for c in columns if c.startswith("reconstructed")), None)

    def reconstructed_why(self, sids: set[str]) -> Counter:
        """The reasons the reconstructed records of these calls give (records.calls: "no record:
        opened from the carrier" is a call Redis lost whole, found in the carrier's Calls list)."""
        columns = [c["name"] for c in sa.inspect(self.engine).get_columns("call_records")]
        if "reconstructed_why" not in columns:
            return Counter()
        with self.engine.connect() as c:
            rows = c.execute(
                sa.text("SELECT call_sid, reconstructed_why FROM call_records WHERE reconstructed_why <> ''")
            )
            return Counter(why for sid, text in rows if sid in sids for why in text.split("; ") if why)

    def carrier_view(self, sids: list[str]) -> list[str]:
        """What the carrier's Calls API (the REST carrier the app asks) says of these calls."""
        out = []
        for sid in sids:
            try:
                call = self.rest.get_call(sid)
            except LookupError:
                out.append(f"  {sid[:10]}.. unknown to the app's carrier")
                continue
            at = self.rest.clock.at
            ended = at(call.ended_at).strftime("%H:%M:%S") if call.ended_at is not None else "-"
            out.append(f"  {sid[:10]}.. at the app's carrier: {call.status} {call.direction} to {call.to}, "
                       f"ended {ended}, parent {call.parent_sid}")  # fmt: skip
        return out

    def kept(self, sids: set[str]) -> dict[str, list[Kept]]:
        column = self.reconstructed_column()
        rebuilt = f"r.{column}" if column else "NULL"
        with self.engine.connect() as c:
            rows = c.execute(sa.text(
                f"SELECT r.id, r.call_sid, r.status, r.ended_at IS NOT NULL, coalesce(r.menu_path, ''), {rebuilt} "
                "FROM call_records r")).all()  # fmt: skip
            sequences: dict[int, list[int]] = {}
            kinds: dict[int, list[str]] = {}
            inputs: Counter = Counter()
            for call_id, sequence, kind in c.execute(sa.text(
                    "SELECT call_id, sequence, kind FROM call_events ORDER BY call_id, sequence")):  # fmt: skip
                sequences.setdefault(call_id, []).append(sequence)
                kinds.setdefault(call_id, []).append(kind)
                inputs[call_id] += kind in INPUT_EVENTS
            twice = dict(c.execute(sa.text(
                "SELECT call_id, count(*) FROM (SELECT call_id FROM call_events GROUP BY call_id, at, kind, "
                "CAST(detail AS text) HAVING count(*) > 1) d GROUP BY call_id")).all())  # fmt: skip
        out: dict[str, list[Kept]] = {}
        for call_id, sid, status, ended, menu_path, reconstructed in rows:
            if sid in sids:
                out.setdefault(sid, []).append(Kept(
                    status, bool(ended), menu_path, tuple(sorted(sequences.get(call_id, ()))), inputs[call_id],
                    twice.get(call_id, 0),
                    None if column is None else reconstructed_value(reconstructed),
                    tuple(kinds.get(call_id, ()))))  # fmt: skip
        return out


NGINX_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
events {{ worker_connections 1024; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    upstream hotline_web {{
{servers}
        keepalive 32;
    }}
    server {{
        listen 127.0.0.1:{port};
        client_max_body_size 10m;
        location / {{
            proxy_pass http://hotline_web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_read_timeout 15s;
            proxy_next_upstream error timeout;
            proxy_next_upstream_tries 2;
            proxy_next_upstream_timeout 5s;
        }}
        location /ivr/ {{
            proxy_pass http://hotline_web;
            proxy_http_version 1.1;
            proxy_set_header Connection "";
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $remote_addr;
            proxy_set_header X-Forwarded-Proto $scheme;
            proxy_connect_timeout 2s;
            proxy_read_timeout 15s;
            proxy_next_upstream error timeout non_idempotent;
            proxy_next_upstream_tries 2;
            proxy_next_upstream_timeout 5s;
        }}
    }}
}}
"""


# ---- the run ------------------------------------------------------------------------------------------


def placed_calls(outcomes: list[dict]) -> list[Placed]:
    calls = []
    for o in outcomes:
        if not o["sid"]:
            continue
        answered = tuple(path for path, _, status, keys in o["timings"]
                         if keys and status and status < 300 and path not in UNNOTED_KEYS)  # fmt: skip
        calls.append(Placed(o["sid"], o["status"], o["started"], o["ended"], len(answered), bool(o["problems"]),
                            answered, o.get("kind", "")))  # fmt: skip
    return calls


def run_callers(harness: Harness, args, deadline: float) -> list[dict]:
    """The callers' calls, each told to the harness's REST carrier as it ends (so that the
    carrier's Calls API knows them, as Twilio's would: each caller drives a carrier of its own)."""
    import multiprocessing

    load.REPORT = multiprocessing.get_context("fork").Queue()
    teller = threading.Thread(target=tell_carrier, args=(harness.rest, load.REPORT), daemon=True)
    teller.start()
    try:
        return call_all(harness, args, deadline)
    finally:
        load.REPORT.put(None)
        teller.join(30)
        load.REPORT = None


def tell_carrier(carrier: Carrier, calls) -> None:
    from emulator.call import Call

    while (ended := calls.get()) is not None:
        call = Call(carrier, sid=ended["sid"], direction="inbound", to=ended["to"], from_=ended["from"],
                    status=ended["status"])  # fmt: skip
        # The caller's carrier said when (seconds since 1970); this one counts from its own start.
        origin = carrier.clock.start.timestamp()
        for name in ("created", "answered_at", "ended_at"):
            setattr(call, name, None if ended[name] is None else ended[name] - origin)
        carrier.register(call)  # into the emulator's own index and list, as it keeps the calls it placed


def call_all(harness: Harness, args, deadline: float) -> list[dict]:
    number = to_e164(harness.config["hospital"]["main_number"], "CN")
    shared = {"url": harness.url, "number": number, "seed": args.seed, "think": args.think_range,
              "operator": to_e164(harness.config["seats"]["operator_number"], "CN")}  # fmt: skip
    per_process = [args.callers // args.processes + (1 if i < args.callers % args.processes else 0)
                   for i in range(args.processes)]  # fmt: skip
    with ProcessPoolExecutor(max_workers=args.processes) as pool:
        futures = [pool.submit(load.caller_process, i, n, deadline, shared) for i, n in enumerate(per_process)]
        return [outcome for future in futures for outcome in future.result()]


def schedule_faults(harness: Harness, names: list[str], started: float, lead: float, every: float,
                    done: list[Fault]) -> threading.Thread:  # fmt: skip
    def run() -> None:
        for i, name in enumerate(names):
            time.sleep(max(0.0, started + lead + i * every - time.time()))
            began = time.time()
            print(f"  {began - started:5.0f} s  fault: {name}", flush=True)
            try:
                harness.fault(name)()
            except Exception as exc:  # reported, and the run goes on
                print(f"  fault {name} failed: {exc!r}", flush=True)
            done.append(Fault(name, began, time.time()))

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    return thread


def settle(harness: Harness, calls: list[Placed], faults: list[Fault], most: float, stable: float):
    """Wait, doing nothing, until every record is complete, or nothing changed for `stable`
    seconds, or `most` seconds passed.  Returns the seconds waited and the last tallies."""
    sids = {c.sid for c in calls}
    began = time.monotonic()
    last, changed = None, began
    while True:
        try:
            tallies = tally(calls, harness.kept(sids), faults)
        except sa.exc.SQLAlchemyError as exc:
            print(f"  reading the records failed: {type(exc).__name__}", flush=True)
            time.sleep(5)
            continue
        total = tallies["total"]
        state = (total.complete, total.missing, total.incomplete, total.doubled, total.reconstructed)
        now = time.monotonic()
        if state != last:
            print(f"  +{now - began:4.0f} s  complete {total.complete} missing {total.missing} incomplete "
                  f"{total.incomplete} doubled {total.doubled}", flush=True)  # fmt: skip
            last, changed = state, now
        if total.complete == total.placed or now - changed >= stable or now - began >= most:
            return now - began, tallies
        time.sleep(5)


def describe_app(app_dir: Path) -> str:
    def git(*a):
        return subprocess.run(["git", "-C", str(app_dir), *a], capture_output=True, text=True).stdout.strip()

    dirty = " (with uncommitted changes)" if git("status", "--porcelain", "--untracked-files=no") else ""
    return f"{app_dir} at {git('rev-parse', '--abbrev-ref', 'HEAD')} {git('rev-parse', '--short', 'HEAD')}{dirty}"


def log_lines(scratch: Path, *needles: str) -> dict[str, int]:
    counts = {}
    for log in sorted(scratch.glob("*.log")):
        text = log.read_text(errors="replace")
        counts[log.stem] = sum(text.count(n) for n in needles)
    return counts


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--app-dir", default=str(ROOT), help="the checkout whose code the services run (default: this)")
    p.add_argument("--topic", default=None, help="results file: bench/results/faults-<topic>.txt (default: the "
                                                 "app dir's branch)")  # fmt: skip
    p.add_argument("--faults", default=",".join(FAULT_ORDER), help=f"comma-separated, of {', '.join(FAULT_ORDER)}; "
                                                                   "'none' for none")  # fmt: skip
    p.add_argument("--separately", action="store_true", help="each fault in a run of its own (fresh servers)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting of the app's config.yaml for the run (repeatable)",
    )
    p.add_argument("--callers", type=int, default=16)
    p.add_argument("--processes", type=int, default=2, help="caller processes")
    p.add_argument("--lead", type=float, default=20, help="seconds of calls before the first fault")
    p.add_argument("--every", type=float, default=30, help="seconds between faults")
    p.add_argument("--tail", type=float, default=15, help="seconds of calls after the last fault")
    p.add_argument("--settle", type=float, default=420, help="wait at most this long for the records afterwards")
    p.add_argument("--stable", type=float, default=150, help="stop waiting once nothing changed for this long")
    p.add_argument("--think", default="1,3", help="seconds a caller listens before each key (min,max)")
    p.add_argument("--web-workers", type=int, default=2)
    p.add_argument("--record-workers", type=int, default=2)
    p.add_argument("--postgres", default=os.environ.get("HOTLINE_TEST_POSTGRES",
                                                        "postgresql://postgres@127.0.0.1:5432/test"))  # fmt: skip
    p.add_argument("--seed", default="faults")
    p.add_argument("--results", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    args.fault_names = [] if args.faults in ("", "none") else [f.strip() for f in args.faults.split(",")]
    unknown = set(args.fault_names) - set(FAULT_ORDER)
    if unknown:
        p.error(f"unknown faults: {', '.join(sorted(unknown))}")
    args.think_range = tuple(float(x) for x in args.think.split(","))
    return args


@dataclass
class Run:
    """One run of callers with some faults, and what it left."""

    faults: list[Fault]
    calls: list[Placed]
    tallies: dict[str, Tally]
    started: float
    duration: float
    waited: float
    with_reconstructed: bool
    services: dict[str, tuple[int, bool]]
    left: dict[str, int]
    quitting: dict[str, int]
    tracebacks: dict[str, int]
    scratch: Path
    verdicts: dict[str, str] = field(default_factory=dict)
    examples: list[str] = field(default_factory=list)
    reconstructed_why: Counter = field(default_factory=Counter)


def one_run(args, names: list[str]) -> Run:
    scratch = Path(tempfile.mkdtemp(prefix="hotline-faults-"))
    harness = Harness(args, scratch)
    faults: list[Fault] = []
    try:
        harness.start()
        duration = args.lead + max(0, len(names) - 1) * args.every + args.tail
        duration += DB_CUT_SECONDS if "db-cut" in names else 0
        print(f"{args.callers} callers for {duration:.0f} s against {harness.url}; faults: "
              f"{', '.join(names) or 'none'}; logs in {scratch}", flush=True)  # fmt: skip
        started = time.time()
        scheduler = schedule_faults(harness, names, started, args.lead, args.every, faults)
        outcomes = run_callers(harness, args, started + duration)
        scheduler.join()
        calls = placed_calls(outcomes)
        print(f"{len(calls)} calls placed; waiting for the records (nobody runs anything)", flush=True)
        waited, tallies = settle(harness, calls, faults, args.settle, args.stable)
        kept = harness.kept({c.sid for c in calls})
        run = Run(faults, calls, tallies, started, duration, waited, harness.reconstructed_column() is not None,
                  {name: (s.starts - 1, s.alive()) for name, s in harness.services.items()}, harness.left(),
                  log_lines(scratch, "found an unhandled exception, quitting", "registering death"),
                  log_lines(scratch, "Traceback (most recent call last)"), scratch,
                  {c.sid: verdict(c, kept.get(c.sid, []))[0] for c in calls},
                  examples(calls, kept, started))  # fmt: skip
        run.reconstructed_why = harness.reconstructed_why({c.sid for c in calls})
        run.examples += harness.carrier_view([c.sid for c in calls if run.verdicts[c.sid] == "missing"])
    finally:
        harness.stop()
    return run


def examples(calls: list[Placed], kept: dict[str, list[Kept]], started: float, most: int = 6) -> list[str]:
    """A few calls whose record is not complete, as the carrier and the database saw them."""
    out = []
    for call in calls:
        kind, reasons = verdict(call, kept.get(call.sid, []))
        if kind == "complete" or len(out) >= most:
            continue
        record = kept.get(call.sid, [None])[0]
        stored = "no record" if record is None else (f"record {record.status}, events {' '.join(record.kinds)}")
        out.append(
            f"  {call.sid[:10]}.. {call.kind} {call.started - started:.0f}-{call.ended - started:.0f} s, "
            f"{kind} ({', '.join(reasons)}): keys/speech answered at {' '.join(call.inputs_at)}; {stored}"
        )
    return out


def timeline(run: Run, every: float = 10) -> list[str]:
    """Calls by when they started (every 10 s): placed, then not complete (missing + incomplete + doubled)."""
    bins: dict[int, Counter] = {}
    for call in run.calls:
        slot = int((call.started - run.started) // every)
        bins.setdefault(slot, Counter())["placed"] += 1
        bins[slot]["lost"] += run.verdicts.get(call.sid) != "complete"
    at = {int((f.started - run.started) // every): f.name for f in run.faults}
    return [f"  {slot * every:4.0f}-{(slot + 1) * every:<4.0f} s  {c['placed']:3} placed, {c['lost']:3} not complete"
            + (f"   <- {at[slot]}" if slot in at else "") for slot, c in sorted(bins.items())]  # fmt: skip


def run_lines(run: Run) -> list[str]:
    total = run.tallies["total"]
    return [
        "incomplete, why (a record can have several): "
        + (", ".join(f"{k} {v}" for k, v in total.reasons.most_common()) or "none"),
        "reconstructed, why (a record can have several): "
        + (", ".join(f"{k} {v}" for k, v in run.reconstructed_why.most_common()) or "none"),
        "incomplete and not marked reconstructed: "
        + (str(total.incomplete_not_reconstructed) if run.with_reconstructed else "n/a (no reconstructed column)"),
        f"settle: waited {run.waited:.0f} s; left at the end: " + ", ".join(f"{k} {v}" for k, v in run.left.items()),
        "restarts by the supervisor (alive at the end): "
        + ", ".join(f"{name} {n} ({'yes' if up else 'NO'})" for name, (n, up) in run.services.items()),
        "log lines 'found an unhandled exception, quitting' / 'registering death': "
        + ", ".join(f"{k} {v}" for k, v in run.quitting.items()),
        "tracebacks in logs: " + ", ".join(f"{k} {v}" for k, v in run.tracebacks.items()),
        "calls by when they started:",
        *timeline(run),
        "some calls not complete (the carrier's view; the database's):",
        *run.examples,
    ]


def main(argv=None) -> int:
    args = parse_args(argv)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the REST carrier's access lines
    argv = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/faults.py" + (" " + shlex.join(argv) if argv else "")
    load_before = common.loadavg()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    app = describe_app(Path(args.app_dir).resolve())
    topic = args.topic or app.split(" at ")[1].split()[0]
    if args.separately:
        runs = []
        for name in args.fault_names:
            runs.append(one_run(args, [name]))
            total = runs[-1].tallies["total"]
            print(
                f"== {name}: placed {total.placed}, complete {total.complete}, missing {total.missing}, "
                f"incomplete {total.incomplete} ({dict(total.reasons)}), doubled {total.doubled}",
                flush=True,
            )
    else:
        runs = [one_run(args, args.fault_names)]
    header = [
        f"# Faults while callers call (bench/faults.py, issue 16): {topic}",
        "",
        f"command: {command}",
        f"date:    {date}",
        f"machine: {common.machine_line(load_when='at the end')}; load before {load_before}",
        f"code:    {app}",
        f"servers: PostgreSQL (own database, through the bench's TCP proxy), redis-server with AOF (own port), "
        f"gunicorn {args.web_workers} workers, records pool {args.record_workers}, flask worker, flask cron, "
        f"each restarted {RESTART_AFTER:g} s after it exits",
        f"load:    {args.callers} callers ({args.processes} processes), think {args.think} s; "
        + (f"each fault in a run of its own ({args.lead:g} s of calls before it, {args.tail:g} s after)"
           if args.separately else
           f"{runs[0].duration:.0f} s of calls, faults every {args.every:g} s from {args.lead:g} s"),
        f"settle:  stop waiting when all are complete, nothing changed for {args.stable:g} s, or after "
        f"{args.settle:g} s; nothing is run by hand",
        "",
    ]  # fmt: skip
    with_reconstructed = all(r.with_reconstructed for r in runs)
    if args.separately:
        # One row per run: every call of the run that had only that fault.
        tallies = {run.faults[0].name if run.faults else "none": run.tallies["total"] for run in runs}
        summed = Tally()
        for t in tallies.values():
            for name in ("placed", "complete", "missing", "incomplete", "doubled", "reconstructed",
                         "incomplete_not_reconstructed", "caller_errors"):  # fmt: skip
                setattr(summed, name, getattr(summed, name) + getattr(t, name))
            summed.reasons.update(t.reasons)
        tallies["all runs"] = summed
        body = ["every call of each run (each run had one fault):", *table(tallies, [], 0, with_reconstructed), ""]
        for run in runs:
            body += ["", f"## {run.faults[0].name if run.faults else 'none'} (logs: {run.scratch})", *run_lines(run)]
    else:
        run = runs[0]
        tallies = run.tallies
        body = [*table(tallies, run.faults, run.started, with_reconstructed), "", *run_lines(run)]
    lines = (
        header
        + body
        + [
            "",
            "Per fault: the calls in progress from the fault's start to 5 s after it ended (a call may count under two);",
            "caller errors: calls whose caller heard the apology, a webhook failed (non-2xx, no answer) or the call ended",
            "early. complete: one record, the carrier's final status, an end, events numbered without gaps, a key or",
            "speech event for each key or speech the app answered, a menu path. left: record jobs still in RQ's",
            "registries and rows in the record spool when the wait ended.",
        ]
    )
    print("\n".join(lines))
    path = common.write_result(args.results / f"faults-{topic}.txt", lines)
    print(f"written to {path}")
    total = tallies["all runs" if args.separately else "total"]
    return 0 if total.missing == total.doubled == 0 and total.incomplete_not_reconstructed == 0 else 1


if __name__ == "__main__":
    sys.exit(main())
