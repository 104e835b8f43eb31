"""The Telegram application: the services, the handlers (``bot.handlers.register``, which also
describes the order an update goes through them), one error handler, long polling or a webhook.
"""

from __future__ import annotations

import fcntl
import logging
import os
import secrets
import socket
import time
from pathlib import Path
from typing import NoReturn
from urllib.parse import urlsplit

from telegram import Update
from telegram.error import BadRequest, Conflict, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, CallbackContext, ContextTypes

from index.engine import Engine
from index.errors import PeerbotError

from . import handlers, heartbeat, outbox
from .access import Access
from .bookkeeping import DISK, is_write_failure
from .command_menus import PUBLIC_COMMANDS, set_menus  # noqa: F401 - PUBLIC_COMMANDS: the tests' table
from .database import BotDatabase
from .languages import interface_language, question_language, reply_language
from .logging_setup import configure_logging, install_token_redaction, redact, soften_rate_limiter_log
from .markup import UI
from .outbox import Outbox
from .recovery import FINISHED, recover_publishes
from .sending import answer_query, notify_admins, send_html
from .services import SERVICES, Services, UserRateLimit, services
from .settings import Settings

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]


def build_application(settings: Settings, engine: Engine, database: BotDatabase) -> Application:
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value()
    install_token_redaction(token)
    soften_rate_limiter_log()
    base = settings.telegram_api_base.rstrip("/")
    application = (
        Application.builder()
        .token(token)
        .base_url(f"{base}/bot")
        .base_file_url(f"{base}/file/bot")
        .rate_limiter(AIORateLimiter(max_retries=2))
        .concurrent_updates(16)
        .post_init(_post_init)
        .post_shutdown(_post_shutdown)
        .build()
    )
    s = application.bot_data[SERVICES] = Services(
        settings=settings,
        engine=engine,
        db=database,
        access=Access(settings, database),
        rate=UserRateLimit(settings.rate_limit_per_minute, 60.0),
    )
    s.outbox = Outbox(
        application.bot,
        database,
        s.incidents,
        settings.outbox_max_age,
        on_given_up=lambda rows: _tell_admins_given_up(application, rows),
        on_incident=lambda error: notify_admins(
            CallbackContext(application), "write_failed_admin", error=f"{type(error).__name__}: {error}"[:300]
        ),
    )
    handlers.register(application)
    application.add_error_handler(on_error)
    outbox.attach(application, lambda app: app.bot_data[SERVICES].outbox)
    return application


async def _tell_admins_given_up(application: Application, rows: list[dict]) -> None:
    admins = services_of(application).access.admins
    rows = [r for r in rows if r["chat_id"] not in admins]  # a notice about a notice would never end
    if rows:
        await notify_admins(
            CallbackContext(application),
            "outbox_given_up_admin",
            count=len(rows),
            chats=len({r["chat_id"] for r in rows}),
            minutes=round(services_of(application).settings.outbox_max_age / 60),
        )


def services_of(application: Application) -> Services:
    return application.bot_data[SERVICES]


async def _post_init(app: Application) -> None:
    """Command menus per role and language (a failure here must not stop the bot), then the
    publishes a previous process left half-done are finished or undone (bot/recovery.py)."""
    s: Services = app.bot_data[SERVICES]
    await set_menus(app.bot, s.access, s.db)
    for recovered in await s.blocking(recover_publishes, s.engine, s.db):
        upload = recovered.upload
        ui = UI(s.db.language(upload.user_id) or "en")
        key = "upload_recovered_published" if recovered.outcome == FINISHED else "upload_recovered_rolled_back"
        try:  # uploads come only from private chats: the coordinator's chat is their user id
            await send_html(CallbackContext(app), upload.user_id, ui.html(key, id=upload.practice_id))
        except TelegramError as exc:
            log.warning("could not tell user %s about the interrupted publish: %s", upload.user_id, exc)


async def _post_shutdown(app: Application) -> None:
    s: Services | None = app.bot_data.get(SERVICES)
    if s is not None:
        s.executor.shutdown(wait=False, cancel_futures=True)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log it, tell the admins, and still answer the user."""
    error = context.error
    if update is None and isinstance(error, Conflict):
        await on_conflict(context, error)
        return
    if isinstance(error, Forbidden):  # e.g. the user blocked the bot: nobody to answer
        log.info("update %s not answered: %s", getattr(update, "update_id", None), error)
        return
    if update is None and isinstance(error, NetworkError) and not isinstance(error, BadRequest):
        # getUpdates failed (5xx, a dropped connection): PTB polls again with a growing pause.
        # One line per failure; a traceback would say nothing more. (Timeouts and 429s of
        # getUpdates never get here: PTB retries those itself and logs them at DEBUG.)
        log.warning("polling Telegram failed, polling again: %s: %s", type(error).__name__, error)
        return
    s = services(context)
    # A full disk (or another failing write of ours) is one incident: told to the admins once.
    repeated = is_write_failure(error) and not s.incidents.start(DISK, error)
    if repeated:
        log.warning("update %s failed on a write again: %s", getattr(update, "update_id", None), error)
    else:
        log.error("error while handling update %s", getattr(update, "update_id", None), exc_info=error)
    if not isinstance(update, Update):
        return  # polling/network trouble: PTB retries, the log is enough
    user, chat = update.effective_user, update.effective_chat
    text = update.message.text if update.message and update.message.text else ""
    ui = UI(reply_language(s, user, question_language(text)) if text else interface_language(s, user))
    if update.callback_query:
        await answer_query(update, ui.plain("error_user"), alert=True)
    if chat is not None:
        try:
            await context.bot.send_message(chat.id, ui.html("error_user"), parse_mode="HTML")
        except TelegramError as exc:
            log.warning("could not tell the user about the error: %s", exc)
    if repeated:
        return
    detail = redact(f"{type(error).__name__}: {error}")[:500]
    if is_write_failure(error):  # the start of a write incident: say what it is and that it is told once
        await notify_admins(context, "write_failed_admin", error=detail[:300])
        return
    await notify_admins(context, "error_admin", user=f"{user.id}" if user else "?", error=detail)


# A copy that has polled for longer than this when it meets 409 Conflict is the established one:
# Telegram ended its poll because a newcomer polled; it polls again, which ends the newcomer's
# poll, and the newcomer, which meets 409 within this time of its start, is the copy that stops.
CONFLICT_GRACE = 60.0
CONFLICT_REPEAT = 600.0  # the established copy's warning is repeated at most this often


async def on_conflict(context: ContextTypes.DEFAULT_TYPE, error: Conflict) -> None:
    """409 Conflict on getUpdates: two processes poll with one token (or a webhook is set)."""
    s = services(context)
    app = context.application
    if s.conflict:
        return
    if time.monotonic() - s.started > CONFLICT_GRACE and "webhook" not in str(error).lower():
        now = time.monotonic()
        if s.conflict_warned_at is None or now - s.conflict_warned_at > CONFLICT_REPEAT:
            s.conflict_warned_at = now
            log.warning(
                "another copy of the bot polled Telegram with this token (409 Conflict); this copy has been "
                "polling for %.0f s and goes on, the newer copy stops",
                now - s.started,
            )
        return
    s.conflict = True
    log.error(
        "another copy of the bot is polling Telegram with this token (409 Conflict: %s); this copy stops so that "
        "no update is handled twice. Stop one of the two, or use a webhook for replicas (README, Scaling)",
        error,
    )
    heartbeat.heartbeat_path(s.settings.data_dir).unlink(missing_ok=True)  # `peerbot health` fails for this copy
    await notify_admins(context, "conflict_admin", host=f"{socket.gethostname()}, pid {os.getpid()}")
    if s.stop_polling is not None:
        s.stop_polling()
    else:
        app.create_task(app.updater.stop())


def run_polling(settings: Settings, engine: Engine) -> None:
    """``peerbot run``: long polling until SIGINT/SIGTERM."""
    configure_logging(
        settings.log_level, settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    )
    lock = poller_lock(settings.data_dir)  # PollerBusy (one line) when a copy polls from this data folder
    database = BotDatabase.in_data_dir(settings.data_dir)
    try:
        application = build_application(settings, engine, database)
        s = services_of(application)
        s.stop_polling = application.stop_running
        heartbeat.attach(application, settings.data_dir, alive=lambda: not s.conflict)
        log.info("peerbot starts polling %s (%d practices)", settings.telegram_api_base, len(engine.index.practices))
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except Exception as exc:  # noqa: BLE001 - see _exit_redacted
        _exit_redacted(exc)
    finally:
        database.close()
        lock.close()
    if s.conflict:
        raise SystemExit(1)  # the one error line was logged when the conflict was found


class PollerBusy(PeerbotError):
    """Another `peerbot run` polls with this data folder."""


def poller_lock(data_dir: Path):
    """An exclusive lock on ``<data>/poller.lock`` while this process polls: a second copy on the
    same data folder (two containers on one volume, a forgotten terminal) refuses to start
    instead of fighting over the token. Copies elsewhere are caught by 409 (``on_conflict``)."""
    path = Path(data_dir) / "poller.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    handle = open(path, "a+")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        holder = handle.read().strip() or "?"
        handle.close()
        raise PollerBusy(
            f"another peerbot ({holder}) is already polling Telegram with the data folder {data_dir}; "
            "stop it first (two copies with one token fight over the updates)"
        ) from None
    handle.seek(0)
    handle.truncate()
    handle.write(f"pid {os.getpid()} on {socket.gethostname()}\n")
    handle.flush()
    return handle


def run_webhook(settings: Settings, engine: Engine, url: str, listen: str, port: int) -> None:
    """``peerbot run --webhook-url URL``: Telegram POSTs updates to ``url``; this process serves
    them on ``listen:port`` at the URL's path (a reverse proxy terminates HTTPS in front of it).

    Every POST must carry the secret token given to setWebhook: PEERBOT_WEBHOOK_SECRET (which
    all replicas behind one URL must share), or a fresh random one per start. Until
    SIGINT/SIGTERM; the webhook stays set, so Telegram keeps updates for the next start.
    """
    token = settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    secret = settings.webhook_secret.get_secret_value() if settings.webhook_secret else secrets.token_urlsafe(32)
    configure_logging(settings.log_level, token)
    install_token_redaction(secret)
    path = urlsplit(url).path.strip("/")
    database = BotDatabase.in_data_dir(settings.data_dir)
    try:
        application = build_application(settings, engine, database)
        heartbeat.attach(application, settings.data_dir)
        log.info(
            "peerbot serves webhook %s on %s:%d/%s (%d practices)", url, listen, port, path, len(engine.index.practices)
        )
        application.run_webhook(
            listen=listen,
            port=port,
            url_path=path,
            webhook_url=url,
            secret_token=secret,
            allowed_updates=ALLOWED_UPDATES,
        )
    except Exception as exc:  # noqa: BLE001 - see _exit_redacted
        _exit_redacted(exc)
    finally:
        database.close()


def _exit_redacted(error: Exception) -> NoReturn:
    """The bot stopped on an error: report it through the log, which redacts the token, and exit 1.

    Left alone, Python would print the traceback to stderr as it is, and PTB puts the token
    into InvalidToken's message ("The token `123:AA…` was rejected by the server")."""
    if isinstance(error, InvalidToken):
        log.critical(
            "Telegram rejected TELEGRAM_BOT_TOKEN (%s): check it, or get a new one from @BotFather (/token or /revoke)",
            error,
        )
    else:
        log.critical("peerbot stopped on an error: %s: %s", type(error).__name__, error, exc_info=error)
    raise SystemExit(1) from None
