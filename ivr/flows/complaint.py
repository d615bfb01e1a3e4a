"""The main menu's complaint key: straight to a person at the complaints desk, with the
complaint priority (routing.priorities.complaint)."""

from twilio.twiml.voice_response import VoiceResponse

from ivr.dialogue import Conversation, Target, step


@step("complaint", "start")
def start(conversation: Conversation) -> VoiceResponse:
    queue = conversation.settings.routing.complaint_queue
    conversation.event("to_person", queue=queue)
    return conversation.go(Target("queue", "join", {"q": queue}))
