"""The automatic call distributor's state, in Redis, changed only by Lua scripts.

Several web processes and RQ workers share one ACD.  Every change that could
give one caller to two agents, or one agent two callers, is one Lua script
(Redis runs a script alone, start to end), and each script first checks that
both sides are still in the state it expects:

- `reserve` offers a waiting caller to an available agent, or does nothing;
- `answer`, `release` (missed, declined, caller gone), `talk_end`, `end_wrap_up`,
  `set_state`, `leave`, `logout` move one agent or one caller on.

The decision *which* caller goes to *which* agent is the pure rule of
ivr/agents/routing.py, taken on a snapshot; a pair that lost a race on the way
is refused by `reserve`, and the match is run again on a fresh snapshot.

Keys (all under ``<REDIS_PREFIX>acd:``):

    queue:<name>   sorted set  entry -> rank score (priority, then time joined)
    entry:<id>     hash        one caller (id = the call's sid): queue, priority, state...
    agent:<id>     hash        one agent: state, reason, since, idle_since, offer, call...
    available      sorted set  agent -> idle since (only agents free to take a call)
    agents         sorted set  agent -> last heartbeat (every logged-in agent)
    offers         sorted set  agent -> when the reservation expires
    wrapping       sorted set  agent -> when wrap-up ends
    recent:<queue> list        recent answers {at, waited}, for the estimated wait
    agent_log      stream      every change of an agent's state: agent, state, reason, at
                               (capped near AGENT_LOG_MAXLEN; copied into the records'
                               agent_state_changes by queueing.recording.copy_agent_states)
    agent_log:copied string    the last stream id copied (a hint: copies are idempotent)

Times are epoch seconds (floats) from the hotline's clock, passed in: the
scripts never read Redis's own clock, so tests and benchmarks control time.
The scripts build key names from the prefix (one Redis, not a cluster).
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import redis

from ivr.agents import routing
from settings import Routing

log = logging.getLogger(__name__)

AGENT_STATES = ("offline", "available", "reserved", "on_call", "wrap_up", "break")
# Agents change state some hundred times a day each: 100,000 entries are days of
# changes, time enough for the records job (every minute) to be down and catch up.
AGENT_LOG_MAXLEN = 100_000

# ---- Lua ----------------------------------------------------------------------------------------
# ARGV[1] is always the key prefix.

_COMMON = (
    """
local p = ARGV[1]
local function agent_key(id) return p .. 'agent:' .. id end
local function entry_key(id) return p .. 'entry:' .. id end
-- Every change of an agent's state goes through here, in the script that makes it, so
-- the history the occupancy figures read can miss none (a repeat of the same state and
-- reason is not a change).  Call it before writing the new state.
local function log_state(id, state, reason, now)
  local was = redis.call('hmget', agent_key(id), 'state', 'reason')
  if was[1] == state and (was[2] or '') == reason then return end
  redis.call('xadd', p .. 'agent_log', 'MAXLEN', '~', """
    + str(AGENT_LOG_MAXLEN)
    + """, '*', 'agent', id, 'state', state,
             'reason', reason, 'at', now)
end
local function to_available(id, now, idle_since)
  log_state(id, 'available', '', now)
  redis.call('hset', agent_key(id), 'state', 'available', 'reason', '', 'since', now, 'idle_since', idle_since,
             'offer', '', 'offer_queue', '', 'offer_expires', '', 'call', '', 'call_queue', '', 'wrap_until', '')
  redis.call('zadd', p .. 'available', idle_since, id)
  redis.call('zrem', p .. 'offers', id)
  redis.call('zrem', p .. 'wrapping', id)
end
-- state: 'break' (the default) or 'offline' (a break that ends the agent's session)
local function to_break(id, now, reason, state)
  state = state or 'break'
  log_state(id, state, reason, now)
  redis.call('hset', agent_key(id), 'state', state, 'reason', reason, 'since', now,
             'offer', '', 'offer_queue', '', 'offer_expires', '', 'call', '', 'call_queue', '', 'wrap_until', '')
  redis.call('zrem', p .. 'available', id)
  redis.call('zrem', p .. 'offers', id)
  redis.call('zrem', p .. 'wrapping', id)
end
local function back_in_queue(entry)
  local e = entry_key(entry)
  local queue = redis.call('hget', e, 'queue')
  redis.call('hset', e, 'state', 'waiting', 'agent', '')
  redis.call('zadd', p .. 'queue:' .. queue, tonumber(redis.call('hget', e, 'score')), entry)
end
"""
)

# KEYS none; ARGV: prefix, entry, queue, priority, enqueued_at, score, live_sid, ttl, then field/value pairs
ENQUEUE = (
    _COMMON
    + """
local e = entry_key(ARGV[2])
local state = redis.call('hget', e, 'state')
if state and state ~= 'left' and state ~= 'done' then return {0, state} end
redis.call('del', e)
redis.call('hset', e, 'queue', ARGV[3], 'priority', ARGV[4], 'enqueued_at', ARGV[5], 'score', ARGV[6],
           'live_sid', ARGV[7], 'state', 'waiting', 'kind', 'call', 'attempts', 0, 'not_before', 0, 'declined', '')
for i = 9, #ARGV, 2 do redis.call('hset', e, ARGV[i], ARGV[i + 1]) end
redis.call('expire', e, tonumber(ARGV[8]))
redis.call('zadd', p .. 'queue:' .. ARGV[3], tonumber(ARGV[6]), ARGV[2])
return {1, 'waiting'}
"""
)

# ARGV: prefix, entry, agent, now, expires
RESERVE = (
    _COMMON
    + """
local e = entry_key(ARGV[2])
local a = agent_key(ARGV[3])
if redis.call('hget', e, 'state') ~= 'waiting' then return 'caller_taken' end
if redis.call('hget', a, 'state') ~= 'available' then return 'agent_busy' end
if tonumber(redis.call('hget', e, 'not_before') or 0) > tonumber(ARGV[4]) then return 'not_yet' end
local queue = redis.call('hget', e, 'queue')
redis.call('zrem', p .. 'queue:' .. queue, ARGV[2])
redis.call('hset', e, 'state', 'offered', 'agent', ARGV[3], 'offered_at', ARGV[4])
log_state(ARGV[3], 'reserved', '', ARGV[4])
redis.call('hset', a, 'state', 'reserved', 'reason', '', 'since', ARGV[4], 'offer', ARGV[2], 'offer_queue', queue,
           'offer_expires', ARGV[5])
redis.call('zrem', p .. 'available', ARGV[3])
redis.call('zadd', p .. 'offers', tonumber(ARGV[5]), ARGV[3])
return 'ok'
"""
)

# ARGV: prefix, entry, agent, now.  -> {status, queue, waited}
ANSWER = (
    _COMMON
    + """
local e = entry_key(ARGV[2])
local a = agent_key(ARGV[3])
local state = redis.call('hget', a, 'state')
local queue = redis.call('hget', e, 'queue') or ''
local waited = tonumber(ARGV[4]) - tonumber(redis.call('hget', e, 'enqueued_at') or ARGV[4])
if state == 'on_call' and redis.call('hget', a, 'call') == ARGV[2] then return {'already', queue, tostring(waited)} end
if state ~= 'reserved' or redis.call('hget', a, 'offer') ~= ARGV[2] then return {'no_offer', queue, '0'} end
log_state(ARGV[3], 'on_call', '', ARGV[4])
redis.call('hset', a, 'state', 'on_call', 'since', ARGV[4], 'call', ARGV[2], 'call_queue', queue, 'call_since', ARGV[4],
           'offer', '', 'offer_queue', '', 'offer_expires', '')
redis.call('zrem', p .. 'offers', ARGV[3])
redis.call('hset', e, 'state', 'connected', 'answered_at', ARGV[4])
local recent = p .. 'recent:' .. queue
redis.call('rpush', recent, cjson.encode({at = tonumber(ARGV[4]), waited = waited}))
redis.call('ltrim', recent, -tonumber(ARGV[5]), -1)
return {'ok', queue, tostring(waited)}
"""
)

# ARGV: prefix, entry, agent, now, outcome (missed | declined | caller_gone | failed).  -> {status, queue}
RELEASE = (
    _COMMON
    + """
local e = entry_key(ARGV[2])
local a = agent_key(ARGV[3])
if redis.call('hget', a, 'state') ~= 'reserved' or redis.call('hget', a, 'offer') ~= ARGV[2] then
  return {'no_offer', ''}
end
local queue = redis.call('hget', a, 'offer_queue')
local outcome = ARGV[5]
if outcome == 'missed' then
  to_break(ARGV[3], ARGV[4], 'missed')
elseif outcome == 'declined' then
  to_available(ARGV[3], ARGV[4], ARGV[4])
else
  -- not the agent's doing: they keep their place in the idle line
  to_available(ARGV[3], ARGV[4], redis.call('hget', a, 'idle_since') or ARGV[4])
end
if outcome == 'caller_gone' then
  redis.call('hset', e, 'state', 'left', 'agent', '')
elseif redis.call('hget', e, 'state') == 'offered' then
  if outcome == 'declined' then
    local declined = redis.call('hget', e, 'declined') or ''
    redis.call('hset', e, 'declined', declined .. ',' .. ARGV[3])
  end
  back_in_queue(ARGV[2])
end
return {'ok', queue}
"""
)

# ARGV: prefix, entry, agent, now, wrap_up_seconds.  -> {status, queue, talk}
TALK_END = (
    _COMMON
    + """
local e = entry_key(ARGV[2])
local a = agent_key(ARGV[3])
if redis.call('hget', a, 'state') ~= 'on_call' or redis.call('hget', a, 'call') ~= ARGV[2] then
  return {'no_call', '', '0'}
end
local queue = redis.call('hget', a, 'call_queue')
local talk = tonumber(ARGV[4]) - tonumber(redis.call('hget', a, 'call_since'))
redis.call('hset', e, 'state', 'done')
local wrap = tonumber(ARGV[5])
if wrap > 0 then
  local until_ = tonumber(ARGV[4]) + wrap
  log_state(ARGV[3], 'wrap_up', '', ARGV[4])
  redis.call('hset', a, 'state', 'wrap_up', 'since', ARGV[4], 'wrap_until', until_, 'wrap_call', ARGV[2],
             'wrap_queue', queue, 'call', '', 'call_queue', '')
  redis.call('zadd', p .. 'wrapping', until_, ARGV[3])
else
  redis.call('hset', a, 'wrap_call', ARGV[2], 'wrap_queue', queue)
  to_available(ARGV[3], ARGV[4], ARGV[4])
end
return {'ok', queue, tostring(talk)}
"""
)

# ARGV: prefix, agent, now, only_if_due (1/0).  -> {status, call, queue, seconds}
END_WRAP_UP = (
    _COMMON
    + """
local a = agent_key(ARGV[2])
if redis.call('hget', a, 'state') ~= 'wrap_up' then return {'not_wrapping', '', '', '0'} end
local until_ = tonumber(redis.call('hget', a, 'wrap_until'))
if ARGV[4] == '1' and until_ > tonumber(ARGV[3]) then return {'not_due', '', '', '0'} end
local call = redis.call('hget', a, 'wrap_call') or ''
local queue = redis.call('hget', a, 'wrap_queue') or ''
local seconds = tonumber(ARGV[3]) - tonumber(redis.call('hget', a, 'since'))
if ARGV[4] == '1' then seconds = until_ - tonumber(redis.call('hget', a, 'since')) end
to_available(ARGV[2], ARGV[3], ARGV[3])
return {'ok', call, queue, tostring(seconds)}
"""
)

# ARGV: prefix, agent, state (available|break|offline), reason, now, then field/value pairs (name, skills)
SET_STATE = (
    _COMMON
    + """
local id = ARGV[2]
local a = agent_key(id)
local current = redis.call('hget', a, 'state') or 'offline'
local wanted = ARGV[3]
if current == 'reserved' or current == 'on_call' then return {'busy', current} end
for i = 6, #ARGV, 2 do redis.call('hset', a, ARGV[i], ARGV[i + 1]) end
if wanted == 'available' then
  if current == 'available' then return {'ok', current} end
  if current == 'wrap_up' then return {'wrap_up', current} end
  to_available(id, ARGV[5], ARGV[5])
  redis.call('zadd', p .. 'agents', ARGV[5], id)
elseif wanted == 'break' then
  to_break(id, ARGV[5], ARGV[4])
  redis.call('zadd', p .. 'agents', ARGV[5], id)
else
  to_break(id, ARGV[5], ARGV[4], 'offline')
  redis.call('zrem', p .. 'agents', id)
end
return {'ok', wanted}
"""
)

# ARGV: prefix, agent, now, reason.  Logs out an agent whose console went silent.
# -> {status, offer given back, wrap-up call cut short, its queue, its seconds}
LOGOUT = (
    _COMMON
    + """
local id = ARGV[2]
local a = agent_key(id)
local state = redis.call('hget', a, 'state') or 'offline'
if state == 'on_call' then return {'on_call', ''} end
local offer = ''
if state == 'reserved' then
  offer = redis.call('hget', a, 'offer')
  back_in_queue(offer)
end
local wrap_call, wrap_queue, wrapped = '', '', '0'
if state == 'wrap_up' then
  wrap_call = redis.call('hget', a, 'wrap_call') or ''
  wrap_queue = redis.call('hget', a, 'wrap_queue') or ''
  wrapped = tostring(tonumber(ARGV[3]) - tonumber(redis.call('hget', a, 'since')))
end
to_break(id, ARGV[3], ARGV[4], 'offline')
redis.call('zrem', p .. 'agents', id)
return {'ok', offer, wrap_call, wrap_queue, wrapped}
"""
)

# ARGV: prefix, entry, now, new_state (left | callback).  -> {previous state, queue, waited, agent}
LEAVE = (
    _COMMON
    + """
local e = entry_key(ARGV[2])
local state = redis.call('hget', e, 'state')
if not state then return {'none', '', '0', ''} end
local queue = redis.call('hget', e, 'queue')
local waited = tonumber(ARGV[3]) - tonumber(redis.call('hget', e, 'enqueued_at'))
local agent = ''
if state == 'offered' then
  agent = redis.call('hget', e, 'agent')
  local a = agent_key(agent)
  if redis.call('hget', a, 'offer') == ARGV[2] then
    to_available(agent, ARGV[3], redis.call('hget', a, 'idle_since') or ARGV[3])
  end
end
if state == 'waiting' or state == 'offered' then
  if ARGV[4] == 'callback' then
    -- keeps its place: same score, same time joined; it is the patient who is called now
    redis.call('hset', e, 'state', 'waiting', 'kind', 'callback', 'agent', '', 'live_sid', '')
    -- a callback asked out of hours waits for the morning (VICIdial keeps them 96 h)
    redis.call('expire', e, 345600)
    redis.call('zadd', p .. 'queue:' .. queue, tonumber(redis.call('hget', e, 'score')), ARGV[2])
  else
    redis.call('hset', e, 'state', ARGV[4], 'agent', '')
    redis.call('zrem', p .. 'queue:' .. queue, ARGV[2])
  end
end
return {state, queue, tostring(waited), agent}
"""
)

# ARGV: prefix, entry, agent, now, retry_at (or '' to give up), live_sid of the failed attempt
CALLBACK_FAILED = (
    _COMMON
    + """
local e = entry_key(ARGV[2])
local a = agent_key(ARGV[3])
if redis.call('hget', a, 'state') == 'reserved' and redis.call('hget', a, 'offer') == ARGV[2] then
  to_available(ARGV[3], ARGV[4], redis.call('hget', a, 'idle_since') or ARGV[4])
end
local state = redis.call('hget', e, 'state')
if state ~= 'offered' then return {'stale', state or ''} end
local attempts = tonumber(redis.call('hget', e, 'attempts') or 0) + 1
redis.call('hset', e, 'attempts', attempts, 'live_sid', '')
if ARGV[5] == '' then
  redis.call('hset', e, 'state', 'left', 'agent', '')
  return {'given_up', tostring(attempts)}
end
redis.call('hset', e, 'not_before', ARGV[5])
back_in_queue(ARGV[2])
return {'retry', tostring(attempts)}
"""
)


# ---- Python side ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Offer:
    """A reservation just made: the caller `entry` is offered to `agent_id`."""

    entry: str
    agent_id: int
    queue: str
    kind: str  # call | callback
    live_sid: str  # the call to redirect (empty for a callback not yet placed)
    number: str = ""  # a callback's number
    lang: str = "zh"
    expires_at: float = 0.0


@dataclass(frozen=True)
class Result:
    status: str
    queue: str = ""
    seconds: float = 0.0
    detail: dict = field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ACD:
    def __init__(self, client: redis.Redis, prefix: str, routing_settings: Routing, entry_ttl: int = 6 * 3600):
        self.redis = client
        self.p = prefix + "acd:"
        self.routing = routing_settings
        self.entry_ttl = entry_ttl
        register = client.register_script
        self._enqueue = register(ENQUEUE)
        self._reserve = register(RESERVE)
        self._answer = register(ANSWER)
        self._release = register(RELEASE)
        self._talk_end = register(TALK_END)
        self._end_wrap = register(END_WRAP_UP)
        self._set_state = register(SET_STATE)
        self._logout = register(LOGOUT)
        self._leave = register(LEAVE)
        self._callback_failed = register(CALLBACK_FAILED)

    # ---- callers --------------------------------------------------------------------------

    def enqueue(
        self,
        entry: str,
        queue: str,
        *,
        priority: int,
        now: float,
        patient_id: int | None = None,
        caller: str = "",
        lang: str = "zh",
    ) -> bool:
        """Put a caller in `queue`; False if they are already there (a repeated webhook)."""
        fields = ["patient_id", patient_id or "", "caller", caller, "lang", lang]
        score = routing.rank_score(priority, now)
        args = [self.p, entry, queue, priority, now, score, entry, self.entry_ttl, *fields]
        added, _ = self._enqueue(args=args)
        return bool(added)

    def entry(self, entry: str) -> dict[str, str]:
        return self.redis.hgetall(self.p + "entry:" + entry)

    def position(self, entry: str) -> int | None:
        """1 for the next caller served in this queue, None if not waiting."""
        queue = self.redis.hget(self.p + "entry:" + entry, "queue")
        if not queue:
            return None
        rank = self.redis.zrank(self.p + "queue:" + queue, entry)
        return None if rank is None else rank + 1

    def estimated_wait(self, queue: str, position: int, now: float) -> int | None:
        answers = [json.loads(item) for item in self.redis.lrange(self.p + "recent:" + queue, 0, -1)]
        return routing.estimated_wait(position, [(a["at"], a["waited"]) for a in answers], now)

    def leave(self, entry: str, now: float, reason: str = "left") -> Result:
        """The caller leaves (hung up, timed out, voicemail) or asks for a callback
        (`reason='callback'`, keeping their place).  `detail['was']` says where they were:
        'waiting' or 'offered' means this call left the queue just now (write its event)."""
        was, queue, waited, agent = self._leave(args=[self.p, entry, now, reason])
        return Result("ok", queue, float(waited), {"was": was, "agent": agent})

    def set_callback_number(self, entry: str, number: str) -> None:
        self.redis.hset(self.p + "entry:" + entry, "number", number)

    def callback_failed(self, entry: str, agent_id: int, now: float) -> Result:
        """The patient did not answer the callback: try again after the spacing, or give up."""
        data = self.entry(entry)
        attempts = int(data.get("attempts") or 0) + 1
        retry_at = "" if attempts > self.routing.callbacks.retries else now + self.routing.callbacks.spacing_seconds
        status, count = self._callback_failed(args=[self.p, entry, agent_id, now, retry_at])
        return Result(status, data.get("queue", ""), 0, {"attempts": int(count or 0)})

    def callback_connected(self, entry: str, live_sid: str) -> None:
        """The patient answered the callback: from now on it is a live call to bridge
        (if the agent misses it, the patient waits on hold like any caller)."""
        self.redis.hset(self.p + "entry:" + entry, mapping={"live_sid": live_sid, "kind": "call"})

    def mark_exit(self, entry: str, reason: str) -> None:
        """Why the caller is about to <Leave> the queue (callback, timeout, nobody), read
        by the Enqueue action that follows."""
        self.redis.hset(self.p + "entry:" + entry, "exit", reason)

    # ---- agents ---------------------------------------------------------------------------

    def set_state(
        self,
        agent_id: int,
        state: str,
        now: float,
        *,
        reason: str = "",
        name: str | None = None,
        skills: dict[str, int] | None = None,
    ) -> Result:
        """available | break | offline.  Refused ('busy') while ringing or on a call, and
        'available' is refused during wrap-up (end it with `end_wrap_up`)."""
        if state not in ("available", "break", "offline"):
            return Result("bad_state")
        fields: list = []
        if name is not None:
            fields += ["name", name]
        if skills is not None:
            fields += ["skills", json.dumps(skills, sort_keys=True)]
        status, current = self._set_state(args=[self.p, agent_id, state, reason[:40], now, *fields])
        return Result(status, detail={"state": current})

    def heartbeat(self, agent_id: int, now: float) -> bool:
        """The console is alive; False if the agent is not logged in (it was logged out)."""
        return bool(self.redis.zadd(self.p + "agents", {str(agent_id): now}, xx=True, ch=True)) or (
            self.redis.zscore(self.p + "agents", str(agent_id)) is not None
        )

    def agent(self, agent_id: int) -> dict[str, str]:
        data = self.redis.hgetall(self.p + f"agent:{agent_id}")
        data.setdefault("state", "offline")
        return data

    def answer(self, entry: str, agent_id: int, now: float) -> Result:
        status, queue, waited = self._answer(args=[self.p, entry, agent_id, now, self.routing.recent_answers])
        return Result(status, queue, float(waited))

    def release(self, entry: str, agent_id: int, now: float, outcome: str) -> Result:
        """An offer ends without an answer: missed (agent to break 'missed'), declined,
        caller_gone, failed (the bridge could not be made)."""
        status, queue = self._release(args=[self.p, entry, agent_id, now, outcome])
        return Result(status, queue)

    def talk_end(self, entry: str, agent_id: int, now: float) -> Result:
        queue = self.redis.hget(self.p + f"agent:{agent_id}", "call_queue") or ""
        wrap = self.routing.queues[queue].wrap_up_seconds if queue in self.routing.queues else 0
        status, queue, talk = self._talk_end(args=[self.p, entry, agent_id, now, wrap])
        return Result(status, queue, float(talk))

    def end_wrap_up(self, agent_id: int, now: float, *, only_if_due: bool = False) -> Result:
        status, call, queue, seconds = self._end_wrap(args=[self.p, agent_id, now, "1" if only_if_due else "0"])
        return Result(status, queue, float(seconds), {"call": call})

    def logout(self, agent_id: int, now: float, reason: str = "heartbeat") -> Result:
        status, offer, *wrap = self._logout(args=[self.p, agent_id, now, reason])
        wrap_call, wrap_queue, wrapped = wrap or ("", "", "0")
        return Result(status, wrap_queue, float(wrapped), {"offer": offer, "wrap_call": wrap_call})

    # ---- matching ---------------------------------------------------------------------------

    def free_agents(self, now: float) -> list[routing.FreeAgent]:
        ids = self.redis.zrange(self.p + "available", 0, -1, withscores=True)
        if not ids:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for agent_id, _ in ids:
            pipe.hget(self.p + f"agent:{agent_id}", "skills")
        skills = pipe.execute()
        return [
            routing.FreeAgent(int(agent_id), idle, json.loads(raw or "{}"))
            for (agent_id, idle), raw in zip(ids, skills, strict=True)
        ]

    def waiting(self, per_queue: int, queues: Iterable[str] | None = None) -> list[routing.Waiting]:
        """The first `per_queue` callers of every queue (or of `queues`), in rank order."""
        pipe = self.redis.pipeline(transaction=False)
        for name in self.routing.queues if queues is None else queues:
            pipe.zrange(self.p + "queue:" + name, 0, per_queue - 1)
        heads = [entry for entries in pipe.execute() for entry in entries]
        if not heads:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for entry in heads:
            pipe.hmget(self.p + "entry:" + entry, "queue", "priority", "enqueued_at", "not_before", "declined")
        callers = []
        for entry, (queue, prio, joined, not_before, declined) in zip(heads, pipe.execute(), strict=True):
            if queue is None:  # its hash expired (a call long gone): clear it from the queues
                for name in self.routing.queues:
                    self.redis.zrem(self.p + "queue:" + name, entry)
                continue
            refused = frozenset(int(part) for part in (declined or "").split(",") if part.isdigit())
            callers.append(routing.Waiting(entry, queue, int(prio), float(joined), float(not_before or 0), refused))
        return callers

    def dispatch(self, now: float, *, rounds: int = 5) -> list[Offer]:
        """Offer waiting callers to free agents by the fairness rule; the offers made.
        A pair refused by `reserve` (another process got there first) is matched again."""
        offers: list[Offer] = []
        for _ in range(rounds):
            agents = self.free_agents(now)
            if not agents:
                break
            # Only queues some free agent may serve; enough heads per queue for every free
            # agent, whatever the priority bands.
            skills = {skill for agent in agents for skill in agent.skills}
            queues = routing.queues_served(self.routing, skills)
            callers = self.waiting(per_queue=20 + 5 * len(agents), queues=queues)
            pairs = routing.match(self.routing, callers, agents, now)
            if not pairs:
                break
            lost = False
            for caller, agent in pairs:
                offer = self.reserve(caller.entry, agent.staff_id, now)
                if offer is None:
                    lost = True
                else:
                    offers.append(offer)
            if not lost:
                break
        return offers

    def reserve(self, entry: str, agent_id: int, now: float) -> Offer | None:
        expires = now + self.routing.reservation_expiry_seconds
        if self._reserve(args=[self.p, entry, agent_id, now, expires]) != "ok":
            return None
        data = self.entry(entry)
        return Offer(
            entry=entry,
            agent_id=agent_id,
            queue=data.get("queue", ""),
            kind=data.get("kind", "call"),
            live_sid=data.get("live_sid", ""),
            number=data.get("number", ""),
            lang=data.get("lang", "zh"),
            expires_at=expires,
        )

    # ---- the sweep: timers nobody else ends ----------------------------------------------------

    def expired_offers(self, now: float) -> list[tuple[int, str]]:
        """(agent, entry) of reservations past their expiry."""
        agents = self.redis.zrangebyscore(self.p + "offers", "-inf", now)
        found = []
        for agent_id in agents:
            offer = self.redis.hget(self.p + f"agent:{agent_id}", "offer")
            if offer:
                found.append((int(agent_id), offer))
            else:
                self.redis.zrem(self.p + "offers", agent_id)
        return found

    def wrap_ups_due(self, now: float) -> list[int]:
        return [int(agent_id) for agent_id in self.redis.zrangebyscore(self.p + "wrapping", "-inf", now)]

    def silent_agents(self, now: float) -> list[int]:
        cutoff = now - self.routing.heartbeat_timeout_seconds
        return [int(agent_id) for agent_id in self.redis.zrangebyscore(self.p + "agents", "-inf", f"({cutoff}")]

    # ---- the agents' state history -------------------------------------------------------------

    def agent_log(self, after: str | None, count: int) -> list[tuple[str, dict[str, str]]]:
        """Up to `count` state changes logged after the stream id `after` (from the
        oldest kept if None), oldest first: (stream id, {agent, state, reason, at})."""
        start = f"({after}" if after else "-"
        return self.redis.xrange(self.p + "agent_log", min=start, max="+", count=count)

    def agent_log_copied(self) -> str | None:
        return self.redis.get(self.p + "agent_log:copied")

    def mark_agent_log_copied(self, stream_id: str) -> None:
        self.redis.set(self.p + "agent_log:copied", stream_id)

    def logged_in(self) -> int:
        return int(self.redis.zcard(self.p + "agents"))

    def base_url(self) -> str | None:
        """Where the hotline's webhooks are, as last seen by a web process (for workers)."""
        return self.redis.get(self.p + "base_url")

    def remember_base_url(self, url: str) -> None:
        self.redis.set(self.p + "base_url", url)

    # ---- the wallboard ---------------------------------------------------------------------------

    def snapshot(self, now: datetime | float) -> dict:
        """Queues (name, title, waiting, longest_wait seconds) and agents (staff_id,
        display_name, state, reason, since), as the supervisors' wallboard shows them."""
        at = now.timestamp() if isinstance(now, datetime) else float(now)
        names = list(self.routing.queues)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.zcard(self.p + "queue:" + name)
        counts = pipe.execute()
        queues = []
        for name, count in zip(names, counts, strict=True):
            queues.append(
                {
                    "name": name,
                    "title": self.routing.queues[name].title.model_dump(),
                    "waiting": int(count),
                    "longest_wait": self._longest_wait(name, at) if count else 0,
                }
            )
        agents = []
        for agent_id in self._known_agents():
            data = self.agent(agent_id)
            agents.append(
                {
                    "staff_id": agent_id,
                    "display_name": data.get("name", ""),
                    "state": data["state"],
                    "reason": data.get("reason", ""),
                    "since": float(data["since"]) if data.get("since") else None,
                }
            )
        return {"queues": queues, "agents": agents}

    def queue_stats(self, names: Iterable[str], now: float) -> list[dict]:
        result = []
        for name in names:
            count = int(self.redis.zcard(self.p + "queue:" + name))
            result.append(
                {
                    "name": name,
                    "title": self.routing.queues[name].title.model_dump(),
                    "waiting": count,
                    "longest_wait": self._longest_wait(name, now) if count else 0,
                }
            )
        return result

    def _longest_wait(self, queue: str, now: float) -> int:
        # The head is the highest priority, not always the longest waiting: look at all joins.
        entries = self.redis.zrange(self.p + "queue:" + queue, 0, -1)
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            pipe.hget(self.p + "entry:" + entry, "enqueued_at")
        joined = [float(value) for value in pipe.execute() if value]
        return int(now - min(joined)) if joined else 0

    def _known_agents(self) -> list[int]:
        ids = {int(key.rsplit(":", 1)[1]) for key in self.redis.scan_iter(self.p + "agent:*")}
        return sorted(ids)
