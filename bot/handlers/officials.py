"""What officials do: /start, /help, /language, /topics, questions, and the buttons under answers."""

from __future__ import annotations

import logging
import re
import time

from telegram import Update
from telegram.constants import ChatType
from telegram.ext import ContextTypes

from index.engine import Answer
from index.followup import read_message
from index.search import Filters

from .. import callback_data as cb
from ..access import Role
from ..bidi import strip_controls
from ..bookkeeping import record
from ..command_menus import set_chat_menu
from ..languages import interface_language, question_language, reply_language, ui_for, view_language
from ..markup import UI, user_value
from ..sending import answer_query, reply_html, send_html, typing
from ..services import services
from ..texts import LANGUAGES
from ..views import (
    MAX_RESULTS,
    briefing_file_name,
    followup_notice,
    full_practice_blocks,
    language_keyboard,
    narrow_view,
    no_match_view,
    practice_keyboard,
    results_view,
    sources_blocks,
    topic_page,
    topics_view,
    with_new_question_button,
)

log = logging.getLogger(__name__)

MAX_QUESTION_CHARS = 1000


# -- commands ----------------------------------------------------------------------------


async def start(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    ui = ui_for(context, update.effective_user)
    text = ui.html("welcome", name=user_value(update.effective_user.first_name)) + "\n\n" + ui.html("choose_language")
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


async def on_language(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    query = update.callback_query
    parsed = cb.parse(query.data)
    code = parsed.args[0] if parsed else ""
    if code not in LANGUAGES:
        await answer_query(update, ui_for(context, query.from_user).plain("button_invalid"))
        return
    s = services(context)
    s.db.set_language(query.from_user.id, code)
    if query.message.chat.type == ChatType.PRIVATE:  # their command menu follows the chosen language
        await set_chat_menu(context.bot, query.from_user.id, s.access.role(query.from_user.id), code)
    ui = UI(code)
    await answer_query(update, ui.plain("language_set"))
    await send_html(context, query.message.chat.id, ui.html("language_set"))


async def topics_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    language = interface_language(services(context), update.effective_user)
    index = services(context).engine.index
    await reply_html(update, context, *topics_view(language, index.topic_counts, index.taxonomy))


async def on_topics(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await answer_query(update)
    language = view_language(context, update, cb.parse(update.callback_query.data).args[0])
    index = services(context).engine.index
    await send_html(context, update.effective_chat.id, *topics_view(language, index.topic_counts, index.taxonomy))


async def on_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    query = update.callback_query
    parsed = cb.parse(query.data)
    key, offset = parsed.args[0], parsed.number(1)
    language = view_language(context, update, parsed.args[2])
    ui = UI(language)
    practices = sorted(
        (p for p in s.engine.index.practices.values() if key in p.meta.topics),
        key=lambda p: (p.municipality.lower(), p.id),
    )
    if not practices or offset >= len(practices):
        await answer_query(update, ui.plain("topic_empty" if not practices else "button_invalid"))
        return
    await answer_query(update)
    label = s.engine.index.taxonomy.label("topics", key, language)
    await send_html(context, query.message.chat.id, *topic_page(ui, key, label, practices, offset))


# -- questions ---------------------------------------------------------------------------


def clean_question(text: str, bot_username: str | None) -> str:
    if bot_username:
        text = re.sub(rf"@{re.escape(bot_username)}\b", " ", text, flags=re.IGNORECASE)
    return " ".join(strip_controls(text).split())  # stored as cleaned: the log, /gaps and the dashboard show it


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
    # A short message that depends on this chat's last question is read with it (index/followup.py).
    reading, turn = read_message(text, s.followups.recall(chat.id), s.engine.index.local_places)
    if reading.used_context:
        language = reply_language(s, user, reading.language)
        ui = UI(language)
    started = time.perf_counter()
    async with typing(context, chat.id):
        if reading.used_context:
            answer: Answer = await s.blocking(
                s.engine.ask, reading.question, filters=reading.filters, language=reading.language
            )
        else:
            answer = await s.blocking(s.engine.ask, text)
    latency_ms = (time.perf_counter() - started) * 1000
    s.followups.remember(chat.id, turn)
    # Answers first: the question log is bookkeeping, and a full disk must not cost the answer.
    question_id = await record(
        context,
        "the question log",
        s.db.log_question,
        user.id,
        chat.id,
        reading.question,  # what was answered: "More results" and the gaps report re-read it
        answer.language,
        language,
        [r.id for r in answer.results],
        [r.hit.score for r in answer.results],
        answer.confident,
        latency_ms,
        update_id=update.update_id,
    )
    log.info(
        "question %s (%s, %d chars%s): confident=%s in %.0f ms",
        question_id,
        answer.language,
        len(text),
        ", follow-up" if reading.used_context else "",
        answer.confident,
        latency_ms,
    )
    notice = [followup_notice(ui, reading.context)] if reading.used_context else []
    if not answer.confident or not answer.results:
        # An honest "not found", a way to browse, and the question stays in the log as a gap.
        text_html, markup = no_match_view(ui, answer, question_id)
        if reading.used_context:
            markup = with_new_question_button(ui, markup)
        await reply_html(update, context, [*notice, text_html], markup)
        return
    blocks, markup = results_view(ui, answer, question_id, shown_before=0, top_k=s.engine.top_k, with_feedback=True)
    if reading.used_context:
        markup = with_new_question_button(ui, markup)
    await reply_html(update, context, [*notice, ui.html("results_intro"), *blocks], markup)


async def new_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/new: the next message is read on its own, not with the previous question."""
    services(context).followups.forget(update.effective_chat.id)
    await reply_html(update, context, ui_for(context, update.effective_user).html("new_question_ready"))


async def on_new_question(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The "New question" button under a follow-up's answer: as /new."""
    query = update.callback_query
    services(context).followups.forget(query.message.chat.id if query.message else query.from_user.id)
    ui = ui_for(context, query.from_user)
    await answer_query(update, ui.plain("new_question_ready"))
    if query.message is not None:
        await send_html(context, query.message.chat.id, ui.html("new_question_ready"))


def _question_of_chat(context, update: Update):
    """(parsed data, the logged question a button refers to, the UI to answer in).

    The question only if it was asked in this very chat, else None; the UI in the language
    chosen since, else the one the answer was given in.
    """
    parsed = cb.parse(update.callback_query.data)
    row = services(context).db.question(parsed.number(0))
    message = update.callback_query.message
    if row is None or message is None or row.chat_id != message.chat.id:
        row = None
    return parsed, row, UI(view_language(context, update, row.reply_language if row else None))


async def on_more(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    parsed, row, ui = _question_of_chat(context, update)
    shown = parsed.number(1)
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
    _, row, ui = _question_of_chat(context, update)
    if row is None:
        await answer_query(update, ui.plain("button_invalid"))
        return
    await answer_query(update)
    index = services(context).engine.index
    view = narrow_view(ui, row.id, index.topic_counts, index.taxonomy)
    await send_html(context, update.effective_chat.id, *view)


async def on_narrow_topic(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    parsed, row, ui = _question_of_chat(context, update)
    key = parsed.args[1]
    taxonomy = s.engine.index.taxonomy
    known = key in taxonomy.topics or key in s.engine.index.topic_counts
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
    parsed, row, ui = _question_of_chat(context, update)
    if row is None:
        await answer_query(update, ui.plain("button_invalid"))
        return
    s.db.add_feedback(row.id, user.id, 1 if parsed.args[1] == "u" else -1)
    await answer_query(update, ui.plain("feedback_thanks"))


# -- one practice ------------------------------------------------------------------------


async def on_full(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _practice_view(update, context, full=True)


async def on_sources(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await _practice_view(update, context, full=False)


async def _practice_view(update: Update, context: ContextTypes.DEFAULT_TYPE, full: bool) -> None:
    parsed = cb.parse(update.callback_query.data)
    ui = UI(view_language(context, update, parsed.args[1]))
    index = services(context).engine.index
    practice = index.practice_by_digest.get(parsed.args[0])
    if practice is None:
        await answer_query(update, ui.plain("practice_gone"), alert=True)
        return
    await answer_query(update)
    if full:
        blocks, markup = full_practice_blocks(ui, practice, index.taxonomy), practice_keyboard(ui, practice)
    else:
        blocks, markup = sources_blocks(ui, practice, titled=True), None
    await send_html(context, update.effective_chat.id, blocks, markup)


# -- briefing PDFs -----------------------------------------------------------------------


async def on_brief_answer(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """📄 under an answer: the practices of that answer, with its question."""
    _, row, ui = _question_of_chat(context, update)
    practices = services(context).engine.index.practices
    found = [practices[pid] for pid in (row.results if row else []) if pid in practices]
    if not found:
        await answer_query(update, ui.plain("button_invalid"))
        return
    await answer_query(update)
    await _send_briefing(context, update.effective_chat.id, ui, found, row.question)


async def on_brief_practice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """📄 under a full practice: that practice alone."""
    parsed = cb.parse(update.callback_query.data)
    ui = UI(view_language(context, update, parsed.args[1]))
    practice = services(context).engine.index.practice_by_digest.get(parsed.args[0])
    if practice is None:
        await answer_query(update, ui.plain("practice_gone"), alert=True)
        return
    await answer_query(update)
    await _send_briefing(context, update.effective_chat.id, ui, [practice], None)


async def brief_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """/brief: the practices of the user's last answer here; /brief ID: that practice."""
    s = services(context)
    user, chat = update.effective_user, update.effective_chat
    ui = ui_for(context, user)
    practices = s.engine.index.practices
    if context.args:
        practice_id = context.args[0].strip().lower()
        if practice_id not in practices:
            await reply_html(update, context, ui.html("remove_not_found", id=context.args[0][:100]))
            return
        await _send_briefing(context, chat.id, ui, [practices[practice_id]], None)
        return
    row = s.db.last_answered(user.id, chat.id)
    found = [practices[pid] for pid in (row.results if row else []) if pid in practices]
    if not found:
        await reply_html(update, context, ui.html("brief_nothing"))
        return
    ui = UI(s.db.language(user.id) or row.reply_language)
    await _send_briefing(context, chat.id, ui, found, row.question)


async def _send_briefing(context: ContextTypes.DEFAULT_TYPE, chat_id: int, ui: UI, practices, question) -> None:
    from datetime import UTC, datetime

    from index.errors import BriefingUnavailable
    from index.reading import read_practice

    from ..briefing import briefing_pdf

    s = services(context)
    made_on = datetime.now(UTC).date()
    readings = [read_practice(p, ui.language) for p in practices]
    try:
        async with typing(context, chat_id):
            pdf = await s.blocking(briefing_pdf, readings, s.engine.index.taxonomy, ui.language, question, made_on)
    except BriefingUnavailable as exc:
        log.warning("no briefing: %s", exc)
        await send_html(context, chat_id, ui.html("brief_failed"))
        return
    await context.bot.send_document(
        chat_id, pdf, filename=briefing_file_name(made_on), caption=ui.plain("brief_caption")
    )


# -- everything else a user may send -----------------------------------------------------


async def unsupported(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Stickers, photos, voice notes, locations…: say what the bot can read."""
    await reply_html(update, context, ui_for(context, update.effective_user).html("unsupported_message"))


async def voice(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Voice notes, audio and round videos: a request to type, in the sender's language. Offline
    Arabic speech recognition is not good enough to answer from (issue 14: Whisper base, the
    largest packaged whole, had a 73 % word error rate on clean synthetic Arabic)."""
    await reply_html(update, context, ui_for(context, update.effective_user).html("voice_not_supported"))


async def unknown_command(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    await reply_html(update, context, ui_for(context, update.effective_user).html("unknown_command"))


async def stale_button(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Any callback data no handler accepted: forged, or from an older version of the bot."""
    await answer_query(update, ui_for(context, update.callback_query.from_user).plain("button_invalid"))
