"""Secure HTTP headers on every answer, by flask-talisman (a well-kept library rather
than our own after_request: it gets the details right, such as HSTS only over https and
a fresh CSP nonce per request).

- Content-Security-Policy: only this origin's scripts, styles, images and requests
  (the pages vendor everything under static/); inline scripts only with the request's
  nonce (`<script nonce="{{ csp_nonce() }}">`); no plugins, no framing, forms post
  only here.  A patient's file injected into a page cannot load or send anything.
- X-Frame-Options DENY (and frame-ancestors 'none'): no clickjacking of the console.
- X-Content-Type-Options nosniff; Referrer-Policy no-referrer: URLs hold patient and
  call ids, which must not leak to another site.
- Strict-Transport-Security when the request came over https (behind the TLS proxy:
  ProxyFix reads X-Forwarded-Proto).  No redirect to https here: TLS ends at the proxy,
  and the carrier and the tests speak plain http to the app.
- Session cookie flags stay the login foundation's (accounts.init_app): passed through.
- One page may connect further: the agent console with the Twilio softphone talks to Twilio's
  signaling and insights servers (`allow_connections`, for that response only).  Its scripts
  still come from this origin alone.
- Cache-Control: no-store on every answer but a static file (one rule here rather than one
  per view, so a page added later is covered): the call log, a patient's file, the CSV
  exports and the TwiML that greets a caller by name must not stay in a shared
  computer's browser cache or a proxy's (issue 22.6).  Talisman does not set it.
"""

from __future__ import annotations

from flask import Flask, Response, g, request
from flask_talisman import Talisman

CSP = {
    "default-src": "'self'",
    "script-src": "'self'",
    "style-src": "'self'",
    "img-src": "'self' data:",
    "connect-src": "'self'",
    "object-src": "'none'",
    "base-uri": "'self'",
    "form-action": "'self'",
    "frame-ancestors": "'none'",
}


def allow_connections(*sources: str) -> None:
    """Let the page this request answers also open connections (fetch, WebSocket) to `sources`."""
    g.csp_connect_sources = (*g.get("csp_connect_sources", ()), *sources)


def _add_connect_sources(response):
    sources = g.get("csp_connect_sources")
    policy = response.headers.get("Content-Security-Policy")
    if sources and policy:
        directives = [part.strip() for part in policy.split(";")]
        response.headers["Content-Security-Policy"] = "; ".join(
            " ".join((part, *sources)) if part.split(" ", 1)[0] == "connect-src" else part for part in directives
        )
    return response


def init_app(app: Flask) -> None:
    # Registered before Talisman's own: Flask runs after_request functions last-registered
    # first, so this one sees the header Talisman has just written.
    app.after_request(_add_connect_sources)
    Talisman(
        app,
        force_https=False,
        frame_options="DENY",
        content_security_policy=CSP,
        content_security_policy_nonce_in=["script-src"],
        referrer_policy="no-referrer",
        strict_transport_security=True,
        strict_transport_security_max_age=365 * 24 * 3600,
        session_cookie_secure=app.config.get("SESSION_COOKIE_SECURE", False),
        session_cookie_http_only=app.config.get("SESSION_COOKIE_HTTPONLY", True),
        session_cookie_samesite=app.config.get("SESSION_COOKIE_SAMESITE", "Lax"),
    )
    app.after_request(not_kept)


def not_kept(response: Response) -> Response:
    if request.endpoint != "static":
        response.headers["Cache-Control"] = "no-store"
    return response
