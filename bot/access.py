"""Who may do what.

Roles, from the most to the least trusted:
- admin: ``PEERBOT_ADMINS``; everything a coordinator can do, plus access decisions and the
  admin commands;
- coordinator: ``PEERBOT_COORDINATORS``; uploads and publishes knowledge files;
- official: listed in ``PEERBOT_ALLOWED_USERS`` (or that setting is ``*``), or approved by an
  admin (the decision is stored in the bot database);
- none: everyone else; they get a polite refusal and a "request access" button.

The settings always win over the database: an admin or coordinator is never locked out, and a
listed official stays allowed even if a request of theirs was once denied.
"""

from __future__ import annotations

from enum import IntEnum

from .database import APPROVED, BotDatabase
from .settings import Settings


class Role(IntEnum):
    NONE = 0
    OFFICIAL = 1
    COORDINATOR = 2
    ADMIN = 3


class Access:
    def __init__(self, settings: Settings, database: BotDatabase):
        self.admins = frozenset(int(i) for i in settings.admins)
        self.coordinators = frozenset(int(i) for i in settings.coordinators)
        self.open = "*" in settings.allowed_users
        self.allowed = frozenset(int(i) for i in settings.allowed_users if i != "*")
        self.database = database

    def role(self, user_id: int) -> Role:
        if user_id in self.admins:
            return Role.ADMIN
        if user_id in self.coordinators:
            return Role.COORDINATOR
        if self.open or user_id in self.allowed or self.database.user_status(user_id) == APPROVED:
            return Role.OFFICIAL
        return Role.NONE
