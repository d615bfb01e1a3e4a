"""Live push benchmark (issue 15): how many agents' consoles one web process carries on
server-sent events, and the delay from an ACD change to the console receiving it.
Writes bench/results/push.md.

    .venv/bin/python bench/push.py                   # 60 agents, 30 rounds; about a minute
    .venv/bin/python bench/push.py --agents 60 --rounds 30

1. A fresh SQLite database (migrated, AGENTS agent accounts), the machine's Redis under
   a prefix of its own (deleted after), ONE gunicorn worker with gunicorn.conf.py's
   threads (4 + HOTLINE_STREAMS_PER_PROCESS, set to AGENTS here).
2. Every agent logs in (requests.Session, the real login form) and opens
   /agent/api/stream, as the console's EventSource does; one more stream is opened to
   check the process refuses it (503: that browser polls).
3. Rounds: one agent's state is changed through the ACD (acd/distributor.py, as a sweep
   or another web process would); timed from just before the change to that agent's
   client reading the `change` event, then to its GET /agent/api/status showing the new
   state (what the console does on the event).  Then bursts: every agent changed at
   once, each agent's delay timed.
4. Meanwhile, with every stream open, GET /healthz is timed: the webhooks' threads are
   not taken by the streams.
"""

from __future__ import annotations

import argparse
import json
import os
import re
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import requests  # noqa: E402

import settings as settings_module  # noqa: E402
from acd.distributor import ACD  # noqa: E402
from bench import common  # noqa: E402
from records.db import make_engine, make_sessions, migrate  # noqa: E402
from records.staff import create_staff  # noqa: E402
from tests.gunicorn_server import Gunicorn  # noqa: E402

REDIS_URL = os.environ.get("HOTLINE_BENCH_REDIS", "redis://127.0.0.1:6379/15")
PASSWORD = "pw-bench-1234"


class Agent:
    """One console: a logged-in session and its open event stream, read by a thread."""

    def __init__(self, base: str, staff_id: int, username: str):
        self.base, self.id = base, staff_id
        self.session = requests.Session()
        page = self.session.get(f"{base}/login", timeout=10).text
        token = re.search(r'name="csrf_token" value="([^"]+)"', page).group(1)
        answer = self.session.post(
            f"{base}/login", data={"username": username, "password": PASSWORD, "csrf_token": token}, timeout=30
        )
        answer.raise_for_status()
        self.received = threading.Event()
        self.last: dict | None = None
        self.opened = threading.Event()
        self.stream = None

    def listen(self) -> None:
        self.stream = self.session.get(f"{self.base}/agent/api/stream", stream=True, timeout=(5, 60))
        if self.stream.status_code != 200:
            self.opened.set()
            return
        self.opened.set()
        name = None
        try:
            for line in self.stream.iter_lines(chunk_size=None, decode_unicode=True):
                if line.startswith("event: "):
                    name = line[7:]
                elif line.startswith("data: ") and name == "change":
                    self.last = json.loads(line[6:])[-1]
                    self.received.set()
                elif not line:
                    name = None
        except (AttributeError, requests.RequestException):  # closed at the end of the run
            pass

    def status(self) -> dict:
        return self.session.get(f"{self.base}/agent/api/status", timeout=10).json()


def prepare(database_url: str, agents: int) -> list[tuple[int, str]]:
    engine = make_engine(database_url)
    migrate(engine)
    made = []
    with make_sessions(engine).begin() as session:
        for n in range(agents):
            staff = create_staff(
                session, username=f"bench-agent-{n}", display_name=f"坐席{n}", role="agent", password=PASSWORD
            )
            session.flush()
            made.append((staff.id, staff.username))
    engine.dispose()
    return made


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--agents", type=int, default=60, help="consoles connected to the one web process")
    parser.add_argument("--rounds", type=int, default=30, help="single changes timed (and 5 bursts of all)")
    parser.add_argument("--out", default=str(BENCH / "results" / "push.md"))
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="hotline-push-"))
    database_url = f"sqlite:///{scratch / 'hotline.db'}"
    prefix = f"bench-push-{uuid.uuid4().hex[:8]}:"
    staff = prepare(database_url, args.agents)
    client = redis.Redis.from_url(REDIS_URL, decode_responses=True)
    settings = settings_module.load(ROOT / "config.yaml")
    acd = ACD(client, prefix, settings.routing)
    environ = {
        "DATABASE_URL": database_url,
        "REDIS_URL": REDIS_URL,
        "REDIS_PREFIX": prefix,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "HOTLINE_STREAMS_PER_PROCESS": str(args.agents),
    }
    machine = common.machine()
    single, burst, to_screen, health = [], [], [], []
    try:
        with Gunicorn(environ, workers=1, threads=4 + args.agents) as server:
            began = time.perf_counter()
            consoles = [Agent(server.url, staff_id, name) for staff_id, name in staff]
            for console in consoles:
                acd.set_state(console.id, "break", time.time(), reason="start", name=f"坐席{console.id}")
                threading.Thread(target=console.listen, daemon=True).start()
            for console in consoles:
                console.opened.wait(10)
            print(f"streams opened after logins: {time.perf_counter() - began:.1f} s", file=sys.stderr)
            connected = sum(1 for c in consoles if c.stream is not None and c.stream.status_code == 200)
            extra = requests.Session()
            extra.cookies.update(consoles[0].session.cookies)
            refused = extra.get(f"{server.url}/agent/api/stream", timeout=10).status_code
            time.sleep(0.5)  # every stream past its first line: subscribed

            for n in range(args.rounds):
                console = consoles[n % len(consoles)]
                reason = f"round-{n}"
                console.received.clear()
                started = time.perf_counter()
                acd.set_state(console.id, "break", time.time(), reason=reason)
                if not console.received.wait(10) or console.last["reason"] != reason:
                    single.append(float("inf"))
                    continue
                single.append((time.perf_counter() - started) * 1000)
                shown = console.status()
                to_screen.append((time.perf_counter() - started) * 1000 if shown.get("reason") == reason else 1e9)
                t = time.perf_counter()
                server_up = requests.get(f"{server.url}/healthz", timeout=10).status_code
                health.append((time.perf_counter() - t) * 1000 if server_up == 200 else float("inf"))
                time.sleep(0.05)
            for b in range(5):
                for console in consoles:
                    console.received.clear()
                started = time.perf_counter()
                pipe_at = time.time()
                for console in consoles:
                    acd.set_state(console.id, "break", pipe_at, reason=f"burst-{b}")
                for console in consoles:
                    burst.append((time.perf_counter() - started) * 1000 if console.received.wait(10) else float("inf"))
                time.sleep(0.2)
            rss = _rss_mib(server.workers())
            # The streams are left open: gunicorn's stop ends them (closing a response
            # from here while its thread reads it can block).
    finally:
        common.delete_redis_keys(client, prefix)

    s, b, sc, h = (common.percentiles(x) for x in (single, burst, to_screen, health))
    lines = [
        "# Live push: agents per web process and the delay to the console",
        "",
        f"{common.now()}; {common.machine_line(machine)}",
        "",
        f"Command: `.venv/bin/python bench/push.py --agents {args.agents} --rounds {args.rounds}`",
        "",
        f"- one gunicorn gthread worker, {4 + args.agents} threads (4 + HOTLINE_STREAMS_PER_PROCESS={args.agents})",
        f"- **{connected} of {args.agents} agents' event streams open at once** on that one process; "
        f"the next one answered **{refused}** (that console polls)",
        f"- worker RSS with them all open: {rss}",
        "",
        "| delay, ms | n | p50 | p95 | p99 | max |",
        "|---|---|---|---|---|---|",
        _row("one agent's change -> its console's event", s),
        _row("-> its GET /status showing it (what the console does)", sc),
        _row(f"all {args.agents} changed at once -> each console's event", b),
        _row("GET /healthz meanwhile (webhook threads free)", h),
    ]
    print(common.write_result(args.out, lines).read_text())


def _row(label: str, p: dict) -> str:
    return f"| {label} | {p['n']} | {p['p50']:.1f} | {p['p95']:.1f} | {p['p99']:.1f} | {p['max']:.1f} |"


def _rss_mib(pids: list[int]) -> str:
    sizes = []
    for pid in pids:
        try:
            text = Path(f"/proc/{pid}/status").read_text()
            sizes.append(int(re.search(r"VmRSS:\s+(\d+)", text).group(1)) / 1024)
        except (OSError, AttributeError):
            pass
    return ", ".join(f"{size:.0f} MiB" for size in sizes) or "?"


if __name__ == "__main__":
    main()
