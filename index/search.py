"""A loaded index generation and the ranking of practices for a question.

Ranking, per question:
1. dense: cosine of the question with every candidate passage (FAISS);
2. per-language centring: subtract the question's mean score over each passage language
   (computed exactly as the dot product with that language's centroid), which removes e5's
   preference for passages in the question's own language;
3. lexical: BM25 over folded tokens, normalised to [0, 1] per question, weighted by whether the
   question and passage share a language (blind fusion hurts Arabic and Slovenian) and by the
   square of the share of practices that have text in the passage's language (a word match in
   Arabic can only lift practices that have Arabic text: docs/quality.md, "Language-fair ranking");
4. practices ranked by their best passage plus a fifth of their second-best; the best passage is
   the snippet. A practice with no text in a language is scored for it as its best English
   passage plus the typical gain of the practices that have it (``missing_language_gain``), so that
   having translations is not in itself an advantage.
Confidence: index/answerability.py for the model it was fitted for, else two floors (see docs).
"""

from __future__ import annotations

import hashlib
import json
from collections import Counter
from dataclasses import dataclass, field, replace
from functools import cached_property
from pathlib import Path

import numpy as np

from . import store
from .answerability import E5_ANSWERABILITY, E5_MIN_CONFIDENCE, Answerability
from .errors import IndexCorrupt, IndexMissing
from .knowledge import FrontMatter, Source
from .lexical import LexicalIndex
from .taxonomy import Taxonomy
from .vector_index import faiss_vectors_view, read_faiss, search

# The curators' advice section, by its heading in the body languages the contract allows (en, sl, ar).
ADVISORY_SECTIONS = frozenset({"lessons for basra", "nauki za basro", "دروس للبصرة"})
LOCAL_LEVELS = ("municipal", "regional")  # the levels whose municipality is a place a question can name


@dataclass(frozen=True)
class RankingConfig:
    dense: bool = True
    lexical: bool = True
    centring: bool = True
    candidates: int = 256
    # Up to this many passages every passage is scored exactly (about 0.05 ms at the shipped size):
    # with Arabic bodies an Arabic question's 256 nearest passages are nearly all Arabic, so English
    # evidence (what answerability and missing_language_gain compare on) fell outside the candidates.
    exact_up_to: int = 2048
    lexical_weight_same_language: float = 0.06
    lexical_weight_same_script: float = 0.03
    # Lexical evidence in a passage language counts in proportion to the share of practices that
    # have text in it, raised to this power (0: not at all scaled). Where only some practices have
    # Arabic text, an Arabic word match can lift only those: it is not comparable (docs/quality.md).
    lexical_coverage_power: float = 2.0
    # A practice's score adds this share of its second-best passage's (0: its best passage alone).
    second_passage_weight: float = 0.2
    # A practice with no text in a language is scored, for that language, as its best English
    # passage plus this quantile of what the practices that have it gain over their English, per
    # question (None: not imputed). English is the one scale every practice has; without this a
    # practice with Arabic text scores the best of two languages' passages and an English-only one
    # the best of one, which lifts irrelevant translated practices above relevant English-only ones
    # for Arabic questions (docs/quality.md, "Language-fair ranking"). Where every practice has
    # every language (the shipped knowledge) nothing is imputed and nothing changes.
    missing_language_gain: float | None = 0.85
    # Confidence for a model answerability was not fitted for: the best passage's raw cosine, and
    # how far the best practice stands above the per-language mean. Calibrated for e5 on
    # tests/eval/questions.jsonl before issue 12 (docs/quality.md): re-calibrate for another model.
    min_dense_score: float = 0.84
    min_centred_score: float = 0.015
    # Answerability learned on the ranking's own features (index/answerability.py); used instead of
    # the two floors above when the index was built with the model it was fitted for.
    answerability: Answerability | None = E5_ANSWERABILITY
    min_confidence: float = E5_MIN_CONFIDENCE
    place_filters: bool = True  # a municipality named in the question restricts the answer

    def variant(self, **changes) -> RankingConfig:
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
    """A practice as served: its validated front matter (the same model the build checked) and body."""

    id: str
    meta: FrontMatter
    sections: list[tuple[str, str]]
    path: str
    translations: dict[str, list[tuple[str, str]]] = field(default_factory=dict)  # language -> translated sections

    def text(self, field_name: str, language: str) -> str:
        return self.meta.text(field_name, language)

    @property
    def municipality(self) -> str:
        return self.meta.municipality

    @property
    def sources(self) -> list[Source]:
        return self.meta.sources


def practice_digest(practice_id: str) -> str:
    """A short, fixed-length name for a practice (it fits in a button's callback data)."""
    return hashlib.sha256(practice_id.encode("utf-8")).hexdigest()[:12]


@dataclass(frozen=True)
class Filters:
    municipalities: frozenset[str] = frozenset()
    topics: frozenset[str] = frozenset()
    target_groups: frozenset[str] = frozenset()

    def __post_init__(self):
        # Hashable whatever collection a caller passed: filters are the key of the index's cache.
        for name in ("municipalities", "topics", "target_groups"):
            object.__setattr__(self, name, frozenset(getattr(self, name)))

    def __bool__(self) -> bool:
        return bool(self.municipalities or self.topics or self.target_groups)

    def describe(self) -> str:
        return ", ".join(sorted(self.municipalities) + sorted(self.topics) + sorted(self.target_groups))

    def allows(self, practice: PracticeRecord) -> bool:
        meta = practice.meta
        if self.municipalities and meta.municipality not in self.municipalities:
            return False
        if self.topics and not self.topics.intersection(meta.topics):
            return False
        if self.target_groups and not self.target_groups.intersection(meta.target_groups):
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
    features: dict = field(default_factory=dict)  # what confidence is decided on (Engine's diagnostics)


class SearchIndex:
    """One immutable generation, loaded into memory; swapping indexes means swapping references."""

    def __init__(
        self,
        folder: Path,
        meta: dict,
        practices: dict[str, PracticeRecord],
        passages: list[PassageRecord],
        vectors,
        matrix: np.ndarray,
        lexical: LexicalIndex,
    ):
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
        # Confidence rests on what the practice's sources say, not on the curators' advice: a
        # "Lessons for Basra" section mentions Basra and general advice, so it resembles almost
        # any question about Basra, including ones the knowledge cannot answer.
        self.passage_is_evidence = np.array(
            [p.heading.strip().lower() not in ADVISORY_SECTIONS for p in passages], dtype=bool
        )
        self.centroids = {
            lang: matrix[self.passage_language == lang].mean(axis=0)
            for lang in sorted(set(self.passage_language.tolist()))
        }
        # Integer codes for the vectorised ranking: languages, and practices in id order (so that
        # sorting by code breaks score ties by practice id).
        self._languages = sorted(self.centroids)
        language_code = {lang: k for k, lang in enumerate(self._languages)}
        self._language_code_en = language_code.get("en", -1)
        self._passage_language_code = np.array([language_code[p.language] for p in passages], dtype=np.intp)
        self._centroid_matrix = (
            np.stack([self.centroids[lang] for lang in self._languages])
            if self._languages
            else np.zeros((0, matrix.shape[1]), np.float32)
        )
        self._practice_ids = sorted(set(practices) | set(self.passage_practice))
        practice_code = {pid: k for k, pid in enumerate(self._practice_ids)}
        self._passage_practice_code = np.array([practice_code[pid] for pid in self.passage_practice], dtype=np.intp)
        # Share of the practices that have text in each language (lexical_coverage_power).
        with_text = {lang: {p.practice_id for p in passages if p.language == lang} for lang in self._languages}
        self._coverage = np.array(
            [len(with_text[lang]) / max(1, len(self._practice_ids)) for lang in self._languages], dtype=np.float32
        )
        self._has_text = np.zeros((len(self._practice_ids), len(self._languages)), dtype=bool)
        self._has_text[self._passage_practice_code, self._passage_language_code] = True
        self._filtered: dict = {}  # filters -> the passages they allow (an immutable index never invalidates it)

    # -- lookups, computed once per loaded generation (it never changes) --------------------

    @cached_property
    def taxonomy(self) -> Taxonomy:
        """The topics and target groups (with their labels) of the knowledge this index was built from."""
        stored = self.meta.get("taxonomy")
        if stored is None:
            return Taxonomy.contract_default()
        data = json.loads(stored)
        return Taxonomy(topics=data["topics"], target_groups=data["target_groups"])

    @cached_property
    def topic_counts(self) -> Counter:
        """How many practices each topic key has."""
        return Counter(topic for p in self.practices.values() for topic in p.meta.topics)

    @cached_property
    def local_places(self) -> list[str]:
        """Municipalities (and regions) a question may name to restrict its answer, sorted."""
        return sorted({p.municipality for p in self.practices.values() if p.meta.level in LOCAL_LEVELS})

    @cached_property
    def practice_by_digest(self) -> dict[str, PracticeRecord]:
        """``practice_digest(id)`` -> the practice (what a button names a practice by)."""
        return {practice_digest(pid): practice for pid, practice in self.practices.items()}

    @classmethod
    def load(cls, data_dir: Path) -> SearchIndex:
        folder = store.current_generation(Path(data_dir))
        if folder is None:
            raise IndexMissing(f"no index in {store.index_root(Path(data_dir))}: run `peerbot index` to build it")
        return cls.load_generation(folder)

    @classmethod
    def load_generation(cls, folder: Path) -> SearchIndex:
        try:
            vectors = read_faiss(folder / store.FAISS_NAME)
            # The ranking's copy of the vectors is a view of FAISS's own when it has one (flat and
            # HNSW-flat indexes): at 100k passages a second copy costs 150 MB of the serving process.
            matrix = faiss_vectors_view(vectors)
            db = store.open_db(folder)
            try:
                meta = store.read_meta(db)
                practices = {
                    row["id"]: PracticeRecord(
                        row["id"],
                        # Validated again, so the bot reads the same typed model the build checked (about
                        # 0.15 ms per practice: 1.5 s at 10k practices, measured on a loaded 2-core machine).
                        FrontMatter.model_validate_json(row["meta"]),
                        [tuple(s) for s in json.loads(row["sections"])],
                        row["path"],
                        # A generation written before migration 3 has no such column: no translations.
                        {
                            lang: [tuple(s) for s in parts]
                            for lang, parts in json.loads(row.get("translations") or "{}").items()
                        },
                    )
                    for row in db["practices"].rows
                }
                passages = [
                    PassageRecord(r["practice_id"], r["kind"], r["heading"], r["language"], r["text"])
                    for r in db.query("select practice_id, kind, heading, language, text from passages order by id")
                ]
                if matrix is None:
                    matrix = _read_matrix(db, len(passages), meta)
            finally:
                db.close()
            lexical = LexicalIndex.load(folder / store.BM25_DIR, len(passages))
        except Exception as exc:  # any damage to any file means the same thing to the operator
            raise IndexCorrupt(
                f"the index in {folder} is damaged or incomplete ({type(exc).__name__}: {exc}); run `peerbot index --force` to rebuild it"
            ) from exc
        if (
            vectors.ntotal != len(passages)
            or "model_id" not in meta
            or matrix.shape != (len(passages), int(meta["dimension"]))
        ):
            raise IndexCorrupt(
                f"the index in {folder} is inconsistent ({vectors.ntotal} vectors, {len(passages)} passages); run `peerbot index --force`"
            )
        return cls(folder, meta, practices, passages, vectors, matrix, lexical)

    # -- ranking ---------------------------------------------------------------------------

    def rank(
        self,
        question: str,
        query_vector: np.ndarray,
        language: str,
        config: RankingConfig,
        top_k: int = 3,
        filters: Filters | None = None,
    ) -> Ranking:
        """Vectorised over the candidates: no Python loop runs per passage (see bench/, issue #6)."""
        n = len(self.passages)
        if n == 0:
            return Ranking([], False)
        query_vector = np.asarray(query_vector, dtype=np.float32).reshape(-1)
        allowed = None  # indices of the passages the filters allow
        if filters:
            allowed = self._allowed_passages(filters)
            if allowed is None:
                return Ranking([], False, filtered_out=True)

        if allowed is None and config.dense and n > config.exact_up_to:
            candidates, dense = self._dense_candidates(query_vector, config.candidates)
        else:
            # Filters, lexical-only ranking and small indexes see every passage they allow, not only
            # the nearest ones: score those exactly, best first, as a full FAISS search would.
            candidates = allowed if allowed is not None else np.arange(n)
            dense = (self.matrix[candidates] @ query_vector).astype(np.float32, copy=False)
            order = np.argsort(-dense, kind="stable")
            candidates, dense = candidates[order], dense[order]
        language_codes = self._passage_language_code[candidates]
        # The mean score per passage language, removed for ranking (centring) and always for the
        # answerability features, so that every approach of --compare is judged on the same evidence.
        offsets = (self._centroid_matrix @ query_vector).astype(np.float32) if len(self._languages) else None
        always_centred = dense - offsets[language_codes] if offsets is not None else dense.copy()
        centred = always_centred if config.centring else dense.copy()

        fused = centred if config.dense else np.zeros_like(centred)
        lexical = self.lexical.scores(question)  # about 0.02 ms at the shipped size, so always (features)
        english = language_codes == self._language_code_en
        lexical_en = float(lexical[candidates][english].max()) if english.any() else 0.0  # (answerability)
        if config.lexical:
            peak = float(lexical.max()) if lexical.size else 0.0
            if peak > 0:
                by_language = np.array(
                    [self._lexical_weight(language, lang, config) for lang in self._languages], dtype=np.float32
                )
                if config.lexical_coverage_power:
                    by_language = by_language * self._coverage**config.lexical_coverage_power
                fused = fused + by_language[language_codes] * (lexical[candidates] / peak)

        # Each practice's best passage (the first in candidate order among equal scores), then the
        # practices by that score, ties by practice id.
        practice_codes = self._passage_practice_code[candidates]
        by_score = np.argsort(-fused, kind="stable")
        _, first = np.unique(practice_codes[by_score], return_index=True)
        best = by_score[first]
        score = fused
        if config.missing_language_gain is not None and english.any():
            imputed = self._imputed_scores(fused, english, language_codes, practice_codes, config.missing_language_gain)
            score = fused.copy()
            score[best] = np.maximum(fused[best], imputed[practice_codes[best]])
            fused_best = score[best]
        else:
            fused_best = fused[best]
        if config.second_passage_weight:
            rest = np.ones(len(by_score), dtype=bool)
            rest[first] = False
            later = by_score[rest]
            codes, second = np.unique(practice_codes[later], return_index=True)
            bonus = np.zeros(len(self._practice_ids), dtype=np.float32)
            bonus[codes] = fused[later[second]]
            score = fused.copy()
            score[best] = fused_best + config.second_passage_weight * bonus[practice_codes[best]]
        chosen = best[np.lexsort((practice_codes[best], -score[best]))]
        hits = [
            Hit(
                self.practices[self._practice_ids[practice_codes[j]]],
                float(score[j]),
                float(dense[j]),
                self.passages[int(candidates[j])],
            )
            for j in chosen[:top_k]
        ]
        if not hits:
            return Ranking([], False)
        evidence = self.passage_is_evidence[candidates]
        if not evidence.any():
            evidence = np.ones_like(evidence)
        top_dense = float(dense[evidence].max())
        own = evidence & (practice_codes == practice_codes[chosen[0]])
        top_centred = float(centred[own].max()) if own.any() else float(centred[chosen[0]])
        feature_centred = float(always_centred[own].max()) if own.any() else float(always_centred[chosen[0]])
        features = self._features(
            evidence, language_codes, practice_codes, dense, top_dense, feature_centred, lexical_en
        )
        # The best English evidence over the question's mean English cosine: a short question ("power
        # cuts") meets every passage higher, so its raw cosine looks like an answer on any corpus.
        english_evidence = evidence & english
        features["dense_en_centred"] = (
            float(dense[english_evidence].max() - offsets[self._language_code_en]) if english_evidence.any() else 0.0
        )
        # Same-language evidence compared like with like: how much more the top practice gains from
        # text in the question's language than practices with such text typically do (0 where none).
        features["lift_same"] = self._same_language_lift(
            language, evidence, language_codes, practice_codes, dense, practice_codes[chosen[0]]
        )
        if config.answerability is not None and self.model_id.startswith(config.answerability.model_prefix):
            confident = config.answerability.probability(language, features) >= config.min_confidence
        else:
            confident = top_dense >= config.min_dense_score and top_centred >= config.min_centred_score
        return Ranking(hits, confident, top_dense=top_dense, top_centred=top_centred, features=features)

    def _same_language_lift(self, language, evidence, language_codes, practice_codes, dense, top_code) -> float:
        """How much more the top practice's evidence in the question's language scores than its English, minus
        the median of that difference over the practices that have both (0: no such evidence)."""
        code = self._languages.index(language) if language in self._languages else -1
        if code < 0 or code == self._language_code_en:
            return 0.0
        best = np.full((len(self._practice_ids), 2), -np.inf, dtype=np.float32)
        for column, k in enumerate((code, self._language_code_en)):
            mask = evidence & (language_codes == k)
            np.maximum.at(best[:, column], practice_codes[mask], dense[mask])
        both = np.isfinite(best).all(axis=1)
        if not both[top_code]:
            return 0.0
        return float(best[top_code, 0] - best[top_code, 1] - np.median(best[both, 0] - best[both, 1]))

    def _imputed_scores(self, fused, english, language_codes, practice_codes, quantile) -> np.ndarray:
        """Per practice: for each language it has no text in, its best English score plus the typical gain
        (``quantile`` of best-in-language minus best-English) of the practices that have that language."""
        n_practices, n_languages = len(self._practice_ids), len(self._languages)
        best = np.full((n_practices, n_languages), -np.inf, dtype=np.float32)
        np.maximum.at(best, (practice_codes, language_codes), fused)
        english_best = best[:, self._language_code_en]
        imputed = np.full(n_practices, -np.inf, dtype=np.float32)
        for k in range(n_languages):
            if k == self._language_code_en:
                continue
            lacking = ~self._has_text[:, k]
            both = np.isfinite(best[:, k]) & np.isfinite(english_best)
            if not lacking.any() or not both.any():
                continue
            gain = float(np.quantile(best[both, k] - english_best[both], quantile))
            if gain > 0:
                imputed = np.where(lacking, np.maximum(imputed, english_best + np.float32(gain)), imputed)
        return imputed

    def _features(self, evidence, language_codes, practice_codes, dense, top_dense, top_centred, lexical_en) -> dict:
        """What answerability is decided on (index/answerability.py), for the candidates of one question."""
        best_by_language = np.full(len(self._languages), -1.0, dtype=np.float32)
        np.maximum.at(best_by_language, language_codes[evidence], dense[evidence])
        # English evidence alone: the contract gives every practice English text, so a feature over it
        # means the same whatever other languages a practice has; it calibrates across corpora.
        english = evidence & (language_codes == self._language_code_en)
        by_practice = np.full(len(self._practice_ids), -1.0, dtype=np.float32)
        np.maximum.at(by_practice, practice_codes[english], dense[english])
        runner_up, best = np.partition(by_practice, -2)[-2:] if len(by_practice) > 1 else (-1.0, by_practice.max())
        return {
            **{f"dense_{lang}": float(best_by_language[k]) for k, lang in enumerate(self._languages)},
            "top_dense": top_dense,
            "top_centred": top_centred,
            "margin_en": float(best - runner_up) if runner_up > -1 else 0.0,
            "lexical_en": lexical_en,
        }

    def _allowed_passages(self, filters: Filters) -> np.ndarray | None:
        """Indices of the passages of the practices ``filters`` allows; None when it allows no practice."""
        if filters in self._filtered:
            return self._filtered[filters]
        allowed = np.array(
            [pid in self.practices and filters.allows(self.practices[pid]) for pid in self._practice_ids], dtype=bool
        )
        passages = np.flatnonzero(allowed[self._passage_practice_code]) if allowed.any() else None
        if len(self._filtered) >= 256:
            self._filtered.clear()
        self._filtered[filters] = passages
        return passages

    def _dense_candidates(self, query_vector: np.ndarray, limit: int) -> tuple[np.ndarray, np.ndarray]:
        k = min(limit, len(self.passages))
        scores, ids = search(self.vectors, query_vector, k)
        keep = ids[0] >= 0
        return ids[0][keep], scores[0][keep]

    @staticmethod
    def _lexical_weight(question_language: str, passage_language: str, config: RankingConfig) -> float:
        if question_language == passage_language:
            return config.lexical_weight_same_language
        if question_language != "ar" and passage_language != "ar":
            return config.lexical_weight_same_script  # names and figures still match across Latin languages
        return 0.0


def _read_matrix(db, count: int, meta: dict) -> np.ndarray:
    """The stored vectors in passage order, straight into one preallocated matrix."""
    matrix = np.empty((count, int(meta["dimension"])), dtype=np.float32)
    rows = db.execute(
        "select v.vector from passages p left join vectors v on v.content_hash = p.content_hash and v.model_id = ? order by p.id",
        [meta.get("model_id")],
    )
    seen = 0
    for seen, (blob,) in enumerate(rows, 1):
        if blob is None:
            raise KeyError(f"passage {seen - 1} has no vector for {meta.get('model_id')}")
        matrix[seen - 1] = np.frombuffer(blob, dtype=np.float32)
    if seen != count:
        raise ValueError(f"{seen} vectors for {count} passages")
    return matrix
