"""Coordinators publish knowledge from Telegram: a ``.md`` document -> checks -> problems or a
preview with "Publish" (for a replacement, what changes first) -> saved into the knowledge folder
and indexed, without a restart, and written to the audit log. ``/template`` sends the practice
template in the coordinator's language, ``/edit ID`` the current file of a practice.

Refused before anything is downloaded: senders who are not coordinators (or admins), files in
group chats, names that are not ``.md``, unsafe names (anything but ``<id>.md`` with a valid
id, e.g. ``../../x.md``), and files whose announced size is over the validator's limit.
"""

from __future__ import annotations

import logging
from datetime import timedelta

from telegram import Update
from telegram.constants import ChatType
from telegram.error import TelegramError
from telegram.ext import ContextTypes

from index.knowledge import MAX_FILE_BYTES
from index.problems import short

from .. import callback_data as cb
from .. import knowledge_files as kf
from ..access import Role
from ..database import (
    AUDIT_PUBLISHED,
    AUDIT_REPLACED,
    UPLOAD_CANCELLED,
    UPLOAD_FAILED,
    UPLOAD_PUBLISHED,
    UPLOAD_PUBLISHING,
)
from ..markup import UI, user_value
from ..practice_template import TEMPLATE_NAME, practice_template
from ..sending import answer_query, reply_html, send_html
from ..services import services
from ..views import diff_blocks, failure_blocks, preview_blocks, preview_keyboard, problems_blocks
from .roles import requires

log = logging.getLogger(__name__)

UPLOAD_MAX_AGE = timedelta(days=1)
UPLOAD_STATE_TEXTS = {
    UPLOAD_PUBLISHED: "upload_state_published",
    UPLOAD_CANCELLED: "upload_state_cancelled",
    UPLOAD_FAILED: "upload_state_failed",
    UPLOAD_PUBLISHING: "upload_state_publishing",
}


@requires(Role.COORDINATOR, refusal="document_not_allowed")
async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    s = services(context)
    message, user = update.effective_message, update.effective_user
    if message.chat.type != ChatType.PRIVATE:
        await reply_html(update, context, ui.html("document_private_only"))
        return
    document = message.document
    name = document.file_name or ""
    if not kf.is_markdown_name(name):
        await reply_html(update, context, ui.html("upload_not_markdown", name=user_value(short(name) or "?")))
        return
    if not kf.is_safe_name(name):
        log.warning("user %s uploaded a file with an unsafe name %r", user.id, name[:200])
        await reply_html(update, context, ui.html("upload_unsafe_name", name=user_value(short(name))))
        return
    if document.file_size is not None and document.file_size > MAX_FILE_BYTES:
        await reply_html(update, context, _too_big(ui, document.file_size))
        return
    try:
        telegram_file = await document.get_file()
        data = bytes(await telegram_file.download_as_bytearray())
    except TelegramError as exc:
        await reply_html(update, context, ui.html("upload_download_failed", reason=str(exc)))
        return
    if len(data) > MAX_FILE_BYTES:  # the announced size was missing or wrong
        await reply_html(update, context, _too_big(ui, len(data)))
        return
    checked = await s.blocking(kf.check_upload, s.engine.knowledge_dir, name, data)
    if not checked.ok:
        await reply_html(
            update, context, problems_blocks(ui, "upload_problems", checked.problems, name=user_value(short(name)))
        )
        return
    upload_id = s.db.add_upload(user.id, name, checked.relative_path.as_posix(), checked.practice.id, data)
    taxonomy = s.engine.index.taxonomy
    blocks = [ui.html("upload_preview_new", name=checked.relative_path.as_posix())]
    if checked.replaces:
        blocks = [ui.html("upload_preview_replace", id=checked.practice.id)]
        current = await s.blocking(kf.current_practice, s.engine.knowledge_dir, checked.relative_path)
        if current is not None:  # the file there now may itself be broken: then there is nothing to compare
            blocks += diff_blocks(ui, checked.practice.id, kf.practice_diff(current, checked.practice))
    await reply_html(
        update, context, [*blocks, *preview_blocks(ui, checked.practice, taxonomy)], preview_keyboard(ui, upload_id)
    )


def _too_big(ui: UI, size: int) -> str:
    return ui.html("upload_too_big", size=(size + 1023) // 1024, limit=MAX_FILE_BYTES // 1024)


async def _claim_pressed_upload(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI, status: str):
    """The upload a Publish/Cancel press is for, claimed for its uploader; None after answering why not."""
    query = update.callback_query
    db = services(context).db
    upload_id = cb.parse(query.data).number(0)
    upload = db.claim_upload(upload_id, query.from_user.id, status, UPLOAD_MAX_AGE)
    if upload is None:
        # Say what is true of it: published, cancelled, failed (or cut off and undone), under way, or too old.
        current = db.upload(upload_id)
        mine = current is not None and current.user_id == query.from_user.id
        key = UPLOAD_STATE_TEXTS.get(current.status, "upload_not_pending") if mine else "upload_not_pending"
        await answer_query(update, ui.plain(key), alert=True)
    return upload


@requires(Role.COORDINATOR)
async def on_publish(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    upload = await _claim_pressed_upload(update, context, ui, UPLOAD_PUBLISHING)
    if upload is None:
        return
    s = services(context)
    query = update.callback_query
    user = query.from_user
    await answer_query(update)
    await _drop_buttons(query)
    chat_id = query.message.chat.id
    await send_html(context, chat_id, ui.html("upload_publishing", id=upload.practice_id))
    async with s.knowledge_lock:
        outcome = await s.blocking(
            kf.publish,
            s.engine,
            s.settings.data_dir,
            upload.file_name,
            upload.content,
            lambda path: s.db.set_upload_backup(upload.id, str(path or "")),
        )
    if outcome.ok:
        s.db.finish_upload(upload.id, UPLOAD_PUBLISHED, str(outcome.backup or ""))
        action = AUDIT_REPLACED if outcome.backup else AUDIT_PUBLISHED  # a replaced file is backed up first
        s.db.audit(user.id, user.first_name or "", action, upload.practice_id, upload.relative_path)
        log.info("user %s published %s (%s practices)", user.id, upload.practice_id, outcome.report.practices)
        await send_html(
            context,
            chat_id,
            ui.html(
                "upload_published",
                id=upload.practice_id,
                practices=outcome.report.practices,
                passages=outcome.report.passages,
            ),
        )
        return
    s.db.finish_upload(upload.id, UPLOAD_FAILED, outcome.reason or "; ".join(map(str, outcome.problems)))
    log.warning("publishing %s failed: %s", upload.practice_id, outcome.reason or outcome.problems)
    await send_html(context, chat_id, failure_blocks(ui, "upload_publish_failed", outcome, id=upload.practice_id))


@requires(Role.COORDINATOR)
async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    if await _claim_pressed_upload(update, context, ui, UPLOAD_CANCELLED) is None:
        return
    query = update.callback_query
    await answer_query(update, ui.plain("upload_cancelled"))
    await _drop_buttons(query)
    await send_html(context, query.message.chat.id, ui.html("upload_cancelled"))


async def _drop_buttons(query) -> None:
    try:
        await query.edit_message_reply_markup(None)
    except TelegramError as exc:
        log.debug("could not remove the buttons: %s", exc)


@requires(Role.COORDINATOR)
async def template_command(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    """/template: the practice template, every field explained in the coordinator's language."""
    taxonomy = services(context).engine.index.taxonomy
    text = practice_template(ui.language, taxonomy.topics, taxonomy.target_groups)
    await update.effective_message.reply_document(
        text.encode("utf-8"), filename=TEMPLATE_NAME, caption=ui.plain("template_caption")
    )


@requires(Role.COORDINATOR)
async def edit_command(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    """/edit ID: the current file of a practice, to change and send back (the upload shows the diff)."""
    s = services(context)
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, context, ui.html("edit_usage"))
        return
    practice_id = args[0].strip().lower()
    relative = kf.find_practice_file(s.engine, practice_id)
    path = s.engine.knowledge_dir / relative if relative is not None else None
    if path is None or not path.is_file():
        await reply_html(update, context, ui.html("remove_not_found", id=user_value(args[0], 100)))
        return
    await update.effective_message.reply_document(
        path.read_bytes(), filename=path.name, caption=ui.plain("edit_caption", id=practice_id)
    )
