"""Unanswered questions grouped by meaning, for `/gaps`, `peerbot gaps` and the dashboard: the
bot database's unanswered questions (index/gaps.py's input) over a window of days, grouped with
the index's own embedder. Blocking (it encodes every distinct wording): the bot runs it in its
worker threads.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from index.embedding import Embedder
from index.gaps import GapGroup, group_gaps

from .database import BotDatabase

# Grouping compares every pair of distinct wordings, so the window keeps it small; a month is
# what an admin reviews between two knowledge updates.
DEFAULT_DAYS = 30


def since(days: int | None, now: datetime | None = None) -> datetime | None:
    """The start of a window of ``days`` days ending now; None (everything) for 0 or None."""
    if not days:
        return None
    return (now or datetime.now(UTC)) - timedelta(days=days)


def gap_groups(db: BotDatabase, embedder: Embedder, days: int | None = DEFAULT_DAYS) -> list[GapGroup]:
    """Open gaps (not confident or 👎, and not answered by the coordinators) of the window, largest first."""
    return group_gaps(db.unanswered_questions(since(days)), embedder)
