"""<Enqueue>, the waitUrl loop, <Leave>, REST-style dequeue, <Dial><Queue>."""

import pytest

from .conftest import CALLER, HOTLINE

AGENT_LINE = "+861000000100"


def enqueue(app, carrier, attrs='waitUrl="/hold" action="/left"', after="<Say>after the queue</Say>", caller=CALLER):
    app.twiml("/voice", f"<Say>Please hold</Say><Enqueue {attrs}>cardio</Enqueue>{after}")
    return carrier.dial(to=HOTLINE, from_=caller)


def test_enqueue_waits_and_loops_the_wait_url_with_queue_parameters(app, carrier):
    app.twiml("/hold", '<Say>You are in the queue</Say><Pause length="10"/>')
    call = enqueue(app, carrier)
    assert call.waiting_for == "queue" and call.queue == "cardio"
    assert carrier.queues["cardio"] == [call] and len(carrier.queues["cardio"]) == 1
    assert call.take_text() == "Please hold You are in the queue"
    first = app.last("/hold").form
    assert first["QueuePosition"] == "1" and first["QueueTime"] == "0" and first["CurrentQueueSize"] == "1"
    assert first["MaxQueueSize"] == "1000" and first["QueueSid"] == carrier.queues["cardio"].sid
    assert "AvgQueueTime" in first
    call.wait(25)  # one pass of the wait document is 2 s + 10 s: it is requested again when it runs out
    holds = app.to("/hold")
    assert len(holds) == 3 and [h.form["QueueTime"] for h in holds] == ["0", "12", "24"]
    assert call.waiting_for == "queue"


def test_a_second_caller_sees_position_two(app, carrier):
    app.twiml("/hold", '<Pause length="30"/>')
    first = enqueue(app, carrier)
    carrier.advance(7)
    second = enqueue(app, carrier, caller="+8613900000002")
    form = app.last("/hold").form
    assert form["QueuePosition"] == "2" and form["CurrentQueueSize"] == "2" and form["AvgQueueTime"] == "3"
    assert carrier.queues["cardio"] == [first, second]


def test_leave_in_the_wait_url_goes_to_the_action_with_the_queue_result(app, carrier):
    app.twiml("/hold", '<Gather numDigits="1" action="/hold-choice"><Say>Press 1 to leave a message</Say></Gather>')
    app.twiml("/hold-choice", "<Leave/>")
    app.twiml("/left", "<Say>Leave a message after the beep</Say>")
    call = enqueue(app, carrier)
    assert call.waiting_for == "gather" and call.queue == "cardio"  # a Gather inside the wait keeps it queued
    call.wait(3)
    call.press("1")
    form = app.last("/left").form
    assert form["QueueResult"] == "leave" and form["QueueSid"] and form["QueueTime"] == "3"
    assert call.queue is None and carrier.queues["cardio"] == []
    assert "Leave a message after the beep" in call.take_text()


def test_without_an_action_leave_continues_after_the_enqueue(app, carrier):
    app.twiml("/hold", "<Leave/>")
    call = enqueue(app, carrier, attrs='waitUrl="/hold"')
    assert "after the queue" in call.take_text()


def test_hanging_up_in_the_queue_tells_the_action(app, carrier):
    app.twiml("/hold", '<Pause length="60"/>')
    call = enqueue(app, carrier)
    call.wait(12)
    call.hangup()
    form = app.last("/left").form
    assert form["QueueResult"] == "hangup" and form["QueueTime"] == "12" and form["CallStatus"] == "completed"
    assert call.status == "completed" and carrier.queues["cardio"] == []


def test_a_full_queue_refuses_the_caller(app, carrier):
    app.twiml("/hold", '<Pause length="60"/>')
    app.twiml("/voice", '<Enqueue maxQueueSize="1" waitUrl="/hold" action="/left">tiny</Enqueue>')
    carrier.dial(to=HOTLINE)
    second = carrier.dial(to=HOTLINE, from_="+8613900000002")
    assert app.last("/left").form["QueueResult"] == "queue-full" and "QueueSid" not in app.last("/left").form
    assert second.queue is None


def test_default_wait_music_and_silent_wait(app, carrier):
    call = enqueue(app, carrier, attrs="")
    assert call.heard[-1].kind == "play" and "twilio.music" in call.heard[-1].text
    call = enqueue(app, carrier, attrs='waitUrl=""')
    assert call.heard[-1].text == "Please hold" and call.waiting_for == "queue"


def test_dequeue_redirects_the_front_member_into_new_twiml(app, carrier):
    app.twiml("/hold", '<Play loop="0">http://x/music.mp3</Play>')
    app.twiml("/callback", "<Say>We will call you back</Say>")
    first = enqueue(app, carrier)
    second = enqueue(app, carrier, caller="+8613900000002")
    carrier.dequeue("cardio", "Front", url=app.url("/callback"))
    assert "We will call you back" in first.take_text()
    assert app.last("/left").form["QueueResult"] == "redirected"
    assert carrier.queues["cardio"] == [second]
    carrier.dequeue(carrier.queues["cardio"].sid, second.sid, url=app.url("/callback"))
    assert second.status == "completed" and carrier.queues["cardio"] == []
    with pytest.raises(LookupError):
        carrier.dequeue("cardio", "Front", url=app.url("/callback"))


def test_a_rest_redirect_reaches_a_caller_waiting_in_a_queue(app, carrier):
    app.twiml("/hold", '<Gather><Say loop="0">press anything</Say></Gather>')
    app.twiml("/moved", "<Say>moved</Say>")
    call = enqueue(app, carrier)
    carrier.update_call(call.sid, url=app.url("/moved"))
    assert call.take_text().endswith("moved") and call.status == "completed"
    assert app.last("/left").form["QueueResult"] == "redirected"
    assert app.last("/left").form["CallStatus"] == "in-progress"


def agent_dials_the_queue(app, carrier, dial_attrs='action="/agent-done"', queue_attrs='url="/about-to-connect"'):
    carrier.add_number(AGENT_LINE, voice_url=app.url("/agent"))
    app.twiml("/agent", f"<Dial {dial_attrs}><Queue {queue_attrs}>cardio</Queue></Dial><Say>agent after</Say>")
    app.twiml("/about-to-connect", "<Say>Connecting you to a nurse</Say>")
    return carrier.dial(to=AGENT_LINE, from_="client:agent7")


def test_dial_queue_bridges_to_the_front_member_after_its_url(app, carrier):
    app.twiml("/hold", '<Say>hold on</Say><Pause length="20"/>')
    app.twiml("/left", "<Say>Thank you for calling</Say>")
    caller = enqueue(app, carrier)
    carrier.advance(30)
    agent = agent_dials_the_queue(app, carrier)
    assert agent.waiting_for == "bridge" and caller.waiting_for == "bridge"
    assert agent.bridged_with is caller and caller.bridged_with is agent
    assert caller.take_text().endswith("Connecting you to a nurse")
    url_form = app.last("/about-to-connect").form
    assert url_form["CallSid"] == caller.sid and url_form["DequeingCallSid"] == agent.sid
    assert url_form["QueueTime"] == "30"
    assert carrier.queues["cardio"] == []
    caller.wait(60)
    agent.hangup()
    done = app.last("/agent-done").form
    assert done["DialCallStatus"] == "completed" and done["DialCallSid"] == caller.sid
    assert done["DialBridged"] == "true" and done["DialCallDuration"] == "60" and done["QueueSid"]
    assert done["CallStatus"] == "completed"  # the agent hung up: Twilio still tells the action
    # The caller's call continues with the Enqueue action.
    left = app.last("/left").form
    assert left["QueueResult"] == "bridged" and caller.take_text() == "Thank you for calling"


def test_dial_queue_waits_for_a_caller_when_the_queue_is_empty(app, carrier):
    carrier.create_queue("cardio")
    app.twiml("/hold", '<Pause length="20"/>')
    agent = agent_dials_the_queue(app, carrier, dial_attrs='timeout="60" action="/agent-done"', queue_attrs="")
    assert agent.waiting_for == "dial"
    carrier.advance(10)
    caller = enqueue(app, carrier)
    assert agent.bridged_with is caller and agent.waiting_for == "bridge"
    caller.hangup()
    assert agent.take_text() == "" and app.last("/agent-done").form["DialCallStatus"] == "completed"
    assert app.last("/left").form["QueueResult"] == "bridged"


def test_dial_queue_times_out_or_fails(app, carrier):
    agent = agent_dials_the_queue(app, carrier, dial_attrs='timeout="5" action="/agent-done"')
    assert app.last("/agent-done").form["DialCallStatus"] == "failed"  # no such queue
    carrier.create_queue("cardio")
    agent = agent_dials_the_queue(app, carrier, dial_attrs='timeout="5" action="/agent-done"')
    agent.wait(5)
    assert app.last("/agent-done").form["DialCallStatus"] == "no-answer"


def test_dial_queue_without_action_falls_through_for_the_agent(app, carrier):
    app.twiml("/hold", '<Pause length="20"/>')
    caller = enqueue(app, carrier)
    agent = agent_dials_the_queue(app, carrier, dial_attrs="", queue_attrs="")
    caller.hangup()
    agent.wait(0)  # let the agent's side run on to its end
    assert agent.take_text() == "agent after" and agent.status == "completed"


def test_verbs_twilio_forbids_in_a_wait_url_are_skipped_with_a_warning(app, carrier):
    app.twiml("/hold", '<Dial>+861088880000</Dial><Record/><Say>hold music</Say><Pause length="30"/>')
    call = enqueue(app, carrier)
    assert call.errors == [12200, 12200] and call.take_text().endswith("hold music")
    assert call.legs == [] and call.waiting_for == "queue"
