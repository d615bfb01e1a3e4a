"""Reading TwiML the way the carrier does, for assertions on structure and speech."""

from __future__ import annotations

import xml.etree.ElementTree as ET

# Every verb and noun Twilio's voice TwiML knows (twilio-python's voice_response).
TWILIO_ELEMENTS = {
    "Response",
    "Say",
    "Play",
    "Pause",
    "Gather",
    "Redirect",
    "Hangup",
    "Reject",
    "Enqueue",
    "Leave",
    "Dial",
    "Number",
    "Client",
    "Queue",
    "Conference",
    "Sip",
    "Record",
    "Sms",
    "Connect",
    "Stream",
    "Task",
    "Identity",
    "Parameter",
    "Refer",
    "Prompt",
    "Pay",
    "Echo",
    "Stop",
    "Start",
    "Siprec",
}


def parse(xml: str | bytes) -> ET.Element:
    root = ET.fromstring(xml)
    assert root.tag == "Response", f"root is <{root.tag}>, not <Response>"
    unknown = {element.tag for element in root.iter()} - TWILIO_ELEMENTS
    assert not unknown, f"not TwiML: {unknown}"
    return root


def spoken(root: ET.Element) -> str:
    """Everything <Say> says, in order, as one text."""
    return " ".join((say.text or "").strip() for say in root.iter("Say"))


def verbs(root: ET.Element) -> list[str]:
    return [child.tag for child in root]
