"""/metrics as Prometheus reads it, after calls made through the carrier emulator: served
in-process, and under gunicorn with several workers (prometheus_client's multiprocess
mode: every worker's figures in one scrape, whichever worker answers)."""

from __future__ import annotations

import os
import signal
import time

import pytest
import requests
from prometheus_client.parser import text_string_to_metric_families

import settings as settings_module
from app import ROOT, create_app
from emulator import Carrier
from tests.conftest import AUTH_TOKEN
from tests.gunicorn_server import Gunicorn
from tests.test_calls import UNKNOWN

TOKEN = "metrics-token-for-tests"


@pytest.fixture
def environ(environ):
    return environ | {"METRICS_TOKEN": TOKEN}


def scrape(url: str) -> dict[tuple[str, tuple], float]:
    """Every sample: (name, sorted labels) -> value."""
    response = requests.get(f"{url}/metrics", headers={"Authorization": f"Bearer {TOKEN}"}, timeout=10)
    assert response.status_code == 200, response.text[:300]
    assert response.headers["Content-Type"].startswith("text/plain")
    samples = {}
    for family in text_string_to_metric_families(response.text):
        for sample in family.samples:
            samples[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return samples


def value(samples, name: str, **labels) -> float:
    return samples.get((name, tuple(sorted(labels.items()))), 0.0)


def fetches(call) -> list[str]:
    return [entry.url for entry in call.log if entry.kind == "fetch"]


def test_metrics_after_a_call_through_the_emulator(server, dial, records_worker):
    before = scrape(server)
    call = dial(UNKNOWN)
    call.take_text()
    call.press("2")  # the departments
    call.take_text()
    records_worker.work()  # the call's record: on the line

    during = scrape(server)
    voice = "hotline_webhook_duration_seconds_count"
    assert value(during, voice, route="/ivr/voice") == value(before, voice, route="/ivr/voice") + 1
    steps = sum(v for (name, labels), v in during.items() if name == voice) - sum(
        v for (name, labels), v in before.items() if name == voice
    )
    assert steps == len(fetches(call)) == 2  # the greeting, then the departments
    assert value(during, "hotline_calls_in_progress") == 1
    assert value(during, "hotline_source_up", source="database") == 1
    assert value(during, "hotline_source_up", source="redis") == 1
    assert value(during, "hotline_callers_waiting", queue="general") == 0
    assert value(during, "hotline_agents", state="available") == 0
    assert value(during, "hotline_rq_jobs_waiting", queue="records") == 0
    assert value(during, "hotline_records_lag_seconds") == 0
    assert ("hotline_sms_messages", (("status", "failed"),)) in during

    call.hangup()  # the status callback: a record job waits until a worker takes it
    waiting = scrape(server)
    assert value(waiting, "hotline_rq_jobs_waiting", queue="records") >= 1
    assert value(waiting, "hotline_records_lag_seconds") >= 0
    records_worker.work()
    after = scrape(server)
    assert value(after, "hotline_calls_in_progress") == 0
    assert value(after, "hotline_rq_jobs_waiting", queue="records") == 0


def test_an_apology_is_counted(app, monkeypatch):
    import ivr.webhooks

    def broken(conversation, patient):
        raise RuntimeError("the greeting broke")

    monkeypatch.setattr(ivr.webhooks, "greet", broken)
    client = app.test_client()
    auth = {"Authorization": f"Bearer {TOKEN}"}

    def apologies() -> float:
        text = client.get("/metrics", headers=auth).get_data(as_text=True)
        return next(s.value for f in text_string_to_metric_families(text) for s in f.samples
                    if s.name == "hotline_apologies_total")  # fmt: skip

    before = apologies()
    app.config["TESTING"] = False  # the webhook's error handler answers, as in production
    from tests.test_webhooks import post

    response = post(client, "/ivr/voice", {"CallSid": "CA" + "e" * 32, "From": UNKNOWN})
    assert response.status_code == 200 and b"<Dial" in response.data
    assert apologies() == before + 1


def test_metrics_need_the_token_or_an_allowed_address(environ, clock):
    def status(extra: dict, headers: dict | None = None, remote: str = "127.0.0.1") -> int:
        app = create_app(settings_module.load(ROOT / "config.yaml", environ=environ | extra), clock=clock)
        try:
            return app.test_client().get("/metrics", headers=headers, environ_base={"REMOTE_ADDR": remote}).status_code
        finally:
            app.extensions["hotline"].engine.dispose()

    assert status({}) == 403
    assert status({}, {"Authorization": "Bearer wrong"}) == 403
    assert status({}, {"Authorization": "Bearer " + "é"}) == 403
    assert status({}, {"Authorization": f"Bearer {TOKEN}"}) == 200
    assert status({"METRICS_TOKEN": ""}, {"Authorization": "Bearer "}) == 403
    assert status({"METRICS_ALLOW_FROM": "10.0.5.0/24, 127.0.0.1"}, remote="10.0.5.7") == 200
    assert status({"METRICS_ALLOW_FROM": "10.0.5.0/24"}, remote="10.0.6.7") == 403


def test_a_wrong_allowed_address_stops_start_up():
    with pytest.raises(settings_module.ConfigError, match="metrics_allow_from: .*'10.0.5.0/33'"):
        settings_module.load(ROOT / "config.yaml", environ={"METRICS_ALLOW_FROM": "10.0.5.0/33"})


def test_under_gunicorn_a_scrape_adds_up_every_worker_even_those_that_died(environ, settings, tmp_path):
    figures = tmp_path / "metrics"
    figures.mkdir()
    environ = environ | {"PROMETHEUS_MULTIPROC_DIR": str(figures)}
    with Gunicorn(environ, workers=2, threads=2) as server:
        carrier = Carrier(account_sid=settings.env.twilio_account_sid, auth_token=AUTH_TOKEN)
        carrier.add_number(settings.hospital.main_number, voice_url=f"{server.url}/ivr/voice",
                           status_callback=f"{server.url}/ivr/status", status_events=("completed",))  # fmt: skip
        before = scrape(server.url)  # the helper's start-up probes (unsigned GETs) are in already
        calls = []

        def three_calls():
            for _ in range(3):
                call = carrier.dial(to=settings.hospital.main_number, from_=UNKNOWN)
                call.press("2")
                call.press("1")
                call.hangup()
                calls.append(call)

        three_calls()
        first = server.workers()
        for pid in first:
            os.kill(pid, signal.SIGKILL)  # their figures must still count
        deadline = time.monotonic() + 30
        while not (len(now := server.workers()) == 2 and not set(now) & set(first)):
            assert time.monotonic() < deadline, "gunicorn did not replace its workers"
            time.sleep(0.05)
        three_calls()
        samples = scrape(server.url)
        writers = {path.stem.rsplit("_", 1)[1] for path in figures.glob("histogram_*.db")}
    count = "hotline_webhook_duration_seconds_count"
    voice = value(samples, count, route="/ivr/voice") - value(before, count, route="/ivr/voice")
    everything = sum(v for (name, _), v in samples.items() if name == count) - sum(
        v for (name, _), v in before.items() if name == count
    )
    assert voice == 6
    assert everything == sum(len(fetches(call)) + 1 for call in calls)  # each fetch and each status callback
    assert writers & {str(pid) for pid in first} and writers - {str(pid) for pid in first}
