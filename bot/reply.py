"""Ranked practices -> cards, and the plain text of a reply for the terminal (``peerbot ask``,
``peerbot chat``); the Telegram HTML of a card is built in ``bot/views.py``.

Answers are extractive: every word of a card is curated text from the knowledge files (title,
municipality, summary in the official's language when the file has one, sources).
"""

from __future__ import annotations

from dataclasses import dataclass

from index.engine import Answer

from .bidi import is_rtl, rtl_line
from .texts import Texts


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
