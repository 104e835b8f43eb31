"""Every Telegram view: what the bot shows, as HTML blocks and inline keyboards.

Handlers decide *what* to show (parse -> check -> engine -> a view -> send); this module is
the one place that decides *how* it looks: the results cards, the topic list and pages, a full
practice, its sources, an upload's preview, lists of problems, and the buttons under each.
Every piece of curated or user text is escaped here, and laid out right-to-left in Arabic
(bot/markup.py, bot/bidi.py); ``bot.sending`` then splits the blocks under Telegram's limit.
"""

from __future__ import annotations

import html
import logging
from collections import Counter
from typing import TYPE_CHECKING

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from index.engine import Answer
from index.knowledge import Practice
from index.problems import Problem
from index.search import PracticeRecord
from index.taxonomy import Taxonomy

from . import callback_data as cb
from .bidi import is_rtl, isolate, rtl_line
from .markup import UI, embedded, esc, keyboard
from .reply import Card, cards
from .texts import LANGUAGES, Texts

if TYPE_CHECKING:
    from .knowledge_files import Outcome

log = logging.getLogger(__name__)

MAX_RESULTS = 9  # "more results" stops here: further down the ranking nothing is relevant
TOPIC_PAGE = 8
PARAGRAPH_CHARS = 3000  # long paragraphs are cut at sentence ends, well inside one message
PROBLEMS_SHOWN = 15


# -- languages and topics ----------------------------------------------------------------


def language_keyboard() -> InlineKeyboardMarkup | None:
    # Each language is named in itself, whatever the current language.
    return keyboard(
        [
            [
                InlineKeyboardButton(Texts(code)(f"lang_{code}"), callback_data=cb.encode(cb.LANGUAGE, code))
                for code in LANGUAGES
            ]
        ]
    )


def _topic_order(counts: Counter, taxonomy: Taxonomy) -> list[str]:
    """The taxonomy's order, then topics used by practices but missing from it; only used ones."""
    return [key for key in [*taxonomy.topics, *sorted(set(counts) - set(taxonomy.topics))] if counts.get(key)]


def topics_view(language: str, counts: Counter, taxonomy: Taxonomy):
    ui = UI(language)
    rows = []
    for key in _topic_order(counts, taxonomy):
        try:
            data = cb.encode(cb.TOPIC, key, 0, language)
        except ValueError:  # a key too long for callback data: not browsable by button
            log.warning("topic key %r is too long for a button", key)
            continue
        rows.append([ui.button("topic_button", data, label=taxonomy.label("topics", key, language), count=counts[key])])
    return ui.html("topics_intro"), keyboard(rows)


def topic_page(ui: UI, key: str, label: str, practices: list[PracticeRecord], offset: int):
    """One page of a topic's practices, numbered, with a "full practice" button for each."""
    language = ui.language
    page = practices[offset : offset + TOPIC_PAGE]
    blocks = [ui.html("topic_title", topic=label, first=offset + 1, last=offset + len(page), count=len(practices))]
    buttons = []
    for number, practice in enumerate(page, start=offset + 1):
        title = ui.line(practice.text("title", language))
        blocks.append(f"{number}. <b>{title}</b> — {esc(embedded(practice.municipality, language))}")
        buttons.append(ui.button("button_full", cb.encode(cb.FULL, cb.digest(practice.id), language), number=number))
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if offset + TOPIC_PAGE < len(practices):
        rows.append([ui.button("button_next", cb.encode(cb.TOPIC, key, offset + TOPIC_PAGE, language))])
    return ["\n".join(blocks)], keyboard(rows)


def narrow_view(ui: UI, question_id: int, counts: Counter, taxonomy: Taxonomy):
    """Topic buttons that re-ask a question within one topic."""
    buttons = []
    for key in _topic_order(counts, taxonomy):
        try:
            data = cb.encode(cb.NARROW_TOPIC, question_id, key)
        except ValueError:  # a key too long for callback data
            continue
        buttons.append(InlineKeyboardButton(taxonomy.label("topics", key, ui.language), callback_data=data))
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    return ui.html("narrow_intro"), keyboard(rows)


# -- answers -----------------------------------------------------------------------------


def no_match_view(ui: UI, answer: Answer):
    """An honest "not found" (or "your filter left nothing"), and a way to browse instead."""
    text = (
        ui.html("filtered_out", filter=answer.filters.describe())
        if answer.filtered_out and answer.filters
        else ui.html("no_match")
    )
    return text, keyboard([[ui.button("button_topics", cb.encode(cb.TOPICS, ui.language))]])


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


def results_view(ui: UI, answer: Answer, question_id: int | None, shown_before: int, top_k: int, with_feedback: bool):
    """Cards with their buttons; without a question id (the log could not be written) the
    buttons that refer back to the question (more, feedback, narrow) are left out."""
    results = answer.results[shown_before:]
    language = ui.language
    view = Answer(answer.question, answer.language, answer.confident, results)
    card_list = cards(view, language, start=shown_before + 1)
    blocks = [card_html(card, language, ui.texts) for card in card_list]
    rows = []
    for card in card_list:
        key = cb.digest(card.practice_id)
        rows.append(
            [
                ui.button("button_full", cb.encode(cb.FULL, key, language), number=card.number),
                ui.button("button_sources", cb.encode(cb.SOURCES, key, language), number=card.number),
            ]
        )
    shown = shown_before + len(results)
    last_row = []
    with_feedback = with_feedback and question_id is not None
    if question_id is not None and len(results) >= top_k and shown < MAX_RESULTS:
        last_row.append(ui.button("button_more", cb.encode(cb.MORE, question_id, shown)))
    if with_feedback:
        last_row += [
            ui.button("button_feedback_up", cb.encode(cb.FEEDBACK, question_id, "u")),
            ui.button("button_feedback_down", cb.encode(cb.FEEDBACK, question_id, "d")),
        ]
    rows.append(last_row)
    if with_feedback:
        rows.append([ui.button("button_narrow", cb.encode(cb.NARROW, question_id))])
    return blocks, keyboard(rows)


# -- one practice ------------------------------------------------------------------------


def sources_blocks(ui: UI, practice: PracticeRecord, titled: bool) -> list[str]:
    language = ui.language
    lines = []
    if titled:
        lines.append(ui.html("sources_title", title=practice.text("title", language)))
    else:
        lines.append(f"<b>{ui.html('sources')}</b>")
    for source in practice.sources:
        details = ", ".join(value for value in (source.publisher, source.date) if value)
        link = f'<a href="{esc(source.url)}">{esc(embedded(source.title, language))}</a>'
        lines.append(f"• {link}" + (f" — {esc(embedded(details, language))}" if details else ""))
    return ["\n".join(lines)]


def _paragraphs(text: str, limit: int = PARAGRAPH_CHARS) -> list[str]:
    """Plain text cut into pieces under ``limit`` at paragraph, sentence or word ends."""
    pieces = []
    for paragraph in text.split("\n\n"):
        while len(paragraph) > limit:
            cut = max(paragraph.rfind(". ", 0, limit), paragraph.rfind("\n", 0, limit))
            cut = (
                cut + 1
                if cut > limit // 2
                else (paragraph.rfind(" ", 0, limit) if paragraph.rfind(" ", 0, limit) > 0 else limit)
            )
            pieces.append(paragraph[:cut].strip())
            paragraph = paragraph[cut:].strip()
        if paragraph.strip():
            pieces.append(paragraph.strip())
    return pieces


def full_practice_blocks(ui: UI, practice: PracticeRecord, taxonomy: Taxonomy) -> list[str]:
    language, meta = ui.language, practice.meta

    def labelled(key: str, value: str) -> str:
        return f"<b>{ui.html(key)}:</b> {ui.line(value)}"

    head = [
        f"<b>{ui.line(practice.text('title', language))}</b>",
        labelled("label_municipality", practice.municipality),
    ]
    if meta.period:
        head.append(labelled("label_period", meta.period))
    if meta.topics:
        head.append(labelled("label_topics", ", ".join(taxonomy.label("topics", t, language) for t in meta.topics)))
    if meta.target_groups:
        head.append(
            labelled(
                "label_target_groups",
                ", ".join(taxonomy.label("target_groups", t, language) for t in meta.target_groups),
            )
        )
    if meta.actors:
        head.append(labelled("label_actors", ", ".join(meta.actors)))
    blocks = ["\n".join(head), ui.line(practice.text("summary", language))]
    body_language = meta.language
    if body_language != language:
        name = Texts(language)(f"lang_{body_language}") if body_language in LANGUAGES else body_language
        blocks.append(f"<i>{ui.html('body_language_note', language=name)}</i>")
    for heading, text in practice.sections:
        # The body stays in its own language and direction.
        pieces = _paragraphs(text)
        if heading:
            first = f"<b>{esc(heading)}</b>"
            blocks.append(first + ("\n" + esc(pieces[0]) if pieces else ""))
            pieces = pieces[1:]
        blocks.extend(esc(piece) for piece in pieces)
    if meta.outcomes:
        blocks.append(f"<b>{ui.html('label_outcomes')}</b>\n" + "\n".join(f"• {esc(o)}" for o in meta.outcomes))
    if meta.transferability:
        blocks.append(f"<b>{ui.html('label_transferability')}</b>\n{ui.line(meta.text('transferability', language))}")
    blocks.extend(sources_blocks(ui, practice, titled=False))
    return blocks


# -- knowledge uploads and their failures ------------------------------------------------


def preview_blocks(ui: UI, practice: Practice, taxonomy: Taxonomy) -> list[str]:
    """Title, municipality, summary, topics and sources, as officials will see them."""
    language, meta = ui.language, practice.meta
    lines = [
        f"<b>{ui.line(practice.text('title', language))}</b> — {esc(embedded(meta.municipality, language))}",
        ui.line(practice.text("summary", language)),
        f"<b>{ui.html('label_topics')}:</b> "
        + ui.line(", ".join(taxonomy.label("topics", t, language) for t in meta.topics)),
        f"<b>{ui.html('sources')}:</b>",
    ]
    for source in meta.sources:
        lines.append(f'• <a href="{esc(source.url)}">{esc(embedded(source.title, language))}</a>')
    return ["\n".join(lines)]


def preview_keyboard(ui: UI, upload_id: int) -> InlineKeyboardMarkup | None:
    return keyboard(
        [
            [
                ui.button("button_publish", cb.encode(cb.PUBLISH, upload_id)),
                ui.button("button_cancel", cb.encode(cb.CANCEL, upload_id)),
            ]
        ]
    )


def problems_blocks(ui: UI, key: str, problems: list[Problem], **values) -> list[str]:
    """The header, then the first problems as a bullet list and how many more there are."""
    lines = [f"• {esc(str(p))}" for p in problems[:PROBLEMS_SHOWN]]
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(ui.html("upload_more_problems", count=len(problems) - PROBLEMS_SHOWN))
    return [ui.html(key, **{"count": len(problems), **values}), "\n".join(lines)]


def failure_blocks(ui: UI, key: str, outcome: Outcome, **values) -> list[str]:
    """The failure header, then why: the index was busy, the folder's problems, or the error."""
    if outcome.busy:
        return [ui.html(key, **values), ui.html("index_busy")]
    if outcome.problems:
        return problems_blocks(ui, key, outcome.problems, **values)
    return [ui.html(key, **values), esc(outcome.reason or "?")]


# -- access ------------------------------------------------------------------------------


def request_access_keyboard(ui: UI) -> InlineKeyboardMarkup | None:
    return keyboard([[ui.button("button_request_access", cb.encode(cb.REQUEST_ACCESS, ui.language))]])


def decision_keyboard(ui: UI, user_id: int) -> InlineKeyboardMarkup | None:
    return keyboard(
        [
            [
                ui.button("button_approve", cb.encode(cb.APPROVE, user_id)),
                ui.button("button_deny", cb.encode(cb.DENY, user_id)),
            ]
        ]
    )
