"""The one catalogue of what the hotline says and texts (wording/prompts.py): every line
in both languages, and every line a valid format string."""

from __future__ import annotations

import string

import pytest

from wording import prompts

CATALOGUES = {
    name: getattr(prompts, name)
    for name in ("PROMPTS", "REMINDER_CALL", "FOLLOWUP_CALL", "SURVEY", "SMS", "AFTERCARE_SMS", "TITLES")
}


@pytest.mark.parametrize("name", CATALOGUES)
def test_every_line_is_in_mandarin_and_english(name):
    for key, line in CATALOGUES[name].items():
        assert set(line) == {"zh", "en"}, (name, key)
        for lang, text in line.items():
            wordings = list(text.forms.values()) if isinstance(text, prompts.Plural) else [text]
            if isinstance(text, prompts.Plural):
                assert "other" in text.forms and set(text.forms) <= CLDR_CATEGORIES, (name, key, lang)
            for wording in wordings:
                assert wording.strip(), (name, key, lang)
                list(string.Formatter().parse(wording))  # a stray brace raises here


CLDR_CATEGORIES = {"zero", "one", "two", "few", "many", "other"}


@pytest.mark.parametrize(
    ("count", "said"),
    [
        (1, "You have 1 upcoming appointment:"),
        (2, "You have 2 upcoming appointments:"),
        (0, "You have 0 upcoming appointments:"),
    ],
)
def test_a_number_of_things_is_worded_for_the_number(count, said):
    # Issue 22, 21: "You have 1 upcoming appointments".
    assert prompts.t("appointments_intro", "en", count=count) == said
    assert prompts.t("appointments_intro", "zh", count=count) == f"您有{count}个预约："
    assert prompts.t("queue_estimate", "en", minutes=1) == "Your estimated wait is about 1 minute."
    assert prompts.t("too_late_to_change", "en", hours=1.5).startswith(
        "Your appointment starts in less than 1.5 hours,"
    )


def test_every_line_with_a_number_of_things_in_english_is_a_plural():
    """An English line that says '{n} minutes' (days, places, ...) must say '1 minute' for one."""
    units = ("minutes", "days", "hours", "seconds", "places", "appointments", "doctors", "questions")
    for name, catalogue in CATALOGUES.items():
        for key, line in catalogue.items():
            english = line.get("en")
            assert not (isinstance(english, str) and any(f"}} {unit}" in english for unit in units)), (
                f"{name}.{key} says a number of things without a plural: {english}"
            )
