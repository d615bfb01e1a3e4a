"""A worker that stops (a burst run's end, a deploy's SIGTERM) ends its pub/sub thread with it,
rather than leaving RQ's second-long wait for that thread to run out (queueing/workers.py)."""

from __future__ import annotations

import redis as redis_lib

from queueing import queue_name
from queueing.recording import RECORDS
from queueing.workers import SimpleWorker


def test_a_worker_that_stops_ends_its_pub_sub_thread(redis_url, redis_prefix):
    connection = redis_lib.Redis.from_url(redis_url)
    # RQ's own order lost a race about one stop in four: twenty runs, every thread ended.
    still_running = 0
    for _ in range(20):
        worker = SimpleWorker([queue_name(redis_prefix, RECORDS)], connection=connection)
        worker.work(burst=True, logging_level="WARNING")  # nothing queued: starts, then stops
        still_running += worker.pubsub_thread is not None and worker.pubsub_thread.is_alive()
    connection.close()
    assert still_running == 0
