"""What officials do: /start, /help, /language, /topics, questions, and the buttons under answers."""

from __future__ import annotations

import logging
import re
import time
from collections import Counter

from telegram import InlineKeyboardButton, Update
from telegram.ext import ContextTypes

from index.engine import Answer
from index.search import Filters, PracticeRecord
from index.taxonomy import Taxonomy, load_taxonomy

from . import callbacks as cb
from .access import Role
from .common import (
    answer_query,
    interface_language,
    question_language,
    reply_html,
    reply_language,
    send_html,
    services,
    typing,
    ui_for,
)
from .reply import card_html, cards
from .texts import LANGUAGES, Texts
from .ui import UI, embedded, esc, keyboard

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000
MAX_RESULTS = 9  # "more results" stops here: further down the ranking nothing is relevant
TOPIC_PAGE = 8
PARAGRAPH_CHARS = 3000  # long paragraphs are cut at sentence ends, well inside one message


# -- commands ----------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ui = ui_for(context, update.effective_user)
    text = ui.html("welcome", name=update.effective_user.first_name) + "\n\n" + ui.html("choose_language")
    await reply_html(update, context, text, language_keyboard())


async def help_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    ui = ui_for(context, update.effective_user)
    role = s.access.role(update.effective_user.id)
    blocks = [ui.html("help")]
    if role >= Role.COORDINATOR:
        blocks.append(ui.html("help_coordinator"))
    if role >= Role.ADMIN:
        blocks.append(ui.html("help_admin"))
    await reply_html(update, context, blocks)


async def language_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ui = ui_for(context, update.effective_user)
    await reply_html(update, context, ui.html("choose_language"), language_keyboard())


def language_keyboard():
    # Each language is named in itself, whatever the current language.
    return keyboard(
        [
            [
                InlineKeyboardButton(Texts(code)(f"lang_{code}"), callback_data=cb.encode(cb.LANGUAGE, code))
                for code in LANGUAGES
            ]
        ]
    )


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    parsed = cb.parse(query.data)
    code = parsed.args[0] if parsed else ""
    if code not in LANGUAGES:
        await answer_query(update, ui_for(context, query.from_user).plain("button_invalid"))
        return
    services(context).db.set_language(query.from_user.id, code)
    ui = UI(code)
    await answer_query(update, ui.plain("language_set"))
    await send_html(context, query.message.chat.id, ui.html("language_set"))


async def topics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply_html(
        update, context, *topics_view(context, interface_language(services(context), update.effective_user))
    )


async def on_topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await answer_query(update)
    language = view_language(context, update, cb.parse(update.callback_query.data).args[0])
    await send_html(context, update.effective_chat.id, *topics_view(context, language))


def view_language(context, update: Update, shown_in: str | None) -> str:
    """For a button press: the language chosen since, else the one the view was shown in."""
    s = services(context)
    user = update.callback_query.from_user
    return s.db.language(user.id) or (shown_in if shown_in in LANGUAGES else interface_language(s, user))


def _taxonomy(context) -> Taxonomy:
    return load_taxonomy(services(context).engine.knowledge_dir / "taxonomy.yaml")[0]


def topics_view(context, language: str):
    ui = UI(language)
    index = services(context).engine.index
    counts = Counter(topic for p in index.practices.values() for topic in p.meta.get("topics", []))
    taxonomy = _taxonomy(context)
    rows = []
    for key in [*taxonomy.topics, *sorted(set(counts) - set(taxonomy.topics))]:
        if counts.get(key):
            try:
                data = cb.encode(cb.TOPIC, key, 0, language)
            except ValueError:  # a key too long for callback data: not browsable by button
                log.warning("topic key %r is too long for a button", key)
                continue
            rows.append(
                [ui.button("topic_button", data, label=taxonomy.label("topics", key, language), count=counts[key])]
            )
    return ui.html("topics_intro"), keyboard(rows)


async def on_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    query = update.callback_query
    parsed = cb.parse(query.data)
    key, offset = parsed.args[0], parsed.number(1)
    language = view_language(context, update, parsed.args[2])
    ui = UI(language)
    practices = sorted(
        (p for p in s.engine.index.practices.values() if key in p.meta.get("topics", [])),
        key=lambda p: (p.municipality.lower(), p.id),
    )
    if not practices or offset >= len(practices):
        await answer_query(update, ui.plain("topic_empty" if not practices else "button_invalid"))
        return
    await answer_query(update)
    page = practices[offset : offset + TOPIC_PAGE]
    label = _taxonomy(context).label("topics", key, language)
    blocks = [ui.html("topic_title", topic=label, first=offset + 1, last=offset + len(page), count=len(practices))]
    buttons = []
    for number, practice in enumerate(page, start=offset + 1):
        title = ui.line(practice.text("title", language))
        blocks.append(f"{number}. <b>{title}</b> — {esc(embedded(practice.municipality, language))}")
        buttons.append(ui.button("button_full", cb.encode(cb.FULL, cb.digest(practice.id), language), number=number))
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    if offset + TOPIC_PAGE < len(practices):
        rows.append([ui.button("button_next", cb.encode(cb.TOPIC, key, offset + TOPIC_PAGE, language))])
    await send_html(context, query.message.chat.id, ["\n".join(blocks)], keyboard(rows))


# -- questions ---------------------------------------------------------------------------


def clean_question(text: str, bot_username: str | None) -> str:
    if bot_username:
        text = re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE)
    return " ".join(text.split())


async def question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    message, user, chat = update.effective_message, update.effective_user, update.effective_chat
    text = clean_question(message.text or "", context.bot.username)
    detected = question_language(text)
    language = reply_language(s, user, detected)
    ui = UI(language)
    if not text:
        await reply_html(update, context, ui.html("question_empty"))
        return
    if len(text) > MAX_QUESTION_CHARS:
        await reply_html(update, context, ui.html("question_too_long", length=len(text), limit=MAX_QUESTION_CHARS))
        return
    started = time.perf_counter()
    async with typing(context, chat.id):
        answer: Answer = await s.blocking(s.engine.ask, text)
    latency_ms = (time.perf_counter() - started) * 1000
    question_id = s.db.log_question(
        user.id,
        chat.id,
        text,
        answer.language,
        language,
        [r.id for r in answer.results],
        [r.hit.score for r in answer.results],
        answer.confident,
        latency_ms,
    )
    log.info(
        "question %d (%s, %d chars): confident=%s in %.0f ms",
        question_id,
        answer.language,
        len(text),
        answer.confident,
        latency_ms,
    )
    if not answer.confident or not answer.results:
        # An honest "not found", a way to browse, and the question stays in the log as a gap.
        text = (
            ui.html("filtered_out", filter=answer.filters.describe())
            if answer.filtered_out and answer.filters
            else ui.html("no_match")
        )
        await reply_html(
            update, context, text, keyboard([[ui.button("button_topics", cb.encode(cb.TOPICS, language))]])
        )
        return
    blocks, markup = results_view(ui, answer, question_id, shown_before=0, top_k=s.engine.top_k, with_feedback=True)
    await reply_html(update, context, [ui.html("results_intro"), *blocks], markup)


def results_view(ui: UI, answer: Answer, question_id: int, shown_before: int, top_k: int, with_feedback: bool):
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
    if len(results) >= top_k and shown < MAX_RESULTS:
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


def _question_of_chat(context, update: Update):
    """The logged question a button refers to, only if it was asked in this very chat."""
    parsed = cb.parse(update.callback_query.data)
    row = services(context).db.question(parsed.number(0))
    message = update.callback_query.message
    if row is None or message is None or row.chat_id != message.chat.id:
        return parsed, None
    return parsed, row


async def on_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    parsed, row = _question_of_chat(context, update)
    shown = parsed.number(1)
    ui = UI(view_language(context, update, row.reply_language if row else None))
    if row is None or not row.confident or not 1 <= shown < MAX_RESULTS:
        await answer_query(update, ui.plain("button_invalid"))
        return
    top_k = s.engine.top_k
    async with typing(context, update.effective_chat.id):
        answer = await s.blocking(s.engine.ask, row.question, top_k=min(shown + top_k, MAX_RESULTS))
    if len(answer.results) <= shown:
        await answer_query(update, ui.plain("no_more_results"))
        return
    await answer_query(update)
    blocks, markup = results_view(ui, answer, row.id, shown_before=shown, top_k=top_k, with_feedback=False)
    await send_html(context, update.effective_chat.id, [ui.html("more_intro"), *blocks], markup)


async def on_narrow(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Topic buttons that re-ask the same question within one topic."""
    s = services(context)
    parsed, row = _question_of_chat(context, update)
    ui = UI(view_language(context, update, row.reply_language if row else None))
    if row is None:
        await answer_query(update, ui.plain("button_invalid"))
        return
    counts = Counter(topic for p in s.engine.index.practices.values() for topic in p.meta.get("topics", []))
    taxonomy = _taxonomy(context)
    buttons = []
    for key in [*taxonomy.topics, *sorted(set(counts) - set(taxonomy.topics))]:
        try:
            data = cb.encode(cb.NARROW_TOPIC, row.id, key)
        except ValueError:  # a key too long for callback data
            continue
        if counts.get(key):
            buttons.append(InlineKeyboardButton(taxonomy.label("topics", key, ui.language), callback_data=data))
    await answer_query(update)
    rows = [buttons[i : i + 2] for i in range(0, len(buttons), 2)]
    await send_html(context, update.effective_chat.id, ui.html("narrow_intro"), keyboard(rows))


async def on_narrow_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    parsed, row = _question_of_chat(context, update)
    ui = UI(view_language(context, update, row.reply_language if row else None))
    key = parsed.args[1]
    taxonomy = _taxonomy(context)
    known = key in taxonomy.topics or any(key in p.meta.get("topics", []) for p in s.engine.index.practices.values())
    if row is None or not known:
        await answer_query(update, ui.plain("button_invalid"))
        return
    await answer_query(update)
    label = taxonomy.label("topics", key, ui.language)
    async with typing(context, update.effective_chat.id):
        answer = await s.blocking(s.engine.ask, row.question, filters=Filters(topics=frozenset({key})))
    if not answer.results or not answer.confident:
        # Fail closed: never fall back to answers from other topics.
        await send_html(context, update.effective_chat.id, ui.html("narrow_no_match", topic=label))
        return
    blocks, markup = results_view(ui, answer, row.id, shown_before=0, top_k=len(answer.results), with_feedback=False)
    await send_html(context, update.effective_chat.id, [ui.html("narrow_results", topic=label), *blocks], markup)


async def on_feedback(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    user = update.callback_query.from_user
    parsed, row = _question_of_chat(context, update)
    ui = UI(view_language(context, update, row.reply_language if row else None))
    if row is None:
        await answer_query(update, ui.plain("button_invalid"))
        return
    s.db.add_feedback(row.id, user.id, 1 if parsed.args[1] == "u" else -1)
    await answer_query(update, ui.plain("feedback_thanks"))


# -- one practice ------------------------------------------------------------------------


def practice_by_digest(context, digest: str) -> PracticeRecord | None:
    for practice_id, practice in services(context).engine.index.practices.items():
        if cb.digest(practice_id) == digest:
            return practice
    return None


async def on_full(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _practice_view(update, context, full=True)


async def on_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _practice_view(update, context, full=False)


async def _practice_view(update: Update, context: ContextTypes.DEFAULT_TYPE, full: bool) -> None:
    parsed = cb.parse(update.callback_query.data)
    ui = UI(view_language(context, update, parsed.args[1]))
    practice = practice_by_digest(context, parsed.args[0])
    if practice is None:
        await answer_query(update, ui.plain("practice_gone"), alert=True)
        return
    await answer_query(update)
    blocks = (
        full_practice_blocks(ui, practice, _taxonomy(context)) if full else sources_blocks(ui, practice, titled=True)
    )
    await send_html(context, update.effective_chat.id, blocks)


def sources_blocks(ui: UI, practice: PracticeRecord, titled: bool) -> list[str]:
    language = ui.language
    lines = []
    if titled:
        lines.append(ui.html("sources_title", title=practice.text("title", language)))
    else:
        lines.append(f"<b>{ui.html('sources')}</b>")
    for source in practice.sources:
        label = source.get("title") or source["url"]
        details = ", ".join(str(source[k]) for k in ("publisher", "date") if source.get(k))
        link = f'<a href="{esc(source["url"])}">{esc(embedded(label, language))}</a>'
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
    if meta.get("period"):
        head.append(labelled("label_period", meta["period"]))
    if meta.get("topics"):
        head.append(labelled("label_topics", ", ".join(taxonomy.label("topics", t, language) for t in meta["topics"])))
    if meta.get("target_groups"):
        head.append(
            labelled(
                "label_target_groups",
                ", ".join(taxonomy.label("target_groups", t, language) for t in meta["target_groups"]),
            )
        )
    if meta.get("actors"):
        head.append(labelled("label_actors", ", ".join(meta["actors"])))
    blocks = ["\n".join(head), ui.line(practice.text("summary", language))]
    body_language = meta.get("language") or "en"
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
    if meta.get("outcomes"):
        blocks.append(f"<b>{ui.html('label_outcomes')}</b>\n" + "\n".join(f"• {esc(o)}" for o in meta["outcomes"]))
    transferability = meta.get("transferability") or {}
    if transferability:
        text = transferability.get(language) or transferability.get("en", "")
        blocks.append(f"<b>{ui.html('label_transferability')}</b>\n{ui.line(text)}")
    blocks.extend(sources_blocks(ui, practice, titled=False))
    return blocks


# -- everything else a user may send -----------------------------------------------------


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes, locations…: say what the bot can read."""
    await reply_html(update, context, ui_for(context, update.effective_user).html("unsupported_message"))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply_html(update, context, ui_for(context, update.effective_user).html("unknown_command"))


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any callback data no handler accepted: forged, or from an older version of the bot."""
    await answer_query(update, ui_for(context, update.callback_query.from_user).plain("button_invalid"))
