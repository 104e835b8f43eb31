"""Data kept by the bot: purge old personal data, back everything up, restore a backup.

A backup folder holds what a new server needs to carry on where the old one stopped:

    DEST/peerbot.db          the bot database (users and access decisions, languages, the
                             question log, feedback, uploads): a consistent copy made with
                             SQLite's backup API while the bot may be writing, as one file
    DEST/knowledge/          the knowledge folder
    DEST/index/CURRENT, DEST/index/gen-…/
                             the live index generation (so a restore answers at once, without
                             embedding everything again)
    DEST/backups/            replaced and removed knowledge files, when there are any
    DEST/peerbot-backup.json what was copied, with a sha256 of every file

Not copied: the embedding model (converted again on the first start) and the settings (the
environment or .env, which hold the bot token: keep them elsewhere).

The knowledge folder and the index are copied under the index build lock, so no build (a
publish, /remove, /reindex, `peerbot index`) changes them half-way; a file published from
Telegram is written just before its build, so a backup may hold it without its index, which
the next start then builds.
"""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from index import store
from index.build import BuildBusy, build_lock
from index.errors import PeerbotError
from index.model_cache import sha256_file

from .database import DB_NAME, BotDatabase
from .knowledge_files import BACKUPS

MANIFEST = "peerbot-backup.json"
KNOWLEDGE = "knowledge"
TABLES = ("users", "questions", "feedback", "uploads")
LOCK_WAIT = 600.0  # seconds to wait for a running index build (a full build with the real model takes ~2 min)


class DataError(PeerbotError):
    """A maintenance command cannot go ahead; the message says why and what to do."""


@dataclass
class Copied:
    folder: Path
    rows: dict[str, int]
    knowledge_files: int
    generation: str | None
    backup_files: int


# -- purge -----------------------------------------------------------------------------------


def purge(data_dir: Path, older_than_days: int) -> tuple[int, int, str] | None:
    """Delete question-log and feedback rows older than the given days; (questions, feedback, cutoff).

    None when there is no bot database yet: a fresh install has nothing to purge, and a purge
    scheduled before the bot's first start must not fail (nor create an empty database)."""
    path = Path(data_dir) / DB_NAME
    if not path.is_file():
        return None
    cutoff = datetime.now(UTC) - timedelta(days=older_than_days)
    database = BotDatabase(path)
    try:
        questions, feedback = database.purge(cutoff)
    finally:
        database.close()
    return questions, feedback, cutoff.isoformat(timespec="seconds")


# -- backup ----------------------------------------------------------------------------------


def backup(data_dir: Path, knowledge_dir: Path, dest: Path, lock_wait: float = LOCK_WAIT) -> Copied:
    data_dir, knowledge_dir, dest = Path(data_dir), Path(knowledge_dir), Path(dest)
    source = data_dir / DB_NAME
    if dest.exists() and (not dest.is_dir() or any(dest.iterdir())):
        raise DataError(f"{dest} is not empty; a backup never overwrites anything (give a new or empty folder)")
    if not source.is_file():
        raise DataError(f"no bot database at {source} (has the bot run with PEERBOT_DATA_DIR={data_dir}?)")
    if not knowledge_dir.is_dir():
        raise DataError(f"no knowledge folder at {knowledge_dir}")
    dest.mkdir(parents=True, exist_ok=True)
    rows = _copy_database(source, dest / DB_NAME)
    with _waiting_build_lock(data_dir, lock_wait):
        shutil.copytree(knowledge_dir, dest / KNOWLEDGE, ignore=_temporary_files)
        live = store.current_generation(data_dir)
        if live is not None:
            shutil.copytree(live, dest / store.INDEX_DIR / live.name)
            (dest / store.INDEX_DIR / store.CURRENT).write_text(live.name + "\n")
    if (data_dir / BACKUPS).is_dir():
        shutil.copytree(data_dir / BACKUPS, dest / BACKUPS)
    copied = Copied(dest, rows, _count(dest / KNOWLEDGE), live.name if live else None, _count(dest / BACKUPS))
    manifest = {
        "format": 1,
        "created_at": datetime.now(UTC).isoformat(timespec="seconds"),
        "source": {"data_dir": str(data_dir.resolve()), "knowledge_dir": str(knowledge_dir.resolve())},
        "rows": rows,
        "generation": copied.generation,
        "files": {str(p.relative_to(dest)): sha256_file(p) for p in sorted(dest.rglob("*")) if p.is_file()},
    }
    (dest / MANIFEST).write_text(json.dumps(manifest, indent=1, sort_keys=True) + "\n")
    store.fsync_tree(dest)
    return copied


def _copy_database(source: Path, target: Path) -> dict[str, int]:
    """A consistent copy through SQLite's backup API, as a single file (no -wal to forget)."""
    src = sqlite3.connect(str(source), timeout=30)
    dst = sqlite3.connect(str(target))
    try:
        src.backup(dst)
        dst.execute("pragma journal_mode = delete")
        _check_integrity(dst, target)
        return {table: dst.execute(f"select count(*) from {table}").fetchone()[0] for table in TABLES}  # noqa: S608 - fixed names
    finally:
        dst.close()
        src.close()


def _check_integrity(connection: sqlite3.Connection, path: Path) -> None:
    result = connection.execute("pragma integrity_check").fetchone()[0]
    if result != "ok":
        raise DataError(f"{path} fails SQLite's integrity check ({result})")


class _waiting_build_lock:
    """The index build lock, waited for (build_lock itself refuses at once when busy)."""

    def __init__(self, data_dir: Path, wait: float):
        self.data_dir, self.wait, self.context = data_dir, wait, None

    def __enter__(self):
        deadline = time.monotonic() + self.wait
        while True:
            context = build_lock(self.data_dir)
            try:
                context.__enter__()
            except BuildBusy:
                if time.monotonic() > deadline:
                    raise DataError(
                        f"an index build has been running for more than {self.wait:.0f} s; try again when it is done"
                    ) from None
                time.sleep(0.5)
                continue
            self.context = context
            return self

    def __exit__(self, *exc_info):
        return self.context.__exit__(*exc_info)


def _temporary_files(folder: str, names: list[str]) -> list[str]:
    return [name for name in names if name.startswith(".") and name.endswith(".tmp")]  # half-written uploads


def _count(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file()) if folder.is_dir() else 0


# -- restore ---------------------------------------------------------------------------------


def restore(source: Path, data_dir: Path, knowledge_dir: Path) -> Copied:
    """Put a backup in place for a new start; refuses to overwrite a database, index or knowledge."""
    source, data_dir, knowledge_dir = Path(source), Path(data_dir), Path(knowledge_dir)
    manifest_path = source / MANIFEST
    if not manifest_path.is_file():
        raise DataError(f"{source} is not a peerbot backup (no {MANIFEST}; make one with `peerbot backup DEST`)")
    manifest = json.loads(manifest_path.read_text())
    damaged = sorted(
        name
        for name, digest in manifest["files"].items()
        if not (source / name).is_file() or sha256_file(source / name) != digest
    )
    if damaged:
        raise DataError(f"the backup in {source} is damaged: {', '.join(damaged[:5])} differ from its manifest")
    in_the_way = [str(p) for p in (data_dir / DB_NAME, data_dir / store.INDEX_DIR / store.CURRENT) if p.exists()]
    if knowledge_dir.exists() and any(knowledge_dir.iterdir()):
        in_the_way.append(str(knowledge_dir))
    if in_the_way:
        raise DataError(
            f"refusing to overwrite {', '.join(in_the_way)}; restore into a new data folder and an empty "
            "knowledge folder (PEERBOT_DATA_DIR, PEERBOT_KNOWLEDGE_DIR), or move these away first"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    rows = _copy_database(source / DB_NAME, data_dir / DB_NAME)
    if knowledge_dir.exists():
        knowledge_dir.rmdir()  # empty, checked above
    shutil.copytree(source / KNOWLEDGE, knowledge_dir)
    generation = manifest.get("generation")
    if generation:
        shutil.copytree(source / store.INDEX_DIR / generation, data_dir / store.INDEX_DIR / generation)
        store.publish(data_dir, data_dir / store.INDEX_DIR / generation)
    if (source / BACKUPS).is_dir():
        shutil.copytree(source / BACKUPS, data_dir / BACKUPS, dirs_exist_ok=True)
    BotDatabase(data_dir / DB_NAME).close()  # back to WAL mode, migrations applied
    return Copied(data_dir, rows, _count(knowledge_dir), generation, _count(data_dir / BACKUPS))
