"""The Telegram application: the services, the handlers (``bot.handlers.register``, which also
describes the order an update goes through them), one error handler, long polling or a webhook.
"""

from __future__ import annotations

import logging
import secrets
from typing import NoReturn
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import AIORateLimiter, Application, CallbackContext, ContextTypes

from index.engine import Engine

from . import handlers, heartbeat, outbox
from .access import Access
from .bookkeeping import DISK, is_write_failure
from .database import BotDatabase
from .languages import interface_language, question_language, reply_language
from .logging_setup import configure_logging, install_token_redaction, redact, soften_rate_limiter_log
from .markup import UI
from .outbox import Outbox
from .sending import answer_query, notify_admins
from .services import SERVICES, Services, UserRateLimit, services
from .settings import Settings
from .texts import LANGUAGES, Texts

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
PUBLIC_COMMANDS = ("start", "help", "language", "topics")


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
    """Command menus in each language (a failure here must not stop the bot)."""
    for language in (None, *LANGUAGES):
        texts = Texts(language or "en")
        commands = [BotCommand(name, texts(f"cmd_{name}")) for name in PUBLIC_COMMANDS]
        try:
            await app.bot.set_my_commands(commands, language_code=language)
        except TelegramError as exc:
            log.warning("could not set the command menu (%s): %s", language or "default", exc)


async def _post_shutdown(app: Application) -> None:
    s: Services | None = app.bot_data.get(SERVICES)
    if s is not None:
        s.executor.shutdown(wait=False, cancel_futures=True)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """The one error handler: log it, tell the admins, and still answer the user."""
    error = context.error
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
    await notify_admins(context, "error_admin", user=f"{user.id}" if user else "?", error=detail)


def run_polling(settings: Settings, engine: Engine) -> None:
    """``peerbot run``: long polling until SIGINT/SIGTERM."""
    configure_logging(
        settings.log_level, settings.telegram_bot_token.get_secret_value() if settings.telegram_bot_token else None
    )
    database = BotDatabase.in_data_dir(settings.data_dir)
    try:
        application = build_application(settings, engine, database)
        heartbeat.attach(application, settings.data_dir)
        log.info("peerbot starts polling %s (%d practices)", settings.telegram_api_base, len(engine.index.practices))
        application.run_polling(allowed_updates=ALLOWED_UPDATES)
    except Exception as exc:  # noqa: BLE001 - see _exit_redacted
        _exit_redacted(exc)
    finally:
        database.close()


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
