"""Matching what callers say against names on offer."""

from ivr import speech

DEPARTMENTS = [("CARD", ["心血管内科", "心内科", "Cardiology", "heart"]), ("MED", ["内科"]), ("EYE", ["眼科", "eye"])]


def test_a_name_inside_a_sentence_matches():
    assert speech.best_match("我想问一下心内科在哪里。", DEPARTMENTS) == ["CARD"]


def test_the_longer_name_wins_over_a_name_it_contains():
    assert speech.best_match("心血管内科", DEPARTMENTS) == ["CARD"]


def test_english_is_case_and_punctuation_blind_and_forgives_small_errors():
    assert speech.best_match("Cardiology, please!", DEPARTMENTS) == ["CARD"]
    assert speech.best_match("cardiologie", DEPARTMENTS) == ["CARD"]


def test_nothing_matches_nonsense_or_empty_speech():
    assert speech.best_match("今天天气怎么样", DEPARTMENTS) == []
    assert speech.best_match("", DEPARTMENTS) == []
    assert speech.best_match("\x00\x1b'; DROP TABLE patients;--", DEPARTMENTS) == []


def test_a_tie_returns_every_candidate():
    doctors = [("D1", ["张志远"]), ("D2", ["张志远"])]
    assert speech.best_match("张志远", doctors) == ["D1", "D2"]


def test_full_width_text_is_folded():
    assert speech.normalize("ＣＡＲＤＩＯＬＯＧＹ　１") == "cardiology1"


def test_a_short_english_name_counts_only_as_a_word_of_its_own():
    departments = [("ENT", ["耳鼻喉科", "ENT"]), ("EYE", ["眼科", "eye"])]
    assert speech.best_match("ENT please", departments) == ["ENT"]
    assert speech.best_match("the eye clinic", departments) == ["EYE"]
    assert speech.best_match("my patients records", departments) == []
    assert speech.best_match("'; DROP TABLE patients; --", departments) == []
