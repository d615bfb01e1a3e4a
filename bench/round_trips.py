"""Redis round trips and SQL statements per webhook (issue 17's targets: 1 round trip per
menu step, <= 2 on /ivr/voice, 1 on /ivr/status; 0 SQL on menu steps).

In one process, through Flask's test client (the server's own cost, no network): the
webhook benchmark's calls (bench/webhooks.py SCENARIOS), each walked by following the
TwiML the hotline answers, signed like Twilio's; the same call walked by a patient (greeted
by name) and by a stranger; every request counted with bench/profile_webhooks.py's
instruments (a Redis command or a pipeline = 1 round trip; every SQL statement).  A first
pass warms the caches (directory, compiled SQL) and is not counted; so is a first call
from each number, whose caller match is then cached.

    .venv/bin/python bench/round_trips.py                  # SQLite in a temporary file
    .venv/bin/python bench/round_trips.py --postgres       # a fresh PostgreSQL database

Writes bench/results/round-trips.md.
"""

from __future__ import annotations

import argparse
import gc
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from collections import defaultdict
from pathlib import Path

import redis

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(BENCH))

from bench import common  # noqa: E402
from bench.webhooks import (  # noqa: E402
    ACCOUNT_SID,
    AUTH_TOKEN,
    PUBLIC_BASE,
    SCENARIOS,
    call_fields,
    relative,
    sign,
    status_params,
    step_params,
    twiml_menu,
)

TARGETS = {"/ivr/voice": (2, None), "menu step": (1, 0), "/ivr/status": (1, None)}  # (round trips, SQL)


def kind(path: str) -> str:
    return path if path in ("/ivr/voice", "/ivr/status") else "menu step"


def walk(client, meter, scenario, caller: str, rows: dict | None, sent: list | None = None) -> float:
    """One call, following the TwiML; each request's counts added to `rows` (unless None), the
    requests to `sent` (if given); returns the CPU seconds the requests took (this thread's)."""
    import random

    cpu = 0.0

    fields = call_fields("CA" + uuid.uuid4().hex, caller, "ringing")

    def post(path: str, params: dict[str, str]):
        form = {**fields, **params}
        headers = {"X-Twilio-Signature": sign(path, form, AUTH_TOKEN)}
        nonlocal cpu
        meter.reset()
        started = time.thread_time()
        response = client.post(path, data=form, headers=headers)
        cpu += time.thread_time() - started
        if sent is not None:
            sent.append((path, form, headers))
        if rows is not None:
            row = rows[kind(path.split("?")[0])]
            row["n"] += 1
            row["redis"].append(meter.counts.get("redis sends", 0))  # writes to Redis's socket
            row["sql"].append(meter.counts.get("sql", 0))
        return response

    response = post("/ivr/voice", {})
    root = twiml_menu(response.status_code, response.get_data(as_text=True), f"{scenario.name}: /ivr/voice")
    fields["CallStatus"] = "in-progress"
    for what, value in scenario.inputs:
        target = root.find("Redirect").text if what == "silence" else root.find("Gather").get("action", "")
        path = relative(target or "")
        response = post(path, step_params(what, value))
        root = twiml_menu(response.status_code, response.get_data(as_text=True), f"{scenario.name}: {path}")
    response = post("/ivr/status", status_params(random.Random(0)))
    if response.status_code != 204:
        raise SystemExit(f"{scenario.name}: /ivr/status answered {response.status_code}")
    return cpu


def replay(client, sent: list) -> float:
    """The same requests to a reference app; the CPU seconds they took."""
    cpu = 0.0
    for path, form, headers in sent:
        started = time.thread_time()
        response = client.post(path, data=form, headers=headers)
        cpu += time.thread_time() - started
        if response.status_code not in (200, 204):
            raise SystemExit(f"a reference answered {path} with {response.status_code}")
    return cpu


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--postgres", nargs="?", const="postgresql://postgres@127.0.0.1:5432/postgres", default=None)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--calls", type=int, default=5, help="calls of each kind, patient and stranger (default 5)")
    parser.add_argument("--cpu-rounds", type=int, default=7, help="rounds of the CPU comparison (default 7)")
    parser.add_argument(
        "--gc",
        choices=("served", "default"),
        default="default",
        help="the collector during the CPU rounds, for the three apps alike: as gunicorn.conf.py serves "
        "them (frozen start-up, threshold 50,000), or Python's default (700; the default here)",
    )
    parser.add_argument("--results", type=Path, default=BENCH / "results")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hotline-round-trips-"))
    prefix = f"hotline-round-trips-{uuid.uuid4().hex[:8]}:"
    database = "hotline_round_trips_" + uuid.uuid4().hex[:8]
    if args.postgres:
        common.admin(args.postgres, f'CREATE DATABASE "{database}"')
        url = args.postgres.rsplit("/", 1)[0] + "/" + database
    else:
        url = f"sqlite:///{scratch / 'hotline.db'}"
    env = {
        **os.environ,
        "DATABASE_URL": url,
        "REDIS_URL": args.redis,
        "REDIS_PREFIX": prefix,
        "PUBLIC_BASE_URL": PUBLIC_BASE,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        "HOTLINE_CONFIG": str(common.config_without_call_limits(scratch)[0]),
    }
    client_redis = redis.Redis.from_url(args.redis)
    try:
        subprocess.run([sys.executable, "-m", "flask", "--app", "app", "seed", "--demo"], cwd=ROOT, env=env,
                       check=True, capture_output=True)  # fmt: skip
        # The seeding's commit marked every demo number changed (records.patients.CallerCache:
        # for 60 s a call reads the file afresh and keeps nothing). Measured here is the steady
        # state, as a minute after an import: the marks gone.
        common.delete_redis_keys(client_redis, f"{prefix}caller:")
        os.environ.update(env)
        from profile_webhooks import Meter, instrument, logging_off

        from app import create_app

        app = create_app()
        meter = Meter()
        logging_off()
        with app.extensions["hotline"].engine.connect() as connection:
            import sqlalchemy as sa

            patients = [row[0] for row in connection.execute(sa.text("SELECT e164 FROM patient_phones ORDER BY id"))]
        strangers = [f"+8613900{n:06d}" for n in range(len(SCENARIOS))]
        client = app.test_client()
        # A first pass warms the caches (directory, compiled SQL, each number's caller match).
        for index, scenario in enumerate(SCENARIOS):
            for caller in (patients[index % len(patients)], strangers[index]):
                walk(client, meter, scenario, caller, None)
        # CPU per request, the apps taking turns on the same requests (the hotline's calls, fresh
        # each round), medians of the rounds: in one thread, so other work on the machine
        # stretches wall time but hardly this thread's CPU time.
        from bench.baseline_app import app as baseline_app
        from bench.minimal_app import app as minimal_app

        references = {"minimal": minimal_app.test_client(), "baseline": baseline_app.test_client()}
        if args.gc == "served":
            # As gunicorn.conf.py sets up every served worker (the hotline's, and the references'
            # in bench/webhooks.sh, under the same command): what import built moved to the
            # permanent generation, the first generation collected every 50,000 allocations.
            gc.collect()
            gc.freeze()
            gc.set_threshold(50_000, 20, 20)
        cpu_rounds: dict[str, list[float]] = {"hotline": [], "minimal": [], "baseline": []}
        for _ in range(args.cpu_rounds):
            sent: list = []
            cpu = sum(
                walk(client, meter, scenario, caller, None, sent)
                for index, scenario in enumerate(SCENARIOS)
                for caller in (patients[index % len(patients)], strangers[index])
            )
            cpu_rounds["hotline"].append(1000 * cpu / len(sent))
            for name, reference in references.items():
                cpu_rounds[name].append(1000 * replay(reference, sent) / len(sent))
        if args.gc == "served":
            gc.unfreeze()
            gc.set_threshold(700, 10, 10)
        # Then the counts, the instruments on (after the CPU rounds: they wrap the hotline's
        # signature check, TwiML and SQL, which the references do not have, and would be timed too).
        instrument(meter, app.extensions["hotline"].engine)
        rows: dict[str, dict] = defaultdict(lambda: {"n": 0, "redis": [], "sql": []})
        for _ in range(args.calls):
            for index, scenario in enumerate(SCENARIOS):
                for caller in (patients[index % len(patients)], strangers[index]):
                    walk(client, meter, scenario, caller, rows)
    finally:
        if "app" in locals():  # the drain job the status callbacks queued (RQ's keys are not under the prefix)
            common.delete_rq_queue(app.extensions["hotline"].records_queue)
        common.delete_redis_keys(redis.Redis.from_url(args.redis, decode_responses=True), prefix)
        client_redis.close()
        if args.postgres:
            if "app" in locals():
                app.extensions["hotline"].engine.dispose()
            common.admin(args.postgres, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    command = "python bench/round_trips.py" + (" --postgres" if args.postgres else "")
    lines = [
        "# Redis round trips and SQL statements per webhook",
        "",
        "Written by `bench/round_trips.py`; do not edit by hand.",
        "",
        f"- Date: {common.now()}",
        f"- {common.machine_line()}",
        f"- Command: `{command}`; database {'PostgreSQL' if args.postgres else 'SQLite'}",
        f"- {args.calls} calls of each of the webhook benchmark's {len(SCENARIOS)} kinds, by a patient and by "
        "a stranger, after a first pass that is not counted",
        "",
        "Round trips are Redis commands or pipelines sent (a Lua script call is one), all of them: since "
        "issue 17's records pipeline nothing is enqueued during a call, and a final status hands the call "
        "over in the same round trip (the finished calls' stream); a drain job is enqueued (RQ's enqueue, a "
        "few more) only when none is pending, which no worker clears here.",
        "",
        "| webhook | requests | Redis round trips (mean / max) | target | SQL statements (mean / max) | target |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    printed = []
    for name in ("/ivr/voice", "menu step", "/ivr/status"):
        row = rows[name]
        n = row["n"] or 1
        trips, sql = TARGETS[name]
        line = (
            f"| {name} | {row['n']} | {sum(row['redis']) / n:.2f} / {max(row['redis'], default=0)} | <= {trips} "
            f"| {sum(row['sql']) / n:.2f} / {max(row['sql'], default=0)} | {'' if sql is None else sql} |"
        )
        lines.append(line)
        printed.append(line)
    medians = {name: statistics.median(values) for name, values in cpu_rounds.items()}
    cpu_line = (
        f"CPU per request in one thread (median of {args.cpu_rounds} rounds, the same requests): hotline "
        f"**{medians['hotline']:.2f} ms**, minimal signed webhook {medians['minimal']:.2f} ms, bare baseline "
        f"{medians['baseline']:.2f} ms; hotline / minimal **{medians['hotline'] / medians['minimal']:.2f}** "
        f"(target <= 1.25), hotline / baseline **{medians['hotline'] / medians['baseline']:.2f}**"
    )
    lines += [
        "",
        "## CPU per request",
        "",
        f"{cpu_line}. By round (ms): "
        + "; ".join(f"{name} " + ", ".join(f"{v:.2f}" for v in values) for name, values in cpu_rounds.items())
        + ". Through Flask's test client (no server, no network), the hotline's whole calls in the webhook "
        "benchmark's mix, each reference app (bench/minimal_app.py, bench/baseline_app.py) given the same "
        "requests right after; the instruments counting round trips are put on after these rounds.",
    ]
    common.write_result(args.results / "round-trips.md", lines)
    print("\n".join(printed))
    print(cpu_line)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
