"""Screen pop benchmark: how long `records.files.caller_summary` (the caller's file on the
agent's screen, with its audit row) takes on a busy hospital's data.  Writes
bench/results/screen_pop.md from what it measured.

    .venv/bin/python bench/screen_pop.py                  # SQLite, and PostgreSQL if it answers
    .venv/bin/python bench/screen_pop.py --help

For each database:
 1. a fresh database (SQLite: a temporary file; PostgreSQL: created here, dropped after),
    migrated, the demo hospital loaded;
 2. PATIENTS more patients, each with a phone, CALLS call records (spread over the
    patients and the last 90 days, a third with an agent's wrap-up), APPOINTMENTS past and
    coming appointments and CASES complaint cases, bulk-inserted;
 3. caller_summary timed in this process (time.perf_counter), each in a new Session and
    committed (as the screen-pop view does: the audit row is written), for patients drawn
    at random, after a warm-up; then the same for records.files.search by phone number.
The figures are wall-clock times on whatever machine runs it; the machine is named in
the results.  With `--against REV` the pops alternate, in the same run, between this tree's
caller_summary and records/files.py as it was at git revision REV (the reference), each
also timed in this thread's CPU time (time.thread_time), which the machine's load
stretches less than the wall clock.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
import types
import uuid
from datetime import datetime, timedelta
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import sqlalchemy as sa  # noqa: E402
from sqlalchemy import func, insert, select  # noqa: E402

import settings as settings_module  # noqa: E402
from bench import common  # noqa: E402
from records import files, loader  # noqa: E402
from records.db import begin_write, make_engine, make_sessions, migrate  # noqa: E402
from records.models import (  # noqa: E402
    Appointment,
    CallRecord,
    ClinicSession,
    ComplaintCase,
    Patient,
    PatientPhone,
    WrapUp,
)
from records.staff import create_staff  # noqa: E402

RESULTS = BENCH / "results" / "screen_pop.md"
POSTGRES = os.environ.get("HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")


def build(url: str, settings, *, patients: int, calls: int, appointments: int, cases: int, seed: int) -> dict:
    rng = random.Random(seed)
    zone = settings.hospital.zone
    now = datetime.now(zone)
    engine = make_engine(url)
    migrate(engine)
    sessions = make_sessions(engine)
    with sessions.begin() as db:
        loader.load(db, loader.read(ROOT / "records" / "demo" / "hospital.yaml"), today=now.date())
        agent = create_staff(db, username="bench-agent", display_name="Bench", role="agent", password="bench-pw-12345")
        first = (db.scalar(select(func.max(Patient.id))) or 0) + 1
        db.execute(
            insert(Patient),
            [
                dict(
                    mrn=f"B{n:08d}",
                    name_zh="测试",
                    name_en="Test",
                    family_name_zh="测",
                    family_name_en="Test",
                    sex="MF"[n % 2],
                    birth_date=datetime(1930 + n % 80, 1 + n % 12, 1 + n % 28).date(),
                    preferred_language="zh",
                    category="vip" if n % 50 == 0 else "standard",
                )
                for n in range(patients)
            ],
        )
        ids = list(range(first, first + patients))
        db.execute(insert(PatientPhone), [dict(patient_id=i, e164=f"+86139{i:08d}") for i in ids])
        call_rows = []
        for n in range(calls):
            started = now - timedelta(minutes=rng.randrange(90 * 24 * 60))
            call_rows.append(
                dict(
                    call_sid=f"CA{n:032d}",
                    direction="inbound",
                    from_number="+8613900000000",
                    to_number="+861065281000",
                    patient_id=rng.choice(ids),
                    matched_patients=1,
                    language="zh",
                    started_at=started,
                    ended_at=started + timedelta(seconds=120),
                    status="completed",
                    status_sequence=3,
                    duration_seconds=120,
                    outcome="transferred",
                    menu_path="main",
                )
            )
        db.execute(insert(CallRecord), call_rows)
        db.execute(
            insert(WrapUp),
            [
                dict(
                    call_sid=row["call_sid"],
                    staff_id=agent.id,
                    queue="general",
                    disposition="resolved",
                    notes="",
                    at=row["ended_at"],
                )
                for row in call_rows[::3]
            ],
        )
        clinics = db.scalars(select(ClinicSession).where(ClinicSession.doctor_id.is_not(None))).all()
        db.execute(
            insert(Appointment),
            [
                # Each patient's n-th appointment on its own day (one a day per doctor is a rule):
                # the first ones coming, the others a week apart in the past.
                dict(
                    reference=f"{n:010d}",
                    patient_id=ids[n % len(ids)],
                    session_id=clinic.id,
                    doctor_id=clinic.doctor_id,
                    place=1 + n,
                    status="booked",
                    channel="phone",
                    date=now.date() + timedelta(days=3 - 7 * (n // len(ids))),
                    booked_at=now - timedelta(days=500),
                )
                for n, clinic in ((n, rng.choice(clinics)) for n in range(appointments))
            ],
        )
        db.execute(
            insert(ComplaintCase),
            [
                dict(
                    patient_id=rng.choice(ids),
                    owner_id=agent.id,
                    opened_by_id=agent.id,
                    source="manual",
                    summary="排队时间长",
                    status=rng.choice(("open", "waiting_on_department", "closed")),
                    opened_at=now - timedelta(days=rng.randrange(30)),
                    deadline_at=now + timedelta(days=1),
                )
                for _ in range(cases)
            ],
        )
    engine.dispose()
    return {"ids": ids, "agent_id": agent.id, "now": now}


def at_revision(rev: str):
    """records/files.py as it was at git revision `rev`, imported under its own name."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{rev}:records/files.py"], check=True, capture_output=True, text=True
    ).stdout
    module = types.ModuleType(f"files_at_{rev}")
    sys.modules[module.__name__] = module  # dataclasses look their module up
    exec(compile(source, f"{rev}:records/files.py", "exec"), module.__dict__)
    return module


def timed_against(url: str, data: dict, runs: int, seed: int, reference) -> dict:
    """Pops alternating between this tree's caller_summary and the reference's: wall and CPU ms."""
    rng = random.Random(seed)
    sessions = make_sessions(make_engine(url))
    figures: dict[str, dict[str, list[float]]] = {
        "this tree": {"wall": [], "cpu": []},
        "reference": {"wall": [], "cpu": []},
    }
    for n in range(2 * (runs + runs // 10)):
        name, module = ("reference", reference) if n % 2 else ("this tree", files)
        patient_id = rng.choice(data["ids"])
        wall, cpu = time.perf_counter(), time.thread_time()
        with sessions() as db:
            begin_write(db)
            module.caller_summary(
                db, patient_id, staff_id=data["agent_id"], reason="bench", call_sid=f"CAab{n}", now=data["now"]
            )
            db.commit()
        if n >= 2 * (runs // 10):  # after the warm-up
            figures[name]["wall"].append((time.perf_counter() - wall) * 1000)
            figures[name]["cpu"].append((time.thread_time() - cpu) * 1000)
    return {
        name: {
            "p50": statistics.median(f["wall"]),
            "p99": common.percentile(f["wall"], 0.99),
            "cpu": statistics.median(f["cpu"]),
        }
        for name, f in figures.items()
    }


def timed(url: str, data: dict, runs: int, seed: int) -> dict:
    rng = random.Random(seed)
    engine = make_engine(url)
    sessions = make_sessions(engine)
    pops, searches, sizes, statements = [], [], [], []
    sent = [0]
    sa.event.listen(engine, "before_cursor_execute", lambda *args: sent.__setitem__(0, sent[0] + 1))
    for n in range(runs + runs // 10):
        patient_id = rng.choice(data["ids"])
        started = time.perf_counter()
        with sessions() as db:
            begin_write(db)
            before = sent[0]
            summary = files.caller_summary(
                db, patient_id, staff_id=data["agent_id"], reason="bench", call_sid=f"CAbench{n}", now=data["now"]
            )
            statements.append(sent[0] - before)
            db.commit()
        elapsed = (time.perf_counter() - started) * 1000
        number = f"+86139{rng.choice(data['ids']):08d}"
        started = time.perf_counter()
        with sessions() as db:
            begin_write(db)
            found = files.search(db, number, staff_id=data["agent_id"], reason="bench search", now=data["now"])
            db.commit()
        searched = (time.perf_counter() - started) * 1000
        assert summary is not None and len(found) == 1
        if n >= runs // 10:  # after the warm-up
            pops.append(elapsed)
            searches.append(searched)
            sizes.append(len(summary.last_calls) + len(summary.last_visits) + len(summary.upcoming))
    engine.dispose()
    return {
        "pop": {"p50": statistics.median(pops), "p99": common.percentile(pops, 0.99), "max": max(pops)},
        "search": {"p50": statistics.median(searches), "p99": common.percentile(searches, 0.99), "max": max(searches)},
        "items": statistics.mean(sizes),
        "statements": statistics.mean(statements),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patients", type=int, default=20_000)
    parser.add_argument("--calls", type=int, default=100_000)
    parser.add_argument("--appointments", type=int, default=50_000)
    parser.add_argument("--cases", type=int, default=2_000)
    parser.add_argument("--runs", type=int, default=500)
    parser.add_argument("--seed", type=int, default=4)
    parser.add_argument("--only", choices=("sqlite", "postgresql"))
    parser.add_argument("--against", metavar="REV", help="alternate with records/files.py at this git revision")
    args = parser.parse_args()
    reference = at_revision(args.against) if args.against else None
    settings = settings_module.load(ROOT / "config.yaml", environ={})
    sizes = dict(patients=args.patients, calls=args.calls, appointments=args.appointments, cases=args.cases)
    results = {}
    for kind in ("sqlite", "postgresql"):
        if args.only and kind != args.only:
            continue
        if kind == "sqlite":
            folder = tempfile.mkdtemp(prefix="screen-pop-")
            url = f"sqlite:///{folder}/bench.db"
        else:
            try:
                admin = sa.create_engine(POSTGRES, isolation_level="AUTOCOMMIT")
                name = f"bench_pop_{uuid.uuid4().hex[:8]}"
                with admin.connect() as connection:
                    connection.execute(sa.text(f'CREATE DATABASE "{name}"'))
            except sa.exc.OperationalError:
                print(f"PostgreSQL does not answer at {POSTGRES}: skipped")
                continue
            url = sa.make_url(POSTGRES).set(database=name).render_as_string(hide_password=False)
        try:
            started = time.perf_counter()
            data = build(url, settings, seed=args.seed, **sizes)
            print(f"{kind}: data built in {time.perf_counter() - started:.0f} s")
            results[kind] = timed(url, data, args.runs, args.seed)
            if reference is not None:
                results[kind]["against"] = timed_against(url, data, args.runs, args.seed, reference)
            print(kind, results[kind])
        finally:
            if kind == "postgresql":
                with admin.connect() as connection:
                    connection.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
    write(results, sizes, args)


def write(results: dict, sizes: dict, args) -> None:
    command = (
        "$ .venv/bin/python bench/screen_pop.py"
        + "".join(f" --{name} {getattr(args, name)}" for name in ("patients", "calls", "appointments", "cases", "runs"))
        + (f" --against {args.against}" if args.against else "")
    )
    lines = [
        "# Screen pop benchmark",
        "",
        "```",
        command,
        "```",
        "",
        f"Machine: {common.machine_line(load_when='at the end')}; {common.now()}.",
        f"Data: the demo hospital plus {sizes['patients']:,} patients, {sizes['calls']:,} call records (a third "
        f"with a wrap-up), {sizes['appointments']:,} appointments, {sizes['cases']:,} complaint cases.",
        f"Each figure: {args.runs} runs after a warm-up, each in its own session and transaction, committed "
        "(the audit row is written), for patients drawn at random.",
        "",
        "| database | caller_summary p50 | p99 | max | its SQL statements | search by phone p50 | p99 | max |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for kind, figures in results.items():
        pop, search = figures["pop"], figures["search"]
        lines.append(
            f"| {kind} | {pop['p50']:.1f} ms | {pop['p99']:.1f} ms | {pop['max']:.1f} ms "
            f"| {figures.get('statements', 0):.1f} | {search['p50']:.1f} ms | {search['p99']:.1f} ms | {search['max']:.1f} ms |"
        )
    lines += [
        "",
        "Target (issue 17): caller_summary p99 < 20 ms on both databases: "
        + ", ".join(f"{kind} {common.yes(f['pop']['p99'] < 20)}" for kind, f in results.items())
        + ". Its statements are counted from the session's first to its last (the commit not included).",
    ]
    if args.against:
        lines += [
            "",
            f"Side by side, in the same run: pops alternating between this tree and records/files.py at "
            f"{args.against} (the reference), {args.runs} each; CPU is this thread's time (time.thread_time).",
            "",
            "| database | code | caller_summary p50 | p99 | CPU p50 |",
            "|---|---|---|---|---|",
        ]
        for kind, figures in results.items():
            for name, pop in figures["against"].items():
                lines.append(f"| {kind} | {name} | {pop['p50']:.1f} ms | {pop['p99']:.1f} ms | {pop['cpu']:.2f} ms |")
    common.write_result(RESULTS, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
