"""Call log benchmark: the supervisor's call log with 1,000,000 calls in PostgreSQL.
Writes bench/results/call_log.md from what it measured.

    .venv/bin/python bench/call_log.py                 # 1,000,000 calls
    .venv/bin/python bench/call_log.py --calls 200000  # a quicker look

1. A database of its own (created from HOTLINE_BENCH_POSTGRES, default
   postgresql://postgres@127.0.0.1:5432/postgres, dropped afterwards), migrated,
   then filled with INSERT ... SELECT generate_series: 50,000 patients, N calls
   over the last 180 days (a third of them linked to a patient), and a queue
   entry for 60 % of the calls (queue, agent, disposition, times); ANALYZE.
2. GET /supervisor/calls, logged in as a supervisor, through the Flask test
   client in this process (the whole request: login check, queries, template),
   each URL 20 times after 3 warm-ups; and the domain function alone
   (records.call_log.search).  Reported: median and p95 in milliseconds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path

import sqlalchemy as sa

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import settings as settings_module  # noqa: E402
from app import create_app  # noqa: E402
from bench import common  # noqa: E402
from records import call_log  # noqa: E402
from records.db import make_engine, migrate  # noqa: E402
from tests.web import log_in, make_staff  # noqa: E402

ADMIN = os.environ.get("HOTLINE_BENCH_POSTGRES", "postgresql://postgres@127.0.0.1:5432/postgres")

FILL = """
INSERT INTO patients (mrn, name_zh, name_en, family_name_zh, family_name_en, sex, birth_date, preferred_language, category)
SELECT 'B' || lpad(g::text, 8, '0'), (ARRAY['王','李','张','刘','陈'])[g % 5 + 1] || '患者' || g, 'Patient ' || g,
       (ARRAY['王','李','张','刘','陈'])[g % 5 + 1], 'Family', CASE WHEN g % 2 = 0 THEN 'F' ELSE 'M' END,
       DATE '1940-01-01' + (g % 25000), 'zh', 'standard'
FROM generate_series(1, 50000) g;

INSERT INTO call_records (call_sid, direction, from_number, to_number, patient_id, matched_patients, language,
                          started_at, ended_at, status, status_sequence, duration_seconds, outcome, menu_path)
SELECT 'CB' || lpad(g::text, 32, '0'), 'inbound', '+86139' || lpad((g % 200000)::text, 8, '0'), '+861065281000',
       CASE WHEN g % 3 = 0 THEN (SELECT min(id) FROM patients) + (g % 50000) END, CASE WHEN g % 3 = 0 THEN 1 ELSE 0 END, 'zh',
       now() - make_interval(secs => g * (180 * 86400.0 / :calls)),
       now() - make_interval(secs => g * (180 * 86400.0 / :calls)) + interval '3 minutes',
       'completed', 3, 180,
       (ARRAY['answered','answered','answered','self_service','abandoned','voicemail','callback','answered','self_service','timeout'])[g % 10 + 1],
       'menu.main > person.start'
FROM generate_series(1, :calls) g;

INSERT INTO queue_entries (call_id, position, queue, priority, enqueued_at, offers, answered_at, left_at, result, waited,
                           agent_id, hung_up_at, wrap_up_end_at, talk_seconds, hold_seconds, wrap_up_seconds, disposition)
SELECT c.id, 1, (ARRAY['general','booking','complaints','medicine','surgery'])[c.id % 5 + 1], 0, c.started_at + interval '20 seconds',
       '[]', c.started_at + interval '35 seconds', c.started_at + interval '35 seconds', 'answered', 15,
       c.id % 40 + 1, c.ended_at, c.ended_at + interval '30 seconds', 120, 10, 30,
       (ARRAY['resolved','information_given','booked','complaint','escalated','callback'])[c.id % 6 + 1]
FROM call_records c WHERE c.id % 10 < 6;

ANALYZE;
"""


def timed(function, repeat: int = 20, warm: int = 3) -> tuple[float, float]:
    for _ in range(warm):
        function()
    samples = []
    for _ in range(repeat):
        began = time.perf_counter()
        function()
        samples.append((time.perf_counter() - began) * 1000)
    return statistics.median(samples), common.percentile(samples, 0.95)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--calls", type=int, default=1_000_000)
    parser.add_argument("--out", default=str(ROOT / "bench/results/call_log.md"))
    args = parser.parse_args()
    name = f"hotline_bench_calllog_{uuid.uuid4().hex[:8]}"
    common.admin(ADMIN, f'CREATE DATABASE "{name}"')
    url = sa.make_url(ADMIN).set(database=name).render_as_string(hide_password=False)
    try:
        results, fill_seconds = run(url, args.calls)
    finally:
        common.admin(ADMIN, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    lines = [
        "# Call log with many calls (PostgreSQL)",
        "",
        f"Measured {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {common.machine_line(load_when='at the end')}; "
        f"{args.calls:,} calls, {int(args.calls * 0.6):,} queue entries, 50,000 patients, "
        f"filled in {fill_seconds:.0f} s with INSERT ... SELECT generate_series.",
        "",
        "    $ " + " ".join([".venv/bin/python bench/call_log.py", *sys.argv[1:]]),
        "",
        "| page | whole request median ms | p95 ms | search() alone median ms | p95 ms | rows |",
        "|---|---|---|---|---|---|",
    ]
    for label, (page_median, page_p95, search_median, search_p95, rows) in results.items():
        lines.append(
            f"| {label} | {page_median:.1f} | {page_p95:.1f} | {search_median:.1f} | {search_p95:.1f} | {rows} |"
        )
    common.write_result(args.out, lines)
    print("\n".join(lines))


def run(url: str, n_calls: int):
    engine = make_engine(url)
    migrate(engine)
    began = time.perf_counter()
    with engine.begin() as connection:
        for statement in FILL.split(";\n"):
            if statement.strip():
                connection.execute(sa.text(statement), {"calls": n_calls})
    fill_seconds = time.perf_counter() - began
    with engine.connect() as connection:
        some_patient = connection.execute(sa.text("SELECT mrn FROM patients ORDER BY id LIMIT 1 OFFSET 1233")).scalar()
        a_phone = connection.execute(sa.text("SELECT from_number FROM call_records WHERE id = 4242")).scalar()
    engine.dispose()
    environ = {"DATABASE_URL": url, "REDIS_URL": os.environ.get("HOTLINE_BENCH_REDIS", "redis://127.0.0.1:6379/14"),
               "REDIS_PREFIX": f"bench:{uuid.uuid4().hex[:6]}:", "TWILIO_AUTH_TOKEN": "x"}  # fmt: skip
    app = create_app(settings_module.load(ROOT / "config.yaml", environ=environ))
    staff = make_staff(app, "supervisor")
    client = app.test_client()
    log_in(client, staff.username, staff.password)
    hotline = app.extensions["hotline"]
    zone = hotline.settings.hospital.zone
    today = hotline.now().date()
    cases = {
        "first page, no filter": {},
        "outcome = abandoned": {"outcome": "abandoned"},
        "queue = complaints, agent 3": {"queue": "complaints", "agent": "3"},
        "queue = complaints, agent 8 (who never took one)": {"queue": "complaints", "agent": "8"},
        "disposition = complaint": {"disposition": "complaint"},
        "patient record number": {"patient": some_patient, "why": "bench"},
        "phone number": {"phone": a_phone},
        "last 7 days, answered": {"start": today.replace(day=max(1, today.day - 7)).isoformat(), "outcome": "answered"},
    }
    results = {}
    for label, args in cases.items():
        query = "&".join(f"{k}={v}" for k, v in args.items())

        def page(query=query):
            response = client.get(f"/supervisor/calls?{query}")
            assert response.status_code == 200, response.status_code

        filters = call_log.Filters(
            patient=args.get("patient", ""), phone=args.get("phone", ""), queue=args.get("queue", ""),
            agent_id=int(args["agent"]) if "agent" in args else None, disposition=args.get("disposition", ""),
            outcome=args.get("outcome", ""),
        )  # fmt: skip

        def search(filters=filters):
            with hotline.sessions() as session:
                return call_log.search(session, filters, after=None, limit=50, zone=zone)

        rows = len(search().rows)
        results[label] = (*timed(page), *timed(search), rows)
    # A page deep in the log: the cursor after 2,000 pages.
    with hotline.sessions() as session:
        deep = session.execute(
            sa.text("SELECT started_at, id FROM call_records ORDER BY started_at DESC, id DESC OFFSET 100000 LIMIT 1")
        ).one()
    cursor = call_log.Cursor(deep.started_at, deep.id).encode()

    def deep_search():
        with hotline.sessions() as session:
            return call_log.search(
                session, call_log.Filters(), after=call_log.Cursor.decode(cursor), limit=50, zone=zone
            )

    results["page 2,001 (keyset cursor)"] = (
        *timed(lambda: client.get(f"/supervisor/calls?after={cursor}")),
        *timed(deep_search),
        len(deep_search().rows),
    )
    hotline.engine.dispose()
    return results, fill_seconds


if __name__ == "__main__":
    main()
