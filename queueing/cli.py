"""`flask --app app worker`, `flask --app app cron` and `flask --app app records ...`:
RQ's worker (or worker pool) and cron scheduler on the hotline's queues and Redis
(REDIS_URL, or the embedded one)."""

from __future__ import annotations

import gc
import json
import logging
import re
from collections import deque

import click
from flask import Flask
from redis.exceptions import RedisError
from rq.worker_pool import WorkerPool
from sqlalchemy.exc import SQLAlchemyError

from extensions import hotline, refuse_unless_sentinels_answer
from queueing import ROUTINE, URGENT, context, queue_name, recording
from queueing.workers import Cron, SimpleWorker, Worker
from records import spool
from records.retention import dead_letter_days

# Jobs that run every few seconds or minutes, all day: their lines (4 a job from the
# worker, 1 from the scheduler; 60 a minute for the seats' sweep alone) buried everything
# else in an idle hotline's log.  They are logged at DEBUG instead; failures still show.
HOUSEKEEPING = ("sweep_seats", "replay_spool", "copy_agent_states", "requeue_stuck_sms", "sweep_aftercare",
                "escalate_overdue_cases", "reconstruct_calls")  # fmt: skip


class QuietHousekeeping(logging.Filter):
    """Turns RQ's routine lines about the housekeeping jobs into DEBUG lines."""

    def __init__(self, names: tuple[str, ...] = HOUSEKEEPING):
        super().__init__()
        self.pattern = re.compile(r"\b(" + "|".join(map(re.escape, names)) + r")\b")
        self.job_ids: deque[str] = deque(maxlen=64)  # RQ's 'Job OK' lines name only the id

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno != logging.INFO:
            return True
        message = record.getMessage()
        if self.pattern.search(message):
            self.job_ids.extend(re.findall(r"\(([0-9a-f-]{36})\)", message))
        elif not any(job_id in message for job_id in self.job_ids):
            return True
        record.levelno, record.levelname = logging.DEBUG, "DEBUG"
        return logging.getLogger(record.name).isEnabledFor(logging.DEBUG)


def quiet_housekeeping() -> None:
    for name in ("rq.worker", "rq.cron"):
        logger = logging.getLogger(name)
        if not any(isinstance(f, QuietHousekeeping) for f in logger.filters):
            logger.addFilter(QuietHousekeeping())


def register(app: Flask) -> None:
    app.cli.add_command(worker)
    app.cli.add_command(cron)
    app.cli.add_command(records)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
@click.option("--records", "records_only", is_flag=True, help="Only the call-record queue.")
@click.option("--count", type=click.IntRange(1, 64), default=None, help="Workers to run (RQ's worker pool).")
def worker(burst: bool, records_only: bool, count: int | None) -> None:
    """Run jobs: SMS of calls in progress, call records, then reminders and housekeeping.

    `--records --count 4` runs four workers on the call-record queue (default
    `records.workers` from config.yaml).  Ctrl-C (SIGTERM) lets the current jobs
    finish; a second one stops at once (RQ's warm and cold shutdown).  Spooled
    records (kept while Redis was away) are replayed first, and the agents' state changes
    logged meanwhile are copied.  A Redis outage is waited out (queueing/workers.py)."""
    # Each job runs in a fork of this process (RQ's work-horse): build the context here,
    # once (settings, the engine, the REST client and its modules, the embedded Redis),
    # and every job inherits it rather than rereading config.yaml and rebuilding it
    # (a job still opens its own database connection: one must not cross a fork).
    # The parent never calls the carrier, so the client holds no socket to share;
    # forked children drop the engine's pool (queueing/context.py) and redis-py's
    # pools reconnect on a new pid.
    jobs = context.get()
    refuse_unless_sentinels_answer(jobs.settings.env)  # under Sentinel: they answer, or no start
    jobs.twilio.messages  # noqa: B018
    quiet_housekeeping()
    prefix = jobs.settings.env.redis_prefix
    kinds = [recording.RECORDS] if records_only else [URGENT, recording.RECORDS, ROUTINE]
    names = [queue_name(prefix, kind) for kind in kinds]
    if count is None:
        count = jobs.settings.records.workers if records_only else 1
    _replay_spool()
    _copy_agent_states()
    # Close the connections the replay opened: this process waits on Redis from now on.
    jobs.engine.dispose()
    connection = jobs.queue_connection(patient=True)
    # Record jobs are short database writes: the records-only workers run them in their
    # own process (SimpleWorker) and keep their connection pool, rather than forking a
    # work-horse and connecting anew for every job.  A job's timeout still holds (RQ's
    # death penalty is a signal in the worker), a worker killed mid-job is an abandoned
    # job RQ retries, and the pool starts a new worker in its place.
    worker_class = SimpleWorker if records_only else Worker
    # What start-up built (the app's modules, the context) lives as long as the worker: in the
    # collector's permanent generation it is never walked again.  A drain batch allocates
    # enough to set off full collections, which walked all of it: a third of the drain's CPU
    # (bench/README.md, issue 17).  Before the pool forks, so its workers inherit it (and
    # the collector does not write to the pages they share), as gunicorn.conf.py does.  Start-up's
    # garbage is collected first: frozen, it would be kept for good.
    gc.collect()
    gc.freeze()
    if count == 1:
        # with_scheduler: retries that wait (SMS, records) are enqueued again by RQ's scheduler.
        worker_class(names, connection=connection).work(burst=burst, with_scheduler=True)
        return
    WorkerPool(names, connection=connection, num_workers=count, worker_class=worker_class).start(burst=burst)


def _replay_spool() -> None:
    try:
        replayed = recording.replay_spool(limit=10**9)
    except SQLAlchemyError as exc:
        click.echo(f"spooled records not replayed yet (database unavailable: {type(exc).__name__})", err=True)
        return
    if replayed:
        click.echo(f"replayed {replayed} spooled record jobs")


def _copy_agent_states() -> None:
    """What the agents did while no records worker ran, so the reports' occupancy is current."""
    try:
        copied = recording.copy_agent_states()
    except (SQLAlchemyError, RedisError) as exc:
        click.echo(f"agent states not copied yet ({type(exc).__name__}); RQ's cron copies them", err=True)
        return
    if copied:
        click.echo(f"copied {copied} agent state changes")


@click.command("cron")
def cron() -> None:
    """Enqueue the scheduled jobs (queueing/cron.py) on time.  Run one.  A Redis outage is
    waited out (queueing/workers.py)."""
    refuse_unless_sentinels_answer(hotline().settings.env)  # under Sentinel: they answer, or no start
    quiet_housekeeping()
    scheduler = Cron(connection=hotline().queue_connection(patient=True))
    scheduler.load_config_from_file("queueing.cron")
    scheduler.start()


@click.group("records")
def records() -> None:
    """Call records: the spool and failed jobs."""


@records.command("replay-spool")
@click.option(
    "--set-aside", "set_aside", is_flag=True, help="Try the rows set aside once more: once the cause is fixed."
)
def replay_spool(set_aside: bool) -> None:
    """Write the call records spooled while Redis was away (safe to run any time, twice),
    then list the rows set aside (their replay failed again and again): their id, CallSid,
    job, failed replays and the last error's name.  With --set-aside, those are tried."""
    click.echo(f"replayed {recording.replay_spool(limit=10**9, set_aside=set_aside)} spooled record jobs")
    with hotline().sessions() as session:
        aside = spool.set_aside(session)
        for row in aside:
            click.echo(f"{row.id}  {row.call_sid}  {row.job}  {row.attempts} attempts  {row.error}")
    if aside:
        click.echo(
            f"{len(aside)} 个暂存的通话记录无法写入，已搁置（保留在 record_spool）；排除原因后用 "
            "flask records replay-spool --set-aside 再试。\n"
            f"{len(aside)} spooled call records could not be written and are set aside (kept in record_spool); "
            "once the cause is fixed, flask records replay-spool --set-aside tries them again."
        )


@records.command("purge")
def purge() -> None:
    """Purge what has passed its retention period now (the nightly job, run by hand)."""
    from queueing.retention import purge_expired

    click.echo(f"purged: {purge_expired(trigger='cli')}")


@records.command("failed")
def failed() -> None:
    """List the record jobs that failed for good, with the reason."""
    for job in recording.failed_jobs(hotline().queue_connection(patient=True), hotline().settings.env.redis_prefix):
        reason = (job.latest_result().exc_string if job.latest_result() else "") or ""
        click.echo(f"{job.id}  {job.description}  {reason.strip().splitlines()[-1] if reason else '-'}")


@records.command("dead-letters")
@click.argument("call_sid", required=False)
@click.option("--retry", is_flag=True, help="Write them now (all, or CALL_SID's): once the cause is fixed.")
def dead_letters(call_sid: str | None, retry: bool) -> None:
    """List the finished calls whose record the database refused again and again (set aside
    from the finished calls' stream): when, the CallSid, the attempts, the error and what the
    letter keeps of the call.  With --retry, write them with the drain's rules; each leaves
    the dead letters once written, one not written stays (safe to run any time, twice)."""
    app = hotline()
    days = dead_letter_days(app.settings.retention)
    if retry:
        _retry_dead_letters(call_sid)
        return
    letters = recording.dead_letters(app.redis, app.settings.env.redis_prefix, call_sid)
    for entry_id, fields in letters:
        click.echo(
            f"{entry_id}  {fields.get('call_sid', '')}  {fields['attempts']} attempts  {fields['error']}  {_kept(fields)}"
        )
    if not letters:
        click.echo("没有搁置的通话记录。No dead letters.")
        return
    click.echo(
        f"{len(letters)} 个通话记录被数据库拒绝，已搁置；排除原因后用 flask records dead-letters --retry 写入。"
        f"每个保留 {days} 天（保留期中最短的一项），之后由夜间清理删除。\n"
        f"{len(letters)} call records the database refused are set aside; once the cause is fixed, "
        f"flask records dead-letters --retry writes them. Each is kept {days} days (the shortest "
        "retention period), then the nightly purge deletes it."
    )


def _kept(fields: dict) -> str:
    """What a dead letter keeps of its call, to write it later."""
    if "events" not in fields:  # set aside before letters kept the call: what Redis still has
        return "只有最终状态 final status only"
    events = len(json.loads(fields["events"]))
    opening = "开头 opening + " if fields.get("opened") else ""
    return f"保存 kept: {opening}{events} events"


def _retry_dead_letters(call_sid: str | None) -> None:
    results = recording.retry_dead_letters(call_sid)
    if not results:
        click.echo(
            f"没有 {call_sid} 的搁置记录。No dead letter for {call_sid}."
            if call_sid
            else "没有搁置的通话记录。No dead letters."
        )
        return
    for sid, error in results:
        click.echo(f"{sid}  已写入 written" if error is None else f"{sid}  未写入 not written ({error})")
    refused = sum(1 for _, error in results if error)
    click.echo(
        f"已写入 {len(results) - refused} 个，未写入 {refused} 个（仍搁置）。"
        f"Written {len(results) - refused}, not written {refused} (still set aside)."
    )
    if refused:
        raise SystemExit(1)  # for a script: not everything was written


@records.command("retry-failed")
def retry_failed() -> None:
    """Put every failed record job back on the records queue (they are idempotent)."""
    app = hotline()
    count = recording.retry_failed(app.queue_connection(patient=True), app.settings.env.redis_prefix)
    click.echo(f"requeued {count} failed record jobs")
