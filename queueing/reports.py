"""The monthly report for the hospital's leadership, built by an RQ job: on the scheduler's
daily run (last month's, once it is over and not built yet) and on demand from the report
page.  Each step's progress is committed as it is done, so the page shows how far it got;
the figures (records.monthly.figures) are stored when all are done.  A failed build is
marked 'failed' with the error's kind and raised again for RQ's retry."""

from __future__ import annotations

from redis.exceptions import RedisError
from rq import Queue, Retry

from queueing import ROUTINE, context, queue_name
from records import aftercare_rules as rules
from records import monthly
from records.db import begin_write

REPORT_TIMEOUT = 20 * 60
RETRY = Retry(max=2, interval=[60, 600])


def enqueue_monthly_report(queue: Queue, month: str) -> bool:
    """After the commit that marked it requested; False when Redis cannot take it (the page says so)."""
    try:
        queue.enqueue(
            build_monthly_report,
            month,
            job_timeout=REPORT_TIMEOUT,
            retry=RETRY,
            description=f"monthly report {month}",
        )
    except RedisError:
        return False
    return True


def build_monthly_report(month: str | None = None) -> str:
    """`month` from the page (build it again); none from the scheduler: last month's, once."""
    hotline = context.get()
    settings = hotline.settings
    now = hotline.now()
    scheduled = month is None
    month = month or rules.previous_month(now.astimezone(settings.hospital.zone).date())
    with hotline.sessions() as db:
        begin_write(db)
        report = monthly.stored(db, month)
        if scheduled and report is not None and monthly.in_hand(report, now):
            db.rollback()
            return f"{month}: {report.status} already"  # built, or being built (asked for on the page)
        monthly.started(db, month, now)
        db.commit()
    try:
        with hotline.sessions() as db, hotline.sessions() as progress_db:

            def progress(step: str) -> None:  # its own short transactions: the figures' reads stay open
                begin_write(progress_db)
                monthly.step_done(progress_db, month, step)
                progress_db.commit()

            data = monthly.figures(db, settings, month, now, progress)
            db.rollback()
        with hotline.sessions() as db:
            begin_write(db)
            monthly.finished(db, month, data, hotline.now())
            db.commit()
    except Exception as error:
        with hotline.sessions() as db:
            begin_write(db)
            monthly.failed(db, month, type(error).__name__, hotline.now())
            db.commit()
        raise
    return f"{month}: built"


def routine_queue(hotline) -> Queue:
    return Queue(queue_name(hotline.settings.env.redis_prefix, ROUTINE), connection=hotline.queue_redis)
