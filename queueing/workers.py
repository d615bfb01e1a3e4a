"""RQ's worker and cron scheduler, kept alive through a Redis outage.

Out of the box a Redis restart ends `flask worker` and `flask cron` for good (issue 16):
RQ's work loop survives a lost connection only while it waits for a job; anywhere else
(a heartbeat, the suspension check, a job's bookkeeping, registering at start) the error
reaches its catch-all, which logs "found an unhandled exception, quitting", registers
death and returns; the scheduler that moves waiting retries runs in a child process that
dies on the first error and is started again only by the worker's maintenance, every 10
minutes; and the cron scheduler has no retry at all.  Meanwhile RQ logs a line per retry
(its pub/sub thread one every 2 seconds).

These subclasses keep RQ's loops and change only where an outage is met:

- RQ's own bookkeeping steps (heartbeat, suspension check, maintenance, the worker's
  state, the cron scheduler's registration, heartbeat and enqueueing) wait for Redis with
  back-off instead of failing: they are idempotent, so trying again is safe;
- a job whose bookkeeping failed ends RQ's loop as before; `work()` then waits for Redis
  and starts the loop again under the same name (RQ has no hook for "the loop quit on an
  error", hence the wrapper round `work()`; the job itself is left to RQ's abandoned-job
  handling, which retries it, and every job here is idempotent);
- when Redis answers again the worker registers again (a Redis that lost its data lost
  the worker's registration) and restarts its retry scheduler at once, as RQ's
  maintenance would later; the maintenance interval is also shortened (RQ's option), so
  a scheduler lock left by a dead scheduler is taken over within a couple of minutes;
- the worker's heartbeat comes every 45 s (RQ's worker_ttl option, 60 s), so a dead
  worker shows within two minutes on the supervisor pages (queueing/health.py);
- an outage is logged once when it starts and once when it ends (`Outage`);
- when Redis is back, the records queue's workers and the cron scheduler ask for the
  record spool (what the web processes kept in the database meanwhile) to be replayed at
  once (queueing.recording.replay_soon), rather than at the cron's next minute.

The pool (`flask worker --records --count N`) runs these classes in its children: the
pool's own process never talks to Redis.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

import redis
import rq
from redis.backoff import EqualJitterBackoff
from rq import worker_registration
from rq.cron import CronScheduler
from rq.exceptions import StopRequested

# What a Redis outage looks like to redis-py (a reset connection, a refused one, a timeout).
REDIS_DOWN = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError)
RETRY_AT_MOST_EVERY = 10.0  # seconds between tries once an outage lasts
# RQ's maintenance (registries, and restarting a dead retry scheduler) every minute rather
# than every 10: the retry scheduler's lock lives 61 seconds after its holder died.
MAINTENANCE_EVERY = 60
# A worker's heartbeat every 45 s when idle (RQ waits worker_ttl - 15 for a job) instead of
# every 405 s, so queueing/health.py tells a dead worker within two minutes, not eight.
WORKER_TTL = 60

T = TypeVar("T")


class Outage:
    """A Redis outage as one process lives it: said when it starts and when it ends, with
    back-off in between, however many tries that takes."""

    def __init__(self, log: logging.Logger, who: str):
        self.log = log
        self.who = who
        self.since: float | None = None
        self.failures = 0
        self.backoff = EqualJitterBackoff(cap=RETRY_AT_MOST_EVERY, base=0.5)

    def failed(self, error: Exception) -> float:
        """Note a failed try; how long to wait before the next one."""
        if self.since is None:
            self.since = time.monotonic()
            self.log.warning(
                "%s: Redis unreachable (%s: %s); waiting for it, trying again at most every %.0f s",
                self.who,
                type(error).__name__,
                error,
                RETRY_AT_MOST_EVERY,
            )
        self.failures += 1
        return self.backoff.compute(self.failures)

    def over(self) -> bool:
        """After a try that worked: True (once) if it ended an outage."""
        if self.since is None:
            return False
        self.log.warning(
            "%s: Redis is back after %.0f s (%d tries)", self.who, time.monotonic() - self.since, self.failures
        )
        self.since, self.failures = None, 0
        return True

    def wait_out(self, attempt: Callable[[], T]) -> T:
        """attempt() until Redis answers it.  A stop signal raises out of the sleep."""
        while True:
            try:
                return attempt()
            except REDIS_DOWN as error:
                time.sleep(self.failed(error))


class _Surviving(rq.worker.BaseWorker):
    """What Worker and SimpleWorker below share (see the module's docstring)."""

    def __init__(self, *args, **kwargs):
        kwargs.setdefault("maintenance_interval", MAINTENANCE_EVERY)
        kwargs.setdefault("worker_ttl", WORKER_TTL)
        super().__init__(*args, **kwargs)
        self.outage = Outage(self.log, f"Worker {self.name}")
        self._lost_redis: Exception | None = None
        self._burst = False

    def work(self, burst: bool = False, **options) -> bool:
        worked, self._burst = False, burst
        while True:
            self._lost_redis = None
            try:
                worked |= super().work(burst=burst, **options)
            except REDIS_DOWN as error:  # registering at start, or death at the end
                self._lost_redis = error
            except StopRequested:  # a stop signal while we waited for Redis
                return worked
            if self._lost_redis is None or burst or self._shutdown_requested_date is not None:
                return worked
            try:
                self.outage.failed(self._lost_redis)
                self.outage.wait_out(self.connection.ping)
                self._tidy_up()
            except StopRequested:
                return worked
            self.outage.over()
            self._catch_up()
            self.log.info("Worker %s: starting again", self.name)

    def _catch_up(self) -> None:
        """Redis is back: a worker of the records queue has the record spool (what the
        web processes kept in the database meanwhile) replayed now, not at the next
        minute's cron job."""
        records = _records_queue()
        for queue in self.queues:
            if queue.name == records:
                _replay_soon(queue, self.outage)

    def _tidy_up(self) -> None:
        """What RQ's teardown could not do while Redis was away, so the same name can be
        born again: the death recorded, the pub/sub thread stopped."""
        self.register_death()
        if self.pubsub_thread is not None:
            self.unsubscribe()
            self.pubsub_thread = None

    def execute_job(self, job, queue):
        try:
            super().execute_job(job, queue)
        except REDIS_DOWN as error:
            # RQ's loop quits on it; work() starts the loop again once Redis is back, and
            # RQ's abandoned-job handling takes care of the job.
            self._lost_redis = error
            raise

    # ---- RQ's bookkeeping: idempotent, so waited through --------------------------------

    def _through(self, attempt: Callable[[], T]) -> T:
        result = self.outage.wait_out(attempt)
        if self.outage.over():
            self._after_outage()
        return result

    def heartbeat(self, timeout=None, pipeline=None):
        if pipeline is not None:  # part of someone's pipeline: it fails or succeeds with it
            return super().heartbeat(timeout, pipeline)

        def beat() -> bool:
            super(_Surviving, self).heartbeat(timeout)
            return bool(self.connection.sismember(worker_registration.REDIS_WORKER_KEYS, self.key))

        # Whether the worker is still listed, asked with each beat: RQ's dequeue retries a lost
        # connection by itself ('could not connect to Redis instance... retrying'), so a Redis
        # restarted empty while a worker waited for a job is no outage seen here, and the
        # worker went on working unlisted (test_faults_rq, once under the whole suite).
        if not self._through(beat):
            self._after_outage()

    def check_for_suspension(self, burst: bool):
        return self._through(lambda: super(_Surviving, self).check_for_suspension(burst))

    def run_maintenance_tasks(self):
        return self._through(super().run_maintenance_tasks)

    def set_state(self, state, pipeline=None):
        if pipeline is not None:
            return super().set_state(state, pipeline)
        return self._through(lambda: super(_Surviving, self).set_state(state))

    def register_death(self):
        try:
            super().register_death()
        except REDIS_DOWN as error:  # said by the outage already; the key expires by itself
            self.log.debug("Worker %s: death not registered (%s)", self.name, error)

    def unsubscribe(self) -> None:
        """RQ's, in another order.  RQ sends UNSUBSCRIBE, then stops its pub/sub thread, waits up
        to a second for it, and closes its connection whether it ended or not:
        - the thread, waiting for a message, mostly read the UNSUBSCRIBE's reply before it was
          told to stop and went back to waiting (60 s): every worker's stop (a burst run's end, a
          deploy's SIGTERM) took a second more.  Told first, the thread ends at that reply;
        - a thread still waiting for that reply after the second (Redis slow to answer, the
          network cut) read a socket closed under it: a TypeError, RQ's 'pubsub thread exiting'
          warning and a traceback at the stop.  Left to it, the thread closes the connection as
          it ends (redis-py's PubSubWorkerThread does), at the reply or its read's timeout."""
        thread, pubsub = self.pubsub_thread, self.pubsub
        if thread is None or pubsub is None:
            return
        self.log.info("Worker %s: unsubscribing from channel %s", self.name, self.pubsub_channel_name)
        thread.stop()
        # Redis away: raised, as RQ's does (work() waits for Redis); the thread, told to stop,
        # meets the outage too and ends at its next try, closing the connection.
        pubsub.unsubscribe()
        thread.join(timeout=1)
        # Again: a thread told before it began running sets its flag itself (PubSubWorkerThread.run).
        thread.stop()
        if not thread.is_alive():
            pubsub.close()  # closed by the thread already: nothing left to do, and no harm

    def _pubsub_exception_handler(self, error, pubsub, pubsub_thread):
        # RQ's hook for its pub/sub thread logs an error every 2 seconds of an outage; the
        # outage is said once by the work loop, so this one only waits.  redis-py subscribes
        # again when it reconnects.
        if isinstance(error, REDIS_DOWN):
            time.sleep(2.0)
            return
        super()._pubsub_exception_handler(error, pubsub, pubsub_thread)

    def _after_outage(self) -> None:
        """Redis answers again: be listed again (a Redis that lost its data lost the
        worker's registration), and start the retry scheduler if it died meanwhile."""
        with self.connection.pipeline() as pipeline:
            pipeline.hset(self.key, mapping=self.serialize())
            pipeline.hset(self.key, "state", self.get_state())
            worker_registration.register(self, pipeline)
            pipeline.expire(self.key, self.worker_ttl + 60)
            pipeline.execute()
        self._catch_up()
        scheduler = self.scheduler
        if self._burst or scheduler is None:  # a burst worker's scheduler ran once, at start
            return
        if scheduler._process is None or not scheduler._process.is_alive():
            scheduler.acquire_locks(auto_start=True)


class Worker(_Surviving, rq.Worker):
    """RQ's forking worker (each job in a work-horse), surviving Redis outages."""


class SimpleWorker(_Surviving, rq.SimpleWorker):
    """RQ's in-process worker (the records pool), surviving Redis outages."""


class Cron(CronScheduler):
    """RQ's cron scheduler, surviving Redis outages: its registration, heartbeat and
    enqueueing wait for Redis.  A job due during the outage is enqueued once it is back
    (RQ marks a job enqueued only after its enqueue worked, so none is enqueued twice)."""

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.outage = Outage(self.log, f"CronScheduler {self.name}")

    def _through(self, attempt: Callable[[], T]) -> T:
        result = self.outage.wait_out(attempt)
        if self.outage.over():
            # As the workers do (it takes the one that notices first): the record spool.
            _replay_soon(rq.Queue(_records_queue(), connection=self.connection), self.outage)
        return result

    def register_birth(self) -> None:
        self._through(super().register_birth)

    def enqueue_jobs(self):
        return self._through(super().enqueue_jobs)

    def save(self, pipeline=None) -> None:
        if pipeline is not None:
            return super().save(pipeline)
        return self._through(super().save)

    def heartbeat(self) -> None:
        # RQ's heartbeat registers the scheduler again if Redis lost it.
        self._through(super().heartbeat)

    def register_death(self, pipeline=None) -> None:
        try:
            super().register_death(pipeline)
        except REDIS_DOWN as error:  # its registry entry is pruned by its age
            self.log.warning("CronScheduler %s: death not registered (%s)", self.name, error)


def _records_queue() -> str:
    from queueing import context
    from queueing.recording import records_queue_name

    return records_queue_name(context.get().settings.env.redis_prefix)


def _replay_soon(queue: rq.Queue, outage: Outage) -> None:
    from queueing.recording import replay_soon

    try:
        if replay_soon(queue):
            outage.log.info("%s: the record spool will be replayed now", outage.who)
    except REDIS_DOWN as error:  # gone again: the next reconnection asks again, and the cron every minute
        outage.log.warning("%s: spool replay not asked for (%s)", outage.who, error)
