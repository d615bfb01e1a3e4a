"""Which process ran which group when, and how long processes sat idle at the end of a run: a
pytest plugin writing each test's start and end per process, and a summary of those files.

    PYTHONPATH=bench SUITE_TIMELINE=/tmp/tl .venv/bin/python -m pytest -p suite_timeline -q -n 3 \\
        --dist loadgroup --no-loadscope-reorder
    .venv/bin/python bench/suite_timeline.py /tmp/tl

Each line of the summary: a process, then its groups (file:database) with the second each
started, counted from the controller's start."""

from __future__ import annotations

import glob
import os
import sys
import time

OUT = os.environ.get("SUITE_TIMELINE", "/tmp/suite-timeline")
_file = None


def _write(kind: str, nodeid: str) -> None:
    global _file
    if _file is None:
        _file = open(f"{OUT}-{os.environ.get('PYTEST_XDIST_WORKER', 'main')}.tsv", "a", buffering=1)  # noqa: SIM115
    _file.write(f"{kind}\t{time.time():.3f}\t{nodeid}\n")


def pytest_sessionstart(session) -> None:
    _write("sessionstart", "-")


def pytest_runtest_logstart(nodeid, location) -> None:
    _write("start", nodeid)


def pytest_runtest_logfinish(nodeid, location) -> None:
    _write("end", nodeid)


def pytest_sessionfinish(session) -> None:
    _write("sessionfinish", "-")


def _group(nodeid: str) -> str:
    path = nodeid.split("::")[0].removeprefix("tests/")
    database = next((db for db in ("postgresql", "sqlite") if db in nodeid), "-")
    return f"{path}:{database}"


def main(out: str) -> None:
    with open(f"{out}-main.tsv") as main_file:
        t0 = float(main_file.readline().split("\t")[1])
    ends, lines = {}, []
    for name in sorted(glob.glob(f"{out}-gw*.tsv")):
        with open(name) as lines_file:
            rows = [line.rstrip("\n").split("\t") for line in lines_file]
        worker = name.removeprefix(f"{out}-").removesuffix(".tsv")
        ends[worker] = max(float(row[1]) for row in rows)
        groups: list[tuple[str, float]] = []
        for kind, at, nodeid in rows:
            if kind == "start" and (not groups or groups[-1][0] != _group(nodeid)):
                groups.append((_group(nodeid), float(at) - t0))
        lines.append((worker, groups))
    last = max(ends.values())
    for worker, groups in lines:
        print(
            f"{worker} (idle {last - ends[worker]:.0f} s at the end): " + " | ".join(f"{g} @{t:.0f}" for g, t in groups)
        )


if __name__ == "__main__":
    main(sys.argv[1])
