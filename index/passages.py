"""Validated practices -> passages: the units that are embedded and searched.

Each practice yields one passage per language for its title and summary (so an Arabic question
can meet Arabic text) and one per body section (in the body's language), then the same for each
translated body (docs/knowledge-format.md, "Translations"), in its own language and under its own
title, so an Arabic question meets the Arabic body. Sections carry the practice title, because a
section like "Results" means little on its own.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .knowledge import Practice

MAX_PASSAGE_WORDS = 180  # well inside e5's 512 tokens, even for Arabic and Slovenian
OVERLAP_WORDS = 30


@dataclass(frozen=True)
class Passage:
    practice_id: str
    kind: str  # "summary" or "section"
    heading: str
    language: str
    text: str

    @property
    def content_hash(self) -> str:
        return hashlib.sha256(f"{self.kind}\x1f{self.language}\x1f{self.text}".encode()).hexdigest()


def practice_passages(practice: Practice) -> list[Passage]:
    meta = practice.meta
    passages = []
    for language, summary in meta.summary.items():
        title = meta.title.get(language) or meta.title["en"]
        place = meta.municipality
        passages.append(Passage(meta.id, "summary", "", language, f"{title} ({place}). {summary}"))
    for language, title in meta.title.items():
        if language not in meta.summary:  # a title with no summary in that language still helps matching
            passages.append(Passage(meta.id, "summary", "", language, f"{title} ({meta.municipality})."))
    bodies = [(meta.language, practice.sections, meta.outcomes)]
    for language, sections in practice.translations.items():
        fields = meta.translations.get(language)
        bodies.append((language, sections, (fields.outcomes if fields else None) or []))
    for language, sections, outcomes in bodies:
        title = meta.title["en"] if language == meta.language else meta.title.get(language) or meta.title["en"]
        for section in sections:
            if not section.text:
                continue
            header = f"{title} — {section.heading}: " if section.heading else f"{title}: "
            for chunk in _chunks(section.text):
                passages.append(Passage(meta.id, "section", section.heading, language, header + chunk))
        if outcomes:
            # "Outcomes" is the heading in every language: it names the kind of passage, nobody reads it.
            passages.append(
                Passage(meta.id, "section", "Outcomes", language, f"{title} — Outcomes: " + " ".join(outcomes))
            )
    return passages


def _chunks(text: str) -> list[str]:
    words = text.split()
    if len(words) <= MAX_PASSAGE_WORDS:
        return [" ".join(words)]
    step = MAX_PASSAGE_WORDS - OVERLAP_WORDS
    return [" ".join(words[i : i + MAX_PASSAGE_WORDS]) for i in range(0, len(words) - OVERLAP_WORDS, step)]
