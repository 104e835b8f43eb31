"""A tiny deterministic embedder for fast tests, registered through the real embedder registry.

Each folded token is hashed (sha1, not Python's salted hash()) onto one of ``dimension``
axes with a sign; the vector is L2-normalised. Texts that share words are therefore close,
which is enough for FAISS, SQLite and the ranking code to run for real in milliseconds.
"""

from __future__ import annotations

import hashlib

import numpy as np

from index.embedding import register_embedder
from index.language import lexical_tokens

PREFIX = "test-hash"
# The hash embedder's cosines are lower than e5's; these keep "confident" meaningful for it.
HASH_RANKING = {"min_dense_score": 0.25, "min_centred_score": 0.05}


class HashEmbedder:
    engine = PREFIX

    def __init__(self, dimension: int = 64, salt: str = ""):
        self.dimension = dimension
        self.salt = salt
        self.model_id = f"{PREFIX}:{dimension}{':' + salt if salt else ''}"

    def _vector(self, text: str) -> np.ndarray:
        vector = np.zeros(self.dimension, dtype=np.float32)
        for token in lexical_tokens(text) or ["<empty>"]:
            digest = hashlib.sha1((self.salt + token).encode(), usedforsecurity=False).digest()
            axis = int.from_bytes(digest[:4], "little") % self.dimension
            vector[axis] += 1.0 if digest[4] & 1 else -1.0
        norm = np.linalg.norm(vector)
        return vector / norm if norm else vector

    def encode_queries(self, texts):
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)

    def encode_documents(self, texts, batch_size=32, progress=None):
        if progress:
            progress(len(texts))
        return np.stack([self._vector(t) for t in texts]) if texts else np.zeros((0, self.dimension), np.float32)


def _factory(spec: str, data_dir):
    parts = spec.split(":")
    return HashEmbedder(int(parts[1]) if len(parts) > 1 and parts[1] else 64, parts[2] if len(parts) > 2 else "")


register_embedder(PREFIX, _factory)
