"""Everything that goes out to Telegram: HTML replies split under Telegram's limit (through the
durable outbox, bot/outbox.py, which repeats what Telegram certainly did not get), notices to
every admin, "typing…" while the engine works, and answers to button presses.
"""

from __future__ import annotations

import asyncio
import html
import logging
import re
from collections.abc import Callable
from contextlib import asynccontextmanager

import httpx
from telegram import InlineKeyboardMarkup, Message, ReplyParameters, Update
from telegram.constants import ChatAction, ChatType
from telegram.error import BadRequest, NetworkError, TelegramError, TimedOut
from telegram.ext import ContextTypes

from .markup import UI
from .services import services

log = logging.getLogger(__name__)

TELEGRAM_LIMIT = 4096
TYPING_EVERY = 4.5  # Telegram shows "typing…" for about 5 seconds per chat action


async def send_html(
    context: ContextTypes.DEFAULT_TYPE,
    chat_id: int,
    blocks: list[str] | str,
    markup: InlineKeyboardMarkup | None = None,
    reply_to: Message | None = None,
) -> list[Message]:
    """Send HTML blocks as few messages as fit Telegram's limit; buttons go on the last one.

    Each message goes through the durable outbox (bot/outbox.py): stored, then sent, retried
    later when Telegram did not take it; the list holds the messages Telegram confirmed at once."""
    messages = split_messages([blocks] if isinstance(blocks, str) else blocks)
    outbox = services(context).outbox
    quoted = _quote(reply_to)
    sent = []
    for i, text in enumerate(messages):
        last = i == len(messages) - 1
        message = await outbox.deliver(
            chat_id,
            text,
            markup if last else None,
            reply_to=quoted.message_id if quoted is not None and i == 0 else None,
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
    (400 bad request, 403 blocked) are never repeated; a 429 is retried after its retry_after
    by the outbox itself.
    """
    if isinstance(error, BadRequest) or not isinstance(error, NetworkError):
        return False
    cause = error.__cause__
    if isinstance(error, TimedOut):
        return isinstance(cause, (httpx.ConnectTimeout, httpx.PoolTimeout, httpx.WriteTimeout))
    return not isinstance(cause, httpx.TimeoutException)


def describe(error: BaseException) -> str:
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


async def notify_admins(
    context: ContextTypes.DEFAULT_TYPE,
    key: str,
    markup: Callable[[UI], InlineKeyboardMarkup | None] | None = None,
    **values,
) -> None:
    """Tell every admin, each in their own language; an admin who cannot be reached is logged.

    ``markup`` builds the buttons in the admin's language.
    """
    s = services(context)
    for admin_id in sorted(s.access.admins):
        ui = UI(s.db.language(admin_id) or "en")
        try:
            await send_html(context, admin_id, ui.html(key, **values), markup(ui) if markup else None)
        except TelegramError as exc:  # an admin who never opened the bot cannot be messaged
            log.warning("could not tell admin %s (%s): %s", admin_id, key, exc)


# -- Telegram's message limit ------------------------------------------------------------


def split_messages(blocks: list[str], limit: int = TELEGRAM_LIMIT) -> list[str]:
    """Join HTML blocks into messages under Telegram's limit, breaking between blocks if possible.

    A block longer than the limit is cut at its last line break that fits, else between two
    characters: never inside a tag or a character reference, and tags open at a cut are closed
    there and reopened in the next message, so every message is valid Telegram HTML on its
    own. Lengths are counted as Telegram counts them (UTF-16 code units) on the raw HTML,
    which is never shorter than the visible text. Control characters (which no reply needs and
    which can break Telegram's parser) are dropped, and so are messages without visible text
    (Telegram refuses them).
    """
    messages: list[str] = []
    current = ""
    for block in blocks:
        for piece in _fit(_CONTROL.sub("", block), limit):
            candidate = f"{current}\n\n{piece}" if current else piece
            if _length(candidate) <= limit:
                current = candidate
            else:
                messages.append(current)
                current = piece
    if current:
        messages.append(current)
    return [m for m in messages if _visible(m).strip()]


_CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")
_TOKEN = re.compile(r"<[^<>]*>|&(?:#[0-9]+|#[xX][0-9a-fA-F]+|[A-Za-z]+);|.", re.DOTALL)
_TAG_NAME = re.compile(r"</?\s*([A-Za-z-]+)")


def _fit(block: str, limit: int) -> list[str]:
    """One block of HTML -> pieces of at most ``limit`` UTF-16 units, each with balanced tags."""
    if _length(block) <= limit:
        return [block]
    pieces: list[str] = []
    # Open tags as (name, the opening tag as written); "" for an oversized tag left out (a link
    # longer than a quarter of a message keeps its text but loses its markup, as it could not
    # be repeated in every piece).
    open_tags: list[tuple[str, str]] = []
    current: list[str] = []  # tokens of the piece being built
    size = 0
    newline: tuple[int, list[tuple[str, str]]] | None = None  # last line break: token index, tags open there

    def closing(tags) -> str:
        return "".join(f"</{name}>" for name, tag in reversed(tags) if tag)

    def opening(tags) -> str:
        return "".join(tag for _, tag in tags)

    def visible(tokens) -> bool:
        return any(not (t.startswith("<") and t.endswith(">") and len(t) > 2) and t.strip() for t in tokens)

    for token in _TOKEN.findall(block):
        name = _TAG_NAME.match(token) if token.startswith("<") and token.endswith(">") else None
        if name and token.startswith("</"):
            if open_tags and open_tags.pop()[1]:
                current.append(token)
                size += _length(token)
            continue
        if name and _length(token) > limit // 4:
            open_tags.append((name.group(1), ""))
            continue
        cost = _length(token) + (len(name.group(1)) + 3 if name else 0)
        while size + cost + _length(closing(open_tags)) > limit and visible(current):
            if newline is not None and visible(current[: newline[0]]):  # cut at the last line break
                at, tags = newline
                pieces.append("".join(current[:at]) + closing(tags))
                current = [opening(tags), *current[at + 1 :]]
            else:  # a line longer than a message: cut here
                pieces.append("".join(current) + closing(open_tags))
                current = [opening(open_tags)]
            newline = None
            size = _length("".join(current))
        if token == "\n":  # noqa: S105 - an HTML token, not a secret
            newline = (len(current), list(open_tags))
        current.append(token)
        size += _length(token)
        if name:
            open_tags.append((name.group(1), token))
    if current:
        pieces.append("".join(current) + closing(open_tags))
    return pieces


def utf16_length(text: str) -> int:
    """Telegram counts UTF-16 code units: an emoji outside the BMP counts twice."""
    return len(text) + sum(1 for c in text if ord(c) > 0xFFFF)


_length = utf16_length


def _visible(text: str) -> str:
    return html.unescape(re.sub(r"<[^<>]*>", "", text))
