"""Catalogue texts -> Telegram HTML and buttons, in the official's language.

Every interface text lives in bot/locales/<language>.yaml; this module only renders it:
values are filled in, Arabic lines get a right-to-left mark with Latin runs isolated
(bot/bidi.py), and then the whole text is HTML-escaped, so nothing a user, a file or the
catalogue contains can break Telegram's HTML parse mode.

A value a user supplied (a name, a @username, a question, a file name, a command's argument)
is passed as ``user_value(...)``: its control and directional-override characters are
dropped, it is shortened if long, and it is isolated (FSI...PDI) in every language, so a
right-to-left override in a name cannot reverse the rest of the line (the @username and the
Telegram id an admin decides on).
"""

from __future__ import annotations

import html
from string import Formatter

from telegram import InlineKeyboardButton, InlineKeyboardMarkup

from .bidi import RLM, is_rtl, isolate, rtl_line, strip_controls
from .texts import LANGUAGES, Texts

USER_VALUE_LIMIT = 200  # characters of a user's value shown inside a text (a list line, a notice)


class UserValue(str):
    """Text that came from a user: isolated wherever it is filled into a catalogue text."""


def user_value(value: object, limit: int = USER_VALUE_LIMIT) -> UserValue:
    """A user-supplied value cleaned for display: controls dropped, at most ``limit`` characters."""
    text = " ".join(strip_controls(str(value)).split())
    return UserValue(f"{text[: limit - 1]}…" if len(text) > limit else text)


def _isolated(values: dict) -> dict:
    return {key: isolate(value) if isinstance(value, UserValue) else value for key, value in values.items()}


def esc(text: object) -> str:
    return html.escape(str(text), quote=True)


def directed(text: str, language: str) -> str:
    """Plain text laid out for the language: each Arabic line RTL with Latin runs isolated."""
    if not is_rtl(language):
        return text
    return "\n".join(rtl_line(line) if line.strip() else line for line in text.split("\n"))


def embedded(value: object, language: str) -> str:
    """A value of unknown direction (a name, a question) placed inside a line of the language."""
    return isolate(str(value)) if is_rtl(language) else str(value)


class UI:
    def __init__(self, language: str):
        self.language = language if language in LANGUAGES else "en"
        self.texts = Texts(self.language)

    def plain(self, key: str, **values) -> str:
        """Catalogue text without markup, e.g. for a button label or a callback answer."""
        return self.texts(key, **_isolated(values))

    def html(self, key: str, **values) -> str:
        """Catalogue text as safe HTML (escaped, RTL-aware).

        In Arabic each line starts with a right-to-left mark, Latin runs of the catalogue text
        are isolated, and every filled-in value is isolated as a whole (a file name such as
        ``../../x.md`` or a user's name stays one unit, whatever its direction).
        """
        if not is_rtl(self.language):
            return esc(self.texts(key, **_isolated(values)))
        parts = []
        for literal, name, spec, conversion in Formatter().parse(self.texts.template(key)):
            if literal:
                parts.append(rtl_line(literal)[len(RLM) :])
            if name is not None:
                value = values[name]
                value = repr(value) if conversion == "r" else str(value) if conversion == "s" else value
                parts.append(isolate(format(value, spec or "")))
        return esc("\n".join(RLM + line if line.strip() else line for line in "".join(parts).split("\n")))

    def line(self, text: str) -> str:
        """Arbitrary curated text (a title, a problem) as one safe HTML paragraph."""
        return esc(directed(text, self.language))

    def button(self, key: str, data: str, **values) -> InlineKeyboardButton:
        return InlineKeyboardButton(self.texts(key, **values), callback_data=data)


def keyboard(rows: list[list[InlineKeyboardButton]]) -> InlineKeyboardMarkup | None:
    rows = [row for row in rows if row]
    return InlineKeyboardMarkup(rows) if rows else None
