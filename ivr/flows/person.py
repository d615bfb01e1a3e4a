"""Reaching a person.  Until the agent seats land (a later issue), '0' rings the
operator number in config during opening hours; out of hours the caller hears
the hours and a goodbye."""

from twilio.twiml.voice_response import VoiceResponse

from ivr.agents.hours import holiday, is_open
from ivr.dialogue import MAIN_MENU, Conversation, Line, Target, step
from ivr.speaking import key_name


@step("person", "transfer")
def transfer(conversation: Conversation, *preamble: Line) -> VoiceResponse:
    seats = conversation.settings.seats
    if not is_open(seats, conversation.now):
        return closed(conversation, *preamble)
    conversation.event("transfer", to="operator")
    response = VoiceResponse()
    for line in [*conversation.preamble, *preamble, conversation.line("connecting")]:
        conversation.say(response, line.text, line.lang)
    response.dial(
        seats.operator_number,
        action=conversation.url(Target("person", "after")),
        method="POST",
        timeout=seats.dial_timeout_seconds,
    )
    return response


@step("person", "give_up")
def give_up(conversation: Conversation) -> VoiceResponse:
    """After too many failed tries in a menu."""
    return transfer(conversation, conversation.line("give_up_transfer"))


def closed(conversation: Conversation, *preamble: Line) -> VoiceResponse:
    seats = conversation.settings.seats
    day_off = holiday(seats, conversation.now)
    lines = [*conversation.preamble, *preamble]
    if day_off is not None:
        lines.append(conversation.line("closed_holiday", holiday=day_off(conversation.lang)))
    else:
        lines.append(conversation.line("closed"))
    lines.append(Line(seats.hours_spoken(conversation.lang), conversation.lang))
    conversation.event("closed")
    return goodbye(conversation, *lines)


@step("person", "goodbye")
def goodbye(conversation: Conversation, *lines: Line) -> VoiceResponse:
    response = VoiceResponse()
    for line in [*lines, conversation.line("goodbye")]:
        conversation.say(response, line.text, line.lang)
    response.hangup()
    return response


@step("person", "after")
def after(conversation: Conversation) -> VoiceResponse:
    """The <Dial> to the operator ended: they talked (the call is over), or nobody answered."""
    if conversation.form.get("DialCallStatus") in ("completed", "answered"):
        response = VoiceResponse()
        response.hangup()
        return response
    back_key = key_name(conversation.settings.dialogue.back_key, conversation.lang)
    return conversation.menu(
        [conversation.line("nobody_answered"), conversation.t("main_menu_option", key=back_key)],
        back=MAIN_MENU,
        give_up=Target("person", "goodbye"),
    )
