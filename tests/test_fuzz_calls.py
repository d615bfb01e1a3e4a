"""Whole calls through the hotline's webhooks, as a state machine, and silence from every
step: the answer is always what tests/test_fuzz_webhooks.py's property allows (TwiML of
Twilio's verbs, 204 for a status callback, never a 5xx, a traceback or an error logged),
and no call goes round without an exit.

A module of its own, beside the URL fuzz, so that the suite's processes run the two side by
side; the strategies, the module's app and the property come from there.  This module
counts its own requests: at least CALL_REQUESTS_PER_DATABASE (2,500) per database, which
with the URL fuzz's 2,500 keeps the 5,000 per database (10,000 a CI run) of docs/security.md."""

from __future__ import annotations

import uuid
import xml.etree.ElementTree as ET
from urllib.parse import urlsplit

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from ivr.dialogue import STEPS
from tests.test_fuzz_webhooks import (
    BASE,
    CALL_REQUESTS_PER_DATABASE,
    DIGITS,
    HOSPITAL,
    HOSTILE_FROM,
    PHASES,
    SPEECH,
    Fuzz,
    check_answer,
    module_app,
)


@pytest.fixture(scope="module")
def fuzz(template, redis_url, redis_left_clean, tmp_path_factory):
    """This module's own app and database copy (see tests/test_fuzz_webhooks.py)."""
    with module_app(template, redis_url, tmp_path_factory) as state:
        yield state


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
    """Runs last in the module: with tests/test_fuzz_webhooks.py's own count, the figures in
    docs/security.md."""
    assert fuzz.requests >= CALL_REQUESTS_PER_DATABASE, fuzz.requests
