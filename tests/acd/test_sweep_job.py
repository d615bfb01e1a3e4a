"""The scheduler runs the seats' sweep every routing.sweep_seconds on the urgent queue,
and the job ends what nobody else ends (here: a reservation nobody resolved)."""

from __future__ import annotations

from datetime import timedelta

import redis
from rq.cron import CronScheduler

from queueing import context, jobs


def test_the_sweep_is_scheduled_and_expires_a_forgotten_reservation(environ, monkeypatch, clock, redis_url):
    for name, value in environ.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("HOTLINE_CONFIG", raising=False)
    context.reset(clock)
    try:
        hotline = context.get()
        scheduler = CronScheduler(connection=redis.Redis.from_url(redis_url))
        scheduler.load_config_from_file("queueing.cron")
        entry = {job.name: job for job in scheduler.get_jobs()}["sweep_seats"]
        assert entry.interval == hotline.settings.routing.sweep_seconds
        assert entry.queue_name == f"{environ['REDIS_PREFIX']}urgent"

        now = clock().timestamp()
        acd = hotline.acd
        acd.set_state(7, "available", now, name="agent7", skills={"general": 2})
        acd.heartbeat(7, now)
        acd.enqueue("CA-forgotten", "general", priority=0, now=now)
        [offer] = acd.dispatch(now)  # reserved, but the bridge was never made
        clock.now = clock() + timedelta(seconds=hotline.settings.routing.reservation_expiry_seconds)
        acd.heartbeat(7, clock().timestamp())
        assert jobs.sweep_seats()["expired"] == 1
        agent = acd.agent(7)
        assert (agent["state"], agent["reason"]) == ("break", "missed")
        assert acd.position("CA-forgotten") == 1
        assert [e.kind for e in hotline.calls.events("CA-forgotten")] == ["missed_offer"]
    finally:
        context.reset()
