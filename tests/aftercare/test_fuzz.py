"""After care's webhooks whatever they are sent: the follow-up and survey steps answer
TwiML (with this area's own arguments: task, attempt, n, key, value...), the follow-up
calls' status callback answers 204, never a 500."""

from __future__ import annotations

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import settings as settings_module
from app import ROOT, create_app
from ivr.dialogue import STEPS
from tests.test_fuzz_webhooks import FIELDS, TEXT
from tests.twiml import parse

PATHS = [f"/ivr/{flow}/{name}" for flow, name in STEPS if flow in ("followup", "survey")]
NUMBERS = st.one_of(TEXT, st.integers(-3, 5).map(str), st.just("99999999999999999999"))
ARGS = st.dictionaries(
    st.sampled_from(["task", "attempt", "n", "key", "tries", "value", "queue", "agent", "entry", "lang", "f"]),
    NUMBERS,
    max_size=5,
)


@pytest.fixture
def unsigned_client(environ, clock):
    """Signature checks off, so the random fields reach the steps."""
    environ = {k: v for k, v in environ.items() if k != "TWILIO_AUTH_TOKEN"} | {"HOTLINE_INSECURE_WEBHOOKS": "1"}
    app = create_app(settings_module.load(ROOT / "config.yaml", environ=environ), clock=clock)
    yield app.test_client()
    app.extensions["hotline"].engine.dispose()


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(path=st.sampled_from([*PATHS, "/ivr/followup/call-status"]), form=FIELDS, args=ARGS)
def test_after_care_webhooks_answer_whatever_they_are_sent(unsigned_client, path, form, args):
    response = unsigned_client.post(path, data=form, query_string=args)
    if path.endswith("call-status"):
        assert response.status_code == 204
        return
    assert response.status_code == 200, response.data[:300]
    root = parse(response.data)
    assert len(root) > 0
