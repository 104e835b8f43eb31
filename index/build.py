"""Knowledge folder -> a new, verified index generation, swapped in atomically.

Order of work: validate every file (any problem stops the build, so a broken file never
changes what is served) -> passages -> reuse stored vectors whose content hash and model id
match, embed only the rest -> write the generation -> load and check it -> publish.
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import sqlite3
import sys
import time
from collections.abc import Callable
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from . import diskspace, store
from .embedding import Embedder
from .errors import BuildBusy, DiskFull, IndexCorrupt, KnowledgeInvalid
from .knowledge import KnowledgeBase, load_knowledge
from .lexical import LexicalIndex
from .passages import Passage, practice_passages
from .problems import Problem
from .vector_index import build_faiss, write_faiss


@dataclass
class BuildReport:
    practices: int
    passages: int
    embedded: int
    reused: int
    seconds: float
    generation: str
    changed: bool = True
    model_id: str = ""
    warnings: list[str] = field(default_factory=list)


@contextmanager
def build_lock(data_dir: Path):
    root = store.index_root(data_dir)
    root.mkdir(parents=True, exist_ok=True)
    with open(root / ".lock", "w") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            raise BuildBusy("another index build is running; wait for it to finish") from None
        yield


def knowledge_fingerprint(passages: list[Passage], kb: KnowledgeBase, model_id: str) -> str:
    digest = hashlib.sha256(model_id.encode())
    digest.update(_taxonomy_json(kb).encode())  # the labels are served from the index too
    for practice in kb.practices:
        digest.update(practice.content_hash.encode())
    for passage in passages:
        digest.update(passage.content_hash.encode())
    return digest.hexdigest()


def files_fingerprint(knowledge_dir: Path, model_id: str) -> str:
    """What the index was built from, without parsing it: the practice files' bytes, the taxonomy,
    the code that turns files into passages, and the model. Parsing every file (pure-Python YAML)
    is about 0.9 s of a 2 s `peerbot ask`; reading and hashing them is about 10 ms."""
    from . import knowledge, language, passages, safe_yaml, taxonomy, translations

    folder = Path(knowledge_dir)
    digest = hashlib.sha256(model_id.encode())
    for module in (knowledge, passages, taxonomy, language, safe_yaml, translations):
        digest.update(Path(module.__file__).read_bytes())
    for path in [folder / "taxonomy.yaml", *knowledge.practice_files(folder)]:
        digest.update(path.relative_to(folder).as_posix().encode() + b"\0")
        digest.update(hashlib.sha256(path.read_bytes()).digest() if path.is_file() else b"-")
    return digest.hexdigest()


def build_index(
    knowledge_dir: Path,
    data_dir: Path,
    embedder: Embedder,
    *,
    force: bool = False,
    progress: bool | None = None,
    kb: KnowledgeBase | None = None,
    on_generation_written: Callable[[Path], None] | None = None,
) -> BuildReport:
    """Build the index for ``knowledge_dir`` into ``data_dir``; raises KnowledgeInvalid without touching it."""
    started = time.perf_counter()
    files = files_fingerprint(knowledge_dir, embedder.model_id) if Path(knowledge_dir).is_dir() else None
    if kb is None and not force and files is not None:
        unchanged = _unchanged(Path(data_dir), files, embedder.model_id, started)
        if unchanged is not None:
            return unchanged
    kb = kb if kb is not None else load_knowledge(Path(knowledge_dir))
    if kb.problems:
        raise KnowledgeInvalid(kb.problems)
    if not kb.practices:
        raise KnowledgeInvalid(
            [Problem(str(knowledge_dir), "-", "no practice files found (add <id>.md files, see knowledge/README.md)")]
        )

    passages = [p for practice in kb.practices for p in practice_passages(practice)]
    fingerprint = knowledge_fingerprint(passages, kb, embedder.model_id)
    data_dir = Path(data_dir)
    with build_lock(data_dir):
        live = store.current_generation(data_dir)
        meta = _meta_of(live) if live is not None else {}
        same_files = files is None or meta.get("files_fingerprint") == files  # else: a new generation, all reused
        if live is not None and not force and meta.get("fingerprint") == fingerprint and same_files:
            store.remove_abandoned(store.index_root(data_dir))  # what a killed build left
            return BuildReport(
                len(kb.practices),
                len(passages),
                0,
                len(passages),
                time.perf_counter() - started,
                live.name,
                changed=False,
                model_id=embedder.model_id,
            )

        # Before minutes of embedding, not after: a full disk is refused with what it needs.
        diskspace.ensure_free(
            store.index_root(data_dir),
            diskspace.generation_estimate(len(passages), embedder.dimension, live),
            "a new index generation",
        )
        reusable = store.reusable_vectors(live, embedder.model_id) if not force else {}
        engines = store.vector_engines(live, embedder.model_id) if reusable else {}
        vectors, embedded = _embed(passages, reusable, embedder, progress, engines)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        building = store.index_root(data_dir) / f".building-{stamp}-{os.getpid()}"
        building.mkdir(parents=True)
        generation = building.with_name(f"gen-{stamp}-{os.getpid()}")
        try:
            _write_generation(
                building,
                kb,
                passages,
                vectors,
                embedder,
                fingerprint,
                engines,
                files or "",
            )
            if on_generation_written:
                on_generation_written(building)
            _verify(building, len(passages), embedder.dimension)
            store.fsync_tree(building)
            building.rename(generation)
        except BaseException as exc:
            shutil.rmtree(building, ignore_errors=True)  # a killed process leaves it to the next build
            if diskspace.ran_out(exc):  # the estimate was short: one line, not a traceback
                raise DiskFull(
                    f"the disk holding {building.parent} filled up while the new index generation was written "
                    f"({exc}); the live index is unchanged: free some space there, then try again"
                ) from None
            raise
        store.publish(data_dir, generation)
    return BuildReport(
        practices=len(kb.practices),
        passages=len(passages),
        embedded=embedded,
        reused=len(passages) - embedded,
        seconds=time.perf_counter() - started,
        generation=generation.name,
        model_id=embedder.model_id,
    )


def _taxonomy_json(kb: KnowledgeBase) -> str:
    return store.dumps(asdict(kb.taxonomy))


def _unchanged(data_dir: Path, files: str, model_id: str, started: float) -> BuildReport | None:
    """The report of a build that has nothing to do, when the live index was built from these very files."""
    with build_lock(data_dir):
        live = store.current_generation(data_dir)
        meta = _meta_of(live) if live is not None else {}
        if meta.get("files_fingerprint") != files or meta.get("model_id") != model_id:
            return None
        store.remove_abandoned(store.index_root(data_dir))  # what a killed build left
        passages = int(meta.get("passages", 0))
        return BuildReport(
            int(meta.get("practices", 0)),
            passages,
            0,
            passages,
            time.perf_counter() - started,
            live.name,
            changed=False,
            model_id=model_id,
        )


def _meta_of(generation: Path) -> dict[str, str]:
    """The generation's build metadata; empty (so: rebuild) when its database is missing or damaged."""
    try:
        db = store.open_db(generation)
    except FileNotFoundError:
        return {}
    try:
        return store.read_meta(db)
    except sqlite3.DatabaseError:
        return {}
    finally:
        db.close()


def _embed(
    passages: list[Passage],
    reusable: dict[str, np.ndarray],
    embedder: Embedder,
    progress: bool | None,
    engines: dict[str, str],
) -> tuple[np.ndarray, int]:
    """Vectors for ``passages``; ``engines`` (content hash -> engine) gains the fresh vectors' engine."""
    missing = sorted({p.content_hash: p.text for p in passages if p.content_hash not in reusable}.items())
    fresh: dict[str, np.ndarray] = {}
    if missing:
        engine = _document_engine(embedder, len(missing))
        engines.update((content_hash, engine) for content_hash, _ in missing)
        from tqdm import tqdm

        show = sys.stderr.isatty() if progress is None else progress
        with tqdm(total=len(missing), desc="embedding passages", unit="passage", disable=not show) as bar:
            matrix = embedder.encode_documents([text for _, text in missing], progress=bar.update)
        fresh = {content_hash: matrix[i] for i, (content_hash, _) in enumerate(missing)}
    table = {**reusable, **fresh}
    vectors = (
        np.stack([table[p.content_hash] for p in passages]).astype(np.float32)
        if passages
        else np.zeros((0, embedder.dimension), np.float32)
    )
    if vectors.shape[1] != embedder.dimension:
        raise IndexCorrupt(f"embedding dimension {vectors.shape[1]} does not match the model's {embedder.dimension}")
    return vectors, len(missing)


def _document_engine(embedder: Embedder, count: int) -> str:
    choose = getattr(embedder, "document_engine", None)
    return choose(count) if choose else getattr(embedder, "engine", type(embedder).__name__)


def _write_generation(
    folder: Path,
    kb: KnowledgeBase,
    passages: list[Passage],
    vectors: np.ndarray,
    embedder: Embedder,
    fingerprint: str,
    engines: dict[str, str] | None = None,
    files_fingerprint: str = "",
) -> None:
    db = store.open_db(folder, create=True)
    try:
        with db.conn:
            db["practices"].insert_all(
                {
                    "id": p.id,
                    "path": p.path,
                    "content_hash": p.content_hash,
                    "municipality": p.meta.municipality,
                    "country": p.meta.country,
                    "level": p.meta.level,
                    "meta": store.dumps(p.meta.model_dump(mode="json")),
                    "sections": store.dumps([[s.heading, s.text] for s in p.sections]),
                    "translations": store.dumps(
                        {lang: [[s.heading, s.text] for s in parts] for lang, parts in p.translations.items()}
                    ),
                }
                for p in kb.practices
            )
            db["sources"].insert_all(
                {"practice_id": p.id, "position": i, **s.model_dump(mode="json")}
                for p in kb.practices
                for i, s in enumerate(p.meta.sources)
            )
            db["passages"].insert_all(
                {
                    "id": i,
                    "practice_id": p.practice_id,
                    "kind": p.kind,
                    "heading": p.heading,
                    "language": p.language,
                    "text": p.text,
                    "content_hash": p.content_hash,
                }
                for i, p in enumerate(passages)
            )
            seen: set[str] = set()
            rows = []
            for passage, vector in zip(passages, vectors):
                if passage.content_hash not in seen:
                    seen.add(passage.content_hash)
                    rows.append(
                        {
                            "content_hash": passage.content_hash,
                            "model_id": embedder.model_id,
                            "vector": vector.tobytes(),
                            "engine": (engines or {}).get(passage.content_hash, ""),
                        }
                    )
            db["vectors"].insert_all(rows)
            db["meta"].insert_all(
                [
                    {"key": "model_id", "value": embedder.model_id},
                    {"key": "dimension", "value": str(embedder.dimension)},
                    {"key": "query_engine", "value": getattr(embedder, "engine", type(embedder).__name__)},
                    {"key": "built_at", "value": datetime.now(UTC).isoformat(timespec="seconds")},
                    {"key": "fingerprint", "value": fingerprint},
                    {"key": "files_fingerprint", "value": files_fingerprint},
                    {"key": "practices", "value": str(len(kb.practices))},
                    {"key": "passages", "value": str(len(passages))},
                    {"key": "knowledge_hashes", "value": store.dumps({p.path: p.content_hash for p in kb.practices})},
                    {"key": "taxonomy", "value": _taxonomy_json(kb)},
                ]
            )
    finally:
        db.close()
    write_faiss(build_faiss(vectors), folder / store.FAISS_NAME)
    LexicalIndex.build([p.text for p in passages]).save(folder / store.BM25_DIR)


def _verify(folder: Path, expected_passages: int, dimension: int) -> None:
    """Load what was written, as a reader will, before anyone is pointed at it."""
    from .search import SearchIndex

    index = SearchIndex.load_generation(folder)
    if (
        len(index.passages) != expected_passages
        or index.vectors.ntotal != expected_passages
        or index.dimension != dimension
    ):
        raise IndexCorrupt(f"new index in {folder} failed verification; the previous index keeps serving")
