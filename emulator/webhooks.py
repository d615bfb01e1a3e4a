"""Signed HTTP requests to the app, made the way Twilio makes them."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

import requests
from twilio.request_validator import RequestValidator

from . import twiml

MAX_REDIRECTS = 10  # Twilio follows up to 10, then reports 11215
CONNECT_TIMEOUT = 5.0
READ_TIMEOUT = 15.0
USER_AGENT = "TwilioProxy/1.1 (emulator)"

TWIML_TYPES = ("text/xml", "application/xml", "text/html")


@dataclass
class HttpResult:
    """What came back from one webhook request (after redirects)."""

    url: str  # the URL finally answered
    method: str
    params: dict[str, str]
    status: int | None = None  # None: no HTTP response at all
    content_type: str = ""
    body: bytes = b""
    error: int | None = None  # Twilio error code when the request itself failed
    reason: str = ""
    location: str | None = None  # Location header of a 3xx

    @property
    def text(self) -> str:
        return self.body.decode("utf-8", errors="replace")


def strip_fragment(url: str) -> str:
    # Twilio reads connection overrides from the fragment (#rc=..); it is never sent.
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, parts.query, ""))


def resolve(base: str | None, ref: str) -> str | None:
    """An absolute URL for `ref` found in a document fetched from `base`; None if impossible."""
    ref = ref.strip()
    if urlsplit(ref).scheme in ("http", "https"):
        return ref
    if base is None:
        return None  # inline TwiML has no URL to resolve against: Twilio needs absolute URLs there
    return urljoin(base, ref)


class Webhooks:
    """Makes signed requests; one requests.Session per call keeps its cookies, like Twilio does."""

    def __init__(self, auth_token: str):
        self.validator = RequestValidator(auth_token)

    def sign(self, url: str, params: dict[str, str] | None) -> str:
        return self.validator.compute_signature(url, params or {})

    def request(self, session: requests.Session, method: str, url: str, params: dict[str, str]) -> HttpResult:
        method = method.upper()
        url = strip_fragment(url)
        for _ in range(MAX_REDIRECTS + 1):
            result = self._once(session, method, url, params)
            if result.status not in (301, 302, 303, 307, 308):
                return result
            if not result.location:
                return result
            url = strip_fragment(urljoin(url, result.location))
            if result.status in (301, 302, 303):
                # Browser-like: the redirected request is a GET without the form
                # (Twilio does not resend Digits after a 3xx).
                method, params = "GET", {}
        return HttpResult(url, method, params, error=twiml.TOO_MANY_REDIRECTS, reason="too many redirects")

    def _once(self, session: requests.Session, method: str, url: str, params: dict[str, str]) -> HttpResult:
        # Twilio's: the same on every sending of one request (its retries), a new one for the next.
        headers = {"User-Agent": USER_AGENT, "I-Twilio-Idempotency-Token": uuid.uuid4().hex}
        if method == "GET":
            target = _with_query(url, params)
            headers["X-Twilio-Signature"] = self.sign(target, {})
            kwargs = {}
        else:
            target = url
            headers["X-Twilio-Signature"] = self.sign(url, params)
            headers["Content-Type"] = "application/x-www-form-urlencoded; charset=utf-8"
            kwargs = {"data": urlencode(params).encode("utf-8")}
        try:
            response = session.request(
                method,
                target,
                headers=headers,
                allow_redirects=False,
                timeout=(CONNECT_TIMEOUT, READ_TIMEOUT),
                **kwargs,
            )
        except requests.RequestException as exc:
            return HttpResult(url, method, params, error=twiml.HTTP_CONNECTION_FAILURE, reason=str(exc))
        content_type = response.headers.get("Content-Type", "").split(";")[0].strip().lower()
        return HttpResult(
            url=url,
            method=method,
            params=params,
            status=response.status_code,
            content_type=content_type,
            body=response.content,
            reason=response.reason or "",
            location=response.headers.get("Location"),
        )


def _with_query(url: str, params: dict[str, str]) -> str:
    if not params:
        return url
    parts = urlsplit(url)
    query = parts.query + ("&" if parts.query else "") + urlencode(params)
    return urlunsplit((parts.scheme, parts.netloc, parts.path, query, ""))
