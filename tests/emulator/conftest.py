"""Fixtures for the emulator's own tests: a tiny Flask app, served over real HTTP,
whose answers each test scripts, and a carrier pointed at it."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask, Response, request
from werkzeug.serving import make_server

from emulator import Carrier

ACCOUNT_SID = "AC" + "0" * 32
AUTH_TOKEN = "secret"
HOTLINE = "+861065281234"
CALLER = "+8613800138000"


@dataclass
class Hit:
    """One request the app received."""

    method: str
    path: str
    url: str
    form: dict[str, str]
    args: dict[str, str]
    headers: dict[str, str]
    cookies: dict[str, str]

    @property
    def params(self) -> dict[str, str]:
        return {**self.args, **self.form}


Handler = Callable[[Hit], Any]


@dataclass
class FakeApp:
    """Answers each path with scripted TwiML (a str, or a function of the request)."""

    base: str = ""
    routes: dict[str, Any] = field(default_factory=dict)
    hits: list[Hit] = field(default_factory=list)

    def url(self, path: str) -> str:
        return self.base + path

    def on(
        self,
        path: str,
        answer: str | Handler,
        status: int = 200,
        content_type: str = "text/xml",
        headers: dict[str, str] | None = None,
    ) -> None:
        self.routes[path] = (answer, status, content_type, headers or {})

    def twiml(self, path: str, body: str) -> None:
        self.on(path, f'<?xml version="1.0" encoding="UTF-8"?><Response>{body}</Response>')

    def to(self, path: str) -> list[Hit]:
        return [hit for hit in self.hits if hit.path == path]

    def last(self, path: str) -> Hit:
        hits = self.to(path)
        assert hits, f"{path} was never requested; requested: {[h.path for h in self.hits]}"
        return hits[-1]


def _make_flask(app: FakeApp) -> Flask:
    flask = Flask("fake_hotline")

    @flask.route("/", defaults={"path": ""}, methods=["GET", "POST"])
    @flask.route("/<path:path>", methods=["GET", "POST"])
    def any_path(path: str) -> Response:
        hit = Hit(
            request.method,
            "/" + path,
            request.url,
            request.form.to_dict(),
            request.args.to_dict(),
            dict(request.headers),
            request.cookies.to_dict(),
        )
        app.hits.append(hit)
        route = app.routes.get(hit.path)
        if route is None:
            return Response("<Response/>", 200, mimetype="text/xml")
        answer, status, content_type, headers = route
        body = answer(hit) if callable(answer) else answer
        if isinstance(body, Response):
            return body
        return Response(body, status, headers=headers, content_type=content_type)

    return flask


@pytest.fixture
def app():
    fake = FakeApp()
    server = make_server("127.0.0.1", 0, _make_flask(fake), threaded=True)
    fake.base = f"http://127.0.0.1:{server.server_port}"
    thread = threading.Thread(target=server.serve_forever, kwargs={"poll_interval": 0.01}, daemon=True)
    thread.start()
    yield fake
    server.shutdown()
    server.server_close()


@pytest.fixture
def carrier(app):
    carrier = Carrier(account_sid=ACCOUNT_SID, auth_token=AUTH_TOKEN)
    carrier.add_number(HOTLINE, voice_url=app.url("/voice"), status_callback=app.url("/status"))
    yield carrier
    carrier.stop()
