"""<Record>, and status callbacks: events, sequence numbers, duplicates, disorder."""

from email.utils import parsedate_to_datetime

from twilio.request_validator import RequestValidator

from .conftest import AUTH_TOKEN, HOTLINE


def record(app, carrier, attrs='action="/saved"'):
    app.twiml("/voice", f"<Say>Leave a message</Say><Record {attrs}/><Say>Nothing recorded</Say>")
    app.twiml("/saved", "<Say>Saved</Say>")
    return carrier.dial(to=HOTLINE)


def test_a_spoken_message_ended_by_a_key(app, carrier):
    call = record(app, carrier, 'action="/saved" recordingStatusCallback="/rec-status"')
    assert call.waiting_for == "record" and call.heard[-1].text == "beep"
    call.speak("Please call me back about my appointment")  # 7 words: 2.8 s
    call.press("#")
    form = app.last("/saved").form
    assert form["Digits"] == "#" and form["RecordingDuration"] == "3" and form["RecordingSid"].startswith("RE")
    recording = carrier.recordings[form["RecordingSid"]]
    assert form["RecordingUrl"] == recording.url == carrier.recording_url(recording.sid)
    assert recording.text == "Please call me back about my appointment" and call.recordings == [recording]
    status = app.last("/rec-status").form
    assert status["RecordingStatus"] == "completed" and status["RecordingSid"] == recording.sid
    assert status["CallSid"] == call.sid and status["RecordingChannels"] == "1"
    assert call.take_text().endswith("Saved")


def test_silence_after_speech_ends_the_recording(app, carrier):
    call = record(app, carrier, 'action="/saved" timeout="3" finishOnKey=""')
    call.press("1")  # no finish keys: a key is just noise
    call.speak("Hello")
    call.silence()
    form = app.last("/saved").form
    assert "Digits" not in form and form["RecordingDuration"] == "1"  # trimmed to the half-second of speech


def test_an_empty_recording_falls_through_without_the_action(app, carrier):
    call = record(
        app,
        carrier,
        'action="/saved" recordingStatusCallback="/rec-status" recordingStatusCallbackEvent="completed absent"',
    )
    call.silence()
    assert app.to("/saved") == [] and call.take_text().endswith("Nothing recorded")
    assert app.last("/rec-status").form["RecordingStatus"] == "absent"


def test_max_length_and_hangup(app, carrier):
    call = record(app, carrier, 'action="/saved" maxLength="4" playBeep="false"')
    assert call.heard[-1].text == "Leave a message"
    call.speak("one two three four five six seven eight nine ten")  # 4 s of it fit
    assert app.last("/saved").form["RecordingDuration"] == "4"
    call = record(app, carrier)
    call.speak("I have to go")
    call.hangup()
    form = app.last("/saved").form
    assert form["Digits"] == "hangup" and form["CallStatus"] == "completed"


def test_the_recording_url_is_served(app, carrier):
    import requests

    base = carrier.serve()
    call = record(app, carrier)
    call.speak("hello there")
    call.press("1")
    url = app.last("/saved").form["RecordingUrl"]
    assert url.startswith(base)
    audio = requests.get(url, timeout=5)
    assert audio.status_code == 200 and audio.content[:4] == b"RIFF"
    meta = requests.get(url + ".json", auth=(carrier.account_sid, carrier.auth_token), timeout=5).json()
    assert meta["call_sid"] == call.sid and meta["duration"] == "1"


# ---- status callbacks -----------------------------------------------------------------------------


def test_configured_events_arrive_with_sequence_numbers_and_timestamps(app, carrier):
    carrier.add_number(
        "+861000000009",
        voice_url=app.url("/voice"),
        status_callback=app.url("/events"),
        status_events=("ringing", "answered", "completed"),
    )
    app.twiml("/voice", '<Say>Hello</Say><Pause length="10"/>')
    call = carrier.dial(to="+861000000009")
    hits = app.to("/events")
    assert [(h.form["CallStatus"], h.form["SequenceNumber"]) for h in hits] == [
        ("ringing", "0"),
        ("in-progress", "1"),
        ("completed", "2"),
    ]
    done = hits[-1].form
    assert done["CallbackSource"] == "call-progress-events" and done["CallDuration"] == "11" and done["Duration"] == "1"
    assert done["SipResponseCode"] == "200"
    stamps = [parsedate_to_datetime(h.form["Timestamp"]) for h in hits]
    assert (stamps[-1] - stamps[0]).total_seconds() == int(call.ended_at) == 10  # RFC 2822 has whole seconds
    for hit in hits:
        assert RequestValidator(AUTH_TOKEN).validate(hit.url, hit.form, hit.headers["X-Twilio-Signature"])


def test_a_callback_can_be_posted_again_identically(app, carrier):
    app.twiml("/voice", "<Say>Hello</Say>")
    call = carrier.dial(to=HOTLINE)
    delivery = carrier.repost_status(call, times=3)
    hits = app.to("/status")
    assert len(hits) == 4 and all(h.form == hits[0].form for h in hits)
    assert len({h.headers["X-Twilio-Signature"] for h in hits}) == 1
    assert delivery.responses == [200, 200, 200, 200] and delivery.status == "completed"


def test_callbacks_can_be_held_and_delivered_out_of_order(app, carrier):
    carrier.add_number(
        "+861000000010",
        voice_url=app.url("/voice"),
        status_callback=app.url("/events"),
        status_events=("ringing", "answered", "completed"),
    )
    app.twiml("/voice", "<Say>Hello</Say>")
    carrier.hold_status_callbacks()
    call = carrier.dial(to="+861000000010")
    assert app.to("/events") == [] and len(carrier.held_status_callbacks) == 3
    carrier.release_status_callbacks("reverse")
    assert [h.form["SequenceNumber"] for h in app.to("/events")] == ["2", "1", "0"]
    carrier.deliver_callbacks([call.deliveries[1], call.deliveries[1]])
    assert [h.form["SequenceNumber"] for h in app.to("/events")][-2:] == ["1", "1"]
    carrier.repost_status(call.sid, sequence=0)
    assert app.last("/events").form["CallStatus"] == "ringing"


def test_a_failing_status_callback_is_warning_15003(app, carrier):
    app.twiml("/voice", "<Say>Hello</Say>")
    app.on("/status", "no", status=500)
    call = carrier.dial(to=HOTLINE)
    assert call.errors == [15003] and call.status == "completed"
