"""Per-call state in Redis, keyed by CallSid, with a TTL.

The web app keeps nothing in memory between requests, so any process can serve
any step of a call.  What a step needs to render (language, menu, page, tries)
travels in its own URL; Redis holds what belongs to the whole call: who the
caller may be, and the call's opening and events, which its record is written from
once its final status hands it over (`status`; queueing.recording drains it).

Redis trouble must not cut a caller off: reads fall back to defaults, and what
Redis cannot take (an opening, events, a final status) the recorder
(queueing.recording) spools in the database.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING

import redis
from flask import g, has_request_context, request
from redis.exceptions import NoScriptError

from queueing.handover import DRAIN_PENDING_SECONDS, RecordKeys, kept_events
from records import calls
from records.calls import CallOpened, StatusCallback

if TYPE_CHECKING:
    from queueing.recording import Recorder

log = logging.getLogger(__name__)
# An event as its record will read it; one encoder for all (json.dumps builds one per call
# given options).
_EVENT_JSON = json.JSONEncoder(ensure_ascii=False, default=str).encode

# KEYS: the call's event list, its numbering epoch, the marks of its requests' batches (a
# hash), its finished mark, the open calls (a sorted set), the finished calls' stream, the
# drain-pending flag (queueing.handover.RecordKeys); ARGV: the TTL, this batch's mark (''
# when the request carries no Twilio I-Twilio-Idempotency-Token), now (seconds), the
# drain flag's TTL, the CallSid, then the events.
# A new epoch (Redis's clock in ms, and always past the one it replaces) when the list is
# missing: Redis lost what it had of this call, or this is the call's first event.  A list
# without an epoch was numbered before epochs existed: its epoch is 0.  A batch whose mark is
# already there is the same request sent again (nginx resending a webhook whose server died
# mid-request, the carrier retrying it): nothing is appended, and it gets the first sending's
# numbers.  The call is open until its final status: its score in the open calls is its last
# activity (the reconstruction sweep asks the carrier about the quiet ones).  Events after the
# final status (an agent's wrap-up) are handed over as the final status was: an entry in the
# finished calls' stream, and a drain job wanted if none is pending.  Returns {epoch, the
# first event's position, how many events have positions, 1 if sent again, 1 if a drain job
# must be enqueued}.
APPEND_EVENTS = """
local count = #ARGV - 5
if ARGV[2] ~= '' then
  local sent = redis.call('HGET', KEYS[3], ARGV[2])
  if sent then
    local epoch, first, counted = string.match(sent, '^(%d+):(%d+):(%d+)$')
    return {epoch, tonumber(first), tonumber(counted), 1, 0}
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
local length = redis.call('RPUSH', KEYS[1], unpack(ARGV, 6))
redis.call('EXPIRE', KEYS[1], ARGV[1])
redis.call('EXPIRE', KEYS[2], ARGV[1])
local first = length - count + 1
if ARGV[2] ~= '' then
  redis.call('HSET', KEYS[3], ARGV[2], epoch .. ':' .. first .. ':' .. count)
  redis.call('EXPIRE', KEYS[3], ARGV[1])
end
local drain = 0
if redis.call('EXISTS', KEYS[4]) == 1 then
  redis.call('XADD', KEYS[6], '*', 'call_sid', ARGV[5])
  if redis.call('SET', KEYS[7], '1', 'NX', 'EX', ARGV[4]) then drain = 1 end
else
  redis.call('ZADD', KEYS[5], ARGV[3], ARGV[5])
end
return {epoch, first, count, 0, drain}
"""


# A final status's hand-over (CallStore.status): KEYS: the call's finished mark, the finished
# calls' stream, the open calls, the drain-pending flag, then a hash to read in the same round
# trip (if any); ARGV: the TTL, the CallSid, the status (JSON), the drain flag's TTL, then the
# hash's fields to read.  What a MULTI of SET, XADD, ZREM, SET NX and HMGET did, as
# atomically, in one command (issue 17's CPU).  Returns {1 if the drain flag was set here
# (else 0), the fields read (false, a nil, for each one missing)}.
HAND_OVER = """
redis.call('SET', KEYS[1], '1', 'EX', ARGV[1])
redis.call('XADD', KEYS[2], '*', 'call_sid', ARGV[2], 'status', ARGV[3])
redis.call('ZREM', KEYS[3], ARGV[2])
local drain = redis.call('SET', KEYS[4], '1', 'NX', 'EX', ARGV[4]) and 1 or 0
local read = {}
if KEYS[5] then read = redis.call('HMGET', KEYS[5], unpack(ARGV, 5)) end
return {drain, read}
"""

# An incoming call's round trip (CallStore.calls_from_and_read): KEYS: the number's calls (a
# sorted set), when there is a number to count, then the caller's cached files, when there is
# a key to read; ARGV: '1' if the first key is the count, the oldest score kept (now minus the
# window), the CallSid, now, the window in seconds.  What a MULTI of ZREMRANGEBYSCORE, ZADD NX,
# ZCARD, EXPIRE and GET did, as atomically, in one command and one answer (issue 17's CPU).
# Returns {1, calls} or {0, 0}, then {1, the cached text} or {0, ''}: no nil or false in a
# Lua table (nil ends it, and false is a boolean to a RESP3 client).
ARRIVAL = """
local counted, calls, read = ARGV[1] == '1', {0, 0}, {0, ''}
if counted then
  redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', ARGV[2])
  redis.call('ZADD', KEYS[1], 'NX', ARGV[4], ARGV[3])
  calls = {1, redis.call('ZCARD', KEYS[1])}
  redis.call('EXPIRE', KEYS[1], ARGV[5])
end
local key = KEYS[counted and 2 or 1]
if key then
  local cached = redis.call('GET', key)
  if cached then read = {1, cached} end
end
return {calls[1], calls[2], read[1], read[2]}
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
        self.keys = RecordKeys(prefix)
        # redis-py loads the script again by itself when Redis lost it (NOSCRIPT).
        self._append = client.register_script(APPEND_EVENTS)
        self._arrival = client.register_script(ARRIVAL)
        self._hand_over = client.register_script(HAND_OVER)

    def _key(self, call_sid: str, part: str) -> str:
        return self.keys.call(call_sid, part)

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
        number, ids, _ = self.who(call_sid)
        return number, ids

    def who(self, call_sid: str) -> tuple[str, list[int], int | None]:
        """`matches` and `identified` in one read: the number, its files, the file identified."""
        caller = self.caller(call_sid)
        ids = [int(part) for part in caller.get("matches", "").split(",") if part.isdigit()]
        value = caller.get("identified")
        return caller.get("number", ""), ids, int(value) if value and value.isdigit() else None

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
        opened: CallOpened | None = None,
    ) -> None:
        """Append a request's events in one round trip (with the call's opening, when this
        request opened it).  An event's sequence number is the call's numbering epoch times
        EPOCH_SPAN plus its position in the list (RPUSH is atomic and returns the new length,
        so two processes serving one call cannot give two events the same number); that
        number makes recording them idempotent.  The epoch is kept beside the list and taken
        anew from Redis's clock when Redis lost the call's keys (a restart without
        persistence, a flush): the positions start again at 1, but in a later epoch, so the
        events after the loss never collide with the ones already stored (issue 16).
        Nothing is enqueued: the call's record is written once, after its final status
        (`finish`).  What Redis cannot take goes to the record spool in the database.
        `also` adds the request's other writes to the same round trip (after these)."""
        if not events:
            if also is not None or opened is not None:
                self._also(call_sid, also, opened)
            return
        when = at.isoformat()
        payloads = [_EVENT_JSON({"at": when, "kind": kind, "detail": detail}) for kind, detail in events]
        keys = [self._key(call_sid, part) for part in ("events", "epoch", "sent", "finished")]
        keys += [self.keys.open_calls, self.keys.finished, self.keys.drain_pending]
        args = [self.ttl, _sending(), at.timestamp(), DRAIN_PENDING_SECONDS, call_sid, *payloads]
        try:
            if opened is None and also is None:  # a menu step: the script alone, no pipeline's machinery
                epoch, first, count, again, drain = self._append_alone(keys, args)
            else:
                pipe = self.redis.pipeline(transaction=False)
                if opened is not None:
                    self._keep_opening(pipe, opened)
                # EVALSHA, not the Script object: given a pipeline, redis-py's Script first sends
                # SCRIPT EXISTS on its own, a second round trip for every webhook.
                pipe.evalsha(self._append.sha, len(keys), *keys, *args)
                if also is not None:
                    also(pipe)
                epoch, first, count, again, drain = self._appended(pipe, 1 if opened is not None else 0, keys, args)
        except redis.RedisError as exc:
            log.warning("call %s: %d events not kept in Redis: %s", call_sid, len(events), exc)
            if self.recorder is not None:
                if opened is not None:
                    self.recorder.spool_opening(opened)
                self.recorder.unnumbered_events(call_sid, at, events)
            return
        if again:
            log.info("call %s: a request sent again: its events keep the first sending's numbers", call_sid)
        if drain and self.recorder is not None:
            self.recorder.drain_soon()  # events after the final status: handed over as it was

    def _append_alone(self, keys: list, args: list) -> list:
        """The append script as one command (EVALSHA), the same answer as in a pipeline
        (`_appended`) without building, resetting and reading one (issue 17's CPU); run
        through the Script object, which loads it, only when Redis answers NOSCRIPT."""
        try:
            return self.redis.evalsha(self._append.sha, len(keys), *keys, *args)
        except NoScriptError:
            return self._append(keys=keys, args=args)

    def _appended(self, pipe: redis.client.Pipeline, at: int, keys: list, args: list) -> list:
        """The pipeline's answers, the append script's at `at`.  Redis without the script (a
        restart, SCRIPT FLUSH) answered NOSCRIPT to it alone: the Script object loads it and
        runs it once more (after the pipeline's other writes, which touch other keys)."""
        answers = pipe.execute(raise_on_error=False)
        if isinstance(answers[at], NoScriptError):
            answers[at] = self._append(keys=keys, args=args)
        for answer in answers:
            if isinstance(answer, Exception):
                raise answer
        return answers[at]

    def open(self, opened: CallOpened) -> None:
        """Keep a call's opening (a call the hotline placed, opened by its status callback)."""
        self._also(opened.call_sid, None, opened)

    def _keep_opening(self, pipe: redis.client.Pipeline, opened: CallOpened) -> None:
        # The first opening stays: a webhook sent again, or a second opening, changes nothing.
        pipe.set(self._key(opened.call_sid, "opened"), json.dumps(opened.to_json()), nx=True, ex=self.ttl)

    def status(self, callback: StatusCallback, read: tuple[str, Sequence[str]] | None = None) -> list:
        """The carrier's status callback.  A final one hands the call over to be recorded,
        in one round trip (one Lua script, atomic as a MULTI): the call marked finished
        (later events follow it), an entry in the finished calls' stream, the call out of
        the open calls, and the drain-pending flag set if it was not, in which case a drain
        job is enqueued (only then: one pending job drains every call handed over
        meanwhile).  A non-final status is only kept in the call's state: the record is
        written once, at the end.  `read`: a hash and its fields to read in a final status's
        round trip (another module's: the ACD's), their values returned (None for each one
        missing; [] for a status not final, or when Redis could not be reached)."""
        sid = callback.call_sid
        if not callback.final:
            self._keep(sid, status=callback.status[:16])
            return []
        keys = [self._key(sid, "finished"), self.keys.finished, self.keys.open_calls, self.keys.drain_pending]
        args = [self.ttl, sid, json.dumps(callback.to_json()), DRAIN_PENDING_SECONDS]
        if read is not None:
            keys.append(read[0])
            args.extend(read[1])
        try:
            try:  # the script as one command (EVALSHA); the Script object loads it on NOSCRIPT
                drain, values = self.redis.evalsha(self._hand_over.sha, len(keys), *keys, *args)
            except NoScriptError:
                drain, values = self._hand_over(keys=keys, args=args)
        except redis.RedisError as exc:
            log.warning("call %s: final status not handed over in Redis: %s", sid, exc)
            if self.recorder is not None:
                self.recorder.spool_status(callback)
            return []
        if drain and self.recorder is not None:  # the drain-pending flag was not set
            self.recorder.drain_soon()
        return [None if value is False else value for value in values]  # a missing field: Lua's false

    def _also(
        self, call_sid: str, also: Callable[[redis.client.Pipeline], None] | None, opened: CallOpened | None = None
    ) -> None:
        try:
            pipe = self.redis.pipeline(transaction=False)
            if opened is not None:
                self._keep_opening(pipe, opened)
            if also is not None:
                also(pipe)
            pipe.execute()
        except redis.RedisError as exc:
            log.warning("call %s: state not kept: %s", call_sid, exc)
            if opened is not None and self.recorder is not None:
                self.recorder.spool_opening(opened)

    def keep_caller(self, pipe: redis.client.Pipeline, call_sid: str, number: str | None, patient_ids) -> None:
        """`start`'s writes, added to a pipeline (the webhook's one round trip)."""
        key = self._key(call_sid, "caller")
        pipe.hset(key, mapping={"number": number or "", "matches": ",".join(map(str, patient_ids))})
        pipe.expire(key, self.ttl)

    def events(self, call_sid: str) -> list[calls.Event]:
        """The call's events kept in Redis, numbered as they were recorded."""
        pipe = self.redis.pipeline(transaction=False)
        pipe.get(self._key(call_sid, "epoch"))
        pipe.lrange(self._key(call_sid, "events"), 0, -1)
        epoch, raw = pipe.execute()
        return kept_events(epoch, raw)

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
        return self.who(call_sid)[2]

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
        keys = [f"{self.prefix}calls-from:{number}"] if number is not None else []
        keys += [key] if key is not None else []
        args = ["1" if number is not None else "", now - window_seconds, call_sid, now, window_seconds]
        try:
            try:  # the script as one command (EVALSHA); the Script object loads it on NOSCRIPT
                counted, calls, read, cached = self.redis.evalsha(self._arrival.sha, len(keys), *keys, *args)
            except NoScriptError:
                counted, calls, read, cached = self._arrival(keys=keys, args=args)
        except redis.RedisError as exc:
            log.warning("calls from a number not counted, caller files not read: %s", exc)
            return None, None
        return (int(calls) if counted else None), (cached if read else None)
