"""Filters an official states in the question itself: "What did Hrastnik do for companies?"

Only place names are read from the text, and only names the knowledge contains: a municipality
named in the question restricts the answer to it (several names widen it to all of them).
Topics are not guessed from words ("health", "volunteers" appear in questions about anything);
they are chosen explicitly (bot buttons, filters passed by callers).

Slovenian declines place names (Hrastnik → v Hrastniku, Kočevje → v Kočevju), so a name matches
a question word that starts with the name minus its last two letters (one for four-letter names). To keep common words
from matching short stems (Mirna/mirno, Gorje/gorje) the question word must be capitalised,
unless it equals the whole name. Arabic spellings of Slovenian names are not recognised.
"""

from __future__ import annotations

import re

from .language import fold_latin
from .search import Filters, SearchIndex

_CONNECTORS = frozenset({"na", "v", "pri", "ob", "in", "and", "of", "the", "pod", "nad"})
_WORD = re.compile(r"[^\W\d_]+", re.UNICODE)


def _stem(word: str) -> str:
    if len(word) < 4:
        return word
    return word[:-1] if len(word) == 4 else word[: max(4, len(word) - 2)]  # Črna → v Črni


def _name_words(name: str) -> list[str]:
    return [w for w in (fold_latin(w) for w in _WORD.findall(name)) if w not in _CONNECTORS]


def mentioned_places(question: str, places: list[str]) -> frozenset[str]:
    # A capital letter is evidence of a name only where a sentence does not start.
    folded = []
    for sentence in re.split(r"[.!?؟]\s*", question):
        words = _WORD.findall(sentence)
        folded.extend((fold_latin(w), i > 0 and w[:1].isupper()) for i, w in enumerate(words))
    found = set()
    for place in places:
        parts = _name_words(place)
        if not parts or not all(p.isascii() for p in parts):
            continue

        def present(part: str) -> bool:
            stem = _stem(part)
            return any(
                word == part or (capital and word.startswith(stem) and len(word) <= len(part) + 3)
                for word, capital in folded
            )

        if all(present(part) for part in parts):
            found.add(place)
    return frozenset(found)


def filters_from_question(question: str, index: SearchIndex) -> Filters | None:
    # index.local_places is computed once per loaded index: at 10k practices the scan cost more
    # than the whole ranking (bench/, issue #6).
    named = mentioned_places(question, index.local_places)
    return Filters(municipalities=named) if named else None
