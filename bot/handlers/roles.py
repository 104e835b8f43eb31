"""The one role check above "official": ``@requires(Role.X)`` on a command, message or button handler.

The gate (``gate.py``) already admits only officials; whatever needs more is decorated here.
The role is checked again on every call, because a command is just text anyone can type and
callback data carries no authority (anyone can forge a button press). The refused get the
role's refusal: as an alert on a button press, as a reply otherwise.
"""

from __future__ import annotations

import functools
import logging

from telegram import Update
from telegram.ext import ContextTypes

from ..access import Role
from ..languages import interface_language
from ..markup import UI
from ..sending import answer_query, reply_html
from ..services import services

log = logging.getLogger(__name__)

REFUSALS = {Role.COORDINATOR: "coordinators_only", Role.ADMIN: "admins_only"}


def requires(role: Role, refusal: str | None = None):
    """Run the handler as ``handler(update, context, ui)`` only for users with at least ``role``.

    ``refusal`` is the catalogue key told to everyone else (default: the role's own).
    """
    key = refusal or REFUSALS[role]

    def decorate(handler):
        @functools.wraps(handler)
        async def wrapper(update: Update, context: ContextTypes.DEFAULT_TYPE) -> None:
            s = services(context)
            user = update.effective_user
            ui = UI(interface_language(s, user))
            if s.access.role(user.id) >= role:
                await handler(update, context, ui)
                return
            query = update.callback_query
            if query is not None:
                log.warning("user %s pressed %r without the role %s", user.id, query.data, role.name.lower())
                await answer_query(update, ui.plain(key), alert=True)
                return
            text = update.effective_message.text if update.effective_message else None
            log.warning("user %s sent %r without the role %s", user.id, (text or "")[:40], role.name.lower())
            await reply_html(update, context, ui.html(key))

        return wrapper

    return decorate
