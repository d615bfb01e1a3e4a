"""Call records benchmark: how fast the records queue's workers write call records,
and how long a status callback takes to become a committed row.  Writes
bench/results/records_rate.md from what it measured.

    .venv/bin/python bench/records_rate.py                      # defaults below
    .venv/bin/python bench/records_rate.py --calls 2000 --rate 100 --seconds 20

Everything runs against servers of its own: a redis-server on a free port and a
PostgreSQL database created here (from HOTLINE_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards.

1. Throughput: N calls' record jobs are enqueued the way the webhooks enqueue them
   (per call: open_call from /ivr/voice, one write_events batch of six events, the
   final status), then `flask --app app worker --records --count K --burst` is
   started and timed until the queue is empty, for K = 1 and K = 2.  Calls per
   second = N / elapsed (each call is 3 jobs).
2. Lag: `flask --app app worker --records --count K` runs while signed status
   callbacks (POST /ivr/status, CallStatus=completed) are sent to the app in this
   process at a fixed rate; a poller reads the database every 5 ms and notes when
   each call's completed row is first visible.  Lag = seen - posted.
"""

from __future__ import annotations

import argparse
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import redis
import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from twilio.request_validator import RequestValidator  # noqa: E402

import settings as settings_module  # noqa: E402
from app import create_app  # noqa: E402
from bench import common  # noqa: E402
from records import calls  # noqa: E402
from records.db import make_engine, migrate  # noqa: E402
from records.patients import CallerMatch  # noqa: E402

TOKEN = "bench-token"
ADMIN = os.environ.get("HOTLINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")


class Servers:
    def __init__(self):
        self.dir = Path(tempfile.mkdtemp(prefix="records-bench-"))
        self.port = common.free_port()
        self.redis = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--save", "", "--appendonly", "no", "--dir", str(self.dir)],
            stdout=subprocess.DEVNULL,
        )
        self.redis_url = f"redis://127.0.0.1:{self.port}/0"
        for _ in range(100):
            try:
                redis.Redis.from_url(self.redis_url).ping()
                break
            except redis.ConnectionError:
                time.sleep(0.05)
        self.db_name = f"hotline_bench_records_{uuid.uuid4().hex[:8]}"
        admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'CREATE DATABASE "{self.db_name}"'))
        admin.dispose()
        self.database_url = sa.make_url(ADMIN).set(database=self.db_name).render_as_string(hide_password=False)
        engine = make_engine(self.database_url)
        migrate(engine)
        engine.dispose()

    def environ(self, prefix: str) -> dict[str, str]:
        return {
            "DATABASE_URL": self.database_url,
            "REDIS_URL": self.redis_url,
            "REDIS_PREFIX": prefix,
            "TWILIO_AUTH_TOKEN": TOKEN,
        }

    def close(self) -> None:
        self.redis.terminate()
        self.redis.wait(10)
        admin = sa.create_engine(ADMIN, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{self.db_name}" WITH (FORCE)'))
        admin.dispose()


def make_app(servers: Servers, prefix: str):
    settings = settings_module.load(ROOT / "config.yaml", environ=servers.environ(prefix))
    return create_app(settings)


def start_workers(servers: Servers, prefix: str, count: int, burst: bool) -> subprocess.Popen:
    env = {**os.environ, **servers.environ(prefix)}
    env.pop("HOTLINE_CONFIG", None)
    command = [str(ROOT / ".venv/bin/flask"), "--app", "app", "worker", "--records", "--count", str(count)]
    return subprocess.Popen(
        command + (["--burst"] if burst else []),
        cwd=ROOT,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )


def throughput(servers: Servers, workers: int, n_calls: int) -> dict:
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    app = make_app(servers, prefix)
    recorder = app.extensions["hotline"].recorder
    start = datetime.now(UTC)
    for i in range(n_calls):
        sid = f"CA{prefix[6:12]}{i:08d}"
        at = start + timedelta(seconds=i)
        recorder.open_call(
            calls.CallOpened(sid, "+8613912345678", "+861065281000", CallerMatch("+8613912345678", ()), "zh", at)
        )
        kinds = [("menu", {"step": "menu.main"}), ("key", {"digits": "0"}), ("enqueue", {"queue": "general"}),
                 ("offer", {"queue": "general", "agent_id": 1}), ("answer", {"queue": "general", "agent_id": 1, "waited": 8}),
                 ("talk_end", {"queue": "general", "agent_id": 1, "talk": 60, "hold": 0})]  # fmt: skip
        recorder.events(sid, [calls.Event(k + 1, at, kind, detail) for k, (kind, detail) in enumerate(kinds)])
        recorder.status(
            call_sid=sid, status="completed", sequence=3, duration_seconds=70, at=at + timedelta(seconds=70)
        )
    queued = app.extensions["hotline"].records_queue.count
    began = time.perf_counter()
    process = start_workers(servers, prefix, workers, burst=True)
    process.wait()
    elapsed = time.perf_counter() - began
    engine = make_engine(servers.database_url)
    with engine.connect() as connection:
        written = connection.execute(
            sa.text("SELECT count(*) FROM call_records WHERE status = 'completed' AND call_sid LIKE :p"),
            {"p": f"CA{prefix[6:12]}%"},
        ).scalar()
        events = connection.execute(sa.text("SELECT count(*) FROM call_events")).scalar()
    engine.dispose()
    app.extensions["hotline"].engine.dispose()
    return {"workers": workers, "calls": n_calls, "jobs": queued, "written": written, "events_total": events,
            "seconds": elapsed, "calls_per_s": n_calls / elapsed, "jobs_per_s": queued / elapsed}  # fmt: skip


def lag(servers: Servers, workers: int, rate: float, seconds: float) -> dict:
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    app = make_app(servers, prefix)
    client = app.test_client()
    validator = RequestValidator(TOKEN)
    process = start_workers(servers, prefix, workers, burst=False)
    time.sleep(3)  # the pool forks its workers
    posted: dict[str, float] = {}
    seen: dict[str, float] = {}
    stop = threading.Event()
    engine = make_engine(servers.database_url)

    def poll():
        last = 0
        with engine.connect() as connection:
            while not stop.is_set() or len(seen) < len(posted):
                rows = connection.execute(
                    sa.text(
                        "SELECT id, call_sid FROM call_records WHERE id > :last AND status = 'completed' ORDER BY id"
                    ),
                    {"last": last},
                ).all()
                connection.commit()
                now = time.perf_counter()
                for row in rows:
                    seen.setdefault(row.call_sid, now)
                    last = max(last, row.id)
                if stop.is_set() and time.perf_counter() - stopped[0] > 60:
                    break
                time.sleep(0.005)

    stopped = [0.0]
    poller = threading.Thread(target=poll)
    poller.start()
    total = int(rate * seconds)
    began = time.perf_counter()
    for i in range(total):
        due = began + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sid = f"CL{prefix[6:12]}{i:08d}"
        form = {"CallSid": sid, "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "70"}
        signature = validator.compute_signature("http://localhost/ivr/status", form)
        posted[sid] = time.perf_counter()
        client.post("/ivr/status", data=form, headers={"X-Twilio-Signature": signature})
    achieved = total / (time.perf_counter() - began)
    stopped[0] = time.perf_counter()
    stop.set()
    poller.join()
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(30)
    engine.dispose()
    app.extensions["hotline"].engine.dispose()
    lags = sorted((seen[sid] - posted[sid]) * 1000 for sid in posted if sid in seen)
    return {"workers": workers, "rate": rate, "achieved_rate": achieved, "posted": total, "written": len(lags),
            "p50_ms": statistics.median(lags) if lags else None,
            "p99_ms": common.percentile(lags, 0.99) if lags else None, "max_ms": lags[-1] if lags else None}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1000, help="calls for the throughput runs")
    parser.add_argument("--rate", type=float, default=100, help="status callbacks per second for the lag runs")
    parser.add_argument("--seconds", type=float, default=20, help="how long the lag runs send")
    parser.add_argument("--workers", default="1,2", help="worker counts to measure")
    parser.add_argument("--out", default=str(ROOT / "bench/results/records_rate.md"))
    args = parser.parse_args()
    counts = [int(c) for c in args.workers.split(",")]
    servers = Servers()
    try:
        rows = [throughput(servers, k, args.calls) for k in counts]
        lags = [lag(servers, k, args.rate, args.seconds) for k in counts]
    finally:
        servers.close()
    command = "  ".join(["$ .venv/bin/python bench/records_rate.py", *sys.argv[1:]])
    lines = [
        "# Call records: throughput and lag",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {common.machine_line(load_when='at the end')}; "
        "PostgreSQL (own database), own redis-server.",
        "",
        "    " + command,
        "",
        "## Records written per second (`flask --app app worker --records --count K --burst`)",
        "",
        "| workers | calls | jobs | rows written | seconds | calls/s | jobs/s |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['workers']} | {r['calls']} | {r['jobs']} | {r['written']} | {r['seconds']:.1f} "
            f"| {r['calls_per_s']:.1f} | {r['jobs_per_s']:.1f} |"
        )
    lines += [
        "",
        f"## Status callback to committed row at {args.rate:g} callbacks/s for {args.seconds:g} s",
        "",
        "| workers | rate sent | callbacks | rows seen | p50 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in lags:
        fmt = lambda v: "-" if v is None else f"{v:.0f}"  # noqa: E731
        lines.append(
            f"| {r['workers']} | {r['achieved_rate']:.1f}/s | {r['posted']} | {r['written']} | {fmt(r['p50_ms'])} "
            f"| {fmt(r['p99_ms'])} | {fmt(r['max_ms'])} |"
        )
    common.write_result(args.out, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
