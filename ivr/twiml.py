"""A webhook's TwiML as bytes: the text twilio's `str(response)` gives, written straight from
twilio's nodes.

twilio's VoiceResponse keeps an answer as a tree of its own nodes; `str()` copies that tree
into an xml.etree tree and has ElementTree write it (looking for namespaces in every node,
through a TextIOWrapper over a BytesIO): some 5 % of a webhook's CPU (issue 17).  Here the
same text is written from twilio's nodes with ElementTree's own escaping.  A tree holding
anything else than what twilio's builders put there (a node of another kind, text that is
not a string, a namespaced name, a character UTF-8 cannot encode) is written by twilio, so
the answer is always twilio's, byte for byte (tests/test_webhook_shortcuts.py)."""

from __future__ import annotations

import json
from xml.etree.ElementTree import _escape_attrib, _escape_cdata  # type: ignore[attr-defined]

from twilio.twiml import TwiML

DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


class _Unusual(Exception):
    """Something in the tree that only twilio's own writer should handle."""


def utf8(response: TwiML) -> bytes:
    try:
        parts = [DECLARATION]
        _write(response, parts)
        return "".join(parts).encode("utf-8")
    except (_Unusual, UnicodeEncodeError):
        return str(response).encode("utf-8")


def _write(node: TwiML, parts: list[str]) -> None:
    """What twilio's TwiML.xml() builds and ElementTree writes (short empty elements, the
    attributes in twilio's sorted order, text before the first child, each string after a
    child as that child's tail)."""
    name = node.name
    if type(node).xml is not TwiML.xml or not isinstance(name, str) or name[:1] == "{":
        raise _Unusual
    parts.append("<" + name)
    attributes = node.attrs
    for key in sorted(attributes):
        value = attributes[key]
        if not isinstance(key, str) or key[:1] == "{":
            raise _Unusual
        value = str(value).lower() if isinstance(value, bool) else str(value)
        parts.append(f' {key}="{_escape_attrib(value)}"')
    text = None
    if node.value:
        if isinstance(node.value, dict):
            node.value = json.dumps(node.value)  # as twilio does
        text = node.value
    children: list[list] = []  # [node, tail]
    for verb in node.verbs:
        if isinstance(verb, str):
            if children:
                children[-1][1] = verb
            else:
                text = verb
        else:
            children.append([verb, None])
    if not (text or children):
        parts.append(" />")
        return
    parts.append(">")
    if text:
        if not isinstance(text, str):
            raise _Unusual
        parts.append(_escape_cdata(text))
    for child, tail in children:
        _write(child, parts)
        if tail:
            parts.append(_escape_cdata(tail))
    parts.append(f"</{name}>")
