"""The webhook path's shortcuts (issue 17's CPU per request) give what the library calls they
replace give, for any input: the TwiML text (ivr/twiml.py against twilio's `str()`), the
form's fields (ivr/security.form_fields against parse_qsl), the signature (against twilio's
RequestValidator.validate), a step's URL query (ivr/dialogue.query against urlencode), a
menu's two URLs (Conversation._step_urls against Conversation.url)."""

from __future__ import annotations

import copy
from urllib.parse import parse_qsl, urlencode

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from twilio.request_validator import RequestValidator
from twilio.twiml import GenericNode
from twilio.twiml.voice_response import VoiceResponse
from werkzeug.datastructures import MultiDict

from ivr import twiml
from ivr.dialogue import Conversation, Target, query
from ivr.security import _Signed, _signs, form_fields

TEXT = st.text(alphabet=st.sampled_from(list("ab <>&\"'\n\r\t=+%;|中文é\x01\x00") + ["\ud800"]), max_size=8)
NAMES = st.sampled_from(["Say", "Gather", "Redirect", "Hangup", "X", "{urn:x}Y", "a:b"])
ATTRIBUTE_NAMES = st.sampled_from(["a_b", "c", "for_", "xml_lang", "action", "{urn:x}z"])
ATTRIBUTE_VALUES = st.one_of(st.none(), st.booleans(), st.integers(-5, 5), TEXT)
VALUES = st.one_of(st.none(), TEXT, st.dictionaries(TEXT, TEXT, max_size=2), st.integers(0, 3))


def nodes(depth: int = 0):
    children = st.lists(st.one_of(TEXT, nodes(depth + 1)), max_size=3) if depth < 3 else st.just([])
    return st.builds(_node, NAMES, VALUES, st.dictionaries(ATTRIBUTE_NAMES, ATTRIBUTE_VALUES, max_size=3), children)


def _node(name, value, attributes, children):
    node = GenericNode(name, value, **attributes)
    node.verbs.extend(children)
    return node


def _twilio(response) -> bytes | type:
    try:
        return str(response).encode("utf-8")
    except Exception as error:  # noqa: BLE001  (a tree twilio cannot write: the same error here)
        return type(error)


@settings(max_examples=600, deadline=None, suppress_health_check=list(HealthCheck))
@given(st.lists(st.one_of(TEXT, nodes()), max_size=4))
def test_twiml_text_is_twilios_byte_for_byte(verbs):
    response = VoiceResponse()
    response.verbs.extend(verbs)
    expected = _twilio(copy.deepcopy(response))
    try:
        written: bytes | type = twiml.utf8(response)
    except Exception as error:  # noqa: BLE001
        written = type(error)
    assert written == expected


def test_a_menu_is_written_as_twilio_writes_it():
    response = VoiceResponse()
    gather = response.gather(input="dtmf speech", action="https://h.example/ivr/menu/main?f=0&lang=zh", num_digits=1)
    gather.say("您好，欢迎致电<医院>。", voice="Polly.Zhiyu-Neural", language="cmn-CN")
    response.redirect("https://h.example/ivr/menu/main?f=0&lang=zh&silence=1", method="POST")
    response.hangup()
    assert twiml.utf8(response) == str(response).encode("utf-8")


FORM_PARTS = st.sampled_from(["a", "=", "&", "+", "%", "%2B", "%e4%b8", "%ad", "%zz", " ", "中", ";"])


@settings(max_examples=800, deadline=None)
@given(st.lists(FORM_PARTS, max_size=12).map("".join))
def test_form_fields_are_parse_qsls(body):
    assert form_fields(body) == parse_qsl(body, keep_blank_values=True)


FIELD_TEXT = st.text(alphabet=st.sampled_from(list("ab <>&\"'\n=+%;|中文é\x00")), max_size=8)
FIELDS = st.lists(st.tuples(st.sampled_from(["CallSid", "Digits", "From", "x"]), FIELD_TEXT), max_size=6)


@settings(max_examples=500, deadline=None)
@given(FIELDS, st.sampled_from(["https://h.example/ivr/voice", "https://h.example:443/ivr/a?b=1", "http://h:8080/"]))
def test_the_signature_check_agrees_with_twilios(fields, url):
    validator = RequestValidator("token")
    form = MultiDict(fields)
    signature = validator.compute_signature(url, form)
    for signed in (_Signed.of(fields), _Signed.of(form)):
        assert _signs("token", url, signed, signature) == validator.validate(url, form, signature)
        assert not _signs("token", url, signed, ("B" if signature[0] == "A" else "A") + signature[1:])


URL_TEXT = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), max_size=8)
ARGS = st.dictionaries(URL_TEXT, st.one_of(URL_TEXT, st.integers()), max_size=5)


@settings(max_examples=1_000, deadline=None)
@given(ARGS)
def test_a_steps_query_is_urlencodes(args):
    assert query(args) == urlencode(sorted(args.items()))


STEP_ARGS = st.dictionaries(
    st.sampled_from(["code", "page", "f", "lang", "silence", "back", "zz"]), URL_TEXT, max_size=4
)
TRAILS = st.lists(st.builds(Target, st.sampled_from(["menu", "departments"]), st.sampled_from(["main", "detail"]),
                            STEP_ARGS), max_size=3).map(tuple)  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(STEP_ARGS, TRAILS, st.sampled_from(["zh", "en"]), st.integers(0, 3))
def test_a_menus_two_urls_are_urls(args, trail, lang, failures):
    here = Target("departments", "detail", args)
    conversation = Conversation(settings=None, db_source=None, calls=None, call_sid="CA1", lang=lang,  # type: ignore[arg-type]
                                now=None, base_url="https://h.example", here=here, came_from=trail)  # fmt: skip
    assert conversation._step_urls(failures) == (
        conversation.url(here, f=failures),
        conversation.url(here, f=failures, silence=1),
    )
