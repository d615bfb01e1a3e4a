"""Whatever the carrier (or anyone) sends to a Twilio-facing URL, the answer is 200 with
TwiML made only of Twilio's verbs (voice, or messaging for SMS), 204 for a status
callback, or 403 for a bad signature: never a 5xx, never a traceback, never an error
logged, and never a call that goes round without an exit.

Property-based (hypothesis), through Flask's test client (no HTTP: a request costs a
couple of milliseconds), on one app and one database copy per database for the whole
module:
- every URL with random and hostile form fields and query arguments, signed, forged or
  unsigned;
- whole calls as a state machine: a call comes in from any number, the caller presses
  any keys, says anything in any script, stays silent or hangs up, following the TwiML
  the hotline returns (Gather actions, Redirects, Dial actions) until the call ends.

The module counts the requests it made: at least FUZZ_REQUESTS_PER_DATABASE per
database (see the last test), 10,000 over the CI run's two databases."""

from __future__ import annotations

import logging
import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlencode, urlsplit

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule
from twilio.request_validator import RequestValidator

import settings as settings_module
from app import ROOT, create_app
from ivr.dialogue import STEPS
from ivr.security import WEBHOOK_MAX_BYTES
from tests.conftest import AUTH_TOKEN, OPEN, Clock, _pg_create, _pg_drop, forget_redis_prefix, new_redis_prefix
from tests.twiml import parse

FUZZ_REQUESTS_PER_DATABASE = 5_000
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


# ---- one app per database for the module -------------------------------------------------------


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


# ---- whole calls ---------------------------------------------------------------------------------------


class WholeCalls(RuleBasedStateMachine):
    """A caller on the line, following the TwiML as the carrier would."""

    fuzz: Fuzz  # set by the test below

    def __init__(self):
        super().__init__()
        self.call_sid: str | None = None
        self.doc: ET.Element | None = None
        self.silences = 0  # silences in a row that neither put the caller through nor ended the call
        self.sequence = 0

    def _fields(self, **extra: str) -> dict[str, str]:
        fields = {"CallSid": self.call_sid, "AccountSid": "AC" + "1" * 32, "From": self.caller, "To": HOSPITAL,
                  "CallStatus": "in-progress", "Direction": "inbound", **extra}  # fmt: skip
        return {name: value for name, value in fields.items() if value is not None}  # no CallSid at all

    def _follow(self, url: str, form: dict[str, str]) -> None:
        parts = urlsplit(url)
        assert parts.scheme == "http" and parts.netloc == "localhost", url  # only the hotline's own URLs
        path = parts.path + (f"?{parts.query}" if parts.query else "")
        response = self.fuzz.post(path, form)
        self.doc = check_answer(self.fuzz, parts.path, response)
        if self.doc is None:  # 403: the hotline refused what it was sent (the carrier hangs up)
            assert response.status_code == 403 and any("\x00" in value for value in form.values()), form
            return
        tags = {child.tag for child in self.doc}
        if tags & {"Hangup", "Dial", "Enqueue", "Reject"} or not tags & {"Gather", "Redirect"}:
            self.silences = 0

    CALLERS = st.one_of(st.sampled_from(HOSTILE_FROM), st.text(max_size=20))
    SIDS = st.sampled_from(["new", "new", "new", "missing", "empty"])

    @initialize(caller=CALLERS, sid=SIDS)
    def first_call(self, caller, sid):
        self.ring(caller, sid)

    @precondition(lambda self: self.doc is None)
    @rule(caller=CALLERS, sid=SIDS)
    def ring(self, caller, sid):
        self.caller = caller
        self.silences = 0
        self.call_sid = {"new": f"CA{uuid.uuid4().hex}", "missing": None, "empty": ""}[sid]
        form = self._fields(CallStatus="ringing")
        self._follow(f"{BASE}/ivr/voice", form)

    def _gather(self) -> ET.Element | None:
        return self.doc.find("Gather") if self.doc is not None else None

    def _answer_gather(self, **heard: str) -> None:
        gather = self._gather()
        form = self._fields(**heard)
        self.silences = 0
        self._follow(gather.get("action"), form)

    @precondition(lambda self: self._gather() is not None)
    @rule(digits=DIGITS)
    def press(self, digits):
        self._answer_gather(Digits=digits)

    @precondition(lambda self: self._gather() is not None)
    @rule(keys=st.sampled_from(list("0123456789*#")))
    def press_a_menu_key(self, keys):
        self._answer_gather(Digits=keys)

    @precondition(lambda self: self._gather() is not None)
    @rule(speech=SPEECH, confidence=st.sampled_from(["0.9", "0.2", "", "nan", "-1", "1e400"]))
    def speak(self, speech, confidence):
        self._answer_gather(SpeechResult=speech, Confidence=confidence)

    @precondition(lambda self: self.doc is not None and self.doc.find("Redirect") is not None)
    @rule()
    def stay_silent(self):
        """The Gather timed out: the carrier goes on to the Redirect after it."""
        self.silences += 1
        self._follow(self.doc.find("Redirect").text.strip(), self._fields())

    @precondition(lambda self: self.doc is not None and self.doc.find("Dial") is not None)
    @rule(outcome=st.sampled_from(["completed", "no-answer", "busy", "failed", "canceled", "", "garbage"]))
    def dial_ends(self, outcome):
        action = self.doc.find("Dial").get("action")
        if not action:
            self.doc = None  # a Dial without action: the call ends when it does
            return
        self._follow(action, self._fields(DialCallStatus=outcome, DialCallDuration="12"))

    @precondition(lambda self: self.doc is not None)
    @rule(times=st.integers(1, 3))
    def hang_up(self, times):
        """The call ends; the carrier may post its final status more than once."""
        self.sequence += 1
        form = self._fields(CallStatus="completed", CallDuration="42", SequenceNumber=str(self.sequence))
        for _ in range(times):
            response = self.fuzz.post("/ivr/status", form)
            check_answer(self.fuzz, "/ivr/status", response)
        self.doc = None

    @invariant()
    def every_loop_has_an_exit(self):
        # Three silences in any menu end in a person or a goodbye (a few more when a menu
        # hands over to another, e.g. a lost step back to the main menu).
        assert self.silences <= 8, f"{self.silences} silences in a row and the call still goes round"


def test_whole_calls_with_random_keys_and_speech(fuzz):
    WholeCalls.fuzz = fuzz
    run = WholeCalls.TestCase
    run.settings = settings(max_examples=120, stateful_step_count=25, deadline=None, phases=PHASES,
                            suppress_health_check=list(HealthCheck))  # fmt: skip
    run().runTest()


def test_silence_alone_ends_every_call(fuzz):
    """A caller who never says anything is put through or said goodbye to, from any menu."""
    for start in ["/ivr/voice", *(f"/ivr/{flow}/{name}" for flow, name in STEPS)]:
        sid = f"CA{uuid.uuid4().hex}"
        form = {"CallSid": sid, "From": "+8613912345678", "To": HOSPITAL, "CallStatus": "in-progress"}
        doc = check_answer(fuzz, start, fuzz.post(start, form))
        for _ in range(12):
            redirect = doc.find("Redirect")
            tags = {child.tag for child in doc}
            if redirect is None or tags & {"Hangup", "Dial", "Enqueue"}:
                break
            parts = urlsplit(redirect.text.strip())
            doc = check_answer(fuzz, parts.path, fuzz.post(f"{parts.path}?{parts.query}", form))
        else:
            pytest.fail(f"12 silences from {start} and the call still goes round")


def test_the_fuzz_made_enough_requests(fuzz):
    """Runs last in the module: the figures in docs/security.md come from this count."""
    assert fuzz.requests >= FUZZ_REQUESTS_PER_DATABASE, fuzz.requests
