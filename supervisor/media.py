"""Recordings (voicemails, recorded talks) played to staff through the hotline.

The browser is never sent to the carrier's address: an address in a browser's history
could be replayed without a login or an audit row (and, unless the Twilio account asks for
HTTP authentication on media, by anyone who has it).  The hotline fetches the audio with
the account's credentials and streams it on, after the playback is audited.
"""

from __future__ import annotations

import requests

from settings import Environment

TWILIO_API = "https://api.twilio.com/"


class NotAvailable(Exception):
    """The recording cannot be played (not the carrier's address, or the carrier refused)."""


def open_recording(env: Environment, url: str) -> requests.Response:
    """The carrier's answer for the recording at `url`, its audio not yet read.

    Only addresses under the carrier's API are fetched (the URL came in a signed callback,
    but a database row must not turn the server into a proxy for any address)."""
    base = (env.twilio_api_base or TWILIO_API).rstrip("/") + "/"
    if not url.startswith(base):
        raise NotAvailable("not a recording of this hotline's carrier")
    auth = (
        (env.twilio_api_key_sid, env.twilio_api_key_secret)
        if env.twilio_api_key_sid and env.twilio_api_key_secret
        else (env.twilio_account_sid, env.twilio_auth_token or "")
    )
    try:
        # MP3: a tenth of the WAV Twilio gives by default.
        media = requests.get(url + ".mp3", auth=auth, stream=True, timeout=10)
    except requests.RequestException as exc:
        raise NotAvailable(f"the carrier did not answer ({type(exc).__name__})") from None
    if media.status_code != 200:
        media.close()
        raise NotAvailable(f"the carrier answered {media.status_code}")
    return media
