"""Live push (issue 15): server-sent events for the console and the wallboard, fed by
the stream the ACD already writes, `<prefix>acd:agent_log` (every change of an agent's
state, from whichever process made it: acd/distributor.py).

One reader thread per web process (a Hub) does a short blocking XREAD of that stream
and wakes every open event stream of the process; each stream picks what it wants (the
console: its own agent; the wallboard: everyone) and sends one `change` event per batch.
The browser then calls its ordinary refresh (the JSON it polls anyway), so the event
carries no patient data and the polling stays the fallback: a browser without
EventSource, a stream refused (503: the process is full) or a Redis hiccup leaves the
page polling as before.

Under gunicorn's gthread worker an open stream holds one thread while it is open
(mostly asleep on a Condition).  STREAMS_PER_PROCESS caps them, so the threads
gunicorn.conf.py adds for them never starve the webhooks (docs in gunicorn.conf.py;
measured with bench/push.py).

Why not Flask-SSE or a websocket library: Flask-SSE needs gevent and Redis pub/sub
(nothing publishes; the ACD writes a stream), and a websocket would be a second
protocol for one-way news.  The SSE framing is four lines (format below).
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Iterator

import redis
from werkzeug.wsgi import ClosingIterator

log = logging.getLogger(__name__)

# Open event streams one web process carries (gunicorn.conf.py gives it as many threads more).
STREAMS_PER_PROCESS = int(os.environ.get("HOTLINE_STREAMS_PER_PROCESS", "60"))
BLOCK_MS = 2000  # one XREAD waits this long; also how soon an idle hub notices it has no listeners
# A comment this often: under nginx's proxy_read_timeout (15 s, deploy/nginx), and a closed browser is noticed.
KEEP_ALIVE_SECONDS = 10
STREAM_SECONDS = 300  # then the browser reconnects (EventSource does): the login is checked again
RETRY_MS = 3000  # the browser's wait before reconnecting

_slots = threading.BoundedSemaphore(STREAMS_PER_PROCESS)
_hubs: dict[tuple[int, str], Hub] = {}
_hubs_lock = threading.Lock()


FULL_MESSAGE = "实时推送已满，页面改为定时刷新 Live updates are full here: the page refreshes on a timer instead"


class Full(Exception):
    """This process already carries STREAMS_PER_PROCESS streams: the page polls instead."""


class Hub:
    """The agent log's new entries, read once for every stream of this process."""

    def __init__(self, client: redis.Redis, key: str):
        self.client, self.key = _blocking(client), key
        self._changed = threading.Condition()
        self._recent: deque[tuple[int, dict]] = deque(maxlen=1000)
        self._seq = 0
        self._listeners = 0
        self._thread: threading.Thread | None = None
        self._last_id = "0-0"

    def subscribe(self) -> int:
        """A new listener; returns the point after which it wants entries.  Starts the
        reader if it is not running, from the stream's current end (read here, before
        returning, so a change made right after subscribing is never missed)."""
        with self._changed:
            self._listeners += 1
            if self._thread is None or not self._thread.is_alive():
                try:
                    newest = self.client.xrevrange(self.key, count=1)
                except redis.RedisError:
                    self._listeners -= 1
                    raise
                self._last_id = newest[0][0] if newest else "0-0"
                self._thread = threading.Thread(target=self._read, name="push-hub", daemon=True)
                self._thread.start()
            return self._seq

    def unsubscribe(self) -> None:
        with self._changed:
            self._listeners -= 1

    def wait(self, after: int, timeout: float) -> tuple[list[dict], int]:
        """The entries read after point `after` (waiting up to `timeout` for some), and the new point."""
        with self._changed:
            self._changed.wait_for(lambda: self._seq > after, timeout)
            return [fields for seq, fields in self._recent if seq > after], self._seq

    def _read(self) -> None:
        while True:
            with self._changed:
                if self._listeners <= 0:
                    self._thread = None
                    return
                last = self._last_id
            try:
                answer = self.client.xread({self.key: last}, count=500, block=BLOCK_MS)
            except redis.RedisError as exc:  # the pages poll meanwhile
                log.warning("push: the agent log cannot be read: %s", exc)
                time.sleep(1)
                continue
            entries = answer[0][1] if answer else []
            if entries:
                with self._changed:
                    for _stream_id, fields in entries:
                        self._seq += 1
                        self._recent.append((self._seq, fields))
                    self._last_id = entries[-1][0]
                    self._changed.notify_all()


def hub(client: redis.Redis, prefix: str) -> Hub:
    """This process's hub for the ACD under `prefix` (made after the fork: threads don't survive it)."""
    key = (os.getpid(), prefix + "acd:agent_log")
    with _hubs_lock:
        found = _hubs.get(key)
        if found is None:
            found = _hubs[key] = Hub(client, key[1])
        return found


def open_stream(source: Hub, wanted: Callable[[dict], bool], *, seconds: float = STREAM_SECONDS) -> Iterable[str]:
    """The text/event-stream body: `change` events with the wanted entries, keep-alive
    comments between.  Raises Full (before anything is sent) when the process is full."""
    if not _slots.acquire(blocking=False):
        raise Full()
    try:
        point = source.subscribe()
    except BaseException:
        _slots.release()
        raise
    lock, done = threading.Lock(), []

    def give_back() -> None:  # once, whether the body was read to its end, cut, or never started (HEAD)
        with lock:
            if done:
                return
            done.append(True)
        source.unsubscribe()
        _slots.release()

    return ClosingIterator(_events(source, point, wanted, seconds, give_back), give_back)


def _events(source: Hub, point: int, wanted: Callable[[dict], bool], seconds: float, give_back) -> Iterator[str]:
    try:
        yield f"retry: {RETRY_MS}\n: open\n\n"
        ends = time.monotonic() + seconds
        while (left := ends - time.monotonic()) > 0:
            entries, point = source.wait(point, min(KEEP_ALIVE_SECONDS, left))
            mine = [_public(fields) for fields in entries if wanted(fields)]
            yield event("change", mine) if mine else ": keep-alive\n\n"
    finally:  # the browser went away (the write failed) or the stream ended
        give_back()


def event(name: str, data: object) -> str:
    return f"event: {name}\ndata: {json.dumps(data, ensure_ascii=False)}\n\n"


def _public(fields: dict) -> dict:
    """Who changed to what, when: no caller, no call."""
    return {
        "agent": int(fields.get("agent", 0) or 0),
        "state": fields.get("state", ""),
        "reason": fields.get("reason", ""),
        "at": float(fields.get("at", 0) or 0),
    }


def _blocking(client: redis.Redis) -> redis.Redis:
    """A client of its own for the blocking read: the app's has a one-second socket
    timeout (right for a webhook) that a two-second BLOCK would trip."""
    pool = client.connection_pool
    options = dict(pool.connection_kwargs, socket_timeout=BLOCK_MS / 1000 + 3)
    return redis.Redis(connection_pool=redis.ConnectionPool(connection_class=pool.connection_class, **options))


HEADERS = {
    "Cache-Control": "no-store",
    "X-Accel-Buffering": "no",  # nginx (deploy/): pass each event on at once
}
