"""A local carrier emulator: plays Twilio's part for the hotline.

It places calls to the app's webhooks over real HTTP (signed, Twilio-shaped
form posts), executes the TwiML it gets back as Twilio documents it, posts
status callbacks, and serves the Twilio REST endpoints so the app's real
`twilio.rest.Client` can be pointed at it. Time is virtual: it moves only when
a call needs it to (a prompt being spoken, a timeout) or when a test says so.

    from emulator import Carrier
    carrier = Carrier(account_sid="AC" + "0" * 32, auth_token="secret")
    carrier.add_number("+861065281234", voice_url="http://127.0.0.1:5000/ivr/voice")
    call = carrier.dial(to="+861065281234", from_="+8613800138000")
    print(call.take_text()); call.press("1")

Nothing here touches the network at import time.
"""

from .call import Call
from .carrier import DEFAULT_ACCOUNT_SID, Carrier
from .client import EmulatorHttpClient, http_client
from .clock import VirtualClock
from .model import Delivery, EmulatorError, Endpoint, LogEntry, Message, NumberConfig, Queue, Recording, Utterance
from .phone import run_phone
from .twiml import speaking_seconds

__all__ = [
    "DEFAULT_ACCOUNT_SID",
    "Call",
    "Carrier",
    "Delivery",
    "EmulatorError",
    "EmulatorHttpClient",
    "Endpoint",
    "LogEntry",
    "Message",
    "NumberConfig",
    "Queue",
    "Recording",
    "Utterance",
    "VirtualClock",
    "http_client",
    "run_phone",
    "speaking_seconds",
]
