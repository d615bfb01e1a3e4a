"""The hotline under gunicorn with several worker processes, for tests that need real
concurrency (the in-process `server` fixture is one process, one GIL).

    with Gunicorn(environ, workers=4, threads=4) as server:
        server.url  # http://127.0.0.1:<port>
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
GUNICORN = Path(sys.executable).parent / "gunicorn"
# What the parent's environment must not pass to the server: the test says what it wants.
OWN = ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "PUBLIC_BASE_URL",
       "TWILIO_API_BASE", "HOTLINE_CONFIG")  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Gunicorn:
    def __init__(
        self,
        environ: dict[str, str],
        *,
        workers: int = 4,
        threads: int = 4,
        app: str = "app:create_app()",
        boot_seconds: float = 30,
    ):
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.workers_wanted = workers
        self.command = [
            str(GUNICORN),
            "-w", str(workers),
            "-k", "gthread",
            "--threads", str(threads),
            "-b", f"127.0.0.1:{self.port}",
            "--no-control-socket",
            "--log-level", "warning",
            app,
        ]  # fmt: skip
        self.env = {k: v for k, v in os.environ.items() if k not in OWN} | environ | {"PYTHONDONTWRITEBYTECODE": "1"}
        self.boot_seconds = boot_seconds
        self.process: subprocess.Popen | None = None
        self.log = Path(tempfile.mkstemp(prefix="hotline-gunicorn-", suffix=".log")[1])

    def __enter__(self) -> Gunicorn:
        self.process = subprocess.Popen(
            self.command,
            cwd=ROOT,
            env=self.env,
            stdout=self.log.open("w"),
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, stopped as one
        )
        try:
            self._wait_until_every_worker_answers()
        except BaseException:
            self.stop()
            raise
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.stop()
        if kind is None:
            self.log.unlink(missing_ok=True)  # kept for a look when the test failed

    def workers(self) -> list[int]:
        out = subprocess.run(["ps", "-o", "pid=", "--ppid", str(self.process.pid)], capture_output=True, text=True)
        return [int(pid) for pid in out.stdout.split()]

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def _wait_until_every_worker_answers(self) -> None:
        """Every worker forked, and the app answering (an unsigned GET is a 403 from the
        signature check, so a worker has imported the app).  Workers import the app after
        the fork, so a burst of probes gives the late ones time to get there."""
        deadline = time.monotonic() + self.boot_seconds
        answered = 0
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"gunicorn exited with {self.process.returncode}:\n{self.output()[-3000:]}")
            if len(self.workers()) >= self.workers_wanted and self._answers():
                answered += 1
                if answered >= 3 * self.workers_wanted:
                    return
            else:
                time.sleep(0.1)
        raise RuntimeError(f"gunicorn did not answer within {self.boot_seconds} s:\n{self.output()[-3000:]}")

    def _answers(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/ivr/voice", timeout=5):
                return True
        except urllib.error.HTTPError:
            return True  # 403 (unsigned): the app answered
        except OSError:
            return False

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass
