"""A loaded index generation and the ranking of practices for a question.

Ranking, per question:
1. dense: cosine of the question with every candidate passage (FAISS);
2. per-language centring: subtract the question's mean score over each passage language
   (computed exactly as the dot product with that language's centroid), which removes e5's
   preference for passages in the question's own language;
3. lexical: BM25 over folded tokens, normalised to [0, 1] per question, and weighted by whether
   the question and passage share a language (blind fusion hurts Arabic and Slovenian);
4. practices ranked by their best passage; that passage is the snippet.
Confidence uses the raw dense score of the best passage and the centred margin (see docs).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np

from . import store
from .lexical import LexicalIndex
from .vector_index import read_faiss


ADVISORY_SECTIONS = frozenset({"lessons for basra"})


class IndexMissing(RuntimeError):
    pass


class IndexCorrupt(RuntimeError):
    pass


@dataclass(frozen=True)
class RankingConfig:
    dense: bool = True
    lexical: bool = True
    centring: bool = True
    candidates: int = 256
    lexical_weight_same_language: float = 0.06
    lexical_weight_same_script: float = 0.03
    # Confidence: the best passage's raw cosine, and how far the best practice stands above the
    # per-language mean. Calibrated on tests/eval/questions.jsonl (docs/quality.md): e5 cosines
    # sit in a narrow band, so neither value means anything for another model.
    min_dense_score: float = 0.84
    min_centred_score: float = 0.015
    place_filters: bool = True  # a municipality named in the question restricts the answer

    def variant(self, **changes) -> "RankingConfig":
        return replace(self, **changes)


@dataclass(frozen=True)
class PassageRecord:
    practice_id: str
    kind: str
    heading: str
    language: str
    text: str


@dataclass
class PracticeRecord:
    id: str
    meta: dict
    sections: list[tuple[str, str]]
    path: str

    def text(self, field_name: str, language: str) -> str:
        values = self.meta.get(field_name) or {}
        return values.get(language) or values.get("en", "")

    @property
    def municipality(self) -> str:
        return self.meta["municipality"]

    @property
    def sources(self) -> list[dict]:
        return self.meta["sources"]


@dataclass
class Filters:
    municipalities: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    target_groups: frozenset[str] = frozenset()

    def __bool__(self) -> bool:
        return bool(self.municipalities or self.topics or self.target_groups)

    def describe(self) -> str:
        return ", ".join(sorted(self.municipalities) + sorted(self.topics) + sorted(self.target_groups))

    def allows(self, practice: PracticeRecord) -> bool:
        meta = practice.meta
        if self.municipalities and meta["municipality"] not in self.municipalities:
            return False
        if self.topics and not self.topics & set(meta["topics"]):
            return False
        if self.target_groups and not self.target_groups & set(meta.get("target_groups") or []):
            return False
        return True


@dataclass
class Hit:
    practice: PracticeRecord
    score: float
    dense: float  # raw cosine of the best passage
    passage: PassageRecord


@dataclass
class Ranking:
    hits: list[Hit]
    confident: bool
    filtered_out: bool = False  # filters left no practice at all
    top_dense: float = 0.0
    top_centred: float = 0.0
    extra: dict = field(default_factory=dict)


class SearchIndex:
    """One immutable generation, loaded into memory; swapping indexes means swapping references."""

    def __init__(self, folder: Path, meta: dict, practices: dict[str, PracticeRecord], passages: list[PassageRecord], vectors, matrix: np.ndarray, lexical: LexicalIndex):
        self.folder = folder
        self.meta = meta
        self.practices = practices
        self.passages = passages
        self.vectors = vectors  # FAISS index
        self.matrix = matrix  # the same vectors, for centroids and exact re-scoring
        self.lexical = lexical
        self.model_id = meta["model_id"]
        self.dimension = int(meta["dimension"])
        self.passage_language = np.array([p.language for p in passages])
        self.passage_practice = [p.practice_id for p in passages]
        self.passage_practice_array = np.array(self.passage_practice, dtype=object)
        # Confidence rests on what the practice's sources say, not on the curators' advice: a
        # "Lessons for Basra" section mentions Basra and general advice, so it resembles almost
        # any question about Basra, including ones the knowledge cannot answer.
        self.passage_is_evidence = np.array([p.heading.strip().lower() not in ADVISORY_SECTIONS for p in passages], dtype=bool)
        self.centroids = {
            lang: matrix[self.passage_language == lang].mean(axis=0) for lang in sorted(set(self.passage_language.tolist()))
        }

    @classmethod
    def load(cls, data_dir: Path) -> "SearchIndex":
        folder = store.current_generation(Path(data_dir))
        if folder is None:
            raise IndexMissing(f"no index in {store.index_root(Path(data_dir))}: run `peerbot index` to build it")
        return cls.load_generation(folder)

    @classmethod
    def load_generation(cls, folder: Path) -> "SearchIndex":
        try:
            db = store.open_db(folder)
            try:
                meta = store.read_meta(db)
                practices = {
                    row["id"]: PracticeRecord(row["id"], json.loads(row["meta"]), [tuple(s) for s in json.loads(row["sections"])], row["path"])
                    for row in db["practices"].rows
                }
                passages = [
                    PassageRecord(r["practice_id"], r["kind"], r["heading"], r["language"], r["text"])
                    for r in db.query("select * from passages order by id")
                ]
                hashes = [r["content_hash"] for r in db.query("select content_hash from passages order by id")]
                vectors_by_hash = {
                    r["content_hash"]: np.frombuffer(r["vector"], dtype=np.float32)
                    for r in db.query("select content_hash, vector from vectors where model_id = ?", [meta.get("model_id")])
                }
            finally:
                db.close()
            matrix = np.stack([vectors_by_hash[h] for h in hashes]) if hashes else np.zeros((0, int(meta["dimension"])), np.float32)
            vectors = read_faiss(folder / store.FAISS_NAME)
            lexical = LexicalIndex.load(folder / store.BM25_DIR, len(passages))
        except Exception as exc:  # any damage to any file means the same thing to the operator
            raise IndexCorrupt(f"the index in {folder} is damaged or incomplete ({type(exc).__name__}: {exc}); run `peerbot index --force` to rebuild it") from exc
        if vectors.ntotal != len(passages) or "model_id" not in meta:
            raise IndexCorrupt(f"the index in {folder} is inconsistent ({vectors.ntotal} vectors, {len(passages)} passages); run `peerbot index --force`")
        return cls(folder, meta, practices, passages, vectors, matrix, lexical)

    # -- ranking ---------------------------------------------------------------------------

    def rank(self, question: str, query_vector: np.ndarray, language: str, config: RankingConfig, top_k: int = 3, filters: Filters | None = None) -> Ranking:
        n = len(self.passages)
        if n == 0:
            return Ranking([], False)
        allowed = None
        if filters:
            allowed = {pid for pid, p in self.practices.items() if filters.allows(p)}
            if not allowed:
                return Ranking([], False, filtered_out=True)

        # Filters and lexical-only ranking must see every passage, not only the nearest ones.
        limit = config.candidates if allowed is None and config.dense else n
        candidates, dense = self._dense_candidates(query_vector, limit)
        centred = dense.copy()
        if config.centring:
            offsets = {lang: float(c @ query_vector) for lang, c in self.centroids.items()}
            centred -= np.array([offsets[self.passage_language[i]] for i in candidates], dtype=np.float32)

        fused = centred if config.dense else np.zeros_like(centred)
        if config.lexical:
            lexical = self.lexical.scores(question)
            peak = float(lexical.max()) if lexical.size else 0.0
            if peak > 0:
                weights = np.array([self._lexical_weight(language, self.passage_language[i], config) for i in candidates], dtype=np.float32)
                fused = fused + weights * (lexical[candidates] / peak)

        best: dict[str, tuple[float, float, float, int]] = {}
        for j, i in enumerate(candidates):
            pid = self.passage_practice[i]
            if allowed is not None and pid not in allowed:
                continue
            current = best.get(pid)
            if current is None or fused[j] > current[0]:
                best[pid] = (float(fused[j]), float(dense[j]), float(centred[j]), int(i))
        ordered = sorted(best.items(), key=lambda item: (-item[1][0], item[0]))
        hits = [Hit(self.practices[pid], score, raw, self.passages[i]) for pid, (score, raw, _, i) in ordered[:top_k]]
        if not hits:
            return Ranking([], False)
        evidence = self.passage_is_evidence[candidates]
        if allowed is not None:
            evidence = evidence & np.isin(self.passage_practice_array[candidates], list(allowed))
        if not evidence.any():
            evidence = np.ones_like(evidence)
        top_dense = float(dense[evidence].max())
        own = evidence & (self.passage_practice_array[candidates] == ordered[0][0])
        top_centred = float(centred[own].max()) if own.any() else ordered[0][1][2]
        confident = top_dense >= config.min_dense_score and top_centred >= config.min_centred_score
        return Ranking(hits, confident, top_dense=top_dense, top_centred=top_centred)

    def _dense_candidates(self, query_vector: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(limit, len(self.passages))
        scores, ids = self.vectors.search(query_vector.reshape(1, -1).astype(np.float32), k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    @staticmethod
    def _lexical_weight(question_language: str, passage_language: str, config: RankingConfig) -> float:
        if question_language == passage_language:
            return config.lexical_weight_same_language
        if question_language != "ar" and passage_language != "ar":
            return config.lexical_weight_same_script  # names and figures still match across Latin languages
        return 0.0
