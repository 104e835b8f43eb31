"""What every handler is given: the services in ``bot_data`` (settings, engine, database,
access, the per-user rate limit) and the worker threads that run blocking work (engine calls,
index builds) off the event loop.
"""

from __future__ import annotations

import asyncio
import time
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial

from telegram.ext import ContextTypes

from index.engine import Engine
from index.followup import Memory

from .access import Access
from .bookkeeping import Incidents
from .database import BotDatabase
from .outbox import Outbox
from .settings import Settings

SERVICES = "services"


class UserRateLimit:
    """At most ``limit`` updates per user in any ``window`` seconds; one warning per window."""

    def __init__(self, limit: int, window: float = 60.0, clock=time.monotonic):
        self.limit, self.window, self.clock = limit, window, clock
        self._hits: dict[int, deque[float]] = {}
        self._warned: dict[int, float] = {}

    def hit(self, user_id: int) -> float | None:
        """Record an update; None if allowed, else the seconds until the next one is."""
        now = self.clock()
        hits = self._hits.setdefault(user_id, deque())
        while hits and now - hits[0] >= self.window:
            hits.popleft()
        if len(hits) >= self.limit:
            return max(1.0, self.window - (now - hits[0]))
        hits.append(now)
        return None

    def should_warn(self, user_id: int) -> bool:
        now = self.clock()
        if now - self._warned.get(user_id, -self.window) >= self.window:
            self._warned[user_id] = now
            return True
        return False


@dataclass
class Services:
    settings: Settings
    engine: Engine
    db: BotDatabase
    access: Access
    rate: UserRateLimit
    started: float = field(default_factory=time.monotonic)
    executor: ThreadPoolExecutor = field(
        default_factory=lambda: ThreadPoolExecutor(max_workers=2, thread_name_prefix="peerbot-engine")
    )
    # One change of the knowledge folder + rebuild at a time (publish, remove, reindex).
    knowledge_lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    # Ongoing trouble with our own writes (bot/bookkeeping.py): one admin notice per incident.
    incidents: Incidents = field(default_factory=Incidents)
    outbox: Outbox | None = None  # set by build_application, which has the bot it sends with
    # Another copy polls with this token (409 Conflict): this copy stops (see telegram_app.on_conflict).
    conflict: bool = False
    conflict_warned_at: float | None = None
    stop_polling: object = None  # run_polling's Application.stop_running; tests stop the updater instead
    followups: Memory | None = None  # each chat's last question (index/followup.py); from settings

    def __post_init__(self):
        if self.followups is None:
            self.followups = Memory(self.settings.followup_minutes * 60)

    async def blocking(self, function, /, *args, **kwargs):
        """Run CPU-bound or disk-bound work (engine, index build) in the worker threads."""
        return await asyncio.get_running_loop().run_in_executor(self.executor, partial(function, *args, **kwargs))


def services(context: ContextTypes.DEFAULT_TYPE) -> Services:
    return context.bot_data[SERVICES]
