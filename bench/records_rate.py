"""Call records benchmark: how fast the records workers write finished calls' records,
and how long a status callback takes to become a committed row.  Writes
bench/results/records_rate.md from what it measured.

    .venv/bin/python bench/records_rate.py                      # defaults below
    .venv/bin/python bench/records_rate.py --calls 2000 --rate 100 --seconds 20

Everything runs against servers of its own: a redis-server on a free port and a
PostgreSQL database created here (from HOTLINE_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/postgres) and dropped afterwards.

1. Throughput, two paths side by side in one run: "stream" (issue 17), N calls kept in
   Redis as the webhooks keep them (the opening and six events, CallStore.add_events),
   then each one's final status handed over (CallStore.status: the finished calls'
   stream, one drain job); "reference", the per-webhook jobs of before (per call:
   open_call, write_events with the six events, apply_status).  Then
   `flask --app app worker --records --count K --burst` is started and timed from the first
   job it takes until it exits, the queue empty, for K = 1 and K = 2 (its start-up apart).
   Finished calls per second = N / elapsed; the worker's CPU in that span per call (its
   /proc/<pid>/stat at the first job, wait4's at its exit).
2. Lag: N calls kept in Redis first, then `flask --app app worker --records --count K`
   runs, and once its workers are up (registered with RQ) their signed status callbacks
   (POST /ivr/status, CallStatus=completed) are sent to the app in this process at a fixed rate; a poller asks the database every 5 ms
   for the calls posted and not seen yet and notes when each call's completed row is first
   visible.  Lag = seen - posted.
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

from rq import Worker  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

import settings as settings_module  # noqa: E402
from app import create_app  # noqa: E402
from bench import common  # noqa: E402
from queueing import recording  # noqa: E402
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


KINDS = [("menu", {"step": "menu.main"}), ("key", {"digits": "0"}), ("enqueue", {"queue": "general"}),
         ("offer", {"queue": "general", "agent_id": 1}), ("answer", {"queue": "general", "agent_id": 1, "waited": 8}),
         ("talk_end", {"queue": "general", "agent_id": 1, "talk": 60, "hold": 0})]  # fmt: skip


def opened(sid: str, at: datetime) -> calls.CallOpened:
    return calls.CallOpened(sid, "+8613912345678", "+861065281000", CallerMatch("+8613912345678", ()), "zh", at)


def final(sid: str, at: datetime) -> calls.StatusCallback:
    return calls.StatusCallback(sid, "completed", 3, 70, at + timedelta(seconds=70), "+8613912345678", "+861065281000")


def keep_calls(app, sids: list[str], start: datetime) -> None:
    """What the webhooks do during each call (issue 17): its opening and six events kept in
    Redis (CallStore.add_events), nothing enqueued."""
    store = app.extensions["hotline"].calls
    for i, sid in enumerate(sids):
        store.add_events(sid, start + timedelta(seconds=i), KINDS, opened=opened(sid, start + timedelta(seconds=i)))


def throughput(servers: Servers, workers: int, n_calls: int, path: str) -> dict:
    """`path` "stream": the calls kept in Redis, then each one's final status handed over
    (CallStore.status: the stream, one drain job); "reference": the per-webhook jobs of before
    issue 17 (open_call, write_events with the six events, apply_status), enqueued as the
    webhooks did."""
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    app = make_app(servers, prefix)
    hotline = app.extensions["hotline"]
    start = datetime.now(UTC)
    sids = [f"CA{prefix[6:12]}{i:08d}" for i in range(n_calls)]
    if path == "stream":
        keep_calls(app, sids, start)
        for i, sid in enumerate(sids):
            hotline.calls.status(final(sid, start + timedelta(seconds=i)))
    else:
        for i, sid in enumerate(sids):
            at = start + timedelta(seconds=i)
            hotline.records_queue.enqueue(recording.open_call, kwargs=opened(sid, at).to_json())
            events = [[k + 1, at.isoformat(), kind, detail] for k, (kind, detail) in enumerate(KINDS)]
            hotline.records_queue.enqueue(recording.write_events, kwargs={"call_sid": sid, "events": events})
            status = final(sid, at)
            hotline.records_queue.enqueue(recording.apply_status, kwargs={
                "call_sid": sid, "status": status.status, "sequence": status.sequence,
                "duration_seconds": status.duration_seconds, "at": status.at.isoformat()})  # fmt: skip
    queued = hotline.records_queue.count
    began = time.perf_counter()
    process = start_workers(servers, prefix, workers, burst=True)
    # Timed from the first job taken: the worker's start-up (importing the app: 2 s of CPU,
    # 18 s of wall at load 12) is no part of how fast a running worker writes records.
    while hotline.records_queue.count >= queued and process.poll() is None:
        time.sleep(0.01)
    first = time.perf_counter()
    cpu_before = cpu_seconds(process.pid)  # its start-up's
    _, status, usage = os.wait4(process.pid, 0)  # its CPU at exit, its pool's workers' included
    process.returncode = os.waitstatus_to_exitcode(status)
    ended = time.perf_counter()
    elapsed = ended - first
    worker_cpu = usage.ru_utime + usage.ru_stime - cpu_before
    engine = make_engine(servers.database_url)
    with engine.connect() as connection:
        written = connection.execute(
            sa.text("SELECT count(*) FROM call_records WHERE status = 'completed' AND call_sid LIKE :p"),
            {"p": f"CA{prefix[6:12]}%"},
        ).scalar()
        events = connection.execute(
            sa.text(
                "SELECT count(*) FROM call_events e JOIN call_records r ON r.id = e.call_id WHERE r.call_sid LIKE :p"
            ),
            {"p": f"CA{prefix[6:12]}%"},
        ).scalar()
    engine.dispose()
    hotline.engine.dispose()
    return {"path": path, "workers": workers, "calls": n_calls, "jobs": queued, "written": written,
            "events_total": events, "seconds": elapsed, "calls_per_s": n_calls / elapsed,
            "start_up": first - began, "cpu_ms_per_call": worker_cpu * 1000 / n_calls}  # fmt: skip


def cpu_seconds(pid: int) -> float:
    """A process's CPU so far (user and system), its children's that it waited for included."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return sum(int(tick) for tick in fields[11:15]) / os.sysconf("SC_CLK_TCK")


def lag(servers: Servers, workers: int, rate: float, seconds: float) -> dict:
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    app = make_app(servers, prefix)
    client = app.test_client()
    validator = RequestValidator(TOKEN)
    process = start_workers(servers, prefix, workers, burst=False)
    queue = app.extensions["hotline"].records_queue
    while len(Worker.all(queue=queue)) < workers:  # up and waiting for jobs (imports take seconds)
        time.sleep(0.05)
    total = int(rate * seconds)
    sids = [f"CL{prefix[6:12]}{i:08d}" for i in range(total)]
    keep_calls(app, sids, datetime.now(UTC))  # the calls, kept in Redis as their webhooks keep them
    posted: dict[str, float] = {}
    sent: list[str] = []  # posted's keys in order, appended to (the poller reads a prefix of it)
    seen: dict[str, float] = {}
    stop = threading.Event()
    engine = make_engine(servers.database_url)

    def poll():
        # By CallSid, not by id: ids are taken at INSERT and committed in any order (two
        # batches in flight, a retried one), so "id > the last seen" misses a row committed
        # after a higher one.  Asked for the calls posted and not seen yet (at the rate and the
        # lag aimed at, a few hundred at most), in one array parameter.
        unseen_query = sa.text(
            "SELECT call_sid FROM call_records WHERE status = 'completed' AND call_sid = ANY(:unseen)"
        )
        with engine.connect() as connection:
            while not stop.is_set() or len(seen) < len(posted):
                unseen = [sid for sid in sent[: len(sent)] if sid not in seen]
                found = connection.execute(unseen_query, {"unseen": unseen}).scalars().all() if unseen else []
                connection.commit()
                now = time.perf_counter()
                for sid in found:
                    seen.setdefault(sid, now)
                if stop.is_set() and time.perf_counter() - stopped[0] > 60:
                    break
                time.sleep(0.005)

    stopped = [0.0]
    poller = threading.Thread(target=poll)
    poller.start()
    began = time.perf_counter()
    for i in range(total):
        due = began + i / rate
        pause = due - time.perf_counter()
        if pause > 0:
            time.sleep(pause)
        sid = sids[i]
        form = {"CallSid": sid, "CallStatus": "completed", "SequenceNumber": "3", "CallDuration": "70",
                "From": "+8613912345678", "To": "+861065281000", "Direction": "inbound"}  # fmt: skip
        signature = validator.compute_signature("http://localhost/ivr/status", form)
        posted[sid] = time.perf_counter()
        sent.append(sid)
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
        # The reference first, then the stream, alternating per worker count, in one run.
        rows = [throughput(servers, k, args.calls, path) for k in counts for path in ("reference", "stream")]
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
        "## Finished calls written per second (`flask --app app worker --records --count K --burst`)",
        "",
        "reference: the per-webhook jobs of before issue 17 (3 RQ jobs per call); stream: the calls kept in",
        "Redis, each final status handed over to the finished calls' stream, drained in batches.",
        "",
        "Seconds from the first job taken to the worker's exit (its start-up before, apart); the worker's CPU",
        "(user and system, /proc and wait4) in the same span, per call.",
        "",
        "| path | workers | calls | RQ jobs | rows written | events written | start-up s | seconds | calls/s "
        "| worker CPU ms/call |",
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        lines.append(
            f"| {r['path']} | {r['workers']} | {r['calls']} | {r['jobs']} | {r['written']} | {r['events_total']} "
            f"| {r['start_up']:.1f} | {r['seconds']:.2f} | {r['calls_per_s']:.1f} | {r['cpu_ms_per_call']:.3f} |"
        )
    reference = {r["workers"]: r["calls_per_s"] for r in rows if r["path"] == "reference"}
    lines += ["", "stream / reference: " + ", ".join(
        f"{k} worker(s) {r['calls_per_s'] / reference[k]:.1f}x" for r in rows if r["path"] == "stream"
        for k in [r["workers"]])]  # fmt: skip
    lines += [
        "",
        f"## Status callback to committed row at {args.rate:g} callbacks/s for {args.seconds:g} s",
        "",
        "Each call kept in Redis first (opening and six events), then its final status posted",
        "(POST /ivr/status, signed) at the rate; lag = first seen committed by a poller (every 5 ms) - posted.",
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
