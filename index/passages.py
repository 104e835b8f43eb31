"""Validated practices -> passages: the units that are embedded and searched.

Each practice yields one passage per language for its title and summary (so an Arabic question
can meet Arabic text) and one per body section (in the body's language). Sections carry the
practice title, because a section like "Results" means little on its own.
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
    for section in practice.sections:
        if not section.text:
            continue
        header = f"{meta.title['en']} — {section.heading}: " if section.heading else f"{meta.title['en']}: "
        for chunk in _chunks(section.text):
            passages.append(Passage(meta.id, "section", section.heading, meta.language, header + chunk))
    if meta.outcomes:
        passages.append(
            Passage(
                meta.id,
                "section",
                "Outcomes",
                meta.language,
                f"{meta.title['en']} — Outcomes: " + " ".join(meta.outcomes),
            )
        )
    return passages


def _chunks(text: str) -> list[str]:
    words = text.split()
    if len(words) <= MAX_PASSAGE_WORDS:
        return [" ".join(words)]
    step = MAX_PASSAGE_WORDS - OVERLAP_WORDS
    return [" ".join(words[i : i + MAX_PASSAGE_WORDS]) for i in range(0, len(words) - OVERLAP_WORDS, step)]
