"""The durable outbox: every message is stored in ``peerbot.db`` before it is sent, and retried
until Telegram confirms it, for a bounded time (PEERBOT_OUTBOX_MAX_AGE, one hour by default),
across restarts.

- **At most once per update.** A message an update causes is stored under the key
  ``u<update id>:<n>`` (its n-th message). Telegram delivers an update again when the bot
  stopped before confirming it; handling it again finds the keys already stored and sends
  nothing twice (and the question log keeps one row per update, see ``log_question``).
- **What is retried**, honouring Telegram's ``retry_after``: 429 (after PTB's rate limiter
  has waited out two), 5xx, and every failure Telegram cannot have acted on (a connection not
  made, a request not written, a connection closed without an answer; see
  ``sending.certainly_not_delivered``). Pauses grow from half a second to a minute. Messages
  to one chat go out in order: one waiting message holds the later ones back.
- **What is not retried**: 400 (the message itself is wrong) and 403 (blocked by the user)
  fail at once and reach the error handler as before; and a *read timeout*, where Telegram had
  the whole request and did not answer in time. The Bot API has no idempotency key and no way
  to ask whether a message arrived, and the Bot API server finishes a request whose client
  stopped waiting, so the message has most likely arrived: it is marked ``uncertain`` and not
  sent again (a second copy would be a duplicate). The same holds for a message the bot was
  sending when its process was killed. Uncertain and given-up messages are shown by
  ``/status`` and in the dashboard's ``outbox`` table; admins are told once per batch that
  is given up.
- **Answers first.** When the outbox cannot be written (a full disk), the message is sent
  directly, once, as before there was an outbox (bot/bookkeeping.py tells the admins once).
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import itertools
import json
import logging
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from telegram import InlineKeyboardMarkup, LinkPreviewOptions, Message, ReplyParameters
from telegram.constants import ParseMode
from telegram.error import BadRequest, NetworkError, RetryAfter, TelegramError, TimedOut

from .bookkeeping import attempt

log = logging.getLogger(__name__)

PENDING, SENDING, SENT, UNCERTAIN, FAILED = "pending", "sending", "sent", "uncertain", "failed"
# Pauses before the 2nd, 3rd, ... attempt of a message Telegram certainly did not get; then a minute.
RETRY_DELAYS = (0.5, 2.0, 5.0, 15.0, 30.0)
MAX_DELAY = 60.0
IDLE_WAKE = 1.0  # the worker looks for due messages at least this often
KEEP_SENT = timedelta(days=2)  # delivered messages are forgotten after this (purge removes the rest)
PRUNE_EVERY = 3600.0
NO_PREVIEW = LinkPreviewOptions(is_disabled=True)
WORKER = "outbox_worker"


@dataclass
class _UpdateKeys:
    update_id: int
    counter: itertools.count = field(default_factory=itertools.count)

    def next(self) -> str:
        return f"u{self.update_id}:{next(self.counter)}"


_current: contextvars.ContextVar[_UpdateKeys | None] = contextvars.ContextVar("peerbot_update", default=None)


async def begin_update(update, context) -> None:
    """Handler group -3: the messages this update causes are keyed by its id (PTB handles each
    update in its own task, so the key counter is this update's alone)."""
    update_id = getattr(update, "update_id", None)
    _current.set(_UpdateKeys(update_id) if update_id is not None else None)


def _next_key() -> str | None:
    keys = _current.get()
    return keys.next() if keys is not None else None


def _delay(attempts: int) -> float:
    return RETRY_DELAYS[attempts - 1] if 0 < attempts <= len(RETRY_DELAYS) else MAX_DELAY


def _now() -> datetime:
    return datetime.now(UTC)


def _retry_after_seconds(error: RetryAfter) -> float:
    # PTB keeps a timedelta in _retry_after; its public retry_after warns that its type will change.
    value = getattr(error, "_retry_after", None)
    return value.total_seconds() if isinstance(value, timedelta) else float(value or 1)


class Outbox:
    """The outbox of one running bot: ``deliver`` from handlers, ``run`` as a background task."""

    def __init__(self, bot, db, incidents, max_age: float, on_given_up=None, on_incident=None):
        self.bot, self.db, self.incidents, self.max_age = bot, db, incidents, max_age
        self.on_given_up = on_given_up  # async callback(rows) to tell the admins
        self.on_incident = on_incident  # async callback(error): a write of the outbox starts an incident
        self._notices: set[asyncio.Task] = set()
        self._wake = asyncio.Event()
        self._stopping = False
        self._pruned_at = -PRUNE_EVERY

    # -- sending now -----------------------------------------------------------------------

    async def deliver(
        self,
        chat_id: int,
        text: str,
        markup: InlineKeyboardMarkup | None = None,
        reply_to: int | None = None,
    ) -> Message | None:
        """Store, then send at once unless an earlier message to the chat still waits; the Message
        when Telegram confirmed it now, None when it waits for a retry (or was sent before)."""
        key = _next_key()
        markup_json = json.dumps(markup.to_dict(), ensure_ascii=False) if markup is not None else None
        stored = self._store(self.db.outbox_add, key, chat_id, text, markup_json, reply_to, SENDING)
        if stored is None:  # the outbox cannot be written: answers first, sent once without it
            return await self._send(chat_id, text, markup_json, reply_to)
        row_id, status, new = stored
        if not new:
            log.info("message %s to chat %s was stored before (%s): not sent again", key, chat_id, status)
            return None
        if self._store(self.db.outbox_waiting_before, chat_id, row_id):
            self._record(self.db.outbox_later, row_id, _now(), "queued behind an earlier message to this chat")
            self._wake.set()
            return None
        return await self._attempt(
            {
                "id": row_id,
                "chat_id": chat_id,
                "text": text,
                "markup": markup_json,
                "reply_to": reply_to,
                "attempts": 0,
                "key": key,
            },
            raise_final=True,
        )

    async def _send(self, chat_id: int, text: str, markup_json: str | None, reply_to: int | None) -> Message:
        markup = InlineKeyboardMarkup.de_json(json.loads(markup_json), self.bot) if markup_json else None
        return await self.bot.send_message(
            chat_id,
            text,
            parse_mode=ParseMode.HTML,
            reply_markup=markup,
            link_preview_options=NO_PREVIEW,
            reply_parameters=ReplyParameters(reply_to, allow_sending_without_reply=True) if reply_to else None,
        )

    async def _attempt(self, row: dict, raise_final: bool) -> Message | None:
        """One attempt of a row in state ``sending``; records the outcome."""
        from .sending import certainly_not_delivered, describe

        chat_id, attempts = row["chat_id"], row["attempts"] + 1
        try:
            message = await self._send(chat_id, row["text"], row["markup"], row["reply_to"])
        except RetryAfter as exc:  # PTB's rate limiter already waited out two of these
            wait = _retry_after_seconds(exc)
            self._later(row, attempts, max(wait, _delay(attempts)), describe(exc))
            return None
        except TimedOut as exc:
            if certainly_not_delivered(exc):
                self._later(row, attempts, _delay(attempts), describe(exc))
                return None
            log.warning(
                "sending message %s to chat %s timed out after Telegram received it; not sent again, "
                "as it has most likely arrived (%s)",
                row["id"],
                chat_id,
                describe(exc),
            )
            self._record(self.db.outbox_finish, row["id"], UNCERTAIN, describe(exc))
            return None
        except NetworkError as exc:
            if not isinstance(exc, BadRequest) and certainly_not_delivered(exc):
                self._later(row, attempts, _delay(attempts), describe(exc))
                return None
            self._record(self.db.outbox_finish, row["id"], FAILED, describe(exc))
            if raise_final:
                raise
            log.warning("message %s to chat %s failed for good: %s", row["id"], chat_id, describe(exc))
            return None
        except TelegramError as exc:  # 403 blocked, a migrated chat...: never repeated
            self._record(self.db.outbox_finish, row["id"], FAILED, describe(exc))
            if raise_final:
                raise
            log.info("message %s to chat %s not delivered: %s", row["id"], chat_id, describe(exc))
            return None
        self._record(self.db.outbox_sent, row["id"], message.message_id)
        return message

    def _later(self, row: dict, attempts: int, delay: float, reason: str) -> None:
        log.warning(
            "sending message %s to chat %s failed (%s); attempt %d in %.1f s",
            row["id"],
            row["chat_id"],
            reason,
            attempts + 1,
            delay,
        )
        self._record(self.db.outbox_later, row["id"], _now() + timedelta(seconds=delay), reason)
        self._wake.set()

    def _record(self, function, *args) -> None:
        self._store(function, *args)

    def _store(self, function, *args):
        """A write (or read) of the outbox; None when it failed, and the admins are told once per
        incident, after the message in hand has gone out (answers first)."""
        result, new_incident = attempt(self.incidents, "the outbox", function, *args)
        if new_incident is not None and self.on_incident is not None:
            task = asyncio.get_running_loop().create_task(self.on_incident(new_incident))
            self._notices.add(task)
            task.add_done_callback(self._notices.discard)
        return result

    # -- the worker ------------------------------------------------------------------------

    def recover(self) -> int:
        """At start-up; how many messages the previous process left half-sent (now uncertain)."""
        interrupted = self._store(self.db.outbox_interrupted)
        if interrupted:
            log.warning("%d message(s) were being sent when the bot last stopped: marked uncertain", interrupted)
        return interrupted or 0

    async def run(self) -> None:
        """Until stopped: give up what is too old, send what is due, sleep until the next is due."""
        while not self._stopping:
            try:
                await self._work()
            except Exception:
                log.exception("the outbox worker failed; it goes on")
            if self._stopping:
                break
            self._wake.clear()
            next_at = self._store(self.db.outbox_next_at)
            timeout = IDLE_WAKE if next_at is None else min(IDLE_WAKE, (next_at - _now()).total_seconds())
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), max(timeout, 0.0))

    async def _work(self) -> None:
        now = asyncio.get_running_loop().time()
        if now - self._pruned_at >= PRUNE_EVERY:
            self._pruned_at = now
            self._store(self.db.outbox_prune, _now() - KEEP_SENT)
        expired = self._store(self.db.outbox_expire, _now() - timedelta(seconds=self.max_age))
        if expired:
            log.error(
                "gave up %d message(s) to %d chat(s) after %.0f s without delivery",
                len(expired),
                len({r["chat_id"] for r in expired}),
                self.max_age,
            )
            if self.on_given_up is not None:
                await self.on_given_up(expired)
        due = self._store(self.db.outbox_due, _now())
        for row in due or ():
            if self._stopping:
                return
            if self._store(self.db.outbox_claim, row["id"]):
                await self._attempt(row, raise_final=False)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        self._stopping = True
        self._wake.set()


def attach(application, outbox_of) -> None:
    """Run the worker on ``application``'s event loop between its post_init and post_shutdown
    hooks; ``outbox_of(app)`` gives the Outbox. A stop lets the message being sent finish."""
    post_init, post_shutdown = application.post_init, application.post_shutdown
    tasks: list[asyncio.Task] = []

    async def start(app) -> None:
        if post_init:
            await post_init(app)
        box = outbox_of(app)
        box.recover()
        tasks.append(asyncio.get_running_loop().create_task(box.run(), name="peerbot-outbox"))

    async def stop(app) -> None:
        outbox_of(app).stop()
        for task in tasks:
            try:
                await asyncio.wait_for(task, 10)
            except (TimeoutError, asyncio.CancelledError):
                pass
        tasks.clear()
        if post_shutdown:
            await post_shutdown(app)

    application.post_init, application.post_shutdown = start, stop
