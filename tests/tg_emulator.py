"""A Telegram Bot API emulator for peerbot's end-to-end tests.

Real HTTP on 127.0.0.1 (ephemeral port), served from a background thread with its own
event loop, so the same instance serves a PTB ``Application`` inside the test process and a
bot started as a separate process with ``TELEGRAM_API_BASE=emulator.base_url``.

It stays honest by building every update and every result through PTB's own classes
(``de_json`` then ``to_dict``), so whatever it serves is proven to parse in PTB, and by taking
error texts and limits from the Bot API and from TDLib's HTML parser, which the Bot API
server uses. See shared/docs/telegram-test-server.md.
"""

from __future__ import annotations

import asyncio
import collections
import inspect
import itertools
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from typing import Any

import aiohttp
import pytest
import telegram
from aiohttp import web

TEXT_LIMIT = 4096
CAPTION_LIMIT = 1024
CALLBACK_DATA_LIMIT = 64
DOWNLOAD_LIMIT = 20 * 1024 * 1024
UPLOAD_LIMIT = 50 * 1024 * 1024

NOT_MODIFIED = (
    "Bad Request: message is not modified: specified new message content and reply markup"
    " are exactly the same as a current content and reply markup of the message"
)
QUERY_TOO_OLD = "Bad Request: query is too old and response timeout expired or query ID is invalid"
WEBHOOK_ACTIVE = (
    "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
)
POLL_TERMINATED = "Conflict: terminated by other getUpdates request; make sure that only one bot instance is running"
BLOCKED = "Forbidden: bot was blocked by the user"

# PTB sends strings raw and JSON-encodes everything else, so only these fields are decoded:
# decoding by value would turn a text "123" into a number.
_JSON_FIELDS = frozenset(
    {
        "allow_paid_broadcast",
        "allow_sending_without_reply",
        "allowed_updates",
        "cache_time",
        "caption_entities",
        "chat_id",
        "commands",
        "disable_content_type_detection",
        "disable_notification",
        "drop_pending_updates",
        "entities",
        "has_spoiler",
        "limit",
        "link_preview_options",
        "max_connections",
        "message_id",
        "message_thread_id",
        "offset",
        "protect_content",
        "reply_markup",
        "reply_parameters",
        "scope",
        "show_alert",
        "show_caption_above_media",
        "timeout",
        "user_id",
    }
)
_CHAT_ACTIONS = frozenset(
    {
        "typing",
        "upload_photo",
        "record_video",
        "upload_video",
        "record_voice",
        "upload_voice",
        "upload_document",
        "choose_sticker",
        "find_location",
        "record_video_note",
        "upload_video_note",
    }
)
_DEFAULT_DESCRIPTIONS = {
    400: "Bad Request",
    403: BLOCKED,
    500: "Internal Server Error",
    502: "Bad Gateway",
}


class ApiError(Exception):
    """An error answer of the Bot API: HTTP status plus the API's description."""

    def __init__(self, status: int, description: str, retry_after: int | None = None):
        super().__init__(description)
        self.status, self.description, self.retry_after = status, description, retry_after


# --- Telegram's HTML parse mode, ported from TDLib's parse_html (td/telegram/MessageEntity.cpp)


class HtmlParseError(ValueError):
    """TDLib's message for malformed HTML; the Bot API prefixes "can't parse entities: "."""


_TAG_ENTITY = {
    "b": "bold",
    "strong": "bold",
    "i": "italic",
    "em": "italic",
    "u": "underline",
    "ins": "underline",
    "s": "strikethrough",
    "strike": "strikethrough",
    "del": "strikethrough",
    "tg-spoiler": "spoiler",
    "span": "spoiler",
    "code": "code",
    "pre": "pre",
    "blockquote": "blockquote",
    "a": "text_link",
    "tg-emoji": "custom_emoji",
}
_NAMED_REFS = {b"lt": "<", b"gt": ">", b"amp": "&", b"quot": '"'}
_SPACES = b" \t\r\n\v\0"


def parse_html(html: str) -> tuple[str, list[dict]]:
    """Return (visible text, entities with UTF-16 offsets) or raise HtmlParseError.

    Like Telegram, an ``&`` that starts no known reference stays literal text, and byte
    offsets in errors count UTF-8 bytes.
    """
    return _HtmlParser(html.encode()).parse()


class _HtmlParser:
    def __init__(self, data: bytes):
        self.data, self.i = data, 0
        self.out, self.utf16 = bytearray(), 0
        self.open: list[tuple[str, str, int, int]] = []  # tag, argument, utf16/byte start
        self.entities: list[dict] = []

    def at(self, i: int) -> int:
        # TDLib reads a NUL-terminated string; 0 past the end keeps its checks verbatim.
        return self.data[i] if i < len(self.data) else 0

    def skip_spaces(self) -> None:
        while self.at(self.i) and self.at(self.i) in _SPACES:
            self.i += 1

    def parse(self) -> tuple[str, list[dict]]:
        while self.i < len(self.data):
            c = self.data[self.i]
            if c == ord("&") and self.reference(self.out):
                continue
            if c != ord("<"):
                self.utf16 += 0 if 0x80 <= c < 0xC0 else 1 + (c >= 0xF0)
                self.out.append(c)
                self.i += 1
            elif self.at(self.i + 1) == ord("/"):
                self.end_tag()
            else:
                self.start_tag()
        if self.open:
            raise HtmlParseError(f'Can\'t find end tag corresponding to start tag "{self.open[-1][0]}"')
        try:
            text = self.out.decode()
        except UnicodeDecodeError:
            raise HtmlParseError(
                "Text contains invalid Unicode characters after decoding HTML entities,"
                " check for unmatched surrogate code units"
            ) from None
        for entity in self.entities:
            if entity["type"] == "code":
                entity.pop("language", None)  # only a pre keeps the language of its code
        return text, sorted(self.entities, key=lambda e: (e["offset"], -e["length"]))

    def reference(self, sink: bytearray) -> bool:
        """Decode a character reference at self.i into sink; False leaves '&' literal."""
        end, code = self.i + 1, 0
        if self.at(end) == ord("#"):
            end += 1
            hexadecimal = self.at(end) == ord("x")
            end += hexadecimal
            digits = b"0123456789abcdefABCDEF" if hexadecimal else b"0123456789"
            start = end
            while self.at(end) and self.at(end) in digits:
                end += 1
            code = int(self.data[start:end] or b"0", 16 if hexadecimal else 10)
            if code == 0 or code >= 0x10FFFF or end - self.i >= 10:
                return False
            char = chr(code)
        else:
            while chr(self.at(end)).isascii() and chr(self.at(end)).isalpha():
                end += 1
            char = _NAMED_REFS.get(self.data[self.i + 1 : end])
            if char is None:
                return False
        # A lone surrogate stays invalid UTF-8, which parse() reports as TDLib does.
        sink += char.encode("utf-8", "surrogatepass")
        if sink is self.out:
            self.utf16 += 1 + (ord(char) > 0xFFFF)
        self.i = end + (self.at(end) == ord(";"))
        return True

    def start_tag(self) -> None:
        begin = self.i
        self.i += 1
        while self.at(self.i) not in _SPACES and self.at(self.i) != ord(">"):
            self.i += 1
        if not self.at(self.i):
            raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
        tag = self.data[begin + 1 : self.i].decode(errors="replace").lower()
        if tag not in _TAG_ENTITY:
            raise HtmlParseError(f'Unsupported start tag "{tag}" at byte offset {begin}')
        argument = ""
        while self.at(self.i) != ord(">"):
            self.skip_spaces()
            if self.at(self.i) == ord(">"):
                break
            name_start = self.i
            while self.at(self.i) not in _SPACES and self.at(self.i) not in b"=>":
                self.i += 1
            name = self.data[name_start : self.i].decode(errors="replace")
            if not name:
                raise HtmlParseError(f'Empty attribute name in the tag "{tag}" at byte offset {begin}')
            self.skip_spaces()
            if self.at(self.i) != ord("="):
                if tag == "blockquote" and name == "expandable":
                    argument = "expandable"
                    continue
                raise HtmlParseError(
                    f'Expected equal sign in declaration of an attribute of the tag "{tag}" at byte offset {begin}'
                )
            self.i += 1
            self.skip_spaces()
            if not self.at(self.i):
                raise HtmlParseError(f'Unclosed start tag "{tag}" at byte offset {begin}')
            value = self.attribute_value()
            if not self.at(self.i):
                raise HtmlParseError(f"Unclosed start tag at byte offset {begin}")
            argument = _tag_argument(tag, name, value, argument)
        if tag == "span" and argument != "spoiler":
            raise HtmlParseError(f'Tag "span" must have class "tg-spoiler" at byte offset {begin}')
        self.i += 1
        self.open.append((tag, argument, self.utf16, len(self.out)))

    def attribute_value(self) -> str:
        quote = self.at(self.i)
        if quote not in b"'\"":
            start = self.i
            while chr(self.at(self.i)).isascii() and (chr(self.at(self.i)).isalnum() or self.at(self.i) in b".-"):
                self.i += 1
            if self.at(self.i) not in _SPACES and self.at(self.i) != ord(">"):
                raise HtmlParseError(f"Unexpected end of name token at byte offset {start}")
            return self.data[start : self.i].decode().lower()
        value = bytearray()
        self.i += 1
        while self.at(self.i) not in (quote, 0):
            if not (self.at(self.i) == ord("&") and self.reference(value)):
                value.append(self.data[self.i])
                self.i += 1
        self.i += self.at(self.i) == quote
        return value.decode(errors="replace")

    def end_tag(self) -> None:
        begin = self.i
        if not self.open:
            raise HtmlParseError(f"Unexpected end tag at byte offset {begin}")
        self.i += 2
        while self.at(self.i) not in _SPACES and self.at(self.i) != ord(">"):
            self.i += 1
        name = self.data[begin + 2 : self.i].decode(errors="replace").lower()
        self.skip_spaces()
        if self.at(self.i) != ord(">"):
            raise HtmlParseError(f"Unclosed end tag at byte offset {begin}")
        tag, argument, start, byte_start = self.open[-1]
        if name and name != tag:
            raise HtmlParseError(f'Unmatched end tag at byte offset {begin}, expected "</{tag}>", found "</{name}>"')
        self.i += 1
        self.open.pop()
        if self.utf16 > start:
            self.add_entity(tag, argument, start, byte_start)

    def add_entity(self, tag: str, argument: str, start: int, byte_start: int) -> None:
        entity: dict[str, Any] = {"type": _TAG_ENTITY[tag], "offset": start, "length": self.utf16 - start}
        if tag == "a":
            # Without href Telegram links the text itself if it is a URL. Unlike Telegram we
            # keep URLs as written, not normalised ("example.org" -> "http://example.org/").
            entity["url"] = argument or self.out[byte_start:].decode(errors="replace")
            if not entity["url"] or any(c.isspace() for c in entity["url"]):
                return
        elif tag == "tg-emoji":
            if not argument.isdigit() or int(argument) == 0:
                raise HtmlParseError("Invalid custom emoji identifier specified")
            entity["custom_emoji_id"] = argument
        elif tag == "blockquote" and argument:
            entity["type"] = "expandable_blockquote"
        elif tag in ("pre", "code") and self._merge_pre_code(entity, argument):
            return
        elif tag == "code" and argument:
            entity["language"] = argument  # until a <pre> around it claims it
        self.entities.append(entity)

    def _merge_pre_code(self, entity: dict, argument: str) -> bool:
        """<pre><code class="language-x"> (either order) is one pre entity with a language."""
        last = self.entities[-1] if self.entities else None
        if not last or (last["offset"], last["length"]) != (entity["offset"], entity["length"]):
            return False
        if entity["type"] == "pre" and last["type"] == "code" and last.get("language"):
            last["type"] = "pre"
            return True
        if entity["type"] == "code" and last["type"] == "pre" and argument:
            last["language"] = argument
            return True
        return False


def _tag_argument(tag: str, name: str, value: str, current: str) -> str:
    if (tag == "a" and name == "href") or (tag == "tg-emoji" and name == "emoji-id"):
        return value
    if tag == "code" and name == "class" and value.startswith("language-"):
        return value[len("language-") :]
    if tag == "span" and name == "class" and value.startswith("tg-"):
        return value[len("tg-") :]
    return current


# --- records handed to tests


@dataclass(frozen=True)
class Upload:
    """A file part of a multipart request."""

    file_name: str | None
    mime_type: str | None
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class SentFile:
    """A document or photo the bot uploaded (or re-sent by file_id)."""

    chat_id: int
    message_id: int
    kind: str  # "document" or "photo"
    file_id: str
    file_name: str | None
    mime_type: str | None
    caption: str | None
    content: bytes = field(repr=False)


@dataclass(frozen=True)
class _StoredFile:
    file_id: str
    file_unique_id: str
    file_path: str
    file_name: str | None
    mime_type: str | None
    content: bytes = field(repr=False)


@dataclass
class _Fault:
    kind: str  # "fail", "delay" or "drop"
    times: int = 1
    status: int = 0
    description: str = ""
    retry_after: int | None = None
    seconds: float = 0.0


def _ptb(cls: type[telegram.TelegramObject], data: dict) -> dict:
    """Build through PTB: proves PTB parses what we serve, normalised as PTB writes it."""
    return cls.de_json(data, None).to_dict()


def _decode_field(key: str, value: str | web.FileField) -> Any:
    if isinstance(value, web.FileField):
        return Upload(value.filename, value.content_type, value.file.read())
    if key not in _JSON_FIELDS:
        return value
    try:
        return json.loads(value)
    except ValueError:
        return value  # e.g. chat_id="@channel" travels raw


def _utf16_len(text: str) -> int:
    # Telegram counts message length and entity offsets in UTF-16 code units.
    return len(text.encode("utf-16-le")) // 2


def _now() -> int:
    return int(time.time())


def _error_response(error: ApiError) -> web.Response:
    body: dict[str, Any] = {"ok": False, "error_code": error.status, "description": error.description}
    if error.retry_after is not None:
        body["parameters"] = {"retry_after": error.retry_after}
    return web.json_response(body, status=error.status)


class TelegramEmulator:
    """Bot API emulator; thread-safe, usable as a context manager."""

    def __init__(self, token: str = "123:ABC", bot_username: str = "peerbot_test_bot"):
        self.token, self.bot_username = token, bot_username
        self.bot_user = {
            "id": int(token.split(":")[0]),
            "is_bot": True,
            "first_name": "peerbot",
            "username": bot_username,
        }
        # One lock for all state: handlers run on the server thread, helpers on the test's.
        self._cond = threading.Condition(threading.RLock())
        self._ids = itertools.count(1)
        self._updates: list[dict] = []
        self._history: dict[int, dict] = {}  # every update ever queued, for redeliver()
        self._next_update_id = 1000
        self._allowed_updates: list[str] | None = None
        self._poll_generation = 0
        self._chats: dict[int, dict] = {}
        self._messages: dict[tuple[int, int], dict] = {}
        self._message_counters: dict[int, itertools.count] = {}
        self._bot_message_ids: dict[int, list[int]] = collections.defaultdict(list)
        self._files: dict[str, _StoredFile] = {}
        self._sent_files: list[SentFile] = []
        self._callbacks: dict[str, bool] = {}  # query id -> answered
        self._callback_answers: list[dict] = []
        self._commands: dict[tuple[str, str], list[dict]] = {}
        self._webhook: dict[str, Any] = {}
        self._blocked: set[int] = set()
        self._faults: dict[str, collections.deque[_Fault]] = collections.defaultdict(collections.deque)
        self._calls: list[tuple[str, dict]] = []
        self._errors: list[tuple[str, str]] = []
        self.server_errors: list[BaseException] = []
        self._handlers = {
            name.lower(): (name, handler)
            for name, handler in {
                "getMe": lambda p: _ptb(telegram.User, self.bot_user),
                "getUpdates": self._get_updates,
                "setWebhook": self._set_webhook,
                "deleteWebhook": self._delete_webhook,
                "getWebhookInfo": self._get_webhook_info,
                "sendMessage": self._send_message,
                "editMessageText": self._edit_message_text,
                "editMessageReplyMarkup": self._edit_message_reply_markup,
                "deleteMessage": self._delete_message,
                "answerCallbackQuery": self._answer_callback_query,
                "sendChatAction": self._send_chat_action,
                "setMyCommands": self._set_my_commands,
                "deleteMyCommands": self._delete_my_commands,
                "getMyCommands": self._get_my_commands,
                "sendDocument": lambda p: self._send_file(p, "document"),
                "sendPhoto": lambda p: self._send_file(p, "photo"),
                "getFile": self._get_file,
            }.items()
        }
        self._loop: asyncio.AbstractEventLoop | None = None
        self._thread: threading.Thread | None = None
        self._update_signal: asyncio.Event | None = None
        self._closing = False
        self.base_url = ""

    # --- lifecycle

    def start(self) -> TelegramEmulator:
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="tg-emulator", daemon=True)
        self._thread.start()
        port = self._run(self._serve()).result(timeout=10)
        self.base_url = f"http://127.0.0.1:{port}"
        return self

    def stop(self) -> None:
        if not self._loop:
            return
        self._closing = True
        self._run(self._shutdown()).result(timeout=10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(timeout=10)
        self._loop.close()
        self._loop = None

    def __enter__(self) -> TelegramEmulator:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()

    async def _serve(self) -> int:
        self._update_signal = asyncio.Event()
        self._session = aiohttp.ClientSession()
        app = web.Application(client_max_size=UPLOAD_LIMIT + 1024 * 1024)
        app.router.add_post("/bot{token}/{method}", self._handle_api)
        app.router.add_get("/file/bot{token}/{path:.+}", self._handle_download)
        # handler_cancellation ends a long poll whose client went away; a short shutdown
        # timeout keeps stop() from waiting for pending long polls.
        self._runner = web.AppRunner(app, access_log=None, handler_cancellation=True, shutdown_timeout=0.5)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", 0)
        await site.start()
        return self._runner.addresses[0][1]

    async def _shutdown(self) -> None:
        self._wake_pollers()
        await self._session.close()
        await self._runner.cleanup()

    def _run(self, coro: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop)

    def _wake_pollers(self) -> None:
        """Runs on the server loop: wakes every waiting getUpdates."""
        signal, self._update_signal = self._update_signal, asyncio.Event()
        signal.set()

    # --- HTTP layer

    async def _handle_api(self, request: web.Request) -> web.StreamResponse:
        try:
            return await self._answer(request)
        finally:
            with self._cond:  # wake sync waiters whatever the request changed
                self._cond.notify_all()

    async def _answer(self, request: web.Request) -> web.StreamResponse:
        if request.match_info["token"] != self.token:
            return _error_response(ApiError(401, "Unauthorized"))
        try:
            params = await self._read_params(request)
        except web.HTTPRequestEntityTooLarge:
            return _error_response(ApiError(413, "Request Entity Too Large"))
        name, handler = self._handlers.get(request.match_info["method"].lower(), (request.match_info["method"], None))
        with self._cond:
            self._calls.append((name, params))
            fault = self._take_fault(name)
        if fault and fault.kind == "drop":
            request.transport.close()
            return web.Response()
        if fault and fault.kind == "delay":
            await asyncio.sleep(fault.seconds)
        try:
            if fault and fault.kind == "fail":
                raise ApiError(fault.status, fault.description, fault.retry_after)
            if handler is None:
                raise ApiError(404, "Not Found")
            result = await self._dispatch(handler, params)
        except ApiError as error:
            with self._cond:
                self._errors.append((name, error.description))
            return _error_response(error)
        except Exception as exc:  # noqa: BLE001 - an emulator bug: surface it to the test via server_errors
            self.server_errors.append(exc)
            return _error_response(ApiError(500, f"Internal Server Error: emulator: {exc!r}"))
        return web.json_response({"ok": True, "result": result})

    async def _dispatch(self, handler: Callable[[dict], Any], params: dict) -> Any:
        if inspect.iscoroutinefunction(handler):
            return await handler(params)
        with self._cond:
            if params.get("chat_id") in self._blocked:
                raise ApiError(403, BLOCKED)
            return handler(params)

    @staticmethod
    async def _read_params(request: web.Request) -> dict:
        return {key: _decode_field(key, value) for key, value in (await request.post()).items()}

    async def _handle_download(self, request: web.Request) -> web.StreamResponse:
        with self._cond:
            stored = next((f for f in self._files.values() if f.file_path == request.match_info["path"]), None)
        if request.match_info["token"] != self.token or stored is None:
            return _error_response(ApiError(404, "Not Found"))
        return web.Response(body=stored.content, content_type=stored.mime_type or "application/octet-stream")

    def _take_fault(self, method: str) -> _Fault | None:
        queue = self._faults.get(method.lower())
        if not queue:
            return None
        fault = queue[0]
        fault.times -= 1
        if fault.times <= 0:
            queue.popleft()
        return fault

    # --- polling and webhooks

    async def _get_updates(self, p: dict) -> list[dict]:
        loop = asyncio.get_running_loop()
        with self._cond:
            if self._webhook.get("url"):
                raise ApiError(409, WEBHOOK_ACTIVE)
            self._confirm(p.get("offset"), p.get("allowed_updates"))
            self._poll_generation += 1
            generation = self._poll_generation
        self._wake_pollers()  # an older long poll now ends with 409, as on Telegram
        limit = min(max(int(p.get("limit") or 100), 1), 100)
        deadline = loop.time() + float(p.get("timeout") or 0)
        while True:
            signal = self._update_signal
            with self._cond:
                if generation != self._poll_generation:
                    raise ApiError(409, POLL_TERMINATED)
                if self._updates or self._closing:
                    return self._updates[:limit]
            remaining = deadline - loop.time()
            if remaining <= 0:
                return []
            try:
                await asyncio.wait_for(signal.wait(), remaining)
            except TimeoutError:
                pass

    def _confirm(self, offset: int | None, allowed_updates: list[str] | None) -> None:
        """Drop the updates below offset (a negative one keeps that many of the last)."""
        if allowed_updates:  # Telegram keeps the last non-empty choice
            self._allowed_updates = allowed_updates
        if offset is not None:
            offset = int(offset)
            self._updates = (
                [u for u in self._updates if u["update_id"] >= offset] if offset >= 0 else self._updates[offset:]
            )

    def _set_webhook(self, p: dict) -> bool:
        if not p.get("url"):
            return self._delete_webhook(p)
        self._webhook = {"url": p["url"], "secret_token": p.get("secret_token")}
        self._confirm(None, p.get("allowed_updates"))
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _delete_webhook(self, p: dict) -> bool:
        self._webhook = {}
        if p.get("drop_pending_updates"):
            self._updates.clear()
        return True

    def _get_webhook_info(self, p: dict) -> dict:
        return _ptb(
            telegram.WebhookInfo,
            {
                "url": self._webhook.get("url", ""),
                "has_custom_certificate": False,
                "pending_update_count": len(self._updates),
                "allowed_updates": self._allowed_updates,
            },
        )

    @property
    def webhook(self) -> dict:
        """{"url", "secret_token"} as set by setWebhook, or {} when none is set."""
        with self._cond:
            return dict(self._webhook)

    def deliver_via_webhook(self, update: dict | int, secret_token: str | None = None) -> int:
        """POST an update (a dict, or the id a send_* helper returned) to the webhook.

        Sends the secret from setWebhook unless secret_token overrides it; returns the
        HTTP status. A delivered pending update leaves the getUpdates queue, as on Telegram.
        """
        return self._run(self._post_update(update, secret_token)).result(timeout=30)

    async def deliver_via_webhook_async(self, update: dict | int, secret_token: str | None = None) -> int:
        return await asyncio.wrap_future(self._run(self._post_update(update, secret_token)))

    async def _post_update(self, update: dict | int, secret_token: str | None) -> int:
        with self._cond:
            if isinstance(update, int):
                update_id, update = update, next((u for u in self._updates if u["update_id"] == update), None)
                if update is None:
                    raise ValueError(f"update {update_id} is not pending")
            url = self._webhook["url"]
            secret = secret_token or self._webhook.get("secret_token")
        headers = {"X-Telegram-Bot-Api-Secret-Token": secret} if secret else {}
        payload = _ptb(telegram.Update, update)
        async with self._session.post(url, json=payload, headers=headers) as response:
            if response.status < 300:
                with self._cond:
                    self._updates = [u for u in self._updates if u["update_id"] != payload["update_id"]]
            return response.status

    # --- messages

    def _next_message_id(self, chat_id: int) -> int:
        # Private chats number both sides' messages in one sequence.
        return next(self._message_counters.setdefault(chat_id, itertools.count(1)))

    def _chat(self, chat_id: int) -> dict:
        return self._chats.get(chat_id) or {"id": chat_id, "type": "private" if chat_id > 0 else "group"}

    def _new_message(self, chat_id: int, sender: dict, content: dict) -> dict:
        data = {
            "message_id": self._next_message_id(chat_id),
            "date": _now(),
            "chat": self._chat(chat_id),
            "from": sender,
            **{k: v for k, v in content.items() if v is not None},
        }
        message = _ptb(telegram.Message, data)
        self._messages[(chat_id, message["message_id"])] = message
        return message

    def _bot_message(self, p: dict, content: dict) -> dict:
        chat_id = self._chat_id(p)
        reply = p.get("reply_parameters")
        if reply:
            replied = self._messages.get((reply.get("chat_id", chat_id), reply["message_id"]))
            if replied is None:
                raise ApiError(400, "Bad Request: message to be replied not found")
            content["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        content["reply_markup"] = self._inline_markup(p.get("reply_markup"))
        message = self._new_message(chat_id, self.bot_user, content)
        self._bot_message_ids[chat_id].append(message["message_id"])
        return message

    @staticmethod
    def _chat_id(p: dict) -> int | str:
        if "chat_id" not in p or p["chat_id"] == "":
            raise ApiError(400, "Bad Request: chat_id is empty")
        return p["chat_id"]

    @staticmethod
    def _inline_markup(markup: dict | None) -> dict | None:
        """Validate buttons; only an inline keyboard is echoed back in the Message."""
        if not markup or "inline_keyboard" not in markup:
            return None
        for button in itertools.chain.from_iterable(markup["inline_keyboard"]):
            data = button.get("callback_data")
            if data is not None and not 1 <= len(data.encode()) <= CALLBACK_DATA_LIMIT:
                raise ApiError(400, "Bad Request: BUTTON_DATA_INVALID")
        return _ptb(telegram.InlineKeyboardMarkup, markup)

    @staticmethod
    def _formatted(text: str, p: dict, entities_key: str) -> tuple[str, list[dict] | None]:
        if p.get(entities_key) is not None:
            return text, p[entities_key]
        mode = (p.get("parse_mode") or "").lower()
        if mode == "html":
            try:
                text, entities = parse_html(text)
            except HtmlParseError as error:
                raise ApiError(400, f"Bad Request: can't parse entities: {error}") from None
            return text, entities or None
        if mode in ("markdown", "markdownv2"):
            raise NotImplementedError(f"the emulator does not parse {p['parse_mode']}")
        if mode:
            raise ApiError(400, "Bad Request: unsupported parse_mode")
        return text, None

    def _message_text(self, p: dict) -> tuple[str, list[dict] | None]:
        text, entities = self._formatted(p.get("text", ""), p, "entities")
        # Telegram trims surrounding whitespace before it checks emptiness and length.
        if not text.strip():
            raise ApiError(400, "Bad Request: message text is empty")
        if _utf16_len(text.strip()) > TEXT_LIMIT:
            raise ApiError(400, "Bad Request: message is too long")
        return text, entities

    def _send_message(self, p: dict) -> dict:
        text, entities = self._message_text(p)
        return self._bot_message(p, {"text": text, "entities": entities})

    def _message_to_edit(self, p: dict) -> dict:
        message = self._messages.get((p.get("chat_id"), p.get("message_id")))
        if message is None:
            raise ApiError(400, "Bad Request: message to edit not found")
        if message["from"]["id"] != self.bot_user["id"]:
            raise ApiError(400, "Bad Request: message can't be edited")
        return message

    def _edit(self, message: dict, changes: dict) -> dict:
        merged = {k: v for k, v in {**message, **changes}.items() if v is not None}
        edited = _ptb(telegram.Message, merged)
        if all(edited.get(key) == message.get(key) for key in changes):
            raise ApiError(400, NOT_MODIFIED)
        edited["edit_date"] = _now()
        self._messages[(message["chat"]["id"], message["message_id"])] = edited
        return edited

    def _edit_message_text(self, p: dict) -> dict:
        message = self._message_to_edit(p)
        if "text" not in message:
            raise ApiError(400, "Bad Request: there is no text in the message to edit")
        text, entities = self._message_text(p)
        # Like Telegram, an edit without reply_markup removes the inline keyboard.
        return self._edit(
            message, {"text": text, "entities": entities, "reply_markup": self._inline_markup(p.get("reply_markup"))}
        )

    def _edit_message_reply_markup(self, p: dict) -> dict:
        message = self._message_to_edit(p)
        return self._edit(message, {"reply_markup": self._inline_markup(p.get("reply_markup"))})

    def _delete_message(self, p: dict) -> bool:
        chat_id, message_id = p.get("chat_id"), p.get("message_id")
        if self._messages.pop((chat_id, message_id), None) is None:
            raise ApiError(400, "Bad Request: message to delete not found")
        if message_id in self._bot_message_ids[chat_id]:
            self._bot_message_ids[chat_id].remove(message_id)
        return True

    def _answer_callback_query(self, p: dict) -> bool:
        if self._callbacks.get(p.get("callback_query_id"), True):
            raise ApiError(400, QUERY_TOO_OLD)
        self._callbacks[p["callback_query_id"]] = True
        self._callback_answers.append(p)
        return True

    def _send_chat_action(self, p: dict) -> bool:
        self._chat_id(p)
        if p.get("action") not in _CHAT_ACTIONS:
            raise ApiError(400, "Bad Request: wrong parameter action in request")
        return True

    # --- commands

    @staticmethod
    def _commands_key(p: dict) -> tuple[str, str]:
        scope = p.get("scope") or {"type": "default"}
        return json.dumps(scope, sort_keys=True), p.get("language_code") or ""

    def _set_my_commands(self, p: dict) -> bool:
        commands = p.get("commands") or []
        for command in commands:
            name = command.get("command", "")
            if not (
                1 <= len(name) <= 32 and name.isascii() and all(c.islower() or c.isdigit() or c == "_" for c in name)
            ):
                raise ApiError(400, "Bad Request: BOT_COMMAND_INVALID")
        self._commands[self._commands_key(p)] = [_ptb(telegram.BotCommand, c) for c in commands]
        return True

    def _delete_my_commands(self, p: dict) -> bool:
        self._commands.pop(self._commands_key(p), None)
        return True

    def _get_my_commands(self, p: dict) -> list[dict]:
        return self._commands.get(self._commands_key(p), [])

    # --- files

    def _store_file(
        self, content: bytes, folder: str, file_name: str | None = None, mime_type: str | None = None
    ) -> _StoredFile:
        n = next(self._ids)
        suffix = "." + file_name.rsplit(".", 1)[1] if file_name and "." in file_name else ""
        stored = _StoredFile(
            f"BQACAgIAAx{n:08d}", f"AgAD{n:06d}", f"{folder}/file_{n}{suffix}", file_name, mime_type, content
        )
        self._files[stored.file_id] = stored
        return stored

    @staticmethod
    def _document(stored: _StoredFile) -> dict:
        return {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "file_name": stored.file_name,
            "mime_type": stored.mime_type,
            "file_size": len(stored.content),
        }

    @staticmethod
    def _photo(stored: _StoredFile, width: int, height: int) -> list[dict]:
        return [
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "width": width,
                "height": height,
                "file_size": len(stored.content),
            }
        ]

    def _send_file(self, p: dict, kind: str) -> dict:
        caption, caption_entities = self._formatted(p.get("caption") or "", p, "caption_entities")
        if _utf16_len(caption.strip()) > CAPTION_LIMIT:
            raise ApiError(400, "Bad Request: message caption is too long")
        source = p.get(kind)
        if isinstance(source, Upload):
            stored = self._store_file(source.content, kind + "s", source.file_name, source.mime_type)
        elif source in self._files:
            stored = self._files[source]
        elif source:
            raise ApiError(400, "Bad Request: wrong file identifier/HTTP URL specified")
        else:
            raise ApiError(400, f"Bad Request: there is no {kind} in the request")
        # Telegram would report the real image size; tests do not need it.
        media = self._document(stored) if kind == "document" else self._photo(stored, 1280, 720)
        message = self._bot_message(p, {kind: media, "caption": caption or None, "caption_entities": caption_entities})
        self._sent_files.append(
            SentFile(
                message["chat"]["id"],
                message["message_id"],
                kind,
                stored.file_id,
                stored.file_name,
                stored.mime_type,
                caption or None,
                stored.content,
            )
        )
        return message

    def _get_file(self, p: dict) -> dict:
        stored = self._files.get(p.get("file_id"))
        if stored is None:
            raise ApiError(400, "Bad Request: invalid file_id")
        if len(stored.content) > DOWNLOAD_LIMIT:
            raise ApiError(400, "Bad Request: file is too big")
        return _ptb(
            telegram.File,
            {
                "file_id": stored.file_id,
                "file_unique_id": stored.file_unique_id,
                "file_size": len(stored.content),
                "file_path": stored.file_path,
            },
        )

    # --- test side: what a user does

    def _user(self, user_id: int, first_name: str, language_code: str | None, username: str | None = None) -> dict:
        user = {"id": user_id, "is_bot": False, "first_name": first_name}
        if username:
            user["username"] = username
        return {**user, "language_code": language_code} if language_code else user

    def _user_message(self, user: dict, chat_type: str, chat_id: int | None, content: dict) -> int:
        chat_id = chat_id if chat_id is not None else (user["id"] if chat_type == "private" else -user["id"])
        with self._cond:
            self._chats[chat_id] = (
                {"id": chat_id, "type": "private", "first_name": user["first_name"]}
                if chat_type == "private"
                else {"id": chat_id, "type": chat_type, "title": "peerbot test group"}
            )
            message = self._new_message(chat_id, user, content)
            return self._push_update("message", message)

    def _push_update(self, kind: str, payload: dict) -> int:
        with self._cond:
            update_id = self._next_update_id
            self._next_update_id += 1
            update = _ptb(telegram.Update, {"update_id": update_id, kind: payload})
            self._history[update_id] = update
            # Like Telegram, skip kinds the bot did not ask for in allowed_updates.
            if not self._allowed_updates or kind in self._allowed_updates:
                self._updates.append(update)
        self._loop.call_soon_threadsafe(self._wake_pollers)
        return update_id

    def send_text(
        self,
        user_id: int,
        text: str,
        chat_type: str = "private",
        first_name: str = "Tester",
        language_code: str | None = None,
        chat_id: int | None = None,
        reply_to: int | None = None,
    ) -> int:
        """A user writes text; a leading /command gets its bot_command entity; ``reply_to`` is the
        id of the message in that chat it replies to (Telegram includes that message). -> update_id"""
        content: dict[str, Any] = {"text": text}
        if text.startswith("/"):
            command = text.split(maxsplit=1)[0]
            content["entities"] = [{"type": "bot_command", "offset": 0, "length": _utf16_len(command)}]
        if reply_to is not None:
            chat = chat_id if chat_id is not None else (user_id if chat_type == "private" else -user_id)
            with self._cond:
                replied = self._messages.get((chat, reply_to))
            if replied is None:
                raise ValueError(f"no message {reply_to} in chat {chat} to reply to")
            content["reply_to_message"] = {k: v for k, v in replied.items() if k != "reply_to_message"}
        return self._user_message(self._user(user_id, first_name, language_code), chat_type, chat_id, content)

    def send_document(
        self,
        user_id: int,
        file_name: str,
        content: bytes,
        mime_type: str = "application/octet-stream",
        caption: str | None = None,
        chat_type: str = "private",
        first_name: str = "Tester",
        language_code: str | None = None,
    ) -> int:
        with self._cond:
            stored = self._store_file(content, "documents", file_name, mime_type)
        return self._user_message(
            self._user(user_id, first_name, language_code),
            chat_type,
            None,
            {"document": self._document(stored), "caption": caption},
        )

    def send_photo(
        self,
        user_id: int,
        content: bytes,
        caption: str | None = None,
        width: int = 1280,
        height: int = 720,
        chat_type: str = "private",
        first_name: str = "Tester",
        language_code: str | None = None,
    ) -> int:
        with self._cond:
            stored = self._store_file(content, "photos", "photo.jpg", "image/jpeg")
        return self._user_message(
            self._user(user_id, first_name, language_code),
            chat_type,
            None,
            {"photo": self._photo(stored, width, height), "caption": caption},
        )

    def send_voice(
        self,
        user_id: int,
        content: bytes = b"OggS\0voice",
        duration: int = 4,
        chat_type: str = "private",
        first_name: str = "Tester",
        language_code: str | None = None,
    ) -> int:
        """A voice note, as Telegram delivers one (Opus in Ogg)."""
        with self._cond:
            stored = self._store_file(content, "voice", "voice.ogg", "audio/ogg")
        voice = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "duration": duration,
            "mime_type": "audio/ogg",
            "file_size": len(stored.content),
        }
        return self._user_message(self._user(user_id, first_name, language_code), chat_type, None, {"voice": voice})

    def send_sticker(
        self,
        user_id: int,
        emoji: str = "👍",
        chat_type: str = "private",
        first_name: str = "Tester",
        language_code: str | None = None,
    ) -> int:
        with self._cond:
            stored = self._store_file(b"RIFF\0\0\0\0WEBP", "stickers", "sticker.webp", "image/webp")
        sticker = {
            "file_id": stored.file_id,
            "file_unique_id": stored.file_unique_id,
            "width": 512,
            "height": 512,
            "is_animated": False,
            "is_video": False,
            "type": "regular",
            "emoji": emoji,
            "file_size": len(stored.content),
        }
        return self._user_message(self._user(user_id, first_name, language_code), chat_type, None, {"sticker": sticker})

    def press_button(
        self,
        user_id: int,
        message_id: int,
        callback_data: str,
        chat_id: int | None = None,
        first_name: str = "Tester",
        username: str | None = None,
    ) -> int:
        """A user presses an inline button the bot attached to a message. -> update_id"""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            message = self._messages.get((chat_id, message_id))
            buttons = (message or {}).get("reply_markup", {}).get("inline_keyboard", [])
            if not any(b.get("callback_data") == callback_data for b in itertools.chain.from_iterable(buttons)):
                raise ValueError(
                    f"message {message_id} in chat {chat_id} has no button with callback_data {callback_data!r}"
                )
            query_id = str(next(self._ids) * 7_654_321)
            self._callbacks[query_id] = False
            return self._push_update(
                "callback_query",
                {
                    "id": query_id,
                    "from": self._user(user_id, first_name, None, username),
                    "chat_instance": str(10**12 + abs(chat_id)),
                    "data": callback_data,
                    "message": message,
                },
            )

    def press_without_data(
        self, user_id: int, message_id: int, data: str | None = None, chat_id: int | None = None
    ) -> int:
        """A press whose callback data is missing (``None``) or empty, as a forged update may carry."""
        chat_id = user_id if chat_id is None else chat_id
        with self._cond:
            query_id = str(next(self._ids) * 7_654_321)
            self._callbacks[query_id] = False
            payload = {
                "id": query_id,
                "from": self._user(user_id, "Tester", None),
                "chat_instance": str(10**12 + abs(chat_id)),
                "message": self._messages[(chat_id, message_id)],
            }
            if data is not None:
                payload["data"] = data
            return self._push_update("callback_query", payload)

    def redeliver(self, update_id: int) -> None:
        """Queue an update again, as Telegram does when the bot stopped before confirming it
        (a crash between handling an update and the next getUpdates' offset)."""
        with self._cond:
            if all(u["update_id"] != update_id for u in self._updates):
                self._updates = sorted([*self._updates, self._history[update_id]], key=lambda u: u["update_id"])
        self._loop.call_soon_threadsafe(self._wake_pollers)

    def block_user(self, user_id: int) -> None:
        """From now on, requests to this user's chat answer 403 bot was blocked."""
        with self._cond:
            self._blocked.add(user_id)

    def unblock_user(self, user_id: int) -> None:
        with self._cond:
            self._blocked.discard(user_id)

    # --- test side: fault injection (each applies to the next call(s) of that method)

    def fail_next(
        self,
        method: str,
        status: int = 500,
        description: str | None = None,
        retry_after: int | None = None,
        times: int = 1,
    ) -> None:
        if status == 429:
            retry_after = retry_after or 1
            description = description or f"Too Many Requests: retry after {retry_after}"
        description = description or _DEFAULT_DESCRIPTIONS.get(status) or HTTPStatus(status).phrase
        self._add_fault(method, _Fault("fail", times, status, description, retry_after))

    def delay_next(self, method: str, seconds: float, times: int = 1) -> None:
        self._add_fault(method, _Fault("delay", times, seconds=seconds))

    def drop_connection_next(self, method: str, times: int = 1) -> None:
        """Close the socket without answering, as a dying proxy would."""
        self._add_fault(method, _Fault("drop", times))

    def _add_fault(self, method: str, fault: _Fault) -> None:
        with self._cond:
            self._faults[method.lower()].append(fault)

    # --- test side: inspection

    @property
    def calls(self) -> list[tuple[str, dict]]:
        """Every request as (method, decoded params), in arrival order."""
        with self._cond:
            return list(self._calls)

    def calls_of(self, method: str) -> list[dict]:
        return [params for name, params in self.calls if name.lower() == method.lower()]

    @property
    def errors(self) -> list[tuple[str, str]]:
        """Every error answered, as (method, description)."""
        with self._cond:
            return list(self._errors)

    def sent_messages(self, chat_id: int) -> list[telegram.Message]:
        """The bot's undeleted messages in a chat, in order, as they are now (after edits)."""
        with self._cond:
            return [
                telegram.Message.de_json(self._messages[(chat_id, mid)], None) for mid in self._bot_message_ids[chat_id]
            ]

    def commands(self, scope: dict | None = None, language_code: str | None = None) -> list[telegram.BotCommand]:
        """The command menu set with setMyCommands for this scope and language (as getMyCommands)."""
        key = self._commands_key({"scope": scope, "language_code": language_code})
        with self._cond:
            return [telegram.BotCommand.de_json(c, None) for c in self._commands.get(key, [])]

    def sent_files(self, chat_id: int) -> list[SentFile]:
        with self._cond:
            return [f for f in self._sent_files if f.chat_id == chat_id]

    @property
    def callback_answers(self) -> list[dict]:
        """answerCallbackQuery params, in order."""
        with self._cond:
            return list(self._callback_answers)

    def pending_update_ids(self) -> list[int]:
        with self._cond:
            return [u["update_id"] for u in self._updates]

    # --- test side: waiting (sync for a bot in another thread or process, async for a bot
    # on the test's own event loop, which a blocking wait would freeze)

    def wait_until(self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition") -> None:
        with self._cond:
            if not self._cond.wait_for(predicate, timeout):
                raise TimeoutError(self._timeout_message(what, timeout))

    async def wait_until_async(
        self, predicate: Callable[[], bool], timeout: float = 5.0, what: str = "condition"
    ) -> None:
        deadline = time.monotonic() + timeout
        while True:
            with self._cond:
                if predicate():
                    return
            if time.monotonic() > deadline:
                raise TimeoutError(self._timeout_message(what, timeout))
            await asyncio.sleep(0.002)

    def _timeout_message(self, what: str, timeout: float) -> str:
        recent = [call for call in self.calls if call[0] != "getUpdates"][-5:]
        return f"no {what} within {timeout}s; last calls: {recent!r}"[:2000]

    def _wait_for(self, items: Callable[[], list], count: int, timeout: float, what: str):
        self.wait_until(lambda: len(items()) >= count, timeout, f"{count} {what}")
        return items()

    async def _wait_for_async(self, items: Callable[[], list], count: int, timeout: float, what: str):
        await self.wait_until_async(lambda: len(items()) >= count, timeout, f"{count} {what}")
        return items()

    def wait_for_messages(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[telegram.Message]:
        return self._wait_for(lambda: self.sent_messages(chat_id), count, timeout, f"bot message(s) in chat {chat_id}")

    async def wait_for_messages_async(
        self, chat_id: int, count: int = 1, timeout: float = 5.0
    ) -> list[telegram.Message]:
        return await self._wait_for_async(
            lambda: self.sent_messages(chat_id), count, timeout, f"bot message(s) in chat {chat_id}"
        )

    def wait_for_files(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[SentFile]:
        return self._wait_for(lambda: self.sent_files(chat_id), count, timeout, f"file(s) sent to chat {chat_id}")

    async def wait_for_files_async(self, chat_id: int, count: int = 1, timeout: float = 5.0) -> list[SentFile]:
        return await self._wait_for_async(
            lambda: self.sent_files(chat_id), count, timeout, f"file(s) sent to chat {chat_id}"
        )

    def wait_for_callback_answers(self, count: int = 1, timeout: float = 5.0) -> list[dict]:
        return self._wait_for(lambda: self.callback_answers, count, timeout, "callback answer(s)")

    async def wait_for_callback_answers_async(self, count: int = 1, timeout: float = 5.0) -> list[dict]:
        return await self._wait_for_async(lambda: self.callback_answers, count, timeout, "callback answer(s)")


@pytest.fixture
def tg_emulator():
    """A started emulator; fails the test if the emulator itself hit a bug."""
    with TelegramEmulator() as emulator:
        yield emulator
    assert not emulator.server_errors, emulator.server_errors
