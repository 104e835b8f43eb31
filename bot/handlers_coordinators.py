"""Coordinators publish knowledge from Telegram: a ``.md`` document -> checks -> problems or a
preview with "Publish" -> saved into the knowledge folder and indexed, without a restart.

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

from index.knowledge import MAX_FILE_BYTES, Practice
from index.problems import Problem, short
from index.taxonomy import load_taxonomy

from . import callbacks as cb
from . import knowledge_files as kf
from .common import answer_query, interface_language, reply_html, send_html, services
from .database import UPLOAD_CANCELLED, UPLOAD_FAILED, UPLOAD_PUBLISHED, UPLOAD_PUBLISHING
from .ui import UI, embedded, esc, keyboard

log = logging.getLogger(__name__)

UPLOAD_MAX_AGE = timedelta(days=1)
PROBLEMS_SHOWN = 15


async def on_document(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    s = services(context)
    message, user = update.effective_message, update.effective_user
    ui = UI(interface_language(s, user))
    if not s.access.can_publish(user.id):
        await reply_html(update, context, ui.html("document_not_allowed"))
        return
    if message.chat.type != ChatType.PRIVATE:
        await reply_html(update, context, ui.html("document_private_only"))
        return
    document = message.document
    name = document.file_name or ""
    if not kf.is_markdown_name(name):
        await reply_html(update, context, ui.html("upload_not_markdown", name=short(name) or "?"))
        return
    if not kf.is_safe_name(name):
        log.warning("user %s uploaded a file with an unsafe name %r", user.id, name[:200])
        await reply_html(update, context, ui.html("upload_unsafe_name", name=short(name)))
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
        await reply_html(update, context, problems_blocks(ui, "upload_problems", checked.problems, name=short(name)))
        return
    upload_id = s.db.add_upload(user.id, name, checked.relative_path.as_posix(), checked.practice.id, data)
    taxonomy = load_taxonomy(s.engine.knowledge_dir / "taxonomy.yaml")[0]
    header = (
        ui.html("upload_preview_replace", id=checked.practice.id)
        if checked.replaces
        else ui.html("upload_preview_new", name=checked.relative_path.as_posix())
    )
    markup = keyboard(
        [
            [
                ui.button("button_publish", cb.encode(cb.PUBLISH, upload_id)),
                ui.button("button_cancel", cb.encode(cb.CANCEL, upload_id)),
            ]
        ]
    )
    await reply_html(update, context, [header, *preview_blocks(ui, checked.practice, taxonomy)], markup)


def _too_big(ui: UI, size: int) -> str:
    return ui.html("upload_too_big", size=(size + 1023) // 1024, limit=MAX_FILE_BYTES // 1024)


def problems_blocks(ui: UI, key: str, problems: list[Problem], **values) -> list[str]:
    lines = [f"• {esc(str(p))}" for p in problems[:PROBLEMS_SHOWN]]
    if len(problems) > PROBLEMS_SHOWN:
        lines.append(ui.html("upload_more_problems", count=len(problems) - PROBLEMS_SHOWN))
    return [ui.html(key, count=len(problems), **values), "\n".join(lines)]


def preview_blocks(ui: UI, practice: Practice, taxonomy) -> list[str]:
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


async def _claim_pressed_upload(update: Update, context: ContextTypes.DEFAULT_TYPE, status: str):
    """(ui, upload) for a Publish/Cancel press by its uploader, or None after answering the refusal."""
    s = services(context)
    query = update.callback_query
    user = query.from_user
    ui = UI(interface_language(s, user))
    if not s.access.can_publish(user.id):  # callback data carries no authority
        log.warning("user %s pressed %r without being a coordinator", user.id, query.data)
        await answer_query(update, ui.plain("coordinators_only"), alert=True)
        return None
    upload = s.db.claim_upload(cb.parse(query.data).number(0), user.id, status, UPLOAD_MAX_AGE)
    if upload is None:
        await answer_query(update, ui.plain("upload_not_pending"), alert=True)
        return None
    return ui, upload


async def on_publish(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    claimed = await _claim_pressed_upload(update, context, UPLOAD_PUBLISHING)
    if claimed is None:
        return
    ui, upload = claimed
    s = services(context)
    query = update.callback_query
    user = query.from_user
    await answer_query(update)
    await _drop_buttons(query)
    chat_id = query.message.chat.id
    await send_html(context, chat_id, ui.html("upload_publishing", id=upload.practice_id))
    async with s.knowledge_lock:
        outcome = await s.blocking(kf.publish, s.engine, s.settings.data_dir, upload.file_name, upload.content)
    if outcome.ok:
        s.db.finish_upload(upload.id, UPLOAD_PUBLISHED, str(outcome.backup or ""))
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


def failure_blocks(ui: UI, key: str, outcome: kf.Outcome, **values) -> list[str]:
    """The failure header, then why: the index was busy, the folder's problems, or the error."""
    if outcome.busy:
        return [ui.html(key, **values), ui.html("index_busy")]
    if outcome.problems:
        lines = [f"• {esc(str(p))}" for p in outcome.problems[:PROBLEMS_SHOWN]]
        if len(outcome.problems) > PROBLEMS_SHOWN:
            lines.append(ui.html("upload_more_problems", count=len(outcome.problems) - PROBLEMS_SHOWN))
        return [ui.html(key, **values), "\n".join(lines)]
    return [ui.html(key, **values), esc(outcome.reason or "?")]


async def on_cancel(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
    claimed = await _claim_pressed_upload(update, context, UPLOAD_CANCELLED)
    if claimed is None:
        return
    ui, _ = claimed
    query = update.callback_query
    await answer_query(update, ui.plain("upload_cancelled"))
    await _drop_buttons(query)
    await send_html(context, query.message.chat.id, ui.html("upload_cancelled"))


async def _drop_buttons(query) -> None:
    try:
        await query.edit_message_reply_markup(None)
    except TelegramError as exc:
        log.debug("could not remove the buttons: %s", exc)
