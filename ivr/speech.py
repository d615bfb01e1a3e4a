"""Matching what a caller said against the names on offer.

Speech recognisers return whole sentences ("我想问一下心内科在哪里。",
"cardiology please"), so a name counts when it appears inside the sentence;
otherwise a close fuzzy match (RapidFuzz) catches small recognition errors in
English ("cardiologie").  Only one best candidate is accepted: a tie is not a match.
"""

from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Sequence
from typing import TypeVar

from rapidfuzz import fuzz

T = TypeVar("T")
FUZZY_THRESHOLD = 85
_NOISE = re.compile(r"[\s\W_]+", re.UNICODE)
_WORDS = re.compile(r"[a-z0-9]+")
SHORT = 3  # letters: an English name this short must be said as a word


def normalize(text: str) -> str:
    """Lower case, full-width folded, punctuation, spaces and control characters gone."""
    text = unicodedata.normalize("NFKC", text or "").lower()
    return _NOISE.sub("", text)


@functools.lru_cache(maxsize=16384)
def phrase(text: str) -> str:
    """normalize() of a name or word on offer (the menus', the directory's): the same few
    thousand on every request, so each is worked out once per process."""
    return normalize(text)


def mentions(utterance: str, phrases: Iterable[str]) -> bool:
    said = normalize(utterance)
    return bool(said) and any((p := phrase(text)) and p in said for text in phrases)


def best_match(utterance: str, candidates: Sequence[tuple[T, Sequence[str]]]) -> list[T]:
    """The candidates whose phrases match best: [] for none, one for a clear match,
    several when they tie (for the dialogue to ask which one)."""
    said = normalize(utterance)
    if not said:
        return []
    words = set(_WORDS.findall(unicodedata.normalize("NFKC", utterance).lower()))
    scored: list[tuple[float, int, T]] = []
    for index, (candidate, phrases) in enumerate(candidates):
        score = max((_score(said, p, words) for text in phrases if (p := phrase(text))), default=0.0)
        if score:
            scored.append((score, index, candidate))
    if not scored:
        return []
    top = max(score for score, _, _ in scored)
    winners: list[T] = []
    for score, _, candidate in sorted(scored, key=lambda item: item[1]):
        if score == top and candidate not in winners:
            winners.append(candidate)
    return winners


def _score(said: str, phrase: str, words: set[str]) -> float:
    if phrase.isascii() and len(phrase) <= SHORT and phrase not in words:
        # A short English name counts as a word of its own only: 'ENT' is not in 'patients'.
        return 0.0
    if phrase in said:
        # A longer phrase inside the sentence is stronger evidence ("心血管内科" over "内科").
        return 1000.0 + len(phrase)
    if not phrase.isascii() or len(said) > 3 * len(phrase) + 10:
        return 0.0
    ratio = fuzz.ratio(said, phrase)
    return ratio if ratio >= FUZZY_THRESHOLD else 0.0
