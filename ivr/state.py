"""Per-call state in Redis, keyed by CallSid, with a TTL.

The web app keeps nothing in memory between requests, so any process can serve
any step of a call.  What a step needs to render (language, menu, page, tries)
travels in its own URL; Redis holds what belongs to the whole call: who the
caller may be and the events the call's record is written from.

Redis trouble must not cut a caller off: reads fall back to defaults, and
events go to the call's record through the recorder (queueing.recording),
which spools them in the database when Redis cannot number or queue them.
"""

from __future__ import annotations

import json
import logging
from datetime import datetime
from typing import TYPE_CHECKING

import redis

from records.calls import Event

if TYPE_CHECKING:
    from queueing.recording import Recorder

log = logging.getLogger(__name__)


class CallStore:
    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: int, recorder: Recorder | None = None):
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.recorder = recorder

    def _key(self, call_sid: str, part: str) -> str:
        return f"{self.prefix}call:{call_sid}:{part}"

    def start(self, call_sid: str, *, number: str | None, patient_ids: tuple[int, ...]) -> None:
        """Who the number may belong to (several files for a family number)."""
        self._keep(call_sid, number=number or "", matches=",".join(map(str, patient_ids)))

    def _keep(self, call_sid: str, **fields: object) -> bool:
        """Set fields of the call's caller state (and renew its TTL); False if Redis failed."""
        key = self._key(call_sid, "caller")
        try:
            pipe = self.redis.pipeline()
            pipe.hset(key, mapping=fields)
            pipe.expire(key, self.ttl)
            pipe.execute()
            return True
        except redis.RedisError as exc:
            log.warning("call %s: cannot keep %s: %s", call_sid, ", ".join(fields), exc)
            return False

    def matches(self, call_sid: str) -> tuple[str, list[int]]:
        """The caller's number (E.164, '' if none) and the patient files it belongs to."""
        caller = self.caller(call_sid)
        ids = [int(part) for part in caller.get("matches", "").split(",") if part.isdigit()]
        return caller.get("number", ""), ids

    def caller(self, call_sid: str) -> dict[str, str]:
        try:
            return self.redis.hgetall(self._key(call_sid, "caller"))
        except redis.RedisError as exc:
            log.warning("call %s: caller state unavailable: %s", call_sid, exc)
            return {}

    def add_events(self, call_sid: str, at: datetime, events: list[tuple[str, dict]]) -> None:
        """Append a request's events in one round trip and have them recorded.  A
        position in the list is the event's sequence number (RPUSH is atomic and
        returns the new length, so two processes serving one call cannot give two
        events the same number); that number makes recording them idempotent."""
        if not events:
            return
        key = self._key(call_sid, "events")
        payloads = [
            json.dumps({"at": at.isoformat(), "kind": kind, "detail": detail}, ensure_ascii=False, default=str)
            for kind, detail in events
        ]
        try:
            pipe = self.redis.pipeline(transaction=False)
            pipe.rpush(key, *payloads)
            pipe.expire(key, self.ttl)
            length = int(pipe.execute()[0])
        except redis.RedisError as exc:
            log.warning("call %s: %d events not kept in Redis: %s", call_sid, len(events), exc)
            if self.recorder is not None:
                self.recorder.unnumbered_events(call_sid, at, events)
            return
        if self.recorder is not None:
            first = length - len(events) + 1
            numbered = [Event(first + i, at, kind, detail) for i, (kind, detail) in enumerate(events)]
            self.recorder.events(call_sid, numbered)

    def events(self, call_sid: str) -> list[Event]:
        raw = self.redis.lrange(self._key(call_sid, "events"), 0, -1)
        events = []
        for sequence, item in enumerate(raw, start=1):
            data = json.loads(item)
            events.append(Event(sequence, datetime.fromisoformat(data["at"]), data["kind"], data["detail"]))
        return events

    # ---- identification ----------------------------------------------------------------------

    def identify(self, call_sid: str, patient_id: int) -> bool:
        """Remember who the caller proved to be, for the rest of the call."""
        return self._keep(call_sid, identified=patient_id)

    def note_record_number(self, call_sid: str, digits: str) -> bool:
        """The record number the caller keyed, kept until the birth date is keyed: in the
        call's state, not in a URL that access logs would print."""
        return self._keep(call_sid, record_number=digits)

    def record_number(self, call_sid: str) -> str:
        return self.caller(call_sid).get("record_number", "")

    def identified(self, call_sid: str) -> int | None:
        value = self.caller(call_sid).get("identified")
        return int(value) if value and value.isdigit() else None

    def identity_failures(self, number: str) -> int | None:
        """Failed identifications from this number within the lock-out window, or None
        when Redis cannot say (then nobody is identified: better a person than an
        unguarded door)."""
        try:
            return int(self.redis.get(f"{self.prefix}ident-failures:{number}") or 0)
        except redis.RedisError as exc:
            log.warning("identification failures unavailable: %s", exc)
            return None

    def calls_from(self, number: str, call_sid: str, now: float, window_seconds: int) -> int | None:
        """Calls from `number` in the last `window_seconds`, this one included, or None when
        Redis cannot say (then nobody is limited).  A moving window: a sorted set of CallSids
        scored by time, so the carrier retrying the same call's webhook counts it once."""
        key = f"{self.prefix}calls-from:{number}"
        try:
            pipe = self.redis.pipeline()
            pipe.zremrangebyscore(key, "-inf", now - window_seconds)
            pipe.zadd(key, {call_sid: now}, nx=True)
            pipe.zcard(key)
            pipe.expire(key, window_seconds)
            return int(pipe.execute()[2])
        except redis.RedisError as exc:
            log.warning("calls from a number not counted: %s", exc)
            return None

    def identity_failed(self, number: str, window_seconds: int) -> int:
        key = f"{self.prefix}ident-failures:{number}"
        try:
            pipe = self.redis.pipeline()
            pipe.incr(key)
            pipe.expire(key, window_seconds)
            return int(pipe.execute()[0])
        except redis.RedisError as exc:
            log.warning("identification failure not counted: %s", exc)
            return 10**6
