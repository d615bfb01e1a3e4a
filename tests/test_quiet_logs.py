"""An idle hotline's log is quiet: RQ's lines about the housekeeping jobs that run every few
seconds (the seats' sweep) or every minute are DEBUG lines, other jobs' lines stay INFO."""

import logging

import rq

from queueing.cli import quiet_housekeeping


def test_the_sweep_is_logged_at_debug_and_other_jobs_at_info(records_worker, caplog):
    quiet_housekeeping()
    queue = records_worker.queue
    sweep = queue.enqueue("queueing.jobs.sweep_seats")
    other = queue.enqueue("os.getpid")
    with caplog.at_level(logging.INFO):
        rq.SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="INFO")
    lines = [r.getMessage() for r in caplog.records if r.name == "rq.worker" and r.levelno >= logging.INFO]
    assert sweep.get_status() == "finished" and other.get_status() == "finished"
    assert not [line for line in lines if sweep.id in line or "sweep_seats" in line]
    assert [line for line in lines if other.id in line]  # other jobs are still logged


def test_at_debug_the_sweep_is_still_there(records_worker, caplog):
    quiet_housekeeping()
    queue = records_worker.queue
    sweep = queue.enqueue("queueing.jobs.sweep_seats")
    with caplog.at_level(logging.DEBUG):
        rq.SimpleWorker([queue], connection=queue.connection).work(burst=True, logging_level="DEBUG")
    assert [r for r in caplog.records if r.name == "rq.worker" and sweep.id in r.getMessage()]
    logging.getLogger("rq.worker").setLevel(logging.INFO)
