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


def test_a_worker_whose_redis_answers_its_unsubscribe_late_leaves_the_connection_to_its_pub_sub_thread(
    redis_url, redis_prefix, monkeypatch, caplog
):
    """RQ waits a second for the pub/sub thread, then closes its connection all the same.  A
    thread still waiting for Redis's answer (Redis slow at a deploy's stop, or a network cut)
    then read a closed socket: a TypeError, RQ's 'pubsub thread exiting' warning and an
    'Exception in thread' traceback at every such stop.  The thread closes it when it ends."""
    import threading
    import time

    crashed: list[BaseException | None] = []
    monkeypatch.setattr(threading, "excepthook", lambda args: crashed.append(args.exc_value))
    connection = redis_lib.Redis.from_url(redis_url)
    read, handle = threading.Event(), redis_lib.client.PubSub.handle_message
    monkeypatch.setattr(redis_lib.client.PubSub, "handle_message", lambda *args: (handle(*args), read.set())[0])
    worker = SimpleWorker([queue_name(redis_prefix, RECORDS)], connection=connection)
    worker.subscribe()
    pubsub, thread = worker.pubsub, worker.pubsub_thread
    assert read.wait(5)  # the thread read the SUBSCRIBE's answer...
    time.sleep(0.1)  # ...and waits for the next message, as a worker does but at its start
    answered = pubsub.unsubscribe
    monkeypatch.setattr(pubsub, "unsubscribe", lambda *channels: None)  # its answer not there within the second
    worker.unsubscribe()
    if pubsub.connection is not None:  # left open for the thread, which reads Redis's answer at last
        answered()
    thread.join(5)
    connection.close()
    assert not thread.is_alive()
    assert crashed == [] and "pubsub thread exiting" not in caplog.text
    assert pubsub.connection is None  # closed, by the thread
