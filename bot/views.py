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
from index.gaps import GapGroup
from index.knowledge import Practice
from index.problems import Problem, short, visible
from index.reading import Part, Reading, read_practice
from index.search import PracticeRecord
from index.taxonomy import Taxonomy

from . import callback_data as cb
from .bidi import RLM, is_rtl, isolate, rtl_line
from .markup import UI, directed, embedded, esc, keyboard
from .reply import Card, cards
from .sending import utf16_length
from .texts import LANGUAGES, Texts

if TYPE_CHECKING:
    from .database import AuditEntry
    from .knowledge_files import Outcome, PracticeDiff

log = logging.getLogger(__name__)

MAX_RESULTS = 9  # "more results" stops here: further down the ranking nothing is relevant
TOPIC_PAGE = 8
PARAGRAPH_CHARS = 3000  # long paragraphs are cut at sentence ends, well inside one message
PROBLEMS_SHOWN = 15
# /gaps stays one message (two at most, with its header): groups are added while they fit this
# many UTF-16 units of HTML, each shows at most GAP_WORDINGS wordings cut to GAP_WORDING_CHARS,
# and the rest is left to the dashboard (15 long questions full of <&>"' once made 31 messages).
GAPS_BUDGET = 3500
GAP_WORDINGS = 3
GAP_WORDING_CHARS = 90


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


def no_match_view(ui: UI, answer: Answer, question_id: int | None = None):
    """An honest "not found" (or "your filter left nothing"), a way to browse instead, and, for a
    logged question, a way to ask the coordinators."""
    text = (
        ui.html("filtered_out", filter=answer.filters.describe())
        if answer.filtered_out and answer.filters
        else ui.html("no_match")
    )
    rows = [[ui.button("button_topics", cb.encode(cb.TOPICS, ui.language))]]
    if question_id is not None:
        rows.append([ui.button("button_ask_team", cb.encode(cb.ASK_TEAM, question_id))])
    return text, keyboard(rows)


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
        rows.append([ui.button("button_brief", cb.encode(cb.BRIEF_ANSWER, question_id))])
    return blocks, keyboard(rows)


# -- follow-ups (index/followup.py) -------------------------------------------------------


def followup_notice(ui: UI, earlier: str) -> str:
    """Says which question a follow-up was read with, so a wrong guess is visible at once."""
    return ui.html("followup_context", question=earlier)


def with_new_question_button(ui: UI, markup: InlineKeyboardMarkup | None) -> InlineKeyboardMarkup | None:
    """``markup`` with a last row "New question", which makes the next message be read alone."""
    rows = [list(row) for row in markup.inline_keyboard] if markup else []
    rows.append([ui.button("button_new_question", cb.encode(cb.NEW_QUESTION))])
    return keyboard(rows)


# -- one practice ------------------------------------------------------------------------


def language_name(ui: UI, code: str | None) -> str:
    """A language named in the reader's language ("الإنجليزية", not "English" in an Arabic line)."""
    key = f"language_name_{code}"
    return ui.plain(key) if code in LANGUAGES else str(code)


def in_language(ui: UI, code: str | None) -> str | None:
    """ "in Slovenian" / "بالسلوفينية" for a source's language; the bare code for one the catalogues lack."""
    if not code:
        return None
    return ui.plain(f"in_language_{code}") if code in LANGUAGES else code


def only_in_note(ui: UI, part_language: str) -> str:
    """ " (only in English)" after a label whose part exists only in its original language, else ""."""
    if part_language == ui.language:
        return ""
    return " <i>" + ui.html("only_in", language=in_language(ui, part_language)) + "</i>"


def source_lines(ui: UI, reading: Reading) -> list[str]:
    """Each source: its title as published (a link), publisher, date and the language it is written in."""
    language, lines = ui.language, []
    for source in reading.sources:
        details = ", ".join(value for value in (source.publisher, source.date) if value)
        link = f'<a href="{esc(source.url)}">{esc(embedded(source.title, language))}</a>'
        tail = [esc(embedded(details, language))] if details else []
        said = in_language(ui, source.language)
        if said:
            tail.append(esc(said))
        lines.append(f"• {link}" + (" — " + ("، " if is_rtl(language) else ", ").join(tail) if tail else ""))
    return lines


def sources_blocks(ui: UI, practice: PracticeRecord | Practice, titled: bool) -> list[str]:
    reading = read_practice(practice, ui.language)
    lines = []
    if titled:
        lines.append(ui.html("sources_title", title=reading.title.text))
    else:
        lines.append(f"<b>{ui.html('sources')}</b>")
    return ["\n".join(lines + source_lines(ui, reading))]


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


def _text(part: Part | str, language: str) -> str:
    """Curated text laid out in the direction of the language it is actually in, escaped."""
    if isinstance(part, Part):
        part, language = part.text, part.language
    return esc(directed(part, language))


def full_practice_blocks(ui: UI, practice: PracticeRecord, taxonomy: Taxonomy) -> list[str]:
    """The whole practice in the reader's language where the file has it (index/reading.py), with
    a note wherever a part exists only in its original language."""
    language = ui.language
    reading = read_practice(practice, language)

    def labelled(key: str, value: str, note: str = "") -> str:
        return f"<b>{ui.html(key)}:</b>{note} {ui.line(value)}"

    head = [
        f"<b>{ui.line(reading.title.text)}</b>",
        labelled("label_municipality", reading.municipality),
    ]
    if reading.period:
        head.append(labelled("label_period", reading.period))
    if reading.topics:
        head.append(labelled("label_topics", ", ".join(taxonomy.label("topics", t, language) for t in reading.topics)))
    if reading.target_groups:
        head.append(
            labelled(
                "label_target_groups",
                ", ".join(taxonomy.label("target_groups", t, language) for t in reading.target_groups),
            )
        )
    if reading.actors:
        head.append(
            labelled(
                "label_actors", ", ".join(a.text for a in reading.actors), only_in_note(ui, reading.actors[0].language)
            )
        )
    blocks = ["\n".join(head), _text(reading.summary, language)]
    if reading.summary.language != language:
        blocks[-1] += only_in_note(ui, reading.summary.language)
    if reading.body_language and reading.body_language != language:
        note = ui.html("body_language_note", language=language_name(ui, reading.body_language))
        blocks.append(f"<i>{note}</i>")
    for section in reading.sections:
        pieces = _paragraphs(section.text)
        if section.heading:
            first = f"<b>{_text(section.heading, section.language)}</b>"
            blocks.append(first + ("\n" + _text(pieces[0], section.language) if pieces else ""))
            pieces = pieces[1:]
        blocks.extend(_text(piece, section.language) for piece in pieces)
    if reading.outcomes:
        blocks.append(
            f"<b>{ui.html('label_outcomes')}</b>{only_in_note(ui, reading.outcomes[0].language)}\n"
            + "\n".join(f"• {_text(o, language)}" for o in reading.outcomes)
        )
    if reading.transferability:
        blocks.append(
            f"<b>{ui.html('label_transferability')}</b>{only_in_note(ui, reading.transferability.language)}\n"
            + _text(reading.transferability, language)
        )
    blocks.append("\n".join([f"<b>{ui.html('sources')}</b>", *source_lines(ui, reading)]))
    return blocks


def practice_keyboard(ui: UI, practice: PracticeRecord) -> InlineKeyboardMarkup | None:
    """Under a full practice: its briefing PDF in the reader's language."""
    return keyboard([[ui.button("button_brief", cb.encode(cb.BRIEF_PRACTICE, cb.digest(practice.id), ui.language))]])


def briefing_file_name(made_on) -> str:
    return f"peerbot-briefing-{made_on.isoformat()}.pdf"


# -- knowledge uploads and their failures ------------------------------------------------


def preview_blocks(ui: UI, practice: Practice, taxonomy: Taxonomy) -> list[str]:
    """Title, municipality, summary, topics and sources, as officials will see them, and whether
    the body will reach them in their language (index/reading.py chooses, as for officials)."""
    language, meta = ui.language, practice.meta
    reading = read_practice(practice, language)
    lines = [
        f"<b>{ui.line(reading.title.text)}</b> — {esc(embedded(meta.municipality, language))}",
        _text(reading.summary, language) + only_in_note(ui, reading.summary.language),
        f"<b>{ui.html('label_topics')}:</b> "
        + ui.line(", ".join(taxonomy.label("topics", t, language) for t in meta.topics)),
    ]
    if reading.body_language and reading.body_language != language:
        lines.append("<i>" + ui.html("body_language_note", language=language_name(ui, reading.body_language)) + "</i>")
    lines.append(f"<b>{ui.html('sources')}:</b>")
    return ["\n".join(lines + source_lines(ui, reading))]


DIFF_VALUE_CHARS = 80
DIFF_NAMES_SHOWN = 12


def diff_blocks(ui: UI, practice_id: str, diff: PracticeDiff) -> list[str]:
    """What a replacing upload changes, before Publish: fields and sections added, removed, changed."""
    lines = [f"<b>{ui.html('diff_title', id=practice_id)}</b>"]
    if diff.empty:
        return ["\n".join([*lines, ui.html("diff_none")])]

    def names(values: tuple[str, ...]) -> str:
        shown = ", ".join(short(v, DIFF_VALUE_CHARS) for v in values[:DIFF_NAMES_SHOWN])
        return shown + (f", … (+{len(values) - DIFF_NAMES_SHOWN})" if len(values) > DIFF_NAMES_SHOWN else "")

    for key, values in (
        ("diff_fields_added", diff.fields_added),
        ("diff_fields_removed", diff.fields_removed),
        ("diff_fields_changed", diff.fields_changed),
        ("diff_sections_added", diff.sections_added),
        ("diff_sections_removed", diff.sections_removed),
        ("diff_sections_changed", diff.sections_changed),
    ):
        if values:
            lines.append(ui.html(key, names=names(values)))
    for field, old, new in diff.changed_values[:DIFF_NAMES_SHOWN]:
        lines.append(
            _bullet(
                ui, f"{esc(field)}: {user_text(ui, old, DIFF_VALUE_CHARS)} → {user_text(ui, new, DIFF_VALUE_CHARS)}"
            )
        )
    return ["\n".join(lines)]


def audit_blocks(ui: UI, entries: list[AuditEntry]) -> list[str]:
    """The latest changes to the knowledge folder: when, what, which practice, who."""
    if not entries:
        return [ui.html("audit_none")]
    lines = [f"<b>{ui.html('audit_title')}</b>"]
    for entry in entries:
        lines.append(
            ui.html(
                "audit_line",
                at=entry.at.strftime("%Y-%m-%d %H:%M"),
                action=ui.plain(f"audit_{entry.action}"),
                id=entry.practice_id,
                name=short(entry.user_name or str(entry.user_id), 40),
            )
        )
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


# -- gaps --------------------------------------------------------------------------------


def user_text(ui: UI, text: str, limit: int) -> str:
    """A user's words inside a line of ours: one line, shortened, isolated (FSI...PDI) whatever its
    direction, escaped; invisible and direction-changing characters are spelled out."""
    shortened = short(" ".join(text.split()), limit)
    return esc(isolate(shortened))


def _bullet(ui: UI, html_text: str) -> str:
    return (RLM if is_rtl(ui.language) else "") + "• " + html_text


def gaps_blocks(ui: UI, groups: list[GapGroup], days: int | None) -> list[str]:
    """The largest gap groups that fit one message, then how many more and where to see them."""
    if not groups:
        return [ui.html("gaps_none_days", days=days) if days else ui.html("gaps_none")]
    title = ui.html("gaps_title_days", days=days) if days else ui.html("gaps_title")
    blocks, used = [f"<b>{title}</b>"], 0
    for group in groups:
        lines = [
            ui.html(
                "gaps_group",
                count=group.count,
                languages=", ".join(group.languages),
                first=group.first_asked.date().isoformat(),
                last=group.last_asked.date().isoformat(),
            )
        ]
        lines += [_bullet(ui, user_text(ui, q, GAP_WORDING_CHARS)) for q in group.questions[:GAP_WORDINGS]]
        if len(group.questions) > GAP_WORDINGS:
            lines.append(ui.html("gaps_more_wordings", count=len(group.questions) - GAP_WORDINGS))
        block = "\n".join(lines)
        if used + utf16_length(block) > GAPS_BUDGET and len(blocks) > 1:
            break
        blocks.append(block)
        used += utf16_length(block)
    rest = len(groups) - (len(blocks) - 1)
    if rest:
        blocks.append(ui.html("gaps_more_groups", count=rest))
    return blocks


# -- ask the team ------------------------------------------------------------------------


def _paragraph(ui: UI, text: str) -> str:
    """Someone's own words as a paragraph of their own: escaped, control characters spelled out,
    each line laid out by its own first letter (isolated), whatever the reader's language."""
    return "\n".join(esc(isolate(visible(line))) if line.strip() else "" for line in text.strip().split("\n"))


def team_question_blocks(ui: UI, question) -> list[str]:
    """What a coordinator receives: who asks, in which language, the question, how to answer."""
    language = Texts(ui.language)(f"lang_{question.language}") if question.language in LANGUAGES else question.language
    return [
        ui.html(
            "team_question_header",
            name=question.first_name or "?",
            language=language,
            date=question.asked_at.date().isoformat(),
        ),
        f"<blockquote>{_paragraph(ui, question.question)}</blockquote>",
        f"<i>{ui.html('team_reply_hint')}</i>",
    ]


def team_answer_blocks(ui: UI, question, answer: str) -> list[str]:
    """What the official receives: clearly the coordinators' answer, not a curated practice."""
    return [
        f"<b>{ui.html('team_answer_header')}</b>",
        f"<blockquote>{_paragraph(ui, question.question)}</blockquote>",
        _paragraph(ui, answer),
        f"<i>{ui.html('team_answer_note')}</i>",
    ]


def team_answered_keyboard(ui: UI, team_question_id: int) -> InlineKeyboardMarkup | None:
    return keyboard([[ui.button("button_draft", cb.encode(cb.DRAFT, team_question_id))]])
