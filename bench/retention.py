"""Retention purge benchmark: purge 1,000,000 expired call events on PostgreSQL while the
hotline keeps writing calls, and report the time taken and the longest lock the purge held.
Writes bench/results/retention.md from what it measured.

    .venv/bin/python bench/retention.py                       # 100,000 calls x 10 events
    .venv/bin/python bench/retention.py --calls 20000 --events 10 --batch 500

A PostgreSQL database of its own (from HOTLINE_BENCH_POSTGRES, default
postgresql://postgres@127.0.0.1:5432/postgres) is created, migrated, filled by COPY with
calls four years old (past every default period: their events all expire), and dropped.

1. The purge (queueing.retention.purge, the nightly job's own function, batch from
   --batch) runs to the end.  Every batch is one transaction: the longest lock it held is
   the longest time from a batch's first statement to its commit, measured around each
   commit.  Beside it, a writer thread plays the hotline: it opens a new call record and
   writes its events (one transaction each, as the records worker does) every 5 ms, and
   the slowest of those writes is reported (were they held up by the purge's locks?).
2. The reference, in the same run on a fresh copy of the same data: the naive purge,
   one statement for everything (DELETE ... WHERE call_id IN (expired calls) and one
   UPDATE), in one transaction, with the same writer beside it.
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import sys
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import settings as settings_module  # noqa: E402
from bench import common  # noqa: E402
from queueing.retention import purge  # noqa: E402
from records.db import make_engine, make_sessions, migrate  # noqa: E402

ADMIN = os.environ.get("HOTLINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")
NOW = datetime(2026, 12, 5, 3, 30, tzinfo=UTC)
OLD = NOW - timedelta(days=4 * 365)


def fill(url: str, calls: int, events: int) -> None:
    """COPY `calls` old calls with `events` events each (one of them speech)."""
    engine = sa.create_engine(url)
    raw = engine.raw_connection()
    try:
        cursor = raw.cursor()
        records = io.StringIO()
        for n in range(1, calls + 1):
            at = (OLD + timedelta(seconds=n)).isoformat()
            records.write(
                f"{n}\tCA{n:032d}\tinbound\t+86138{n:08d}\t+861065281000\t\\N\t0\tzh\t{at}\t{at}\tcompleted\t3\t60\tself_service\tmain\n"
            )
        records.seek(0)
        columns = (
            "id, call_sid, direction, from_number, to_number, patient_id, matched_patients, language, "
            "started_at, ended_at, status, status_sequence, duration_seconds, outcome, menu_path"
        )
        with cursor.copy(f"COPY call_records ({columns}) FROM STDIN") as copy:
            copy.write(records.getvalue())
        rows = io.StringIO()
        for n in range(1, calls + 1):
            at = (OLD + timedelta(seconds=n)).isoformat()
            for sequence in range(1, events + 1):
                kind, detail = (
                    ("speech", '{"step": "main.menu", "text": "心内科"}')
                    if sequence == 2
                    else ("menu", '{"step": "main.menu"}')
                )
                rows.write(f"{n}\t{sequence}\t{at}\t{kind}\t{detail}\n")
        with cursor.copy("COPY call_events (call_id, sequence, at, kind, detail) FROM STDIN") as copy:
            copy.write(rows.getvalue())
        cursor.execute("SELECT setval('call_records_id_seq', %s)", (calls + 1,))
        raw.commit()
    finally:
        raw.close()
    with engine.connect().execution_options(isolation_level="AUTOCOMMIT") as connection:
        connection.execute(sa.text("VACUUM ANALYZE"))
    engine.dispose()


class Writer(threading.Thread):
    """The hotline meanwhile: a new call and its events, one transaction each, every 5 ms."""

    def __init__(self, url: str):
        super().__init__(daemon=True)
        self.engine = sa.create_engine(url)
        self.stop = threading.Event()
        self.seconds: list[float] = []

    def run(self) -> None:
        n = 10_000_000
        while not self.stop.is_set():
            n += 1
            began = time.perf_counter()
            with self.engine.begin() as connection:
                call_id = connection.execute(
                    sa.text(
                        "INSERT INTO call_records (call_sid, direction, from_number, to_number, matched_patients,"
                        " language, started_at, status, status_sequence, menu_path)"
                        " VALUES (:sid, 'inbound', '+8613900000000', '+861065281000', 0, 'zh', :at, 'completed', 3, '')"
                        " RETURNING id"
                    ),
                    {"sid": f"CA{n:032d}", "at": NOW},
                ).scalar_one()
                connection.execute(
                    sa.text(
                        "INSERT INTO call_events (call_id, sequence, at, kind, detail) VALUES (:c, :s, :at, 'menu', '{}')"
                    ),
                    [{"c": call_id, "s": s, "at": NOW} for s in range(1, 7)],
                )
            self.seconds.append(time.perf_counter() - began)
            time.sleep(0.005)

    def finish(self) -> dict[str, float]:
        self.stop.set()
        self.join(10)
        self.engine.dispose()
        return {"writes": len(self.seconds), "p50": statistics.median(self.seconds), "max": max(self.seconds)}


def run_purge(url: str, settings, batch: int) -> dict:
    engine = make_engine(url)
    sessions = make_sessions(engine)
    commits: list[float] = []
    periods = settings.retention.model_copy(update={"batch": batch})
    writer = Writer(url)
    writer.start()
    with sessions() as db:
        real_commit = db.commit

        def timed_commit():
            real_commit()
            commits.append(time.perf_counter())

        db.commit = timed_commit
        began = time.perf_counter()
        counts = purge(
            db, lambda: NOW, periods, "cli", lambda sid: True, lambda cutoff, batch, kept: 0
        )  # no Redis here
        elapsed = time.perf_counter() - began
    held = [after - before for before, after in zip([began, *commits], commits, strict=False)]
    written = writer.finish()
    events_left = _scalar(
        engine,
        "SELECT count(*) FROM call_events e JOIN call_records c ON c.id = e.call_id WHERE c.started_at < :cut",
        cut=NOW - timedelta(days=365),
    )
    engine.dispose()
    return {
        "elapsed": elapsed,
        "counts": counts,
        "longest_lock": max(held),
        "batches": len(held),
        "writer": written,
        "left": events_left,
    }


def run_reference(url: str) -> dict:
    """The naive purge: everything in one transaction."""
    engine = sa.create_engine(url)
    writer = Writer(url)
    writer.start()
    time.sleep(0.2)
    began = time.perf_counter()
    cut = NOW - timedelta(days=3 * 365)
    with engine.begin() as connection:
        deleted = connection.execute(
            sa.text("DELETE FROM call_events WHERE call_id IN (SELECT id FROM call_records WHERE started_at < :cut)"),
            {"cut": cut},
        ).rowcount
        connection.execute(
            sa.text("UPDATE call_records SET from_number = 'purged', patient_id = NULL WHERE started_at < :cut"),
            {"cut": cut},
        )
    elapsed = time.perf_counter() - began
    written = writer.finish()
    engine.dispose()
    return {"elapsed": elapsed, "deleted": deleted, "longest_lock": elapsed, "writer": written}


def _scalar(engine, sql: str, **params):
    with engine.connect() as connection:
        return connection.execute(sa.text(sql), params).scalar_one()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--events", type=int, default=10)
    parser.add_argument("--batch", type=int, default=500)
    parser.add_argument("--out", default=str(ROOT / "bench" / "results" / "retention.md"))
    args = parser.parse_args()
    if not common.postgres_answers(ADMIN):
        sys.exit(f"PostgreSQL does not answer at {ADMIN}")
    settings = settings_module.load(ROOT / "config.yaml")
    machine = common.machine()
    results = {}
    for name in ("purge", "reference"):
        database = f"bench_retention_{uuid.uuid4().hex[:8]}"
        common.admin(ADMIN, f'CREATE DATABASE "{database}"')
        url = sa.make_url(ADMIN).set(database=database).render_as_string(hide_password=False)
        try:
            engine = make_engine(url)
            migrate(engine)
            engine.dispose()
            began = time.perf_counter()
            fill(url, args.calls, args.events)
            print(
                f"{name}: filled {args.calls * args.events:,} events in {time.perf_counter() - began:.1f} s", flush=True
            )
            results[name] = run_purge(url, settings, args.batch) if name == "purge" else run_reference(url)
            print(name, results[name], flush=True)
        finally:
            common.admin(ADMIN, f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)')
    purged, reference = results["purge"], results["reference"]
    command = f".venv/bin/python bench/retention.py --calls {args.calls} --events {args.events} --batch {args.batch}"
    lines = [
        "# Retention purge on PostgreSQL",
        "",
        f"`{command}` ({common.now()}; {common.machine_line(machine)}; {common.database_version(ADMIN)})",
        "",
        f"{args.calls:,} calls four years old with {args.events} events each ({args.calls * args.events:,} expired call"
        " events), purged while a writer opens a call and writes 6 events every 5 ms, one transaction each.",
        "",
        "| | time | longest lock held (one transaction) | writer: writes, p50, slowest |",
        "|---|---|---|---|",
        f"| the purge (`queueing.retention.purge`, batch {args.batch}, {purged['batches']} transactions) "
        f"| {purged['elapsed']:.1f} s | {purged['longest_lock'] * 1000:.0f} ms "
        f"| {purged['writer']['writes']}, {purged['writer']['p50'] * 1000:.1f} ms, {purged['writer']['max'] * 1000:.0f} ms |",
        f"| reference: one DELETE + one UPDATE in one transaction | {reference['elapsed']:.1f} s "
        f"| {reference['longest_lock'] * 1000:.0f} ms | {reference['writer']['writes']}, "
        f"{reference['writer']['p50'] * 1000:.1f} ms, {reference['writer']['max'] * 1000:.0f} ms |",
        "",
        f"The purge's counts: {purged['counts']}; expired call events left afterwards: {purged['left']}.",
    ]
    path = common.write_result(args.out, lines)
    print("\n".join(lines))
    print(f"written to {path}")


if __name__ == "__main__":
    main()
