"""Answers first, bookkeeping second: a write of our own that fails (the question log, the
outbox, statistics) never costs an official the answer.

Such a failure (most often a full disk: SQLite's "database or disk is full", or ENOSPC) is one
*incident*: logged once as an error, told to the admins once, and over when a write succeeds
again, which is logged too; the bot needs no restart when space returns. Meanwhile every
further failure of the same kind costs one DEBUG line.
"""

from __future__ import annotations

import errno
import logging
import sqlite3
import threading

log = logging.getLogger(__name__)

WRITE_ERRORS = (sqlite3.OperationalError, sqlite3.DatabaseError, OSError)


def is_write_failure(error: BaseException) -> bool:
    """A write that failed for reasons of the server (disk full, read-only, I/O), not a bug."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EIO)
    if isinstance(error, sqlite3.DatabaseError):
        text = str(error).lower()
        return any(reason in text for reason in ("disk is full", "readonly", "read-only", "disk i/o", "unable to open"))
    return False


class Incidents:
    """Which kinds of trouble are ongoing; thread-safe (writes also happen in worker threads)."""

    def __init__(self):
        self._lock = threading.Lock()
        self._active: dict[str, str] = {}

    def start(self, kind: str, error: BaseException) -> bool:
        """Record a failure; True only for the first one of an incident (log it, tell the admins)."""
        with self._lock:
            if kind in self._active:
                return False
            self._active[kind] = f"{type(error).__name__}: {error}"
            return True

    def end(self, kind: str) -> bool:
        """A write of this kind worked; True when that ends an incident."""
        with self._lock:
            return self._active.pop(kind, None) is not None

    def active(self) -> dict[str, str]:
        with self._lock:
            return dict(self._active)


DISK = "database writes"


def attempt(incidents: Incidents, what: str, function, *args, **kwargs):
    """``function(*args, **kwargs)``, or None when it failed with a write failure.

    Returns (result, new_incident): new_incident is the error when this failure starts an
    incident, for the caller to tell the admins (which needs the event loop)."""
    try:
        result = function(*args, **kwargs)
    except WRITE_ERRORS as exc:
        if not is_write_failure(exc):
            raise
        if incidents.start(DISK, exc):
            log.error(
                "cannot write %s (%s: %s); answers still go out; admins are told once", what, type(exc).__name__, exc
            )
            return None, exc
        log.debug("still cannot write %s: %s", what, exc)
        return None, None
    if incidents.end(DISK):
        log.warning("writing to the database works again (%s); the incident is over", what)
    return result, None


async def record(context, what: str, function, *args, **kwargs):
    """``attempt`` from a handler: the result, or None after a write failure (admins told once)."""
    from .sending import notify_admins
    from .services import services

    s = services(context)
    result, new_incident = attempt(s.incidents, what, function, *args, **kwargs)
    if new_incident is not None:
        await notify_admins(context, "write_failed_admin", error=f"{type(new_incident).__name__}: {new_incident}"[:300])
    return result
