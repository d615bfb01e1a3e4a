"""Routing benchmark: how long the ACD takes to decide and to make an offer ring.
Writes bench/results/routing.md from what it measured.

    .venv/bin/python bench/routing.py                      # REDIS_URL or redis://127.0.0.1:6379/15
    .venv/bin/python bench/routing.py --events 2000 --calls 200

1. **Decision** (acd/distributor.py, Redis + Lua, this process): 20 queues (the config's
   plus generated desks, each with tiers), 500 agents with 1-3 skills at levels 1-5 and
   5,000 waiting callers spread over the queues with mixed priorities and join times.
   Most agents are on a call; the event timed is the one that makes routing work: an
   agent becomes free and `ACD.dispatch` reads the snapshot (heads of every queue, the
   free agents), runs the fairness rule and reserves the pair with the Lua script.  After
   each event the caller is answered and the agent goes back to a call, and a new caller
   joins, so the load stays at 5,000 waiting.  Also timed: the pure rule alone
   (`routing.match`) on a whole snapshot of 5,000 callers and 500 free agents, the worst
   case (everybody free at once).
2. **The whole offer path** (the served app and the carrier emulator, in this process):
   the same 5,000 callers wait in Redis (in queues the test agents do not serve), 20
   agents are free for general enquiries; each call dials the hotline, presses 0, and
   the time is measured from the key press to the agent's phone ringing (the webhook that
   queues the caller, dispatch, the REST redirect to the emulator, the `connect` webhook
   whose Participants API request rings the agent's <Client> into the talk's conference,
   issue 14), then from the agent's pick-up to the two talking in that conference with the
   offer marked answered (the agent leg's status callback, `queue/leg`).  Wall-clock time:
   the emulator's virtual clock makes the spoken prompts free, the HTTP round trips are
   real.  Before issue 14 the talk was a <Dial> bridge (`Call.bridged_with`); a talk is a
   conference now, so the check is `tests.talking.talking`.

With `--against REV --rounds N`, rounds alternate between this tree's last commit and git
revision REV (both by `git archive`, this script and bench/common.py copied in), each round a fresh
process running `--events E --calls C`; the samples of each tree are pooled
(bench/results/routing-ab.md).  The machine is shared: only figures of the same run compare.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import datetime
from pathlib import Path
from zoneinfo import ZoneInfo

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import redis  # noqa: E402
import yaml  # noqa: E402

import settings as settings_module  # noqa: E402
from acd.distributor import ACD  # noqa: E402
from bench import common  # noqa: E402
from contactcentre import routing  # noqa: E402
from tests.talking import talking  # noqa: E402

RESULTS = ROOT / "bench" / "results" / "routing.md"
RESULTS_AB = ROOT / "bench" / "results" / "routing-ab.md"
T0 = 1_800_000_000.0


def ms(stats: dict[str, float]) -> str:
    return " | ".join(f"{stats[k] * 1000:.2f}" for k in ("p50", "p95", "p99", "max"))


def twenty_queues(environ: dict[str, str], *, overflow: bool = True) -> settings_module.Settings:
    data = yaml.safe_load((ROOT / "config.yaml").read_text(encoding="utf-8"))
    queues = data["routing"]["queues"]
    extra = 20 - len(queues)
    for i in range(extra):
        queues[f"desk{i:02d}"] = {
            "title": {"zh": f"咨询台{i}", "en": f"desk {i}"},
            "skill": f"desk{i:02d}",
            "min_level": 3,
            "tiers": [{"after_seconds": 30, "min_level": 1}]
            + ([{"after_seconds": 90, "overflow": ["general"]}] if overflow else []),
        }
    return settings_module.parse(data, environ=environ)


def count_round_trips(client: redis.Redis) -> tuple[list[int], list[int]]:
    """A counter of what `client` sends to Redis (a command, a pipeline or a script call is
    one round trip), and the list the per-dispatch counts go to.  Counts this client only."""
    sent = [0]
    command, pipeline = client.execute_command, redis.client.Pipeline.execute

    def counted_command(*args, **kwargs):
        sent[0] += 1
        return command(*args, **kwargs)

    def counted_pipeline(self, *args, **kwargs):
        if self.connection_pool is client.connection_pool:
            sent[0] += 1
        return pipeline(self, *args, **kwargs)

    client.execute_command = counted_command
    redis.client.Pipeline.execute = counted_pipeline
    return sent, []


def decision(client: redis.Redis, prefix: str, events: int, seed: int = 4) -> dict:
    settings = twenty_queues({})
    rules = settings.routing
    acd = ACD(client, prefix, rules)
    rng = random.Random(seed)
    names = list(rules.queues)
    skills_of = {}
    for agent in range(1, 501):
        chosen = rng.sample(names, rng.randint(1, 3))
        skills_of[agent] = {rules.queues[q].skill: rng.randint(1, 5) for q in chosen}
    counter = 0

    def join(now: float) -> None:
        nonlocal counter
        counter += 1
        queue = rng.choice(names)
        acd.enqueue(f"CA{counter:08d}", queue, priority=rng.choice((0, 0, 0, 1, 2)), now=now - rng.uniform(0, 300))

    now = T0
    for _ in range(5000):
        join(now)
    # Every agent logs in and is put on a call with a synthetic caller of their own.
    for agent, skills in skills_of.items():
        acd.set_state(agent, "available", now, name=f"agent{agent}", skills=skills)
        own = f"CAown{agent}"
        acd.enqueue(own, next(q for q in names if rules.queues[q].skill in skills), priority=9, now=now)
        assert acd.reserve(own, agent, now) is not None
        acd.answer(own, agent, now)
    waiting = sum(int(client.zcard(acd.p + "queue:" + q)) for q in names)
    samples, matched = [], 0
    trips, trip_counts = count_round_trips(client)
    for _ in range(events):
        now += 1
        agent = rng.randint(1, 500)
        state = acd.agent(agent)
        if state["state"] != "on_call":
            continue
        acd.talk_end(state["call"], agent, now)
        acd.end_wrap_up(agent, now)  # free now: the event that makes routing work
        sent_before = trips[0]
        started = time.perf_counter()
        offers = acd.dispatch(now)
        samples.append(time.perf_counter() - started)
        trip_counts.append(trips[0] - sent_before)
        for offer in offers:
            matched += 1
            acd.answer(offer.entry, offer.agent_id, now)
            join(now)
        if not offers:  # nobody it may take: put it back on a call of its own
            own = f"CAown{agent}x{now}"
            acd.enqueue(own, next(q for q in names if rules.queues[q].skill in skills_of[agent]), priority=9, now=now)
            acd.reserve(own, agent, now)
            acd.answer(own, agent, now)
    # The pure rule on a whole snapshot: 5,000 callers, 500 free agents.
    callers = acd.waiting(per_queue=10_000)
    free = [routing.FreeAgent(a, rng.uniform(0, 100), s) for a, s in skills_of.items()]
    rule_samples = []
    for _ in range(20):
        started = time.perf_counter()
        pairs = routing.match(rules, callers, free, now)
        rule_samples.append(time.perf_counter() - started)
    return {
        "waiting": waiting,
        "queues": len(names),
        "dispatch": common.percentiles(samples),
        "dispatch_samples": samples,
        "matched": matched,
        "trips_mean": sum(trip_counts) / max(1, len(trip_counts)),
        "trips_max": max(trip_counts, default=0),
        "rule": common.percentiles(rule_samples),
        "rule_callers": len(callers),
        "rule_pairs": len(pairs),
    }


def offer_path(redis_url: str, calls: int) -> dict:
    """The served app and the emulator, as tests/acd does it."""
    from werkzeug.serving import make_server

    from app import create_app
    from emulator import Carrier
    from records import loader
    from records.db import make_engine, make_sessions, migrate

    workdir = Path(tempfile.mkdtemp(prefix="routing-bench-"))
    database_url = f"sqlite:///{workdir / 'hotline.db'}"
    engine = make_engine(database_url)
    migrate(engine)
    opened = datetime(2026, 11, 24, 10, 0, tzinfo=ZoneInfo("Asia/Shanghai"))
    with make_sessions(engine).begin() as session:
        loader.load(session, loader.read(ROOT / "records" / "demo" / "hospital.yaml"), today=opened.date())
    engine.dispose()
    carrier = Carrier(account_sid="AC" + "1" * 32, auth_token="bench-token")
    carrier.serve()
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    environ = {
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "REDIS_PREFIX": prefix,
        "TWILIO_AUTH_TOKEN": "bench-token",
        "TWILIO_ACCOUNT_SID": carrier.account_sid,
        "TWILIO_API_BASE": carrier.base_url,
    }
    settings = twenty_queues(environ, overflow=False)  # the load stays out of the general desk
    origin = carrier.clock.time()
    app = create_app(settings, clock=lambda: opened.__class__.fromtimestamp(
        opened.timestamp() + carrier.clock.time() - origin, opened.tzinfo))  # fmt: skip
    app.logger.disabled = True
    import logging

    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    hotline = app.extensions["hotline"]
    http = make_server("127.0.0.1", 0, app, threaded=True)
    threading.Thread(target=http.serve_forever, daemon=True).start()
    server = f"http://127.0.0.1:{http.server_port}"
    carrier.add_number(
        settings.hospital.main_number, voice_url=f"{server}/ivr/voice", status_callback=f"{server}/ivr/status"
    )
    try:
        acd = hotline.acd
        now = hotline.now().timestamp()
        rng = random.Random(5)
        desks = [q for q in settings.routing.queues if q.startswith("desk")]
        for i in range(5000):  # the load: callers nobody here may take
            acd.enqueue(
                f"CAload{i:05d}", rng.choice(desks), priority=rng.choice((0, 1, 2)), now=now - rng.uniform(0, 300)
            )
        for agent in range(1, 21):
            acd.set_state(agent, "available", now, name=f"agent{agent}", skills={"general": 3})
        to_ring, to_bridge = [], []
        first = one_call(carrier, settings, hotline, 0)  # untimed: the process's first call imports
        for i in range(1, calls + 1):  # twilio's REST modules (seconds), which every process does once
            ring, bridge = one_call(carrier, settings, hotline, i)
            to_ring.append(ring)
            to_bridge.append(bridge)
        return {
            "ring": common.percentiles(to_ring),
            "bridge": common.percentiles(to_bridge),
            "ring_samples": to_ring,
            "bridge_samples": to_bridge,
            "calls": calls,
            "first": first,
            "waiting": 5000,
        }
    finally:
        http.shutdown()
        carrier.stop()
        forget(redis.Redis.from_url(redis_url), prefix)


def one_call(carrier, settings, hotline, i: int) -> tuple[float, float]:
    """One caller presses 0 and an agent answers: (key 0 -> the agent's phone rings, the agent
    picks up -> the two talking with the answer marked), wall clock."""
    acd = hotline.acd
    call = carrier.dial(to=settings.hospital.main_number, from_=f"+86139{i:08d}")
    started = time.perf_counter()
    call.press("0")
    leg = carrier.ringing()
    ring = time.perf_counter() - started
    started = time.perf_counter()
    leg.answer()
    bridge = time.perf_counter() - started
    assert talking(call, leg), f"call {i}: not in the agent's conference ({call.waiting_for})"
    assert acd.agent(agent_of(leg))["state"] == "on_call", f"call {i}: the answer was not marked"
    leg.hangup()  # the agent ends the talk: the caller goes on to the survey,
    call.hangup()  # and hangs up there, so no timer of this call runs in the next one's measure
    for agent in range(1, 21):
        acd.heartbeat(agent, hotline.now().timestamp())
        if acd.agent(agent)["state"] == "wrap_up":
            acd.end_wrap_up(agent, hotline.now().timestamp())
    return ring, bridge


def agent_of(leg) -> int:
    """The staff id of the agent whose phone `leg` is (`client:agent-7` -> 7)."""
    return int(leg.to.rsplit("-", 1)[-1])


def forget(client: redis.Redis, prefix: str) -> None:
    """Remove the run's keys: the ACD's, and RQ's queues and jobs named with the prefix
    (the call records the app handed to its records queue, which no worker ran here)."""
    keys = list(client.scan_iter(f"{prefix}*", count=1000))
    queues = list(client.scan_iter(f"rq:*{prefix}*", count=1000))
    jobs = set()
    for key in queues:
        kind = client.type(key)
        if kind in (b"list", "list"):
            jobs.update(client.lrange(key, 0, -1))
        elif kind in (b"zset", "zset"):
            jobs.update(client.zrange(key, 0, -1))
    names = {job.decode() if isinstance(job, bytes) else job for job in jobs}
    # One pass over the jobs' keys (rq:job:<id> and rq:job:<id>:<part>), not a scan per job:
    # that was a pass over the whole database for each of thousands of jobs (minutes).
    for key in client.scan_iter("rq:job:*", count=1000):
        rest = (key.decode() if isinstance(key, bytes) else key).removeprefix("rq:job:")
        if rest in names or rest.rsplit(":", 1)[0] in names:
            keys.append(key)
    if keys or queues:
        client.delete(*keys, *queues)


def alternate(
    rev: str, rounds: int, events: int, calls: int, rounds_seen: list[str]
) -> dict[str, dict[str, list[float]]]:
    """Samples of this tree's last commit and of `rev`, from `rounds` fresh processes each,
    alternating (ABBA...) so that the machine's load falls on both alike.  Both run from
    `git archive` copies (this script and bench/common.py copied in), so that work going on
    in the tree meanwhile changes neither."""
    head = subprocess.run(["git", "-C", str(ROOT), "rev-parse", "--short", "HEAD"], check=True,
                          capture_output=True, text=True).stdout.strip()  # fmt: skip
    copies = Path(tempfile.mkdtemp(prefix="routing-ab-"))
    try:
        trees = [(f"{head} (this tree)", _copy_of(head, copies / "this")), (rev, _copy_of(rev, copies / "ref"))]
        pooled: dict[str, dict[str, list[float]]] = {
            name: {"ring": [], "bridge": [], "dispatch": []} for name, _ in trees
        }
        for i in range(2 * rounds):
            name, tree = trees[(i + i // 2) % 2]  # this, ref, ref, this, this, ref, ...
            out = copies / f"round{i}.json"
            command = [
                sys.executable,
                str(tree / "bench" / "routing.py"),
                "--events",
                str(events),
                "--calls",
                str(calls),
            ]
            subprocess.run([*command, "--json", str(out)], check=True, cwd=tree, stdout=subprocess.DEVNULL)
            found = json.loads(out.read_text())
            for kind, samples in pooled[name].items():
                samples += found[kind]
            medians = ", ".join(
                f"{kind} {statistics.median(found[kind]) * 1000:.2f}" for kind in pooled[name] if found[kind]
            )
            progress = f"round {i + 1}/{2 * rounds} ({name}): p50 ms {medians}; load {os.getloadavg()[0]:.1f}"
            rounds_seen.append(progress)
            print(progress, flush=True)
        return pooled
    finally:
        shutil.rmtree(copies, ignore_errors=True)


def _copy_of(rev: str, where: Path) -> Path:
    where.mkdir(parents=True)
    archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(where)], input=archive, check=True)
    for name in ("routing.py", "common.py"):
        shutil.copy(ROOT / "bench" / name, where / "bench" / name)
    return where


def report_alternating(client: redis.Redis, args: argparse.Namespace) -> None:
    started = f"{datetime.now().astimezone().isoformat(timespec='seconds')}, load {os.getloadavg()[0]:.1f}"
    rounds_seen: list[str] = []
    pooled = alternate(args.against, args.rounds, args.events, args.calls, rounds_seen)
    command = f".venv/bin/python bench/routing.py --events {args.events} --calls {args.calls} "
    command += f"--against {args.against} --rounds {args.rounds}"
    lines = [
        "# Routing benchmark: this tree and another revision, alternating",
        "",
        f"Command: `{command}`  ",
        f"Run: started {started}; {common.machine_line(load_when='at the end')}; Redis {common.redis_version(client)}.",
        "",
        f"{args.rounds} rounds of each tree (fresh processes, alternating this, ref, ref, this...), each "
        f"{args.events} agent-free events (500 agents, 5,000 callers, 20 queues) and {args.calls} calls "
        "(key 0 to the agent's phone ringing, 5,000 other callers waiting, 20 free agents).",
        "",
        "| code | measure | n | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|---|---|",
    ]
    labels = {"dispatch": "dispatch when an agent becomes free", "ring": "key 0 -> the agent's phone rings",
              "bridge": "pick-up -> talking, answer marked"}  # fmt: skip
    for kind, label in labels.items():
        for name, samples in pooled.items():
            if samples[kind]:
                stats = common.percentiles(samples[kind])
                lines.append(f"| {name} | {label} | {stats['n']} | {ms(stats)} |")
    lines += ["", "Each round (its own medians and the load as it ended):", "", *(f"- {r}" for r in rounds_seen)]
    common.write_result(RESULTS_AB, lines)
    print("\n".join(lines))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=2000, help="agent-free events timed")
    parser.add_argument("--calls", type=int, default=200, help="whole calls timed (0: the decision only)")
    parser.add_argument("--json", metavar="PATH", help="write the samples there (and no report)")
    parser.add_argument("--against", metavar="REV", help="alternate rounds with this git revision's code")
    parser.add_argument("--rounds", type=int, default=6, help="with --against: rounds of each tree")
    args = parser.parse_args()
    redis_url = os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/15")
    client = redis.Redis.from_url(redis_url, decode_responses=True)
    if args.against:
        report_alternating(client, args)
        return
    prefix = f"bench:{uuid.uuid4().hex[:8]}:"
    decided = None
    if args.events:  # --events 0: the offer path only
        try:
            decided = decision(client, prefix, args.events)
        finally:
            forget(client, prefix)
        print(
            f"dispatch: {ms(decided['dispatch'])} (p50 | p95 | p99 | max ms), {decided['trips_mean']:.2f} round trips"
        )
    path = offer_path(redis_url, args.calls) if args.calls else None  # --calls 0: the decision only
    if args.json:
        found = {
            "dispatch": decided["dispatch_samples"] if decided else [],
            "trips": decided["trips_mean"] if decided else 0,
        }
        found |= (
            {"ring": path["ring_samples"], "bridge": path["bridge_samples"]} if path else {"ring": [], "bridge": []}
        )
        Path(args.json).write_text(json.dumps(found))
        return
    assert decided is not None, "a report needs the decision (--events > 0)"
    command = "REDIS_URL=" + redis_url + " .venv/bin/python bench/routing.py " + " ".join(sys.argv[1:])
    lines = [
        "# Routing benchmark",
        "",
        f"Command: `{command.strip()}`  ",
        f"Run: {datetime.now().astimezone().isoformat(timespec='seconds')} on {common.machine_line(load_when='at the end')}; "
        f"Redis {common.redis_version(client)}.",
        "",
        "## 1. Routing decision (ACD.dispatch: snapshot + rule + Lua reserve)",
        "",
        f"{decided['queues']} queues, 500 agents, {decided['waiting']} callers waiting; "
        f"{decided['dispatch']['n']} agent-free events, {decided['matched']} offers made.",
        "",
        "| measure | p50 ms | p95 ms | p99 ms | max ms |",
        "|---|---|---|---|---|",
        f"| dispatch when one agent becomes free | {ms(decided['dispatch'])} |",
        f"| its Redis round trips (Lua scripts and commands sent), mean / max | {decided['trips_mean']:.2f} "
        f"| | | {decided['trips_max']} |",
        f"| the rule alone (routing.match), {decided['rule_callers']} callers x 500 free agents "
        f"({decided['rule_pairs']} pairs) | {ms(decided['rule'])} |",
        "",
        f"Target (issue 17): dispatch p99 < 5 ms: {common.yes(decided['dispatch']['p99'] < 0.005)} "
        f"({decided['dispatch']['p99'] * 1000:.2f} ms).",
        "",
    ]
    if path is not None:
        lines += [
            "## 2. The whole offer path (served app + carrier emulator, wall clock)",
            "",
            f"{path['calls']} calls one after another, {path['waiting']} other callers waiting in Redis, "
            "20 free agents.",
            "",
            "| measure | p50 ms | p95 ms | p99 ms | max ms |",
            "|---|---|---|---|---|",
            f"| key 0 pressed -> the agent's phone rings | {ms(path['ring'])} |",
            f"| the agent picks up -> caller and agent talking, the answer marked | {ms(path['bridge'])} |",
            "",
            f"Not in the table: the process's first call, untimed above ({path['first'][0] * 1000:.0f} ms to ring: "
            "it imports twilio's REST modules).  Each call ends (agent, then caller) before the next.",
            "",
            f"Target (issue 17): key 0 to ringing p99 < 50 ms: {common.yes(path['ring']['p99'] < 0.05)} "
            f"({path['ring']['p99'] * 1000:.2f} ms).",
            "",
        ]
    common.write_result(RESULTS, lines)
    print("\n".join(lines))


if __name__ == "__main__":
    main()
