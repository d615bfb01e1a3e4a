"""The hospital introduction (its text is in config.yaml), then its featured services on 1
(one main-menu option for both: the main menu keeps to five)."""

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import Choice, Conversation, step
from ivr.flows.services import SERVICES


@step("introduction", "start")
def introduction(conversation: Conversation) -> VoiceResponse:
    text = conversation.settings.hospital.introduction(conversation.lang)
    services = Choice(
        SERVICES, "1", conversation.t("services_option", key="1"), ("特色服务", "特色", "featured services")
    )
    return conversation.menu([text], [services])
