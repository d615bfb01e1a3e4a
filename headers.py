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
"""

from __future__ import annotations

from flask import Flask
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


def init_app(app: Flask) -> None:
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
