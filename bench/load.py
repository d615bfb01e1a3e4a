"""Load test: many concurrent callers play whole calls through the local carrier
emulator against the hotline served by gunicorn (several workers), with real
PostgreSQL and Redis and an RQ worker sending the texts.  Writes
bench/results/load.md (and .json).

    .venv/bin/python bench/load.py                       # 100 callers for 60 s
    .venv/bin/python bench/load.py --callers 200 --duration 120
    .venv/bin/python bench/load.py --soak                # 10 minutes, memory of web and worker processes

What one run does:
 1. a fresh PostgreSQL database with the demo hospital (`flask --app app seed --demo`),
    the machine's Redis under a key prefix of its own (removed afterwards), and a
    copy of config.yaml whose seats are open around the clock (so '0' reaches people
    whatever the hour the benchmark runs) and whose call limits never turn a caller away;
 2. gunicorn (gunicorn.conf.py; `--workers`, gthread `--threads`), an RQ worker
    (`flask --app app worker`) and a carrier emulator serving the REST API the app
    sends its texts through;
 3. `--callers` callers, each a thread with its own emulator `Carrier` (the emulator
    drives one call at a time per carrier), spread over `--processes` processes so the
    load generator's own Python does not queue behind one GIL.  Each caller dials,
    plays a call from the mix below, pausing `--think` seconds (real time) before each
    key or utterance as a person listening to the prompt would, hangs up, and dials
    again, until `--duration` is over.  The mix: information (introduction, featured
    services), departments by key and by name, doctor lookup (by department, by
    name), booking by a demo patient (identification by birth date, the first
    available doctor, whose earliest session is read back at once, confirm), and '0': a person
    (answered after a few seconds, a conversation, hang up) or, with the agent
    seats, the queue;
 4. every webhook request is timed at the carrier (the full HTTP round trip) with
    its status; errors are: a non-2xx answer, a carrier error (no TwiML, a timeout),
    the apology ('something went wrong'), or a call that ended before its caller
    was done;
 5. afterwards: every call dialled has exactly one call record, completed, with
    its events and menu path, and no record the load did not make; no event stored
    twice; no clinic session has more places booked than it has, and each session's
    booked count equals its active appointments.
 6. the references (`--reference-seconds`, 20 by default): the bare Flask+twilio app and
    the minimal signed webhook (bench/baseline_app.py, bench/minimal_app.py), each under
    the same gunicorn command once the hotline's processes have stopped, are sent the
    webhooks the run's calls sent (paths and fields, calls of the same length) at the
    rate the hotline served, by as many clients as callers, signed and timed by the
    emulator's own code; their latency and the hotline's ratio to each are reported;
 7. --soak: the same for 10 minutes, sampling every 10 s the memory (RSS and PSS)
    of the gunicorn master and workers and of the RQ worker; reports growth from
    the end of the first minute to the end.
 8. --tracemalloc [FRAMES]: what grows inside each gunicorn worker (bench/memtrace.py,
    started by gunicorn.conf.py's post_fork only then): at 10 s, 60 s, midway and the
    end every worker records its RSS by kind of mapping, pymalloc's arenas and glibc
    malloc's heaps, and (FRAMES > 0, default 12) a tracemalloc snapshot after a
    gc.collect(); bench/results/memory.md (memory-allocators.md with 0) compares them.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shlex
import signal
import subprocess
import sys
import tempfile
import threading
import time
import urllib.error
import urllib.request
import uuid
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

import redis
import requests
import sqlalchemy as sa
import yaml

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench import common, memtrace  # noqa: E402
from emulator import Carrier  # noqa: E402
from emulator.webhooks import Webhooks  # noqa: E402
from records.patients import to_e164  # noqa: E402

VENV_BIN = Path(sys.executable).parent
ACCOUNT_SID = "AC" + "c" * 32
AUTH_TOKEN = "load-auth-token"
APOLOGIES = ("对不起，系统暂时出现问题", "Sorry, something went wrong")
TARGET_P99_MS = 100.0


# ---- the callers -------------------------------------------------------------------------------


@dataclass(frozen=True)
class Caller:
    number: str
    birthday_keys: str | None  # MMDD#, for a number that belongs to exactly one patient


def demo_callers() -> tuple[list[Caller], list[Caller]]:
    """(patients whose number is theirs alone, strangers)."""
    demo = yaml.safe_load((ROOT / "records" / "demo" / "hospital.yaml").read_text(encoding="utf-8"))
    owners: dict[str, list[dict]] = {}
    for patient in demo["patients"]:
        for phone in patient.get("phones", []):
            owners.setdefault(to_e164(str(phone), "CN"), []).append(patient)
    patients = []
    for number, people in owners.items():
        if number and len(people) == 1:
            born = people[0]["birth_date"]
            patients.append(Caller(number, f"{born.month:02d}{born.day:02d}#"))
    strangers = [Caller(f"+86135{n:08d}", None) for n in range(1000, 1600)]
    strangers += [Caller("anonymous", None), Caller("+266696687", None)]
    return patients, strangers


DEPARTMENTS_SPOKEN = ("心内科", "呼吸科", "消化内科", "骨科", "儿科", "眼科")
DOCTORS_SPOKEN = ("张志远",)


def scenario(rng: random.Random, patients: list[Caller], strangers: list[Caller]) -> tuple[str, Caller, list]:
    """One call of the mix: its name, who calls, and what they do (in order)."""
    kind = rng.choices(["information", "departments", "doctors", "booking", "person"], weights=[20, 20, 20, 20, 20])[0]
    caller = rng.choice(patients) if kind == "booking" or rng.random() < 0.4 else rng.choice(strangers)
    if kind == "information":
        steps = rng.choice([
            [("press", "1"), ("press", "*"), ("press", "#")],
            # The introduction's 1: featured services, one of them, back (main menu's 4 is complaints).
            [("press", "1"), ("press", "1"), ("press", str(rng.randint(1, 3))), ("press", "#")],
            [("silence",), ("press", "9"), ("press", "1")],
        ])  # fmt: skip
    elif kind == "departments":
        steps = rng.choice([
            [("press", "2"), ("press", str(rng.randint(1, 7))), ("press", "1")],
            [("speak", "科室"), ("speak", rng.choice(DEPARTMENTS_SPOKEN)), ("press", "*")],
            [("press", "2"), ("press", "8"), ("press", str(rng.randint(1, 7)))],
        ])  # fmt: skip
    elif kind == "doctors":
        steps = rng.choice([
            [("press", "3"), ("press", "1"), ("press", str(rng.randint(1, 7))), ("press", "1")],
            [("press", "2"), ("speak", "心内科"), ("press", "1"), ("speak", rng.choice(DOCTORS_SPOKEN))],
        ])  # fmt: skip
    elif kind == "booking":
        steps = [
            ("press", "5"),
            ("press", caller.birthday_keys),
            ("press", "1"),
            ("speak", rng.choice(DEPARTMENTS_SPOKEN)),
            ("press", "9"),
            ("press", "1"),
        ]  # fmt: skip  (9, the first available doctor, reads back the earliest session)
    else:
        steps = [("press", rng.choice(["1", "2"])), ("press", "0"), ("talk", rng.uniform(20, 120))]
    return kind, caller, steps


def _path(url: str) -> str:
    path = url.split("://", 1)[-1].split("/", 1)[-1].split("?", 1)[0]
    return "/" + path


def play(carrier_factory, hotline_number: str, rng, patients, strangers, think: tuple[float, float]) -> dict:
    """One whole call; returns what happened to it."""
    timings: list[tuple[str, float, int | None, bool]] = []
    sent: list[tuple[str, dict]] = []  # each webhook's path and fields, replayed to the references
    failures: list[str] = []
    carrier = carrier_factory()
    original = carrier.webhooks._once

    def timed(session, method, url, params):
        started = time.perf_counter()
        result = original(session, method, url, params)
        # The fourth: whether the request carried the caller's keys or speech and the step took
        # them (no apology): bench/faults.py checks that each one left its event.
        took = bool(params) and ("Digits" in params or "SpeechResult" in params)
        sent.append((_path(url), dict(params)))
        timings.append(
            (
                _path(url),
                time.perf_counter() - started,
                result.status,
                took and not any(apology in result.text for apology in APOLOGIES),
            )
        )
        if result.status is None or result.status >= 400:
            failures.append(f"{method} {_path(url)}: {result.status or result.reason[:160]}")
        return result

    carrier.webhooks._once = timed
    kind, caller, steps = scenario(rng, patients, strangers)
    started = time.time()
    problems: list[str] = []
    call = carrier.dial(to=hotline_number, from_=caller.number)
    heard = [call.take_text()]
    for action in steps:
        if call.ended:
            problems.append(f"the call ended before the caller was done ({kind}, before {action})")
            break
        time.sleep(rng.uniform(*think))
        if action[0] == "press":
            call.press(action[1])
        elif action[0] == "speak":
            call.speak(action[1], confidence=0.9)
        elif action[0] == "silence":
            call.silence()
        elif action[0] == "talk":  # '0': a person answers (bridge), or the queue plays
            call.wait(action[1])
        heard.append(call.take_text())
    if not call.ended:
        call.hangup()
    carrier.run_pending()
    said = " ".join(heard)
    if any(apology in said for apology in APOLOGIES):
        problems.append(f"the caller heard the apology ({kind})")
    problems += [f"{failure} ({kind})" for failure in failures]
    if call.errors:
        problems.append(f"carrier errors {sorted(set(call.errors))} ({kind})")
    return {"sid": call.sid, "kind": kind, "started": started, "ended": time.time(), "timings": timings,
            "sent": sent, "problems": problems, "status": call.status, "from": call.from_, "to": call.to,
            **{name: None if getattr(call, name) is None else carrier.clock.at(getattr(call, name)).timestamp()
               for name in ("created", "answered_at", "ended_at")}}  # fmt: skip


# Where each call is reported as it ends, for a benchmark that needs to know at once
# (bench/faults.py: the carrier's Calls API).  A multiprocessing queue set before the caller
# processes are forked, which inherit it.
REPORT = None


def in_threads(run, threads: int) -> None:
    """run(0) ... run(threads - 1), each in a thread of its own, until all are done."""
    workers = [threading.Thread(target=run, args=(t,), daemon=True) for t in range(threads)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join()


def caller_process(index: int, threads: int, deadline: float, config: dict) -> list[dict]:
    """One process of the load generator: `threads` callers until the deadline."""
    patients, strangers = demo_callers()
    operator = config["operator"]
    results: list[dict] = []
    lock = threading.Lock()

    def factory() -> Carrier:
        carrier = Carrier(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
        carrier.add_number(config["number"], voice_url=config["url"] + "/ivr/voice",
                           status_callback=config["url"] + "/ivr/status", status_events=("completed",))  # fmt: skip
        carrier.set_endpoint(operator, "answer", after=random.uniform(2, 10))
        return carrier

    def run(thread: int) -> None:
        rng = random.Random(f"{config['seed']}-{index}-{thread}")
        time.sleep(rng.uniform(0, config["think"][1]))  # callers do not all ring at the same instant
        while time.time() < deadline:
            try:
                outcome = play(factory, config["number"], rng, patients, strangers, config["think"])
            except Exception as exc:  # the load generator's own failure is still an error of the run
                now = time.time()
                outcome = {"sid": None, "kind": "?", "started": now, "ended": now, "timings": [], "status": "?",
                           "problems": [f"caller crashed: {type(exc).__name__}: {exc}"]}  # fmt: skip
            with lock:
                results.append(outcome)
            if REPORT is not None and outcome["sid"]:
                REPORT.put({k: v for k, v in outcome.items() if k not in ("timings", "sent", "problems")})

    in_threads(run, threads)
    return results


# ---- the references: the same webhooks, at the same rate, to the bare and the minimal app ---------

# The two references every benchmark of ours sets beside the hotline (bench/README.md): a bare
# Flask+twilio menu, and the least a signed, stateful webhook does (one Redis pipeline).
REFERENCES = (("bare Flask+twilio", "bench.baseline_app:app"), ("minimal signed webhook", "bench.minimal_app:app"))


def reference_process(index: int, threads: int, deadline: float, config: dict) -> list[tuple[str, float, int | None]]:
    """`threads` clients replaying the hotline run's webhooks (the same paths and fields, in
    calls of the same length) to a reference app, at the hotline run's rate per caller, each
    signed and timed by the emulator's own request code, as the callers' were."""
    webhooks = Webhooks(AUTH_TOKEN)
    calls, interval = config["calls"], config["interval"]
    timed: list[tuple[str, float, int | None]] = []
    lock = threading.Lock()

    def run(thread: int) -> None:
        rng = random.Random(f"{config['seed']}-reference-{index}-{thread}")
        time.sleep(rng.uniform(0, interval))
        while time.time() < deadline:
            session = requests.Session()  # a session per call, as the carrier keeps
            for path, params in rng.choice(calls):
                if time.time() >= deadline:
                    break
                started = time.perf_counter()
                result = webhooks._once(session, "POST", config["url"] + path, params)
                with lock:
                    timed.append((path, time.perf_counter() - started, result.status))
                time.sleep(rng.uniform(0.5, 1.5) * interval)
            session.close()

    in_threads(run, threads)
    return timed


def run_references(args, gunicorn_cmd: list[str], env: dict, scratch: Path, calls: list[dict], rate: float) -> dict:
    """Each reference under the hotline's gunicorn command, given the hotline run's webhooks
    for `--reference-seconds` at the rate (requests/s) the hotline served, by as many clients
    as there were callers.  Its latency beside the hotline's is the run's reference."""
    replay = [c["sent"] for c in calls if c.get("sent")]
    interval = args.callers / rate if rate else 1.0
    out = {}
    for label, app_path in REFERENCES:
        port = common.free_port()
        command = [*gunicorn_cmd[:-1], app_path]
        command[command.index("-b") + 1] = f"127.0.0.1:{port}"
        url = f"http://127.0.0.1:{port}"
        reference_env = {**env, "PUBLIC_BASE_URL": url}  # the minimal app checks signatures against it
        log = scratch / f"reference-{app_path.split('.')[1].split(':')[0]}.log"
        server = start(command, reference_env, log)
        load_before = common.loadavg()
        try:
            wait_until_answers(url, server, log)
            deadline = time.time() + args.reference_seconds
            config = {"url": url, "calls": replay, "interval": interval, "seed": args.seed}
            per_process = [args.callers // args.processes + (1 if i < args.callers % args.processes else 0)
                           for i in range(args.processes)]  # fmt: skip
            with ProcessPoolExecutor(max_workers=args.processes) as pool:
                futures = [pool.submit(reference_process, i, n, deadline, config) for i, n in enumerate(per_process)]
                timed = [t for future in futures for t in future.result()]
        finally:
            stop(server)
        measured = [t for t in timed if t[2] is not None and t[2] < 400]
        seconds = [t[1] for t in measured]
        out[label] = {"app": app_path, "n": len(measured), "errors": len(timed) - len(measured),
                      "load": f"{load_before.split()[0]} -> {common.loadavg().split()[0]}",
                      "requests_per_s": len(timed) / args.reference_seconds,
                      "p50": 1000 * common.percentile(seconds, 0.50), "p95": 1000 * common.percentile(seconds, 0.95),
                      "p99": 1000 * common.percentile(seconds, 0.99)}  # fmt: skip
    return out


# ---- the servers ---------------------------------------------------------------------------------


def start(command: list[str], env: dict, log: Path) -> subprocess.Popen:
    return subprocess.Popen(command, cwd=ROOT, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                            start_new_session=True)  # fmt: skip


def stop(process: subprocess.Popen) -> None:
    if process.poll() is not None:
        return
    try:
        os.killpg(process.pid, signal.SIGTERM)
        process.wait(timeout=20)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    except ProcessLookupError:
        pass


def wait_until_answers(url: str, process: subprocess.Popen, log: Path, seconds: float = 60) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"gunicorn exited: {log.read_text()[-3000:]}")
        try:
            urllib.request.urlopen(url + "/ivr/voice", timeout=2)
            return  # a reference app answers anyone
        except urllib.error.HTTPError:
            return  # 403 unsigned: the app answers
        except OSError:
            time.sleep(0.2)
    raise SystemExit(f"gunicorn did not answer within {seconds} s")


def children(pid: int) -> list[int]:
    """From /proc, not `ps`: no subprocess from a thread while the load generator forks."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return sorted(found)


def memory_kib(pid: int) -> tuple[int, int]:
    """(RSS, PSS) in KiB; PSS shares the pages workers share with the master."""
    try:
        rss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/status").read_text().splitlines()
                   if line.startswith("VmRSS:"))  # fmt: skip
        pss = next(int(line.split()[1]) for line in Path(f"/proc/{pid}/smaps_rollup").read_text().splitlines()
                   if line.startswith("Pss:"))  # fmt: skip
        return rss, pss
    except (OSError, StopIteration):
        return 0, 0


def sample_memory(gunicorn: subprocess.Popen, worker: subprocess.Popen, stop_at: float, every: float, out: list):
    while time.time() < stop_at:
        try:
            workers = children(gunicorn.pid)
        except Exception as exc:  # a sample lost is reported, never a silent empty table
            print(f"memory sample failed: {exc!r}", file=sys.stderr, flush=True)
            time.sleep(every)
            continue
        row = {"t": time.time(), "master": memory_kib(gunicorn.pid), "workers": [memory_kib(p) for p in workers],
               "worker_pids": workers, "rq": memory_kib(worker.pid)}  # fmt: skip
        out.append(row)
        time.sleep(every)


SNAPSHOT_AT = {"10s": 10, "60s": 60}  # and "mid", halfway from 60 s to the end, and "end"


def trigger_snapshots(folder: Path, started: float, duration: int) -> None:
    """Ask every worker for a snapshot at the same moments as the memory samples' window."""
    moments = {**SNAPSHOT_AT, "mid": (60 + duration) / 2, "end": duration}
    for label, at in sorted(moments.items(), key=lambda kv: kv[1]):
        time.sleep(max(0.0, started + at - time.time()))
        memtrace.trigger(folder, label)


def wait_for_snapshots(folder: Path, label: str, workers: int, seconds: float = 120) -> None:
    deadline = time.monotonic() + seconds
    while len(list(folder.glob(f"*-{label}.json"))) < workers and time.monotonic() < deadline:
        time.sleep(1)


def memory_report_name(frames: int) -> str:
    arena_max = os.environ.get("MALLOC_ARENA_MAX")
    return "memory" + ("" if frames else "-allocators") + (f"-arena-max-{arena_max}" if arena_max else "")


def memory_header(report: dict, frames: int) -> list[str]:
    m = report["machine"]
    workers = report["memory"].get("workers", {})
    return [
        "# What grows in a gunicorn worker: tracemalloc and the allocators, per worker",
        "",
        f"`.venv/bin/python {report['command']}` on {report['date']}; machine: nproc {m['nproc']} ({m['cpu']}), "
        f"Linux {m['kernel']}, Python {m['python']}, load average before {m['load_before']}, after {m['load']}.",
        f"Server: `{report['gunicorn']}`; {report['callers']} callers for {report['duration']} s, "
        f"{report['calls']} calls, errors {report['errors']}; snapshots at 10 s, 60 s, midway "
        f"({(60 + report['duration']) / 2:g} s) and the end ({report['duration']} s) of the load; "
        + (
            f"tracemalloc tracing {frames} frames in each worker since its fork (which slows the workers: this "
            "run's latency is not comparable with the others')."
            if frames
            else "tracemalloc off (the allocators' counts only, pymalloc's included)."
        ),
        f"MALLOC_ARENA_MAX: {os.environ.get('MALLOC_ARENA_MAX', 'not set (glibc: up to 8 per core)')}. "
        f"The load's own sampler (every 10 s, as in the soak): the workers' RSS summed "
        f"{workers.get('rss_mib')} MiB from {report['memory'].get('from_s')} s to {report['memory'].get('to_s')} s, "
        f"{workers.get('rss_growth_mib')} MiB, {workers.get('rss_growth_second_half_mib')} of it from "
        f"{report['memory'].get('middle_s')} s.",
    ]


# ---- the checks afterwards ----------------------------------------------------------------------------


def check_records(engine: sa.Engine, dialled: set[str], wait_seconds: float = 300) -> dict:
    """Every call dialled: exactly one complete record (records may land a moment after the
    status callback when a worker writes them, so wait for them a while)."""
    waited_from = time.monotonic()
    deadline = waited_from + wait_seconds
    while True:
        with engine.connect() as c:
            rows = c.execute(sa.text(
                "SELECT r.call_sid, r.status, r.ended_at IS NOT NULL, r.menu_path, "
                "(SELECT count(*) FROM call_events e WHERE e.call_id = r.id) FROM call_records r"
            )).all()  # fmt: skip
        by_sid: dict[str, list] = {}
        for row in rows:
            by_sid.setdefault(row[0], []).append(row)
        missing = sorted(dialled - by_sid.keys())
        incomplete = sorted(
            sid
            for sid in dialled & by_sid.keys()
            if not all(r[1] == "completed" and r[2] and r[3] and r[4] > 0 for r in by_sid[sid])
        )
        if (not missing and not incomplete) or time.monotonic() > deadline:
            break
        time.sleep(2)
    with engine.connect() as c:
        doubled_events = c.execute(sa.text(
            "SELECT count(*) FROM (SELECT call_id, sequence FROM call_events GROUP BY call_id, sequence "
            "HAVING count(*) > 1) d")).scalar()  # fmt: skip
        overbooked = c.execute(
            sa.text("SELECT count(*) FROM clinic_sessions WHERE booked + held_back > capacity OR booked < 0")
        ).scalar()
        mismatched = c.execute(sa.text(
            "SELECT count(*) FROM clinic_sessions s WHERE s.booked <> (SELECT count(*) FROM appointments a "
            "WHERE a.session_id = s.id AND a.status = 'booked')")).scalar()  # fmt: skip
        booked = c.execute(sa.text("SELECT count(*) FROM appointments WHERE status = 'booked'")).scalar()
    doubled_records = sum(1 for sid in dialled if len(by_sid.get(sid, [])) > 1)
    extra = sorted(by_sid.keys() - dialled)
    return {"landed_after_s": round(time.monotonic() - waited_from, 1),
            "dialled": len(dialled), "records": len(rows), "missing": missing[:10], "missing_n": len(missing),
            "incomplete": incomplete[:10], "incomplete_n": len(incomplete), "doubled_records": doubled_records,
            "extra_n": len(extra), "doubled_events": doubled_events, "overbooked_sessions": overbooked,
            "sessions_count_mismatch": mismatched, "appointments_booked": booked}  # fmt: skip


# ---- the run -----------------------------------------------------------------------------------------


def parse_args(argv=None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--callers", type=int, default=100, help="concurrent callers (default 100)")
    p.add_argument("--duration", type=int, default=60, help="seconds of calls being started (default 60)")
    p.add_argument(
        "--warmup",
        type=int,
        default=10,
        help="seconds at the start whose calls are not in the latency figures (default 10)",
    )
    p.add_argument("--soak", action="store_true", help="10 minutes, with memory sampled every 10 s")
    p.add_argument(
        "--tracemalloc",
        type=int,
        nargs="?",
        const=memtrace.FRAMES,
        metavar="FRAMES",
        help="tracemalloc in each gunicorn worker (FRAMES deep, default 12; 0: only the "
        "allocators' counts), snapshots at 10 s, 60 s, midway and the end, compared in "
        "bench/results/memory.md (slows the workers: latency not comparable)",
    )
    p.add_argument("--think", default="1,3", help="seconds a caller listens before each input, min,max (1,3)")
    p.add_argument("--workers", type=int, default=3, help="gunicorn workers (default 3)")
    p.add_argument("--threads", type=int, default=4, help="threads per gunicorn worker (default 4)")
    p.add_argument("--record-workers", type=int, default=2, help="call-record workers (default 2)")
    p.add_argument("--processes", type=int, default=2, help="load generator processes (default 2)")
    p.add_argument(
        "--postgres", default=os.environ.get("HOTLINE_TEST_POSTGRES", "postgresql://postgres@127.0.0.1:5432/test")
    )
    p.add_argument("--redis", default="redis://127.0.0.1:6379/14")
    p.add_argument("--seed", default="load")
    p.add_argument(
        "--reference-seconds",
        type=int,
        default=20,
        help="seconds of the same webhooks, at the same rate, to each reference app afterwards (0: none; default 20)",
    )
    p.add_argument("--results", type=Path, default=BENCH / "results")
    args = p.parse_args(argv)
    if args.soak and args.duration == 60:
        args.duration = 600
    low, high = (float(x) for x in args.think.split(","))
    args.think_range = (low, high)
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)  # the REST carrier's access lines
    command_line = "bench/load.py" + ("" if not (argv or sys.argv[1:]) else " " + shlex.join(argv or sys.argv[1:]))
    load_before = common.loadavg()
    scratch = Path(tempfile.mkdtemp(prefix="hotline-load-"))
    name = f"hotline_load_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(args.postgres, isolation_level="AUTOCOMMIT")
    with admin.connect() as c:
        c.execute(sa.text(f'CREATE DATABASE "{name}"'))
    database_url = sa.make_url(args.postgres).set(database=name).render_as_string(hide_password=False)
    prefix = f"load:{uuid.uuid4().hex[:8]}:"

    def seats_always_open(config: dict) -> None:
        week = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
        config["seats"]["opening_hours"] = {day: ["00:00-24:00"] for day in week}
        config["seats"]["holidays"] = {}

    config_path, config = common.config_without_call_limits(scratch, seats_always_open)
    rest = Carrier(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    env = {**{k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL",)},
           "DATABASE_URL": database_url, "REDIS_URL": args.redis, "REDIS_PREFIX": prefix,
           "TWILIO_AUTH_TOKEN": AUTH_TOKEN, "TWILIO_ACCOUNT_SID": ACCOUNT_SID,
           "TWILIO_API_BASE": rest.serve(), "HOTLINE_CONFIG": str(config_path)}  # fmt: skip
    processes: list[subprocess.Popen] = []
    engine = sa.create_engine(database_url)
    try:
        subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "seed", "--demo"], cwd=ROOT, env=env, check=True,
                       capture_output=True)  # fmt: skip
        port = common.free_port()
        url = f"http://127.0.0.1:{port}"
        gunicorn_cmd = [
            str(VENV_BIN / "gunicorn"),
            "-w",
            str(args.workers),
            "-k",
            "gthread",
            "--threads",
            str(args.threads),
            "-b",
            f"127.0.0.1:{port}",
            "--log-level",
            "warning",
            "app:create_app()",
        ]
        traces = scratch / "tracemalloc"
        if args.tracemalloc is not None:
            traces.mkdir()
        gunicorn_env = env
        if args.tracemalloc is not None:
            gunicorn_env = {**env, memtrace.ENV: str(traces), memtrace.ENV + "_FRAMES": str(args.tracemalloc)}
        gunicorn = start(gunicorn_cmd, gunicorn_env, scratch / "gunicorn.log")
        processes.append(gunicorn)
        worker = start([str(VENV_BIN / "flask"), "--app", "app", "worker"], env, scratch / "worker.log")
        processes.append(worker)
        # The call records' own pool, as docs/records.md deploys it (one forking worker
        # falls minutes behind 100 callers on 2 cores).
        records = start([str(VENV_BIN / "flask"), "--app", "app", "worker", "--records", "--count",
                         str(args.record_workers)], env, scratch / "records.log")  # fmt: skip
        processes.append(records)
        wait_until_answers(url, gunicorn, scratch / "gunicorn.log")
        number = config["hospital"]["main_number"]
        shared = {"url": url, "number": to_e164(number, "CN"), "seed": args.seed, "think": args.think_range,
                  "operator": to_e164(config["seats"]["operator_number"], "CN")}  # fmt: skip
        memory: list[dict] = []
        started = time.time()
        deadline = started + args.duration
        sampler = threading.Thread(target=sample_memory, args=(gunicorn, worker, deadline + 5, 10.0, memory),
                                   daemon=True)  # fmt: skip
        per_process = [args.callers // args.processes + (1 if i < args.callers % args.processes else 0)
                       for i in range(args.processes)]  # fmt: skip
        print(f"{args.callers} callers for {args.duration} s against {url} ({args.workers} workers)", flush=True)
        with ProcessPoolExecutor(max_workers=args.processes) as pool:
            futures = [pool.submit(caller_process, i, n, deadline, shared) for i, n in enumerate(per_process)]
            sampler.start()  # after the pool's processes are forked
            if args.tracemalloc is not None:
                snapshots = threading.Thread(target=trigger_snapshots, args=(traces, started, args.duration),
                                             daemon=True)  # fmt: skip
                snapshots.start()
            calls = [outcome for future in futures for outcome in future.result()]
        sampler.join()
        ended = time.time()
        if args.tracemalloc is not None:
            snapshots.join()
            wait_for_snapshots(traces, "end", args.workers)
        dialled = {c["sid"] for c in calls if c["sid"]}
        checks = check_records(engine, dialled)
        report = summarise(args, calls, started, ended, checks, memory, command_line, gunicorn_cmd, load_before)
        if args.reference_seconds:
            for process in reversed(processes):  # the references get the machine the hotline had
                stop(process)
            report["references"] = run_references(
                args, gunicorn_cmd, env, scratch, calls, sum(len(c["timings"]) for c in calls) / (ended - started)
            )
        if args.tracemalloc is not None:
            memory_report = memtrace.report(traces, [("10s", "60s"), ("60s", "mid"), ("mid", "end"), ("60s", "end")],
                                            [("10s", "60s"), ("60s", "mid"), ("mid", "end")],
                                            memory_header(report, args.tracemalloc))  # fmt: skip
    finally:
        for process in reversed(processes):
            stop(process)
        rest.stop()
        engine.dispose()
        with admin.connect() as c:
            c.execute(sa.text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        admin.dispose()
        common.delete_redis_keys(redis.Redis.from_url(args.redis), prefix)
    stem = "soak" if args.soak else "load"
    if args.tracemalloc is not None:
        memory_stem = memory_report_name(args.tracemalloc)
        stem += "-" + memory_stem  # a traced run's latency is not the load's
        common.write_result(args.results / f"{memory_stem}.md", memory_report)
        print(f"snapshots kept in {traces}; comparison in {args.results / memory_stem}.md")
    common.write_result(args.results / f"{stem}.json", json.dumps(report, indent=1, default=str))
    common.write_result(args.results / f"{stem}.md", markdown(report))
    print(markdown(report))
    return 0 if report["ok"] else 1


def summarise(args, calls, started, ended, checks, memory, command_line, gunicorn_cmd, load_before) -> dict:
    # Latency: calls started after the warm-up (each worker's first requests open its
    # connections and load the directory); calls/s: calls that ended within the duration.
    measured = [c for c in calls if c["started"] >= started + args.warmup]
    timings = [t for c in measured for t in c["timings"]]
    window = args.duration - args.warmup
    sustained = sum(1 for c in calls if started + args.warmup <= c["ended"] <= started + args.duration)
    groups = {"all webhooks": timings,
              "/ivr/voice": [t for t in timings if t[0] == "/ivr/voice"],
              "menu steps": [t for t in timings if t[0] not in ("/ivr/voice", "/ivr/status")],
              "/ivr/status": [t for t in timings if t[0] == "/ivr/status"]}  # fmt: skip
    latency = {
        name: {"n": len(rows), "p50": 1000 * common.percentile([r[1] for r in rows], 0.50),
               "p95": 1000 * common.percentile([r[1] for r in rows], 0.95),
               "p99": 1000 * common.percentile([r[1] for r in rows], 0.99),
               "max": 1000 * max((r[1] for r in rows), default=float("nan"))}
        for name, rows in groups.items()
    }  # fmt: skip
    problems = [p for c in calls for p in c["problems"]]
    kinds: dict[str, int] = {}
    for c in calls:
        kinds[c["kind"]] = kinds.get(c["kind"], 0) + 1
    seconds = ended - started
    records_ok = (checks["missing_n"] == 0 and checks["incomplete_n"] == 0 and checks["doubled_records"] == 0
                  and checks["extra_n"] == 0 and checks["doubled_events"] == 0)  # fmt: skip
    booking_ok = checks["overbooked_sessions"] == 0 and checks["sessions_count_mismatch"] == 0
    p99 = latency["all webhooks"]["p99"]
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"), "command": command_line,
        "gunicorn": shlex.join(Path(x).name if i == 0 else x for i, x in enumerate(gunicorn_cmd)),
        "machine": {**common.machine(), "load_before": load_before},
        "callers": args.callers, "duration": args.duration, "think": args.think_range,
        "seconds": round(seconds, 1), "calls": len(calls), "calls_per_s": sustained / window,
        "warmup": args.warmup, "measured_calls": len(measured),
        "requests": len(timings), "requests_per_s": len(timings) / seconds, "mix": kinds,
        "latency": latency, "errors": len(problems), "error_samples": problems[:10],
        "checks": checks, "records_ok": records_ok, "booking_ok": booking_ok,
        "p99_met": p99 < TARGET_P99_MS, "memory": memory_summary(memory),
    }  # fmt: skip
    report["ok"] = not problems and records_ok and booking_ok
    return report


def reference_lines(r: dict) -> list[str]:
    """The references' latency for the same webhooks at the same rate, and the hotline's ratio."""
    if not r.get("references"):
        return []
    hotline = r["latency"]["all webhooks"]
    lines = [
        "",
        "The references, right after, under the same gunicorn command: the same webhooks (paths and fields, "
        "calls of the same length), at the hotline's rate, by as many clients, signed and timed by the same "
        "emulator code:",
        "",
        "| server | load (1 min) | requests | req/s | errors | p50 ms | p95 ms | p99 ms | hotline p50 / this "
        "| hotline p99 / this |",
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| hotline (above) | {r['machine']['load_before'].split()[0]} -> {r['machine']['load'].split()[0]} "
        f"| {hotline['n']} | {r['requests_per_s']:.1f} | {r['errors']} | {hotline['p50']:.1f} "
        f"| {hotline['p95']:.1f} | {hotline['p99']:.1f} | 1.00 | 1.00 |",
    ]
    for label, ref in r["references"].items():
        lines.append(
            f"| {label} (`{ref['app']}`) | {ref['load']} | {ref['n']} | {ref['requests_per_s']:.1f} | {ref['errors']} "
            f"| {ref['p50']:.1f} | {ref['p95']:.1f} | {ref['p99']:.1f} | {_ratio(hotline['p50'], ref['p50'])} "
            f"| {_ratio(hotline['p99'], ref['p99'])} |"
        )
    return lines


def _ratio(hotline: float, reference: float) -> str:
    return f"{hotline / reference:.2f}" if reference > 0 else "n/a (the reference answered nothing)"


def memory_summary(memory: list[dict]) -> dict:
    """Growth from the end of the first minute (imports done, pools and caches warm) to the end."""
    if len(memory) < 3:
        return {}
    first = next((row for row in memory if row["t"] - memory[0]["t"] >= 60), memory[1])
    last = memory[-1]
    # Growth that stops (caches and pools filling, the allocator's arenas) shows in the first
    # half only; a leak keeps growing in the second half too.
    middle = next(row for row in memory if row["t"] >= (first["t"] + last["t"]) / 2)

    def total(row, part):  # gunicorn workers: the sum over the live workers (MiB); master, rq
        if part == "workers":
            return sum(m[0] for m in row["workers"]) / 1024, sum(m[1] for m in row["workers"]) / 1024
        return row[part][0] / 1024, row[part][1] / 1024

    out = {"from_s": round(first["t"] - memory[0]["t"]), "to_s": round(last["t"] - memory[0]["t"]),
           "workers_replaced": first["worker_pids"] != last["worker_pids"]}  # fmt: skip
    for part in ("master", "workers", "rq"):
        (r0, p0), (r1, p1), (rm, _) = total(first, part), total(last, part), total(middle, part)
        out[part] = {"rss_mib": [round(r0, 1), round(r1, 1)], "pss_mib": [round(p0, 1), round(p1, 1)],
                     "rss_growth_mib": round(r1 - r0, 1), "pss_growth_mib": round(p1 - p0, 1),
                     "rss_growth_second_half_mib": round(r1 - rm, 1)}  # fmt: skip
    out["middle_s"] = round(middle["t"] - memory[0]["t"])
    return out


def markdown(r: dict) -> str:
    m = r["machine"]
    lines = [
        "# Load test: concurrent callers through the carrier emulator"
        if r["duration"] < 600
        else "# Soak: 10 minutes of steady calls",
        "",
        f"`.venv/bin/python {r['command']}` on {r['date']}; machine: nproc {m['nproc']} ({m['cpu']}), Linux "
        f"{m['kernel']}, Python {m['python']}, load average before {m['load_before']}, after {m['load']} "
        "(the machine is shared).",
        f"Server: `{r['gunicorn']}` (with gunicorn.conf.py), an RQ worker, PostgreSQL and Redis on the same machine; "
        f"the load generator (the emulator's callers) runs there too.",
        "",
        f"- {r['callers']} concurrent callers for {r['duration']} s, each listening {r['think'][0]:g}-"
        f"{r['think'][1]:g} s before each key or utterance; mix: "
        + ", ".join(f"{k} {v}" for k, v in sorted(r["mix"].items())),
        f"- **{r['calls']} calls** (the last ones ending {r['seconds']} s after the first rang): "
        f"**{r['calls_per_s']:.1f} calls/s** sustained (calls ended between {r['warmup']} s and {r['duration']} s)",
        f"- latency below: the {r['measured_calls']} calls that started after the first {r['warmup']} s "
        f"(workers opening connections, loading the directory), {r['requests']} webhook requests",
        f"- **errors: {r['errors']}**" + (": " + "; ".join(r["error_samples"]) if r["errors"] else ""),
        "",
        "| webhooks | requests | p50 ms | p95 ms | p99 ms | max ms |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, row in r["latency"].items():
        lines.append(f"| {name} | {row['n']} | {row['p50']:.1f} | {row['p95']:.1f} | {row['p99']:.1f} "
                     f"| {row['max']:.1f} |")  # fmt: skip
    c = r["checks"]
    lines += [
        "",
        f"Target p99 < {TARGET_P99_MS:.0f} ms over all webhooks: **{'met' if r['p99_met'] else 'missed'}**.",
        *reference_lines(r),
        "",
        f"Records (written by the RQ record workers; all in place {c['landed_after_s']} s after the last call "
        f"ended): {c['dialled']} calls dialled, {c['records']} call records; missing {c['missing_n']}, "
        f"incomplete {c['incomplete_n']} (not completed, no end, no events or no menu path), doubled "
        f"{c['doubled_records']}, not from this load {c['extra_n']}, events stored twice {c['doubled_events']}: "
        f"**{'every call has exactly one complete record' if r['records_ok'] else 'RECORDS WRONG'}**.",
        f"Booking: {c['appointments_booked']} appointments booked; sessions over capacity "
        f"{c['overbooked_sessions']}, sessions whose booked count differs from their appointments "
        f"{c['sessions_count_mismatch']}: **{'no session over-booked' if r['booking_ok'] else 'OVER-BOOKED'}**.",
    ]
    mem = r.get("memory")
    if mem:
        lines += [
            "",
            f"Memory from {mem['from_s']} s to {mem['to_s']} s (RSS / PSS in MiB, growth; workers summed"
            f"{', a worker was replaced' if mem['workers_replaced'] else ''}):",
            "",
            f"| process | RSS | PSS | RSS growth | PSS growth | RSS growth from {mem['middle_s']} s |",
            "| --- | ---: | ---: | ---: | ---: | ---: |",
        ]
        for part, title in (("master", "gunicorn master"), ("workers", "gunicorn workers"), ("rq", "RQ worker")):
            p = mem[part]
            lines.append(f"| {title} | {p['rss_mib'][0]} → {p['rss_mib'][1]} | {p['pss_mib'][0]} → "
                         f"{p['pss_mib'][1]} | {p['rss_growth_mib']:+} | {p['pss_growth_mib']:+} "
                         f"| {p['rss_growth_second_half_mib']:+} |")  # fmt: skip
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
