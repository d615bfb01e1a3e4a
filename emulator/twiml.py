"""TwiML parsing and validation, and how long things take to say.

Parsing follows Twilio's rules: names are case-sensitive, the root must be
<Response>, a malformed document is error 12100, and an unknown verb or
attribute (or a verb nested where Twilio does not allow it) is warning 12200:
the offending element or attribute is dropped and the rest still runs.
"""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass, field

# Error and warning codes, as Twilio's debugger names them.
HTTP_RETRIEVAL_FAILURE = 11200
HTTP_CONNECTION_FAILURE = 11205
TOO_MANY_REDIRECTS = 11215
INVALID_URL = 11100
DOCUMENT_PARSE_FAILURE = 12100
SCHEMA_WARNING = 12200
INVALID_CONTENT_TYPE = 12300
CALLBACK_FAILURE = 15003

_CALLBACK = {"statusCallback", "statusCallbackEvent", "statusCallbackMethod"}
_RECORDING_CALLBACK = {"recordingStatusCallback", "recordingStatusCallbackMethod", "recordingStatusCallbackEvent"}


@dataclass(frozen=True)
class VerbSpec:
    attrs: frozenset[str]
    children: frozenset[str] = frozenset()
    # Children whose content we do not interpret but which are legal (SSML, <Task>...).
    opaque_children: bool = False


def _spec(attrs: set[str] | frozenset[str], children: set[str] | None = None, opaque: bool = False) -> VerbSpec:
    return VerbSpec(frozenset(attrs), frozenset(children or ()), opaque)


# The attributes Twilio documents for each verb and noun this emulator knows.
VERBS: dict[str, VerbSpec] = {
    "Say": _spec({"voice", "language", "loop"}, opaque=True),  # SSML children are fine
    "Play": _spec({"loop", "digits"}),
    "Pause": _spec({"length"}),
    "Gather": _spec(
        {
            "input",
            "action",
            "method",
            "timeout",
            "speechTimeout",
            "maxSpeechTime",
            "numDigits",
            "finishOnKey",
            "actionOnEmptyResult",
            "language",
            "hints",
            "partialResultCallback",
            "partialResultCallbackMethod",
            "profanityFilter",
            "speechModel",
            "enhanced",
            "bargeIn",
            "debug",
        },
        {"Say", "Play", "Pause"},
    ),
    "Redirect": _spec({"method"}),
    "Hangup": _spec(set()),
    "Reject": _spec({"reason"}),
    "Enqueue": _spec({"action", "method", "waitUrl", "waitUrlMethod", "workflowSid", "maxQueueSize"}, {"Task"}, True),
    "Leave": _spec(set()),
    "Dial": _spec(
        {
            "action",
            "method",
            "timeout",
            "hangupOnStar",
            "timeLimit",
            "callerId",
            "record",
            "trim",
            "answerOnBridge",
            "ringTone",
            "recordingTrack",
            "sequential",
            "referUrl",
            "referMethod",
            "events",
            "callReason",
        }
        | _RECORDING_CALLBACK,
        {"Number", "Client", "Queue", "Sip", "Conference", "Application", "WhatsApp"},
    ),
    "Record": _spec(
        {
            "action",
            "method",
            "timeout",
            "finishOnKey",
            "maxLength",
            "playBeep",
            "trim",
            "transcribe",
            "transcribeCallback",
            "storageUrl",
            "storageUrlMethod",
        }
        | _RECORDING_CALLBACK,
    ),
}

NOUNS: dict[str, VerbSpec] = {
    "Number": _spec({"sendDigits", "url", "method", "byoc", "machineDetection", "amdStatusCallback"} | _CALLBACK),
    "Client": _spec({"url", "method"} | _CALLBACK, {"Identity", "Parameter"}, True),
    "Queue": _spec({"url", "method", "reservationSid", "postWorkActivitySid"}),
    "Conference": _spec(
        {
            "muted",
            "beep",
            "startConferenceOnEnter",
            "endConferenceOnExit",
            "waitUrl",
            "waitMethod",
            "maxParticipants",
            "record",
            "region",
            "coach",
            "trim",
            "eventCallbackUrl",
            "jitterBufferSize",
            "participantLabel",
            "recordingConfigurationId",
        }
        | _CALLBACK
        | _RECORDING_CALLBACK,
    ),
}

# Real Twilio verbs and nouns this emulator does not execute: they are skipped
# with a note in the log, not reported as schema errors (Twilio accepts them).
UNSUPPORTED = frozenset(
    {"Connect", "Refer", "Sms", "Message", "Start", "Stop", "Pay", "Prompt", "Echo", "Sip", "Application", "WhatsApp"}
)


@dataclass
class Node:
    """One TwiML element after validation."""

    verb: str
    attrs: dict[str, str] = field(default_factory=dict)
    text: str = ""
    children: list[Node] = field(default_factory=list)


@dataclass
class Document:
    """A parsed <Response> and the URL it came from (None for inline TwiML)."""

    url: str | None
    verbs: list[Node]
    warnings: list[str] = field(default_factory=list)


class TwimlError(Exception):
    """The document cannot be used at all (error 12100)."""

    code = DOCUMENT_PARSE_FAILURE


_DOCTYPE = re.compile(rb"<!DOCTYPE", re.IGNORECASE)


def parse(body: bytes | str, url: str | None = None) -> Document:
    """Parse a TwiML document, raising TwimlError for anything Twilio would reject."""
    raw = body.encode("utf-8") if isinstance(body, str) else body
    if not raw.strip():
        raise TwimlError("empty document")
    # The app is ours, but a DTD is how entity-expansion attacks start; Twilio has no use for one.
    if _DOCTYPE.search(raw):
        raise TwimlError("a DOCTYPE is not allowed in TwiML")
    try:
        root = ET.fromstring(raw)
    except ET.ParseError as exc:
        raise TwimlError(f"malformed XML: {exc}") from exc
    if root.tag != "Response":
        raise TwimlError(f"the root element must be <Response>, not <{root.tag}>")
    warnings: list[str] = []
    verbs = []
    for element in root:
        node = _verb(element, warnings)
        if node is not None:
            verbs.append(node)
    return Document(url=url, verbs=verbs, warnings=warnings)


def _verb(element: ET.Element, warnings: list[str]) -> Node | None:
    name = element.tag
    if name in UNSUPPORTED:
        return Node(verb=name, attrs=dict(element.attrib), text=_text(element))
    spec = VERBS.get(name)
    if spec is None:
        warnings.append(f"unknown verb <{name}>")
        return None
    return _node(element, spec, warnings, child_specs=_child_specs(name))


def _child_specs(verb: str) -> dict[str, VerbSpec]:
    if verb == "Gather":
        return {name: VERBS[name] for name in ("Say", "Play", "Pause")}
    if verb == "Dial":
        return NOUNS
    return {}


def _node(element: ET.Element, spec: VerbSpec, warnings: list[str], child_specs: dict[str, VerbSpec]) -> Node:
    name = element.tag
    attrs = {}
    for key, value in element.attrib.items():
        if key in spec.attrs:
            attrs[key] = value
        else:
            warnings.append(f"unknown attribute {key!r} on <{name}>")
    node = Node(verb=name, attrs=attrs, text=_text(element))
    for child in element:
        if child.tag in child_specs:
            node.children.append(_node(child, child_specs[child.tag], warnings, {}))
        elif child.tag in spec.children and child.tag in UNSUPPORTED:
            node.children.append(Node(verb=child.tag, attrs=dict(child.attrib), text=_text(child)))
        elif not (spec.opaque_children and (child.tag in spec.children or not spec.children)):
            warnings.append(f"<{child.tag}> is not allowed inside <{name}>")
    return node


def _text(element: ET.Element) -> str:
    # <Say> may hold SSML (<break/>, <emphasis>...) and <Client> an <Identity>: their words
    # count. Elsewhere only the element's own text does (an <Enqueue>'s <Task> JSON is not its name).
    if element.tag in ("Say", "Client"):
        return " ".join("".join(element.itertext()).split())
    return " ".join((element.text or "").split())


# --- How long things take ---------------------------------------------------------------
# Twilio does not publish TTS durations; these rates make timings (CallDuration,
# QueueTime, DialCallDuration) plausible and, above all, deterministic:
# Latin-script text at 150 words a minute, Chinese/Japanese/Korean at 4 characters a second.
SECONDS_PER_WORD = 0.4
SECONDS_PER_CJK_CHARACTER = 0.25
MIN_UTTERANCE_SECONDS = 0.5
DEFAULT_PLAY_SECONDS = 5.0  # an audio file's length is unknown without fetching it
DTMF_TONE_SECONDS = 0.25  # one <Play digits> tone, gap included
BEEP_SECONDS = 1.0
LOOP_FOREVER = 1000  # loop="0" means "until hang-up", which Twilio caps at 1000 times

_CJK = re.compile(r"[\u3040-\u30ff\u3400-\u4dbf\u4e00-\u9fff\uac00-\ud7af\uf900-\ufaff]")
_WORD = re.compile(r"[^\W_]+", re.UNICODE)


def speaking_seconds(text: str) -> float:
    """Estimated time for TTS (or a caller) to say `text`, rounded to 0.1 s."""
    cjk = len(_CJK.findall(text))
    words = len(_WORD.findall(_CJK.sub(" ", text)))
    if not cjk and not words:
        return 0.0
    seconds = words * SECONDS_PER_WORD + cjk * SECONDS_PER_CJK_CHARACTER
    return round(max(seconds, MIN_UTTERANCE_SECONDS), 1)


def digits_seconds(digits: str) -> float:
    """Duration of <Play digits="...">: 'w' waits 0.5 s, 'W' 1 s, anything else is a tone."""
    total = 0.0
    for ch in digits:
        total += 0.5 if ch == "w" else 1.0 if ch == "W" else DTMF_TONE_SECONDS
    return round(total, 2)
