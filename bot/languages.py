"""Which language a text is shown in: the one chosen with /language, else the question's,
else Telegram's, else English; for a button press, the one its view was shown in.
"""

from __future__ import annotations

from telegram import Update, User
from telegram.ext import ContextTypes

from index.query_variants import question_language as _answer_language

from .markup import UI
from .services import Services, services
from .texts import LANGUAGES


def telegram_language(user: User | None) -> str | None:
    code = (user.language_code or "")[:2].lower() if user else ""
    return code if code in LANGUAGES else None


def interface_language(s: Services, user: User | None) -> str:
    """For texts that answer no question: the chosen language, else Telegram's, else English."""
    return (user and s.db.language(user.id)) or telegram_language(user) or "en"


def question_language(question: str) -> str | None:
    """The detected language (Arabizi is Arabic), or None when the text has no letters to detect it from."""
    return _answer_language(question) if any(c.isalpha() for c in question) else None


def reply_language(s: Services, user: User | None, detected: str | None) -> str:
    """Chosen with /language, else the question's language, else Telegram's, else English."""
    chosen = user and s.db.language(user.id)
    if chosen:
        return chosen
    if detected in LANGUAGES:
        return detected
    return telegram_language(user) or "en"


def view_language(context: ContextTypes.DEFAULT_TYPE, update: Update, shown_in: str | None) -> str:
    """For a button press: the language chosen since, else the one the view was shown in."""
    s = services(context)
    user = update.callback_query.from_user
    return s.db.language(user.id) or (shown_in if shown_in in LANGUAGES else interface_language(s, user))


def ui_for(context: ContextTypes.DEFAULT_TYPE, user: User | None) -> UI:
    return UI(interface_language(services(context), user))
