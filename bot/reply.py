"""Ranked practices -> cards, and the plain text of a reply for the terminal (``peerbot ask``,
``peerbot chat``); the Telegram HTML of a card is built in ``bot/views.py``.

Answers are extractive: every word of a card is curated text from the knowledge files (title,
municipality, summary in the official's language when the file has one, sources).
"""

from __future__ import annotations

from dataclasses import dataclass

from index.engine import Answer

from .bidi import is_rtl, rtl_line
from .texts import LANGUAGES, Texts


@dataclass(frozen=True)
class Card:
    number: int
    practice_id: str
    title: str
    municipality: str
    summary: str
    sources: tuple[tuple[str, str], ...]  # (title, url)


def cards(answer: Answer, language: str, start: int = 1) -> list[Card]:
    return [
        Card(
            number=start + i,
            practice_id=result.id,
            title=result.practice.text("title", language),
            municipality=result.practice.municipality,
            summary=result.practice.text("summary", language),
            sources=tuple((s.title, s.url) for s in result.practice.sources),
        )
        for i, result in enumerate(answer.results)
    ]


def render_plain(answer: Answer, language: str) -> str:
    texts = Texts(language)
    if answer.filtered_out:
        return texts("filtered_out", filter=answer.filters.describe() if answer.filters else "")
    if not answer.confident or not answer.results:
        return texts("no_match")
    lines = [texts("results_intro"), ""]
    for card in cards(answer, language):
        lines.append(f"{card.number}. {card.title} — {card.municipality}")
        lines.append(f"   {card.summary}")
        lines.append(f"   {texts('sources')}:")
        lines.extend(f"   - {title}: {url}" for title, url in card.sources)
        lines.append("")
    text = "\n".join(lines).rstrip()
    return (
        "\n".join(rtl_line(line) if line.strip() else line for line in text.split("\n")) if is_rtl(language) else text
    )


def render_practice(reading, taxonomy) -> str:
    """A whole practice as plain text for the terminal (`peerbot show`), in the reader's language:
    each part as index/reading.py chose it, marked "(only in English)" where it is not translated.
    Each line is laid out in the direction of the language it is actually in."""
    language = reading.language
    texts = Texts(language)
    comma = "، " if is_rtl(language) else ", "
    lines: list[tuple[str, str]] = []  # (text, the language it is in)

    def named(code: str | None) -> str:
        return texts(f"in_language_{code}") if code in LANGUAGES else str(code)

    def note(part_language: str) -> str:
        return "" if part_language == language else " " + texts("only_in", language=named(part_language))

    def add(text: str, text_language: str = language) -> None:
        lines.extend((line, text_language) for line in text.split("\n"))

    add(reading.title.text, reading.title.language)
    add(f"{texts('label_municipality')}: {reading.municipality}")
    if reading.period:
        add(f"{texts('label_period')}: {reading.period}")
    if reading.topics:
        add(f"{texts('label_topics')}: " + comma.join(taxonomy.label("topics", t, language) for t in reading.topics))
    if reading.target_groups:
        labels = comma.join(taxonomy.label("target_groups", t, language) for t in reading.target_groups)
        add(f"{texts('label_target_groups')}: {labels}")
    if reading.actors:
        add(f"{texts('label_actors')}{note(reading.actors[0].language)}: " + comma.join(a.text for a in reading.actors))
    add("")
    add(reading.summary.text + note(reading.summary.language), reading.summary.language)
    if reading.body_language and reading.body_language != language:
        add("")
        add(texts("body_language_note", language=texts(f"language_name_{reading.body_language}")))
    for section in reading.sections:
        add("")
        if section.heading:
            add(f"## {section.heading}", section.language)
        add(section.text, section.language)
    if reading.outcomes:
        add("")
        add(f"{texts('label_outcomes')}{note(reading.outcomes[0].language)}:")
        for outcome in reading.outcomes:
            add(f"- {outcome.text}", outcome.language)
    if reading.transferability:
        add("")
        add(f"{texts('label_transferability')}{note(reading.transferability.language)}:")
        add(reading.transferability.text, reading.transferability.language)
    add("")
    add(f"{texts('sources')}:")
    for source in reading.sources:
        details = [value for value in (source.publisher, source.date) if value]
        if source.language:
            details.append(named(source.language))
        add(f"- {source.title}" + (f" ({comma.join(details)})" if details else "") + f": {source.url}")
    return "\n".join(rtl_line(text) if text.strip() and is_rtl(lang) else text for text, lang in lines)
