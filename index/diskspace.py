"""Free space before expensive work: a build or a publish that would run out of disk half-way
is refused at once, with the folder and the space it needs, instead of after minutes of
embedding with a traceback ("database or disk is full").
"""

from __future__ import annotations

import errno
import shutil
import sqlite3
from pathlib import Path

from .errors import DiskFull

MB = 1024 * 1024
# Below this, `peerbot doctor` fails the data folder: the question log, the outbox and one new
# index generation of the shipped knowledge (about 10 MB) need room to grow.
DOCTOR_MINIMUM = 100 * MB
_TEXT_PER_PASSAGE = 4096  # the passage's text, its row, its BM25 postings: generous


def free_bytes(folder: Path) -> int:
    """Free bytes for an unprivileged writer on the filesystem holding ``folder`` (or its nearest parent)."""
    folder = Path(folder).absolute()
    existing = next(p for p in (folder, *folder.parents) if p.exists())
    return shutil.disk_usage(existing).free


def folder_bytes(folder: Path | None) -> int:
    if folder is None or not Path(folder).is_dir():
        return 0
    return sum(p.stat().st_size for p in Path(folder).rglob("*") if p.is_file())


def generation_estimate(passages: int, dimension: int, live: Path | None = None) -> int:
    """Bytes a new index generation needs: its vectors twice (SQLite and FAISS) and the texts,
    or one and a half times the live generation when that is larger; plus a margin."""
    computed = passages * (dimension * 4 * 2 + _TEXT_PER_PASSAGE)
    return max(computed, int(folder_bytes(live) * 1.5)) + 8 * MB


def human(size: int) -> str:
    if size >= 10 * 1024 * MB:
        return f"{size / 1024 / MB:.0f} GB"
    return f"{size / MB:.0f} MB" if size >= 10 * MB else f"{size / MB:.1f} MB"


def ensure_free(folder: Path, needed: int, what: str) -> None:
    """Raise DiskFull, naming the folder, when it has less than ``needed`` bytes free."""
    free = free_bytes(folder)
    if free < needed:
        raise DiskFull(
            f"not enough free space in {folder} for {what}: {human(free)} free, about {human(needed)} needed; "
            "free some space there (old backups, logs), then try again"
        )


def ran_out(error: BaseException) -> bool:
    """The error a write meets on a full disk: ENOSPC/EDQUOT, or SQLite's "database or disk is full"."""
    if isinstance(error, OSError):
        return error.errno in (errno.ENOSPC, errno.EDQUOT)
    return isinstance(error, sqlite3.OperationalError) and "disk is full" in str(error)
