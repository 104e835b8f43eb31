"""The Telegram application: handlers wired in order, one error handler, long polling or a webhook.

Update flow (handler groups run in this order for every update):
  -2  group policy: in groups, drop what is not addressed to the bot (see handlers_access)
  -1  gate: per-user rate limit, then access (unknown users are refused politely)
   0  the handlers: commands, documents, questions, buttons, and a fallback for everything else
"""

from __future__ import annotations

import logging
import secrets
from typing import NoReturn
from urllib.parse import urlsplit

from telegram import BotCommand, Update
from telegram.error import BadRequest, Forbidden, InvalidToken, NetworkError, TelegramError
from telegram.ext import (
    AIORateLimiter,
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    TypeHandler,
    filters,
)

from index.engine import Engine

from . import callbacks as cb
from . import handlers_access as access_h
from . import handlers_admins as admin_h
from . import handlers_coordinators as coord_h
from . import handlers_officials as official_h
from . import heartbeat
from .access import Access
from .common import (
    SERVICES,
    Services,
    UserRateLimit,
    answer_query,
    interface_language,
    question_language,
    reply_language,
    services,
)
from .database import BotDatabase
from .logging_setup import configure_logging, install_token_redaction, redact
from .settings import Settings
from .texts import LANGUAGES, Texts
from .ui import UI

log = logging.getLogger(__name__)

ALLOWED_UPDATES = [Update.MESSAGE, Update.CALLBACK_QUERY]
PUBLIC_COMMANDS = ("start", "help", "language", "topics")


def build_application(settings: Settings, engine: Engine, database: BotDatabase) -> Application:
    if settings.telegram_bot_token is None:
        raise ValueError("TELEGRAM_BOT_TOKEN is not set")
    token = settings.telegram_bot_token.get_secret_value()
    install_token_redaction(token)
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
    application.bot_data[SERVICES] = Services(
        settings=settings,
        engine=engine,
        db=database,
        access=Access(settings, database),
        rate=UserRateLimit(settings.rate_limit_per_minute, 60.0),
    )
    application.bot_data.update(settings=settings, engine=engine, database=database)
    _add_handlers(application)
    application.add_error_handler(on_error)
    return application


def _add_handlers(app: Application) -> None:
    app.add_handler(TypeHandler(Update, access_h.group_policy), group=-2)
    app.add_handler(TypeHandler(Update, access_h.gate), group=-1)

    commands = {
        "start": official_h.start,
        "help": official_h.help_command,
        "language": official_h.language_command,
        "topics": official_h.topics_command,
        "reindex": admin_h.reindex,
        "status": admin_h.status,
        "gaps": admin_h.gaps,
        "stats": admin_h.stats,
        "remove": admin_h.remove,
    }
    for name, callback in commands.items():
        app.add_handler(CommandHandler(name, callback))
    app.add_handler(MessageHandler(filters.Document.ALL, coord_h.on_document))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, official_h.question))
    app.add_handler(MessageHandler(filters.COMMAND, official_h.unknown_command))
    app.add_handler(MessageHandler(filters.ALL, official_h.unsupported))

    buttons = {
        cb.MORE: official_h.on_more,
        cb.FULL: official_h.on_full,
        cb.SOURCES: official_h.on_sources,
        cb.FEEDBACK: official_h.on_feedback,
        cb.TOPICS: official_h.on_topics,
        cb.TOPIC: official_h.on_topic,
        cb.LANGUAGE: official_h.on_language,
        cb.REQUEST_ACCESS: access_h.on_request_access,
        cb.APPROVE: access_h.on_decision,
        cb.DENY: access_h.on_decision,
        cb.PUBLISH: coord_h.on_publish,
        cb.CANCEL: coord_h.on_cancel,
        cb.NARROW: official_h.on_narrow,
        cb.NARROW_TOPIC: official_h.on_narrow_topic,
    }
    for action, callback in buttons.items():
        app.add_handler(CallbackQueryHandler(callback, pattern=cb.pattern(action)))
    app.add_handler(CallbackQueryHandler(official_h.stale_button))  # forged or outdated data


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
    log.error("error while handling update %s", getattr(update, "update_id", None), exc_info=error)
    if not isinstance(update, Update):
        return  # polling/network trouble: PTB retries, the log is enough
    s = services(context)
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
    detail = redact(f"{type(error).__name__}: {error}")[:500]
    who = f"{user.id}" if user else "?"
    for admin_id in sorted(s.access.admins):
        admin_ui = UI(s.db.language(admin_id) or "en")
        try:
            await context.bot.send_message(
                admin_id, admin_ui.html("error_admin", user=who, error=detail), parse_mode="HTML"
            )
        except TelegramError as exc:
            log.warning("could not tell admin %s about the error: %s", admin_id, exc)


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
