"""Access requests: an unknown user's "request access" button, the notice to every admin, and the
admins' approve/deny buttons.
"""

from __future__ import annotations

import logging

from telegram import Message, Update
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from .. import callback_data as cb
from ..access import Role
from ..bidi import isolate, strip_controls
from ..database import APPROVED, DENIED
from ..languages import telegram_language
from ..markup import UI, user_value
from ..sending import answer_query, notify_admins, send_html
from ..services import services
from ..texts import LANGUAGES
from ..views import decision_keyboard
from .roles import requires

log = logging.getLogger(__name__)


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
    stored_name = strip_controls(user.first_name)[:200]  # what an admin sees later, cleaned at the edge
    if not s.db.request_access(user.id, stored_name, user.username, language):
        status = s.db.user_status(user.id)
        await answer_query(update, ui.plain("access_declined" if status == DENIED else "access_pending"), alert=True)
        return
    await answer_query(update)
    await _remove_buttons(query.message)
    await send_html(context, query.message.chat.id, ui.html("access_requested"))
    await notify_admins(
        context,
        "access_request_admin",
        lambda admin_ui: decision_keyboard(admin_ui, user.id),
        name=user_value(user.full_name),
        # " @name" after the name: the space outside the isolate (user_value trims its edges)
        username=f" {isolate(user_value(f'@{user.username}'))}" if user.username else "",
        user_id=user.id,
        language=language,
    )


@requires(Role.ADMIN)
async def on_decision(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    s = services(context)
    query = update.callback_query
    admin = query.from_user
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
        "access_decided_admin",
        name=user_value(row["first_name"] or "?"),
        user_id=user_id,
        decision=decision,
        admin=user_value(admin.full_name),
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
