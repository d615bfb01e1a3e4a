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
from collections.abc import Callable
from datetime import datetime
from typing import TYPE_CHECKING

import redis
from flask import g, has_request_context, request

from records.calls import Event, event_sequence

if TYPE_CHECKING:
    from queueing.recording import Recorder

log = logging.getLogger(__name__)

# KEYS: the call's event list, its numbering epoch, the marks of its requests' batches (a
# hash); ARGV: the TTL, this batch's mark ('' when the request carries no Twilio
# I-Twilio-Idempotency-Token), then the events.
# A new epoch (Redis's clock in ms, and always past the one it replaces) when the list is
# missing: Redis lost what it had of this call, or this is the call's first event.  A list
# without an epoch was numbered before epochs existed: its epoch is 0.  A batch whose mark is
# already there is the same request sent again (nginx resending a webhook whose server died
# mid-request, the carrier retrying it): nothing is appended, and it gets the first sending's
# numbers.  Returns {epoch, the first event's position, how many events have positions,
# 1 if sent again}.
APPEND_EVENTS = """
local count = #ARGV - 2
if ARGV[2] ~= '' then
  local sent = redis.call('HGET', KEYS[3], ARGV[2])
  if sent then
    local epoch, first, counted = string.match(sent, '^(%d+):(%d+):(%d+)$')
    return {epoch, tonumber(first), tonumber(counted), 1}
  end
end
local epoch = redis.call('GET', KEYS[2])
local kept = redis.call('EXISTS', KEYS[1]) == 1
if (not epoch) and kept then
  epoch = '0'  -- a call numbered before epochs (positions alone, until 0012): go on so
  redis.call('SET', KEYS[2], epoch)
elseif (not epoch) or (not kept) then
  local now = redis.call('TIME')
  local fresh = now[1] .. string.format('%03d', math.floor(tonumber(now[2]) / 1000))
  if epoch and tonumber(fresh) <= tonumber(epoch) then
    fresh = string.format('%.0f', tonumber(epoch) + 1)
  end
  epoch = fresh
  redis.call('SET', KEYS[2], epoch)
end
local length = redis.call('RPUSH', KEYS[1], unpack(ARGV, 3))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local first = length - count + 1
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], epoch .. ':' .. first .. ':' .. count)
  redis.call('EXPIRE', KEYS[3], ARGV[1])
end
return {epoch, first, count, 0}
"""


def _sending() -> str:
    """Which batch of events of which request this is, when the request carries Twilio's
    I-Twilio-Idempotency-Token (the same on every sending of one webhook request): the token
    and the batch's place among the request's batches, which a request sent again makes in
    the same order.  '' outside a request, or without the header."""
    if not has_request_context():
        return ""
    token = request.headers.get("I-Twilio-Idempotency-Token", "")[:128]
    if not token:
        return ""
    g.hotline_event_batches = batch = g.get("hotline_event_batches", 0) + 1
    return f"{token}:{batch}"


class CallStore:
    def __init__(self, client: redis.Redis, prefix: str, ttl_seconds: int, recorder: Recorder | None = None):
        self.redis = client
        self.prefix = prefix
        self.ttl = ttl_seconds
        self.recorder = recorder
        # redis-py loads the script again by itself when Redis lost it (NOSCRIPT).
        self._append = client.register_script(APPEND_EVENTS)

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

    def add_events(
        self,
        call_sid: str,
        at: datetime,
        events: list[tuple[str, dict]],
        also: Callable[[redis.client.Pipeline], None] | None = None,
    ) -> None:
        """Append a request's events in one round trip and have them recorded.  An
        event's sequence number is the call's numbering epoch times EPOCH_SPAN plus its
        position in the list (RPUSH is atomic and returns the new length, so two processes
        serving one call cannot give two events the same number); that number makes
        recording them idempotent.  The epoch is kept beside the list and taken anew from
        Redis's clock when Redis lost the call's keys (a restart without persistence, a
        flush): the positions start again at 1, but in a later epoch, so the events after
        the loss never collide with the ones already stored (issue 16).
        `also` adds the request's other writes to the same round trip (after these)."""
        if not events:
            if also is not None:
                self._also(call_sid, also)
            return
        payloads = [
            json.dumps({"at": at.isoformat(), "kind": kind, "detail": detail}, ensure_ascii=False, default=str)
            for kind, detail in events
        ]
        keys = [self._key(call_sid, "events"), self._key(call_sid, "epoch"), self._key(call_sid, "sent")]
        try:
            pipe = self.redis.pipeline(transaction=False)
            self._append(keys=keys, args=[self.ttl, _sending(), *payloads], client=pipe)
            if also is not None:
                also(pipe)
            epoch, first, count, again = pipe.execute()[0]
        except redis.RedisError as exc:
            log.warning("call %s: %d events not kept in Redis: %s", call_sid, len(events), exc)
            if self.recorder is not None:
                self.recorder.unnumbered_events(call_sid, at, events)
            return
        if again:
            log.info("call %s: a request sent again: its events keep the first sending's numbers", call_sid)
        if self.recorder is not None:
            # A request sent again records its events under the first sending's numbers (as
            # many as those had): stored once either way (records.calls.record_events), and
            # the first sending's, had its record job been lost with its server, are filled in.
            numbered = [
                Event(event_sequence(int(epoch), int(first) + i), at, kind, detail)
                for i, (kind, detail) in enumerate(events[: int(count)])
            ]
            self.recorder.events(call_sid, numbered)

    def _also(self, call_sid: str, also: Callable[[redis.client.Pipeline], None]) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            also(pipe)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("call %s: state not kept: %s", call_sid, exc)

    def keep_caller(self, pipe: redis.client.Pipeline, call_sid: str, number: str | None, patient_ids) -> None:
        """`start`'s writes, added to a pipeline (the webhook's one round trip)."""
        key = self._key(call_sid, "caller")
        pipe.hset(key, mapping={"number": number or "", "matches": ",".join(map(str, patient_ids))})
        pipe.expire(key, self.ttl)

    def events(self, call_sid: str) -> list[Event]:
        """The call's events kept in Redis, numbered as they were recorded."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self._key(call_sid, "epoch"))
        pipe.lrange(self._key(call_sid, "events"), 0, -1)
        epoch, raw = pipe.execute()
        events = []
        for position, item in enumerate(raw, start=1):
            data = json.loads(item)
            sequence = event_sequence(int(epoch or 0), position)
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

    def calls_from_and_read(
        self, number: str | None, call_sid: str, now: float, window_seconds: int, key: str | None
    ) -> tuple[int | None, str | None]:
        """An incoming call in one round trip: counted against `number` as `calls_from` does
        (None when there is no number to count, or Redis cannot say) and `key` read (the
        caller's cached files: records.patients.CallerCache; None if absent or unreadable)."""
        if number is None and key is None:
            return None, None
        counted = f"{self.prefix}calls-from:{number}"
        try:
            pipe = self.redis.pipeline()
            if number is not None:
                pipe.zremrangebyscore(counted, "-inf", now - window_seconds)
                pipe.zadd(counted, {call_sid: now}, nx=True)
                pipe.zcard(counted)
                pipe.expire(counted, window_seconds)
            if key is not None:
                pipe.get(key)
            answers = pipe.execute()
        except redis.RedisError as exc:
            log.warning("calls from a number not counted, caller files not read: %s", exc)
            return None, None
        return (int(answers[2]) if number is not None else None), (answers[-1] if key is not None else None)
