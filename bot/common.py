"""What every handler shares: the services in ``bot_data``, the reply language, sending HTML
replies under Telegram's limit (repeated when Telegram certainly did not get them, see
``send_message``), "typing…" while the engine works, and running blocking work (engine calls,
index builds) off the event loop.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from functools import partial

import httpx
from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters, Update, User
from telegram.constants import ChatAction, ChatType, ParseMode
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import ContextTypes

from index.engine import Engine
from index.language import detect_language

from .access import Access
from .database import BotDatabase
from .reply import split_messages
from .settings import Settings
from .texts import LANGUAGES
from .ui import UI

log = logging.getLogger(__name__)

SERVICES = "services"
# Pauses before the second and third attempt of a message Telegram certainly did not get
# (429s are waited out and retried by PTB's AIORateLimiter before they get here).
SEND_RETRY_DELAYS = (0.5, 2.0)
TYPING_EVERY = 4.5  # Telegram shows "typing…" for about 5 seconds per chat action
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)


class UserRateLimit:
    """At most ``limit`` updates per user in any ``window`` seconds; one warning per window."""

    def __init__(self, limit: int, window: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    def hit(self, user_id: int) -> float | None:
        """Record an update; None if allowed, else the seconds until the next one is."""
        now = self.clock()
        hits = self._hits.setdefault(user_id, deque())
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, self.window - (now - hits[0]))
        hits.append(now)
        return None

    def should_warn(self, user_id: int) -> bool:
        now = self.clock()
        if now - self._warned.get(user_id, -self.window) >= self.window:
            self._warned[user_id] = now
            return True
        return False


@dataclass
class Services:
    settings: Settings
    engine: Engine
    db: BotDatabase
    access: Access
    rate: UserRateLimit
    started: float = field(default_factory=time.monotonic)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="peerbot-engine")
    )
    # One change of the knowledge folder + rebuild at a time (publish, remove, reindex).
    knowledge_lock: asyncio.Lock = field(default_factory=asyncio.Lock)

    async def blocking(self, function, /, *args, **kwargs):
        """Run CPU-bound or disk-bound work (engine, index build) in the worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(function, *args, **kwargs))


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data[SERVICES]


# -- languages ---------------------------------------------------------------------------


def telegram_language(user: User | None) -> str | None:
    code = (user.language_code or "")[:2].lower() if user else ""
    return code if code in LANGUAGES else None


def interface_language(s: Services, user: User | None) -> str:
    """For texts that answer no question: the chosen language, else Telegram's, else English."""
    return (user and s.db.language(user.id)) or telegram_language(user) or "en"


def question_language(question: str) -> str | None:
    """The detected language, or None when the text has no letters to detect it from."""
    return detect_language(question) if any(c.isalpha() for c in question) else None


def reply_language(s: Services, user: User | None, detected: str | None) -> str:
    """Chosen with /language, else the question's language, else Telegram's, else English."""
    chosen = user and s.db.language(user.id)
    if chosen:
        return chosen
    if detected in LANGUAGES:
        return detected
    return telegram_language(user) or "en"


def ui_for(context: ContextTypes.DEFAULT_TYPE, user: User | None) -> UI:
    return UI(interface_language(services(context), user))


# -- sending -----------------------------------------------------------------------------


async def send_html(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    blocks: list[str] | str,
    markup: InlineKeyboardMarkup | None = None,
    reply_to: Message | None = None,
) -> list[Message]:
    """Send HTML blocks as few messages as fit Telegram's limit; buttons go on the last one."""
    messages = split_messages([blocks] if isinstance(blocks, str) else blocks)
    sent = []
    for i, text in enumerate(messages):
        last = i == len(messages) - 1
        message = await send_message(
            context.bot,
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup if last else None,
            link_preview_options=NO_PREVIEW,
            reply_parameters=_quote(reply_to) if i == 0 else None,
        )
        if message is not None:
            sent.append(message)
    return sent


def certainly_not_delivered(error: TelegramError) -> bool:
    """True when Telegram cannot have acted on the request, so sending it again cannot duplicate it.

    - an error answer from Telegram's side (5xx, a proxy's 502): the request was refused;
    - the connection could not be opened or the request not written (connect/pool/write
      errors and timeouts);
    - the connection closed without any answer: in practice a kept-alive connection that
      the server had already dropped, which the request never reached.
    Not so for a read timeout: Telegram has the whole request and is slow to answer, and the
    Bot API server finishes a request whose client stopped waiting, so the message usually
    arrives; sending it again would show the official the same answer twice. Client errors
    (400 bad request, 403 blocked, 429 after the rate limiter's retries) are never repeated.
    """
    if isinstance(error, BadRequest) or not isinstance(error, NetworkError):
        return False
    cause = error.__cause__
    if isinstance(error, TimedOut):
        return isinstance(cause, (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout))
    return not isinstance(cause, httpx.TimeoutException)


async def send_message(bot, chat_id: int, text: str, **kwargs) -> Message | None:
    """``bot.send_message`` with a bounded retry; None when it timed out after Telegram had it.

    At most ``1 + len(SEND_RETRY_DELAYS)`` attempts, each failure logged once as a warning
    (without the token: the log filter redacts it). The last failure is raised for the error
    handler. A read timeout is neither repeated nor raised (see ``certainly_not_delivered``):
    the answer has most likely arrived, and an apology after it would be wrong too.
    """
    attempts = len(SEND_RETRY_DELAYS) + 1
    for attempt in range(1, attempts + 1):
        try:
            return await bot.send_message(chat_id, text, **kwargs)
        except TimedOut as exc:
            if not certainly_not_delivered(exc):
                log.warning(
                    "sending a message to chat %s timed out after Telegram received it; not sent again, "
                    "as it has most likely arrived (%s)",
                    chat_id,
                    _reason(exc),
                )
                return None
            if attempt == attempts:
                raise
            failure = exc
        except NetworkError as exc:
            if not certainly_not_delivered(exc) or attempt == attempts:
                raise
            failure = exc
        delay = SEND_RETRY_DELAYS[attempt - 1]
        log.warning(
            "sending a message to chat %s failed (%s); attempt %d of %d in %.1f s",
            chat_id,
            _reason(failure),
            attempt + 1,
            attempts,
            delay,
        )
        await asyncio.sleep(delay)
    return None  # not reached


def _reason(error: BaseException) -> str:
    cause = error.__cause__
    detail = f"{type(error).__name__}: {error}"
    return f"{detail}; {type(cause).__name__}" if cause is not None and type(cause).__name__ not in detail else detail


async def reply_html(
    update: Update,
    context: ContextTypes.DEFAULT_TYPE,
    blocks: list[str] | str,
    markup: InlineKeyboardMarkup | None = None,
) -> list[Message]:
    """Answer in the chat of the update; in groups as a reply to the message being answered."""
    message = update.effective_message
    return await send_html(
        context, update.effective_chat.id, blocks, markup, reply_to=message if update.message else None
    )


def _quote(message: Message | None) -> ReplyParameters | None:
    if message is None or message.chat.type == ChatType.PRIVATE:
        return None
    return ReplyParameters(message.message_id, allow_sending_without_reply=True)


@asynccontextmanager
async def typing(context: ContextTypes.DEFAULT_TYPE, chat_id: int):
    """Show "typing…" now and every few seconds until the block ends."""

    async def action() -> None:
        try:
            await context.bot.send_chat_action(chat_id, ChatAction.TYPING)
        except TelegramError as exc:  # cosmetic: never fail a reply because of it
            log.debug("chat action failed: %s", exc)

    async def keep_typing() -> None:
        while True:
            await asyncio.sleep(TYPING_EVERY)
            await action()

    await action()
    task = asyncio.create_task(keep_typing())
    try:
        yield
    finally:
        task.cancel()


async def answer_query(update: Update, text: str | None = None, alert: bool = False) -> None:
    """Answer a callback query once; a failure (already answered, too old) is not an error."""
    try:
        await update.callback_query.answer(text, show_alert=alert)
    except TelegramError as exc:
        log.debug("answering a callback query failed: %s", exc)
