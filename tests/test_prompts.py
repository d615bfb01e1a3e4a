"""The one catalogue of what the hotline says and texts (ivr/prompts.py): every line
in both languages, and every line a valid format string."""

from __future__ import annotations

import string

import pytest

from ivr import prompts

CATALOGUES = {
    name: getattr(prompts, name)
    for name in ("PROMPTS", "REMINDER_CALL", "FOLLOWUP_CALL", "SURVEY", "SMS", "AFTERCARE_SMS", "TITLES")
}


@pytest.mark.parametrize("name", CATALOGUES)
def test_every_line_is_in_mandarin_and_english(name):
    for key, line in CATALOGUES[name].items():
        assert set(line) == {"zh", "en"}, (name, key)
        assert all(text.strip() for text in line.values()), (name, key)
        for text in line.values():
            list(string.Formatter().parse(text))  # a stray brace raises here

