"""/metrics for Prometheus, with prometheus_client.

Two kinds of figure:

- Counted by the web processes as requests pass (counters.py): webhook latency by route
  (`hotline_webhook_duration_seconds`) and apologies served (`hotline_apologies_total`).
  Under gunicorn each worker is its own process: prometheus_client's multiprocess mode
  keeps each process's values in files under PROMETHEUS_MULTIPROC_DIR (gunicorn.conf.py
  sets it up, empties it at start and marks dead workers), and a scrape adds them up,
  whichever worker answers it.
- Read at scrape time from where the truth is kept, so any web process gives the same
  answer and nothing is double counted: calls in progress and text messages by status
  (the database), callers waiting and the longest wait per queue and agents by state
  (the ACD in Redis), RQ's queue depths and failed jobs, and how far the call records
  lag behind (the oldest job waiting on the records queue or finished call in the stream
  not yet written, and the spool: the jobs awaiting replay and, apart, those set aside);
  calls in progress are those open in Redis.  A source that does not answer is left out
  of the scrape and `hotline_source_up` says so.

Who may read it (settings.Environment): a bearer token (METRICS_TOKEN) or a client
address in METRICS_ALLOW_FROM (after ProxyFix, the address nginx saw).  Neither set:
403.  No patient data: counts and seconds, labelled by queue, state and route.
"""

from __future__ import annotations

import functools
import hmac
import ipaddress
import logging
import os
import time
from datetime import timedelta

from flask import Blueprint, Flask, Response, g, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.multiprocess import MultiProcessCollector
from rq import Queue
from rq.job import Job
from rq.registry import FailedJobRegistry
from rq.utils import now
from sqlalchemy import func, select

from acd.distributor import AGENT_STATES
from counters import WEBHOOK_SECONDS
from extensions import Hotline, hotline, this_request
from ivr.dialogue import STEPS
from queueing import ROUTINE, URGENT, queue_name
from queueing.handover import RecordKeys
from queueing.recording import RECORDS
from records import spool
from records.models import SmsMessage

log = logging.getLogger(__name__)
bp = Blueprint("metrics", __name__)

SMS_STATUSES = ("queued", "sending", "sent", "delivered", "undelivered", "failed")


def init_app(app: Flask) -> None:
    app.before_request(_start_clock)
    app.after_request(_observe)
    app.register_blueprint(bp)


def route_label() -> str:
    """The route, never the raw path: a forged URL must not make a new time series."""
    sent = this_request()
    rule = sent.url_rule
    if rule is None:
        return "unknown"
    if rule.endpoint == "ivr.step":
        view_args = sent.view_args or {}
        flow, name = view_args.get("flow"), view_args.get("name")
        return f"/ivr/{flow}/{name}" if (flow, name) in STEPS else "/ivr/<unknown step>"
    return rule.rule


def _start_clock() -> None:
    if request.path.startswith("/ivr/"):
        g.metrics_started = time.perf_counter()


def _observe(response: Response) -> Response:
    started = g.pop("metrics_started", None)
    if started is not None:
        _route_seconds(route_label()).observe(time.perf_counter() - started)
    return response


@functools.cache
def _route_seconds(route: str):
    """The histogram of one route: prometheus_client's `labels` takes a lock and builds the
    key on every webhook (issue 17's CPU).  The routes are bounded (route_label: the app's
    rules and steps), so is this cache."""
    return WEBHOOK_SECONDS.labels(route=route)


# ---- read at scrape time ---------------------------------------------------------------------------


class HotlineCollector:
    """The figures kept in the database and Redis, read when Prometheus asks."""

    def __init__(self, app: Hotline):
        self.app = app

    def collect(self):
        up = GaugeMetricFamily("hotline_source_up", "Whether a source answered this scrape", labels=["source"])
        for source, read in (("database", self._database), ("redis", self._redis)):
            try:
                families = list(read())
            except Exception as error:  # the rest of the scrape still answers
                log.warning("metrics: %s did not answer (%s)", source, type(error).__name__)
                up.add_metric([source], 0)
                continue
            up.add_metric([source], 1)
            yield from families
        yield up

    def _database(self):
        app = self.app
        with app.sessions() as session:
            by_status = dict(session.execute(select(SmsMessage.status, func.count()).group_by(SmsMessage.status)).all())
            spooled, set_aside = spool.waiting(session), spool.waiting(session, set_aside=True)
        sms = GaugeMetricFamily(
            "hotline_sms_messages", "Text messages stored, by their current status", labels=["status"]
        )
        for status in (*SMS_STATUSES, *sorted(set(by_status) - set(SMS_STATUSES))):
            sms.add_metric([status], by_status.get(status, 0))
        yield sms
        yield _gauge(
            "hotline_records_spooled",
            "Call-record jobs kept in the database while Redis was away, to be replayed",
            spooled,
        )
        yield _gauge(
            "hotline_records_spool_set_aside",
            "Spooled call-record jobs set aside after failing every replay (replay-spool --set-aside, or purged)",
            set_aside,
        )

    def _redis(self):
        app = self.app
        snapshot = app.acd.snapshot(app.now())
        waiting = GaugeMetricFamily(
            "hotline_callers_waiting", "Callers waiting for an agent, by queue", labels=["queue"]
        )
        longest = GaugeMetricFamily(
            "hotline_longest_wait_seconds", "How long the longest-waiting caller has waited, by queue", labels=["queue"]
        )
        for queue in snapshot["queues"]:
            waiting.add_metric([queue["name"]], queue["waiting"])
            longest.add_metric([queue["name"]], queue["longest_wait"])
        agents = GaugeMetricFamily("hotline_agents", "Agents by state", labels=["state"])
        counts = {state: 0 for state in AGENT_STATES}
        for agent in snapshot["agents"]:
            counts[agent["state"]] = counts.get(agent["state"], 0) + 1
        for state, count in counts.items():
            agents.add_metric([state], count)
        yield from (waiting, longest, agents)

        prefix = app.settings.env.redis_prefix
        # The calls open in Redis (no final status yet: issue 17 writes no record before it),
        # active within the call state's life; and the oldest finished call not yet drained.
        keys = RecordKeys(prefix)
        since = app.now() - timedelta(seconds=app.settings.dialogue.call_state_ttl_seconds)
        pipe = app.redis.pipeline(transaction=False)
        pipe.zcount(keys.open_calls, since.timestamp(), "+inf")
        pipe.xrange(keys.finished, count=1)
        pipe.xlen(keys.dead_letters)
        open_calls, oldest, dead_letters = pipe.execute()
        yield _gauge(
            "hotline_calls_in_progress", "Calls on the line now (open in Redis until their final status)", open_calls
        )
        depth = GaugeMetricFamily("hotline_rq_jobs_waiting", "Jobs waiting on each RQ queue", labels=["queue"])
        failed = GaugeMetricFamily(
            "hotline_rq_jobs_failed", "Jobs in each RQ queue's failed registry", labels=["queue"]
        )
        lag = 0.0
        for kind in (URGENT, RECORDS, ROUTINE):
            queue = Queue(queue_name(prefix, kind), connection=app.queue_redis)
            depth.add_metric([kind], queue.count)
            failed.add_metric([kind], FailedJobRegistry(queue=queue).get_job_count(cleanup=False))
            if kind == RECORDS:
                lag = max(_oldest_wait(queue), _oldest_handed_over(oldest))
        yield from (depth, failed)
        yield _gauge("hotline_records_lag_seconds", "Age of the oldest call-record job not yet written (0: none)", lag)
        yield _gauge(
            "hotline_records_dead_letters", "Finished calls whose record the database kept refusing, set aside",
            dead_letters,
        )  # fmt: skip


def _oldest_wait(queue: Queue) -> float:
    ids = queue.get_job_ids(0, 0)
    job = Job.fetch(ids[0], connection=queue.connection) if ids else None
    if job is None or job.enqueued_at is None:
        return 0.0
    return max((now() - job.enqueued_at).total_seconds(), 0.0)


def _oldest_handed_over(oldest: list) -> float:
    """How long the oldest entry of the finished calls' stream has waited (its id is Redis's
    clock in ms when it was added)."""
    if not oldest:
        return 0.0
    entry_id = oldest[0][0]
    milliseconds = int((entry_id.decode() if isinstance(entry_id, bytes) else entry_id).split("-")[0])
    return max(time.time() - milliseconds / 1000, 0.0)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class _ThisProcess:
    """The default registry's figures, when there is one process (flask run, tests)."""

    def collect(self):
        yield from REGISTRY.collect()


def scrape(app: Hotline) -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        MultiProcessCollector(registry)
    else:
        registry.register(_ThisProcess())
    registry.register(HotlineCollector(app))
    return generate_latest(registry)


def allowed(env, authorization: str | None, client: str | None) -> bool:
    """The bearer token, or a client address in the allowed networks."""
    token = env.metrics_token
    scheme, _, given = (authorization or "").partition(" ")
    if token and scheme == "Bearer" and hmac.compare_digest(given.strip().encode(), token.encode()):
        return True
    try:
        address = ipaddress.ip_address(client or "")
    except ValueError:
        return False
    return any(address in network for network in env.metrics_networks)


@bp.get("/metrics")
def metrics():
    app = hotline()
    if not allowed(app.settings.env, request.headers.get("Authorization"), request.remote_addr):
        return Response("Forbidden: set METRICS_TOKEN or METRICS_ALLOW_FROM\n", status=403, mimetype="text/plain")
    return Response(scrape(app), content_type=CONTENT_TYPE_LATEST)


# What a webhook keeps of the app-wide hooks (the staff pages' others are skipped: ivr/security.py)
WEBHOOK_HOOKS = (_start_clock, _observe)
