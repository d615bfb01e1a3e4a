"""What unsigned (or forged) 100 MiB webhook posts cost the gunicorn workers' memory:
this tree against a reference commit (default d4e1d40, before issue 22.2), side by side
in one run.

    .venv/bin/python bench/bodies.py                       # about a minute
    .venv/bin/python bench/bodies.py --reference <commit> --posts 4 --mib 100

For each tree (the reference's files from `git archive`, then this one):
gunicorn with gunicorn.conf.py and 2 workers on a free port (a SQLite file and the
machine's Redis under their own prefix: refused webhooks touch neither), then two rounds
of `--posts` concurrent POSTs to /ivr/voice of `--mib` MiB each, the body made as it is
sent (nothing held by the client): unsigned, then with a forged X-Twilio-Signature.
Each worker's RSS is read from /proc before, every 50 ms during (the peak) and after.
The report goes to bench/results/bodies.md (and .json).
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import shlex
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench import common  # noqa: E402
from bench.load import children, stop, wait_until_answers  # noqa: E402

VENV_BIN = ROOT / ".venv" / "bin"
CHUNK = b"a" * (1024 * 1024)


def rss_mib(pid: int) -> float:
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def post(port: int, mib: int, headers: dict, out: list) -> None:
    """One POST of `mib` MiB, sent a MiB at a time; what came back, and how much was sent
    before the server answered or closed."""
    started, sent, status = time.monotonic(), 0, None
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=120)
    try:
        connection.putrequest("POST", "/ivr/voice")
        for name, value in {"Content-Type": "application/x-www-form-urlencoded",
                            "Content-Length": str(mib * len(CHUNK)), **headers}.items():  # fmt: skip
            connection.putheader(name, value)
        connection.endheaders()
        for _ in range(mib):
            connection.send(CHUNK)
            sent += 1
    except OSError:
        pass  # the server answered and closed before the whole body was sent
    try:
        response = connection.getresponse()
        status = response.status
        response.read()
    except (OSError, http.client.HTTPException) as error:
        status = type(error).__name__
    finally:
        connection.close()
    out.append({"status": status, "sent_mib": sent, "seconds": round(time.monotonic() - started, 2)})


def round_of(port: int, workers: list[int], posts: int, mib: int, headers: dict) -> dict:
    before = {pid: rss_mib(pid) for pid in workers}
    peak = dict(before)
    results: list = []
    threads = [threading.Thread(target=post, args=(port, mib, headers, results)) for _ in range(posts)]
    for thread in threads:
        thread.start()
    while any(thread.is_alive() for thread in threads):
        for pid in workers:
            peak[pid] = max(peak[pid], rss_mib(pid))
        time.sleep(0.05)
    time.sleep(1)  # let the workers finish whatever the last answer left them
    after = {pid: rss_mib(pid) for pid in workers}
    return {
        "before": [round(before[p], 1) for p in workers],
        "peak": [round(peak[p], 1) for p in workers],
        "after": [round(after[p], 1) for p in workers],
        "posts": results,
    }


def serve(tree: Path, scratch: Path, label: str, args) -> dict:
    """gunicorn from `tree`, the rounds against it, and its figures."""
    port = common.free_port()
    env = {**{k: v for k, v in os.environ.items() if k not in ("PUBLIC_BASE_URL", "HOTLINE_CONFIG")},
           "DATABASE_URL": f"sqlite:///{scratch / f'{label}.db'}", "REDIS_URL": args.redis,
           "REDIS_PREFIX": f"bodies:{uuid.uuid4().hex[:8]}:", "TWILIO_AUTH_TOKEN": "bench-auth-token",
           "TWILIO_ACCOUNT_SID": "AC" + "1" * 32, "SECRET_KEY": "bench"}  # fmt: skip
    command = [str(VENV_BIN / "gunicorn"), "-w", "2", "-b", f"127.0.0.1:{port}", "--log-level", "warning",
               "app:create_app()"]  # fmt: skip
    log = scratch / f"{label}-gunicorn.log"
    process = subprocess.Popen(command, cwd=tree, env=env, stdout=log.open("w"), stderr=subprocess.STDOUT,
                               start_new_session=True)  # fmt: skip
    try:
        wait_until_answers(f"http://127.0.0.1:{port}", process, log)
        deadline = time.monotonic() + 30
        while len(children(process.pid)) < 2 and time.monotonic() < deadline:
            time.sleep(0.1)
        workers = children(process.pid)
        time.sleep(1)
        rounds = {
            "unsigned": round_of(port, workers, args.posts, args.mib, {}),
            "forged signature": round_of(port, workers, args.posts, args.mib, {"X-Twilio-Signature": "Zm9yZ2Vk"}),
        }
        return {"label": label, "gunicorn": shlex.join(["gunicorn", *command[1:]]), "rounds": rounds}
    finally:
        stop(process)


def report(args, runs: list[dict], machine: dict, command_line: str) -> list[str]:
    lines = [
        "# Unsigned and forged 100 MiB webhook posts: the gunicorn workers' memory",
        "",
        f"{common.now()}; `{command_line}`",
        "",
        common.machine_line(machine, load_when="before the run"),
        "",
        f"Each tree served by `{runs[0]['gunicorn']}` (gunicorn.conf.py: gthread, 4 threads), "
        f"{args.posts} concurrent POSTs of {args.mib} MiB to /ivr/voice per round, the body sent a MiB at a "
        "time; worker RSS in MiB from /proc (before, the peak sampled every 50 ms, 1 s after).",
        "",
        "| tree | round | workers' RSS before | peak | after | answers | MiB sent per post | seconds |",
        "| --- | --- | --- | --- | --- | --- | --- | --- |",
    ]
    for run in runs:
        for name, figures in run["rounds"].items():
            posts = figures["posts"]
            answers = ", ".join(sorted(str(p["status"]) for p in posts))
            sent = ", ".join(str(p["sent_mib"]) for p in posts)
            seconds = max(p["seconds"] for p in posts)
            lines.append(
                f"| {run['label']} | {name} | {' / '.join(map(str, figures['before']))} | "
                f"{' / '.join(map(str, figures['peak']))} | {' / '.join(map(str, figures['after']))} | "
                f"{answers} | {sent} | {seconds} |"
            )
    lines += [
        "",
        "'MiB sent per post' is how much of the body the client got out before the server answered and "
        "closed: what the server had to take in (into memory, or to drain and discard).",
    ]
    return lines


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--reference", default="d4e1d40", help="the commit to compare with (default d4e1d40)")
    parser.add_argument("--posts", type=int, default=4, help="concurrent posts per round (default 4)")
    parser.add_argument("--mib", type=int, default=100, help="MiB per post (default 100)")
    parser.add_argument("--redis", default=os.environ.get("HOTLINE_TEST_REDIS", "redis://127.0.0.1:6379/15"))
    args = parser.parse_args(argv)
    command_line = "bench/bodies.py" + ("" if not (argv or sys.argv[1:]) else " " + shlex.join(argv or sys.argv[1:]))
    machine = common.machine()
    scratch = Path(tempfile.mkdtemp(prefix="hotline-bodies-"))
    reference = scratch / "reference"
    reference.mkdir()
    # The reference's files (git archive: the repository itself is left as it is).
    archive = subprocess.run(["git", "archive", args.reference], cwd=ROOT, check=True, capture_output=True).stdout
    subprocess.run(["tar", "-x", "-C", str(reference)], input=archive, check=True)
    try:
        runs = [serve(reference, scratch, f"reference {args.reference}", args), serve(ROOT, scratch, "this tree", args)]
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    lines = report(args, runs, machine, command_line)
    common.write_result(ROOT / "bench" / "results" / "bodies.md", lines)
    common.write_result(ROOT / "bench" / "results" / "bodies.json", json.dumps(runs, indent=2))
    print("\n".join(lines))


if __name__ == "__main__":
    main()
