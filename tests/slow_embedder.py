"""A slow twin of the test embedder, for killing index builds half-way (tests/test_crash_safety.py).

``PEERBOT_EMBEDDING_MODEL=test-slow:64:0.03`` embeds exactly as ``test-hash:64`` (same vectors,
same model id, so either can continue the other's index) but in batches of four passages with
a pause of 0.03 s after each, like a real model working through a build.
"""

from __future__ import annotations

import time

from index.embedding import register_embedder
from tests.fake_embedder import HashEmbedder

PREFIX = "test-slow"
BATCH = 4


class SlowHashEmbedder(HashEmbedder):
    def __init__(self, dimension: int = 64, pause: float = 0.03):
        super().__init__(dimension)
        self.pause = pause

    def encode_documents(self, texts, batch_size=BATCH, progress=None):
        import numpy as np

        parts = []
        for start in range(0, len(texts), BATCH):
            parts.append(super().encode_documents(texts[start : start + BATCH], progress=progress))
            time.sleep(self.pause)
        return np.concatenate(parts) if parts else super().encode_documents([])


def _factory(spec: str, models_dir):
    parts = spec.split(":")
    dimension = int(parts[1]) if len(parts) > 1 and parts[1] else 64
    return SlowHashEmbedder(dimension, float(parts[2]) if len(parts) > 2 and parts[2] else 0.03)


register_embedder(PREFIX, _factory)
