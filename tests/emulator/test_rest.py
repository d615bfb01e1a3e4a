"""The REST API, driven by the real twilio-python Client through emulator.http_client."""

import pytest
import requests
from twilio.base.exceptions import TwilioException, TwilioRestException
from twilio.rest import Client

from emulator import http_client

from .conftest import ACCOUNT_SID, AUTH_TOKEN, HOTLINE

FROM = "+861065281234"


@pytest.fixture
def client(carrier):
    base = carrier.serve()
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client(base))


def test_the_http_client_rewrites_only_twilio_hosts():
    http = http_client("http://127.0.0.1:5055/")
    assert (
        http.rewrite("https://api.twilio.com/2010-04-01/Accounts.json")
        == "http://127.0.0.1:5055/2010-04-01/Accounts.json"
    )
    assert http.rewrite("https://api.us1.twilio.com/x") == "http://127.0.0.1:5055/x"
    assert http.rewrite("https://example.com/x") == "https://example.com/x"


def test_calls_create_rings_an_endpoint_and_runs_the_url_once_answered(app, carrier, client):
    app.twiml("/agent", '<Gather numDigits="1" action="/agent-choice"><Say>Press 1 to take the call</Say></Gather>')
    created = client.calls.create(
        to="client:agent7",
        from_=FROM,
        url=app.url("/agent"),
        status_callback=app.url("/events"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    assert created.sid.startswith("CA") and created.status == "queued" and created.direction == "outbound-api"
    assert created.to == "client:agent7" and created._from == FROM
    leg = carrier.ringing("client:agent7")
    assert leg.sid == created.sid
    leg.answer()
    assert leg.take_text() == "Press 1 to take the call"
    form = app.last("/agent").form
    assert form["Direction"] == "outbound-api" and form["CallStatus"] == "in-progress" and form["To"] == "client:agent7"
    fetched = client.calls(created.sid).fetch()
    assert fetched.status == "in-progress" and fetched.start_time is not None
    client.calls(created.sid).update(status="completed")
    assert client.calls(created.sid).fetch().status == "completed"
    assert [h.form["CallStatus"] for h in app.to("/events")] == ["initiated", "ringing", "in-progress", "completed"]


def test_calls_create_with_twiml_and_machine_detection(app, carrier, client):
    carrier.set_endpoint("+8613900000001", "machine")
    carrier.set_endpoint("+8613900000002", "answer")
    app.twiml("/reminder", "<Say>Your appointment is tomorrow</Say>")
    machine = client.calls.create(
        to="+8613900000001", from_=FROM, url=app.url("/reminder"), machine_detection="DetectMessageEnd"
    )
    human = client.calls.create(
        to="+8613900000002", from_=FROM, twiml="<Response><Say>Hi there</Say></Response>", machine_detection="Enable"
    )
    assert app.last("/reminder").form["AnsweredBy"] == "machine_end_beep"
    assert carrier.get_call(human.sid).answered_by == "human"
    carrier.advance(5)
    assert carrier.get_call(human.sid).heard[0].text == "Hi there"
    assert client.calls(machine.sid).fetch().status == "completed"


def test_unanswered_outbound_calls(carrier, client, app):
    carrier.set_endpoint("+8613900000003", "busy")
    busy = client.calls.create(to="+8613900000003", from_=FROM, url=app.url("/x"))
    assert client.calls(busy.sid).fetch().status == "busy"
    ringing = client.calls.create(to="+8613900000004", from_=FROM, url=app.url("/x"), timeout=15)
    carrier.advance(15)
    assert client.calls(ringing.sid).fetch().status == "no-answer"
    canceled = client.calls.create(to="+8613900000004", from_=FROM, url=app.url("/x"))
    client.calls(canceled.sid).update(status="canceled")
    assert client.calls(canceled.sid).fetch().status == "canceled"
    assert app.to("/x") == []


def test_a_live_call_is_redirected_even_in_a_gather(app, carrier, client):
    app.twiml("/voice", '<Gather><Say loop="0">Still waiting</Say></Gather>')
    app.twiml("/urgent", "<Say>Urgent message</Say><Hangup/>")
    call = carrier.dial(to=HOTLINE)
    client.calls(call.sid).update(url=app.url("/urgent"), method="POST")
    assert call.take_text().endswith("Urgent message")
    call.wait(0)
    assert call.status == "completed"
    with pytest.raises(TwilioRestException) as refused:
        client.calls(call.sid).update(url=app.url("/urgent"))
    assert refused.value.code == 21220 and refused.value.status == 400
    client.calls(call.sid).update(status="completed")  # ending an ended call changes nothing
    assert call.status == "completed"


def test_queues_and_members_front_dequeue(app, carrier, client):
    queue = client.queues.create(friendly_name="cardio", max_size=50)
    assert queue.sid.startswith("QU") and queue.max_size == 50 and queue.current_size == 0
    app.twiml("/voice", '<Enqueue waitUrl="/hold">cardio</Enqueue>')
    app.twiml("/hold", '<Pause length="30"/>')
    app.twiml("/to-agent", "<Say>An agent is ready</Say>")
    first = carrier.dial(to=HOTLINE)
    second = carrier.dial(to=HOTLINE, from_="+8613900000009")
    carrier.advance(10)
    assert [q.friendly_name for q in client.queues.list()] == ["cardio"]
    assert client.queues(queue.sid).fetch().current_size == 2
    members = client.queues(queue.sid).members.list()
    assert [m.call_sid for m in members] == [first.sid, second.sid] and members[0].wait_time == 10
    member = client.queues(queue.sid).members("Front").update(url=app.url("/to-agent"), method="POST")
    assert member.call_sid == first.sid
    assert first.take_text() == "An agent is ready"
    assert carrier.queues["cardio"] == [second]
    client.queues(queue.sid).members(second.sid).update(url=app.url("/to-agent"), method="POST")
    assert carrier.queues["cardio"] == []
    with pytest.raises(TwilioRestException) as empty:
        client.queues(queue.sid).members("Front").update(url=app.url("/to-agent"), method="POST")
    assert empty.value.status == 404


def test_messages_progress_with_status_callbacks_and_can_fail_on_purpose(app, carrier, client):
    carrier.fail_next_messages(2, status=503)
    for _ in range(2):
        with pytest.raises(TwilioRestException) as failed:
            client.messages.create(
                to="+8613800138000", from_=FROM, body="明天上午九点心内科复诊", status_callback=app.url("/sms-status")
            )
        assert failed.value.status == 503
    message = client.messages.create(
        to="+8613800138000", from_=FROM, body="明天上午九点心内科复诊", status_callback=app.url("/sms-status")
    )
    assert message.status == "queued" and message.sid.startswith("SM") and message.num_segments == "1"
    assert carrier.messages[0].body == "明天上午九点心内科复诊" and len(carrier.messages) == 1
    carrier.advance(2)
    assert [h.form["MessageStatus"] for h in app.to("/sms-status")] == ["sent", "delivered"]
    assert client.messages(message.sid).fetch().status == "delivered"
    carrier.repost_status(message.sid, times=2)
    assert [h.form["MessageStatus"] for h in app.to("/sms-status")][-2:] == ["delivered", "delivered"]
    carrier.set_endpoint("+8613800000000", "fail")
    client.messages.create(
        to="+8613800000000", messaging_service_sid="MG" + "1" * 32, body="x", status_callback=app.url("/sms-status")
    )
    carrier.advance(2)
    assert app.last("/sms-status").form["MessageStatus"] == "undelivered"
    assert app.last("/sms-status").form["ErrorCode"] == "30003"


def test_wrong_credentials_get_twilios_401(carrier, client):
    bad = Client(ACCOUNT_SID, "wrong", http_client=http_client(carrier.base_url))
    with pytest.raises(TwilioRestException) as refused:
        bad.calls.create(to="+8613900000001", from_=FROM, url="http://x/y")
    assert refused.value.status == 401 and refused.value.code == 20003
    raw = requests.get(f"{carrier.base_url}/2010-04-01/Accounts/{ACCOUNT_SID}/Calls.json", timeout=5)
    assert raw.status_code == 401 and raw.json()["code"] == 20003
    with pytest.raises(TwilioRestException) as missing:
        Client("AC" + "1" * 32, AUTH_TOKEN, http_client=http_client(carrier.base_url)).calls("CA1").fetch()
    assert missing.value.status == 401
    assert carrier.calls == []


def test_validation_errors_look_like_twilios(carrier, client):
    with pytest.raises(TwilioRestException) as no_url:
        client.calls.create(to="+8613900000001", from_=FROM, url="not a url")
    assert no_url.value.code == 21205
    with pytest.raises(TwilioRestException) as no_body:
        client.messages.create(to="+8613900000001", from_=FROM, body="")
    assert no_body.value.code == 21602


def test_the_app_can_call_the_api_from_inside_a_webhook(app, carrier, client):
    """The carrier is busy waiting for the webhook: the REST request is run right after it."""

    def voice(hit):
        client.calls.create(to="client:agent7", from_=FROM, twiml="<Response><Say>New caller</Say></Response>")
        return '<Response><Enqueue waitUrl="">cardio</Enqueue></Response>'

    app.on("/voice", voice)
    caller = carrier.dial(to=HOTLINE)
    assert caller.waiting_for == "queue"
    agent = carrier.ringing("client:agent7")
    assert agent.direction == "outbound-api"
    agent.answer()
    assert agent.take_text() == "New caller"


def test_an_outbound_call_answered_by_a_person_who_presses_keys(app, carrier, client):
    carrier.set_endpoint("+8613900000005", "answer", after=4)
    app.twiml("/confirm", '<Gather numDigits="1" action="/confirmed"><Say>Press 1 to confirm</Say></Gather>')
    app.twiml("/confirmed", "<Say>Confirmed</Say>")
    app.on("/broken", "x", status=500)
    created = client.calls.create(
        to="+8613900000005",
        from_=FROM,
        url=app.url("/broken"),
        fallback_url=app.url("/confirm"),
        status_callback=app.url("/events"),
    )
    call = carrier.get_call(created.sid)
    assert call.status == "ringing"
    call.wait(4)
    assert call.waiting_for == "gather" and call.errors == [11200]
    call.press("1")
    assert call.take_text().endswith("Confirmed") and call.status == "completed"
    done = app.last("/events").form
    assert done["CallStatus"] == "completed" and done["Direction"] == "outbound-api" and done["SequenceNumber"] == "0"


def test_an_agent_called_through_rest_takes_the_caller_waiting_in_a_menu_on_hold(app, carrier, client):
    app.twiml("/voice", '<Enqueue waitUrl="/hold" action="/after-queue">cardio</Enqueue>')
    app.twiml("/hold", '<Gather numDigits="1" action="/hold-key"><Say>Press 1 for a call back</Say></Gather>')
    app.twiml("/agent", '<Dial action="/agent-done"><Queue url="/whisper-to-caller">cardio</Queue></Dial>')
    app.twiml("/whisper-to-caller", "<Say>A nurse will speak to you now</Say>")
    app.twiml("/after-queue", "<Say>Goodbye</Say>")
    caller = carrier.dial(to=HOTLINE)
    assert caller.waiting_for == "gather" and caller.queue == "cardio"
    created = client.calls.create(to="client:agent7", from_=FROM, url=app.url("/agent"))
    agent = carrier.ringing("client:agent7")
    assert agent.sid == created.sid
    agent.answer()
    assert agent.bridged_with is caller and caller.waiting_for == "bridge" and caller.gather is None
    assert caller.take_text().endswith("A nurse will speak to you now")
    caller.wait(90)
    caller.hangup()
    agent.wait(0)
    done = app.last("/agent-done").form
    assert done["DialCallStatus"] == "completed" and done["DialCallDuration"] == "90"
    assert app.last("/after-queue").form["QueueResult"] == "bridged"
    assert agent.status == "completed"  # its TwiML ran out after the Dial's action


def test_the_calls_list_filters_by_start_time_as_twilio_does(app, carrier, client):
    from datetime import timedelta

    app.twiml("/hello", "<Say>Hello</Say>")
    carrier.set_endpoint("+8613900000001", "answer")
    carrier.set_endpoint("+8613900000002", "answer")
    early = client.calls.create(to="+8613900000001", from_=FROM, url=app.url("/hello"))
    carrier.advance(3600)
    late = client.calls.create(to="+8613900000002", from_=FROM, url=app.url("/hello"))
    carrier.advance(5)
    started = carrier.clock.at(carrier.get_call(late.sid).answered_at)
    # twilio-python sends a datetime as StartTime>=... in ISO 8601, a date as YYYY-MM-DD.
    after = client.calls.list(start_time_after=started - timedelta(minutes=1))
    assert [c.sid for c in after] == [late.sid]
    before = client.calls.list(start_time_before=started - timedelta(minutes=1))
    assert [c.sid for c in before] == [early.sid]
    on_the_day = {c.sid for c in client.calls.list(start_time=started.date())}
    assert late.sid in on_the_day and on_the_day <= {early.sid, late.sid}


def hotline_calls(app, carrier, count: int, seconds: int = 30) -> list:
    """`count` whole calls in to the hotline, one after the other, each `seconds` long."""
    app.twiml("/voice", '<Enqueue waitUrl="">cardio</Enqueue>')  # the caller waits until hanging up
    placed = []
    for n in range(count):
        call = carrier.dial(to=HOTLINE, from_=f"+86138001380{n:02d}")
        call.wait(seconds)
        call.hangup()
        carrier.advance(60)
        placed.append(call)
    return placed


def test_the_calls_list_pages_as_twilio_does_and_twilio_python_walks_every_page(app, carrier, client):
    placed = hotline_calls(app, carrier, 5)
    newest_first = [call.sid for call in reversed(placed)]
    # twilio-python follows next_page_uri until there is none: three pages of two.
    assert [c.sid for c in client.calls.list(page_size=2)] == newest_first
    assert [c.sid for c in client.calls.list(limit=3, page_size=2)] == newest_first[:3]
    first = client.calls.page(page_size=2)
    assert [c.sid for c in first] == newest_first[:2]
    raw = first._payload
    assert (raw["page"], raw["page_size"], raw["start"], raw["end"], raw["previous_page_uri"]) == (0, 2, 0, 1, None)
    assert raw["first_page_uri"].endswith("/Calls.json?PageSize=2&Page=0")
    assert raw["next_page_uri"].endswith(f"/Calls.json?PageSize=2&Page=1&PageToken=PA{newest_first[1]}")
    # A call placed meanwhile does not shift the pages being walked: the token is a place.
    hotline_calls(app, carrier, 1)
    second = first.next_page()
    assert [c.sid for c in second] == newest_first[2:4]
    assert (second._payload["page"], second._payload["start"], second._payload["end"]) == (1, 2, 3)
    last = second.next_page()
    assert [c.sid for c in last] == newest_first[4:] and last.next_page() is None
    assert [c.sid for c in last.previous_page()] == newest_first[2:4]


def test_the_calls_list_keeps_its_filters_on_every_page_and_refuses_pages_over_1000(app, carrier, client):
    placed = hotline_calls(app, carrier, 3)
    carrier.set_endpoint("+8613900000001", "busy")
    client.calls.create(to="+8613900000001", from_=FROM, url=app.url("/hello"))
    carrier.advance(5)
    completed = client.calls.page(to=HOTLINE, status="completed", page_size=1)
    assert "To=%2B861065281234&Status=completed&PageSize=1&Page=1&PageToken=PA" in completed.next_page_url
    walked = client.calls.list(to=HOTLINE, status="completed", page_size=1)
    assert [c.sid for c in walked] == [call.sid for call in reversed(placed)]
    assert {c.status for c in client.calls.list(status="busy")} == {"busy"}
    with pytest.raises(TwilioException) as too_large:  # twilio-python's answer to a list's error
        client.calls.list(page_size=1001)
    assert "HTTP 400" in str(too_large.value) and '"code": 20007' in str(too_large.value)


def test_the_calls_list_filters_by_end_time_and_leaves_out_calls_not_ended(app, carrier, client):
    from datetime import timedelta

    early, late = hotline_calls(app, carrier, 2, seconds=600)
    going_on = carrier.dial(to=HOTLINE, from_="+8613800138099")
    assert going_on.status == "in-progress"
    ended = carrier.clock.at(late.ended_at)
    after = client.calls.list(end_time_after=ended - timedelta(seconds=1))
    assert [c.sid for c in after] == [late.sid]  # not the call going on: it has no end yet
    before = client.calls.list(end_time_before=ended - timedelta(seconds=1))
    assert [c.sid for c in before] == [early.sid]
    on_the_day = {c.sid for c in client.calls.list(end_time=ended.date())}
    assert late.sid in on_the_day and going_on.sid not in on_the_day
    (listed,) = after
    assert (listed.status, listed.direction, listed.to, listed.duration) == ("completed", "inbound", HOTLINE, "600")
    assert listed.end_time == ended and listed.start_time == carrier.clock.at(late.answered_at)
