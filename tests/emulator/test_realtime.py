"""`--realtime`: the virtual clock follows the wall clock and never runs ahead of it
(issue 22, item 17: a call 57 s long was recorded as 457 s, texts were stamped minutes ahead).

These tests run the clock fast (speed 10: a virtual second is 100 ms) and check an invariant,
not a speed: the virtual time may lag the wall clock (a slow machine only makes it lag more)
but must never lead it."""

import time

from .conftest import HOTLINE


def test_in_realtime_the_clock_never_runs_ahead_of_the_wall_clock(app, carrier):
    # Slow enough, and the Gather long enough (60 s: 6 s of wall clock), that a loaded CI
    # machine still finds the call at the Gather (at speed 50 its 5 s were 100 ms).
    speed = 10.0
    app.twiml(
        "/voice",
        '<Say>Welcome to the hospital</Say><Pause length="20"/>'
        '<Gather numDigits="1" timeout="60" action="/choice"><Say>Press 1</Say></Gather>',
    )
    app.twiml("/choice", '<Say>Thank you</Say><Pause length="30"/><Hangup/>')
    started = time.monotonic()
    carrier.start_realtime(speed=speed)

    def ahead() -> float:
        """How far the virtual clock is ahead of the wall clock, in virtual seconds."""
        return carrier.clock.time() - (time.monotonic() - started) * speed

    call = carrier.dial(to=HOTLINE)  # the welcome and the 20 s pause play out in (fast) real time
    assert call.waiting_for == "gather" and ahead() <= 0
    call.wait(2)  # within the Gather's 60 s timeout
    assert ahead() <= 0
    call.press("1")
    assert ahead() <= 0
    call.wait(40)  # the thank-you and the 30 s pause, then the hang-up
    assert call.status == "completed" and ahead() <= 0
    wall = (time.monotonic() - started) * speed
    assert call.duration <= wall + 0.5  # durations are whole seconds, rounded half up
    carrier.send_message("+8613800138000", "复诊提醒")
    assert ahead() <= 0 and carrier.messages[-1].created <= (time.monotonic() - started) * speed


def test_in_realtime_time_passes_on_its_own(app, carrier):
    app.twiml(
        "/voice", '<Gather numDigits="1" timeout="5" action="/choice"><Say>Press 1</Say></Gather><Say>Goodbye</Say>'
    )
    carrier.start_realtime(speed=50.0)
    call = carrier.dial(to=HOTLINE)
    deadline = time.monotonic() + 30
    while "Goodbye" not in [u.text for u in call.heard] and time.monotonic() < deadline:
        time.sleep(0.02)  # nobody drives the carrier: the clock thread lets the Gather time out
    assert "Goodbye" in [u.text for u in call.heard]
