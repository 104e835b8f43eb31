"""Admin commands: /reindex, /status, /gaps [DAYS], /stats, /remove ID. Everyone else is refused."""

from __future__ import annotations

import logging
import sqlite3
import time

from telegram import Update
from telegram.ext import ContextTypes

from .. import knowledge_files as kf
from ..access import Role
from ..charts import stats_chart
from ..database import AUDIT_REMOVED
from ..gap_report import DEFAULT_DAYS, gap_groups
from ..markup import UI, esc, user_value
from ..sending import reply_html, typing
from ..services import services
from ..views import audit_blocks, failure_blocks, gaps_blocks
from .roles import requires

log = logging.getLogger(__name__)

STATS_DAYS = 14
AUDIT_SHOWN = 5
MAX_GAP_DAYS = 366


@requires(Role.ADMIN)
async def reindex(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    s = services(context)
    await reply_html(update, context, ui.html("reindex_running"))
    async with s.knowledge_lock:
        outcome = await s.blocking(kf.reindex, s.engine)
    if not outcome.ok:
        key = "reindex_invalid" if outcome.problems else "reindex_failed"
        await reply_html(update, context, failure_blocks(ui, key, outcome, count=len(outcome.problems)))
        return
    report = outcome.report
    if not report.changed:
        await reply_html(
            update, context, ui.html("reindex_unchanged", practices=report.practices, passages=report.passages)
        )
        return
    await reply_html(
        update,
        context,
        ui.html(
            "reindex_done",
            seconds=f"{report.seconds:.1f}",
            practices=report.practices,
            passages=report.passages,
            embedded=report.embedded,
            reused=report.reused,
        ),
    )


@requires(Role.ADMIN)
async def status(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    s = services(context)
    index = s.engine.index
    seconds = int(time.monotonic() - s.started)
    uptime = ui.plain("uptime", days=seconds // 86400, hours=seconds % 86400 // 3600, minutes=seconds % 3600 // 60)
    text = ui.html(
        "status",
        model=index.model_id,
        practices=len(index.practices),
        passages=len(index.passages),
        built_at=index.meta.get("built_at", "?"),
        uptime=uptime,
        today=_or_unknown(s.db.questions_today),
    )
    counts = _or_unknown(s.db.outbox_counts)
    if isinstance(counts, dict):  # undeliverable answers are visible here and in the dashboard
        outbox_line = ui.html(
            "status_outbox",
            waiting=counts.get("pending", 0) + counts.get("sending", 0),
            uncertain=counts.get("uncertain", 0),
            failed=counts.get("failed", 0),
        )
        text = f"{text}\n{outbox_line}"
    for error in s.incidents.active().values():
        text = f"{text}\n{ui.html('status_write_trouble', error=error[:200])}"
    audit = _or_unknown(lambda: s.db.audit_log(AUDIT_SHOWN))  # who changed which practice, latest first
    await reply_html(update, context, [text, *(audit_blocks(ui, audit) if isinstance(audit, list) else [])])


def _or_unknown(read):
    """A number for /status, or "?" when the database cannot be read (the status still answers)."""
    try:
        return read()
    except sqlite3.Error:
        return "?"


@requires(Role.ADMIN)
async def gaps(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    """/gaps [DAYS]: open gaps grouped by meaning, the largest that fit one message."""
    s = services(context)
    args = context.args or []
    if len(args) > 1 or (args and not (args[0].isdigit() and 1 <= int(args[0]) <= MAX_GAP_DAYS)):
        await reply_html(update, context, ui.html("gaps_usage", days=DEFAULT_DAYS, limit=MAX_GAP_DAYS))
        return
    days = int(args[0]) if args else DEFAULT_DAYS
    async with typing(context, update.effective_chat.id):
        groups = await s.blocking(gap_groups, s.db, s.engine.embedder, days)
    await reply_html(update, context, gaps_blocks(ui, groups, days))


@requires(Role.ADMIN)
async def stats(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    data = services(context).db.stats(STATS_DAYS)
    if not data["total"]:
        await reply_html(update, context, ui.html("stats_no_questions"))
        return
    languages = ", ".join(f"{language} {count}" for language, count in data["languages"])
    blocks = [
        ui.html(
            "stats",
            total=data["total"],
            confident=data["confident"],
            up=data["up"],
            down=data["down"],
            languages=languages,
        )
    ]
    days = [f"{esc(day)}: {count}" for day, count in data["per_day"]]
    blocks.append(f"<b>{ui.html('stats_days', days=STATS_DAYS)}</b>\n" + "\n".join(days))
    await reply_html(update, context, blocks)
    try:  # the same numbers as a chart; the text above already answered if this fails
        chart = await services(context).blocking(stats_chart, data, STATS_DAYS, None, ui.language)
        await update.effective_message.reply_photo(chart, filename="peerbot-stats.png")
    except Exception:
        log.warning("could not send the /stats chart", exc_info=True)


@requires(Role.ADMIN)
async def remove(update: Update, context: ContextTypes.DEFAULT_TYPE, ui: UI) -> None:
    s = services(context)
    args = context.args or []
    if len(args) != 1:
        await reply_html(update, context, ui.html("remove_usage"))
        return
    practice_id = args[0].strip().lower()
    async with s.knowledge_lock:
        relative = kf.find_practice_file(s.engine, practice_id)
        if relative is None:
            await reply_html(update, context, ui.html("remove_not_found", id=user_value(args[0], 100)))
            return
        outcome = await s.blocking(kf.remove, s.engine, s.settings.data_dir, relative)
    if not outcome.ok:
        log.warning("removing %s failed: %s", practice_id, outcome.reason or outcome.problems)
        await reply_html(update, context, failure_blocks(ui, "remove_failed", outcome, id=practice_id))
        return
    log.info("user %s removed %s (backup %s)", update.effective_user.id, practice_id, outcome.backup)
    user = update.effective_user
    s.db.audit(user.id, user.first_name or "", AUDIT_REMOVED, practice_id, relative.as_posix())
    backup = (
        outcome.backup.relative_to(s.settings.data_dir)
        if outcome.backup.is_relative_to(s.settings.data_dir)
        else outcome.backup
    )
    await reply_html(
        update,
        context,
        ui.html("remove_done", id=practice_id, backup=backup.as_posix(), practices=outcome.report.practices),
    )
