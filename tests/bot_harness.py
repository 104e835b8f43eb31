"""Fixtures for the bot's end-to-end tests: the real PTB application polling the Bot API
emulator (tests/tg_emulator.py) over HTTP, over a real engine, index and SQLite database.

The index of the fixture knowledge is built once per session and copied per test, which keeps
a test at about a tenth of a second.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import telegram

from bot.database import BotDatabase
from bot.settings import Settings
from bot.telegram_app import ALLOWED_UPDATES, build_application
from index.engine import Engine
from index.search import RankingConfig
from tests.conftest import FIXTURE_KNOWLEDGE
from tests.fake_embedder import HASH_RANKING, HashEmbedder
from tests.tg_emulator import TelegramEmulator

# A token shaped like a real one: its secret half is long enough to be redacted on its own too.
TOKEN = "123456789:AAH-peerbot-TEST-secret-0123456789abc"
BOT_USERNAME = "peerbot_test_bot"
ADMIN, COORDINATOR, OFFICIAL, ARAB_OFFICIAL, STRANGER = 1001, 1002, 1003, 1004, 2001
RANKING = HASH_RANKING

RLM, FSI, PDI = "\u200f", "\u2068", "\u2069"


def iso(value: object) -> str:
    """A user-supplied value as every language's texts show it: isolated (bot/markup.py user_value)."""
    return f"{FSI}{value}{PDI}"


@pytest.fixture
def emulator():
    with TelegramEmulator(token=TOKEN, bot_username=BOT_USERNAME) as server:
        yield server
    assert not server.server_errors, server.server_errors


@pytest.fixture(scope="session")
def built_index(tmp_path_factory) -> Path:
    """The fixture knowledge indexed once; tests copy it."""
    root = tmp_path_factory.mktemp("bot-index")
    shutil.copytree(FIXTURE_KNOWLEDGE, root / "knowledge")
    Engine(HashEmbedder(64), root / "data", root / "knowledge", RankingConfig(**RANKING)).rebuild()
    return root / "data" / "index"


@pytest.fixture
def engine(knowledge: Path, data_dir: Path, built_index: Path) -> Engine:
    shutil.copytree(built_index, data_dir / "index")
    engine = Engine(HashEmbedder(64), data_dir, knowledge, RankingConfig(**RANKING))
    engine.rebuild()  # up to date: only checks the fingerprint and loads
    return engine


def bot_process_env(emulator: TelegramEmulator, knowledge: Path, data_dir: Path, **extra: str) -> dict[str, str]:
    """Environment for `peerbot run` as a separate process against the emulator (fast embedder)."""
    import os

    return {
        **os.environ,
        "PEERBOT_KNOWLEDGE_DIR": str(knowledge),
        "PEERBOT_DATA_DIR": str(data_dir),
        "PEERBOT_EMBEDDING_MODEL": "test-hash:64",
        "PEERBOT_MIN_DENSE_SCORE": str(RANKING["min_dense_score"]),
        "PEERBOT_MIN_CENTRED_SCORE": str(RANKING["min_centred_score"]),
        "TELEGRAM_BOT_TOKEN": TOKEN,
        "TELEGRAM_API_BASE": emulator.base_url,
        "PEERBOT_ALLOWED_USERS": str(OFFICIAL),
        "PEERBOT_LOG_LEVEL": "DEBUG",
        **extra,
    }


def make_settings(emulator: TelegramEmulator, knowledge: Path, data_dir: Path, **overrides) -> Settings:
    values = dict(
        knowledge_dir=knowledge,
        data_dir=data_dir,
        embedding_model="test-hash:64",
        telegram_bot_token=emulator.token,
        telegram_api_base=emulator.base_url,
        allowed_users=[str(OFFICIAL), str(ARAB_OFFICIAL)],
        admins=[ADMIN],
        coordinators=[COORDINATOR],
        **RANKING,
    )
    values.update(overrides)
    return Settings(_env_file=None, **values)


@pytest.fixture
def settings(emulator, knowledge, data_dir) -> Settings:
    return make_settings(emulator, knowledge, data_dir)


@dataclass
class Bot:
    """The running bot plus helpers that act as Telegram users and wait for the bot's answers."""

    emulator: TelegramEmulator
    application: object
    database: BotDatabase
    engine: Engine
    settings: Settings
    _answers_seen: int = field(default=0)
    _stopped: bool = field(default=False)

    async def stop(self) -> None:
        """As run_polling stops; a second call (a test that restarted the bot, then teardown) does nothing."""
        if self._stopped:
            return
        self._stopped = True
        app = self.application
        if app.updater.running:  # not after a 409 Conflict, which stops it
            await app.updater.stop()
        await app.stop()
        await app.shutdown()
        await app.post_shutdown(app)

    def messages(self, chat_id: int) -> list[telegram.Message]:
        return self.emulator.sent_messages(chat_id)

    async def expect(self, chat_id: int, before: int, count: int = 1, timeout: float = 5.0) -> list[telegram.Message]:
        messages = await self.emulator.wait_for_messages_async(chat_id, before + count, timeout)
        return messages[before:]

    async def say(
        self, user: int, text: str, count: int = 1, chat_id: int | None = None, **kwargs
    ) -> list[telegram.Message]:
        """A user writes; returns the bot's next ``count`` messages in that chat."""
        private = kwargs.get("chat_type", "private") == "private"
        chat = chat_id if chat_id is not None else (user if private else -user)
        before = len(self.messages(chat))
        self.emulator.send_text(user, text, chat_id=chat_id, **kwargs)
        return await self.expect(chat, before, count)

    async def send_document(
        self, user: int, name: str, content: bytes, count: int = 1, **kwargs
    ) -> list[telegram.Message]:
        before = len(self.messages(user))
        self.emulator.send_document(user, name, content, **kwargs)
        return await self.expect(user, before, count)

    async def press(
        self,
        user: int,
        message: telegram.Message,
        data: str,
        count: int = 0,
        chat_id: int | None = None,
        first_name: str = "Tester",
    ) -> tuple[dict, list[telegram.Message]]:
        """A user presses a button of a bot message; returns (the callback answer, new messages)."""
        chat = message.chat.id if chat_id is None else chat_id
        before = len(self.messages(chat))
        answers = len(self.emulator.callback_answers)
        self.emulator.press_button(user, message.message_id, data, chat_id=chat, first_name=first_name)
        answer = (await self.emulator.wait_for_callback_answers_async(answers + 1))[answers]
        new = await self.expect(chat, before, count) if count else []
        return answer, new

    async def settle(self, seconds: float = 0.25) -> None:
        """Let any update still in flight finish (for asserting that nothing was sent)."""
        await asyncio.sleep(seconds)


async def start_bot(
    emulator: TelegramEmulator, settings: Settings, engine: Engine, database: BotDatabase | None = None
) -> Bot:
    database = database or BotDatabase.in_data_dir(settings.data_dir)
    app = build_application(settings, engine, database)
    await app.initialize()
    await app.post_init(app)  # run_polling calls these two hooks; a manual start must too
    await app.start()
    await app.updater.start_polling(poll_interval=0.0, timeout=1, allowed_updates=ALLOWED_UPDATES)
    return Bot(emulator, app, database, engine, settings)


@pytest.fixture
async def bot(emulator, settings, engine):
    running = await start_bot(emulator, settings, engine)
    yield running
    await running.stop()
    running.database.close()


def buttons(message: telegram.Message) -> list[str]:
    markup = message.reply_markup
    return [b.callback_data for row in (markup.inline_keyboard if markup else ()) for b in row]


def button(message: telegram.Message, prefix: str) -> str:
    found = [data for data in buttons(message) if data.startswith(prefix)]
    assert found, f"no button {prefix!r} in {buttons(message)}"
    return found[0]


def links(message: telegram.Message) -> list[str]:
    return [e.url for e in message.entities or () if e.type == "text_link"]


def bold(message: telegram.Message) -> list[str]:
    return [message.parse_entity(e) for e in message.entities or () if e.type == "bold"]


NEW_PRACTICE = """---
id: zrece-beekeepers-honey-for-quarantined-families
title:
  en: Beekeepers deliver honey to quarantined families
  ar: مربو النحل يوصلون العسل إلى الأسر في الحجر الصحي
summary:
  en: The beekeepers' society of Zreče organised volunteers who delivered honey and groceries to quarantined families.
  ar: نظّمت جمعية مربي النحل في زريتشه متطوعين أوصلوا العسل والبقالة إلى الأسر الخاضعة للحجر الصحي.
municipality: Zreče
topics: [volunteering, vulnerable-groups]
target_groups: [quarantined, families]
sources:
  - url: https://www.example.si/zrece-beekeepers-honey
    title: Zreče beekeepers help families in quarantine
    publisher: Example News
    date: 2020-04
---

## What was done
Members of the beekeepers' society collected honey from their hives and, with volunteers of the
local fire brigade, delivered it together with groceries to families in quarantine.
"""
