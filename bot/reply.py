"""Ranked practices -> the reply an official reads, as Telegram HTML or as plain terminal text.

Answers are extractive: every word of a card is curated text from the knowledge files (title,
municipality, summary in the official's language when the file has one, sources).
"""

from __future__ import annotations

import html
from dataclasses import dataclass

from index.engine import Answer

from .bidi import is_rtl, isolate, rtl_line
from .texts import Texts

TELEGRAM_LIMIT = 4096


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
            sources=tuple((s.get("title") or s["url"], s["url"]) for s in result.practice.sources),
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
    return "\n".join(rtl_line(line) if line.strip() else line for line in text.split("\n")) if is_rtl(language) else text


def card_html(card: Card, language: str, texts: Texts) -> str:
    """One card; every piece of curated text is escaped, Latin runs isolated in Arabic."""
    rtl = is_rtl(language)

    def line(text: str) -> str:
        return rtl_line(text) if rtl else text

    municipality = isolate(card.municipality) if rtl else card.municipality
    parts = [
        f"<b>{card.number}. {html.escape(line(card.title))}</b> — {html.escape(municipality)}",
        html.escape(line(card.summary)),
        html.escape(line(texts("sources") + ":")),
    ]
    for title, url in card.sources:
        label = isolate(title) if rtl else title
        parts.append(f'• <a href="{html.escape(url, quote=True)}">{html.escape(label)}</a>')
    return "\n".join(parts)


def split_messages(blocks: list[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join blocks into messages under Telegram's limit, breaking only between blocks.

    A single block longer than the limit is cut at line breaks (and, failing that, hard) so
    that no message ever exceeds it; blocks are built so a cut never falls inside a tag.
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(block, limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if _visible_length(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return messages


def _fit(block: str, limit: int) -> list[str]:
    if _visible_length(block) <= limit:
        return [block]
    pieces, current = [], ""
    for line in block.split("\n"):
        candidate = f"{current}\n{line}" if current else line
        if _visible_length(candidate) <= limit:
            current = candidate
            continue
        if current:
            pieces.append(current)
        current = line
        while _visible_length(current) > limit:  # one enormous line: plain text only reaches here
            pieces.append(current[:limit])
            current = current[limit:]
    if current:
        pieces.append(current)
    return pieces


def _visible_length(text: str) -> int:
    # Telegram counts the text after entity parsing; counting the raw HTML is stricter and safe.
    return len(text)
