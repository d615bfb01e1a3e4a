"""Scale-out check (issue 18): two web servers behind nginx on one machine, one of them
killed while callers call.  Writes bench/results/scaleout.txt.

    .venv/bin/python bench/scaleout.py                     # 16 callers, 60 s, web1 killed at 20 s
    .venv/bin/python bench/scaleout.py --callers 32 --duration 90 --kill-at 30
    .venv/bin/python bench/scaleout.py --kill-at 0 --failover-at 20   # Redis Sentinel fails over instead

It starts, with bench/faults.py's harness (everything its own, removed afterwards): redis-server
with AOF on a free port, a PostgreSQL database of its own (migrated and seeded by the app's
`flask seed --demo`), two gunicorn servers (`--web-workers` workers each, the project's
gunicorn.conf.py) on loopback ports, nginx (Debian's package, run as this script's own
process with a generated configuration: deploy/nginx/hotline.conf's upstream and proxying,
without TLS) in front of them, the records worker pool (two workers), one general worker
and one scheduler (`flask cron`); every process but the killed server is restarted 2 s after
it exits, as systemd's Restart= would.  The callers (bench/load.py's mix) dial the hotline
through nginx.  At `--kill-at` seconds the first web server's whole process group gets
SIGKILL and is not started again: the second one carries the rest of the load.  With
`--failover-at`, the run's Redis gets a replica and a sentinel (redis-server --sentinel), the
app finds its master through REDIS_SENTINELS, and at that second the sentinel is told to fail
over (SENTINEL FAILOVER): the replica becomes the master while calls go on
(bench/results/scaleout-failover.txt).

Reported: calls placed, calls with a failed webhook (a non-2xx answer, no answer, the
apology, a call that ended early), by when they happened (before, during the 5 s after, or
after the kill), the webhooks nginx answered with an error, and the records (complete,
missing, incomplete, doubled) once the workers have written them.
"""

from __future__ import annotations

import argparse
import logging
import os
import shlex
import shutil
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench import common, faults  # noqa: E402


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--app-dir", default=str(ROOT), help="the checkout whose code the services run (default: this)")
    p.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="SECTION.KEY=VALUE",
        help="a setting of the app's config.yaml for the run (repeatable)",
    )
    p.add_argument("--callers", type=int, default=16)
    p.add_argument("--processes", type=int, default=2, help="caller processes")
    p.add_argument("--duration", type=float, default=60, help="seconds of calls")
    p.add_argument("--kill-at", type=float, default=20, help="seconds into the calls when web1 is killed (0: never)")
    p.add_argument(
        "--failover-at",
        type=float,
        default=0,
        help="seconds into the calls when Redis fails over "
        "(0: never; with it, a replica and a sentinel run, and the app uses REDIS_SENTINELS)",
    )
    p.add_argument("--settle", type=float, default=180, help="wait at most this long for the records afterwards")
    p.add_argument("--stable", type=float, default=60, help="stop waiting once nothing changed for this long")
    p.add_argument("--think", default="1,3", help="seconds a caller listens before each key (min,max)")
    p.add_argument("--web-workers", type=int, default=2, help="gunicorn workers per web server")
    p.add_argument("--record-workers", type=int, default=2)
    p.add_argument("--postgres", default=os.environ.get("HOTLINE_TEST_POSTGRES",
                                                        "postgresql://postgres@127.0.0.1:5432/test"))  # fmt: skip
    p.add_argument("--seed", default="scaleout")
    p.add_argument("--results", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    args.think_range = tuple(float(x) for x in args.think.split(","))
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    argv = sys.argv[1:] if argv is None else argv
    command = ".venv/bin/python bench/scaleout.py" + (" " + shlex.join(argv) if argv else "")
    if not shutil.which("nginx"):
        raise SystemExit("nginx is not installed (Debian: apt-get install nginx)")
    nginx_version = faults.subprocess.run(["nginx", "-v"], capture_output=True, text=True).stderr.strip()
    scratch = Path(tempfile.mkdtemp(prefix="hotline-scaleout-"))
    harness = faults.Harness(args, scratch, web_servers=2, nginx=True, sentinel=bool(args.failover_at))
    load_before = common.loadavg()
    date = datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC")
    app = faults.describe_app(harness.app_dir)
    events: list[faults.Fault] = []
    try:
        harness.start()
        plan = [(at, name, action) for at, name, action in (
            (args.kill_at, "web1 killed", lambda: kill_web1(harness)),
            (args.failover_at, "redis failover", lambda: fail_over(harness))) if at]  # fmt: skip
        print(f"{args.callers} callers for {args.duration:.0f} s through nginx at {harness.url} (web servers on "
              f"{', '.join(map(str, harness.web_ports))}); " + ", ".join(f"{n} at {at:g} s" for at, n, _ in plan)
              + f"; logs in {scratch}", flush=True)  # fmt: skip
        started = time.time()

        def happen() -> None:
            for at, name, action in sorted(plan, key=lambda p: p[0]):
                time.sleep(max(0.0, started + at - time.time()))
                began = time.time()
                action()
                events.append(faults.Fault(name, began, time.time()))
                print(f"  {began - started:5.0f} s  {name}", flush=True)

        timeline = faults.threading.Thread(target=happen, daemon=True)
        timeline.start()
        outcomes = faults.run_callers(harness, args, started + args.duration)
        timeline.join()
        calls = faults.placed_calls(outcomes)
        print(f"{len(calls)} calls placed; waiting for the records", flush=True)
        waited, tallies = faults.settle(harness, calls, events, args.settle, args.stable)
        services = {name: (s.starts - 1, s.alive()) for name, s in harness.services.items()}
        left = harness.left()
        shown = faults.examples(calls, harness.kept({c.sid for c in calls}), started)
        has_reconstructed = harness.reconstructed_column() is not None
    finally:
        harness.stop()
    failed = [o for o in outcomes if o["problems"]]
    statuses = Counter(status for o in outcomes for _, _, status, _ in o["timings"] if not status or status >= 400)
    total = tallies["total"]
    lines = [
        "# Scale-out: two web servers behind nginx under load"
        + (", one killed" if args.kill_at else "")
        + (", Redis failing over" if args.failover_at else "")
        + " (bench/scaleout.py, issue 18)",
        "",
        f"command: {command}",
        f"date:    {date}",
        f"machine: {common.machine_line(load_when='at the end')}; load before {load_before}",
        f"code:    {app}",
        f"servers: {nginx_version} (own process, generated config, loopback) -> 2 x gunicorn {args.web_workers} "
        f"workers; records pool {args.record_workers}, flask worker, flask cron; PostgreSQL (own database), "
        "redis-server with AOF (own port)"
        + (", a replica and a sentinel (REDIS_SENTINELS)" if args.failover_at else ""),
        f"load:    {args.callers} callers ({args.processes} processes), think {args.think} s, {args.duration:g} s"
        + (f"; web1's process group SIGKILLed at {args.kill_at:g} s and left dead" if args.kill_at else "")
        + (f"; SENTINEL FAILOVER at {args.failover_at:g} s" if args.failover_at else ""),
        "",
        *faults.table(tallies, events, started, with_reconstructed=has_reconstructed),
        "",
        f"calls with a failed webhook or the apology (caller errors): {len(failed)} of {len(calls)}",
        "webhook answers not 2xx/3xx: " + (", ".join(f"{k or 'no answer'} {v}" for k, v in statuses.items()) or "none"),
        *(f"  {p}" for o in failed[:8] for p in o["problems"][:2]),
        f"records after {waited:.0f} s: complete {total.complete}, missing {total.missing}, incomplete "
        f"{total.incomplete}, doubled {total.doubled}"
        + (f" (why: {', '.join(f'{k} {v}' for k, v in total.reasons.most_common())})" if total.reasons else ""),
        "left at the end: " + ", ".join(f"{k} {v}" for k, v in left.items()),
        "some calls not complete (the carrier's view; the database's):",
        *shown,
        "restarts (alive at the end): "
        + ", ".join(f"{name} {n} ({'yes' if up else 'no'})" for name, (n, up) in services.items()),
        "",
        "A row per event: the calls in progress from it to 5 s after; 'no fault': the others.",
    ]
    print("\n".join(lines))
    stem = "scaleout" + ("-failover" if args.failover_at else "")
    path = common.write_result(args.results / f"{stem}.txt", lines)
    print(f"written to {path}; logs kept in {scratch}")
    return 0 if not failed and total.complete == total.placed else 1


def kill_web1(harness: faults.Harness) -> None:
    web1 = harness.services["web1"]
    web1.restart = False
    web1.kill()


def fail_over(harness: faults.Harness) -> None:
    harness.sentinel.failover()


if __name__ == "__main__":
    sys.exit(main())
