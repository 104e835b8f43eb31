"""A practice as a reader of one language reads it: each part in that language where the file has
it, else in its original, and every part saying which language its text is actually in.

One function, ``read_practice``, serves every place that shows a whole practice: the bot's full
practice, sources and preview views (bot/views.py), `peerbot show` and `peerbot brief`. So the
choice "translated or original" is made once, and a view can say "only in English" exactly where
that is true. Titles, summaries and transferability fall back to English (the contract requires
``en``); the body, outcomes and actors fall back to the body's language (``language``).
"""

from __future__ import annotations

from dataclasses import dataclass

from .knowledge import Section


@dataclass(frozen=True)
class Part:
    text: str
    language: str


@dataclass(frozen=True)
class SectionPart:
    heading: str
    text: str
    language: str


@dataclass(frozen=True)
class SourcePart:
    url: str
    title: str  # as published, never translated
    language: str | None  # the language the source is written in, when the file says
    publisher: str | None = None
    date: str | None = None


@dataclass(frozen=True)
class Reading:
    id: str
    language: str  # the reader's language
    title: Part
    summary: Part
    municipality: str
    period: str | None
    topics: list[str]
    target_groups: list[str]
    actors: list[Part]
    sections: list[SectionPart]
    outcomes: list[Part]
    transferability: Part | None
    sources: list[SourcePart]

    @property
    def body_language(self) -> str | None:
        """The language of the sections, when they are all in one (they are: one block is chosen)."""
        return self.sections[0].language if self.sections else None

    def to_json(self) -> dict:
        """The `peerbot show --json` contract (issue 14)."""
        return {
            "id": self.id,
            "language": self.language,
            "title": self.title.text,
            "summary": self.summary.text,
            "municipality": self.municipality,
            "sections": [{"heading": s.heading, "text": s.text, "language": s.language} for s in self.sections],
            "outcomes": [{"text": o.text, "language": o.language} for o in self.outcomes],
            "transferability": (
                {"text": self.transferability.text, "language": self.transferability.language}
                if self.transferability
                else None
            ),
            "sources": [{"url": s.url, "title": s.title, "language": s.language} for s in self.sources],
        }


def _pairs(sections) -> list[tuple[str, str]]:
    # A loaded Practice has Section objects, a served PracticeRecord (heading, text) pairs.
    return [(s.heading, s.text) if isinstance(s, Section) else (s[0], s[1]) for s in sections]


def _field(values: dict[str, str], language: str) -> Part | None:
    if language in values:
        return Part(values[language], language)
    if "en" in values:
        return Part(values["en"], "en")
    return None


def read_practice(practice, language: str) -> Reading:
    """``practice`` is an index.knowledge.Practice or an index.search.PracticeRecord."""
    meta = practice.meta
    original = meta.language
    translated = getattr(practice, "translations", {}) or {}
    if language != original and language in translated:
        body, body_language = _pairs(translated[language]), language
    else:
        body, body_language = _pairs(practice.sections), original
    fields = meta.translations.get(language) if language != original else None

    def listed(key: str) -> list[Part]:
        items = getattr(fields, key, None) if fields else None
        if items is not None and len(items) == len(getattr(meta, key)):
            return [Part(text, language) for text in items]
        return [Part(text, original) for text in getattr(meta, key)]

    return Reading(
        id=meta.id,
        language=language,
        title=_field(meta.title, language),
        summary=_field(meta.summary, language),
        municipality=meta.municipality,
        period=meta.period,
        topics=list(meta.topics),
        target_groups=list(meta.target_groups),
        actors=listed("actors"),
        sections=[SectionPart(heading, text, body_language) for heading, text in body if text or heading],
        outcomes=listed("outcomes"),
        transferability=_field(meta.transferability, language) if meta.transferability else None,
        sources=[SourcePart(s.url, s.title, s.lang, s.publisher, s.date) for s in meta.sources],
    )
