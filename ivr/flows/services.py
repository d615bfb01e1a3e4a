"""Featured services: a paged list, then one service read out."""

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import Conversation, Target, paged_choices, step
from records.models import localized

SERVICES = Target("services", "start")


@step("services", "start")
def services(conversation: Conversation, page: str = "0") -> VoiceResponse:
    lang = conversation.lang
    choices, lines = paged_choices(
        conversation,
        conversation.directory.services,
        conversation.int_arg(page),
        list_target=SERVICES,
        target_of=lambda s: Target("services", "detail", {"code": s.code}),
        label_of=lambda s, key: conversation.t("option", label=localized(s, "name", lang), key=key),
        phrases_of=lambda s: (s.name_zh, s.name_en),
    )
    return conversation.menu([conversation.t("services_intro"), *lines], choices)


@step("services", "detail")
def service(conversation: Conversation, code: str = "") -> VoiceResponse:
    found = conversation.directory.service(code)
    if found is None:
        return conversation.go(SERVICES)
    lang = conversation.lang
    stop = "。" if lang == "zh" else ". "
    return conversation.menu(
        [localized(found, "name", lang) + stop + localized(found, "description", lang)], back=SERVICES
    )
