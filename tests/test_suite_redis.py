"""The suite leaves the test Redis as it found it: what one test's RQ queues, jobs and
workers leave outside its prefix goes with the prefix (the session's end checks it too,
in conftest.redis_left_clean)."""

from __future__ import annotations

from datetime import timedelta

import redis as redis_lib
import rq

from queueing import ROUTINE, URGENT, queue_name
from tests.conftest import forget_redis_prefix, new_redis_prefix, redis_left_by


def test_a_tests_queues_jobs_and_workers_go_with_its_prefix(redis_url, redis_left_clean):
    client = redis_lib.Redis.from_url(redis_url)
    prefix = new_redis_prefix(redis_url)
    routine = rq.Queue(queue_name(prefix, ROUTINE), connection=client)
    urgent = rq.Queue(queue_name(prefix, URGENT), connection=client)
    jobs = [
        routine.enqueue("builtins.len", "done"),  # finished
        routine.enqueue("builtins.int", "not a number"),  # failed
        routine.enqueue_in(timedelta(hours=1), "builtins.len", "later"),  # scheduled
    ]
    worker = rq.SimpleWorker([urgent, routine], connection=client)
    worker.work(burst=True, logging_level="WARNING")
    jobs.append(urgent.enqueue("builtins.len", "never run"))  # still queued
    client.set(f"{prefix}call:CA1", "the test's own key")
    assert client.sismember("rq:queues", routine.key) and client.exists(f"rq:job:{jobs[0].id}")

    forget_redis_prefix(client, prefix)

    assert list(client.scan_iter(f"*{prefix}*")) == []
    assert not client.sismember("rq:queues", routine.key) and not client.sismember("rq:queues", urgent.key)
    assert [job.id for job in jobs if client.exists(f"rq:job:{job.id}")] == []
    assert not client.exists(worker.key) and not client.sismember("rq:workers", worker.key)
    assert redis_left_by(client, [prefix]) == []
