"""Telegram's command menu per role and language (``setMyCommands`` with a scope).

Officials see the public commands (the default scope, one menu per interface language, which
Telegram picks by the client's language). Coordinators and admins each get their own menu in
their private chat with the bot (``BotCommandScopeChat``): the public commands plus theirs. A
user who chose a language with /language gets their menu in that language whatever the
client's (only the scope's language-less menu is set then); otherwise one per language, as for
the default scope. A menu is only a convenience: every command still checks the role.
"""

from __future__ import annotations

import logging

from telegram import BotCommand, BotCommandScopeChat
from telegram.error import TelegramError

from .access import Role
from .texts import LANGUAGES, Texts

log = logging.getLogger(__name__)

PUBLIC_COMMANDS = ("start", "help", "language", "topics", "brief", "new")
COORDINATOR_COMMANDS = ("template", "edit")
ADMIN_COMMANDS = ("status", "gaps", "stats", "reindex", "remove")


def commands_for(role: Role) -> tuple[str, ...]:
    if role >= Role.ADMIN:
        return PUBLIC_COMMANDS + COORDINATOR_COMMANDS + ADMIN_COMMANDS
    if role >= Role.COORDINATOR:
        return PUBLIC_COMMANDS + COORDINATOR_COMMANDS
    return PUBLIC_COMMANDS


def menu(role: Role, language: str) -> list[BotCommand]:
    texts = Texts(language)
    return [BotCommand(name, texts(f"cmd_{name}")) for name in commands_for(role)]


async def _set(bot, commands: list[BotCommand], what: str, **scope) -> bool:
    try:
        await bot.set_my_commands(commands, **scope)
        return True
    except TelegramError as exc:  # e.g. a coordinator who never opened the bot: "chat not found"
        log.warning("could not set the command menu (%s): %s", what, exc)
        return False


async def set_chat_menu(bot, user_id: int, role: Role, chosen: str | None) -> None:
    """The menu of one user's private chat: in the chosen language, else one per language."""
    scope = BotCommandScopeChat(user_id)
    if not await _set(bot, menu(role, chosen or "en"), f"user {user_id}", scope=scope):
        return  # the chat cannot be reached: the per-language calls would fail the same way
    for language in LANGUAGES:
        if chosen is None:
            await _set(bot, menu(role, language), f"user {user_id}, {language}", scope=scope, language_code=language)
        else:  # Telegram prefers a menu of the client's language to the scope's own: remove those
            try:
                await bot.delete_my_commands(scope=scope, language_code=language)
            except TelegramError as exc:
                log.warning("could not remove the %s command menu of user %s: %s", language, user_id, exc)


async def set_menus(bot, access, database) -> None:
    """At start: the officials' default menus, then each coordinator's and admin's own."""
    for language in (None, *LANGUAGES):
        await _set(bot, menu(Role.OFFICIAL, language or "en"), language or "default", language_code=language)
    for user_id in sorted(access.coordinators | access.admins):
        await set_chat_menu(bot, user_id, access.role(user_id), database.language(user_id))
