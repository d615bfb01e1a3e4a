"""<Dial><Conference> and the Conferences / Participants REST resources, driven by the real
twilio-python Client exactly as the hotline drives them."""

import pytest
from twilio.base.exceptions import TwilioRestException
from twilio.rest import Client

from emulator import http_client

from .conftest import ACCOUNT_SID, AUTH_TOKEN, CALLER, HOTLINE

FROM = HOTLINE
ROOM = "CA-room-1"


@pytest.fixture
def client(carrier):
    base = carrier.serve()
    return Client(ACCOUNT_SID, AUTH_TOKEN, http_client=http_client(base))


def join_twiml(attrs: str = "", after: str = "<Say>after the conference</Say>", dial: str = 'action="/left"') -> str:
    return (
        f'<Dial {dial}><Conference statusCallback="/conf-events" '
        f'statusCallbackEvent="start end join leave mute hold modify speaker announcement" {attrs}>'
        f"{ROOM}</Conference></Dial>{after}"
    )


def events(app) -> list[tuple[str, str]]:
    return [(hit.form["StatusCallbackEvent"], hit.form.get("CallSid", "")) for hit in app.to("/conf-events")]


def speech_heard(call) -> list[tuple[str, str]]:
    return [(u.speaker, u.text) for u in call.heard if u.kind == "speech"]


def room_sid(carrier) -> str:
    """Only creating a participant takes a conference's name: the rest needs its SID."""
    return carrier.conference(ROOM).sid


def agent_joins(carrier, client, to="client:agent1", **options):
    created = client.conferences(ROOM).participants.create(from_=FROM, to=to, **options)
    leg = carrier.ringing(to)
    leg.answer()
    return created, leg


def test_a_caller_alone_hears_the_wait_music_until_a_second_participant_starts_the_conference(app, carrier, client):
    app.twiml("/voice", join_twiml())
    caller = carrier.dial(to=HOTLINE)
    assert caller.waiting_for == "conference" and caller.conference == ROOM
    room = carrier.conference(ROOM)
    assert room.status == "init" and room.sid.startswith("CF")
    caller.wait(12)  # Twilio's hold music (5 s a play here) loops while alone
    assert [u.kind for u in caller.take_heard()] == ["play", "play", "play"]
    created, agent = agent_joins(carrier, client)
    assert created.status == "queued" and created.conference_sid == room.sid and created.call_sid == agent.sid
    assert room.status == "in-progress" and agent.waiting_for == "conference"
    caller.wait(30)
    assert [u.kind for u in caller.take_heard()] == ["play"]  # the agent's entry beep; the music stopped
    agent.speak("Hello, this is the nurse")
    caller.speak("Good morning")
    assert speech_heard(caller) == [(agent.sid, "Hello, this is the nurse")]
    assert speech_heard(agent) == [(caller.sid, "Good morning")]
    assert events(app)[:3] == [
        ("participant-join", caller.sid),
        ("participant-join", agent.sid),
        ("conference-start", ""),
    ]
    assert [hit.form["SequenceNumber"] for hit in app.to("/conf-events")] == [
        str(n) for n in range(len(app.to("/conf-events")))
    ]


def test_the_wait_url_document_loops_and_a_moderator_starts_the_conference(app, carrier, client):
    app.twiml("/voice", join_twiml('startConferenceOnEnter="false" waitUrl="/hold-message" waitMethod="POST"'))
    app.twiml("/hold-message", '<Say>Please hold for a nurse</Say><Pause length="3"/>')
    caller = carrier.dial(to=HOTLINE)
    caller.wait(9)
    assert caller.take_text() == "Please hold for a nurse Please hold for a nurse"
    assert app.last("/hold-message").form["CallSid"] == caller.sid
    _, agent = agent_joins(carrier, client, start_conference_on_enter=True)
    assert carrier.conference(ROOM).status == "in-progress"
    caller.wait(20)
    assert caller.take_text() == ""


def test_two_participants_who_may_not_start_it_both_wait(app, carrier, client):
    app.twiml("/voice", join_twiml('startConferenceOnEnter="false" waitUrl=""'))
    caller = carrier.dial(to=HOTLINE)
    _, other = agent_joins(carrier, client, start_conference_on_enter=False)
    assert carrier.conference(ROOM).status == "init"
    other.speak("anyone there?")
    assert speech_heard(caller) == []


def test_hold_plays_the_hold_url_and_nobody_hears_the_held_caller(app, carrier, client):
    app.twiml("/voice", join_twiml())
    app.twiml("/held", "<Say>You are on hold</Say><Play>http://music.example/calm.mp3</Play>")
    caller = carrier.dial(to=HOTLINE)
    _, agent = agent_joins(carrier, client, label="agent")
    caller.take_heard()
    held = (
        client.conferences(carrier.conference(ROOM).sid)
        .participants(caller.sid)
        .update(hold=True, hold_url=app.url("/held"), hold_method="POST")
    )
    assert held.hold is True
    caller.wait(1)
    assert caller.take_text() == "You are on hold"
    caller.speak("hello?")
    agent.speak("just a moment")
    assert speech_heard(agent) == [] and speech_heard(caller) == []
    caller.wait(20)
    assert len(app.to("/held")) >= 3  # requested again each time it played out (3 s + 5 s)
    assert client.conferences(room_sid(carrier)).participants.list(hold=True)[0].call_sid == caller.sid
    client.conferences(room_sid(carrier)).participants(caller.sid).update(hold=False)
    caller.take_heard()
    caller.wait(20)
    assert caller.take_heard() == []
    agent.speak("thank you for waiting")
    assert speech_heard(caller) == [(agent.sid, "thank you for waiting")]
    assert [e for e, _ in events(app) if "hold" in e] == ["participant-hold", "participant-unhold"]
    hold_event = next(
        hit.form for hit in app.to("/conf-events") if hit.form["StatusCallbackEvent"] == "participant-hold"
    )
    assert hold_event["Hold"] == "true" and hold_event["CallSid"] == caller.sid


def test_listen_whisper_and_barge_through_muted_and_coaching(app, carrier, client):
    app.twiml("/voice", join_twiml())
    caller = carrier.dial(to=HOTLINE)
    _, agent = agent_joins(carrier, client, label="agent")
    listen, supervisor = agent_joins(
        carrier, client, to="client:supervisor9", label="supervisor", muted=True, beep="false"
    )
    assert listen.muted is True
    caller.speak("my chest hurts")
    supervisor.speak("(listening only)")
    assert speech_heard(supervisor) == [(caller.sid, "my chest hurts")]
    assert (supervisor.sid, "(listening only)") not in speech_heard(agent) + speech_heard(caller)
    whisper = (
        client.conferences(room_sid(carrier))
        .participants("supervisor")
        .update(muted=False, coaching=True, call_sid_to_coach=agent.sid)
    )
    assert whisper.coaching is True and whisper.call_sid_to_coach == agent.sid
    supervisor.speak("ask about the pain's onset")
    assert speech_heard(agent)[-1] == (supervisor.sid, "ask about the pain's onset")
    assert supervisor.sid not in [speaker for speaker, _ in speech_heard(caller)]
    client.conferences(room_sid(carrier)).participants("supervisor").update(coaching=False)
    supervisor.speak("I am the duty doctor")
    assert speech_heard(caller)[-1] == (supervisor.sid, "I am the duty doctor")
    assert speech_heard(agent)[-1] == (supervisor.sid, "I am the duty doctor")
    kinds = [e for e, sid in events(app) if sid == supervisor.sid]
    assert kinds == [
        "participant-join",
        "participant-unmute",
        "participant-modify",
        "participant-speech-start",
        "participant-speech-stop",
        "participant-modify",
        "participant-speech-start",
        "participant-speech-stop",
    ]


def test_coaching_needs_someone_to_coach(app, carrier, client):
    app.twiml("/voice", join_twiml())
    carrier.dial(to=HOTLINE)
    with pytest.raises(TwilioRestException) as refused:
        client.conferences(ROOM).participants.create(from_=FROM, to="client:supervisor9", coaching=True)
    assert refused.value.status == 400
    with pytest.raises(TwilioRestException) as unknown:
        client.conferences(ROOM).participants.create(
            from_=FROM, to="client:supervisor9", call_sid_to_coach="CA" + "1" * 32
        )
    assert unknown.value.status == 400


def test_a_moderator_leaving_ends_the_conference_and_the_caller_goes_on(app, carrier, client):
    app.twiml("/voice", join_twiml())
    app.twiml("/left", "<Say>The nurse has left</Say>")
    caller = carrier.dial(to=HOTLINE)
    _, agent = agent_joins(carrier, client, end_conference_on_exit=True)
    caller.wait(60)
    agent.hangup()
    room = client.conferences.list(friendly_name=ROOM)[0]
    assert room.status == "completed" and room.reason_conference_ended == "participant-with-end-conference-on-exit-left"
    assert room.call_sid_ending_conference == agent.sid
    assert caller.take_text() == "The nurse has left" and caller.conference is None
    form = app.last("/left").form
    assert form["DialCallStatus"] == "answered" and form["CallStatus"] == "in-progress"
    leave = [hit.form for hit in app.to("/conf-events") if hit.form["StatusCallbackEvent"] == "participant-leave"]
    assert [(f["CallSid"], f["ReasonParticipantLeft"]) for f in leave] == [
        (agent.sid, "participant_hung_up"),
        (caller.sid, "participant_with_end_conference_on_exit_left"),
    ]
    assert events(app)[-1][0] == "conference-end"
    assert app.to("/conf-events")[-1].form["ReasonConferenceEnded"] == "participant-with-end-conference-on-exit-left"
    # The name is free again: a new conference of the same name is another conference.
    again = carrier.dial(to=HOTLINE)
    assert carrier.conference(ROOM).sid != room.sid and again.conference == ROOM


def test_removing_participants_and_ending_the_conference_by_api(app, carrier, client):
    app.twiml("/voice", join_twiml())
    app.twiml("/left", "<Say>back in the menu</Say>")
    caller = carrier.dial(to=HOTLINE)
    _, agent = agent_joins(carrier, client, label="agent")
    _, nurse = agent_joins(carrier, client, to="+861088880000", label="nurse")
    sid = carrier.conference(ROOM).sid
    assert {p.label for p in client.conferences(sid).participants.list()} == {None, "agent", "nurse"}
    assert client.conferences(sid).participants("nurse").fetch().call_sid == nurse.sid
    assert client.conferences(sid).participants("nurse").delete() is True
    assert nurse.status == "completed"  # a participant the API dialled hangs up when removed
    assert {p.call_sid for p in client.conferences(sid).participants.list()} == {caller.sid, agent.sid}
    client.conferences(sid).participants(caller.sid).delete()
    assert caller.take_text().endswith("back in the menu")  # a TwiML participant goes on after its <Dial>
    assert client.conferences(sid).fetch().status == "in-progress"
    updated = client.conferences(sid).update(status="completed")
    assert updated.status == "completed"
    assert (
        agent.status == "completed"
        and client.conferences(sid).fetch().reason_conference_ended == "conference-ended-via-api"
    )
    assert client.conferences.list(status="completed")[0].sid == sid
    with pytest.raises(TwilioRestException) as gone:
        client.conferences(sid).participants(agent.sid).fetch()
    assert gone.value.status == 404


def test_an_unanswered_participant_leaves_with_its_call_status(app, carrier, client):
    app.twiml("/voice", join_twiml())
    caller = carrier.dial(to=HOTLINE)
    carrier.set_endpoint("+861088880000", "busy")
    client.conferences(ROOM).participants.create(
        from_=FROM,
        to="+861088880000",
        label="nurse",
        status_callback=app.url("/nurse-status"),
        status_callback_event=["initiated", "ringing", "answered", "completed"],
    )
    leave = [hit.form for hit in app.to("/conf-events") if hit.form["StatusCallbackEvent"] == "participant-leave"]
    assert leave[0]["ParticipantCallStatus"] == "busy" and leave[0]["ParticipantLabel"] == "nurse"
    assert [hit.form["CallStatus"] for hit in app.to("/nurse-status")] == ["initiated", "ringing", "busy"]
    assert caller.waiting_for == "conference" and carrier.conference(ROOM).status == "init"
    ringing = client.conferences(ROOM).participants.create(from_=FROM, to="client:agent2", timeout=20)
    assert client.conferences(room_sid(carrier)).participants(ringing.call_sid).fetch().status == "ringing"
    caller.wait(25)
    assert carrier.get_call(ringing.call_sid).status == "no-answer"


def test_announcements_to_a_participant_and_to_the_room(app, carrier, client):
    app.twiml("/voice", join_twiml())
    app.twiml("/announce", "<Say>A doctor will join shortly</Say>")
    caller = carrier.dial(to=HOTLINE)
    _, agent = agent_joins(carrier, client)
    caller.take_heard()
    agent.take_heard()
    client.conferences(room_sid(carrier)).participants(caller.sid).update(announce_url=app.url("/announce"))
    assert caller.take_text() == "A doctor will join shortly" and agent.take_text() == ""
    assert "announcement-end" not in [e for e, _ in events(app)]
    caller.wait(3)
    assert "announcement-end" in [e for e, _ in events(app)]
    client.conferences(room_sid(carrier)).update(announce_url=app.url("/announce"))
    assert caller.take_text() == agent.take_text() == "A doctor will join shortly"


def test_a_recorded_conference_and_hang_up_on_star(app, carrier, client):
    app.twiml(
        "/voice",
        join_twiml(
            'record="record-from-start" recordingStatusCallback="/conf-recording"',
            dial='action="/left" hangupOnStar="true"',
        ),
    )
    app.twiml("/left", "<Say>left by the star key</Say>")
    caller = carrier.dial(to=HOTLINE)
    _, agent = agent_joins(carrier, client)
    caller.wait(30)
    caller.press("*")
    assert caller.take_text() == "left by the star key"
    room = carrier.conference(ROOM)
    assert agent.waiting_for == "conference" and room.status == "in-progress"  # the agent stays, alone
    assert app.to("/conf-recording") == []
    agent.wait(5)
    agent.hangup()
    assert room.status == "completed" and room.reason_ended == "last-participant-left"
    form = app.last("/conf-recording").form
    # From the start: 30 s together, 1.6 s while the caller heard the action's <Say>, then 5 s.
    assert form["RecordingDuration"] == "37" and form["RecordingSource"] == "Conference"
    assert form["ConferenceSid"] == room.sid and carrier.recordings[form["RecordingSid"]].conference_sid == room.sid


def test_only_the_events_asked_for_are_posted_and_the_first_callback_wins(app, carrier, client):
    app.twiml(
        "/voice",
        f'<Dial><Conference statusCallback="/conf-events" statusCallbackEvent="join">{ROOM}</Conference></Dial>',
    )
    caller = carrier.dial(to=HOTLINE)
    client.conferences(ROOM).participants.create(
        from_=FROM,
        to="client:agent1",
        conference_status_callback=app.url("/other"),
        conference_status_callback_event=["start", "end", "join", "leave"],
    )
    carrier.ringing("client:agent1").answer()
    caller.hangup()
    assert [e for e, _ in events(app)] == ["participant-join", "participant-join"]
    assert app.to("/other") == []


def test_a_caller_hanging_up_in_a_conference_requests_the_dial_action(app, carrier, client):
    app.twiml("/voice", join_twiml())
    caller = carrier.dial(to=HOTLINE)
    _, agent = agent_joins(carrier, client)
    caller.wait(10)
    caller.hangup()
    form = app.last("/left").form
    assert form["CallStatus"] == "completed" and form["DialCallStatus"] == "answered"
    assert caller.status == "completed" and agent.waiting_for == "conference"  # the agent stays, alone
    assert client.conferences(room_sid(carrier)).participants.list()[0].call_sid == agent.sid
    assert caller.from_ == CALLER
