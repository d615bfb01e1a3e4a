"""The twilio REST resources the hotline uses are imported before the first call needs them
(extensions.warm_rest_client, run by gunicorn's when_ready): afterwards, reaching Calls,
Conferences, their Participants and Messages through a Client imports nothing more."""

import subprocess
import sys

PROBE = """
import sys
from extensions import warm_rest_client
from twilio.rest import Client

warm_rest_client()
before = set(sys.modules)
client = Client("AC" + "1" * 32, "token")
client.calls("CA1")
client.calls.create
client.conferences("CF1").participants("CA1")
client.messages
print(sorted(name for name in set(sys.modules) - before if name.startswith("twilio")))
"""


def test_after_the_warm_up_the_resources_import_nothing_more():
    # A fresh interpreter: this one may have imported them already for other tests.
    found = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
