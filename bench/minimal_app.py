"""The benchmark's second reference: the least a signed, stateful Twilio webhook must do.

Beside bench/baseline_app.py (a bare Flask+twilio menu: no signature, no state), this one
does what any real IVR step has to: it checks X-Twilio-Signature with twilio's
RequestValidator (as its documentation shows: `validate(url, request.form, signature)`),
reads and writes the call's state in Redis in ONE pipeline of 5 commands (the state
read, the step's event appended, the step counted, both keys' TTLs), and answers the
same <Gather> menu with twilio's VoiceResponse as the baseline.  No database, no
sessions, no CSRF, no security headers: what a hotline webhook costs at the least.

    TWILIO_AUTH_TOKEN=... PUBLIC_BASE_URL=https://hotline.example.org REDIS_URL=redis://... \
        gunicorn -w 2 -k gthread --threads 4 bench.minimal_app:app
"""

from __future__ import annotations

import os
import time

import redis
from flask import Flask, Response, request
from twilio.request_validator import RequestValidator

from bench.baseline_app import menu

PUBLIC_BASE = os.environ.get("PUBLIC_BASE_URL", "https://hotline.example.org").rstrip("/")
TOKEN = os.environ.get("TWILIO_AUTH_TOKEN", "")
PREFIX = os.environ.get("REDIS_PREFIX", "hotline-bench:") + "minimal:"
TTL = 3600

app = Flask(__name__)
validator = RequestValidator(TOKEN)
store = redis.Redis.from_url(
    os.environ.get("REDIS_URL", "redis://127.0.0.1:6379/11"), decode_responses=True, socket_timeout=1
)


@app.route("/", defaults={"path": ""}, methods=["GET", "POST"])
@app.route("/<path:path>", methods=["GET", "POST"])
def step(path: str) -> Response:
    query = request.query_string.decode("latin-1")
    url = f"{PUBLIC_BASE}{request.path}" + (f"?{query}" if query else "")
    if TOKEN and not validator.validate(url, request.form, request.headers.get("X-Twilio-Signature", "")):
        return Response("Forbidden", status=403)
    call = request.form.get("CallSid", "")
    if request.path == "/ivr/status":
        # the status callback: the call's last event, the same one round trip
        event = f"{time.time():.3f} status {request.form.get('CallStatus', '')}"
    else:
        event = f"{time.time():.3f} {request.path} {request.form.get('Digits', '')}"
    state, events = f"{PREFIX}{call}", f"{PREFIX}{call}:events"
    pipe = store.pipeline(transaction=False)
    pipe.hgetall(state)
    pipe.rpush(events, event)
    pipe.hincrby(state, "steps", 1)
    pipe.expire(state, TTL)
    pipe.expire(events, TTL)
    pipe.execute()
    if request.path == "/ivr/status":
        return Response(status=204)
    return menu(path)
