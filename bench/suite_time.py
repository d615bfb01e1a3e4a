"""Where the test suite's time goes: a run's `--durations=0` report summed by test file and by
file and database (the groups test.sh's processes share out), slowest first.

    .venv/bin/python -m pytest -q -n 3 --dist loadgroup --no-loadscope-reorder --durations=0 > run.txt
    .venv/bin/python bench/suite_time.py run.txt [how many, default 25]

A group is run by one process from start to end, so the slowest group bounds the wall time;
tests/conftest.py's SLOW_FIRST hands the slowest files out first."""

from __future__ import annotations

import re
import sys
from collections import defaultdict

# "12.34s call     tests/test_x.py::test_y[sqlite-390]" (setup, call and teardown each a line)
LINE = re.compile(r"^(?P<seconds>[0-9.]+)s (?P<phase>setup|call|teardown) +(?P<nodeid>\S+)")
DATABASES = ("sqlite", "postgresql")


def group(nodeid: str) -> tuple[str, str]:
    """The test's file and its database ('' for a test on no database), as tests/conftest.py groups it."""
    path, _, test = nodeid.partition("::")
    params = test[test.find("[") + 1 : -1].split("-") if test.endswith("]") else []
    return path, next((param for param in params if param in DATABASES), "")


def main(report: str, top: int = 25) -> None:
    by_file: dict[str, float] = defaultdict(float)
    by_group: dict[tuple[str, str], float] = defaultdict(float)
    by_phase: dict[tuple[str, str], float] = defaultdict(float)
    with open(report, encoding="utf-8") as lines:
        for match in filter(None, map(LINE.match, lines)):
            path, database = group(match["nodeid"])
            by_file[path] += float(match["seconds"])
            by_group[path, database] += float(match["seconds"])
            by_phase[match["phase"], database] += float(match["seconds"])
    print(f"all tests: {sum(by_file.values()):.0f} s over {len(by_file)} files, {len(by_group)} groups")
    # A process's last teardown holds the session's (the PostgreSQL drops left, the browser).
    print("\n| phase | database | s |\n| --- | --- | ---: |")
    for (phase, database), seconds in sorted(by_phase.items()):
        print(f"| {phase} | {database or '-'} | {seconds:.0f} |")
    print("\n| file | s |\n| --- | ---: |")
    for path, seconds in sorted(by_file.items(), key=lambda item: -item[1])[:top]:
        print(f"| {path} | {seconds:.0f} |")
    print("\n| group (file, database) | s |\n| --- | ---: |")
    for (path, database), seconds in sorted(by_group.items(), key=lambda item: -item[1])[:top]:
        print(f"| {path} {database} | {seconds:.0f} |")


if __name__ == "__main__":
    main(sys.argv[1], *(int(arg) for arg in sys.argv[2:3]))
