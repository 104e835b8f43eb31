"""Unanswered questions grouped by meaning, across languages: what the knowledge lacks, largest first.

Each distinct wording (case and spacing folded) is encoded once with the index's own embedder
(``encode_queries``), and wordings are merged by average-link agglomerative clustering over
cosine similarity. e5 scores two unrelated questions in the same language higher than two in
different languages (mean cosine of unrelated pairs: sl-sl 0.84, ar-ar 0.81, en-en 0.80, but
ar-en 0.76), so a single cosine threshold either splits every translation or merges unrelated
Slovenian questions. Each pair's cosine is therefore taken relative to the mean cosine of
unrelated questions of its language pair (:data:`E5_LANGUAGE_BIAS`) before the threshold.
The numbers are measured with ``python -m index.gaps_eval`` (docs/quality.md, "Gap grouping").
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime

import numpy as np

from .embedding import Embedder

# Mean cosine of unrelated questions per language pair, and the threshold on the cosine minus
# that mean: both chosen on the tuning half of tests/eval/gap_questions.jsonl (13 paraphrase
# groups + 15 single questions, seed 16) by `python -m index.gaps_eval`, which prints them. On
# the held-out half they give pairwise precision 0.877, recall 0.713, 58% of paraphrase groups
# recovered exactly, 99.6% of unrelated pairs kept apart (docs/quality.md). They hold for
# multilingual-e5-small only.
E5_LANGUAGE_BIAS: Mapping[tuple[str, str], float] = {
    ("ar", "ar"): 0.8066,
    ("ar", "en"): 0.7552,
    ("ar", "sl"): 0.7655,
    ("en", "en"): 0.7973,
    ("en", "sl"): 0.7746,
    ("sl", "sl"): 0.8422,
}
E5_GROUP_THRESHOLD = 0.0525

_SPACES = re.compile(r"\s+")


@dataclass(frozen=True)
class GapConfig:
    threshold: float = E5_GROUP_THRESHOLD
    linkage: str = "average"  # scipy's name; "complete" and "single" are measured against it in docs/quality.md
    language_bias: Mapping[tuple[str, str], float] = field(default_factory=lambda: dict(E5_LANGUAGE_BIAS))

    def bias(self, a: str, b: str) -> float:
        """A pair of languages not measured (a question the detector could not place) gets the mean bias."""
        key = (a, b) if a <= b else (b, a)
        if key in self.language_bias:
            return self.language_bias[key]
        return float(np.mean(list(self.language_bias.values()))) if self.language_bias else 0.0


@dataclass(frozen=True)
class AskedQuestion:
    text: str
    language: str
    asked_at: datetime  # timezone-aware; naive times are taken as UTC


@dataclass(frozen=True)
class GapGroup:
    count: int  # times asked, all wordings together
    questions: tuple[str, ...]  # distinct wordings, most asked first
    languages: tuple[str, ...]  # most asked first
    first_asked: datetime
    last_asked: datetime

    def to_json(self) -> dict:
        return {
            "count": self.count,
            "questions": list(self.questions),
            "languages": list(self.languages),
            "first_asked": _stamp(self.first_asked),
            "last_asked": _stamp(self.last_asked),
        }


def group_gaps(
    questions: Iterable[AskedQuestion], embedder: Embedder, config: GapConfig | None = None
) -> list[GapGroup]:
    """Groups of questions that mean the same, largest first (ties: most recently asked first)."""
    config = config or GapConfig()
    wordings = _distinct_wordings(questions)
    if not wordings:
        return []
    texts = [w.text for w in wordings]
    vectors = np.asarray(embedder.encode_queries(texts), dtype=np.float64)
    labels = cluster(vectors, [w.language for w in wordings], config)
    members: dict[int, list[_Wording]] = {}
    for label, wording in zip(labels, wordings):
        members.setdefault(int(label), []).append(wording)
    groups = [_group(part) for part in members.values()]
    groups.sort(key=lambda g: (-g.count, -g.last_asked.timestamp(), g.questions))
    return groups


def gaps_json(groups: Iterable[GapGroup]) -> list[dict]:
    """The `peerbot gaps --json` contract: [{count, questions, languages, first_asked, last_asked}]."""
    return [g.to_json() for g in groups]


def cluster(vectors: np.ndarray, languages: list[str], config: GapConfig) -> np.ndarray:
    """A cluster label per row of ``vectors`` (L2-normalised), from its language-adjusted cosines."""
    # scipy loads in a fraction of a second, but only the callers of this function should pay it.
    from scipy.cluster.hierarchy import fcluster, linkage
    from scipy.spatial.distance import squareform

    if len(languages) == 1:
        return np.ones(1, dtype=int)
    codes = sorted(set(languages))
    index = np.array([codes.index(lang) for lang in languages])
    bias = np.array([[config.bias(a, b) for b in codes] for a in codes])
    adjusted = vectors @ vectors.T - bias[index][:, index]
    # Average, complete and single linkage only compare (means of) distances, so a shift keeps
    # their merges; shift so that every distance is non-negative, as scipy expects.
    distance = 1.0 - adjusted
    shift = max(0.0, -float(distance.min()))
    distance = (distance + distance.T) / 2 + shift
    np.fill_diagonal(distance, 0.0)
    tree = linkage(squareform(distance, checks=False), method=config.linkage)
    return fcluster(tree, t=1.0 - config.threshold + shift, criterion="distance")


@dataclass
class _Wording:
    text: str
    language: str
    count: int
    first: datetime
    last: datetime
    languages: dict[str, int]


def _distinct_wordings(questions: Iterable[AskedQuestion]) -> list[_Wording]:
    """One entry per folded wording, in folded-text order so the output never depends on input order."""
    seen: dict[str, _Wording] = {}
    forms: dict[str, dict[str, int]] = {}
    for q in questions:
        text = _SPACES.sub(" ", q.text).strip()
        if not text:
            continue
        key = text.casefold()
        at = _aware(q.asked_at)
        w = seen.get(key)
        if w is None:
            w = seen[key] = _Wording(text, q.language, 0, at, at, {})
            forms[key] = {}
        w.count += 1
        w.first, w.last = min(w.first, at), max(w.last, at)
        w.languages[q.language] = w.languages.get(q.language, 0) + 1
        forms[key][text] = forms[key].get(text, 0) + 1
    wordings = []
    for key in sorted(seen):
        w = seen[key]
        w.text = min(forms[key], key=lambda t: (-forms[key][t], t))  # the form typed most often
        w.language = min(w.languages, key=lambda lang: (-w.languages[lang], lang))
        wordings.append(w)
    return wordings


def _group(part: list[_Wording]) -> GapGroup:
    part = sorted(part, key=lambda w: (-w.count, -w.last.timestamp(), w.text))
    languages: dict[str, int] = {}
    for w in part:
        for lang, n in w.languages.items():
            languages[lang] = languages.get(lang, 0) + n
    return GapGroup(
        count=sum(w.count for w in part),
        questions=tuple(w.text for w in part),
        languages=tuple(sorted(languages, key=lambda lang: (-languages[lang], lang))),
        first_asked=min(w.first for w in part),
        last_asked=max(w.last for w in part),
    )


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _stamp(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="seconds")
