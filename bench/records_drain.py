"""The records worker's drain alone (issue 17): `queueing.recording.drain_finished` run in
this process on N finished calls handed over as the webhooks hand them over, timed in wall
clock and in this process's CPU, with no worker start-up in the figure.  Where
bench/records_rate.py times a whole `flask worker --records --burst` (its start-up included),
this says what a batch costs the worker, and with --profile where (cProfile, the top of it).

    .venv/bin/python bench/records_drain.py --calls 2000 --rounds 3
    .venv/bin/python bench/records_drain.py --calls 2000 --rounds 1 --profile
    .venv/bin/python bench/records_drain.py --calls 2000 --rounds 3 --no-gc-freeze   # the worker before records2

The drain runs after gc.freeze(), as in `flask worker` (queueing/cli.py), unless --no-gc-freeze.

Its own redis-server and PostgreSQL database (bench/records_rate.py's Servers), dropped after.
Run it from another tree's root (a checkout of an older commit, with this file copied in) to
compare: it imports the project from the folder it sits in.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import os
import pstats
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench import records_rate as rate  # noqa: E402
from queueing import context, recording  # noqa: E402


def one_round(servers: rate.Servers, n_calls: int, profile: bool, freeze: bool) -> tuple[float, float]:
    prefix = f"bench:{uuid.uuid4().hex[:6]}:"
    app = rate.make_app(servers, prefix)
    hotline = app.extensions["hotline"]
    start = datetime.now(UTC)
    sids = [f"CA{prefix[6:12]}{i:08d}" for i in range(n_calls)]
    rate.keep_calls(app, sids, start)
    for i, sid in enumerate(sids):
        hotline.calls.status(rate.final(sid, start + timedelta(seconds=i)))
    os.environ.update(servers.environ(prefix))
    context.reset()
    context.get().engine.connect().close()  # connected before the clock starts, as a worker is
    if freeze:  # as `flask worker` does once started (queueing/cli.py)
        gc.collect()
        gc.freeze()
    profiler = cProfile.Profile() if profile else None
    wall, cpu = time.perf_counter(), time.process_time()
    if profiler:
        profiler.enable()
    said = recording.drain_finished()
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
    gc.unfreeze()
    assert said == f"{n_calls} finished calls written", said
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(30)
    context.reset()
    hotline.engine.dispose()
    return wall, cpu


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=2000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--profile", action="store_true", help="cProfile the drain (slower: not for the figures)")
    parser.add_argument("--no-gc-freeze", action="store_true", help="as the worker before records2: no gc.freeze()")
    args = parser.parse_args()
    servers = rate.Servers()
    try:
        rounds = [one_round(servers, args.calls, args.profile, not args.no_gc_freeze) for _ in range(args.rounds)]
    finally:
        servers.close()
    for wall, cpu in rounds:
        print(f"{args.calls} calls: wall {wall:.2f} s ({args.calls / wall:.0f} calls/s), "
              f"worker CPU {cpu:.2f} s ({args.calls / cpu:.0f} calls/s)")  # fmt: skip
    wall = statistics.median(w for w, _ in rounds)
    cpu = statistics.median(c for _, c in rounds)
    print(f"median: {args.calls / wall:.0f} finished calls/s wall, {args.calls / cpu:.0f} per CPU second; "
          f"{common.machine_line(load_when='at the end')}")  # fmt: skip


if __name__ == "__main__":
    main()
