"""Ranked practices -> the reply an official reads, as Telegram HTML or as plain terminal text.

Answers are extractive: every word of a card is curated text from the knowledge files (title,
municipality, summary in the official's language when the file has one, sources).
"""

from __future__ import annotations

import html
import re
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
    return (
        "\n".join(rtl_line(line) if line.strip() else line for line in text.split("\n")) if is_rtl(language) else text
    )


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
    """Join HTML blocks into messages under Telegram's limit, breaking between blocks if possible.

    A block longer than the limit is cut at its last line break that fits, else between two
    characters: never inside a tag or a character reference, and tags open at a cut are closed
    there and reopened in the next message, so every message is valid Telegram HTML on its
    own. Lengths are counted as Telegram counts them (UTF-16 code units) on the raw HTML,
    which is never shorter than the visible text. Control characters (which no reply needs and
    which can break Telegram's parser) are dropped, and so are messages without visible text
    (Telegram refuses them).
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(_CONTROL.sub("", block), limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if _length(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return [m for m in messages if _visible(m).strip()]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TOKEN = re.compile(r"<[^<>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z]+);|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z-]+)")


def _fit(block: str, limit: int) -> list[str]:
    """One block of HTML -> pieces of at most ``limit`` UTF-16 units, each with balanced tags."""
    if _length(block) <= limit:
        return [block]
    pieces: list[str] = []
    # Open tags as (name, the opening tag as written); "" for an oversized tag left out (a link
    # longer than a quarter of a message keeps its text but loses its markup, as it could not
    # be repeated in every piece).
    open_tags: list[tuple[str, str]] = []
    current: list[str] = []  # tokens of the piece being built
    size = 0
    newline: tuple[int, list[tuple[str, str]]] | None = None  # last line break: token index, tags open there

    def closing(tags) -> str:
        return "".join(f"</{name}>" for name, tag in reversed(tags) if tag)

    def opening(tags) -> str:
        return "".join(tag for _, tag in tags)

    def visible(tokens) -> bool:
        return any(not (t.startswith("<") and t.endswith(">") and len(t) > 2) and t.strip() for t in tokens)

    for token in _TOKEN.findall(block):
        name = _TAG_NAME.match(token) if token.startswith("<") and token.endswith(">") else None
        if name and token.startswith("</"):
            if open_tags and open_tags.pop()[1]:
                current.append(token)
                size += _length(token)
            continue
        if name and _length(token) > limit // 4:
            open_tags.append((name.group(1), ""))
            continue
        cost = _length(token) + (len(name.group(1)) + 3 if name else 0)
        while size + cost + _length(closing(open_tags)) > limit and visible(current):
            if newline is not None and visible(current[: newline[0]]):  # cut at the last line break
                at, tags = newline
                pieces.append("".join(current[:at]) + closing(tags))
                current = [opening(tags), *current[at + 1 :]]
            else:  # a line longer than a message: cut here
                pieces.append("".join(current) + closing(open_tags))
                current = [opening(open_tags)]
            newline = None
            size = _length("".join(current))
        if token == "\n":
            newline = (len(current), list(open_tags))
        current.append(token)
        size += _length(token)
        if name:
            open_tags.append((name.group(1), token))
    if current:
        pieces.append("".join(current) + closing(open_tags))
    return pieces


def _length(text: str) -> int:
    """Telegram counts UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


def _visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^<>]*>", "", text))
