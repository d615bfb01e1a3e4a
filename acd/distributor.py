"""The automatic call distributor's state, in Redis, changed only by Lua scripts.

Several web processes and RQ workers share one ACD.  Every change that could
give one caller to two agents, or one agent two callers, is one Lua script
(Redis runs a script alone, start to end), and each script first checks that
both sides are still in the state it expects:

- `reserve` offers a waiting caller to an available agent, or does nothing;
- `answer`, `release` (missed, declined, caller gone), `talk_end`, `end_wrap_up`,
  `set_state`, `leave`, `logout` move one agent or one caller on.

The decision *which* caller goes to *which* agent is the pure rule of
contactcentre/routing.py, taken on a snapshot; a pair that lost a race on the way
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
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

import redis

from contactcentre import routing
from settings import Routing

log = logging.getLogger(__name__)

AGENT_STATES = ("offline", "available", "reserved", "on_call", "wrap_up", "break")

# Agents change state some hundred times a day each: 100,000 entries are days of
# changes, time enough for the records job (every minute) to be down and catch up.
AGENT_LOG_MAXLEN = 100_000
# The entry's fields that say whether its caller is being put through (ACD.put_through_read).
PUT_THROUGH_FIELDS = ("state", "kind", "live_sid", "agent")
# How old a reading of the logged-in skills a menu may speak from (ACD.skills_logged_in_lately).
SKILLS_MAX_AGE = 2.0

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

# KEYS none; ARGV: prefix, entry, queue, priority, enqueued_at, score, live_sid, ttl, base_url ('' to
# leave it), then field/value pairs
ENQUEUE = (
    _COMMON
    + """
if ARGV[9] ~= '' then redis.call('set', p .. 'base_url', ARGV[9]) end
local e = entry_key(ARGV[2])
local state = redis.call('hget', e, 'state')
if state and state ~= 'left' and state ~= 'done' then return {0, state} end
redis.call('del', e)
redis.call('hset', e, 'queue', ARGV[3], 'priority', ARGV[4], 'enqueued_at', ARGV[5], 'score', ARGV[6],
           'live_sid', ARGV[7], 'state', 'waiting', 'kind', 'call', 'attempts', 0, 'not_before', 0, 'declined', '')
for i = 10, #ARGV, 2 do redis.call('hset', e, ARGV[i], ARGV[i + 1]) end
redis.call('expire', e, tonumber(ARGV[8]))
redis.call('zadd', p .. 'queue:' .. ARGV[3], tonumber(ARGV[6]), ARGV[2])
return {1, 'waiting'}
"""
)

_RESERVE_ONE = """
local function reserve(entry, agent, now, expires)
  local e = entry_key(entry)
  local a = agent_key(agent)
  if redis.call('hget', e, 'state') ~= 'waiting' then return 'caller_taken' end
  if redis.call('hget', a, 'state') ~= 'available' then return 'agent_busy' end
  if tonumber(redis.call('hget', e, 'not_before') or 0) > tonumber(now) then return 'not_yet' end
  local queue = redis.call('hget', e, 'queue')
  redis.call('zrem', p .. 'queue:' .. queue, entry)
  redis.call('hset', e, 'state', 'offered', 'agent', agent, 'offered_at', now)
  log_state(agent, 'reserved', '', now)
  redis.call('hset', a, 'state', 'reserved', 'reason', '', 'since', now, 'offer', entry, 'offer_queue', queue,
             'offer_expires', expires, 'offer_kind', '')
  redis.call('zrem', p .. 'available', agent)
  redis.call('zadd', p .. 'offers', tonumber(expires), agent)
  return 'ok'
end
"""

# ARGV: prefix, entry, agent, now, expires
RESERVE = _COMMON + _RESERVE_ONE + "return reserve(ARGV[2], ARGV[3], ARGV[4], ARGV[5])\n"

# ARGV: prefix, now, expires, then entry/agent pairs.  -> per pair {status} or {'ok', queue, kind,
# live_sid, number, lang}: every pair reserved (each checked as RESERVE checks it) and the offers'
# details read, in one round trip.
RESERVE_PAIRS = (
    _COMMON
    + _RESERVE_ONE
    + """
local out = {}
for i = 4, #ARGV, 2 do
  local status = reserve(ARGV[i], ARGV[i + 1], ARGV[2], ARGV[3])
  if status == 'ok' then
    local d = redis.call('hmget', entry_key(ARGV[i]), 'queue', 'kind', 'live_sid', 'number', 'lang')
    out[#out + 1] = {status, d[1] or '', d[2] or 'call', d[3] or '', d[4] or '', d[5] or 'zh'}
  else
    out[#out + 1] = {status}
  end
end
return out
"""
)

# What dispatch decides from, in one round trip.  ARGV: prefix, heads per queue, then per queue
# its name and the skills (comma-separated) that may ever take its callers.  -> {agents, queues}:
# agents = {id, idle_since, skills JSON}...; queues = {name, truncated (0/1), entries}..., each
# entry {id, priority, enqueued_at, not_before, declined}.  Only the queues some free agent may
# serve are read, and only their first heads; an entry whose hash expired (a call long gone) is
# cleared from its queue.
SNAPSHOT = (
    _COMMON
    + """
local ids = redis.call('zrange', p .. 'available', 0, -1, 'WITHSCORES')
local agents, skills = {}, {}
for i = 1, #ids, 2 do
  local raw = redis.call('hget', agent_key(ids[i]), 'skills') or '{}'
  agents[#agents + 1] = {ids[i], ids[i + 1], raw}
  for skill, _ in pairs(cjson.decode(raw)) do skills[skill] = true end
end
local queues = {}
if #agents == 0 then return {agents, queues} end
local per_queue = tonumber(ARGV[2])
for i = 3, #ARGV, 2 do
  local served = false
  for skill in string.gmatch(ARGV[i + 1], '[^,]+') do
    if skills[skill] then served = true break end
  end
  if served then
    local q = p .. 'queue:' .. ARGV[i]
    local heads = redis.call('zrange', q, 0, per_queue - 1)
    local entries = {}
    for _, entry in ipairs(heads) do
      local d = redis.call('hmget', entry_key(entry), 'queue', 'priority', 'enqueued_at', 'not_before', 'declined')
      if d[1] then
        entries[#entries + 1] = {entry, d[2] or '0', d[3] or '0', d[4] or '0', d[5] or ''}
      else
        redis.call('zrem', q, entry)
      end
    end
    queues[#queues + 1] = {ARGV[i], #heads >= per_queue and 1 or 0, entries}
  end
end
return {agents, queues}
"""
)

# ARGV: prefix.  -> the distinct skills of the agents logged in (one round trip, not an HGET
# per agent: a caller joining a queue, and each hold message, asks)
SKILLS_LOGGED_IN = (
    _COMMON
    + """
local seen, skills = {}, {}
for _, id in ipairs(redis.call('zrange', p .. 'agents', 0, -1)) do
  local raw = redis.call('hget', agent_key(id), 'skills')
  if raw and raw ~= '' then
    for skill, _ in pairs(cjson.decode(raw)) do
      if not seen[skill] then seen[skill] = true skills[#skills + 1] = skill end
    end
  end
end
return skills
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

# ARGV: prefix, entry, agent, now, wrap_up_seconds, keep_place (1: without wrap-up, the agent keeps
# their place in the idle line, as after a release that was not their doing).  -> {status, queue, talk}
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
  local idle_since = ARGV[4]
  if ARGV[6] == '1' then idle_since = redis.call('hget', a, 'idle_since') or ARGV[4] end
  to_available(ARGV[3], ARGV[4], idle_since)
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
if state == 'reserved' and redis.call('hget', a, 'offer_kind') ~= 'consult' then
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


# A consult (issue 14): the agent on a call asks another agent.  The consulted agent is
# reserved for the caller's entry (offer_kind 'consult': no expiry in `offers`, the consult
# leg's own ring timeout ends it), goes on_call when their leg answers, and is freed (kept
# in the idle line) when the consult ends without a transfer.
# ARGV: prefix, entry, agent, now
CONSULT_RESERVE = (
    _COMMON
    + """
local a = agent_key(ARGV[3])
if redis.call('hget', a, 'state') ~= 'available' then return 'agent_busy' end
local queue = redis.call('hget', entry_key(ARGV[2]), 'queue') or ''
log_state(ARGV[3], 'reserved', 'consult', ARGV[4])
redis.call('hset', a, 'state', 'reserved', 'reason', 'consult', 'since', ARGV[4], 'offer', ARGV[2],
           'offer_queue', queue, 'offer_expires', '', 'offer_kind', 'consult')
redis.call('zrem', p .. 'available', ARGV[3])
return 'ok'
"""
)

# ARGV: prefix, entry, agent, now
CONSULT_ANSWER = (
    _COMMON
    + """
local a = agent_key(ARGV[3])
if redis.call('hget', a, 'state') ~= 'reserved' or redis.call('hget', a, 'offer') ~= ARGV[2]
   or redis.call('hget', a, 'offer_kind') ~= 'consult' then return 'no_offer' end
local queue = redis.call('hget', a, 'offer_queue')
log_state(ARGV[3], 'on_call', 'consult', ARGV[4])
redis.call('hset', a, 'state', 'on_call', 'since', ARGV[4], 'call', ARGV[2], 'call_queue', queue,
           'call_since', ARGV[4], 'offer', '', 'offer_queue', '', 'offer_expires', '', 'offer_kind', '')
return 'ok'
"""
)

# ARGV: prefix, entry, agent, now.  The consult ended without a transfer.
CONSULT_END = (
    _COMMON
    + """
local a = agent_key(ARGV[3])
local state = redis.call('hget', a, 'state')
local mine = (state == 'reserved' and redis.call('hget', a, 'offer') == ARGV[2])
          or (state == 'on_call' and redis.call('hget', a, 'call') == ARGV[2])
if not mine then return 'not_consulting' end
redis.call('hset', a, 'offer_kind', '')
to_available(ARGV[3], ARGV[4], redis.call('hget', a, 'idle_since') or ARGV[4])
return 'ok'
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


def wrap_up_seconds(routing_settings: Routing, queue: str, *, caller_reached: bool) -> int:
    """The wrap-up after a talk of `queue`: the queue's, or none when the caller never reached
    the agent (nothing was said that needs notes or a disposition)."""
    if not caller_reached or queue not in routing_settings.queues:
        return 0
    return routing_settings.queues[queue].wrap_up_seconds


def _reachable_skills(routing_settings: Routing) -> list[tuple[str, str]]:
    """Per queue, the skills that may ever take its callers (routing.queues_served's question),
    comma-separated, as the snapshot script reads them."""
    return [
        (name, ",".join(sorted({config.skill} | {routing_settings.queues[o].skill for t in config.tiers
                                                 for o in t.overflow})))
        for name, config in routing_settings.queues.items()
    ]  # fmt: skip


# The wallboard's call columns of an agent who is not on a call.
NOT_ON_A_CALL = {"call_sid": None, "caller_waited": None, "talk_seconds": None, "controls": False}


def _waiting(entry: str, queue: str, prio: str, joined: str, not_before: str | None, declined: str | None):
    """A waiting caller as the rule sees it, from the fields of its entry (Redis strings);
    `declined`: the agents who refused it, comma-separated."""
    refused = frozenset(int(part) for part in (declined or "").split(",") if part.isdigit())
    return routing.Waiting(entry, queue, int(prio), float(joined), float(not_before or 0), refused)


class ACD:
    def __init__(self, client: redis.Redis, prefix: str, routing_settings: Routing, entry_ttl: int = 6 * 3600):
        self.redis = client
        self.p = prefix + "acd:"
        self.routing = routing_settings
        self.entry_ttl = entry_ttl
        # Queue heads dispatch reads first (more when needed: _decide).  2, not 5: when an agent
        # becomes free, the rule takes each queue's first caller but for a declined or delayed
        # one; reading 5 cost 0.4 ms of its 1.5 ms at p50 (bench/routing.py, issue 17).
        self.first_heads = 2
        self._reachable = _reachable_skills(routing_settings)
        self._skills_seen: tuple[float, frozenset[str]] | None = None  # skills_logged_in_lately
        self.skills_max_age = SKILLS_MAX_AGE
        self._register_scripts(client.register_script)

    def _register_scripts(self, register) -> None:
        """The Lua scripts, each one round trip and atomic: the snapshot, and one per change of state."""
        self._enqueue = register(ENQUEUE)
        self._reserve = register(RESERVE)
        self._reserve_pairs = register(RESERVE_PAIRS)
        self._snapshot = register(SNAPSHOT)
        self._skills_logged_in = register(SKILLS_LOGGED_IN)
        self._answer = register(ANSWER)
        self._release = register(RELEASE)
        self._talk_end = register(TALK_END)
        self._end_wrap = register(END_WRAP_UP)
        self._set_state = register(SET_STATE)
        self._logout = register(LOGOUT)
        self._leave = register(LEAVE)
        self._callback_failed = register(CALLBACK_FAILED)
        self._consult_reserve = register(CONSULT_RESERVE)
        self._consult_answer = register(CONSULT_ANSWER)
        self._consult_end = register(CONSULT_END)

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
        base_url: str = "",
    ) -> bool:
        """Put a caller in `queue`; False if they are already there (a repeated webhook).
        `base_url`: where the webhooks are, kept for the workers (`base_url`) in the same round trip."""
        fields = ["patient_id", patient_id or "", "caller", caller, "lang", lang]
        score = routing.rank_score(self.routing, priority, now)
        args = [self.p, entry, queue, priority, now, score, entry, self.entry_ttl, base_url, *fields]
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
        self._skills_seen = None
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

    def talk_end(self, entry: str, agent_id: int, now: float, *, wrap_up: bool = True) -> Result:
        """The agent's talk with `entry` is over: wrap-up for the queue's time, then free.
        `wrap_up` False: the caller never reached the agent (gone before the talk's TwiML
        joined them), who is free at once and keeps their place in the idle line."""
        queue = self.redis.hget(self.p + f"agent:{agent_id}", "call_queue") or ""
        wrap = wrap_up_seconds(self.routing, queue, caller_reached=wrap_up)
        status, queue, talk = self._talk_end(args=[self.p, entry, agent_id, now, wrap, "0" if wrap_up else "1"])
        return Result(status, queue, float(talk))

    def end_wrap_up(self, agent_id: int, now: float, *, only_if_due: bool = False) -> Result:
        status, call, queue, seconds = self._end_wrap(args=[self.p, agent_id, now, "1" if only_if_due else "0"])
        return Result(status, queue, float(seconds), {"call": call})

    def logout(self, agent_id: int, now: float, reason: str = "heartbeat") -> Result:
        status, offer, *wrap = self._logout(args=[self.p, agent_id, now, reason])
        self._skills_seen = None
        wrap_call, wrap_queue, wrapped = wrap or ("", "", "0")
        return Result(status, wrap_queue, float(wrapped), {"offer": offer, "wrap_call": wrap_call})

    # ---- consults and conferences (issue 14) -------------------------------------------------

    def consult_reserve(self, entry: str, agent_id: int, now: float) -> bool:
        """Reserve an available agent to be consulted about `entry`'s call."""
        return self._consult_reserve(args=[self.p, entry, agent_id, now]) == "ok"

    def consult_answered(self, entry: str, agent_id: int, now: float) -> bool:
        return self._consult_answer(args=[self.p, entry, agent_id, now]) == "ok"

    def consult_ended(self, entry: str, agent_id: int, now: float) -> bool:
        """The consult is over without a transfer: the consulted agent is free again."""
        return self._consult_end(args=[self.p, entry, agent_id, now]) == "ok"

    def handed_over(self, entry: str, agent_id: int) -> None:
        """After a completed transfer the caller's entry belongs to `agent_id` (the previous
        agent's talk_end, run first, marked it done)."""
        self.redis.hset(self.p + "entry:" + entry, mapping={"state": "connected", "agent": agent_id})

    # ---- what the agent has typed in a wrap-up not finished yet (issue 15) ----------------------

    def save_draft(self, agent_id: int, call: str, notes: str) -> None:
        """Kept so that a wrap-up the timer ends still has the notes typed (seats.sweep)."""
        key = self.p + f"draft:{agent_id}"
        self.redis.hset(key, mapping={"call": call, "notes": notes})
        self.redis.expire(key, self.entry_ttl)

    def take_draft(self, agent_id: int, call: str) -> str:
        """The notes drafted for `call` (gone once taken); '' if none."""
        key = self.p + f"draft:{agent_id}"
        pipe = self.redis.pipeline(transaction=True)
        pipe.hgetall(key)
        pipe.delete(key)
        draft = pipe.execute()[0]
        return draft.get("notes", "") if draft.get("call") == call else ""

    def put_through_read(self, entry: str) -> tuple[str, tuple[str, ...]]:
        """The hash and its fields that another module's round trip reads (ivr.state's
        final status), for `put_through_state` to turn into whether the caller is being
        put through to an agent."""
        return self.p + "entry:" + entry, PUT_THROUGH_FIELDS

    @staticmethod
    def put_through_state(answer: list) -> dict[str, str]:
        """The values `put_through_read` names, as the entry's fields (those it has)."""
        return {name: value for name, value in zip(PUT_THROUGH_FIELDS, answer, strict=True) if value is not None}

    def talk(self, entry: str) -> dict[str, str]:
        """The conference state of a caller's talk (issue 14), kept with their entry."""
        return {k[5:]: v for k, v in self.entry(entry).items() if k.startswith("talk_")}

    def set_talk(self, entry: str, **fields: object) -> None:
        """Set (or, with None, clear) talk fields of `entry`: stored as talk_<name>."""
        key = self.p + "entry:" + entry
        clear = [f"talk_{name}" for name, value in fields.items() if value is None]
        values = {f"talk_{name}": value for name, value in fields.items() if value is not None}
        pipe = self.redis.pipeline(transaction=True)
        if clear:
            pipe.hdel(key, *clear)
        if values:
            pipe.hset(key, mapping=values)
        pipe.execute()

    def monitoring(self, staff_id: int) -> str | None:
        """The entry whose talk this supervisor listens to, if any."""
        return self.redis.get(self.p + f"monitoring:{staff_id}") or None

    def set_monitoring(self, staff_id: int, entry: str | None) -> None:
        key = self.p + f"monitoring:{staff_id}"
        if entry is None:
            self.redis.delete(key)
        else:
            self.redis.set(key, entry, ex=self.entry_ttl)

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
        callers: list[routing.Waiting] = []
        for entry, (queue, *fields) in zip(heads, self._entry_fields(heads), strict=True):
            if queue is None:  # its hash expired (a call long gone): clear it from the queues
                self._forget_in_queues(entry)
                continue
            callers.append(_waiting(entry, queue, *fields))
        return callers

    def _entry_fields(self, entries: list[str]) -> list:
        """Each entry's queue and what the rule reads of it, in one round trip (none for none)."""
        if not entries:
            return []
        pipe = self.redis.pipeline(transaction=False)
        for entry in entries:
            pipe.hmget(self.p + "entry:" + entry, "queue", "priority", "enqueued_at", "not_before", "declined")
        return pipe.execute()

    def _forget_in_queues(self, entry: str) -> None:
        for name in self.routing.queues:
            self.redis.zrem(self.p + "queue:" + name, entry)

    def dispatch(self, now: float, *, rounds: int = 5) -> list[Offer]:
        """Offer waiting callers to free agents by the fairness rule; the offers made.
        Two round trips when nothing races it: the snapshot (one Lua script: the free
        agents and the first heads of the queues they may serve) and the reservations (one
        Lua script, each pair checked as `reserve` does).  A pair refused there (another
        process got there first) is matched again."""
        offers: list[Offer] = []
        for _ in range(rounds):
            pairs = self._decide(now)
            if not pairs:
                break
            made = self._reserve_all(pairs, now)
            offers += made
            if len(made) == len(pairs):
                break
        return offers

    def _decide(self, now: float) -> list[tuple[routing.Waiting, routing.FreeAgent]]:
        """The pairs the rule makes of the free agents and the waiting callers, read lazily:
        a few per queue first, more only while some agent is left unmatched and a queue had
        more callers than were read."""
        per_queue = self.first_heads
        while True:
            agents, queues = self._read_snapshot(per_queue)
            if not agents:
                return []
            callers = [caller for _, _, entries in queues for caller in entries]
            truncated = [entries[-1] for _, cut, entries in queues if cut and entries]
            callers = self._before_horizon(callers, truncated)
            pairs = routing.match(self.routing, callers, agents, now)
            if len(pairs) == len(agents) or not truncated or per_queue >= 100_000:
                return pairs
            per_queue *= 4

    def _before_horizon(self, callers: list[routing.Waiting], truncated: list[routing.Waiting]) -> list:
        """Beyond the last caller read of a truncated queue, callers of other queues may rank
        below callers not read: match only those ranked before every such horizon, for which
        the rule's one greedy pass gives exactly what it would give on every caller (a caller's
        agent depends only on the callers ranked before)."""
        if not truncated:
            return callers
        horizon = min(routing.rank(self.routing, last) for last in truncated)
        return [caller for caller in callers if routing.rank(self.routing, caller) <= horizon]

    def _read_snapshot(self, per_queue: int) -> tuple[list[routing.FreeAgent], list[tuple[str, bool, list]]]:
        args = [self.p, per_queue] + [part for pair in self._reachable for part in pair]
        raw_agents, raw_queues = self._snapshot(args=args)
        agents = [routing.FreeAgent(int(a), float(idle), json.loads(skills)) for a, idle, skills in raw_agents]
        queues = [
            (name, bool(int(cut)), [_waiting(entry, name, *fields) for entry, *fields in entries])
            for name, cut, entries in raw_queues
        ]
        return agents, queues

    def _reserve_all(self, pairs: list[tuple[routing.Waiting, routing.FreeAgent]], now: float) -> list[Offer]:
        expires = now + self.routing.reservation_expiry_seconds
        args = [self.p, now, expires] + [part for caller, agent in pairs for part in (caller.entry, agent.staff_id)]
        offers = []
        for (caller, agent), answer in zip(pairs, self._reserve_pairs(args=args), strict=True):
            if answer[0] != "ok":
                continue
            queue, kind, live_sid, number, lang = answer[1:]
            offers.append(Offer(entry=caller.entry, agent_id=agent.staff_id, queue=queue, kind=kind,
                                live_sid=live_sid, number=number, lang=lang, expires_at=expires))  # fmt: skip
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

    def skills_logged_in(self) -> frozenset[str]:
        """The skills of the agents logged in, whatever their state (on a break or a call
        they come back): with the opening hours, whether anybody can answer a queue."""
        skills = frozenset(self._skills_logged_in(args=[self.p]))
        self._skills_seen = (time.monotonic(), skills)
        return skills

    def skills_logged_in_lately(self) -> frozenset[str]:
        """skills_logged_in as this process read it at most `skills_max_age` seconds ago: what a
        menu says of '0 for a person' on every step, without a round trip (a script that
        reads every logged-in agent's skills) on each.  A queue's own check (joining it)
        reads afresh; this process's logins and logouts forget the reading at once."""
        seen = self._skills_seen
        if seen is not None and time.monotonic() - seen[0] < self.skills_max_age:
            return seen[1]
        return self.skills_logged_in()

    def base_url(self) -> str | None:
        """Where the hotline's webhooks are, as last seen by a web process (for workers)."""
        return self.redis.get(self.p + "base_url")

    def remember_base_url(self, url: str) -> None:
        self.redis.set(self.p + "base_url", url)

    # ---- the wallboard ---------------------------------------------------------------------------

    def snapshot(self, now: datetime | float) -> dict:
        """Queues (name, title, waiting, longest_wait seconds) and agents (staff_id,
        display_name, state, reason, since; queue, and on a call its call_sid, the caller's
        wait, the talk so far and whether it is a conference), as the wallboard shows them."""
        at = now.timestamp() if isinstance(now, datetime) else float(now)
        names = list(self.routing.queues)
        pipe = self.redis.pipeline(transaction=False)
        for name in names:
            pipe.zcard(self.p + "queue:" + name)
        counts = pipe.execute()
        queues = [self._queue_row(name, int(count), at) for name, count in zip(names, counts, strict=True)]
        agents = [self._agent_row(agent_id, at) for agent_id in self._known_agents()]
        return {"queues": queues, "agents": agents}

    def _queue_row(self, name: str, count: int, at: float) -> dict:
        return {
            "name": name,
            "title": self.routing.queues[name].title.model_dump(),
            "waiting": count,
            "longest_wait": self._longest_wait(name, at) if count else 0,
        }

    def _agent_row(self, agent_id: int, at: float) -> dict:
        data = self.agent(agent_id)
        row = {
            "staff_id": agent_id,
            "display_name": data.get("name", ""),
            "state": data["state"],
            "reason": data.get("reason", ""),
            "since": float(data["since"]) if data.get("since") else None,
            "queue": data.get("call_queue") or data.get("offer_queue") or "",
            **NOT_ON_A_CALL,
        }
        if data["state"] == "on_call" and data.get("call"):
            row.update(self._call_row(data, at))
        return row

    def _call_row(self, data: dict, at: float) -> dict:
        """What a supervisor needs to pick a call to listen to (issue 14)."""
        entry = self.entry(data["call"])
        joined, answered = entry.get("enqueued_at"), entry.get("answered_at")
        return {
            "call_sid": data["call"],
            "caller_waited": round(float(answered) - float(joined)) if joined and answered else None,
            "talk_seconds": round(at - float(data.get("call_since") or at)),
            "controls": entry.get("talk_conf") == "1",
        }

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
