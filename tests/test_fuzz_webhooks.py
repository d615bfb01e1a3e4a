"""Whatever the carrier (or anyone) sends to a Twilio-facing URL, the answer is 200 with
TwiML made only of Twilio's verbs (voice, or messaging for SMS), 204 for a status
callback, or 403 for a bad signature: never a 5xx, never a traceback, never an error
logged, and never a call that goes round without an exit.

Property-based (hypothesis), through Flask's test client (no HTTP: a request costs a
couple of milliseconds), on one app and one database copy per database for each module:
- here, every URL with random and hostile form fields and query arguments, signed, forged
  or unsigned;
- in tests/test_fuzz_calls.py (the strategies, the app and the property are this
  module's), whole calls as a state machine: a call comes in from any number, the caller
  presses any keys, says anything in any script, stays silent or hangs up, following the
  TwiML the hotline returns (Gather actions, Redirects, Dial actions) until the call ends.

The two are separate modules so that the test suite's processes run them side by side
(each module, on each database, is a group of its own: tests/conftest.py).  Each module
counts the requests it made: at least URL_REQUESTS_PER_DATABASE here and
CALL_REQUESTS_PER_DATABASE there, FUZZ_REQUESTS_PER_DATABASE (5,000) per database
together, as when they were one module: 10,000 over the CI run's two databases."""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from contextlib import contextmanager
from urllib.parse import urlencode

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator

import settings as settings_module
from app import ROOT, create_app
from ivr.dialogue import STEPS
from ivr.security import WEBHOOK_MAX_BYTES
from tests.conftest import AUTH_TOKEN, OPEN, Clock, _pg_create, _pg_drop, forget_redis_prefix, new_redis_prefix
from tests.twiml import parse

FUZZ_REQUESTS_PER_DATABASE = 5_000
# The URL test's 2,500 examples (each one request) here; whole calls and silences (some
# 3,000-3,500 requests) in tests/test_fuzz_calls.py.
URL_REQUESTS_PER_DATABASE = 2_500
CALL_REQUESTS_PER_DATABASE = FUZZ_REQUESTS_PER_DATABASE - URL_REQUESTS_PER_DATABASE
BASE = "http://localhost"
HOSPITAL = "+861065281000"
VOICE_PATHS = ["/ivr/voice", "/ivr/nowhere/x", "/ivr/menu/nowhere", *(f"/ivr/{flow}/{name}" for flow, name in STEPS)]
STATUS_PATHS = ["/ivr/status", "/ivr/sms/status"]
SMS_PATHS = ["/ivr/sms/incoming"]
# No 'explain' phase: it traces every line of the app while it shrinks a failure (minutes).
PHASES = [Phase.explicit, Phase.reuse, Phase.generate, Phase.target, Phase.shrink]
MESSAGING_ELEMENTS = {"Response", "Message", "Body", "Media", "Redirect"}
# Numbers a carrier really sends: withheld, short or foreign, a browser client, nothing.
HOSTILE_FROM = ["anonymous", "+266696687", "client:agent", "client:agent7", "", "unknown", "restricted", "+0",
                "13800138000", "+86 139 1000 2000", "13700001111", "+8613800138000\x00", "sip:a@b.example"]  # fmt: skip
SQL = ["'; DROP TABLE patients; --", "1 OR 1=1", '" OR ""="', "%' AND 1=0 UNION SELECT mrn FROM patients --"]
CONTROL = "".join(chr(c) for c in range(0, 32)) + "\x7f\u200b\u202e\ufeff"
SPEECH = st.one_of(
    st.text(max_size=40),  # any script, any code point hypothesis likes
    st.text(alphabet=st.characters(codec="utf-8"), max_size=40),
    st.text(alphabet=CONTROL + "心内科预约挂号张志远abc ", max_size=30),
    st.sampled_from(["心内科", "预约", "人工", "张志远", "cardiology", "Ärztin", "قلب", "कार्डियोलॉजी", "🫀🩺", *SQL]),
    st.just("科" * 2_000),
)
DIGITS = st.one_of(
    st.text(alphabet="0123456789*#", min_size=1, max_size=6),
    st.text(alphabet="0123456789*#abcXYZ ", max_size=12),
    st.sampled_from(["0" * 10_000, "1" * 10_000, "12a", "٣", "１", "-1", "1e9", "0502#", "05-02", *SQL]),
)
TEXT = st.one_of(st.text(max_size=60), st.sampled_from(["", *HOSTILE_FROM, *SQL, "0" * 10_000]),
                 st.text(alphabet="0123456789*#", max_size=12))  # fmt: skip
FIELDS = st.fixed_dictionaries(
    {},
    optional={
        "CallSid": st.one_of(TEXT, st.just("CA" + "f" * 32)),
        "From": st.one_of(st.sampled_from(HOSTILE_FROM), TEXT),
        "To": TEXT,
        "Digits": DIGITS,
        "SpeechResult": SPEECH,
        "Confidence": TEXT,
        "CallStatus": st.one_of(st.sampled_from(["completed", "ringing", "busy", "in-progress"]), TEXT),
        "SequenceNumber": TEXT,
        "CallDuration": TEXT,
        "DialCallStatus": TEXT,
        "AnsweredBy": TEXT,
        "MessageSid": TEXT,
        "MessageStatus": TEXT,
        "Body": st.one_of(SPEECH, st.sampled_from(["1", "2", "1 R123456", "取消"])),
        "ErrorCode": TEXT,
    },
)
ARGS = st.dictionaries(
    st.sampled_from(
        [
            "lang",
            "f",
            "silence",
            "page",
            "code",
            "department",
            "doctor",
            "exam",
            "day",
            "session",
            "move",
            "appointment",
            "then",
            "tries",
            "codes",
            "name",
            "m",
        ]
    ),
    TEXT,
    max_size=4,
)


# ---- one app per database for each module ---------------------------------------------------


class Errors(logging.Handler):
    """Every ERROR the app logs (a webhook's exception handler logs one with its traceback)."""

    def __init__(self):
        super().__init__(level=logging.ERROR)
        self.records: list[logging.LogRecord] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.records.append(record)

    def take(self) -> list[str]:
        taken = [f"{r.name}: {r.getMessage()}\n{r.exc_text or ''}" for r in self.records]
        self.records.clear()
        return taken


class Fuzz:
    """The module's app, with a request counter and an error-log watcher."""

    def __init__(self, app):
        self.app = app
        self.client = app.test_client()
        self.validator = RequestValidator(AUTH_TOKEN)
        self.requests = 0
        self.errors = Errors()

    def post(self, path: str, form: dict[str, str], signature: str | None = "valid"):
        """POST as the carrier does: signed over the full URL and the form (unless told not to)."""
        headers = {}
        if signature == "valid":
            headers["X-Twilio-Signature"] = self.validator.compute_signature(BASE + path, form)
        elif signature is not None:
            headers["X-Twilio-Signature"] = signature
        self.requests += 1
        return self.client.post(path, data=form, headers=headers)


@pytest.fixture(scope="module")
def fuzz(template, redis_url, redis_left_clean, tmp_path_factory):
    with module_app(template, redis_url, tmp_path_factory) as state:
        yield state


@contextmanager
def module_app(template, redis_url, tmp_path_factory) -> Iterator[Fuzz]:
    """A fuzz module's app on its own copy of the template and its own Redis keys."""
    import shutil

    import redis as redis_lib
    import sqlalchemy as sa

    if template.backend == "sqlite":
        path = tmp_path_factory.mktemp("fuzz") / "hotline.db"
        shutil.copyfile(sa.make_url(template.url).database, path)
        url = f"sqlite:///{path}"
    else:
        url = _pg_create(f"hotline_fuzz_{uuid.uuid4().hex[:10]}", sa.make_url(template.url).database)
        # Thousands of short transactions: not waiting for each commit's WAL flush makes the
        # module several times faster and changes nothing the requests can see.
        url = sa.make_url(url).update_query_dict({"options": "-c synchronous_commit=off"})
        url = url.render_as_string(hide_password=False)
    prefix = new_redis_prefix(redis_url, "fuzz:")
    environ = {"DATABASE_URL": url, "REDIS_URL": redis_url, "REDIS_PREFIX": prefix, "TWILIO_AUTH_TOKEN": AUTH_TOKEN,
               "TWILIO_ACCOUNT_SID": "AC" + "1" * 32}  # fmt: skip
    settings = settings_module.load(ROOT / "config.yaml", environ=environ)
    # Hypothesis replays an example and needs the same answers; a call limit counting the
    # module's earlier rings would change them.  The limit has its own tests (test_call_limits).
    unlimited = settings.call_limits.model_copy(update={"calls_per_number": 10_000, "withheld_calls": None})
    app = create_app(settings.model_copy(update={"call_limits": unlimited}), clock=Clock(OPEN))
    state = Fuzz(app)
    logging.getLogger().addHandler(state.errors)
    yield state
    logging.getLogger().removeHandler(state.errors)
    print(f"\n[fuzz {template.backend}] {state.requests} requests")
    app.extensions["hotline"].engine.dispose()
    # The call records' jobs the module enqueued (thousands, never run) go with its queues,
    # so the shared Redis is left as the module found it.
    forget_redis_prefix(redis_lib.Redis.from_url(redis_url), prefix)
    if template.backend == "postgresql":
        _pg_drop(url)


def check_answer(fuzz: Fuzz, path: str, response) -> ET.Element | None:
    """The property: what any request to `path` may get back.  Returns the TwiML, if any."""
    body = response.get_data()
    logged = fuzz.errors.take()  # taken first, so a failure here is not blamed on the next request
    assert response.status_code < 500, (path, response.status_code, body[:300], logged)
    assert b"Traceback" not in body
    assert not logged, logged
    if response.status_code == 403:
        return None
    if path in STATUS_PATHS:
        assert response.status_code == 204, (path, response.status_code, body[:300])
        return None
    assert response.status_code == 200, (path, response.status_code, body[:300])
    assert response.mimetype in ("application/xml", "text/xml")
    if path in SMS_PATHS:
        root = ET.fromstring(body)
        assert root.tag == "Response" and {e.tag for e in root.iter()} <= MESSAGING_ELEMENTS
        assert (root.findtext("Message") or "").strip()
        return root
    root = parse(body)  # only Twilio's voice verbs
    assert len(root) > 0  # something is said or done: never an empty answer
    return root


# ---- any URL, any fields ---------------------------------------------------------------------------


@settings(max_examples=2_500, deadline=None, suppress_health_check=list(HealthCheck), phases=PHASES)
@given(path=st.sampled_from(VOICE_PATHS + STATUS_PATHS + SMS_PATHS), form=FIELDS, args=ARGS,
       signature=st.sampled_from(["valid"] * 6 + [None, "", "bm90IGEgc2lnbmF0dXJl", "x" * 5000]))  # fmt: skip
# Found on PostgreSQL by the first version of this test: a sequence number beyond INTEGER reached the database.
@example(path="/ivr/status", form={"CallSid": "0", "SequenceNumber": "2150000000", "CallDuration": "-1"}, args={},
         signature="valid")  # fmt: skip
def test_every_twilio_url_answers_whatever_it_is_sent(fuzz, path, form, args, signature):
    query = urlencode(args)
    url = f"{path}?{query}" if query else path
    try:
        response = fuzz.post(url, form, signature)
    except ValueError:
        # The test client refuses to build a request from some raw strings (e.g. a NUL
        # in the query); no carrier could send it either.
        return
    if len(urlencode(form).encode()) > WEBHOOK_MAX_BYTES:
        # Refused unread, whatever its signature (no carrier sends so much; tests/test_security.py
        # has the cap's own tests): a voice step still answers TwiML, the others 413.
        if path in VOICE_PATHS:
            assert response.status_code == 200
            check_answer(fuzz, path, response)
        else:
            assert response.status_code == 413, (path, response.status_code)
        return
    check_answer(fuzz, path, response)
    if signature != "valid":
        assert response.status_code == 403


def test_the_fuzz_made_enough_requests(fuzz):
    """Runs last in the module: with tests/test_fuzz_calls.py's own count, the figures in
    docs/security.md."""
    assert fuzz.requests >= URL_REQUESTS_PER_DATABASE, fuzz.requests
