"""Ask the team: an official sends a question the knowledge could not answer to the coordinators;
each coordinator receives it (with the official's name and language) and answers by replying to
that message; the official receives the answer, marked as the coordinators' own, and the question
leaves the open gaps as answered (by whom, when). Every step is in the bot database, including
which coordinator message carries which question, so a reply after a restart still finds it.

Refused politely: a second answer to an answered question, an answer from someone who is not
(or no longer) a coordinator, and more than ``team_questions_per_day`` questions an official sends
in 24 hours. A coordinator turns an answered question into a draft practice file in one tap.
"""

from __future__ import annotations

import logging

from telegram import Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from .. import callback_data as cb
from ..access import Role
from ..database import TEAM_ANSWERED
from ..languages import view_language
from ..markup import UI
from ..practice_template import draft_from_answer
from ..sending import answer_query, reply_html, send_html
from ..services import services
from ..views import team_answer_blocks, team_answered_keyboard, team_question_blocks
from . import officials
from .roles import requires

log = logging.getLogger(__name__)


def team_members(s) -> list[int]:
    """Who answers: the coordinators; where none is configured, the admins."""
    return sorted(s.access.coordinators or s.access.admins)


async def on_ask_team(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    query = update.callback_query
    user = query.from_user
    row = s.db.question(cb.parse(query.data).number(0))
    ui = UI(view_language(context, update, row.reply_language if row else None))
    # Only the official who asked, in the chat they asked in, and only what the bot could not answer.
    if row is None or row.user_id != user.id or row.chat_id != query.message.chat.id or row.confident:
        await answer_query(update, ui.plain("button_invalid"))
        return
    members = team_members(s)
    if not members:
        await answer_query(update, ui.plain("team_no_coordinators"), alert=True)
        return
    outcome, asked = s.db.ask_team(
        row.id,
        user.id,
        row.chat_id,
        user.first_name or "",
        ui.language,
        row.question,
        s.settings.team_questions_per_day,
    )
    if outcome == "limit":
        await answer_query(update, ui.plain("team_limit", limit=s.settings.team_questions_per_day), alert=True)
        return
    if outcome == "already":
        key = "team_already_answered_official" if asked.status == TEAM_ANSWERED else "team_already_sent"
        await answer_query(update, ui.plain(key), alert=True)
        return
    await answer_query(update)
    reached = 0
    for member in members:
        member_ui = UI(s.db.language(member) or "en")
        try:
            sent = await send_html(context, member, team_question_blocks(member_ui, asked))
        except TelegramError as exc:  # a coordinator who never opened the bot cannot be messaged
            log.warning("could not send team question %d to coordinator %s: %s", asked.id, member, exc)
            continue
        for message in sent:  # a reply to any part of it answers
            s.db.add_team_message(asked.id, member, message.chat.id, message.message_id)
        reached += bool(sent)
    log.info("user %s sent question %d to the team (%d of %d reached)", user.id, row.id, reached, len(members))
    if not reached:
        s.db.drop_team_question(asked.id)  # not sent: it must not count as sent, nor against the limit
    await send_html(context, row.chat_id, ui.html("team_sent" if reached else "team_unreachable"))


async def on_reply(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    """A text reply: to a team question, the answer; to anything else, a question as usual."""
    s = services(context)
    message, user = update.effective_message, update.effective_user
    replied = message.reply_to_message
    asked = s.db.team_question_of_message(message.chat.id, replied.message_id) if replied else None
    if asked is None:
        await officials.question(update, context)
        return
    ui = UI(s.db.language(user.id) or "en")
    if s.access.role(user.id) < Role.COORDINATOR:
        log.warning("user %s replied to team question %d without the coordinator role", user.id, asked.id)
        await reply_html(update, context, ui.html("team_not_coordinator"))
        return
    answer = (message.text or "").strip()
    name = user.first_name or str(user.id)
    if not s.db.answer_team_question(asked.id, user.id, name, answer):
        done = s.db.team_question(asked.id)
        await reply_html(
            update,
            context,
            ui.html(
                "team_already_answered",
                name=done.answered_by_name or "?",
                date=done.answered_at.strftime("%Y-%m-%d %H:%M UTC") if done.answered_at else "?",
            ),
        )
        return
    official_ui = UI(asked.language)
    try:
        await send_html(context, asked.chat_id, team_answer_blocks(official_ui, asked, answer))
    except TelegramError as exc:
        s.db.reopen_team_question(asked.id)  # not delivered: still open, another reply may try again
        log.warning("could not deliver the answer to team question %d: %s", asked.id, exc)
        await reply_html(update, context, ui.html("team_answer_failed", reason=str(exc)[:200]))
        return
    log.info("coordinator %s answered team question %d", user.id, asked.id)
    await reply_html(
        update, context, ui.html("team_answer_sent", name=asked.first_name or "?"), team_answered_keyboard(ui, asked.id)
    )


@requires(Role.COORDINATOR)
async def on_draft(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    """One tap: the question and its answer as a draft practice file, to complete with sources."""
    s = services(context)
    query = update.callback_query
    asked = s.db.team_question(cb.parse(query.data).number(0))
    if asked is None or asked.status != TEAM_ANSWERED:
        await answer_query(update, ui.plain("button_invalid"))
        return
    await answer_query(update)
    taxonomy = s.engine.index.taxonomy
    text = draft_from_answer(
        ui.language,
        taxonomy.topics,
        taxonomy.target_groups,
        asked.question,
        asked.language,
        asked.answer or "",
        official=asked.first_name or "?",
        coordinator=asked.answered_by_name or "?",
        asked_on=asked.asked_at.date().isoformat(),
    )
    await context.bot.send_document(
        query.message.chat.id,
        text.encode("utf-8"),
        filename=f"draft-{asked.id}.md",
        caption=ui.plain("team_draft_caption"),
    )
