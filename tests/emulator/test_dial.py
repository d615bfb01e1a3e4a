"""<Dial> to numbers and clients: each endpoint behaviour, the action parameters, bridges."""

import pytest

from .conftest import CALLER, HOTLINE

NURSE = "+861088880000"
DOCTOR = "+861088880001"


def dial(app, carrier, nouns=f"<Number>{NURSE}</Number>", attrs='action="/after"', after="<Say>fell through</Say>"):
    app.twiml("/voice", f"<Say>Connecting</Say><Dial {attrs}>{nouns}</Dial>{after}")
    app.twiml("/after", "<Say>after the dial</Say>")
    return carrier.dial(to=HOTLINE)


def test_an_answering_number_is_bridged_until_someone_hangs_up(app, carrier):
    carrier.set_endpoint(NURSE, "answer")
    call = dial(app, carrier)
    assert call.waiting_for == "bridge"
    leg = call.bridged_with
    assert leg.to == NURSE and leg.from_ == CALLER and leg.direction == "outbound-dial"
    assert leg.parent_sid == call.sid and call.legs == [leg]
    call.wait(42)
    leg.hangup()  # the nurse hangs up: the caller goes on with the action's TwiML
    form = app.last("/after").form
    assert form["DialCallStatus"] == "completed" and form["DialCallSid"] == leg.sid
    assert form["DialCallDuration"] == "42" and form["DialBridged"] == "true" and form["CallStatus"] == "in-progress"
    assert call.take_text().endswith("after the dial") and leg.status == "completed"


@pytest.mark.parametrize(("behaviour", "status"), [("busy", "busy"), ("fail", "failed"), ("no-answer", "no-answer")])
def test_unanswered_dials_report_why(app, carrier, behaviour, status):
    carrier.set_endpoint(NURSE, behaviour)
    call = dial(app, carrier, attrs='action="/after" timeout="20"')
    if behaviour == "no-answer":
        assert call.waiting_for == "dial"  # ringing: the test lets the time pass
        call.wait(20)
    form = app.last("/after").form
    assert form["DialCallStatus"] == status and form["DialBridged"] == "false" and form["DialCallDuration"] == "0"
    assert call.legs[0].status == status


def test_without_action_the_dial_falls_through(app, carrier):
    carrier.set_endpoint(NURSE, "busy")
    call = dial(app, carrier, attrs="")
    assert call.take_text() == "Connecting fell through"


def test_a_bare_number_and_the_caller_id(app, carrier):
    carrier.set_endpoint(NURSE, "answer")
    call = dial(app, carrier, nouns=NURSE, attrs='callerId="+861065280000"')
    assert call.bridged_with.to == NURSE and call.bridged_with.from_ == "+861065280000"


def test_a_client_rings_until_answered_by_hand(app, carrier):
    call = dial(app, carrier, nouns="<Client>agent7</Client>")
    assert call.waiting_for == "dial"
    leg = carrier.ringing("client:agent7")
    assert leg is carrier.ringing("agent7") and leg.status == "ringing" and leg.waiting_for == "answer"
    leg.answer()
    assert call.waiting_for == "bridge" and call.bridged_with is leg
    call.hangup()  # the caller hangs up: the action still hears about it
    form = app.last("/after").form
    assert form["DialCallStatus"] == "completed" and form["CallStatus"] == "completed"
    assert leg.status == "completed" and call.status == "completed"


def test_a_client_who_declines(app, carrier):
    call = dial(app, carrier, nouns="<Client>agent7</Client>")
    carrier.ringing("client:agent7").reject()
    assert app.last("/after").form["DialCallStatus"] == "busy"
    with pytest.raises(LookupError):
        carrier.ringing("client:agent7")
    assert call.take_text().endswith("after the dial")


def test_caller_hanging_up_while_it_rings_cancels_the_dial(app, carrier):
    call = dial(app, carrier, nouns="<Client>agent7</Client>")
    leg = carrier.ringing("client:agent7")
    call.hangup()
    assert app.last("/after").form["DialCallStatus"] == "canceled" and leg.status == "canceled"


def test_several_nouns_ring_at_once_and_the_first_answer_wins(app, carrier):
    carrier.set_endpoint(NURSE, "answer", after=6)
    carrier.set_endpoint(DOCTOR, "answer", after=3)
    call = dial(app, carrier, nouns=f"<Number>{NURSE}</Number><Number>{DOCTOR}</Number><Client>agent7</Client>")
    assert call.waiting_for == "dial" and len(call.legs) == 3
    call.wait(3)
    nurse, doctor, agent = call.legs
    assert call.bridged_with is doctor and nurse.status == "canceled" and agent.status == "canceled"


def test_dial_timeout_gives_no_answer_even_with_a_busy_leg(app, carrier):
    carrier.set_endpoint(NURSE, "busy")
    call = dial(
        app, carrier, nouns=f"<Number>{NURSE}</Number><Client>agent7</Client>", attrs='action="/after" timeout="10"'
    )
    call.wait(10)
    assert app.last("/after").form["DialCallStatus"] == "no-answer"
    assert [leg.status for leg in call.legs] == ["busy", "no-answer"]


def test_time_limit_and_hangup_on_star_end_the_bridge(app, carrier):
    carrier.set_endpoint(NURSE, "answer")
    call = dial(app, carrier, attrs='action="/after" timeLimit="30"')
    call.wait(45)
    assert app.last("/after").form["DialCallDuration"] == "30" and call.legs[0].status == "completed"
    call = dial(app, carrier, attrs='action="/after" hangupOnStar="true"')
    call.wait(5)
    call.press("1")
    assert call.waiting_for == "bridge"  # other keys do nothing
    call.press("*")
    assert app.last("/after").form["DialCallDuration"] == "5" and call.take_text().endswith("after the dial")


def test_answer_on_bridge_keeps_the_caller_ringing_until_the_callee_answers(app, carrier):
    carrier.set_endpoint(NURSE, "answer", after=8)
    app.twiml("/voice", f'<Dial answerOnBridge="true" action="/after">{NURSE}</Dial>')
    call = carrier.dial(to=HOTLINE)
    assert call.status == "ringing" and call.waiting_for == "dial"
    call.wait(8)
    assert call.status == "in-progress" and call.answered_at == 8


def test_the_whisper_url_plays_to_the_callee_before_the_bridge(app, carrier):
    carrier.set_endpoint(NURSE, "answer")
    app.twiml(
        "/whisper", '<Gather numDigits="1" action="/accept"><Say>A caller about cardiology</Say></Gather><Hangup/>'
    )
    app.twiml("/accept", "<Say>Connecting</Say>")
    call = dial(app, carrier, nouns=f'<Number url="/whisper">{NURSE}</Number>')
    leg = call.legs[0]
    assert call.waiting_for == "dial" and leg.waiting_for == "gather"  # the caller waits while the nurse decides
    assert leg.take_text() == "A caller about cardiology"
    whisper = app.last("/whisper").form
    assert whisper["ParentCallSid"] == call.sid and whisper["Direction"] == "outbound-dial"
    leg.press("1")
    assert call.bridged_with is leg
    # A nurse who declines (the whisper hangs up) leaves the Dial completed but not bridged.
    call = dial(app, carrier, nouns=f'<Number url="/whisper">{NURSE}</Number>')
    call.legs[0].silence()
    form = app.last("/after").form
    assert form["DialCallStatus"] == "completed" and form["DialBridged"] == "false"


def test_noun_status_callbacks_and_dial_recording(app, carrier):
    carrier.set_endpoint(NURSE, "answer")
    noun = f'<Number statusCallback="/leg-status" statusCallbackEvent="initiated ringing answered completed">{NURSE}</Number>'
    call = dial(app, carrier, nouns=noun, attrs='action="/after" record="record-from-answer"')
    call.wait(20)
    call.hangup()
    statuses = [(h.form["CallStatus"], h.form["SequenceNumber"]) for h in app.to("/leg-status")]
    assert statuses == [("initiated", "0"), ("ringing", "1"), ("in-progress", "2"), ("completed", "3")]
    form = app.last("/after").form
    assert form["RecordingUrl"].endswith(form["RecordingSid"]) and form["RecordingDuration"] == "20"
    assert carrier.recordings[form["RecordingSid"]].source == "DialVerb"


def test_a_machine_answers_like_a_person_for_a_dial(app, carrier):
    carrier.set_endpoint(NURSE, "machine")
    call = dial(app, carrier)
    assert call.waiting_for == "bridge"
