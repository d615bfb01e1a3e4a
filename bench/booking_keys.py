"""How much a caller must press and hear to get things done by phone: keys pressed and
seconds of prompts heard in full, per task, through the carrier emulator.
Writes bench/results/booking_keys.md.

    .venv/bin/python bench/booking_keys.py          # REDIS_URL or redis://127.0.0.1:6379/15

The hotline is served over HTTP (SQLite with the demo hospital, the machine's Redis under a
key prefix of its own) and the emulator rings it.  A scripted caller acts as a person who
knows what they want but not the menus: at each prompt it listens to the end (no barge-in,
so every prompt is "heard in full") and presses the key said for the first thing on its list
of wants that the prompt offers ("张志远……请按1" → 1), else the first key offered (the first
day, the first session); when asked to key in a birthday, it does.  The same caller runs
against any version of the menus, so the figures compare before and after.

Seconds are the emulator's speaking model (emulator/twiml.py: 0.25 s a Chinese character,
0.4 s an English word), the same one the menu check uses.  "To get there" counts every
prompt heard before the last key; "the answer" is what is said after it (the booking
reference, the hours), which the caller came for.  Keys count every key pressed, a
birthday's four digits and its # included.

Tasks, as Ms Wang (a known caller: her number is on her file; born 2 May, Mandarin):
- book:        a specialist she names (Dr Zhang Zhiyuan, cardiology), his first free session;
- book again:  the same, a week after an appointment with him (a returning patient);
- first free:  cardiology's first available doctor;
- cancel:      her next appointment;
- hours:       cardiology's opening hours (no identification needed);
- book, said:  Dr Zhang's name said at the main menu, then his page's booking key;
- hours, said: "心内科" said at the main menu.
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
import threading
import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402

import settings as settings_module  # noqa: E402
from bench import common  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "booking_keys.md"
OPENED = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))  # a Tuesday morning, as the tests
MS_WANG = "13800138000"
BIRTHDAY = "0502#"
MAX_STEPS = 20


@dataclass(frozen=True)
class Task:
    name: str
    wants: tuple[str, ...]  # what the caller listens for, most wanted first
    done: str  # the answer that ends the task
    history: str = ""  # 'past' (an appointment with D001 a week ago) or 'upcoming' (one booked)
    say: str = ""  # said at the main menu, once told "you can also say what you need"


TASKS = (
    Task("book", ("张志远", "心血管内科", "预约挂号", "预约专家门诊", "确认预约"), "预约成功"),
    Task("book again", ("张志远", "心血管内科", "预约挂号", "预约专家门诊", "确认预约"), "预约成功", "past"),
    Task("first free", ("最早可预约", "心血管内科", "预约挂号", "预约专家门诊", "确认预约"), "预约成功"),
    Task("cancel", ("确认取消", "取消预约", "取消或更改", "查询取消"), "预约已取消", "upcoming"),
    Task("hours", ("心血管内科", "科室信息"), "门诊时间"),
    Task("book, said", ("预约这位医生", "确认预约"), "预约成功", say="张志远"),
    Task("hours, said", (), "门诊时间", say="心内科"),
)


@dataclass
class Run:
    task: str
    keys: str
    seconds_to_get_there: float
    seconds_barging_in: float  # the same, pressing as soon as the option wanted is said
    seconds_of_answer: float
    reached: bool
    path: list[str]


def key_for(prompt: str, wants: tuple[str, ...]) -> tuple[str, int] | None:
    """The key said for the first wanted thing the prompt offers, else the first key offered,
    and where in the prompt it was said (for a caller who presses as soon as they hear it)."""
    for wanted in wants:
        found = re.search(re.escape(wanted) + r"[^。]*?请按(\d)", prompt)
        if found:
            return found.group(1), found.end()
    first = re.search(r"请按(\d)", prompt)
    return (first.group(1), first.end()) if first else None


def seconds(utterances) -> float:
    return sum(u.seconds for u in utterances if u.kind == "say")


def seconds_until(utterances, end: int) -> float:
    """Seconds heard until character `end` of the prompt (its utterances joined by spaces):
    a caller who barges in as soon as their option has been said."""
    from emulator.twiml import speaking_seconds

    said, offset = 0.0, 0
    for u in (u for u in utterances if u.kind == "say"):
        if offset + len(u.text) >= end:
            return said + speaking_seconds(u.text[: end - offset])
        said += u.seconds
        offset += len(u.text) + 1
    return said


def play(carrier, number: str, task: Task) -> Run:
    call = carrier.dial(to=number, from_=MS_WANG)
    keys, path, heard_before, barging_in = "", [], 0.0, 0.0
    for _ in range(MAX_STEPS):
        heard = call.take_heard()
        text = " ".join(u.text for u in heard if u.kind == "say")
        if task.done in text:
            call.hangup()
            return Run(
                task.name, keys, round(heard_before, 1), round(barging_in, 1), round(seconds(heard), 1), True, path
            )
        heard_before += seconds(heard)
        if call.ended or call.waiting_for != "gather":
            break
        if task.say and not path:
            end = text.index("说出您的需要") + len("说出您的需要。")
            barging_in += seconds_until(heard, end)
            path.append(f"said {task.say} after {seconds(heard):.1f} s ({text[:24]}…)")
            call.speak(task.say)
            continue
        if call.gather.get("finishOnKey") == "#" and "出生" in text:
            press, end = BIRTHDAY, text.index("。", text.index("出生")) + 1  # once told what to key
        else:
            found = key_for(text, task.wants)
            if found is None:
                break
            press, end = found
        barging_in += seconds_until(heard, end)
        keys += press
        path.append(f"{press} after {seconds(heard):.1f} s ({text[:24]}…)")
        call.press(press)
    if not call.ended:
        call.hangup()
    return Run(task.name, keys, round(heard_before, 1), round(barging_in, 1), 0.0, False, path)


def prepare(db_url: str, history: str, now: datetime, rules) -> None:
    """Ms Wang's history for the task: an appointment with Dr Zhang (D001) a week before the
    call (booked then, on the clock of then), or one coming up."""
    from sqlalchemy import select

    from records import booking
    from records.db import make_engine, make_sessions
    from records.models import Doctor, Patient

    engine = make_engine(db_url)
    with make_sessions(engine).begin() as db:
        patient = db.scalar(select(Patient).where(Patient.mrn == "M00000001"))
        doctor = db.scalar(select(Doctor).where(Doctor.code == ("D001" if history == "past" else "D002")))
        then = now - timedelta(days=7) if history == "past" else now
        day = booking.free_days(db, then, rules, doctor_ids=[doctor.id])[0]
        session = booking.free_sessions(db, day, then, rules, doctor_ids=[doctor.id])[0]
        result = booking.book(db, patient_id=patient.id, session_id=session.id, now=then, rules=rules)
        assert result.appointment is not None, result.outcome
    engine.dispose()


def run_task(task: Task, redis_url: str) -> Run:
    """One task on a fresh copy of the demo hospital (nothing left from the task before)."""
    from werkzeug.serving import make_server

    from app import create_app
    from emulator import Carrier
    from records import loader
    from records.db import make_engine, make_sessions, migrate

    workdir = Path(tempfile.mkdtemp(prefix="booking-keys-"))
    database_url = f"sqlite:///{workdir / 'hotline.db'}"
    engine = make_engine(database_url)
    logging.getLogger("alembic").setLevel(logging.WARNING)
    migrate(engine)
    # A returning patient calls a week after their visit: the hospital's sessions start a week
    # earlier, so the visit was real and the call still has two weeks of sessions ahead.
    opened = OPENED + timedelta(days=7) if task.history == "past" else OPENED
    start = opened - timedelta(days=7) if task.history == "past" else opened
    with make_sessions(engine).begin() as session:
        demo = loader.read(ROOT / "records" / "demo" / "hospital.yaml")
        loader.load(session, demo, today=start.date(), days_ahead=(opened - start).days + 14, walk_in_share=0.2)
    engine.dispose()
    carrier = Carrier(account_sid="AC" + "1" * 32, auth_token="bench-token")
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    environ = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_ACCOUNT_SID": carrier.account_sid,
    }
    settings = settings_module.load(ROOT / "config.yaml", environ=environ)
    if task.history:
        prepare(database_url, task.history, opened, settings.booking)
    origin = carrier.clock.time()
    app = create_app(settings, clock=lambda: opened + timedelta(seconds=carrier.clock.time() - origin))
    app.logger.disabled = True
    for name in ("werkzeug", "alembic"):
        logging.getLogger(name).setLevel(logging.WARNING)
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = f"http://127.0.0.1:{http.server_port}"
    carrier.add_number(
        settings.hospital.main_number, voice_url=f"{server}/ivr/voice", status_callback=f"{server}/ivr/status"
    )
    try:
        return play(carrier, settings.hospital.main_number, task)
    finally:
        http.shutdown()
        app.extensions["hotline"].engine.dispose()
        common.delete_redis_keys(redis.Redis.from_url(redis_url), prefix)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--label", default="", help="a word for the report's title (before, after)")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    runs = [run_task(task, redis_url) for task in TASKS]
    command = ".venv/bin/python bench/booking_keys.py " + " ".join(sys.argv[1:])
    lines = [
        f"# Keys and prompt seconds per task{' (' + args.label + ')' if args.label else ''}",
        "",
        f"Command: `{command.strip()}`  ",
        f"Run: {common.now()} on {common.machine_line(load_when='at the end')}.",
        "",
        "| task | keys | keys pressed | s heard to get there | s barging in | s of the answer | reached |",
        "|---|---:|---|---:|---:|---:|---|",
    ]
    for run in runs:
        lines.append(
            f"| {run.task} | {len(run.keys)} | `{run.keys}` | {run.seconds_to_get_there} | "
            f"{run.seconds_barging_in} | {run.seconds_of_answer} | {'yes' if run.reached else '**no**'} |"
        )
    lines += ["", "Paths (each key, after how many seconds of which prompt):", ""]
    for run in runs:
        lines.append(f"- {run.task}: " + " / ".join(run.path))
    common.write_result(RESULTS, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
