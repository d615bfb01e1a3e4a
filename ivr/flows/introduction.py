"""The hospital introduction (its text is in config.yaml)."""

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import Conversation, step


@step("introduction", "start")
def introduction(conversation: Conversation) -> VoiceResponse:
    text = conversation.settings.hospital.introduction(conversation.lang)
    return conversation.menu([text])
