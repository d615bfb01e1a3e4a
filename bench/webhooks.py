"""Webhook benchmark: the hotline's whole-call menu steps against a one-file Flask
app that only returns a fixed <Gather> menu, same server, same workers, same
load tool, in one run.  Writes bench/results/webhooks.md (and .json).

    bash bench/webhooks.sh                # what the README's figures come from
    .venv/bin/python bench/webhooks.py --help

What one run does:
 1. a fresh database with the demo hospital (`flask --app app seed --demo`) on the
    machine's PostgreSQL (SQLite if it does not answer) and the machine's Redis
    (its own db number and key prefix, removed afterwards);
 2. the hotline and two references under the same gunicorn command, each on its own
    port: the bare baseline (bench/baseline_app.py: a fixed menu, no signature, no state)
    and the minimal signed, stateful webhook (bench/minimal_app.py: RequestValidator, one
    Redis pipeline of 5 commands, the same VoiceResponse); each round loads them in turn
    and the report gives the server's CPU per request of each (medians of the rounds) and
    the hotline's ratios to both;
 3. before loading each, walks every call scenario once with real requests and
    checks each answer is TwiML (the hotline: a <Gather> menu at every step, 204 at
    the status callback, 403 for a forged signature);
 4. precomputes the requests of thousands of distinct calls (Twilio's form fields,
    a fresh CallSid per call, X-Twilio-Signature computed with twilio's
    RequestValidator) and loads each app with wrk (bench/webhooks.lua: one caller
    per connection, steps in order), a warm-up then the measured run;
 5. runs the call-record jobs the hotline queued (`flask --app app worker --records
    --burst`, after the sample walks and after the load, never while wrk runs), counts
    the call records written against the status callbacks the hotline answered, and
    writes the figures, the checks and the machine to the results.
"""

from __future__ import annotations

import argparse
import json
import math
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
import urllib.error
import urllib.parse
import urllib.request
import uuid
import xml.etree.ElementTree as ET
from collections import Counter
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import redis
import sqlalchemy as sa
from rq import Queue
from twilio.request_validator import RequestValidator

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from queueing.recording import records_queue_name  # noqa: E402

VENV_BIN = Path(sys.executable).parent
PUBLIC_BASE = "https://hotline.example.org"  # PUBLIC_BASE_URL: what the signatures are computed over
ACCOUNT_SID = "AC" + "b" * 32
AUTH_TOKEN = "bench-auth-token"
HOSPITAL_NUMBER = "+861065281000"
HOTLINE_APP = "app:create_app()"
BASELINE_APP = "bench.baseline_app:app"
MINIMAL_APP = "bench.minimal_app:app"  # the second reference: signed, one Redis pipeline (bench/minimal_app.py)
APPS = ("baseline", "minimal", "hotline")  # the order the apps take turns in each round
TARGET_CPU_RATIO = 1.25  # issue 17: the hotline's CPU per request over the minimal webhook's
TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0
# One worker: on 2 cores a second one only competes with PostgreSQL (bench/results/records_rate.md).
RECORDS_WORKER = ("flask", "--app", "app", "worker", "--records", "--count", "1", "--burst")


# ---- the calls ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Scenario:
    """One kind of call: what the caller does after each menu (then hangs up)."""

    name: str
    inputs: tuple[tuple[str, str], ...]  # ("digits", "2") | ("speech", "心内科") | ("silence", "")


SCENARIOS = (
    Scenario(  # the brief's path: a department by keys, its doctors, a doctor, back
        "departments by keys",
        (("digits", "2"), ("digits", "1"), ("digits", "1"), ("digits", "1"), ("digits", "#")),
    ),
    Scenario(  # speech at each menu: 科室 -> 心内科 -> its doctors -> a doctor's name
        "departments by speech",
        (("speech", "科室"), ("speech", "心内科"), ("digits", "1"), ("speech", "张志远")),
    ),
    Scenario(  # doctors menu -> by department -> 呼吸科 -> first doctor
        "doctors by department",
        (("digits", "3"), ("digits", "1"), ("digits", "2"), ("digits", "1")),
    ),
    Scenario(  # silence first (the Redirect), then the introduction, its featured services, one of them, back
        "silence, then services",
        (("silence", ""), ("digits", "1"), ("digits", "1"), ("digits", "1"), ("digits", "#")),
    ),
    Scenario(  # English, departments, the next page, one department
        "English, paged departments",
        (("digits", "9"), ("digits", "2"), ("digits", "8"), ("digits", "3")),
    ),
    Scenario("introduction, repeat", (("digits", "1"), ("digits", "*"))),
)


@dataclass
class Step:
    path: str  # path and query, as the TwiML asked for it
    params: dict[str, str]  # what the caller did (Digits, SpeechResult...), without the call's fields


@dataclass
class Walk:
    scenario: Scenario
    steps: list[Step] = field(default_factory=list)


def call_fields(call_sid: str, caller: str, status: str = "in-progress") -> dict[str, str]:
    """The fields Twilio posts with every voice webhook."""
    return {
        "AccountSid": ACCOUNT_SID,
        "ApiVersion": "2010-04-01",
        "CallSid": call_sid,
        "CallStatus": status,
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


def step_params(kind: str, value: str) -> dict[str, str]:
    if kind == "digits":
        return {"Digits": value, "msg": "Gather End"}
    if kind == "speech":
        return {"SpeechResult": value, "Confidence": "0.92"}
    return {}


def status_params(rng: random.Random) -> dict[str, str]:
    duration = rng.randint(20, 240)
    return {
        "CallStatus": "completed",
        "CallDuration": str(duration),
        "Duration": str(math.ceil(duration / 60)),
        "SequenceNumber": "0",
        "CallbackSource": "call-progress-events",
        "Timestamp": "Mon, 23 Nov 2026 12:00:00 +0000",
    }


def sign(path: str, params: dict[str, str], token: str | None) -> str:
    if not token:
        return ""
    return RequestValidator(token).compute_signature(PUBLIC_BASE + path, params)


def post(port: int, path: str, params: dict[str, str], token: str | None, signature: str | None = None):
    """One webhook as Twilio sends it; returns (status, body, seconds)."""
    body = urllib.parse.urlencode(params).encode()
    headers = {"Content-Type": "application/x-www-form-urlencoded", "User-Agent": "TwilioProxy/1.1"}
    signature = sign(path, params, token) if signature is None else signature
    if signature:
        headers["X-Twilio-Signature"] = signature
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", data=body, headers=headers, method="POST")
    started = time.perf_counter()
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read().decode(), time.perf_counter() - started
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode(errors="replace"), time.perf_counter() - started


def relative(url: str) -> str:
    if not url.startswith(PUBLIC_BASE + "/"):
        raise CheckFailed(f"a TwiML URL outside {PUBLIC_BASE}: {url!r}")
    return url[len(PUBLIC_BASE) :]


class CheckFailed(Exception):
    pass


def twiml_menu(status: int, body: str, where: str) -> ET.Element:
    """The answer must be TwiML: a <Response> holding a <Gather> and a <Redirect>."""
    if status != 200:
        raise CheckFailed(f"{where}: HTTP {status}: {body[:300]}")
    try:
        root = ET.fromstring(body)
    except ET.ParseError as exc:
        raise CheckFailed(f"{where}: not XML ({exc}): {body[:300]}") from None
    if root.tag != "Response" or root.find("Gather") is None or root.find("Redirect") is None:
        raise CheckFailed(f"{where}: not a TwiML menu: {body[:300]}")
    if root.find("Gather/Say") is None:
        raise CheckFailed(f"{where}: a menu that says nothing: {body[:300]}")
    return root


def walk(port: int, scenario: Scenario, caller: str, token: str | None) -> tuple[Walk, list[tuple[str, float]]]:
    """Call the hotline once, following the TwiML it answers, and check every answer."""
    call_sid = "CA" + uuid.uuid4().hex
    fields = call_fields(call_sid, caller, "ringing")
    result = Walk(scenario, [Step("/ivr/voice", {})])
    timings = []
    status, body, seconds = post(port, "/ivr/voice", fields, token)
    timings.append(("/ivr/voice", seconds))
    root = twiml_menu(status, body, f"{scenario.name}: /ivr/voice")
    fields["CallStatus"] = "in-progress"
    for kind, value in scenario.inputs:
        if kind == "silence":
            path = relative(root.find("Redirect").text or "")
        else:
            path = relative(root.find("Gather").get("action", ""))
        params = step_params(kind, value)
        status, body, seconds = post(port, path, {**fields, **params}, token)
        timings.append((path.split("?")[0], seconds))
        root = twiml_menu(status, body, f"{scenario.name}: {path} {params}")
        result.steps.append(Step(path, params))
    params = status_params(random.Random(0))
    status, body, seconds = post(port, "/ivr/status", {**fields, **params}, token)
    timings.append(("/ivr/status", seconds))
    if status != 204:
        raise CheckFailed(f"{scenario.name}: the status callback answered HTTP {status}: {body[:300]}")
    result.steps.append(Step("/ivr/status", params))
    return result, timings


def write_pool(
    directory: Path,
    walks: list[Walk],
    callers: list[str],
    connections: int,
    calls_per_connection: int,
    token: str | None,
    seed: int,
) -> dict[str, int]:
    """The requests of distinct calls, one file per wrk thread (= connection): path, signature, body."""
    directory.mkdir(parents=True, exist_ok=True)
    rng = random.Random(seed)
    counts = {"calls": 0, "requests": 0}
    for thread in range(connections):
        lines = []
        for index in range(calls_per_connection):
            walk_ = walks[(thread + index) % len(walks)]
            caller = callers[rng.randrange(len(callers))]
            fields = call_fields("CA" + uuid.UUID(int=rng.getrandbits(128)).hex, caller, "ringing")
            for number, step_ in enumerate(walk_.steps):
                params = step_params_for(step_, rng)
                form = {**fields, **params}
                lines.append(f"{step_.path}\t{sign(step_.path, form, token)}\t{urllib.parse.urlencode(form)}")
                if number == 0:
                    fields["CallStatus"] = "in-progress"
            counts["calls"] += 1
        counts["requests"] += len(lines)
        (directory / f"{thread}.tsv").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return counts


def step_params_for(step_: Step, rng: random.Random) -> dict[str, str]:
    return status_params(rng) if step_.path == "/ivr/status" else step_.params


# ---- servers -------------------------------------------------------------------------------------


def gunicorn_command(args: argparse.Namespace, app: str, port: int) -> list[str]:
    command = [
        str(VENV_BIN / "gunicorn"),
        "-w", str(args.workers),
        "-k", args.worker_class,
        "-b", f"127.0.0.1:{port}",
        "--no-control-socket",
        "--log-level", "warning",
    ]  # fmt: skip
    if args.worker_class == "gthread":
        command += ["--threads", str(args.threads)]
    return [*command, app]


class Server:
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

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


# ---- load ----------------------------------------------------------------------------------------


def wrk_command(args: argparse.Namespace, port: int, seconds: int) -> list[str]:
    c = args.connections
    return [args.wrk, f"-t{c}", f"-c{c}", f"-d{seconds}s", "--timeout", "5s", "--latency",
            "-s", str(BENCH / "webhooks.lua"), f"http://127.0.0.1:{port}"]  # fmt: skip


def load(
    args: argparse.Namespace, port: int, seconds: int, pool: Path, out: Path, log: Path, server: Server | None = None
) -> dict:
    """One wrk run; with `server`, also the CPU that each side used while it ran."""
    env = {**os.environ, "BENCH_POOL": str(pool), "BENCH_OUT": str(out)}
    command = wrk_command(args, port, seconds)
    wrk = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    cpu = None
    if server is not None and seconds >= 4:
        time.sleep(1.0)
        groups = {
            "server (gunicorn)": [server.process.pid, *server.workers()],
            "PostgreSQL": pids("postgres"),
            "Redis": pids("redis-server"),
            "wrk": [wrk.pid],
        }
        before, machine_before, started = all_ticks(), machine_ticks(), time.monotonic()
        time.sleep(seconds - 2.0)
        after, machine_after, window = all_ticks(), machine_ticks(), time.monotonic() - started
        tick = os.sysconf("SC_CLK_TCK")
        delta = {pid: ticks - before.get(pid, 0) for pid, ticks in after.items()}
        ours = {pid for members in groups.values() for pid in members}
        cpu = {name: sum(delta.get(pid, 0) for pid in members) / tick for name, members in groups.items()}
        cpu["other processes"] = sum(d for pid, d in delta.items() if pid not in ours) / tick
        cpu["kernel (interrupts, network)"] = (machine_after[2] - machine_before[2]) / tick
        cpu["whole machine busy"] = (machine_after[0] - machine_before[0]) / tick
        cpu["seconds"] = window
    output, _ = wrk.communicate(timeout=seconds + 60)
    log.write_text(f"$ {shlex.join(command)}\n{output}")
    if wrk.returncode != 0 or not out.exists():
        raise CheckFailed(f"wrk failed ({wrk.returncode}): {output}")
    figures = json.loads(out.read_text())
    window, wrk_ = figures["window"], figures["wrk"]
    figures.update(
        rps=window["rps"],
        requests=window["requests"],
        p50_ms=window["p50_us"] / 1000,
        p90_ms=window["p90_us"] / 1000,
        p99_ms=window["p99_us"] / 1000,
        max_ms=window["max_us"] / 1000,
        wrk_rps=wrk_["requests"] / (wrk_["duration_us"] / 1e6),
        bytes_per_answer=wrk_["bytes"] / max(1, wrk_["requests"]),
        wrk_p99_ms=wrk_["p99_us"] / 1000,
        socket_errors=sum(figures["errors"].values()) - figures["errors"]["status"],
        cpu=cpu,
        # the server's CPU per answer in this round (ms): its CPU seconds over the sampled window,
        # per request answered per second over the round's window
        cpu_ms=1000 * cpu["server (gunicorn)"] / cpu["seconds"] / window["rps"] if cpu and window["rps"] else None,
        latencies=out.with_name(out.name + ".latencies"),
        command=shlex.join(command),
    )
    return figures


def combine(rounds: list[dict]) -> dict:
    """The rounds of one app as one run: requests and seconds added up, latencies merged."""
    latencies = sorted(float(line) for r in rounds for line in r.pop("latencies").read_text().split())
    seconds = sum(r["window"]["seconds"] for r in rounds)

    def percentile(p: float) -> float:
        return common.percentile(latencies, p / 100) / 1000 if latencies else 0.0

    total = {key: sum(r[key] for r in rounds) for key in ("requests", "non2xx", "bad_twiml", "socket_errors",
             "ok_status", "status_sent", "ok_twiml", "wrapped_threads")}  # fmt: skip
    cpu = None
    if all(r["cpu"] for r in rounds):
        cpu_seconds = sum(r["cpu"]["seconds"] for r in rounds)
        cpu = {
            name: sum(r["cpu"][name] for r in rounds) / cpu_seconds for name in rounds[0]["cpu"] if name != "seconds"
        }
    wrk_requests = sum(r["wrk"]["requests"] for r in rounds)
    mean_ms = sum(latencies) / len(latencies) / 1000 if latencies else 0.0
    return {
        **total,
        "rounds": [
            {"rps": r["rps"], "p99_ms": r["p99_ms"], "seconds": r["window"]["seconds"], "cpu_ms": r["cpu_ms"]}
            for r in rounds
        ],
        # the median over the rounds (the apps took turns): steadier than the mean on a shared machine
        "cpu_ms": statistics.median(r["cpu_ms"] for r in rounds) if all(r["cpu_ms"] for r in rounds) else None,
        "window_seconds": seconds,
        "rps": total["requests"] / seconds if seconds else 0.0,
        "p50_ms": percentile(50),
        "p90_ms": percentile(90),
        "p99_ms": percentile(99),
        "max_ms": latencies[-1] / 1000 if latencies else 0.0,
        "mean_ms": mean_ms,
        # Little's law: requests/s x mean latency is the mean number in flight, one per connection
        "in_flight": total["requests"] / seconds * mean_ms / 1000 if seconds else 0.0,
        "thread_fewest": min(r["window"]["thread_fewest"] for r in rounds),
        "thread_most": max(r["window"]["thread_most"] for r in rounds),
        "wrk_rps": wrk_requests / sum(r["wrk"]["duration_us"] / 1e6 for r in rounds),
        "wrk_p99_ms": max(r["wrk_p99_ms"] for r in rounds),
        "bytes_per_answer": sum(r["wrk"]["bytes"] for r in rounds) / max(1, wrk_requests),
        "cpu": cpu,
        "threads": rounds[0]["threads"],
        "commands": [r["command"] for r in rounds],
    }


def pids(name: str) -> list[int]:
    out = subprocess.run(["pgrep", "-x", name], capture_output=True, text=True)
    return [int(pid) for pid in out.stdout.split()]


def all_ticks() -> dict[int, int]:
    """CPU ticks (user + system) of every process, by pid."""
    ticks = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
                ticks[int(entry.name)] = int(fields[11]) + int(fields[12])
            except (OSError, IndexError, ValueError):
                pass
    return ticks


def machine_ticks() -> tuple[int, int, int]:
    """(busy, all, interrupts) ticks of all CPUs since boot."""
    values = [int(v) for v in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = values[3] + values[4]
    return sum(values) - idle, sum(values), values[5] + values[6]


# ---- the call records ------------------------------------------------------------------------------


def write_records(args: argparse.Namespace, env: dict[str, str], scratch: Path, queue: Queue) -> dict:
    """Run the call-record jobs the webhooks queued, as the records workers do in production, until the
    queue is empty.  The worker starts only when no load runs, so it takes no CPU from the servers being
    measured.  Bounded: it fails if the queue stops shrinking for --records-stall seconds, or a job fails."""
    jobs, started = queue.count, time.monotonic()
    log_path = scratch / "records-worker.log"
    with log_path.open("a") as out:
        worker = subprocess.Popen([str(VENV_BIN / RECORDS_WORKER[0]), *RECORDS_WORKER[1:]], cwd=ROOT, env=env,
                                  stdout=out, stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
    try:
        wait_for_worker(worker, queue, jobs, args.records_stall, log_path)
    finally:
        stop_worker(worker)
    unfinished = {
        "queued": queue.count,
        "running": queue.started_job_registry.count,
        "waiting for a retry": queue.scheduled_job_registry.count,
        "failed": queue.failed_job_registry.count,
    }
    if worker.returncode != 0 or any(unfinished.values()):
        raise CheckFailed(
            f"`{shlex.join(RECORDS_WORKER)}` exited {worker.returncode} with record jobs left {unfinished} "
            f"(`flask --app app records failed` lists the failed ones); its log ends:\n{tail(log_path)}"
        )
    return {"jobs": jobs, "seconds": time.monotonic() - started, "command": shlex.join(RECORDS_WORKER)}


def wait_for_worker(worker: subprocess.Popen, queue: Queue, jobs: int, stall: float, log_path: Path) -> None:
    left, moved = jobs, time.monotonic()
    while worker.poll() is None:
        time.sleep(0.5)
        now_left = queue.count
        if now_left < left:
            left, moved = now_left, time.monotonic()
        elif time.monotonic() - moved > stall:
            raise CheckFailed(
                f"the call records were not written: the records queue stayed at {left} of {jobs} jobs for "
                f"{stall:g} s (--records-stall) under `{shlex.join(RECORDS_WORKER)}`; its log ends:\n"
                f"{tail(log_path)}"
            )


def stop_worker(worker: subprocess.Popen) -> None:
    if worker.poll() is None:
        worker.terminate()  # RQ's warm shutdown: it unregisters itself
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            worker.kill()
            worker.wait()


def tail(path: Path, lines: int = 20) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])


# ---- the database and Redis -----------------------------------------------------------------------


class Database:
    def __init__(self, args: argparse.Namespace, scratch: Path):
        self.admin_url = args.postgres
        self.name = args.database_name
        if not args.sqlite and common.postgres_answers(self.admin_url):
            self.kind = "PostgreSQL"
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}"', f'CREATE DATABASE "{self.name}"')
            self.url = sa.make_url(self.admin_url).set(database=self.name).render_as_string(hide_password=False)
        else:
            self.kind = "SQLite"
            self.url = f"sqlite:///{scratch / 'hotline.db'}"
        self.engine = sa.create_engine(self.url)

    def _admin(self, *statements: str) -> None:
        common.admin(self.admin_url, *statements)

    def scalar(self, query: str):
        with self.engine.connect() as connection:
            return connection.execute(sa.text(query)).scalar()

    def column(self, query: str) -> list:
        with self.engine.connect() as connection:
            return list(connection.execute(sa.text(query)).scalars())

    def version(self) -> str:
        return common.database_version(self.url)

    def drop(self) -> None:
        self.engine.dispose()
        if self.kind == "PostgreSQL":
            self._admin(f'DROP DATABASE IF EXISTS "{self.name}" WITH (FORCE)')


def delete_bench_keys(client: redis.Redis, records_queue: Queue, prefix: str) -> None:
    common.delete_redis_keys(client, prefix)
    common.delete_rq_queue(records_queue)


def redis_keys(client: redis.Redis, prefix: str) -> int:
    return sum(1 for _ in client.scan_iter(match=f"{prefix}*", count=1000))


# ---- the machine ---------------------------------------------------------------------------------


def wrk_version() -> str:
    found = subprocess.run([shutil.which("wrk") or "wrk", "-v"], capture_output=True, text=True)
    return (found.stdout or found.stderr).split("\n")[0].strip()


# ---- the report ----------------------------------------------------------------------------------


def verdicts(hotline: dict, baseline: dict, checks_ok: bool, minimal: dict | None = None) -> dict:
    ratio = hotline["rps"] / baseline["rps"]
    cpu = (hotline.get("cpu_ms"), baseline.get("cpu_ms"), (minimal or {}).get("cpu_ms"))
    return {
        "cpu_over_baseline": cpu[0] / cpu[1] if cpu[0] and cpu[1] else None,
        "cpu_over_minimal": cpu[0] / cpu[2] if cpu[0] and cpu[2] else None,
        "ratio": ratio,
        "ratio_met": ratio >= TARGET_RATIO,
        "p99_met": hotline["p99_ms"] < TARGET_P99_MS,
        "met": ratio >= TARGET_RATIO and hotline["p99_ms"] < TARGET_P99_MS and checks_ok,
    }


def cpu_line(r: dict) -> str:
    """The server's CPU per request of the three apps (medians of the rounds) and both ratios."""
    h, b, mi, v = r["hotline"], r["baseline"], r.get("minimal") or {}, r["verdict"]
    if not (h.get("cpu_ms") and b.get("cpu_ms") and mi.get("cpu_ms")):
        return "Server CPU per request: not measured (rounds under 4 s)"
    return (
        f"Server CPU per request (median of the rounds): hotline **{h['cpu_ms']:.2f} ms**, minimal signed "
        f"webhook {mi['cpu_ms']:.2f} ms, bare baseline {b['cpu_ms']:.2f} ms; hotline / minimal "
        f"**{v['cpu_over_minimal']:.2f}** (target <= {TARGET_CPU_RATIO}: "
        f"{'met' if v['cpu_over_minimal'] <= TARGET_CPU_RATIO else 'missed'}), hotline / baseline "
        f"**{v['cpu_over_baseline']:.2f}**; by round: hotline "
        + ", ".join(f"{x['cpu_ms']:.2f}" for x in h["rounds"])
        + "; minimal "
        + ", ".join(f"{x['cpu_ms']:.2f}" for x in mi["rounds"])
        + "; baseline "
        + ", ".join(f"{x['cpu_ms']:.2f}" for x in b["rounds"])
    )


def markdown(r: dict) -> str:
    h, b, v, m = r["hotline"], r["baseline"], r["verdict"], r["machine"]
    s = r["settings"]
    lines = [
        "# Webhook benchmark",
        "",
        "Written by `bench/webhooks.py` from what it measured; do not edit by hand.",
        "",
        f"- Date: {r['date']}",
        f"- Machine: nproc {m['nproc']} ({m['cpu']}), {m['memory']} memory, Linux {m['kernel']}; load average "
        f"before the run {m['load_before']}",
        f"- Software: Python {m['python']}, gunicorn {s['gunicorn']}, Flask {s['flask']}, twilio {s['twilio']}, "
        f"{m['wrk']}, {r['database']['version']}, Redis {r['redis']['version']}",
        f"- Command: `{r['command']}`",
        f"- Server (both apps, each on its own port, loaded one at a time): `{s['hotline_server']}`",
        f"  (baseline: the same with `{BASELINE_APP}`, minimal signed webhook: with `{MINIMAL_APP}`)",
        f"- Load (both apps): `{s['wrk']}`: {s['connections']} connections, each one caller posting whole "
        f"calls step by step; {s['warmup']} s warm-up each, then {s['rounds']} rounds of {s['round_seconds']} s, "
        "the apps taking turns (baseline, minimal, hotline, baseline, ...) so that whatever else the machine does "
        "disturbs both alike",
        f"- Signatures: {s['signatures']}",
        "",
        "## Figures",
        "",
        "| app | requests/s | p50 ms | p90 ms | p99 ms | max ms | requests | wrk's requests/s | wrk's p99 ms "
        "| non-2xx | socket errors | bad TwiML | bytes/answer |",
        "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
    ]
    named = (("hotline (whole calls)", h), ("minimal signed webhook", r.get("minimal")), ("baseline (fixed Gather)", b))
    for name, f in ((name, f) for name, f in named if f):
        lines.append(
            f"| {name} | {f['rps']:.0f} | {f['p50_ms']:.1f} | {f['p90_ms']:.1f} | {f['p99_ms']:.1f} "
            f"| {f['max_ms']:.1f} | {f['requests']} | {f['wrk_rps']:.0f} | {f['wrk_p99_ms']:.1f} | {f['non2xx']} "
            f"| {f['socket_errors']} | {f['bad_twiml']} | {f['bytes_per_answer']:.0f} |"
        )
    lines += [
        "",
        f"Requests/s and latencies are over the window in which all {s['connections']} connections were "
        f"running (hotline {h['window_seconds']:.1f} s, baseline {b['window_seconds']:.1f} s of the "
        f"{s['rounds']} × {s['round_seconds']} s), each request timed by the Lua script (one request in flight per connection). "
        "wrk's own figures are beside them: wrk starts its threads one after another and its clock after "
        "them, and corrects latencies for coordinated omission, which skews both on a saturated 2-core "
        "machine.",
        "",
        "- Requests/s by round: hotline "
        + ", ".join(f"{x['rps']:.0f}" for x in h["rounds"])
        + "; baseline "
        + ", ".join(f"{x['rps']:.0f}" for x in b["rounds"]),
        f"- {cpu_line(r)}",
        f"- Ratio hotline / baseline requests per second: **{v['ratio']:.2f}** "
        f"(target ≥ {TARGET_RATIO}): {common.yes(v['ratio_met'])}",
        f"- Hotline p99 latency at {s['connections']} connections: **{h['p99_ms']:.1f} ms** "
        f"(target < {TARGET_P99_MS:.0f} ms): {common.yes(v['p99_met'])}",
        f"- Checks below: {'all passed' if r['checks_ok'] else '**FAILED**'}",
        f"- Both targets: {common.yes(v['met'])}",
        "",
        "## The hotline's load",
        "",
        f"{r['pool']['calls']} distinct calls precomputed ({r['pool']['requests']} requests, CallSids never "
        f"reused unless a connection ran out in a round: {h['wrapped_threads']} did), "
        f"callers drawn from {r['pool']['callers']} numbers (half of them patients' phones, greeted by name). "
        "Each connection walks these calls, in turn:",
        "",
        "| call | steps (after POST /ivr/voice, before POST /ivr/status) |",
        "| --- | --- |",
    ]
    for w in r["walks"]:
        lines.append(f"| {w['name']} | {' → '.join(w['steps'])} |")
    lines += [
        "",
        "Every request is a form post with Twilio's fields (AccountSid, CallSid, CallStatus, From, To, "
        "Direction, Called, Caller, ... and Digits or SpeechResult/Confidence). `POST /ivr/voice` looks the "
        "caller up, starts the call's Redis state and queues the opening of its call record; every step "
        "appends its events to Redis and queues them for the record; `POST /ivr/status` (CallStatus=completed) "
        "queues the final status. The call records are written by an RQ records worker "
        f"(`{shlex.join(RECORDS_WORKER)}`), run after the sample walks and after the load, never while wrk "
        "runs, so the figures are the webhooks' alone. The baseline gets exactly the same requests.",
        "",
        "## Checks",
        "",
    ]
    lines += [f"- {check}" for check in r["checks"]]
    if r.get("sample_latency"):
        lines += [
            "",
            "## One request at a time (the sample walks, unloaded)",
            "",
            "| step | requests | median ms |",
            "| --- | ---: | ---: |",
        ]
        for path, count, median in r["sample_latency"]:
            lines.append(f"| {path} | {count} | {median:.1f} |")
    profile = r.get("profile")
    if profile:
        lines += ["", "## Where the time goes", "", "From `bench/results/webhooks-profile.md` (same run):", ""]
        cpu_h, cpu_b = h.get("cpu"), b.get("cpu")
        if cpu_h and cpu_b:
            lines.append(
                f"- Server CPU per request under load: hotline {1000 * cpu_h['server (gunicorn)'] / h['rps']:.2f} ms, "
                f"baseline {1000 * cpu_b['server (gunicorn)'] / b['rps']:.2f} ms; the machine was "
                f"{cpu_h['whole machine busy'] / float(m['nproc']):.0%} busy during the hotline's rounds."
            )
        if profile.get("census"):
            t, base = census_means(profile["census"]["hotline"]), census_means(profile["census"]["baseline"])
            lines.append(
                f"- Per request, over the mix (one at a time): {t['sql']:.1f} SQL statements ({t['sql SELECT']:.1f} "
                f"SELECT) taking {t['sql ms']:.2f} ms, {t['ping']:.1f} pool pre-pings ({t['ping ms']:.2f} ms), "
                f"{t['redis']:.1f} Redis round trips ({t['redis ms']:.2f} ms), signature check "
                f"{t['signature ms']:.2f} ms, TwiML to text {t['twiml ms']:.2f} ms; CPU {t['cpu']:.2f} ms against "
                f"the baseline's {base['cpu']:.2f} ms."
            )
        spy = profile.get("pyspy")
        if spy:
            shares = ", ".join(f"{name} {share:.0%}" for name, share in spy["categories"][:6])
            lines.append(f"- Python CPU in the workers under load (py-spy): {shares}.")
    lines += [
        "",
        "wrk's own output is in `bench/results/webhooks-wrk.log`, the servers' logs in "
        "`bench/results/webhooks-server.log`, every figure in `bench/results/webhooks.json`.",
        "",
    ]
    return "\n".join(lines)


# ---- the run -------------------------------------------------------------------------------------


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--duration", type=int, default=20, help="measured seconds per app (default 20)")
    p.add_argument(
        "--rounds",
        type=int,
        default=4,
        help="the measured seconds are split into rounds, the apps taking turns, so that whatever else "
        "the machine does disturbs both alike (default 4)",
    )
    p.add_argument("--warmup", type=int, default=5, help="warm-up seconds per app (default 5)")
    p.add_argument("--connections", type=int, default=50, help="concurrent connections (default 50)")
    p.add_argument("--workers", type=int, default=2, help="gunicorn workers (default 2)")
    p.add_argument("--threads", type=int, default=4, help="gunicorn threads per gthread worker (default 4)")
    p.add_argument("--worker-class", default="gthread", help="gunicorn worker class (default gthread)")
    p.add_argument(
        "--postgres",
        default="postgresql://postgres@127.0.0.1:5432/postgres",
        help="PostgreSQL to create the benchmark's database in (default %(default)s)",
    )
    p.add_argument("--database-name", default="hotline_bench", help="created, then dropped (default %(default)s)")
    p.add_argument("--sqlite", action="store_true", help="use SQLite even if PostgreSQL answers")
    p.add_argument(
        "--redis",
        default="redis://127.0.0.1:6379/11",
        help="the machine's Redis (default %(default)s; keys under --redis-prefix, removed afterwards)",
    )
    p.add_argument("--redis-prefix", default="hotline-bench:")
    p.add_argument(
        "--unsigned", action="store_true", help="run the hotline without TWILIO_AUTH_TOKEN (no signature checks)"
    )
    p.add_argument(
        "--max-rps",
        type=int,
        default=2500,
        help="the hotline rate the precomputed calls are sized for (default %(default)s)",
    )
    p.add_argument(
        "--records-stall",
        type=float,
        default=120,
        help="fail when the records worker leaves the records queue unshrunk this many seconds "
        "(default %(default)s; a job times out after 60)",
    )
    p.add_argument("--results", type=Path, default=BENCH / "results", help="where the results go")
    p.add_argument("--wrk", default=shutil.which("wrk") or "wrk")
    p.add_argument("--keep", action="store_true", help="keep the database and Redis keys afterwards")
    p.add_argument("--profile", action="store_true", help="profile the hotline even if it meets the targets")
    p.add_argument("--no-profile", action="store_true", help="do not profile the hotline when it misses a target")
    p.add_argument("--profile-seconds", type=int, default=10, help="py-spy's sampling time (default 10)")
    p.add_argument("--census-calls", type=int, default=15, help="calls of each kind in the census (default 15)")
    return p.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    if not shutil.which(args.wrk):
        print("wrk not found: apt-get install -y wrk", file=sys.stderr)
        return 2
    command = os.environ.get("BENCH_COMMAND") or shlex.join(["python", "bench/webhooks.py", *(argv or sys.argv[1:])])
    token = None if args.unsigned else AUTH_TOKEN
    args.results.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="hotline-bench-"))
    started = time.monotonic()
    client = redis.Redis.from_url(args.redis, decode_responses=True, socket_timeout=5)
    client.ping()
    # RQ's own connection: it stores bytes (client decodes responses).
    records_queue = Queue(records_queue_name(args.redis_prefix), connection=redis.Redis.from_url(args.redis))
    # Jobs a previous run left would write records of its calls into this run's database.
    delete_bench_keys(client, records_queue, args.redis_prefix)
    db = Database(args, scratch)
    servers: list[Server] = []
    try:
        return run(args, command, token, scratch, client, records_queue, db, servers, started)
    except CheckFailed as exc:
        print(f"FAILED: {exc}", file=sys.stderr)
        return 1
    finally:
        for server in servers:
            server.stop()
        if not args.keep:
            delete_bench_keys(client, records_queue, args.redis_prefix)
            db.drop()
            shutil.rmtree(scratch, ignore_errors=True)


def run(args, command, token, scratch, client, records_queue, db, servers, started) -> int:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("TWILIO_AUTH_TOKEN", "DATABASE_URL", "REDIS_URL", "PUBLIC_BASE_URL", "TWILIO_API_BASE")
    }
    env.update(
        DATABASE_URL=db.url,
        REDIS_URL=args.redis,
        REDIS_PREFIX=args.redis_prefix,
        PUBLIC_BASE_URL=PUBLIC_BASE,
        TWILIO_ACCOUNT_SID=ACCOUNT_SID,
        PYTHONDONTWRITEBYTECODE="1",
        HOTLINE_CONFIG=str(common.config_without_call_limits(scratch)[0]),
    )
    if token:
        env["TWILIO_AUTH_TOKEN"] = token
    else:
        env["HOTLINE_INSECURE_WEBHOOKS"] = "1"  # --unsigned: the hotline starts only when told to
    log = print
    load_before = common.loadavg()
    seed = subprocess.run([str(VENV_BIN / "flask"), "--app", "app", "seed", "--demo"], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if seed.returncode != 0:
        raise CheckFailed(f"seed failed: {seed.stderr[-2000:]}")
    log(f"seeded the demo hospital on {db.kind}: {seed.stdout.strip().splitlines()[-1]}")
    checks: list[str] = [f"Seeded: `flask --app app seed --demo` on a fresh {db.kind} database."]

    patients = db.column("SELECT e164 FROM patient_phones ORDER BY id")
    rng = random.Random(7)
    strangers = [f"+86139{rng.randrange(10**8):08d}" for _ in range(len(patients))]
    callers = patients + strangers
    ports = {name: common.free_port() for name in APPS}
    port = ports["hotline"]
    wrk_log_parts: list[str] = []

    # -- the hotline's sample walks: the URLs of every step, and whether each answer is TwiML
    hotline_server = Server(gunicorn_command(args, HOTLINE_APP, port), env, scratch / "hotline.log", port)
    servers.append(hotline_server)
    walks, timings = [], []
    for index, scenario in enumerate(SCENARIOS):
        for repeat in range(3):  # three callers each: a patient, a stranger, a patient
            caller = patients[(index + repeat) % len(patients)] if repeat != 1 else strangers[index]
            walk_, walk_timings = walk(port, scenario, caller, token)
            timings += walk_timings
        walks.append(walk_)
    sampled = len(SCENARIOS) * 3
    checks.append(
        f"Sample: {sampled} calls walked one request at a time, following the hotline's TwiML; every answer was "
        "a TwiML `<Response>` with a `<Gather>` that says something and a `<Redirect>` (parsed as XML), every "
        "status callback 204."
    )
    written = write_records(args, env, scratch, records_queue)
    sample_records = db.scalar("SELECT count(*) FROM call_records WHERE status = 'completed'")
    if sample_records != sampled:
        raise CheckFailed(
            f"the sample's {sampled} calls left {sample_records} completed call records after "
            f"`{written['command']}` ran their {written['jobs']} record jobs"
        )
    checks.append(
        f"The sample's {written['jobs']} call-record jobs, run by `{written['command']}` in "
        f"{written['seconds']:.1f} s, left {sample_records} completed call records, one per call."
    )
    if token:
        forged = post(port, "/ivr/voice", call_fields("CA" + uuid.uuid4().hex, strangers[0]), token, "Zm9yZ2Vk")
        unsigned = post(port, "/ivr/voice", call_fields("CA" + uuid.uuid4().hex, strangers[0]), None)
        if forged[0] != 403 or unsigned[0] != 403:
            raise CheckFailed(f"forged/unsigned webhooks answered {forged[0]}/{unsigned[0]}, not 403")
        checks.append("Signatures are checked: a forged and an unsigned `POST /ivr/voice` both got 403.")
    baseline_server = Server(
        gunicorn_command(args, BASELINE_APP, ports["baseline"]), env, scratch / "baseline.log", ports["baseline"]
    )
    servers.append(baseline_server)
    status, body, _ = post(ports["baseline"], "/ivr/voice", call_fields("CA" + uuid.uuid4().hex, strangers[0]), token)
    twiml_menu(status, body, "baseline")
    checks.append("The baseline answers a TwiML `<Gather>` menu (parsed as XML).")
    minimal_server = Server(
        gunicorn_command(args, MINIMAL_APP, ports["minimal"]), env, scratch / "minimal.log", ports["minimal"]
    )
    servers.append(minimal_server)
    status, body, _ = post(ports["minimal"], "/ivr/voice", call_fields("CA" + uuid.uuid4().hex, strangers[0]), token)
    twiml_menu(status, body, "minimal webhook")
    if token:
        forged = post(ports["minimal"], "/ivr/voice", call_fields("CA" + uuid.uuid4().hex, strangers[0]), token, "eA==")
        if forged[0] != 403:
            raise CheckFailed(f"the minimal webhook answered a forged signature with {forged[0]}, not 403")
    checks.append(
        "The minimal webhook answers a TwiML `<Gather>` menu"
        + (" and refuses a forged signature (403)." if token else ".")
    )
    server_of = {"hotline": hotline_server, "baseline": baseline_server, "minimal": minimal_server}

    # -- the calls the load posts: distinct calls for the warm-up and for each round
    rounds = max(1, args.rounds)
    round_seconds = max(4, round(args.duration / rounds))
    mean_steps = sum(len(w.steps) for w in walks) / len(walks)
    per_connection = math.ceil(args.max_rps * round_seconds / args.connections / mean_steps) + 1
    warm_per_connection = math.ceil(args.max_rps * args.warmup / args.connections / mean_steps) + 1
    warm_pool = scratch / "pool-warm"
    warm = write_pool(warm_pool, walks, callers, args.connections, warm_per_connection, token, seed=2)
    pools, pool = [], {"calls": 0, "requests": 0}
    for number in range(rounds):
        pools.append(scratch / f"pool-{number}")
        counts = write_pool(pools[-1], walks, callers, args.connections, per_connection, token, seed=10 + number)
        pool = {key: pool[key] + counts[key] for key in pool}
    log(f"precomputed {pool['calls']} calls ({pool['requests']} requests) and {warm['calls']} for warm-up")

    # -- warm-up, then rounds taking turns: the baseline, then the hotline, with the same requests
    before = db.scalar("SELECT count(*) FROM call_records")
    for name in APPS:
        load(args, ports[name], args.warmup, warm_pool, scratch / f"{name}-warm.json", scratch / f"{name}-warm.log")
    warm_figures = json.loads((scratch / "hotline-warm.json").read_text())
    measured: dict[str, list[dict]] = {name: [] for name in APPS}
    for number in range(rounds):
        for name in APPS:
            out, wrk_log = scratch / f"{name}-{number}.json", scratch / f"{name}-{number}-wrk.log"
            figures = load(args, ports[name], round_seconds, pools[number], out, wrk_log, server_of[name])
            wrk_log_parts.append(f"## {name}, round {number + 1}\n" + wrk_log.read_text())
            measured[name].append(figures)
            cpu_ms = f", CPU {figures['cpu_ms']:.2f} ms/request" if figures["cpu_ms"] else ""
            log(f"round {number + 1}, {name}: {figures['rps']:.0f} requests/s, p99 {figures['p99_ms']:.1f} ms{cpu_ms}")
    time.sleep(1.0)  # requests in flight when wrk stopped
    results = {name: combine(measured[name]) for name in measured}
    for name, figures in results.items():
        log(f"{name}: {figures['rps']:.0f} requests/s, p50 {figures['p50_ms']:.1f} ms, p99 {figures['p99_ms']:.1f} "
            f"ms, non-2xx {figures['non2xx']}, socket errors {figures['socket_errors']}, "
            f"bad TwiML {figures['bad_twiml']}")  # fmt: skip
    written = write_records(args, env, scratch, records_queue)
    log(f"{written['jobs']} call-record jobs written in {written['seconds']:.1f} s by `{written['command']}`")
    results["records"] = count_records(db, client, args, before, warm_figures, results["hotline"], written)
    for reference in (baseline_server, minimal_server):
        reference.stop()
        servers.remove(reference)
    profile = None
    missed = not verdicts(results["hotline"], results["baseline"], True)["met"]
    if args.profile or (missed and not args.no_profile):
        profile = sample_under_load(args, port, hotline_server, walks, callers, token, scratch)
    hotline_server.stop()
    servers.remove(hotline_server)
    if profile is not None:
        profile["census"] = run_census(args, env, walks, patients, strangers, scratch)

    hotline, baseline = results["hotline"], results["baseline"]
    records = results["records"]
    consistent = all(abs(f["in_flight"] - args.connections) <= args.connections * 0.05 for f in (hotline, baseline))
    checks_ok = (
        consistent
        and records["ok"]
        and all(f["non2xx"] == 0 and f["bad_twiml"] == 0 and f["socket_errors"] == 0 for f in (hotline, baseline))
    )
    checks += [
        f"During the load: non-2xx answers hotline {hotline['non2xx']}, baseline {baseline['non2xx']}; answers "
        f"that were not a TwiML `<Gather>` menu (e.g. the hotline's apology) hotline {hotline['bad_twiml']}, "
        f"baseline {baseline['bad_twiml']}; socket errors hotline {hotline['socket_errors']}, baseline "
        f"{baseline['socket_errors']}.",
        records["text"],
        f"Consistency (Little's law, requests/s × raw mean latency = requests in flight, at most "
        f"{args.connections}): hotline {hotline['in_flight']:.1f}, baseline {baseline['in_flight']:.1f}"
        f"{'' if consistent else ' — **inconsistent: wrk or the machine misbehaved, run again**'}; answers per "
        f"connection and round from {hotline['thread_fewest']} to {hotline['thread_most']} (hotline), "
        f"{baseline['thread_fewest']} to {baseline['thread_most']} (baseline).",
    ]
    if hotline["cpu"] and baseline["cpu"]:
        other = "other processes"
        quiet = max(hotline["cpu"][other], baseline["cpu"][other]) < 0.2
        checks.append(
            f"Other processes on the machine used {hotline['cpu'][other]:.2f} cores during the hotline's rounds "
            f"and {baseline['cpu'][other]:.2f} during the baseline's"
            + ("." if quiet else " — **the machine was not quiet: the figures are disturbed, run again alone**.")
        )
    report = {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "command": command,
        "machine": {**common.machine(), "wrk": wrk_version(), "load_before": load_before},
        "database": {"kind": db.kind, "version": db.version()},
        "redis": {"version": common.redis_version(client)},
        "settings": {
            "hotline_server": shlex.join(gunicorn_command(args, HOTLINE_APP, port)).replace(str(VENV_BIN) + "/", ""),
            "wrk": shlex.join(wrk_command(args, port, round_seconds)).replace(str(BENCH), "bench"),
            "rounds": rounds,
            "round_seconds": round_seconds,
            "connections": args.connections,
            "duration": args.duration,
            "warmup": args.warmup,
            "census_calls": args.census_calls,
            "signatures": (
                "on: TWILIO_AUTH_TOKEN set, every request carries a valid X-Twilio-Signature precomputed with "
                "twilio's RequestValidator.compute_signature, so the hotline's figures include checking it"
                if token
                else "off: TWILIO_AUTH_TOKEN unset (--unsigned), the hotline checks no signature"
            ),
            "gunicorn": common.package_version("gunicorn"),
            "flask": common.package_version("flask"),
            "twilio": common.package_version("twilio"),
        },
        "pool": {**pool, "callers": len(callers)},
        "walks": [{"name": w.scenario.name, "steps": [describe(s) for s in w.steps[1:-1]]} for w in walks],
        "hotline": hotline,
        "baseline": baseline,
        "minimal": results["minimal"],
        "records": records,
        "checks": checks,
        "checks_ok": checks_ok,
        "sample_latency": sample_latency(timings),
        "profile": profile,
        "seconds": round(time.monotonic() - started, 1),
    }
    report["verdict"] = verdicts(hotline, baseline, checks_ok, results["minimal"])
    common.write_result(args.results / "webhooks.md", markdown(report))
    common.write_result(args.results / "webhooks.json", json.dumps(report, indent=2, ensure_ascii=False))
    (args.results / "webhooks-wrk.log").write_text("\n".join(wrk_log_parts))
    server_logs = [f"## {name}\n{(scratch / f'{name}.log').read_text(errors='replace')}" for name in APPS]
    (args.results / "webhooks-server.log").write_text("\n".join(server_logs))
    if profile is not None:
        (args.results / "webhooks-profile.md").write_text(profile_markdown(report), encoding="utf-8")
    v = report["verdict"]
    log(cpu_line(report))
    log(f"ratio {v['ratio']:.2f} (target >= {TARGET_RATIO}: {'met' if v['ratio_met'] else 'missed'}), "
        f"hotline p99 {hotline['p99_ms']:.1f} ms (target < {TARGET_P99_MS:.0f}: "
        f"{'met' if v['p99_met'] else 'missed'}), checks {'passed' if checks_ok else 'FAILED'}; "
        f"{report['seconds']} s; written to {args.results / 'webhooks.md'}")  # fmt: skip
    return 0 if checks_ok else 1


# ---- where the time goes (when a target is missed, or with --profile) ------------------------------------


def py_spy() -> str | None:
    return shutil.which("py-spy", path=f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}")


def sample_under_load(args, port, server: Server, walks, callers, token, scratch: Path) -> dict:
    """py-spy (--gil: Python CPU) on the hotline's workers while more distinct calls load it."""
    spy = py_spy()
    if spy is None:
        return {"pyspy": None, "note": "py-spy not installed (.venv/bin/pip install py-spy): no sampled profile"}
    seconds = args.profile_seconds
    per_connection = math.ceil(args.max_rps * (seconds + 3) / args.connections / 5) + 1
    pool_dir = scratch / "pool-profile"
    write_pool(pool_dir, walks, callers, args.connections, per_connection, token, seed=3)
    env = {**os.environ, "BENCH_POOL": str(pool_dir), "BENCH_OUT": str(scratch / "profile-wrk.json")}
    wrk = subprocess.Popen(wrk_command(args, port, seconds + 3), env=env, stdout=subprocess.DEVNULL,
                           stderr=subprocess.DEVNULL)  # fmt: skip
    time.sleep(1.5)
    raw = scratch / "pyspy.raw"
    command = [spy, "record", "--pid", str(server.process.pid), "--subprocesses", "--gil", "--nonblocking",
               "-r", "100", "-d", str(seconds), "--format", "raw", "-o", str(raw)]  # fmt: skip
    spied = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
    wrk.wait(timeout=seconds + 60)
    if spied.returncode != 0 or not raw.exists():
        return {"pyspy": None, "note": f"py-spy failed: {(spied.stderr or spied.stdout).strip()[-500:]}"}
    import profile_webhooks

    shown = shlex.join(command).replace(str(server.process.pid), "MASTER").replace(str(raw), "OUT")
    return {"pyspy": profile_webhooks.categories(raw), "pyspy_command": shown.replace(str(VENV_BIN) + "/", "")}


def run_census(args, env, walks: list[Walk], patients, strangers, scratch: Path) -> dict:
    """Each step, in one process: SQL statements, pool pings, Redis round trips, and their times."""
    file = scratch / "walks.json"
    rows = []
    for index, w in enumerate(walks):
        caller = patients[index] if index % 2 == 0 else strangers[index]
        steps = [{"path": s.path, "params": s.params, "label": label(s)} for s in w.steps]
        rows.append({"fields": call_fields("", caller, "ringing"), "steps": steps})
    file.write_text(json.dumps(rows, ensure_ascii=False))
    result = {}
    for name, extra in (("hotline", []), ("baseline", ["--baseline"])):
        command = [sys.executable, str(BENCH / "profile_webhooks.py"), "census", str(file),
                   "--calls", str(args.census_calls), *extra]  # fmt: skip
        done = subprocess.run(command, cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
        if done.returncode != 0:
            raise CheckFailed(f"census failed: {done.stderr[-2000:]}")
        result[name] = json.loads(done.stdout.strip().splitlines()[-1])["steps"]
    return result


def census_means(rows: list[dict]) -> dict[str, float]:
    """Per request, over the benchmark's mix of steps."""
    totals: Counter = Counter()
    n = sum(row["n"] for row in rows)
    for row in rows:
        for key in ("sql", "sql SELECT", "ping", "redis"):
            totals[key] += row["counts"].get(key, 0) * row["n"]
        for key in ("sql", "ping", "redis", "signature", "twiml"):
            totals[f"{key} ms"] += row["ms"].get(key, 0) * row["n"]
        totals["cpu"] += row["cpu_ms"] * row["n"]
        totals["wall"] += row["wall_ms"] * row["n"]
    return {key: value / n for key, value in totals.items()} if n else {}


def label(step_: Step) -> str:
    if step_.path == "/ivr/voice":
        return "`/ivr/voice` (a new call)"
    if step_.path == "/ivr/status":
        return "`/ivr/status` completed"
    return describe(step_)


def profile_markdown(r: dict) -> str:
    profile, h = r["profile"], r["hotline"]
    lines = [
        "# Where the hotline's webhook time goes",
        "",
        "Written by `bench/webhooks.py` (with `bench/profile_webhooks.py`) from what it measured, in the run of "
        f"`bench/results/webhooks.md` ({r['date']}, `{r['command']}`).",
        "",
        "## CPU during the measured runs",
        "",
        "Cores' worth of CPU each side used while wrk loaded it (from /proc, the middle of the run).",
        "",
        "| side | hotline | baseline |",
        "| --- | ---: | ---: |",
    ]
    cpu_h, cpu_b = h.get("cpu") or {}, r["baseline"].get("cpu") or {}
    for name in cpu_h:
        lines.append(f"| {name} | {cpu_h[name]:.2f} | {cpu_b.get(name, 0):.2f} |")
    if cpu_h:
        lines += [
            "",
            f"Server CPU per request: hotline {1000 * cpu_h['server (gunicorn)'] / h['rps']:.2f} ms, baseline "
            f"{1000 * cpu_b['server (gunicorn)'] / r['baseline']['rps']:.2f} ms.",
        ]
    spy = profile.get("pyspy")
    if spy:
        lines += [
            "",
            "## Python CPU in the workers, by library (py-spy)",
            "",
            f"`{profile['pyspy_command']}` during a further load of distinct calls ({spy['samples']} samples; each "
            "sample goes to the innermost frame of a known library, or of the hotline's own code).",
            "",
            "| where | share of samples |",
            "| --- | ---: |",
        ]
        lines += [f"| {name} | {share:.1%} |" for name, share in spy["categories"]]
        lines += [
            "",
            "The hotline's own functions, inclusive (everything they call):",
            "",
            "| function | share of samples |",
            "| --- | ---: |",
        ]
        lines += [f"| `{name}` | {share:.1%} |" for name, share in spy["functions"]]
    elif profile.get("note"):
        lines += ["", f"py-spy: {profile['note']}"]
    census = profile.get("census")
    if census:
        lines += [
            "",
            "## Each step, one request at a time (census)",
            "",
            f"Every step of the benchmark's calls, {r['settings']['census_calls']} calls of each kind, in one process "
            "through Flask's test client on the same database and Redis (no load, so times are the least they "
            "can be). SQL: statements sent (of them SELECT); pings: the pool's pre-ping on checkout; Redis: "
            "round trips (a pipeline is one). Times in ms per request.",
            "",
            "| step | SQL | SELECT | pings | Redis | SQL ms | ping ms | Redis ms | signature ms | TwiML str ms "
            "| CPU ms | wall ms |",
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        ]
        for row in census["hotline"]:
            c, ms = row["counts"], row["ms"]
            lines.append(
                f"| {row['step']} | {c.get('sql', 0):.1f} | {c.get('sql SELECT', 0):.1f} | {c.get('ping', 0):.1f} "
                f"| {c.get('redis', 0):.1f} | {ms.get('sql', 0):.2f} | {ms.get('ping', 0):.2f} "
                f"| {ms.get('redis', 0):.2f} | {ms.get('signature', 0):.2f} | {ms.get('twiml', 0):.2f} "
                f"| {row['cpu_ms']:.2f} | {row['wall_ms']:.2f} |"
            )
        t, base = census_means(census["hotline"]), census_means(census["baseline"])
        lines += [
            f"| **mean over the mix** | {t['sql']:.1f} | {t['sql SELECT']:.1f} | {t['ping']:.1f} | {t['redis']:.1f} "
            f"| {t['sql ms']:.2f} | {t['ping ms']:.2f} | {t['redis ms']:.2f} | {t['signature ms']:.2f} "
            f"| {t['twiml ms']:.2f} | {t['cpu']:.2f} | {t['wall']:.2f} |",
            f"| *baseline, same requests* | 0 | 0 | 0 | 0 | | | | | | {base['cpu']:.2f} | {base['wall']:.2f} |",
            "",
        ]
    return "\n".join(lines) + "\n"


def describe(step_: Step) -> str:
    path, _, query = step_.path.partition("?")
    args = [f"{k}={v}" for k, v in urllib.parse.parse_qsl(query) if k not in ("lang", "f")]
    said = step_.params.get("Digits") or step_.params.get("SpeechResult") or "(silence)"
    return f"`{path}{'?' + '&'.join(args) if args else ''}` {said}"


def sample_latency(timings: list[tuple[str, float]]) -> list[tuple[str, int, float]]:
    by_path: dict[str, list[float]] = {}
    for path, seconds in timings:
        by_path.setdefault(path, []).append(seconds * 1000)
    rows = []
    for path, values in sorted(by_path.items()):
        values.sort()
        rows.append((path, len(values), values[len(values) // 2]))
    return rows


def count_records(db: Database, client: redis.Redis, args, before: int, warm: dict, main: dict, written: dict) -> dict:
    """The call records the load left must match the status callbacks: every callback answered (204) made
    its call's record 'completed' (once the records worker ran the jobs); a callback wrk sent as it stopped
    may have landed unanswered."""
    completed = db.scalar("SELECT count(*) FROM call_records WHERE status = 'completed'")
    total = db.scalar("SELECT count(*) FROM call_records")
    empty = db.scalar(
        "SELECT count(*) FROM call_records r WHERE r.status = 'completed' "
        "AND NOT EXISTS (SELECT 1 FROM call_events e WHERE e.call_id = r.id)"
    )
    events = db.scalar("SELECT count(*) FROM call_events")
    no_path = db.scalar("SELECT count(*) FROM call_records WHERE status = 'completed' AND menu_path = ''")
    keys = redis_keys(client, args.redis_prefix)
    sample = before  # the sample walks' records, all completed (checked before)
    answered = warm["ok_status"] + main["ok_status"]
    sent = warm["status_sent"] + main["status_sent"]
    wrapped = main["wrapped_threads"] + warm["wrapped_threads"]
    load_completed = completed - sample
    ok = answered <= load_completed <= sent and empty == 0 and no_path == 0 and wrapped == 0
    text = (
        f"Call records: the load's status callbacks were answered 204 {answered} times ({sent} sent, the rest "
        f"in flight when wrk stopped) and {load_completed} call records were completed by them "
        f"({'within' if answered <= load_completed <= sent else '**not within**'} [answered, sent]); "
        f"{total - sample} records opened by the load's `POST /ivr/voice`; {events} call events stored; "
        f"completed records without events: {empty}, without a menu path: {no_path}; {keys} call keys in Redis; "
        f"connections that ran out of distinct calls: {wrapped}. The load's {written['jobs']} call-record jobs "
        f"were run by `{written['command']}` after wrk stopped, in {written['seconds']:.1f} s (not part of the "
        "figures above)."
    )
    return {
        "completed": load_completed,
        "record_jobs": written["jobs"],
        "record_jobs_seconds": written["seconds"],
        "opened": total - sample,
        "answered": answered,
        "sent": sent,
        "events": events,
        "empty": empty,
        "redis_keys": keys,
        "ok": ok,
        "text": text,
    }


if __name__ == "__main__":
    sys.exit(main())
