"""Instructions (or a profile) per webhook request, the app's own part only: issue 17's steadier
measure of the webhook path's CPU beside bench/round_trips.py's thread time.

The same calls as bench/round_trips.py (the webhook benchmark's mix, by a patient and by a
stranger, a first pass not counted), each request's `wsgi_app` run through a ctypes callback,
so that callgrind can collect inside it alone (`--toggle-collect=_CallPythonObject`): the
test client's building of the request and reading of the answer stay outside the count.

    valgrind --tool=callgrind --collect-atstart=no --toggle-collect=_CallPythonObject \\
        --callgrind-out-file=/tmp/cg.out .venv/bin/python bench/webhook_instructions.py [--app minimal]
    # then: instructions a request = the "summary" line of /tmp/cg.out / the requests printed

    .venv/bin/python bench/webhook_instructions.py --profile 20    # cProfile, thread time, top items

`--app minimal` sends the same requests to bench/minimal_app.py instead (the reference).
"""

from __future__ import annotations

import argparse
import ctypes
import os
import resource
import subprocess
import sys
import tempfile
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.profile_webhooks import Meter, logging_off  # noqa: E402
from bench.round_trips import replay, walk  # noqa: E402
from bench.webhooks import ACCOUNT_SID, AUTH_TOKEN, PUBLIC_BASE, SCENARIOS  # noqa: E402

# the hotline's top-level packages before bench/'s scripts of the same name (bench/staffing.py)
sys.path[:] = [str(ROOT)] + [entry for entry in sys.path if entry not in (str(ROOT), str(BENCH))]

CALLBACK = ctypes.CFUNCTYPE(None)


def through_callback(app, counted: list, profiler=None) -> None:
    """app.wsgi_app run inside a C callback (the one function callgrind collects in)."""
    inner = app.wsgi_app

    def wsgi_app(environ, start_response):
        out = []

        def run() -> None:
            if profiler is not None:
                profiler.enable()
            out.append(inner(environ, start_response))
            if profiler is not None:
                profiler.disable()

        started = resource.getrusage(resource.RUSAGE_THREAD)
        CALLBACK(run)()
        ended = resource.getrusage(resource.RUSAGE_THREAD)
        counted.append((ended.ru_utime - started.ru_utime, ended.ru_stime - started.ru_stime))
        return out[0]

    app.wsgi_app = wsgi_app


def _directory_kept(document: dict) -> None:
    document.setdefault("dialogue", {})["directory_cache_seconds"] = 3600


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--redis", default="redis://127.0.0.1:6379/11")
    parser.add_argument("--rounds", type=int, default=1, help="counted passes of the mix (default 1)")
    parser.add_argument("--app", choices=("hotline", "minimal"), default="hotline")
    parser.add_argument("--profile", type=int, metavar="N", help="cProfile (thread time) instead: the N top items")
    parser.add_argument("--dump", type=Path, help="with --profile: the profile's stats to this file too")
    args = parser.parse_args()
    scratch = Path(tempfile.mkdtemp(prefix="hotline-instructions-"))
    prefix = f"hotline-instructions-{uuid.uuid4().hex[:8]}:"
    env = {
        **os.environ,
        "DATABASE_URL": f"sqlite:///{scratch / 'hotline.db'}",
        "REDIS_URL": args.redis,
        "REDIS_PREFIX": prefix,
        "PUBLIC_BASE_URL": PUBLIC_BASE,
        "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
        "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
        # Under callgrind a request runs some 50 times slower: the directory's reload (every
        # directory_cache_seconds, 60 by default) would fall among the counted requests by chance
        # (some 0.4 M instructions a request in a run of 72): kept for the run's length instead.
        "HOTLINE_CONFIG": str(common.config_without_call_limits(scratch, _directory_kept)[0]),
    }
    import redis

    subprocess.run([sys.executable, "-m", "flask", "--app", "app", "seed", "--demo"], cwd=ROOT, env=env,
                   check=True, capture_output=True)  # fmt: skip
    os.environ.update(env)
    import cProfile
    import pstats
    import time

    import sqlalchemy as sa

    from app import create_app

    app = create_app()
    logging_off()
    try:
        with app.extensions["hotline"].engine.connect() as connection:
            patients = [row[0] for row in connection.execute(sa.text("SELECT e164 FROM patient_phones ORDER BY id"))]
        strangers = [f"+8613900{n:06d}" for n in range(len(SCENARIOS))]
        client, meter = app.test_client(), Meter()

        def mix(sent: list | None = None) -> None:
            for index, scenario in enumerate(SCENARIOS):
                for caller in (patients[index % len(patients)], strangers[index]):
                    walk(client, meter, scenario, caller, None, sent)

        mix()  # warms the caches, and the callers' matches; not counted
        counted: list = []
        profiler = cProfile.Profile(time.thread_time) if args.profile else None
        if args.app == "hotline":
            through_callback(app, counted, profiler)
            for _ in range(args.rounds):
                mix()
        else:
            from bench.minimal_app import app as minimal_app

            reference = minimal_app.test_client()
            sent: list = []
            mix(sent)
            replay(reference, sent)  # warm, not counted
            through_callback(minimal_app, counted, profiler)
            for _ in range(args.rounds):
                replay(reference, sent)
    finally:
        common.delete_rq_queue(app.extensions["hotline"].records_queue)
        common.delete_redis_keys(redis.Redis.from_url(args.redis, decode_responses=True), prefix)
    user, system = (1000 * sum(part) / len(counted) for part in zip(*counted, strict=True))
    print(
        f"{args.app}: {len(counted)} requests counted; this thread's CPU inside wsgi_app a request: "
        f"{user:.3f} ms user, {system:.3f} ms system"
    )
    if profiler is not None:
        stats = pstats.Stats(profiler)
        if args.dump:
            stats.dump_stats(args.dump)
        print(f"thread CPU a request: {1000 * stats.total_tt / len(counted):.3f} ms (under the profiler)")
        stats.sort_stats("tottime").print_stats(args.profile)
        stats.sort_stats("cumulative").print_stats(args.profile)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
