"""What any request may carry, whoever sends it (issue 22).

- **Bodies**: at most `MAX_BODY_BYTES` (Flask's MAX_CONTENT_LENGTH).  Werkzeug refuses a
  longer Content-Length with 413 before reading a byte of it, and stops a chunked body
  at the limit, so nobody can make a worker hold 100 MiB (22.2: four unsigned 100 MiB
  posts took two workers from 160/140 to 939/845 MiB).  The largest honest body is the
  after-care API's batch of 5,000 events (about 1 MiB).  The Twilio webhooks have a much
  smaller cap, and an unsigned one is refused before its body is read (ivr/security.py).
  Staff pages answer 413 with a message in Chinese and English; a voice webhook answers
  TwiML, since a caller may be on the line (ivr/webhooks.py).
- **JSON**: at most `MAX_JSON_DEPTH` levels of nesting.  Python's json module recurses
  once per level: a body of 100,000 `[` raised RecursionError, a 500 (22.8).  No
  document the hotline takes is deeper than 4 levels.  Flask's JSON provider is where
  Flask parses request bodies, so every `request.get_json()` is bounded; the check is a
  dozen lines of our own because neither json nor Flask offers a depth limit.
"""

from __future__ import annotations

import json
from typing import Any

from flask import Flask, Response, request
from flask.json.provider import DefaultJSONProvider
from werkzeug.exceptions import RequestEntityTooLarge

MAX_BODY_BYTES = 4 * 1024 * 1024
MAX_JSON_DEPTH = 32

TOO_LARGE = "请求内容过大（最多 {limit} KiB）。The request is too large: at most {limit} KiB."
TOO_DEEP = f"JSON 嵌套过深（最多 {MAX_JSON_DEPTH} 层）。JSON nested too deeply: at most {MAX_JSON_DEPTH} levels."
NOT_JSON = "不是有效的 JSON。Not valid JSON."


class JSONTooDeep(ValueError):
    """A JSON document nested deeper than MAX_JSON_DEPTH (a ValueError, as json's own
    errors are, so Flask's get_json treats it as a body it cannot read)."""

    def __init__(self) -> None:
        super().__init__(TOO_DEEP)


def depth(value: Any, limit: int = MAX_JSON_DEPTH) -> int:
    """How deeply lists and objects nest in a parsed document (a scalar is 0), counted
    without recursion; it stops counting once past `limit`."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        children = item.values() if isinstance(item, dict) else item if isinstance(item, list) else None
        if children is None:
            continue
        deepest = max(deepest, level)
        if deepest > limit:
            break
        stack.extend((child, level + 1) for child in children)
    return deepest


class BoundedJSON(DefaultJSONProvider):
    """Flask's JSON, refusing documents nested deeper than MAX_JSON_DEPTH."""

    def loads(self, s: str | bytes, **kwargs: Any) -> Any:
        try:
            data = json.loads(s, **kwargs)
        except RecursionError:
            raise JSONTooDeep() from None
        if depth(data) > MAX_JSON_DEPTH:
            raise JSONTooDeep()
        return data


def json_refused(error: ValueError) -> str:
    """What a 400 says about a JSON body that could not be read."""
    return TOO_DEEP if isinstance(error, JSONTooDeep) else NOT_JSON


def too_large_message() -> str:
    limit = request.max_content_length or MAX_BODY_BYTES
    return TOO_LARGE.format(limit=limit // 1024)


def too_large(_error: RequestEntityTooLarge) -> Response:
    """The answer to an over-long body on a staff page, a status callback or a text."""
    return Response(too_large_message(), status=413, mimetype="text/plain")


def init_app(app: Flask) -> None:
    app.config["MAX_CONTENT_LENGTH"] = MAX_BODY_BYTES
    app.json = BoundedJSON(app)
    app.register_error_handler(RequestEntityTooLarge, too_large)
