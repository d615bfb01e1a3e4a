"""Per-call state in Redis, keyed by CallSid, with a TTL.

The web app keeps nothing in memory between requests, so any process can serve
any step of a call.  What a step needs to render (language, menu, page, tries)
travels in its own URL; Redis holds what belongs to the whole call: who the
caller may be and the events the call's record is written from.

Redis trouble must not cut a caller off: reads fall back to defaults and a lost
event is logged (the RQ worker pool of a later issue spools them instead).
"""

from __future__ import annotations

import json
import logging
from datetime import datetime

import redis

from records.calls import Event

log = logging.getLogger(__name__)


class CallStore:
    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: int):
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl_seconds

    def _key(self, call_sid: str, part: str) -> str:
        return f"{self.prefix}call:{call_sid}:{part}"

    def start(self, call_sid: str, *, patient_id: int | None, matched: int) -> None:
        key = self._key(call_sid, "caller")
        try:
            pipe = self.redis.pipeline()
            pipe.hset(key, mapping={"patient_id": patient_id or "", "matched": matched})
            pipe.expire(key, self.ttl)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("call %s: cannot keep caller state: %s", call_sid, exc)

    def caller(self, call_sid: str) -> dict[str, str]:
        try:
            return self.redis.hgetall(self._key(call_sid, "caller"))
        except redis.RedisError as exc:
            log.warning("call %s: caller state unavailable: %s", call_sid, exc)
            return {}

    def add_events(self, call_sid: str, at: datetime, events: list[tuple[str, dict]]) -> None:
        """Append a request's events in one round trip.  A position in the list is the
        event's sequence number (RPUSH is atomic, so two processes serving one call
        cannot give two events the same number)."""
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
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("call %s: %d events not kept: %s", call_sid, len(events), exc)

    def events(self, call_sid: str) -> list[Event]:
        raw = self.redis.lrange(self._key(call_sid, "events"), 0, -1)
        events = []
        for sequence, item in enumerate(raw, start=1):
            data = json.loads(item)
            events.append(Event(sequence, datetime.fromisoformat(data["at"]), data["kind"], data["detail"]))
        return events
