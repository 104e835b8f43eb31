"""Telegram's command menu per role and language: setMyCommands with a chat scope, as the Bot API
emulator records it (getMyCommands' view: scope + language)."""

from __future__ import annotations

from bot.texts import Texts
from tests.bot_harness import ADMIN, COORDINATOR, OFFICIAL, make_settings, start_bot

PUBLIC = ["start", "help", "language", "topics", "brief", "new"]
COORDINATOR_MENU = [*PUBLIC, "template", "edit"]
ADMIN_MENU = [*COORDINATOR_MENU, "status", "gaps", "stats", "reindex", "remove"]


def chat(user: int) -> dict:
    return {"type": "chat", "chat_id": user}


def names(commands) -> list[str]:
    return [c.command for c in commands]


async def test_officials_coordinators_and_admins_each_get_their_own_menu_in_their_language(
    emulator, knowledge, data_dir, engine
):
    from bot.database import BotDatabase

    database = BotDatabase.in_data_dir(data_dir)
    database.set_language(ADMIN, "ar")  # chosen with /language before this start
    bot = await start_bot(emulator, make_settings(emulator, knowledge, data_dir), engine, database)
    try:
        # Officials: the default scope, one menu per language (Telegram picks by the client's).
        for language in (None, "en", "ar", "sl"):
            menu = emulator.commands(None, language)
            assert names(menu) == PUBLIC, language
            assert menu[0].description == Texts(language or "en")("cmd_start")
        assert emulator.commands(chat(OFFICIAL)) == []  # nothing of their own until they choose a language
        # A coordinator without a chosen language: their own menu, in every language.
        for language in (None, "en", "ar", "sl"):
            menu = emulator.commands(chat(COORDINATOR), language)
            assert names(menu) == COORDINATOR_MENU, language
            assert menu[-1].description == Texts(language or "en")("cmd_edit")
        # The admin chose Arabic: one menu, in Arabic, whatever the client's language.
        menu = emulator.commands(chat(ADMIN))
        assert names(menu) == ADMIN_MENU
        assert [c.description for c in menu] == [Texts("ar")(f"cmd_{name}") for name in ADMIN_MENU]
        assert emulator.commands(chat(ADMIN), "en") == []

        # Choosing a language sets the official's own menu in it (and the coordinator's, theirs).
        [offer] = await bot.say(OFFICIAL, "/language")
        await bot.press(OFFICIAL, offer, "l:sl", count=1)
        menu = emulator.commands(chat(OFFICIAL))
        assert names(menu) == PUBLIC and menu[0].description == Texts("sl")("cmd_start")
        [offer] = await bot.say(COORDINATOR, "/language")
        await bot.press(COORDINATOR, offer, "l:ar", count=1)
        menu = emulator.commands(chat(COORDINATOR))
        assert names(menu) == COORDINATOR_MENU and menu[0].description == Texts("ar")("cmd_start")
        assert [emulator.commands(chat(COORDINATOR), language) for language in ("en", "ar", "sl")] == [[], [], []]
    finally:
        await bot.stop()
        database.close()


async def test_every_menu_command_is_a_command_the_bot_handles():
    from bot.access import Role
    from bot.command_menus import commands_for
    from bot.handlers import COMMANDS

    assert set(commands_for(Role.ADMIN)) == set(COMMANDS)
    for role in (Role.OFFICIAL, Role.COORDINATOR, Role.ADMIN):
        for name in commands_for(role):
            for language in ("en", "ar", "sl"):
                assert 3 <= len(Texts(language)(f"cmd_{name}")) <= 256  # Telegram's limits on a description
