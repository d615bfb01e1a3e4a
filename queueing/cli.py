"""`flask --app app worker` and `flask --app app cron`: RQ's worker and cron
scheduler on the hotline's queues and Redis (REDIS_URL, or the embedded one)."""

from __future__ import annotations

import click
from flask import Flask
from rq import Worker
from rq.cron import CronScheduler

from extensions import hotline
from queueing import context, queues


def register(app: Flask) -> None:
    app.cli.add_command(worker)
    app.cli.add_command(cron)


@click.command("worker")
@click.option("--burst", is_flag=True, help="Quit once the queues are empty.")
def worker(burst: bool) -> None:
    """Run jobs (SMS, reminders) from the urgent, then the routine queue.

    Start as many as needed.  Ctrl-C (SIGTERM) lets the current job finish;
    a second one stops at once (RQ's warm and cold shutdown)."""
    app = hotline()
    # Each job runs in a fork of this process: read the settings and import the REST
    # API's modules once, here, rather than in every job (no connection is opened).
    context.get().twilio.messages  # noqa: B018
    connection = app.queue_connection(patient=True)
    # with_scheduler: retries that wait (SMS) are enqueued again by RQ's scheduler.
    Worker(queues(connection, app.settings.env.redis_prefix), connection=connection).work(
        burst=burst, with_scheduler=True
    )


@click.command("cron")
def cron() -> None:
    """Enqueue the scheduled jobs (queueing/cron.py) on time.  Run one."""
    scheduler = CronScheduler(connection=hotline().queue_connection(patient=True))
    scheduler.load_config_from_file("queueing.cron")
    scheduler.start()
