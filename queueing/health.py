"""Are the processes that run the hotline's jobs alive?  Told by their heartbeats in Redis.

Nothing says so when a worker or the scheduler is gone (issue 16): texts, reminders, the
seats' timers and the call records simply stop.  This module says it, for the supervisor
pages (a line at the top) and for a readiness check:

- `missing(heartbeats, now)`: pure; the roles (ROLES) with no heartbeat in the last
  ALIVE_WITHIN;
- `heartbeats(connection, prefix)`: reads them from RQ's own records (the workers on each
  queue, the cron scheduler, the holders of the retry-scheduler locks);
- `check(connection, prefix, now)`: both, a Redis that does not answer, and the finished
  calls whose record the database kept refusing (the dead letters, queueing/recording.py),
  as a `Health` with the line to show in Chinese and English.

Every process beats at least once a minute: a worker between two waits for a job
(queueing/workers.py sets RQ's worker_ttl to 60 s, so an idle wait lasts 45 s), the cron
scheduler each loop (at most 60 s apart), a retry scheduler every second.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from redis import Redis
from redis.exceptions import RedisError
from rq import Queue, Worker
from rq.cron import CronScheduler
from rq.exceptions import SchedulerNotFound
from rq.scheduler import RQScheduler

from queueing import ROUTINE, URGENT, queue_name
from queueing.handover import RecordKeys
from queueing.recording import RECORDS

ALIVE_WITHIN = timedelta(seconds=120)  # two heartbeats missed

# Each role: what stops without it, as the page says it (zh, en).  In the order shown.
ROLES: dict[str, tuple[str, str]] = {
    "worker": ("短信、提醒和座席计时的工作进程", "the workers for texts, reminders and the seats' timers"),
    "records_worker": ("通话记录的工作进程", "the call-record workers"),
    "scheduler": ("定时任务调度（flask cron）", "the scheduler (flask cron)"),
    "retries": ("短信和提醒的重试调度", "the retries of texts and reminders"),
    "records_retries": ("通话记录的重试调度", "the retries of call records"),
}
# The queue whose workers (or whose retry-scheduler lock holder) each role is.
_WORKERS = {"worker": URGENT, "records_worker": RECORDS}
_RETRIES = {"retries": URGENT, "records_retries": RECORDS}


def missing(heartbeats: Mapping[str, Iterable[datetime]], now: datetime, within: timedelta = ALIVE_WITHIN) -> list[str]:
    """The roles none of whose heartbeats is within `within` of `now` (ROLES' order)."""
    return [role for role in ROLES if not any(now - beat <= within for beat in heartbeats.get(role, ()))]


def heartbeats(connection: Redis, prefix: str) -> dict[str, list[datetime]]:
    """The last heartbeat of every process in each role, from what RQ keeps in Redis."""
    found: dict[str, list[datetime]] = {}
    for role, kind in _WORKERS.items():
        queue = Queue(queue_name(prefix, kind), connection=connection)
        found[role] = [_utc(w.last_heartbeat) for w in Worker.all(queue=queue) if w.last_heartbeat]
    ours = {queue_name(prefix, kind) for kind in (URGENT, ROUTINE, RECORDS)}
    found["scheduler"] = [
        _utc(s.last_heartbeat)
        for s in CronScheduler.all(connection, cleanup=False)
        if ours & {job.queue_name for job in s.get_jobs()} and s.last_heartbeat
    ]
    for role, kind in _RETRIES.items():
        holder = connection.get(RQScheduler.get_locking_key(queue_name(prefix, kind)))
        found[role] = []
        if holder:
            try:
                beat = RQScheduler.fetch(holder.decode(), connection).last_heartbeat
            except SchedulerNotFound:  # its hash expired: the holder is dead
                continue
            found[role] = [_utc(beat)] if beat else []
    return found


@dataclass(frozen=True)
class Health:
    redis: bool  # Redis answered
    missing: tuple[str, ...] = ()
    dead_letters: int = 0  # finished calls whose record the database kept refusing

    @property
    def ok(self) -> bool:
        return self.redis and not self.missing

    def line(self) -> str:
        """What the supervisor pages say (nothing when all is well)."""
        if not self.redis:
            return "Redis 无法连接：短信、提醒和通话记录暂停。Redis does not answer: texts, reminders and call records wait."
        said = []
        if self.missing:
            zh = "、".join(ROLES[role][0] for role in self.missing)
            en = "; ".join(ROLES[role][1] for role in self.missing)
            said.append(f"未在运行：{zh}。Not running: {en}.")
        if self.dead_letters:
            said.append(
                f"{self.dead_letters} 个通话记录无法写入，已移出待写队列（flask records dead-letters）。"
                f"{self.dead_letters} call records the database refused are set aside (flask records dead-letters)."
            )
        return " ".join(said)


def check(connection: Redis, prefix: str, now: datetime | None = None) -> Health:
    try:
        beats = heartbeats(connection, prefix)
        dead = connection.xlen(RecordKeys(prefix).dead_letters)
    except RedisError:
        return Health(redis=False, missing=tuple(ROLES))
    return Health(redis=True, missing=tuple(missing(beats, now or datetime.now(UTC))), dead_letters=dead)


def _utc(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)
