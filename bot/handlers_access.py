"""Who gets in: the group-chat policy, the per-user rate limit, the access gate, access requests
and the admins' approve/deny buttons.

Group-chat policy: in a group the bot reads only commands (bare, or addressed to it with
``/cmd@bot``), messages that mention it, and replies to its own messages; everything else in
the group is none of its business and is dropped silently, before any access check, so
members who never addressed the bot are never refused. Button presses on its own messages
are always handled. Knowledge files are accepted only in private chats.
"""

from __future__ import annotations

import logging
import re

from telegram import Message, MessageEntity, Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ApplicationHandlerStop, ContextTypes

from . import callbacks as cb
from .access import Role
from .common import answer_query, interface_language, reply_html, send_html, services, telegram_language
from .database import APPROVED, DENIED, PENDING
from .texts import LANGUAGES
from .ui import UI, keyboard

log = logging.getLogger(__name__)


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
    if query is not None and query.message is None:  # the bot never sends inline-mode messages
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
        markup = keyboard([[ui.button("button_request_access", cb.encode(cb.REQUEST_ACCESS, ui.language))]])
    blocks = [ui.html(key)]
    if status is None and not s.access.admins:
        blocks.append(ui.html("access_no_admins"))
    await reply_html(update, context, blocks, markup)


# -- access requests ---------------------------------------------------------------------


async def on_request_access(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    query = update.callback_query
    user = query.from_user
    shown_in = cb.parse(query.data).args[0]
    language = telegram_language(user) or (shown_in if shown_in in LANGUAGES else "en")
    ui = UI(language)
    if s.access.role(user.id) >= Role.OFFICIAL:
        await answer_query(update, ui.plain("access_granted"))
        return
    if not s.access.admins:
        await answer_query(update, ui.plain("access_no_admins"), alert=True)
        return
    if not s.db.request_access(user.id, user.first_name, user.username, language):
        status = s.db.user_status(user.id)
        await answer_query(update, ui.plain("access_declined" if status == DENIED else "access_pending"), alert=True)
        return
    await answer_query(update)
    await _remove_buttons(query.message)
    await send_html(context, query.message.chat.id, ui.html("access_requested"))
    for admin_id in sorted(s.access.admins):
        admin_ui = UI(s.db.language(admin_id) or "en")
        text = admin_ui.html(
            "access_request_admin",
            name=user.full_name,
            username=f" @{user.username}" if user.username else "",
            user_id=user.id,
            language=language,
        )
        markup = keyboard(
            [
                [
                    admin_ui.button("button_approve", cb.encode(cb.APPROVE, user.id)),
                    admin_ui.button("button_deny", cb.encode(cb.DENY, user.id)),
                ]
            ]
        )
        try:
            await send_html(context, admin_id, text, markup)
        except TelegramError as exc:  # an admin who never opened the bot cannot be messaged
            log.warning("could not tell admin %s about an access request: %s", admin_id, exc)


async def on_decision(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    query = update.callback_query
    admin = query.from_user
    ui = UI(interface_language(s, admin))
    if not s.access.is_admin(admin.id):  # callback data carries no authority
        log.warning("user %s pressed an admin button (%r) without being an admin", admin.id, query.data)
        await answer_query(update, ui.plain("admins_only"), alert=True)
        return
    parsed = cb.parse(query.data)
    user_id = parsed.number(0)
    status = APPROVED if parsed.action == cb.APPROVE else DENIED
    row = s.db.user(user_id)
    if row is None:
        await answer_query(update, ui.plain("access_unknown_request"), alert=True)
        return
    if not s.db.decide(user_id, status, admin.id):
        current = s.db.user_status(user_id)
        decision = ui.plain("decision_approved" if current == APPROVED else "decision_denied")
        await answer_query(update, ui.plain("access_already_decided", decision=decision), alert=True)
        return
    await answer_query(update)
    decision = ui.plain("decision_approved" if status == APPROVED else "decision_denied")
    summary = ui.html(
        "access_decided_admin", name=row["first_name"] or "?", user_id=user_id, decision=decision, admin=admin.full_name
    )
    try:
        await query.edit_message_text(summary, parse_mode="HTML")
    except TelegramError as exc:
        log.debug("could not edit the request message: %s", exc)
        await send_html(context, query.message.chat.id, summary)
    user_ui = UI(s.db.language(user_id) or (row["language_code"] or "en")[:2])
    try:
        await send_html(
            context, user_id, user_ui.html("access_granted" if status == APPROVED else "access_refused_final")
        )
    except TelegramError as exc:
        log.warning("could not tell user %s about the decision: %s", user_id, exc)


async def _remove_buttons(message: Message | None) -> None:
    if message is None:
        return
    try:
        await message.edit_reply_markup(None)
    except TelegramError as exc:
        log.debug("could not remove buttons: %s", exc)
