"""Question -> ranked practices: the one entry point the bot, the CLI and the benchmarks share."""

from __future__ import annotations

import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path

from .build import BuildReport, build_index
from .embedding import Embedder
from .errors import ModelMismatch
from .language import detect_language
from .query_filters import filters_from_question
from .query_variants import Reader, Reading
from .search import Filters, Hit, Ranking, RankingConfig, SearchIndex


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
        self._reader: tuple[SearchIndex, Reader] | None = None
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
        reading = self.read(question, language)
        vectors = self.embedder.encode_queries(list(reading.texts))
        return self.answer_reading(reading, vectors, top_k, filters, config, started)

    def ask_many(
        self, questions: list[str], top_k: int | None = None, config: RankingConfig | None = None
    ) -> list[Answer]:
        """One model call for all questions and all their variants (eval, micro-batching)."""
        started = time.perf_counter()
        readings = [self.read(q) for q in questions]
        texts = [t for r in readings for t in r.texts]
        vectors = self.embedder.encode_queries(texts) if texts else []
        answers, at = [], 0
        for reading in readings:
            n = len(reading.texts)
            answers.append(self.answer_reading(reading, vectors[at : at + n], top_k, None, config, started))
            at += n
        return answers

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

    # -- query variants (dialect, Arabizi: index/query_variants.py) -------------------------

    def read(self, question: str, language: str | None = None) -> Reading:
        index = self.index
        cached = self._reader
        if cached is None or cached[0] is not index:  # a new generation has a new vocabulary
            cached = self._reader = (index, Reader.for_index(index))
        return cached[1].read(question, language)

    def answer_reading(self, reading: Reading, vectors, top_k=None, filters=None, config=None, started=None) -> Answer:
        """Every search text of ``reading`` ranked; per practice its best score, before confidence."""
        if reading.texts == (reading.question,):  # nothing rewritten: exactly the plain path
            return self.answer_with_vector(
                reading.question, vectors[0], top_k, filters, reading.language, config, started
            )
        index = self.index
        config = config or self.config
        if filters is None and config.place_filters:
            filters = filters_from_question(reading.question, index)
        top_k = top_k or self.top_k
        rankings = [
            index.rank(text, vector, reading.language, config, max(top_k, 10), filters)
            for text, vector in zip(reading.texts, vectors)
        ]
        ranking = merge_rankings(rankings, top_k)
        language = reading.language
        results = [Result(hit, hit.practice.text("title", language), hit.passage.text) for hit in ranking.hits]
        return Answer(
            reading.question,
            language,
            ranking.confident,
            results,
            filtered_out=ranking.filtered_out,
            filters=filters,
            seconds=time.perf_counter() - started if started else 0.0,
            diagnostics={"top_dense": ranking.top_dense, "top_centred": ranking.top_centred, **ranking.features},
        )


# When a question was rewritten, its text as typed competes with a small handicap: dialect words
# pull e5 towards unrelated practices (شلون … الحظر towards Karbala's lockdown) that the MSA reading
# does not prefer. Chosen on the tuning halves (0.005-0.02 all give Iraqi Recall@1 0.91 against
# 0.85 with none; Arabizi unchanged); docs/quality.md.
TYPED_HANDICAP = 0.01


def merge_rankings(rankings: list[Ranking], top_k: int, handicap: float = TYPED_HANDICAP) -> Ranking:
    """One ranking from the rankings of a question's variants (the first is the text as typed, or
    for Arabizi its transliteration):
    each practice at its best score (ties by practice id, as in one ranking); confident when any
    variant's ranking is."""
    best: dict[str, Hit] = {}
    for k, ranking in enumerate(rankings):
        for hit in ranking.hits:
            if k == 0 and len(rankings) > 1:
                hit = replace(hit, score=hit.score - handicap)
            known = best.get(hit.practice.id)
            if known is None or hit.score > known.score:
                best[hit.practice.id] = hit
    hits = sorted(best.values(), key=lambda h: (-h.score, h.practice.id))[:top_k]
    # What confidence was decided on: the last confident variant's (the rewrite's first), else the last one's.
    decided = next((r for r in reversed(rankings) if r.confident), rankings[-1])
    return Ranking(
        hits,
        any(r.confident for r in rankings) and bool(hits),
        filtered_out=all(r.filtered_out for r in rankings),
        top_dense=max(r.top_dense for r in rankings),
        top_centred=max(r.top_centred for r in rankings),
        features=decided.features,
    )
