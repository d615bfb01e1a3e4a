"""What every benchmark reports and does the same way: the machine it ran on (CPU,
cores, memory, load, Python, the Postgres and Redis servers), percentiles, and
writing its result file.  The bench scripts put the project's root on sys.path
and import it as `from bench import common`."""

from __future__ import annotations

import math
import os
import platform
import socket
import statistics
import subprocess
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

import sqlalchemy as sa

# ---- the machine ----------------------------------------------------------------------------


def cpu_model() -> str:
    try:
        text = Path("/proc/cpuinfo").read_text()
        return next(line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or platform.machine() or "?"


def cores() -> str:
    # nproc, not os.cpu_count(): it counts the CPUs this process may use (affinity, cgroups).
    found = subprocess.run(["nproc"], capture_output=True, text=True).stdout.strip()
    return found or str(os.cpu_count())


def memory() -> str:
    try:
        text = Path("/proc/meminfo").read_text()
        total_kb = next(int(line.split()[1]) for line in text.splitlines() if line.startswith("MemTotal"))
    except (OSError, StopIteration):
        return "?"
    return f"{total_kb / 1024 / 1024:.1f} GiB"


def loadavg() -> str:
    """The load average over 1, 5 and 15 minutes."""
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def machine() -> dict[str, str]:
    """The machine, for a report: nproc, cpu, memory, kernel, python, host and the load now."""
    return {
        "nproc": cores(),
        "cpu": cpu_model(),
        "memory": memory(),
        "kernel": platform.release(),
        "python": platform.python_version(),
        "host": platform.node(),
        "load": loadavg(),
    }


def machine_line(m: dict[str, str] | None = None, *, load_when: str = "now") -> str:
    """The machine in one sentence, the same in every report; `load_when` says when the
    load average was read ("at the end" when the report is written after the run)."""
    m = m or machine()
    return (
        f"{m['host']}: nproc {m['nproc']} ({m['cpu']}), {m['memory']} memory, Linux {m['kernel']}, "
        f"Python {m['python']}; load average (1, 5, 15 min) {load_when} {m['load']} (the machine is shared)"
    )


def package_version(name: str) -> str:
    from importlib.metadata import version

    return version(name)


def database_version(url: str) -> str:
    """'PostgreSQL 16.4' or 'SQLite 3.46.1': the server the benchmark ran on."""
    engine = sa.create_engine(url)
    try:
        with engine.connect() as connection:
            if engine.dialect.name == "postgresql":
                return f"PostgreSQL {connection.exec_driver_sql('SHOW server_version').scalar()}"
            return f"SQLite {connection.exec_driver_sql('select sqlite_version()').scalar()}"
    finally:
        engine.dispose()


def redis_version(client) -> str:
    return str(client.info("server").get("redis_version", "?"))


def now() -> str:
    return f"{datetime.now().astimezone():%Y-%m-%d %H:%M %Z}"


# ---- figures --------------------------------------------------------------------------------


def percentile(values: Iterable[float], q: float) -> float:
    """The nearest-rank percentile (q from 0 to 1): the smallest value with at least
    q of the values at or below it; NaN when there are none."""
    ordered = sorted(values)
    if not ordered:
        return math.nan
    return ordered[min(len(ordered) - 1, max(0, math.ceil(q * len(ordered)) - 1))]


def percentiles(samples: Iterable[float]) -> dict[str, float]:
    """n, mean, p50, p95, p99 and max of some samples (at least one)."""
    ordered = sorted(samples)
    return {
        "n": len(ordered),
        "mean": statistics.fmean(ordered),
        "p50": percentile(ordered, 0.50),
        "p95": percentile(ordered, 0.95),
        "p99": percentile(ordered, 0.99),
        "max": ordered[-1],
    }


def yes(flag: bool) -> str:
    return "**met**" if flag else "**missed**"


# ---- results --------------------------------------------------------------------------------


def write_result(path: Path | str, text: str | list[str]) -> Path:
    """Write a result file (bench/results/...), its folder made if need be; lines are
    joined and the text ends with a newline."""
    path = Path(path)
    if not isinstance(text, str):
        text = "\n".join(text)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text if text.endswith("\n") else text + "\n", encoding="utf-8")
    return path


# ---- servers the benchmarks start and clean ---------------------------------------------------


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def postgres_answers(admin_url: str) -> bool:
    try:
        engine = sa.create_engine(admin_url, connect_args={"connect_timeout": 3})
        with engine.connect() as connection:
            connection.execute(sa.text("SELECT 1"))
        engine.dispose()
        return True
    except Exception:
        return False


def admin(admin_url: str, *statements: str) -> None:
    """Statements outside a transaction (CREATE/DROP DATABASE) on the admin database."""
    engine = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with engine.connect() as connection:
        for statement in statements:
            connection.execute(sa.text(statement))
    engine.dispose()


def delete_redis_keys(client, prefix: str) -> None:
    """Everything a run left under its key prefix, with the RQ queues named with it and their
    jobs (RQ keeps those under `rq:...`, outside the prefix)."""
    from rq import Queue

    for queue in Queue.all(connection=client):
        if queue.name.startswith(prefix):
            delete_rq_queue(queue)
    batch = []
    for key in client.scan_iter(match=f"{prefix}*", count=1000):
        batch.append(key)
        if len(batch) >= 1000:
            client.delete(*batch)
            batch = []
    if batch:
        client.delete(*batch)


def delete_rq_queue(queue) -> None:
    """An RQ queue with its jobs and registries.  RQ keeps a job under `rq:job:<id>`, outside the
    key prefix a benchmark gives the app, so delete_redis_keys leaves them behind."""
    from rq.results import Result

    registries = [
        queue.started_job_registry,
        queue.finished_job_registry,
        queue.failed_job_registry,
        queue.scheduled_job_registry,
        queue.deferred_job_registry,
        queue.canceled_job_registry,
    ]
    job_ids = [job_id for registry in registries for job_id in registry.get_job_ids(cleanup=False)]
    for start in range(0, len(job_ids), 1000):
        batch = job_ids[start : start + 1000]
        queue.connection.delete(*(key for job_id in batch for key in (queue.job_class.key_for(job_id),
                                                                       Result.get_key(job_id))))  # fmt: skip
    queue.connection.delete(*(registry.key for registry in registries), queue.intermediate_queue_key)
    queue.delete(delete_jobs=True)


def config_without_call_limits(scratch, edit=None):
    """A copy of config.yaml (in `scratch`) for a load benchmark: a few dozen demo numbers
    ring hundreds of times, so the call limit per number is still counted on every call (its
    cost is measured) but set too high to turn one away.  `edit(document)` may change more.
    Returns the path (for HOTLINE_CONFIG) and the settings written."""
    import yaml

    root = Path(__file__).resolve().parent.parent
    document = yaml.safe_load((root / "config.yaml").read_text(encoding="utf-8"))
    document["call_limits"].update(calls_per_number=10_000, withheld_calls=100_000)
    if edit is not None:
        edit(document)
    path = Path(scratch) / "config.yaml"
    path.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    return path, document
