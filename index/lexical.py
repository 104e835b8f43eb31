"""BM25 over normalised tokens (see :func:`index.language.lexical_tokens`)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .language import lexical_tokens


class LexicalIndex:
    def __init__(self, retriever, size: int):
        self.retriever = retriever
        self.size = size

    @classmethod
    def build(cls, texts: list[str]) -> LexicalIndex:
        import bm25s

        retriever = bm25s.BM25()
        # bm25s cannot index an empty document list or an empty vocabulary; a placeholder token keeps both valid.
        retriever.index([lexical_tokens(t) or ["\x00"] for t in texts] or [["\x00"]], show_progress=False)
        return cls(retriever, len(texts))

    def save(self, folder: Path) -> None:
        self.retriever.save(str(folder))

    @classmethod
    def load(cls, folder: Path, size: int) -> LexicalIndex:
        import bm25s

        return cls(bm25s.BM25.load(str(folder)), size)

    def scores(self, question: str) -> np.ndarray:
        tokens = lexical_tokens(question)
        if not tokens or not self.size:
            return np.zeros(self.size, dtype=np.float32)
        return np.asarray(self.retriever.get_scores(tokens), dtype=np.float32)[: self.size]
