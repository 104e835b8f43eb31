"""Who gets in: the group-chat policy, the per-user rate limit and the access gate (groups -2
and -1 of every update, see ``bot/handlers/__init__.py``).

Group-chat policy: in a group the bot reads only commands (bare, or addressed to it with
``/cmd@bot``), messages that mention it, and replies to its own messages; everything else in
the group is none of its business and is dropped silently, before any access check, so
members who never addressed the bot are never refused. Button presses on its own messages
are always handled. Knowledge files are accepted only in private chats.
"""

from __future__ import annotations

import re

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.ext import ApplicationHandlerStop, ContextTypes

from .. import callback_data as cb
from ..access import Role
from ..database import DENIED, PENDING
from ..languages import interface_language, telegram_language
from ..markup import UI
from ..sending import answer_query, reply_html
from ..services import services
from ..views import request_access_keyboard

# -- group -2: is this update for the bot at all? ----------------------------------------


def addressed_to_bot(message: Message, bot_username: str | None, bot_id: int) -> bool:
    if message.chat.type == ChatType.PRIVATE:
        return True
    username = (bot_username or "").lower()
    if username and re.search(
        rf"(?<![\w@])@{re.escape(username)}\b", message.text or message.caption or "", re.IGNORECASE
    ):
        return True  # a mention, even where a client sent no entity for it
    entities = message.entities or message.caption_entities or ()
    for entity in entities:
        value = message.parse_entity(entity) if message.text else message.parse_caption_entity(entity)
        if entity.type == MessageEntity.BOT_COMMAND and entity.offset == 0:
            _, _, target = value.partition("@")
            return not target or target.lower() == username
        if entity.type == MessageEntity.MENTION and value.lower() == f"@{username}":
            return True
        if entity.type == MessageEntity.TEXT_MENTION and entity.user and entity.user.id == bot_id:
            return True
    replied = message.reply_to_message
    return bool(replied and replied.from_user and replied.from_user.id == bot_id)


async def group_policy(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    message = update.message
    if message is not None and not addressed_to_bot(message, context.bot.username, context.bot.id):
        raise ApplicationHandlerStop


# -- group -1: rate limit and access -----------------------------------------------------


async def gate(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    user = update.effective_user
    if user is None or user.is_bot:
        raise ApplicationHandlerStop
    s = services(context)
    wait = s.rate.hit(user.id)
    if wait is not None:
        ui = UI(interface_language(s, user))
        text = ui.plain("rate_limited", seconds=int(wait + 0.999))
        if update.callback_query:
            await answer_query(update, text)
        elif s.rate.should_warn(user.id):
            await reply_html(update, context, ui.html("rate_limited", seconds=int(wait + 0.999)))
        raise ApplicationHandlerStop
    query = update.callback_query
    # The bot never sends inline-mode messages, nor buttons without data; and PTB hands a press
    # without data (or with empty data) to the first button handler whatever its pattern.
    if query is not None and (query.message is None or not query.data):
        await answer_query(update, UI(interface_language(s, user)).plain("button_invalid"))
        raise ApplicationHandlerStop
    if s.access.role(user.id) >= Role.OFFICIAL:
        return
    parsed = cb.parse(query.data) if query is not None else None
    if parsed is not None and parsed.action == cb.REQUEST_ACCESS:
        return  # the one thing an unknown user may do
    await refuse(update, context)
    raise ApplicationHandlerStop


async def refuse(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    user = update.effective_user
    ui = UI(telegram_language(user) or "en")
    status = s.db.user_status(user.id)
    key = {PENDING: "access_pending", DENIED: "access_declined"}.get(status, "access_refused")
    if update.callback_query:
        await answer_query(update, ui.plain(key), alert=True)
        return
    private = update.effective_chat and update.effective_chat.type == ChatType.PRIVATE
    markup = None
    if status is None and private and s.access.admins:
        markup = request_access_keyboard(ui)
    blocks = [ui.html(key)]
    if status is None and not s.access.admins:
        blocks.append(ui.html("access_no_admins"))
    await reply_html(update, context, blocks, markup)
