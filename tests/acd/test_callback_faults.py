"""A callback's call is answered, or ends, while Redis, where the seats' state lives, fails.
Answered: the patient is greeted and put through to the operator, as any caller who asks
for a person while the seats' state is away, and the agent reserved for them is freed by the
sweep.  Ended: the status callback (`queue/callback_status`) still answers what it answers
for any ended call, logs which callback it could not bring up to date (no number), and
leaves what it did not do to the sweep.  The callback's status callbacks are held and posted
here by hand, with a fault in the seats' state, so that the answer itself can be read."""

from __future__ import annotations

import logging
import urllib.request
from datetime import timedelta
from urllib.parse import urlencode

import pytest
import redis
from redis.backoff import NoBackoff
from redis.retry import Retry
from twilio.request_validator import RequestValidator

from acd import seats
from tests.acd.test_seats_calls import MS_WANG, agent_legs, kinds, on_break, on_duty, sweep
from tests.conftest import AUTH_TOKEN
from tests.test_calls import OPERATOR, dialled
from tests.test_faults_redis import APOLOGY

CALL_OVER = '<?xml version="1.0" encoding="UTF-8"?><Response><Hangup /></Response>'


def post(delivery) -> tuple[int, str]:
    """The carrier's status callback, signed as it signs it; the hotline's answer."""
    form = dict(delivery.params)
    headers = {
        "X-Twilio-Signature": RequestValidator(AUTH_TOKEN).compute_signature(delivery.url, form),
        "Content-Type": "application/x-www-form-urlencoded",
    }
    request = urllib.request.Request(delivery.url, data=urlencode(form).encode(), headers=headers, method="POST")
    with urllib.request.urlopen(request, timeout=30) as response:
        return response.status, response.read().decode()


def redis_fails(*args, **kwargs):
    raise redis.ConnectionError("Error 111 connecting to 127.0.0.1:6379. Connection refused.")


def asked_for_a_callback(dial, carrier, hotline):
    """Ms Wang asked to be called back while agent 1 was on a break; the agent is back and
    her phone rings (answered by hand); the callback's status callbacks are held."""
    on_break(hotline, 1, {"general": 2})
    wang = dial(MS_WANG)
    wang.press("0")
    wang.take_text()
    wang.press("1")  # call me back
    assert wang.ended
    carrier.set_endpoint(MS_WANG, behaviour="manual")
    carrier.hold_status_callbacks()
    on_duty(hotline, 1, {"general": 2})
    return wang, carrier.ringing(MS_WANG)


def callback_status(carrier):
    [delivery] = [d for d in carrier.held_status_callbacks if "/ivr/queue/callback_status" in d.url]
    carrier.held_status_callbacks.remove(delivery)
    return delivery


def said_over_and_logged(answer, caplog, entry: str) -> None:
    """The answer to an ended call, a warning naming the callback, nothing with the number."""
    assert answer == (200, CALL_OVER)  # not the apology and a person: the call is over
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "ivr.flows.queue"]
    assert len(warnings) == 1 and entry in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no "webhook failed"
    assert MS_WANG[-8:] not in caplog.text


@pytest.mark.parametrize("broken", ["leave", "entry"])
def test_a_patient_hanging_up_during_the_greeting_while_redis_fails_is_answered_as_over(
    dial, carrier, hotline, monkeypatch, caplog, broken
):
    """Redis fails inside seats.caller_gone (reading the entry, or ending the offer)."""
    wang, patient = asked_for_a_callback(dial, carrier, hotline)
    patient.hang_up_in(2.0)
    patient.answer()  # she hangs up while hearing the greeting; the agent's phone rings
    assert patient.ended
    delivery = callback_status(carrier)
    caplog.clear()
    with monkeypatch.context() as fault:
        fault.setattr(hotline.acd, broken, redis_fails)
        with caplog.at_level(logging.INFO):
            said_over_and_logged(post(delivery), caplog, wang.sid)
    assert hotline.acd.entry(wang.sid)["state"] == "offered"  # untouched: nothing done by half
    assert hotline.acd.agent(1)["offer"] == wang.sid  # the agent's ring ends it if nothing else does
    # Redis is back: the same status sent again does what it could not (Twilio does not resend
    # a status callback; here it shows that nothing the first one did is in the way).
    carrier.hold_status_callbacks(False)
    assert post(delivery) == (200, CALL_OVER)
    carrier.run_pending()
    assert hotline.acd.agent(1)["state"] == "available" and all(leg.ended for leg in agent_legs(carrier, 1))
    assert kinds(hotline, wang.sid)[-2:] == ["offer", "abandon"]


def test_a_callback_not_answered_while_redis_fails_is_answered_as_over_and_left_to_the_sweep(
    dial, carrier, hotline, monkeypatch, caplog, settings, clock
):
    """Redis fails as the failed attempt is counted: the reservation stays in the ACD as it
    was, and the sweep ends it at its expiry as the failed attempt it was: the patient keeps
    her place, to be called back after the spacing; the agent, whose phone never rang, is
    free in their place (not on a 'missed' break)."""
    wang, patient = asked_for_a_callback(dial, carrier, hotline)
    patient.reject()  # busy
    delivery = callback_status(carrier)
    caplog.clear()
    with monkeypatch.context() as fault:
        fault.setattr(hotline.acd, "callback_failed", redis_fails)
        with caplog.at_level(logging.INFO):
            said_over_and_logged(post(delivery), caplog, wang.sid)
    carrier.hold_status_callbacks(False)
    assert hotline.acd.entry(wang.sid)["state"] == "offered"  # nothing lost: still the ACD's
    clock.now = clock.now + timedelta(seconds=settings.routing.reservation_expiry_seconds + 1)
    assert sweep(hotline, 1) == {"expired": 1, "wrapped": 0, "logged_out": 0, "offers": 0}
    assert hotline.acd.agent(1)["state"] == "available"
    entry = hotline.acd.entry(wang.sid)
    assert (entry["state"], entry["kind"], entry["number"], entry["attempts"]) == ("waiting", "callback", MS_WANG, "1")
    spacing = settings.routing.callbacks.spacing_seconds
    assert float(entry["not_before"]) == pytest.approx(clock.now.timestamp() + spacing)
    assert "missed_offer" not in kinds(hotline, wang.sid)


def test_dispatch_failing_after_a_callback_not_answered_is_left_to_the_sweep(
    dial, carrier, hotline, monkeypatch, caplog
):
    """The failed attempt is counted, then Redis fails in the dispatch that follows: the call
    is answered as over; the sweep's own dispatch (every few seconds) offers the agent on."""
    wang, patient = asked_for_a_callback(dial, carrier, hotline)
    patient.reject()  # busy
    delivery = callback_status(carrier)
    caplog.clear()
    with monkeypatch.context() as fault:
        fault.setattr(seats, "dispatch", redis_fails)
        with caplog.at_level(logging.INFO):
            said_over_and_logged(post(delivery), caplog, wang.sid)
    carrier.hold_status_callbacks(False)
    entry = hotline.acd.entry(wang.sid)
    assert entry["state"] == "waiting" and entry["attempts"] == "1"  # counted, retried later
    assert hotline.acd.agent(1)["state"] == "available"


def test_a_patient_who_answers_the_callback_while_redis_is_unreachable_reaches_the_operator(
    dial, carrier, hotline, monkeypatch, caplog, settings, clock
):
    """The seats' state is unreachable as the patient answers: she hears the callback's
    greeting and is put through to the operator (not the generic apology).  Once Redis is
    back, the sweep ends the agent's reservation at its expiry as a failed attempt of the
    callback: the agent is free in their place (not on a 'missed' break), the patient keeps
    her place, to be called again after the spacing."""
    wang, patient = asked_for_a_callback(dial, carrier, hotline)
    carrier.set_endpoint(OPERATOR, behaviour="answer")
    caplog.clear()
    unreachable = redis.Redis(port=1, socket_connect_timeout=0.2, retry=Retry(NoBackoff(), 1))
    with monkeypatch.context() as fault:
        fault.setattr(hotline.acd, "redis", unreachable)
        with caplog.at_level(logging.INFO):
            patient.answer()
            heard = patient.take_text()
    assert "您之前请求回电" in heard and "正在为您转接人工服务" in heard and APOLOGY not in heard
    assert dialled(patient) == [OPERATOR] and patient.errors == []
    warnings = [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "ivr.flows.queue"]
    assert len(warnings) == 1 and wang.sid in warnings[0].getMessage()
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]  # no "webhook failed"
    assert MS_WANG[-8:] not in caplog.text
    patient.hangup()  # the talk with the operator is over
    assert post(callback_status(carrier)) == (200, CALL_OVER)  # nothing for the seats: still a callback
    carrier.hold_status_callbacks(False)
    assert hotline.acd.agent(1)["offer"] == wang.sid  # reserved until the expiry, no longer
    clock.now = clock.now + timedelta(seconds=settings.routing.reservation_expiry_seconds + 1)
    assert sweep(hotline, 1) == {"expired": 1, "wrapped": 0, "logged_out": 0, "offers": 0}
    assert hotline.acd.agent(1)["state"] == "available"
    entry = hotline.acd.entry(wang.sid)
    assert (entry["state"], entry["kind"], entry["attempts"]) == ("waiting", "callback", "1")
    assert "missed_offer" not in kinds(hotline, wang.sid)
