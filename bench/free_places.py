"""Free places benchmark: how long the hotline takes to find free places for a department
over the next 14 days, with 50 doctors and 10,000 existing appointments.  Writes
bench/results/free_places.md from what it measured.

    .venv/bin/python bench/free_places.py                 # PostgreSQL and SQLite
    .venv/bin/python bench/free_places.py --help

For each database (PostgreSQL, then SQLite):
 1. a fresh database (PostgreSQL: created here and dropped afterwards; SQLite: a temporary
    file), migrated with records.db.migrate, the demo hospital loaded with records.loader
    for today (hospital time, the real clock, as the server has it);
 2. one department (cardiology) grown to 50 doctors, each with a morning and an afternoon
    session on each of the next 14 days (the demo timetables' sessions kept), 3,000 more
    patients, and 10,000 booked appointments bulk-inserted over those sessions, more of
    them on the nearer days (so the first days fill up and the search has to pass them),
    places numbered and the sessions' booked counters set from them; then checked: the
    counters add up to the appointments and no session is over its bookable places;
 3. the domain functions timed in this process with time.perf_counter, each run in a new
    Session (as a webhook gets one): records.booking.free_days for the department's
    doctors (what "the first available doctor" searches) and records.booking.free_sessions
    for each day it offers;
 4. the webhooks under gunicorn with the same command as bench/webhooks.py (gthread, 2
    workers x 4 threads), signed requests (twilio's RequestValidator), each from a
    distinct call whose caller is already identified in Redis (as CallStore.identify
    leaves it): first the days and doctors menus checked once (TwiML; the days read out
    are free_days's), then a warm-up, then N requests per webhook at each fixed concurrency
    (client processes, one keep-alive connection each), every answer parsed as TwiML.
    The webhooks: POST /ivr/booking/days?department=CARD (the days with a free place)
    and POST /ivr/booking/sessions?day=...&department=CARD (that day's sessions), and the
    two requests a caller's key presses really make (the Gather posts back to the menu it
    belongs to): 9 "any doctor" on the doctors menu (the doctors list, then free_days) and
    a day's key on the days menu (free_days again, then free_sessions).
"""

from __future__ import annotations

import argparse
import gc
import http.client
import multiprocessing
import os
import random
import shlex
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import uuid
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from datetime import time as clock_time
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import sqlalchemy as sa  # noqa: E402
from sqlalchemy import func, insert, select, update  # noqa: E402
from twilio.request_validator import RequestValidator  # noqa: E402

import settings as settings_module  # noqa: E402
from bench import common  # noqa: E402
from ivr.state import CallStore  # noqa: E402
from records import booking, loader  # noqa: E402
from records.db import make_engine, make_sessions, migrate  # noqa: E402
from records.models import Appointment, ClinicSession, Department, Doctor, Patient  # noqa: E402
from wording import speaking  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PUBLIC_BASE = "https://hotline.example.org"  # PUBLIC_BASE_URL: what the signatures are computed over
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
HOSPITAL_NUMBER = "+861065281000"
HOTLINE_APP = "app:create_app()"
DEPARTMENT = "CARD"
DOCTORS = 50
DAYS = 14
APPOINTMENTS = 10_000
MORE_PATIENTS = 3_000
CAPACITY = 30  # of each session added here (the demo timetables' keep their own)
MORNING = (clock_time(8, 0), clock_time(12, 0))
AFTERNOON = (clock_time(13, 30), clock_time(17, 0))
TARGET_P99_MS = 30.0
SELECT_ONLY = "free_days's SELECT alone"
SESSIONS_SPOKEN = 7  # free_sessions(..., limit=7), as the sessions step of ivr/flows/booking.py asks
APOLOGY = "系统暂时出现问题"  # prompts 'apology' (zh): the webhook failed inside


class CheckFailed(Exception):
    pass


# ---- the data set ----------------------------------------------------------------------------------


@dataclass
class DataSet:
    kind: str
    url: str
    today: date
    doctor_ids: list[int] = field(default_factory=list)
    facts: dict = field(default_factory=dict)


SURNAMES = [
    ("李", "Li"),
    ("王", "Wang"),
    ("张", "Zhang"),
    ("刘", "Liu"),
    ("陈", "Chen"),
    ("杨", "Yang"),
    ("赵", "Zhao"),
    ("黄", "Huang"),
    ("周", "Zhou"),
    ("吴", "Wu"),
]
GIVEN = [
    ("伟", "Wei"),
    ("芳", "Fang"),
    ("娜", "Na"),
    ("敏", "Min"),
    ("静", "Jing"),
    ("磊", "Lei"),
    ("洋", "Yang"),
    ("勇", "Yong"),
    ("艳", "Yan"),
    ("杰", "Jie"),
    ("涛", "Tao"),
    ("明", "Ming"),
]
TITLES = ("chief_physician", "associate_chief_physician", "attending_physician", "resident_physician")


def build(kind: str, url: str, settings, seed: int) -> DataSet:
    """The demo hospital, then the department grown to 50 doctors with 10,000 appointments."""
    rng = random.Random(seed)
    today = datetime.now(settings.hospital.zone).date()
    data = DataSet(kind, url, today)
    started = time.perf_counter()
    engine = make_engine(url)
    migrate(engine)
    sessions = make_sessions(engine)
    with sessions.begin() as db:
        demo = loader.read(ROOT / "records" / "demo" / "hospital.yaml")
        loader.load(db, demo, today=today, days_ahead=DAYS, walk_in_share=settings.booking.walk_in_share)
    with sessions.begin() as db:
        department = db.scalars(select(Department).where(Department.code == DEPARTMENT)).one()
        demo_doctors = db.scalar(select(func.count()).select_from(Doctor).where(Doctor.department_id == department.id))
        for n in range(DOCTORS - demo_doctors):
            family, given = SURNAMES[n % len(SURNAMES)], GIVEN[(n * 7) % len(GIVEN)]
            db.add(
                Doctor(
                    code=f"B{n + 1:03d}",
                    department=department,
                    name_zh=f"{family[0]}{given[0]}{'一二三四五六七八九十'[n % 10]}",
                    name_en=f"{family[1]} {given[1]} {n + 1}",
                    family_name_zh=family[0],
                    family_name_en=family[1],
                    title=TITLES[n % len(TITLES)],
                    sex="MF"[n % 2],
                    specialties_zh="心血管内科常见病",
                    specialties_en="general cardiology",
                )
            )
        db.flush()
        data.doctor_ids = list(db.scalars(select(Doctor.id).where(Doctor.department_id == department.id)))
        days = [today + timedelta(days=offset) for offset in range(DAYS)]
        existing = db.execute(
            select(ClinicSession.doctor_id, ClinicSession.date, ClinicSession.start_time).where(
                ClinicSession.doctor_id.in_(data.doctor_ids), ClinicSession.date.in_(days)
            )
        ).all()
        halves = {(doctor, day, start < clock_time(12)) for doctor, day, start in existing}
        held_back = int(CAPACITY * settings.booking.walk_in_share)
        rows = [
            dict(doctor_id=doctor, date=day, start_time=start, end_time=end, capacity=CAPACITY, held_back=held_back)
            for doctor in data.doctor_ids
            for day in days
            for start, end in (MORNING, AFTERNOON)
            if (doctor, day, start < clock_time(12)) not in halves
        ]
        db.execute(insert(ClinicSession), rows)
        first = db.scalar(select(func.max(Patient.id))) or 0
        db.execute(
            insert(Patient),
            [
                dict(
                    mrn=f"B{n:08d}",
                    name_zh=f"{SURNAMES[n % 10][0]}{GIVEN[n % 12][0]}",
                    name_en=f"{SURNAMES[n % 10][1]} {GIVEN[n % 12][1]}",
                    family_name_zh=SURNAMES[n % 10][0],
                    family_name_en=SURNAMES[n % 10][1],
                    sex="MF"[n % 2],
                    birth_date=date(1940, 1, 1) + timedelta(days=rng.randrange(80 * 365)),
                    preferred_language="zh",
                    category="standard",
                )
                for n in range(1, MORE_PATIENTS + 1)
            ],
        )
        patients = list(db.scalars(select(Patient.id).where(Patient.id > first).order_by(Patient.id)))
        data.facts["sessions_added"] = len(rows)
        data.facts["patients_added"] = len(patients)
        data.facts["appointments"] = _appointments(db, data, patients, rng, settings)
    with sessions.begin() as db:
        _check(db, data)
        if engine.dialect.name == "postgresql":
            db.execute(sa.text("ANALYZE"))
        data.facts["doctors"] = len(data.doctor_ids)
        data.facts["patients"] = db.scalar(select(func.count()).select_from(Patient))
        data.facts["all_sessions"] = db.scalar(select(func.count()).select_from(ClinicSession))
    engine.dispose()
    data.facts["build_seconds"] = time.perf_counter() - started
    return data


def _appointments(db, data: DataSet, patients: list[int], rng: random.Random, settings) -> int:
    """10,000 bookings over the department's sessions, nearer days likelier (1/(1+d)),
    never more than a session's bookable places, one a day per patient."""
    window = db.scalars(
        select(ClinicSession)
        .where(
            ClinicSession.doctor_id.in_(data.doctor_ids),
            ClinicSession.date >= data.today,
            ClinicSession.date < data.today + timedelta(days=DAYS),
        )
        .order_by(ClinicSession.id)
    ).all()
    room = {s.id: s.capacity - s.held_back - s.booked for s in window}
    if sum(room.values()) < APPOINTMENTS:
        raise CheckFailed(f"only {sum(room.values())} bookable places for {APPOINTMENTS} appointments")
    weights = [1 / (1 + (s.date - data.today).days) for s in window]
    taken = {s.id: s.booked for s in window}
    next_patient: dict[date, int] = {}
    booked_at = datetime.now(UTC) - timedelta(days=1)
    rows = []
    while len(rows) < APPOINTMENTS:
        for s in rng.choices(window, weights, k=APPOINTMENTS - len(rows)):
            if room[s.id] == 0:
                continue
            room[s.id] -= 1
            taken[s.id] += 1
            # Each day starts at its own patient and walks on: nobody twice on one day.
            index = next_patient.setdefault(s.date, (s.date - data.today).days * 211)
            next_patient[s.date] = index + 1
            if next_patient[s.date] - (s.date - data.today).days * 211 > len(patients):
                raise CheckFailed(f"more than {len(patients)} appointments on {s.date}")
            rows.append(
                dict(
                    reference=f"7{len(rows):07d}",
                    patient_id=patients[index % len(patients)],
                    session_id=s.id,
                    doctor_id=s.doctor_id,
                    date=s.date,
                    place=taken[s.id],
                    status="booked",
                    channel="phone",
                    booked_at=booked_at,
                )
            )
            if len(rows) == APPOINTMENTS:
                break
    db.execute(insert(Appointment), rows)
    db.execute(update(ClinicSession), [{"id": sid, "booked": n} for sid, n in taken.items()])
    return len(rows)


def _check(db, data: DataSet) -> None:
    ids = data.doctor_ids
    active = db.scalar(select(func.count()).select_from(Appointment).where(Appointment.status == "booked"))
    counters = db.scalar(select(func.sum(ClinicSession.booked)).where(ClinicSession.doctor_id.in_(ids)))
    over = db.scalar(
        select(func.count())
        .select_from(ClinicSession)
        .where(ClinicSession.booked + ClinicSession.held_back > ClinicSession.capacity)
    )
    mismatched = db.scalar(
        select(func.count())
        .select_from(ClinicSession)
        .where(
            ClinicSession.booked
            != select(func.count())
            .where(Appointment.session_id == ClinicSession.id, Appointment.status == "booked")
            .scalar_subquery()
        )
    )
    full = db.scalar(
        select(func.count())
        .select_from(ClinicSession)
        .where(
            ClinicSession.doctor_id.in_(ids), ClinicSession.booked + ClinicSession.held_back >= ClinicSession.capacity
        )
    )
    if not (active == counters == APPOINTMENTS and over == 0 and mismatched == 0):
        raise CheckFailed(f"data set: {active} appointments, counters {counters}, {over} over, {mismatched} off")
    data.facts["full_sessions"] = full
    data.facts["department_sessions"] = db.scalar(
        select(func.count()).select_from(ClinicSession).where(ClinicSession.doctor_id.in_(ids))
    )


# ---- the domain functions, in process -----------------------------------------------------------


def time_domain(data: DataSet, settings, runs: int) -> dict:
    engine = make_engine(data.url)
    sessions = make_sessions(engine)
    rules = settings.booking
    now = datetime.now(settings.hospital.zone)
    with sessions() as db:
        offered = booking.free_days(db, now, rules, doctor_ids=data.doctor_ids, limit=rules.days_offered)
        everything = booking.free_days(db, now, rules, doctor_ids=data.doctor_ids)
        per_day = {d: len(booking.free_sessions(db, d, now, rules, doctor_ids=data.doctor_ids)) for d in everything}
    # The SELECT free_days sends, alone: its rows fetched as tuples, without building ORM objects.
    ids = data.doctor_ids
    statement, parameters = sent(
        engine, sessions, lambda db: booking.free_days(db, now, rules, doctor_ids=ids, limit=rules.days_offered)
    )
    with engine.connect() as connection:
        rows_read = len(connection.exec_driver_sql(statement, parameters).all())
    names = ("department_doctor_ids", "free_days", SELECT_ONLY, "free_sessions")
    timings: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}  # this thread's CPU (time.thread_time)
    # Python's cyclic garbage collector, seen from inside the timed calls: its full (generation 2)
    # collections walk every tracked object of the process.
    collections: list[list] = []

    def collector(phase: str, info: dict) -> None:
        if phase == "start":
            collections.append([info["generation"], time.perf_counter()])
        elif collections:
            collections[-1][1] = time.perf_counter() - collections[-1][1]

    full_gc: dict[str, list[float]] = {name: [] for name in names}  # ms of each full collection inside a call
    gc.callbacks.append(collector)
    for run in range(runs + 20):  # 20 warm-up runs, not counted
        day = offered[run % len(offered)]
        for name, call in (
            ("department_doctor_ids", lambda db: booking.department_doctor_ids(db, DEPARTMENT)),
            (
                "free_days",
                lambda db: booking.free_days(db, now, rules, doctor_ids=data.doctor_ids, limit=rules.days_offered),
            ),
            (SELECT_ONLY, lambda db: db.connection().exec_driver_sql(statement, parameters).all()),
            (
                "free_sessions",
                lambda db, day=day: booking.free_sessions(
                    db, day, now, rules, doctor_ids=data.doctor_ids, limit=SESSIONS_SPOKEN
                ),
            ),
        ):
            with sessions() as db:
                collections.clear()
                started, started_cpu = time.perf_counter(), time.thread_time()
                call(db)
                elapsed, used = time.perf_counter() - started, time.thread_time() - started_cpu
            if run >= 20:
                timings[name].append(elapsed * 1000)
                cpu[name].append(used * 1000)
                full_gc[name] += [seconds * 1000 for generation, seconds in collections if generation == 2]
    gc.callbacks.remove(collector)
    tracked = len(gc.get_objects())
    plan = None
    if engine.dialect.name == "postgresql":
        with engine.connect() as connection:
            rows = connection.exec_driver_sql(f"EXPLAIN (ANALYZE, BUFFERS) {statement}", parameters).scalars()
            plan = "\n".join(rows)
    engine.dispose()
    return {
        "now": now.strftime("%Y-%m-%d %H:%M %Z"),
        "offered": [d.isoformat() for d in offered],
        "days_with_places": len(everything),
        "rows_read": rows_read,
        "bookable_sessions": sum(per_day.values()),
        "sessions_per_offered_day": {d.isoformat(): per_day[d] for d in offered},
        "timings": {name: common.percentiles(samples) for name, samples in timings.items()},
        "cpu": {name: common.percentiles(samples) for name, samples in cpu.items()},
        "full_gc": full_gc,
        "tracked_objects": tracked,
        "plan": plan,
    }


def sent(engine, sessions, call) -> tuple[str, object]:
    """The statement (and parameters) the call sends about clinic sessions, caught on its way."""
    caught = []

    def catch(conn, cursor, statement, parameters, context, executemany):
        caught.append((statement, parameters))

    sa.event.listen(engine, "before_cursor_execute", catch)
    try:
        with sessions() as db:
            call(db)
    finally:
        sa.event.remove(engine, "before_cursor_execute", catch)
    return next((s, p) for s, p in caught if "FROM clinic_sessions" in s)


# ---- the webhooks, over HTTP ---------------------------------------------------------------------


def call_fields(call_sid: str, caller: str) -> dict[str, str]:
    """The fields Twilio posts with every voice webhook (as bench/webhooks.py)."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": "in-progress",
        "Called": HOSPITAL_NUMBER,
        "CalledCountry": "CN",
        "Caller": caller,
        "CallerCountry": "CN",
        "Direction": "inbound",
        "From": caller,
        "FromCountry": "CN",
        "To": HOSPITAL_NUMBER,
        "ToCountry": "CN",
    }


def sign(path: str, params: dict[str, str]) -> str:
    return RequestValidator(AUTH_TOKEN).compute_signature(PUBLIC_BASE + path, params)


@dataclass(frozen=True)
class Request:
    path: str
    body: bytes
    signature: str


def one(port: int, request: Request) -> tuple[int, str]:
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request("POST", request.path, request.body, headers(request))
        response = connection.getresponse()
        return response.status, response.read().decode()
    finally:
        connection.close()


def headers(request: Request) -> dict[str, str]:
    return {
        "Content-Type": "application/x-www-form-urlencoded",
        "User-Agent": "TwilioProxy/1.1",
        "X-Twilio-Signature": request.signature,
    }


def verdict(status: int, body: str, expect: str) -> str | None:
    """None if the answer is a TwiML menu that says `expect`; else what is wrong."""
    if status != 200:
        return f"HTTP {status}"
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        return f"not XML: {exc}"
    if root.tag != "Response" or root.find("Gather") is None or root.find("Redirect") is None:
        return "not a TwiML menu"
    said = " ".join(say.text or "" for say in root.iter("Say"))
    if APOLOGY in said:
        return "the apology"
    if expect not in said:
        return f"does not say {expect!r}"
    return None


def _client(port: int, requests: list[Request], expect: str, barrier, out) -> None:
    """One caller connection: its requests one after another on a keep-alive connection."""
    latencies, bad, reconnects = [], {}, 0
    bodies = []
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    barrier.wait()
    for request in requests:
        for attempt in (1, 2):
            started = time.perf_counter()
            try:
                connection.request("POST", request.path, request.body, headers(request))
                response = connection.getresponse()
                body = response.read()
                latencies.append((time.perf_counter() - started) * 1000)
                bodies.append((response.status, body))
                break
            except (http.client.HTTPException, ConnectionError):
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
                reconnects += 1
                if attempt == 2:
                    raise
    finished = time.perf_counter()
    connection.close()
    for status, body in bodies:  # checked after the run, not while timing it
        wrong = verdict(status, body.decode(errors="replace"), expect)
        if wrong:
            bad[wrong] = bad.get(wrong, 0) + 1
    out.put({"latencies": latencies, "bad": bad, "reconnects": reconnects, "finished": finished})


def load(port: int, requests: list[Request], concurrency: int, expect: str) -> dict:
    """All the requests, `concurrency` at a time (one process per connection)."""
    context = multiprocessing.get_context("fork")
    barrier, out = context.Barrier(concurrency + 1), context.Queue()
    shares = [requests[i::concurrency] for i in range(concurrency)]
    clients = [context.Process(target=_client, args=(port, share, expect, barrier, out)) for share in shares]
    for client in clients:
        client.start()
    barrier.wait()
    started = time.perf_counter()
    results = [out.get(timeout=600) for _ in clients]
    for client in clients:
        client.join(30)
    wall = max(r["finished"] for r in results) - started
    latencies = [ms for r in results for ms in r["latencies"]]
    bad: dict[str, int] = {}
    for r in results:
        for reason, n in r["bad"].items():
            bad[reason] = bad.get(reason, 0) + n
    return {
        **common.percentiles(latencies),
        "rps": len(latencies) / wall,
        "seconds": wall,
        "bad": bad,
        "reconnects": sum(r["reconnects"] for r in results),
    }


class Server:
    """gunicorn as bench/webhooks.py runs it, in its own process group."""

    def __init__(self, command: list[str], env: dict[str, str], log: Path, port: int):
        self.command, self.port, self.log = command, port, log
        self.process = subprocess.Popen(
            command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT, start_new_session=True
        )
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise CheckFailed(f"{shlex.join(command)} exited: {log.read_text()[-2000:]}")
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        else:
            raise CheckFailed(f"{shlex.join(command)} did not listen on {port} within 30 s")
        time.sleep(1.0)  # every worker booted (they import the app after the master listens)

    def workers(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def cpu_seconds(self) -> float:
        """User + system CPU of the master and its workers so far (from /proc)."""
        ticks = 0
        for pid in [self.process.pid, *self.workers()]:
            try:
                fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
                ticks += int(fields[11]) + int(fields[12])  # utime, stime
            except (OSError, IndexError, ValueError):
                pass
        return ticks / os.sysconf("SC_CLK_TCK")

    def stop(self) -> None:
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait()


def gunicorn_command(args: argparse.Namespace, port: int) -> list[str]:
    return [
        str(VENV_BIN / "gunicorn"),
        "-w", str(args.workers),
        "-k", "gthread",
        "-b", f"127.0.0.1:{port}",
        "--no-control-socket",
        "--log-level", "warning",
        "--threads", str(args.threads),
        HOTLINE_APP,
    ]  # fmt: skip


@dataclass(frozen=True)
class Webhook:
    name: str
    what: str  # what it runs, for the report
    expect: str  # what its answer must say
    path: str
    params: dict[str, str]  # what the caller did (Digits...), besides the call's fields


def webhooks(port: int, data: DataSet, offered: list[str], calls: CallStore, patients: list[int]) -> list[Webhook]:
    """The four requests, the key-press ones taken from the Gather actions the hotline answered."""
    days = f"/ivr/booking/days?department={DEPARTMENT}&lang=zh"
    doctors = f"/ivr/booking/doctors?department={DEPARTMENT}&lang=zh"
    found = []
    for path in (days, doctors):
        status, body = one(port, request(path, {}, calls, patients[0]))
        wrong = verdict(status, body, "")
        if wrong:
            raise CheckFailed(f"{path}: {wrong}: {body[:500]}")
        found.append(ET.fromstring(body))
    days_menu, doctors_menu = found
    said = " ".join(say.text or "" for say in days_menu.iter("Say"))
    spoken = [speaking.day(date.fromisoformat(d), "zh") for d in offered]
    if not all(day in said for day in spoken):
        raise CheckFailed(f"the days webhook does not read out free_days's {offered}: {said[:500]}")
    return [
        Webhook("days", "free_days (the first available doctor)", "以下日期有号", days, {}),
        Webhook(
            "sessions",
            "free_sessions of an offered day",
            "可预约的时段",
            f"/ivr/booking/sessions?day={{day}}&department={DEPARTMENT}&lang=zh",
            {},
        ),
        Webhook(
            "doctors + 9",
            "key 9 'any doctor' on the doctors menu: the doctors list, then free_days",
            "以下日期有号",
            relative(doctors_menu.find("Gather").get("action")),
            {"Digits": "9"},
        ),
        Webhook(
            "days + day key",
            "a day's key on the days menu: free_days, then free_sessions",
            "可预约的时段",
            relative(days_menu.find("Gather").get("action")),
            {"Digits": "{key}"},
        ),
    ]


def relative(url: str) -> str:
    if not url.startswith(PUBLIC_BASE + "/"):
        raise CheckFailed(f"a TwiML URL outside {PUBLIC_BASE}: {url!r}")
    return url[len(PUBLIC_BASE) :]


def request(path: str, params: dict[str, str], calls: CallStore, patient_id: int) -> Request:
    """A step of a fresh call whose caller has been identified."""
    call_sid = "CA" + uuid.uuid4().hex
    calls.identify(call_sid, patient_id)
    form = {**call_fields(call_sid, f"+8613{patient_id:09d}"), **params}
    return Request(path, urllib.parse.urlencode(form).encode(), sign(path, form))


def requests_for(hook: Webhook, n: int, offered: list[str], calls: CallStore, patients: list[int]) -> list[Request]:
    made = []
    for i in range(n):
        k = i % len(offered)
        path = hook.path.replace("{day}", offered[k])
        params = {name: value.replace("{key}", str(k + 1)) for name, value in hook.params.items()}
        made.append(request(path, params, calls, patients[i % len(patients)]))
    return made


def measure_http(args, data: DataSet, domain: dict, client: redis.Redis, scratch: Path) -> dict:
    settings = settings_module.load(ROOT / "config.yaml")
    calls = CallStore(client, args.redis_prefix, settings.dialogue.call_state_ttl_seconds)
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TWILIO_AUTH_TOKEN", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "TWILIO_API_BASE")
    }
    env.update(
        DATABASE_URL=data.url,
        REDIS_URL=args.redis,
        REDIS_PREFIX=args.redis_prefix,
        PUBLIC_BASE_URL=PUBLIC_BASE,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        TWILIO_AUTH_TOKEN=AUTH_TOKEN,
        PYTHONDONTWRITEBYTECODE="1",
    )
    engine = make_engine(data.url)
    with engine.connect() as connection:
        patients = list(connection.execute(select(Patient.id).order_by(Patient.id)).scalars())
    engine.dispose()
    port = common.free_port()
    command = gunicorn_command(args, port)
    server = Server(command, env, scratch / f"gunicorn-{data.kind}.log", port)
    try:
        hooks = webhooks(port, data, domain["offered"], calls, patients)
        results = {}
        for hook in hooks:
            warm = requests_for(hook, args.warmup, domain["offered"], calls, patients)
            load(port, warm, max(args.concurrency), hook.expect)
            for concurrency in args.concurrency:
                measured = requests_for(hook, args.requests, domain["offered"], calls, patients)
                workers, cpu_before = server.workers(), server.cpu_seconds()
                figures = load(port, measured, concurrency, hook.expect)
                if server.workers() != workers:
                    raise CheckFailed(f"gunicorn's workers changed during the run: {workers} -> {server.workers()}")
                figures["server_cpu_ms"] = (server.cpu_seconds() - cpu_before) * 1000 / len(measured)
                results[(hook.name, concurrency)] = figures
                print(
                    f"  {data.kind} {hook.name} at {concurrency}: {figures['rps']:.0f} requests/s, "
                    f"p50 {figures['p50']:.1f} ms, p99 {figures['p99']:.1f} ms, server CPU "
                    f"{figures['server_cpu_ms']:.1f} ms/request, bad {figures['bad']}"
                )
        errors = [
            line
            for line in (scratch / f"gunicorn-{data.kind}.log").read_text(errors="replace").splitlines()
            if "ERROR" in line or "Traceback" in line
        ]
    finally:
        server.stop()
    shown = shlex.join(command).replace(str(VENV_BIN) + "/", "").replace(str(port), "PORT")
    return {"hooks": hooks, "results": results, "server": shown, "server_errors": errors}


# ---- the report ------------------------------------------------------------------------------------


SERVED = (
    "app.py",
    "extensions.py",
    "settings.py",
    "counters.py",
    "config.yaml",
    "ivr",
    "acd",
    "console",
    "records",
    "queueing",
)  # what the server runs


def git(*args: str) -> str:
    return subprocess.run(["git", *args], cwd=ROOT, capture_output=True, text=True).stdout.strip()


def code_version() -> tuple[str, str]:
    """(the commit, the state of the files the server runs: their diff against it, if any)."""
    return git("rev-parse", "--short", "HEAD"), git("diff", "HEAD", "--", *SERVED)


def code_note(before: tuple[str, str]) -> str:
    """The commit measured; whether what the server runs changed while the benchmark ran."""
    head, dirty = before
    note = head + (" with uncommitted changes to the served code" if dirty else "")
    now_head, now_dirty = code_version()
    changed = git("diff", "--name-only", head, now_head, "--", *SERVED).split()
    if changed or now_dirty != dirty:
        note += f"; **the served code changed during the run** ({', '.join(changed) or 'uncommitted'}): measure again"
    elif now_head != head:
        note += f" (HEAD moved to {now_head} during the run, with no change to the served code)"
    return note


def markdown(report: dict) -> str:
    m, args = report["machine"], report["args"]
    lines = [
        "# Free places benchmark",
        "",
        "Written by `bench/free_places.py` from what it measured; do not edit by hand.",
        "",
        f"- Date: {report['date']}",
        f"- Machine: {m['nproc']} CPUs ({m['cpu']}), {m['memory']} memory, Linux {m['kernel']}; "
        f"load average (1, 5, 15 min) before: {m['load_before']}, after: {m['load_after']} (the machine is "
        "shared: anything above the benchmark's own load is other work running at the same time)",
        f"- Software: Python {m['python']}, SQLAlchemy {report['versions']['sqlalchemy']}, gunicorn "
        f"{report['versions']['gunicorn']}, Flask {report['versions']['flask']}, Redis {report['redis']}, "
        + ", ".join(r["version"] for r in report["runs"]),
        f"- Command: `{report['command']}`",
        f"- Code: commit {report['code']}",
        f"- Target: p99 under {TARGET_P99_MS:.0f} ms per webhook, to find free places for a department over "
        f"{DAYS} days with {DOCTORS} doctors and {APPOINTMENTS:,} existing appointments.",
        "",
        "## Verdict",
        "",
    ]
    for run in report["runs"]:
        for (name, concurrency), f in run["http"]["results"].items():
            lines.append(
                f"- {run['kind']}, `{name}` at concurrency {concurrency}: p99 **{f['p99']:.1f} ms**: "
                f"{common.yes(f['p99'] < TARGET_P99_MS and not f['bad'])}"
            )
    for concurrency in report["args"]["concurrency"]:
        judged = [
            f["p99"] < TARGET_P99_MS and not f["bad"]
            for run in report["runs"]
            for (_, c), f in run["http"]["results"].items()
            if c == concurrency
        ]
        lines.append(
            f"- At concurrency {concurrency}: p99 under {TARGET_P99_MS:.0f} ms for {sum(judged)} of the "
            f"{len(judged)} webhook runs above."
        )
    lines += [
        "",
        "## The data set",
        "",
        "| | " + " | ".join(run["kind"] for run in report["runs"]) + " |",
        "| --- | " + " | ".join("---:" for _ in report["runs"]) + " |",
    ]
    rows = [
        ("doctors in the department (`CARD`)", "doctors"),
        ("its sessions (all dates; 14 days x morning and afternoon, plus the demo timetables')", "department_sessions"),
        ("sessions added for the benchmark", "sessions_added"),
        ("sessions in the whole hospital", "all_sessions"),
        ("patients (demo 220 + added)", "patients"),
        ("booked appointments (all in the department's sessions)", "appointments"),
        ("department sessions with no bookable place left", "full_sessions"),
        ("building it took (s)", "build_seconds"),
    ]
    for label, key in rows:
        values = [run["data"][key] for run in report["runs"]]
        shown = [f"{v:.1f}" if isinstance(v, float) else f"{v:,}" for v in values]
        lines.append(f"| {label} | " + " | ".join(shown) + " |")
    lines += [
        "",
        f"Sessions added: capacity {CAPACITY}, of which {report['held_back']} held back for walk-ins "
        f"(booking.walk_in_share), so {CAPACITY - report['held_back']} bookable by phone. Appointments drawn with "
        "weight 1/(1+d) for a session d days ahead, never beyond its bookable places, one a day per patient; "
        "counters checked against the appointments. PostgreSQL is `ANALYZE`d after the load (as autovacuum would "
        "soon); SQLite is not.",
        "",
    ]
    for run in report["runs"]:
        d = run["domain"]
        lines.append(
            f"- {run['kind']}, at {d['now']}: {d['bookable_sessions']} department sessions with a free place "
            f"over {d['days_with_places']} days; free_days's SELECT returns {d['rows_read']} rows for the "
            f"{len(d['offered'])} days offered: {', '.join(d['offered'])} "
            f"(free sessions on each: {', '.join(str(n) for n in d['sessions_per_offered_day'].values())})."
        )
    lines += [
        "",
        "## The domain functions, in process",
        "",
        f"`time.perf_counter` around each call, each in a new Session (as a webhook gets one), {args['domain_runs']} "
        "runs after 20 warm-up runs; `free_days` with the department's 50 doctor ids and "
        "`limit=booking.days_offered` as the days webhook calls it, `free_sessions` for each offered day in turn "
        f"with `limit={SESSIONS_SPOKEN}` as the sessions webhook calls it; `{SELECT_ONLY}` is the statement "
        "free_days sends (caught once, then run as is with `exec_driver_sql`), its rows fetched as plain tuples: "
        "the difference to `free_days` is the ORM's work around the same statement.",
        "",
        "The CPU column is this thread's CPU time (`time.thread_time`) for the same calls: what the other "
        "work on the machine cannot inflate (PostgreSQL's own work is in its server process, not in it).",
        "",
        "The last columns: how many of Python's full (generation 2) garbage collections ran inside the timed "
        "calls, and how long they took on average: a full collection walks every object the process tracks, so "
        "its cost is the process's size, paid by whichever call happens to allocate enough to set it off.",
        "",
        "| database | function | runs | mean ms | p50 ms | p95 ms | p99 ms | max ms | CPU p50 ms | CPU p99 ms "
        "| full GCs inside the calls | full GC mean ms |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in report["runs"]:
        for name, t in run["domain"]["timings"].items():
            c, full = run["domain"]["cpu"][name], run["domain"]["full_gc"][name]
            lines.append(
                f"| {run['kind']} | `{name}` | {t['n']} | {t['mean']:.2f} | {t['p50']:.2f} | {t['p95']:.2f} "
                f"| {t['p99']:.2f} | {t['max']:.2f} | {c['p50']:.2f} | {c['p99']:.2f} | {len(full)} "
                f"| {statistics.fmean(full) if full else 0:.1f} |"
            )
    lines += [
        "",
        "Objects tracked by the garbage collector in this process after the runs (it also built the data set): "
        + ", ".join(f"{run['kind']} {run['domain']['tracked_objects']:,}" for run in report["runs"])
        + ".",
    ]
    first = report["runs"][0]["http"]
    lines += [
        "",
        "## The webhooks, over HTTP",
        "",
        f"- Server: `{first['server']}` (as bench/webhooks.py), the real clock, TWILIO_AUTH_TOKEN set: every "
        "request carries a valid X-Twilio-Signature (twilio's RequestValidator, over PUBLIC_BASE_URL).",
        f"- Load: {args['requests']} requests per webhook and concurrency, after {args['warmup']} warm-up requests; "
        "each concurrent caller is its own client process with one keep-alive connection posting its share one "
        "after another; each request is a distinct call (its own CallSid) whose caller is identified in Redis. "
        "Latency is timed in the client (send to last byte); requests/s is all requests over the time from the "
        "common start to the last answer. The client processes share the machine's CPUs with the server, "
        "PostgreSQL and Redis.",
        "- Every answer parsed after the run: HTTP 200, a TwiML `<Response>` with a `<Gather>` and a `<Redirect>`, "
        "not the apology, saying the menu expected (the days, or the sessions).",
        "",
        "- Server CPU per request: the gunicorn master's and workers' user + system CPU time (from /proc) over "
        "the run, divided by its requests (what the other work on the machine cannot inflate; PostgreSQL's and "
        f"Redis's share is not in it). With {m['nproc']} CPUs, {int(m['nproc']) * 1000} / that figure is the most "
        "requests/s the server could answer if it had the machine to itself.",
        "",
        "| database | webhook | what it runs | concurrency | requests/s | p50 ms | p95 ms | p99 ms | max ms "
        "| server CPU ms per request | bad answers |",
        "| --- | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    for run in report["runs"]:
        hooks = {h.name: h for h in run["http"]["hooks"]}
        for (name, concurrency), f in run["http"]["results"].items():
            hook = hooks[name]
            bad = sum(f["bad"].values())
            lines.append(
                f"| {run['kind']} | `{name}` (`POST {hook.path.split('?')[0]}`) | {hook.what} | {concurrency} "
                f"| {f['rps']:.0f} | {f['p50']:.1f} | {f['p95']:.1f} | {f['p99']:.1f} | {f['max']:.1f} "
                f"| {f['server_cpu_ms']:.1f} | {bad}{' ' + str(f['bad']) if bad else ''} |"
            )
    lines += ["", "URLs (as the hotline's TwiML gives them; `{day}` and `{key}` cycle over the offered days):", ""]
    for hook in first["hooks"]:
        extra = f", form `Digits={hook.params['Digits']}`" if hook.params else ""
        lines.append(f"- {hook.name}: `POST {hook.path}`{extra}")
    lines += ["", "## Checks", ""]
    lines += [f"- {check}" for check in report["checks"]]
    for run in report["runs"]:
        if run["domain"]["plan"]:
            lines += [
                "",
                f"## The free_days query on {run['kind']} (EXPLAIN ANALYZE, once, after the runs)",
                "",
                "```",
                run["domain"]["plan"],
                "```",
            ]
    lines.append("")
    return "\n".join(lines)


# ---- the run -----------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--requests", type=int, default=2000, help="measured requests per webhook (default 2000)")
    p.add_argument("--warmup", type=int, default=200, help="warm-up requests per webhook (default 200)")
    p.add_argument(
        "--concurrency",
        type=lambda text: sorted({int(n) for n in text.split(",")}),
        default=[1, 8],
        help="concurrent callers, one run for each (default 1,8: one at a time, and as many as the server's "
        "2 workers x 4 threads)",
    )
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2, as bench/webhooks.py)")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per worker (default 4)")
    p.add_argument("--domain-runs", type=int, default=500, help="timed runs of each domain function (default 500)")
    p.add_argument("--databases", default="postgresql,sqlite", help="which, in order (default %(default)s)")
    p.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to create the benchmark's database in (default %(default)s)",
    )
    p.add_argument("--database-name", default="hotline_bench_free_places", help="created, then dropped")
    p.add_argument("--redis", default="redis://127.0.0.1:6379/11", help="the machine's Redis (default %(default)s)")
    p.add_argument("--redis-prefix", default="hotline-bench-free-places:")
    p.add_argument("--seed", type=int, default=14)
    p.add_argument("--results", type=Path, default=BENCH / "results", help="where the results go")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(
        [".venv/bin/python", "bench/free_places.py", *(argv if argv is not None else sys.argv[1:])]
    )
    settings = settings_module.load(ROOT / "config.yaml")
    client = redis.Redis.from_url(args.redis, decode_responses=True, socket_timeout=5)
    client.ping()
    common.delete_redis_keys(client, args.redis_prefix)
    scratch = Path(tempfile.mkdtemp(prefix="hotline-bench-free-places-"))
    load_before = common.loadavg()
    code_before = code_version()
    runs, checks = [], []
    pg_url = None
    try:
        for kind in [k.strip() for k in args.databases.split(",") if k.strip()]:
            if kind == "postgresql":
                if not common.postgres_answers(args.postgres):
                    print(f"PostgreSQL does not answer at {args.postgres}: skipped", file=sys.stderr)
                    continue
                common.admin(
                    args.postgres,
                    f'DROP DATABASE IF EXISTS "{args.database_name}" WITH (FORCE)',
                    f'CREATE DATABASE "{args.database_name}"',
                )
                pg_url = sa.make_url(args.postgres).set(database=args.database_name)
                url, name = pg_url.render_as_string(hide_password=False), "PostgreSQL"
            elif kind == "sqlite":
                url, name = f"sqlite:///{scratch / 'hotline.db'}", "SQLite"
            else:
                raise CheckFailed(f"--databases: unknown {kind!r} (postgresql, sqlite)")
            print(f"{name}: building the data set ...")
            data = build(name, url, settings, args.seed)
            print(f"  {data.facts}")
            domain = time_domain(data, settings, args.domain_runs)
            for fn, t in domain["timings"].items():
                print(f"  {name} {fn}: p50 {t['p50']:.2f} ms, p99 {t['p99']:.2f} ms")
            http = measure_http(args, data, domain, client, scratch)
            bad = sum(sum(f["bad"].values()) for f in http["results"].values())
            reconnects = sum(f["reconnects"] for f in http["results"].values())
            checks.append(
                f"{name}: data set consistent (sessions' booked counters = {APPOINTMENTS:,} booked appointments, "
                "no session over its bookable places); the days webhook reads out exactly the days free_days "
                f"returns ({', '.join(domain['offered'])}); answers that were not the expected TwiML menu: {bad}; "
                f"client reconnects: {reconnects}; server log lines with ERROR or a traceback: "
                f"{len(http['server_errors'])}"
                + (f" (first: `{http['server_errors'][0][:200]}`)" if http["server_errors"] else "")
                + "."
            )
            runs.append(
                {
                    "kind": name,
                    "version": common.database_version(url),
                    "data": data.facts,
                    "domain": domain,
                    "http": http,
                }
            )
            if kind == "postgresql":
                common.admin(args.postgres, f'DROP DATABASE IF EXISTS "{args.database_name}" WITH (FORCE)')
                pg_url = None
            common.delete_redis_keys(client, args.redis_prefix)
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        common.delete_redis_keys(client, args.redis_prefix)
        if pg_url is not None:
            common.admin(args.postgres, f'DROP DATABASE IF EXISTS "{args.database_name}" WITH (FORCE)')
        shutil.rmtree(scratch, ignore_errors=True)
    if not runs:
        print("no database to measure", file=sys.stderr)
        return 1
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": {**common.machine(), "load_before": load_before, "load_after": common.loadavg()},
        "code": code_note(code_before),
        "versions": {name: common.package_version(name) for name in ("sqlalchemy", "gunicorn", "flask")},
        "redis": common.redis_version(client),
        "args": vars(args),
        "held_back": int(CAPACITY * settings.booking.walk_in_share),
        "runs": runs,
        "checks": checks,
    }
    common.write_result(args.results / "free_places.md", markdown(report))
    print(f"written to {args.results / 'free_places.md'}")
    failed = any(f["bad"] for run in runs for f in run["http"]["results"].values())
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
