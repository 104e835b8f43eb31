"""The texts a question is searched as: as typed, plus its MSA or Arabic-script reading.

``Reader(index).read(question)`` gives a ``Reading``: the language the answer is in, and the
search texts. The engine searches every text and keeps, per practice, its best score
(index/engine.py, ``Engine._rank_variants``), so a variant can only add practices the question
as typed missed; a question with nothing to rewrite (any MSA, English or Slovenian question
without dialect words or misspellings of the knowledge's words) has one text and is searched
exactly as before.

- Arabic script: the dialect rewrite and spelling repair (index/dialect.py), when it changes anything.
- Arabizi (index/arabizi.py): the Arabic transliteration and its MSA rewrite, not the Latin text
  as typed (e5 reads it as noise: Recall@3 0.50 alone; dropping it changed nothing on the tuning
  half and saves one query encode); place names stay Latin inside the transliteration and the
  place filter reads the text as typed; the answer is in Arabic.

A reader is built once per loaded index (its vocabulary is the index's Arabic passages).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property

from .arabizi import Skeletons, is_arabizi, to_arabic
from .dialect import Vocabulary, to_msa
from .language import detect_language, fold_latin


@dataclass(frozen=True)
class Reading:
    question: str  # as typed
    language: str  # what the answer is ranked and shown in
    texts: tuple[str, ...]  # searched: the question as typed first (not for Arabizi), then its rewrites
    arabizi: bool = False


def question_language(text: str) -> str:
    """The language a question is answered in: detect_language, except Arabizi, which is Arabic."""
    return "ar" if is_arabizi(text) else detect_language(text)


class Reader:
    def __init__(self, arabic_texts: list[str], places: list[str]):
        self._arabic_texts = arabic_texts
        # Place names stay Latin inside Arabizi (each word of "Slovenska Bistrica" too).
        self._places = frozenset(fold_latin(w) for p in places for w in p.split())

    @classmethod
    def for_index(cls, index) -> Reader:
        return cls([p.text for p in index.passages if p.language == "ar"], index.local_places)

    @cached_property
    def vocabulary(self) -> Vocabulary:
        return Vocabulary.from_texts(self._arabic_texts)

    @cached_property
    def skeletons(self) -> Skeletons:
        return Skeletons.from_texts(self._arabic_texts)

    def read(self, question: str, language: str | None = None) -> Reading:
        texts = [question]
        arabizi = is_arabizi(question)
        if arabizi:
            arabic = to_arabic(question, self.skeletons, self._places)
            texts = [arabic, to_msa(arabic, self.vocabulary)]
            language = language or "ar"
        else:
            language = language or detect_language(question)
            if language == "ar":
                texts.append(to_msa(question, self.vocabulary))
        unique = tuple(dict.fromkeys(t for t in texts if t.strip()))  # unchanged rewrites are not searched twice
        return Reading(question, language, unique, arabizi)
