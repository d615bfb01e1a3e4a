"""Point the real twilio-python Client at the emulator.

twilio-python hard-codes https://api.twilio.com (and regional hosts such as
api.us1.twilio.com); this HTTP client rewrites those to the emulator's URL and
changes nothing else, so the app's own code runs unchanged:

    client = twilio.rest.Client(sid, token, http_client=emulator.http_client(base_url))
"""

from __future__ import annotations

import re
from typing import Any

from twilio.http.http_client import TwilioHttpClient
from twilio.http.response import Response

_TWILIO_HOST = re.compile(r"^https://[a-z0-9.-]*\.twilio\.com(?=/|$)", re.IGNORECASE)


class EmulatorHttpClient(TwilioHttpClient):
    """A TwilioHttpClient that sends Twilio API requests to `base_url` instead."""

    def __init__(self, base_url: str, **kwargs: Any):
        super().__init__(**kwargs)
        self.base_url = base_url.rstrip("/")

    def rewrite(self, url: str) -> str:
        return _TWILIO_HOST.sub(self.base_url, url, count=1)

    def request(self, method: str, url: str, *args: Any, **kwargs: Any) -> Response:
        return super().request(method, self.rewrite(url), *args, **kwargs)


def http_client(base_url: str, **kwargs: Any) -> EmulatorHttpClient:
    """An http_client for twilio.rest.Client that talks to the emulator at `base_url`."""
    return EmulatorHttpClient(base_url, **kwargs)
