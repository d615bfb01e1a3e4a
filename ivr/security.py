"""Only the carrier may drive a call: every webhook request must carry a valid
X-Twilio-Signature (when TWILIO_AUTH_TOKEN is set)."""

from __future__ import annotations

import logging
from urllib.parse import parse_qsl

from flask import Request, Response, current_app, request
from twilio.request_validator import RequestValidator
from werkzeug.datastructures import ImmutableMultiDict, MultiDict

from records.patients import mask

log = logging.getLogger(__name__)


def public_url(request: Request, public_base_url: str | None) -> str:
    """The URL exactly as the carrier called it, which is what it signed.

    Behind a TLS-terminating proxy the app sees http://internal-host; ProxyFix
    corrects that from X-Forwarded-*, and PUBLIC_BASE_URL, when set, wins.
    The raw query string is used so no re-encoding changes what was signed."""
    base = (public_base_url or f"{request.scheme}://{request.host}{request.script_root}").rstrip("/")
    query = request.query_string.decode("latin-1")
    return f"{base}{request.path}" + (f"?{query}" if query else "")


def is_signed(request: Request, auth_token: str, public_base_url: str | None) -> bool:
    signature = request.headers.get("X-Twilio-Signature", "")
    url = public_url(request, public_base_url)
    params = _fields_as_sent(request) if request.method == "POST" else {}
    if signature and RequestValidator(auth_token).validate(url, params, signature):
        return True
    log.warning(
        "rejected unsigned or forged webhook: %s %s from %s (call %s, caller %s)",
        request.method,
        request.path,
        request.remote_addr,
        (request.values.get("CallSid") or "-")[:40],
        mask(request.values.get("From")),
    )
    return False


def _fields_as_sent(request: Request) -> MultiDict:
    """The form exactly as the carrier signed it.  `request.form` has NULs taken out
    (HotlineRequest, below), so a signed field holding one would no longer match."""
    if request.mimetype != "application/x-www-form-urlencoded":
        return request.form
    body = request.get_data(cache=True).decode("utf-8", "replace")
    return MultiDict(parse_qsl(body, keep_blank_values=True))


def require_signature() -> Response | None:
    """A blueprint's before_request for every Twilio-facing URL (voice and SMS):
    403 unless signed, when TWILIO_AUTH_TOKEN is set."""
    env = current_app.extensions["hotline"].settings.env
    if env.twilio_auth_token and not is_signed(request, env.twilio_auth_token, env.public_base_url):
        return Response("Forbidden: invalid X-Twilio-Signature", status=403, mimetype="text/plain")
    return None


class WithoutNul(ImmutableMultiDict):
    """Form fields and query arguments with NUL characters taken out.  No carrier sends
    them, PostgreSQL text cannot hold them ('cannot contain NUL (0x00) bytes', a 500 at
    the first INSERT), and a NUL in a log line or a URL only ever hides something."""

    def __init__(self, mapping=None):
        if mapping is not None and not isinstance(mapping, dict | MultiDict):
            mapping = [(_no_nul(key), _no_nul(value)) for key, value in mapping]
        super().__init__(mapping)


def _no_nul(value):
    return value.replace("\x00", "") if isinstance(value, str) else value


class HotlineRequest(Request):
    parameter_storage_class = WithoutNul
