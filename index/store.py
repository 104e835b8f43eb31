"""The index on disk: one folder per build ("generation"), and a CURRENT pointer.

A generation holds ``index.db`` (practices, passages, sources, vectors with their model id and
content hash, build metadata; schema made only by the numbered migrations below),
``index.faiss`` and ``bm25/``. Builds write a new generation beside the live one and then
replace CURRENT in one atomic rename, so a reader sees either the old index or the new one,
never a half-written mix.

Crash safety: a build killed at any point (even SIGKILL) leaves at most a ``.building-*``
folder or a ``.CURRENT.*`` file, which no reader ever opens; the next build removes them
(under the build lock, which proves that no build is running). Files are fsynced before the
rename, so a power cut cannot publish a generation whose data is still only in memory.
``index.db`` keeps SQLite's default rollback journal, not WAL: it is written once, inside a
folder nobody reads yet, and only read afterwards, so WAL would add ``-wal``/``-shm`` files
and need a writable folder for readers without protecting anything.
"""

from __future__ import annotations

import json
import os
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import sqlite_utils
from sqlite_utils import Migrations

INDEX_DIR = "index"
CURRENT = "CURRENT"
DB_NAME = "index.db"
FAISS_NAME = "index.faiss"
BM25_DIR = "bm25"

migrations = Migrations("peerbot-index")


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["practices"].create(
        {
            "id": str,
            "path": str,
            "content_hash": str,
            "municipality": str,
            "country": str,
            "level": str,
            "meta": str,
            "sections": str,
        },
        pk="id",
    )
    db["passages"].create(
        {"id": int, "practice_id": str, "kind": str, "heading": str, "language": str, "text": str, "content_hash": str},
        pk="id",
        foreign_keys=[("practice_id", "practices", "id")],
    )
    db["passages"].create_index(["practice_id"])
    db["sources"].create(
        {"practice_id": str, "position": int, "url": str, "title": str, "publisher": str, "date": str, "lang": str},
        pk=("practice_id", "position"),
        foreign_keys=[("practice_id", "practices", "id")],
    )
    db["vectors"].create({"content_hash": str, "model_id": str, "vector": bytes}, pk=("content_hash", "model_id"))
    db["meta"].create({"key": str, "value": str}, pk="key")


@migrations()
def m002_vector_engine(db: sqlite_utils.Database) -> None:
    # Which engine computed each vector (the default model has two that agree, index.embedding):
    # a vector is reused by content hash and model id, so it keeps the engine that made it.
    db["vectors"].add_column("engine", str)


@migrations()
def m003_translations(db: sqlite_utils.Database) -> None:
    # Translated bodies (docs/knowledge-format.md, "Translations"): {language: [[heading, text], ...]},
    # served beside the original "sections" so the bot can show a practice in the reader's language.
    db["practices"].add_column("translations", str)


def index_root(data_dir: Path) -> Path:
    return Path(data_dir) / INDEX_DIR


def current_generation(data_dir: Path) -> Path | None:
    pointer = index_root(data_dir) / CURRENT
    try:
        name = pointer.read_text().strip()
    except FileNotFoundError:
        return None
    folder = index_root(data_dir) / name
    # Only a generation of this folder: whatever else CURRENT says is treated as no index.
    return folder if name.startswith("gen-") and "/" not in name and "\\" not in name and folder.is_dir() else None


def open_db(folder: Path, *, create: bool = False) -> sqlite_utils.Database:
    path = folder / DB_NAME
    if not create and not path.is_file():
        raise FileNotFoundError(path)
    db = sqlite_utils.Database(path)
    if create:
        migrations.apply(db)
    return db


def read_meta(db: sqlite_utils.Database) -> dict[str, str]:
    return {row["key"]: row["value"] for row in db["meta"].rows} if db["meta"].exists() else {}


def reusable_vectors(folder: Path | None, model_id: str) -> dict[str, np.ndarray]:
    """Vectors of a previous generation made by the same model, by passage content hash."""
    if folder is None:
        return {}
    try:
        db = open_db(folder)
    except FileNotFoundError:
        return {}
    try:
        if not db["vectors"].exists():
            return {}
        rows = db.query("select content_hash, vector from vectors where model_id = ?", [model_id])
        return {row["content_hash"]: np.frombuffer(row["vector"], dtype=np.float32) for row in rows}
    except sqlite3.DatabaseError:  # a damaged previous generation: embed everything again
        return {}
    finally:
        db.close()


def vector_engines(folder: Path | None, model_id: str) -> dict[str, str]:
    """The engine that made each stored vector of ``model_id``, by passage content hash."""
    if folder is None:
        return {}
    try:
        db = open_db(folder)
    except FileNotFoundError:
        return {}
    try:
        if "engine" not in db["vectors"].columns_dict:
            return {}
        rows = db.query("select content_hash, engine from vectors where model_id = ?", [model_id])
        return {row["content_hash"]: row["engine"] or "" for row in rows}
    except sqlite3.DatabaseError:
        return {}
    finally:
        db.close()


def publish(data_dir: Path, generation: Path) -> None:
    """Point CURRENT at ``generation`` atomically, then drop generations no longer needed.

    Call it holding the build lock (``index.build.build_lock``)."""
    root = index_root(data_dir)
    previous = current_generation(data_dir)
    tmp = root / f".{CURRENT}.{os.getpid()}"
    tmp.write_text(generation.name + "\n")
    with open(tmp, "rb") as handle:
        os.fsync(handle.fileno())
    os.replace(tmp, root / CURRENT)
    fsync_dir(root)
    _prune(root, keep={generation.name, previous.name if previous else generation.name})


def _prune(root: Path, keep: set[str]) -> None:
    """Keep the live generation and the one it replaced; drop older ones, and generations a
    killed build wrote but never published."""
    for folder in root.iterdir():
        if folder.is_dir() and folder.name.startswith("gen-") and folder.name not in keep:
            shutil.rmtree(folder, ignore_errors=True)
    remove_abandoned(root)


def remove_abandoned(root: Path) -> list[str]:
    """Remove what builds that died left behind. Only under the build lock: holding it proves no
    build is running (a process id would not: containers reuse them after a restart)."""
    removed = []
    for stale in root.iterdir() if root.is_dir() else ():
        if stale.is_dir() and stale.name.startswith(".building-"):
            shutil.rmtree(stale, ignore_errors=True)
        elif stale.is_file() and stale.name.startswith(f".{CURRENT}."):
            stale.unlink(missing_ok=True)
        else:
            continue
        removed.append(stale.name)
    return removed


def fsync_tree(folder: Path) -> None:
    """Flush every file below ``folder``, then the folders themselves, to disk."""
    for path in sorted(folder.rglob("*"), key=lambda p: len(p.parts), reverse=True):
        if path.is_file():
            with open(path, "rb") as handle:
                os.fsync(handle.fileno())
        elif path.is_dir():
            fsync_dir(path)
    fsync_dir(folder)


def fsync_dir(folder: Path) -> None:
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def dumps(value) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True)
