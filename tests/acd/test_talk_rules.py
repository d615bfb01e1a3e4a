"""The talk's rules (acd/talks.py), pure: what may be done to a talk in which state,
the time on hold, and what the console is shown."""

from __future__ import annotations

import pytest

from acd.talks import PENDING, REFUSALS, Request, answered, held_seconds, refusal, view

TALK = {"conf": "1", "owner": "7", "agent_leg": "CA-agent", "hold_total": "0"}


@pytest.mark.parametrize(
    ("talk", "request_", "code"),
    [
        ({}, Request("hold"), "no_controls"),
        (TALK, Request("hold"), None),
        ({**TALK, "hold_since": "100"}, Request("hold"), "already_held"),
        (TALK, Request("resume"), "not_held"),
        ({**TALK, "hold_since": "100", "consult_leg": "CA-c"}, Request("resume"), "consult_running"),
        (TALK, Request("consult", to_agent=8), None),
        (TALK, Request("consult"), "one_target"),
        (TALK, Request("consult", to_agent=8, outside="nurses"), "one_target"),
        ({**TALK, "consult_leg": PENDING}, Request("consult", to_agent=8), "consult_running"),
        (TALK, Request("consult_cancel"), "no_consult"),
        ({**TALK, "consult_leg": "CA-c"}, Request("complete_transfer"), "consult_ringing"),
        ({**TALK, "consult_leg": "CA-c", "consult_answered": "CA-c"}, Request("complete_transfer"), None),
        (
            {**TALK, "consult_leg": "CA-c", "consult_answered": "CA-old"},
            Request("complete_transfer"),
            "consult_ringing",
        ),
        (TALK, Request("add_party"), "unknown_number"),
        ({**TALK, "party_leg": "CA-p"}, Request("add_party", outside="interpreters"), "party_present"),
        (TALK, Request("drop_party"), "no_party"),
    ],
)
def test_what_may_be_done_to_a_talk(talk, request_, code):
    assert refusal(talk, request_) == code
    assert code is None or REFUSALS[code].split(" ", 1)[0]  # every refusal has its Chinese and English words


def test_every_refusal_is_in_chinese_then_english():
    for text in REFUSALS.values():
        chinese, english = text.split(" ", 1)
        assert not chinese.isascii() and english.isascii() and english[0].isupper()


def test_time_on_hold_adds_the_running_hold_to_the_earlier_ones():
    assert held_seconds(TALK, 500.0) == 0
    assert held_seconds({**TALK, "hold_total": "20"}, 500.0) == 20
    assert held_seconds({**TALK, "hold_total": "20", "hold_since": "480"}, 500.0) == 40


def test_a_leg_answered_before_its_call_sid_was_known_counts_once_it_is():
    pending = {**TALK, "consult_leg": PENDING, "consult_answered": "CA-c"}
    assert not answered(pending, "consult")
    assert answered({**pending, "consult_leg": "CA-c"}, "consult")


def test_what_the_console_is_shown():
    talk = {**TALK, "hold_since": "90", "hold_total": "5", "consult_leg": "CA-c", "consult_key": "nurses",
            "monitor_leg": "CA-m", "monitor_staff": "3", "monitor_mode": "whisper", "monitor_answered": "CA-m"}  # fmt: skip
    shown = view(talk, 100.0, {"nurses": "护士站 Nurses"})
    assert shown == {
        "controls": True,
        "on_hold": True,
        "hold_seconds": 15,
        "consult": {"agent_id": None, "outside": "nurses", "label": "护士站 Nurses", "state": "ringing"},
        "party": None,
        "monitor": {"staff_id": 3, "mode": "whisper", "state": "talking"},
    }
    assert view({}, 0, {})["controls"] is False
