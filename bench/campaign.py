"""Campaign benchmark: a month of 10,000 discharges becomes a follow-up campaign and
its calls are queued.  Writes bench/results/campaign.md from what it measured.

    .venv/bin/python bench/campaign.py            # PostgreSQL (if it answers) and SQLite
    .venv/bin/python bench/campaign.py --help

For each database:
 1. a fresh database (PostgreSQL: created here and dropped afterwards; SQLite: a
    temporary file), migrated, the demo hospital loaded (220 patients), 2,000 more
    patients, and 10,000 discharges in October 2026 over 24 wards, bulk-inserted;
 2. timed with time.perf_counter, what the daily cron job does on the first day of a
    month (queueing.aftercare.create_and_queue, the very function the job runs):
    draw the reproducible sample (5% by default, at least one per ward), store the
    campaign and its tasks, and enqueue one RQ job per call on the machine's Redis (under
    a key prefix of its own, removed afterwards), at 10:00 on a Tuesday (calls queued to
    run now) and at 22:00 (calls scheduled for 09:00 the next day);
 3. the same with share 1.0 (every discharge called: 10,000 tasks and jobs), to show
    the headroom;
 4. checks: the number of tasks and of queued/scheduled jobs is what the sample says.
Target: under 30 s for the 10,000-discharge campaign.
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
import uuid
from datetime import date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis as redis_lib  # noqa: E402
import rq  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import insert, select  # noqa: E402

import settings as settings_module  # noqa: E402
from bench import common  # noqa: E402
from extensions import Hotline  # noqa: E402
from queueing import ROUTINE, queue_name  # noqa: E402
from queueing.aftercare import create_and_queue  # noqa: E402
from records import loader  # noqa: E402
from records.db import make_engine, make_sessions, migrate  # noqa: E402
from records.models import Discharge, FollowUpTask, Patient, PatientPhone  # noqa: E402

ZONE = ZoneInfo("Asia/Shanghai")
DAY = datetime(2026, 11, 3, 10, 0, tzinfo=ZONE)  # a Tuesday: the campaign for October
NIGHT = DAY.replace(hour=22)
MONTH = "2026-10"
WARDS = [f"病区{n:02d}" for n in range(1, 25)]


def build(url: str, discharges: int) -> None:
    engine = make_engine(url)
    migrate(engine)
    with make_sessions(engine).begin() as db:
        demo = loader.read(ROOT / "records" / "demo" / "hospital.yaml")
        loader.load(db, demo, today=DAY.date(), walk_in_share=0.2)
        db.execute(
            insert(Patient),
            [
                {
                    "mrn": f"B{n:08d}",
                    "name_zh": "测试",
                    "name_en": "Test",
                    "family_name_zh": "测",
                    "family_name_en": "Test",
                    "sex": "MF"[n % 2],
                    "birth_date": date(1950 + n % 50, 1 + n % 12, 1 + n % 28),
                    "preferred_language": "zh",
                    "category": "standard",
                }
                for n in range(2000)
            ],
        )
        ids = list(db.scalars(select(Patient.id)))
        db.execute(insert(PatientPhone), [{"patient_id": i, "e164": f"+86139{i:08d}"} for i in ids if i > 220])
        rng = random.Random(7)
        received = DAY - timedelta(days=3)
        db.execute(
            insert(Discharge),
            [
                {
                    "source_event_id": f"ADT-{n}",
                    "patient_id": rng.choice(ids),
                    "ward": rng.choice(WARDS),
                    "discharged_on": date(2026, 10, 1 + n % 31),
                    "attending_doctor": "张医生",
                    "received_at": received,
                }
                for n in range(discharges)
            ],
        )
    engine.dispose()


def measure(url: str, redis_url: str, *, share: float, at: datetime) -> dict:
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    environ = {"DATABASE_URL": url, "REDIS_URL": redis_url, "REDIS_PREFIX": prefix}
    settings = settings_module.load(ROOT / "config.yaml", environ=environ)
    followup = settings.aftercare.followup.model_copy(update={"share": share})
    settings = settings.model_copy(update={"aftercare": settings.aftercare.model_copy(update={"followup": followup})})
    hotline = Hotline(settings, ROOT / "instance", clock=lambda: at)
    queue = rq.Queue(queue_name(prefix, ROUTINE), connection=hotline.queue_redis)
    try:
        started = time.perf_counter()
        created, queued = create_and_queue(hotline, MONTH, at)
        seconds = time.perf_counter() - started
        with hotline.sessions() as db:
            tasks = db.scalar(select(sa.func.count()).select_from(FollowUpTask))
            db.execute(sa.delete(FollowUpTask))
            db.execute(sa.text("DELETE FROM followup_campaigns"))
            db.commit()
        waiting, scheduled = queue.count, queue.scheduled_job_registry.count
        assert created and queued == tasks == waiting + scheduled, (created, queued, tasks, waiting, scheduled)
        return {"seconds": seconds, "tasks": tasks, "queued": waiting, "scheduled": scheduled}
    finally:
        _clean(hotline.queue_redis, queue)
        hotline.engine.dispose()


def _clean(connection: redis_lib.Redis, queue: rq.Queue) -> None:
    job_ids = queue.get_job_ids() + queue.scheduled_job_registry.get_job_ids()
    keys = [f"rq:job:{job_id}" for job_id in job_ids]
    keys += [key for key in connection.scan_iter(f"rq:*{queue.name}*")]
    for start in range(0, len(keys), 1000):
        connection.delete(*keys[start : start + 1000])
    connection.srem("rq:queues", queue.key)


def databases(postgres: str) -> list[tuple[str, str, object]]:
    found = []
    try:
        admin = sa.create_engine(postgres, isolation_level="AUTOCOMMIT")
        with admin.connect() as connection:
            name = f"bench_campaign_{uuid.uuid4().hex[:8]}"
            connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
        url = sa.make_url(postgres).set(database=name).render_as_string(hide_password=False)

        def drop(name=name, admin=admin):
            with admin.connect() as connection:
                connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
            admin.dispose()

        found.append(("PostgreSQL", url, drop))
    except sa.exc.OperationalError as exc:
        print(f"PostgreSQL skipped: {exc.orig}", file=sys.stderr)
    folder = Path(tempfile.mkdtemp(prefix="bench-campaign-"))
    found.append(("SQLite", f"sqlite:///{folder / 'hotline.db'}", lambda: None))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--discharges", type=int, default=10_000)
    parser.add_argument(
        "--postgres", default=os.environ.get("HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    )
    parser.add_argument("--redis", default=os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15"))
    parser.add_argument("--output", type=Path, default=ROOT / "bench" / "results" / "campaign.md")
    args = parser.parse_args()
    rows = []
    for name, url, drop in databases(args.postgres):
        try:
            build(url, args.discharges)
            for share in (0.05, 1.0):
                for label, at in (("10:00, calls queued now", DAY), ("22:00, calls scheduled for 09:00", NIGHT)):
                    result = measure(url, args.redis, share=share, at=at)
                    rows.append((name, share, label, result))
                    print(f"{name:10} share {share:>4}: {label:34} {result['seconds']:6.2f} s  {result}", flush=True)
        finally:
            drop()
    write(args, rows)


def write(args, rows) -> None:
    command = ".venv/bin/python bench/campaign.py" + (
        f" --discharges {args.discharges}" if args.discharges != 10_000 else ""
    )
    lines = [
        "# Campaign benchmark",
        "",
        f"Command (from the project root):\n\n```\n{command}\n```",
        "",
        f"Run {datetime.now(ZONE):%Y-%m-%d %H:%M} (hospital time) on {common.machine_line(load_when='at the end')}; "
        f"Redis at {args.redis.split('@')[-1]}.",
        "",
        f"{args.discharges:,} discharges in {MONTH} over {len(WARDS)} wards; the time is `queueing.aftercare.create_and_queue` "
        "(the daily job's work): the sample drawn, the campaign and its tasks stored, one RQ job per call enqueued "
        "(now, or scheduled for the next calling time). Target: under 30 s.",
        "",
        "| database | share | when | tasks | jobs queued | jobs scheduled | seconds | target |",
        "|---|---:|---|---:|---:|---:|---:|---|",
    ]
    for name, share, label, result in rows:
        met = "met" if result["seconds"] < 30 else "missed"
        lines.append(
            f"| {name} | {share:.0%} | {label} | {result['tasks']:,} | {result['queued']:,} | {result['scheduled']:,} "
            f"| {result['seconds']:.2f} | {met} |"
        )
    common.write_result(args.output, lines)
    print(f"written {args.output}")


if __name__ == "__main__":
    main()
