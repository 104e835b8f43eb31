"""Question -> ranked practices: the one entry point the bot, the CLI and the benchmarks share."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

from .build import BuildReport, build_index
from .embedding import Embedder
from .errors import ModelMismatch
from .language import detect_language
from .query_filters import filters_from_question
from .search import Filters, Hit, RankingConfig, SearchIndex


@dataclass
class Result:
    hit: Hit
    title: str
    snippet: str

    @property
    def id(self) -> str:
        return self.hit.practice.id

    @property
    def practice(self):
        return self.hit.practice

    def to_json(self) -> dict:
        return {
            "id": self.id,
            "title": self.title,
            "municipality": self.practice.municipality,
            "score": round(self.hit.score, 4),
            "snippet": self.snippet,
            "sources": [{"url": s.url, "title": s.title} for s in self.practice.sources],
        }


@dataclass
class Answer:
    question: str
    language: str
    confident: bool
    results: list[Result]
    filtered_out: bool = False
    filters: Filters | None = None  # what restricted the answer (given, or read from the question)
    seconds: float = 0.0
    diagnostics: dict = field(default_factory=dict)

    def to_json(self) -> dict:
        return {
            "question": self.question,
            "language": self.language,
            "confident": self.confident,
            "results": [r.to_json() for r in self.results],
        }


class Engine:
    def __init__(
        self,
        embedder: Embedder,
        data_dir: Path,
        knowledge_dir: Path,
        config: RankingConfig | None = None,
        top_k: int = 3,
    ):
        self.embedder = embedder
        self.data_dir = Path(data_dir)
        self.knowledge_dir = Path(knowledge_dir)
        self.config = config or RankingConfig()
        self.top_k = top_k
        self._index: SearchIndex | None = None
        self._swap = threading.Lock()

    @property
    def index(self) -> SearchIndex:
        if self._index is None:
            self.reload()
        return self._index

    def reload(self) -> SearchIndex:
        index = SearchIndex.load(self.data_dir)
        if index.model_id != self.embedder.model_id:
            raise ModelMismatch(
                f"the index was built with '{index.model_id}' but the configured model is '{self.embedder.model_id}'; "
                "run `peerbot index` to rebuild it with the configured model"
            )
        with self._swap:
            self._index = index  # readers holding the old reference finish on it
        return index

    def rebuild(self, force: bool = False, progress: bool | None = None) -> BuildReport:
        report = build_index(self.knowledge_dir, self.data_dir, self.embedder, force=force, progress=progress)
        if report.changed or self._index is None:
            self.reload()
        return report

    def ask(
        self,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        language: str | None = None,
        config: RankingConfig | None = None,
    ) -> Answer:
        started = time.perf_counter()
        vector = self.embedder.encode_queries([question])[0]
        return self.answer_with_vector(question, vector, top_k, filters, language, config, started)

    def ask_many(
        self, questions: list[str], top_k: int | None = None, config: RankingConfig | None = None
    ) -> list[Answer]:
        """One model call for all questions (eval, micro-batching)."""
        started = time.perf_counter()
        vectors = self.embedder.encode_queries(list(questions)) if questions else []
        return [self.answer_with_vector(q, v, top_k, None, None, config, started) for q, v in zip(questions, vectors)]

    def answer_with_vector(
        self, question, vector, top_k=None, filters=None, language=None, config=None, started=None
    ) -> Answer:
        index = self.index
        config = config or self.config
        language = language or detect_language(question)
        if filters is None and config.place_filters:
            filters = filters_from_question(question, index)
        ranking = index.rank(question, vector, language, config, top_k or self.top_k, filters)
        results = [Result(hit, hit.practice.text("title", language), hit.passage.text) for hit in ranking.hits]
        elapsed = time.perf_counter() - started if started else 0.0
        return Answer(
            question,
            language,
            ranking.confident,
            results,
            filtered_out=ranking.filtered_out,
            filters=filters,
            seconds=elapsed,
            diagnostics={"top_dense": ranking.top_dense, "top_centred": ranking.top_centred, **ranking.features},
        )
