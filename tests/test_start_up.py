"""Start-up's checks of what protects the webhooks, and whose X-Forwarded-* headers count.

- Without TWILIO_AUTH_TOKEN the hotline does not start (anyone could drive its calls),
  except against the local emulator (TWILIO_API_BASE: the demo, the tests) or with an
  explicit HOTLINE_INSECURE_WEBHOOKS=1, which starts it and says so loudly.
- X-Forwarded-* headers are believed from TRUSTED_PROXIES hops only (default none)."""

from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest

import settings as settings_module
from app import ROOT, create_app
from tests.conftest import AUTH_TOKEN
from tests.faults import free_port
from tests.test_webhooks import FORM, post, signed
from tests.twiml import parse

WITHOUT_TOKEN = ("TWILIO_AUTH_TOKEN", "TWILIO_API_BASE", "HOTLINE_INSECURE_WEBHOOKS", "TRUSTED_PROXIES")


def start(environ: dict, *args: str) -> subprocess.CompletedProcess:
    """`flask --app app <args>` as an operator starts it, with this environment."""
    env = {k: v for k, v in os.environ.items() if k not in WITHOUT_TOKEN} | environ
    return subprocess.run([sys.executable, "-m", "flask", "--app", "app", *args], cwd=ROOT, env=env,
                          capture_output=True, text=True, timeout=120)  # fmt: skip


def serve(environ: dict) -> tuple[int | None, str]:
    """`flask run` on a free port: its exit code if it stopped (None if it served), and what it said."""
    env = {k: v for k, v in os.environ.items() if k not in WITHOUT_TOKEN} | environ
    command = [sys.executable, "-m", "flask", "--app", "app", "run", "--port", str(free_port())]
    process = subprocess.Popen(command, cwd=ROOT, env=env, stderr=subprocess.PIPE, text=True)
    said = []
    for line in process.stderr:  # until it serves, or stops
        said.append(line)
        if "Running on" in line:
            process.terminate()
            break
    process.wait(30)
    process.stderr.close()
    return (None if any("Running on" in line for line in said) else process.returncode), "".join(said)


def without_token(environ: dict) -> dict:
    return {k: v for k, v in environ.items() if k != "TWILIO_AUTH_TOKEN"}


def test_without_the_auth_token_it_refuses_to_serve_and_says_why(environ):
    code, said = serve(without_token(environ))
    assert code not in (None, 0)
    assert "The hotline cannot start" in said and "TWILIO_AUTH_TOKEN is not set" in said
    assert "HOTLINE_INSECURE_WEBHOOKS=1" in said
    assert "Traceback" not in said


def test_with_the_insecure_switch_it_serves_and_warns_loudly(environ):
    code, said = serve(without_token(environ) | {"HOTLINE_INSECURE_WEBHOOKS": "1"})
    assert code is None, said[-2000:]
    assert "WEBHOOKS ARE NOT CHECKED" in said


def test_with_the_token_or_against_the_emulator_it_serves_quietly(environ):
    for extra in ({"TWILIO_AUTH_TOKEN": AUTH_TOKEN}, {"TWILIO_API_BASE": "http://127.0.0.1:5055"}):
        code, said = serve(without_token(environ) | extra)
        assert code is None, said[-2000:]
        assert "WEBHOOKS ARE NOT CHECKED" not in said and "cannot start" not in said


def test_commands_that_serve_no_webhook_need_no_token(environ):
    done = start(without_token(environ), "routes")
    assert done.returncode == 0, done.stderr[-2000:]
    assert "/ivr/voice" in done.stdout and "cannot start" not in done.stderr


def test_create_app_with_settings_raises_the_same_refusal(environ, clock):
    settings = settings_module.load(ROOT / "config.yaml", environ=without_token(environ))
    with pytest.raises(settings_module.ConfigError, match="TWILIO_AUTH_TOKEN is not set"):
        create_app(settings, clock=clock)


def test_the_insecure_warning_is_logged_by_create_app(environ, clock, caplog):
    settings = settings_module.load(
        ROOT / "config.yaml", environ=without_token(environ) | {"HOTLINE_INSECURE_WEBHOOKS": "1"}
    )
    with caplog.at_level(logging.WARNING):
        app = create_app(settings, clock=clock)
    app.extensions["hotline"].engine.dispose()
    assert any(r.levelno == logging.WARNING and "WEBHOOKS ARE NOT CHECKED" in r.message for r in caplog.records)


# ---- X-Forwarded-* ---------------------------------------------------------------------------------


def app_with(environ, clock, **extra):
    return create_app(settings_module.load(ROOT / "config.yaml", environ=environ | extra), clock=clock)


FORGED = {"X-Forwarded-For": "10.0.5.7", "X-Forwarded-Proto": "https", "X-Forwarded-Host": "evil.example"}


def test_by_default_no_client_can_forge_its_address_or_the_hotlines_url(environ, clock):
    app = app_with(environ, clock, METRICS_ALLOW_FROM="10.0.5.0/24")
    client = app.test_client()
    # A client claiming to be the monitoring network is still itself.
    assert client.get("/metrics", headers=FORGED).status_code == 403
    # The URLs in the TwiML are not the forged host's (the request is signed for the one it reached).
    response = post(client, "/ivr/voice", headers={**signed("http://localhost/ivr/voice", FORM), **FORGED})
    action = parse(response.data).find("Gather").get("action")
    assert action.startswith("http://localhost/ivr/") and "evil" not in response.get_data(as_text=True)
    app.extensions["hotline"].engine.dispose()


def test_behind_one_proxy_only_the_hop_it_added_counts(environ, clock):
    app = app_with(environ, clock, METRICS_ALLOW_FROM="10.0.5.0/24", TRUSTED_PROXIES="1")
    client = app.test_client()
    # nginx appends the client's address: what the client wrote before it is not believed.
    assert client.get("/metrics", headers={"X-Forwarded-For": "10.0.5.7, 203.0.113.9"}).status_code == 403
    assert client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9, 10.0.5.7"}).status_code == 200
    app.extensions["hotline"].engine.dispose()


def test_a_wrong_number_of_proxies_stops_start_up():
    with pytest.raises(settings_module.ConfigError, match="trusted_proxies"):
        settings_module.load(ROOT / "config.yaml", environ={"TRUSTED_PROXIES": "many"})
