"""CI quality gate: the shipped knowledge and the real model on the dev question set.

Thresholds are today's numbers (docs/quality.md) minus a small margin: a regression gate,
not a target. Raise them when the numbers improve; never lower them to make a change pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index.engine import Engine
from index.evaluate import evaluate, read_questions

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
GATE = {
    "en": {"recall@1": 0.90, "recall@3": 0.95, "mrr": 0.93},
    "ar": {"recall@1": 0.91, "recall@3": 0.96, "mrr": 0.94},
    "sl": {"recall@1": 0.92, "recall@3": 0.96, "mrr": 0.95},
    # Answerability (issue 12) trades in-scope confidence on this set (0.959 -> 0.935 after its
    # second round) for refusals that hold on hard out-of-scope questions and on English-only
    # knowledge (docs/quality.md). Arabic recall@1 0.946, MRR 0.970 since every passage is scored.
    "all": {"answered_rate": 0.90, "no_answer_accuracy": 0.90},
}


@pytest.fixture(scope="module")
def metrics(real_embedder, tmp_path_factory):
    engine = Engine(real_embedder, tmp_path_factory.mktemp("gate-data"), ROOT / "knowledge")
    engine.rebuild(progress=False)
    questions = read_questions(ROOT / "tests" / "eval" / "questions.jsonl")
    result, _ = evaluate(engine, questions)
    return result


def test_dev_set_is_the_size_the_issue_asks_for():
    questions = read_questions(ROOT / "tests" / "eval" / "questions.jsonl")
    in_scope = {lang: sum(1 for q in questions if q.lang == lang and q.relevant) for lang in ("en", "ar", "sl")}
    assert min(in_scope.values()) >= 40
    assert sum(1 for q in questions if not q.relevant) >= 20


@pytest.mark.parametrize("lang", sorted(GATE))
def test_quality_does_not_regress(metrics, lang):
    below = {name: (metrics[lang][name], floor) for name, floor in GATE[lang].items() if metrics[lang][name] < floor}
    assert not below, f"{lang}: below the gate (value, floor): {below}"
