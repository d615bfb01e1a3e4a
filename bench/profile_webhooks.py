"""Where a webhook's time goes: bench/webhooks.py runs this when the hotline misses
a target (or with --profile), and writes bench/results/webhooks-profile.md.

Two views:
- `census`: in one process, through Flask's test client, the benchmark's calls
  step by step, counting per request the SQL statements, connection-pool pings,
  Redis round trips, and the time spent in them, in the signature check and in
  writing the TwiML, and the request's CPU time.  Run with the same environment
  as the server (DATABASE_URL, REDIS_URL, TWILIO_AUTH_TOKEN, PUBLIC_BASE_URL...).
- `categories`: py-spy's samples (--gil: only the thread holding the GIL, i.e.
  Python CPU) of the gunicorn workers under the benchmark's load, each sample
  given to the innermost frame that belongs to a known library or the hotline.

    python bench/profile_webhooks.py census WALKS.json --calls 30 [--baseline]
    python bench/profile_webhooks.py categories PYSPY.raw
"""

from __future__ import annotations

import argparse
import json
import random
import re
import sys
import time
import urllib.parse
import uuid
from collections import Counter, defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


class Meter:
    """Counters and timers the patched libraries add to, reset per request."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.counts: Counter[str] = Counter()
        self.seconds: Counter[str] = Counter()

    def timed(self, name: str, function):
        meter = self

        def wrapper(*args, **kwargs):
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                meter.counts[name] += 1
                meter.seconds[name] += time.perf_counter() - started

        return wrapper


def instrument(meter: Meter, engine) -> None:
    import redis
    from sqlalchemy import event

    import ivr.security
    import ivr.webhooks

    @event.listens_for(engine, "before_cursor_execute")
    def _before(conn, cursor, statement, parameters, context, executemany):
        conn.info.setdefault("bench_started", []).append(time.perf_counter())

    @event.listens_for(engine, "after_cursor_execute")
    def _after(conn, cursor, statement, parameters, context, executemany):
        started = conn.info["bench_started"].pop()
        meter.counts["sql"] += 1
        meter.seconds["sql"] += time.perf_counter() - started
        kind = statement.lstrip().split(None, 1)[0].upper()
        meter.counts[f"sql {kind}"] += 1

    dialect = type(engine.dialect)
    dialect.do_ping = meter.timed("ping", dialect.do_ping)
    redis.Redis.execute_command = meter.timed("redis", redis.Redis.execute_command)
    redis.client.Pipeline.execute = meter.timed("redis", redis.client.Pipeline.execute)
    # Round trips as the socket sees them: a command or a whole pipeline is one write, and what a
    # client sends on its own (a pipeline's SCRIPT EXISTS before a Script in it) is counted too.
    sends = redis.connection.AbstractConnection.send_packed_command
    redis.connection.AbstractConnection.send_packed_command = meter.timed("redis sends", sends)
    ivr.security.is_signed = meter.timed("signature", ivr.security.is_signed)
    ivr.webhooks._twiml = meter.timed("twiml", ivr.webhooks._twiml)


def census(walks_file: Path, calls: int, baseline: bool) -> dict:
    sys.path.insert(0, str(ROOT))
    import os

    from twilio.request_validator import RequestValidator

    walks = json.loads(walks_file.read_text())
    base = os.environ.get("PUBLIC_BASE_URL", "https://hotline.example.org")
    token = os.environ.get("TWILIO_AUTH_TOKEN")
    meter = Meter()
    if baseline:
        from bench.baseline_app import app
    else:
        from app import create_app

        app = create_app()
        instrument(meter, app.extensions["hotline"].engine)
        logging_off()
    client = app.test_client()
    rows: dict[str, dict] = defaultdict(lambda: {"n": 0, "counts": Counter(), "seconds": Counter(), "cpu": 0.0,
                                                 "wall": 0.0})  # fmt: skip
    rng = random.Random(3)
    # a first pass warms caches (compiled SQL, imports) and is not counted
    for round_ in range(calls + 1):
        for walk in walks:
            sid = "CA" + uuid.UUID(int=rng.getrandbits(128)).hex
            fields = {**walk["fields"], "CallSid": sid}
            for number, step in enumerate(walk["steps"]):
                form = {**fields, **step["params"]}
                headers = {"Content-Type": "application/x-www-form-urlencoded"}
                if token:
                    headers["X-Twilio-Signature"] = RequestValidator(token).compute_signature(base + step["path"], form)
                body = urllib.parse.urlencode(form)
                meter.reset()
                cpu, wall = time.thread_time(), time.perf_counter()
                response = client.post(step["path"], data=body, headers=headers)
                cpu, wall = time.thread_time() - cpu, time.perf_counter() - wall
                if response.status_code not in (200, 204):
                    raise SystemExit(f"{step['path']}: HTTP {response.status_code}")
                if number == 0:
                    fields["CallStatus"] = "in-progress"
                if round_ == 0:
                    continue
                row = rows[step["label"]]
                row["n"] += 1
                row["counts"].update(meter.counts)
                row["seconds"].update(meter.seconds)
                row["cpu"] += cpu
                row["wall"] += wall
    result = []
    for label, row in rows.items():
        n = row["n"]
        result.append({
            "step": label,
            "n": n,
            "cpu_ms": 1000 * row["cpu"] / n,
            "wall_ms": 1000 * row["wall"] / n,
            "counts": {k: v / n for k, v in row["counts"].items()},
            "ms": {k: 1000 * v / n for k, v in row["seconds"].items()},
        })  # fmt: skip
    return {"steps": result}


def logging_off() -> None:
    import logging

    logging.getLogger().setLevel(logging.WARNING)


# ---- py-spy's samples, by library -------------------------------------------------------------

HOTLINE_FILES = r"^(ivr|records)/|^(app|extensions|settings)\.py$"
CATEGORIES = (  # (name, pattern on the frame's file as py-spy shows it), first match wins
    ("SQLAlchemy ORM/Core", r"(^|/)sqlalchemy/"),
    ("psycopg (PostgreSQL driver)", r"(^|/)psycopg/"),
    ("Redis client", r"(^|/)redis/"),
    ("signature check (twilio RequestValidator)", r"(^|/)twilio/request_validator"),
    ("TwiML building (twilio)", r"(^|/)twilio/"),
    ("Babel (dates, spoken times)", r"(^|/)babel/"),
    ("rapidfuzz (speech matching)", r"(^|/)rapidfuzz/"),
    ("phonenumbers (caller lookup)", r"(^|/)phonenumbers/"),
    ("Flask/Werkzeug", r"(^|/)(flask|werkzeug)/"),
    ("gunicorn", r"(^|/)gunicorn/"),
    (
        "hotline code (ivr/, records/, app, extensions, settings)",
        HOTLINE_FILES := r"^(ivr|records)/|^(app|extensions|settings)\.py$",
    ),
)
FRAME = re.compile(r"^(?P<function>.*) \((?P<file>[^()]*?)(?::\d+)?\)$")


def categories(raw: Path) -> dict:
    by_category: Counter[str] = Counter()
    hotline_functions: Counter[str] = Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        if not count.isdigit():
            continue
        count_ = int(count)
        total += count_
        frames = [FRAME.match(frame) for frame in stack.split(";")]
        frames = [f for f in frames if f]
        name = "Python standard library / other"
        for frame in reversed(frames):
            file = frame.group("file")
            found = next((n for n, pattern in CATEGORIES if re.search(pattern, file)), None)
            if found:
                name = found
                break
        by_category[name] += count_
        # the hotline's own functions, inclusive: where in the request path the time is spent
        seen = set()
        for frame in frames:
            file = frame.group("file")
            if re.search(HOTLINE_FILES, file):
                key = f"{frame.group('function')} ({file})"
                if key not in seen:
                    seen.add(key)
                    hotline_functions[key] += count_
    return {
        "samples": total,
        "categories": [(name, count / total) for name, count in by_category.most_common()] if total else [],
        "functions": [(name, count / total) for name, count in hotline_functions.most_common(25)] if total else [],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    c = sub.add_parser("census")
    c.add_argument("walks", type=Path)
    c.add_argument("--calls", type=int, default=20, help="calls of each kind (default 20)")
    c.add_argument("--baseline", action="store_true", help="the baseline app instead of the hotline")
    k = sub.add_parser("categories")
    k.add_argument("raw", type=Path)
    args = parser.parse_args()
    if args.command == "census":
        print(json.dumps(census(args.walks, args.calls, args.baseline)))
    else:
        print(json.dumps(categories(args.raw)))


if __name__ == "__main__":
    main()
