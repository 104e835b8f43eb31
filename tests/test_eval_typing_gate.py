"""CI quality gate for questions as officials type them (issue 13): Iraqi dialect, Arabizi, hasty
English and two-turn follow-ups, on the shipped knowledge with the real model.

Each set is gated on both halves (tuning and held-out, tests/eval/README.md) read together. The
floors are today's numbers (docs/quality.md, "Understanding officials as they type") minus a small
margin, and for follow-ups the issue's target itself: a regression gate, not a target to tune
against. Raise them when the numbers improve; never lower them to make a change pass.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from index.engine import Engine
from index.evaluate import evaluate, read_questions

pytestmark = pytest.mark.model

ROOT = Path(__file__).resolve().parent.parent
EVAL = ROOT / "tests" / "eval"
GATE = {
    # Measured on main's knowledge of 2026-12-03 (895 passages) with issue 12's second-round
    # answerability, both halves: Iraqi 0.91 / 0.97 / answered 0.80, Arabizi 0.88 / 0.96 / 0.79,
    # hasty English 0.92 / 1.00, follow-ups R@3 en 0.92, ar 1.00, sl 1.00, R@1 0.92, answered 0.86.
    # "Answered" moves with every knowledge edit and re-fit (Iraqi 0.79 -> 0.74 from one merge, 0.80
    # after the re-fit; Arabizi 0.83 -> 0.79), hence its wider margin. Floors unchanged.
    "iraqi": {"ar": {"recall@1": 0.86, "recall@3": 0.93, "answered_rate": 0.69}},
    "arabizi": {"ar": {"recall@3": 0.87, "answered_rate": 0.75}},
    "hasty_en": {"en": {"recall@1": 0.88, "recall@3": 0.95}},
    "followups": {
        "en": {"recall@3": 0.85},
        "ar": {"recall@3": 0.85},
        "sl": {"recall@3": 0.85},
        "all": {"recall@1": 0.88, "answered_rate": 0.76},
    },
}
SIZES = {"iraqi": 60, "arabizi": 20, "hasty_en": 20, "followups": 40}


def questions(name: str):
    return read_questions(EVAL / f"{name}_tune.jsonl") + read_questions(EVAL / f"{name}_heldout.jsonl")


@pytest.fixture(scope="module")
def engine(real_embedder, tmp_path_factory):
    engine = Engine(real_embedder, tmp_path_factory.mktemp("typing-gate-data"), ROOT / "knowledge")
    engine.rebuild(progress=False)
    return engine


@pytest.mark.parametrize("name", sorted(SIZES))
def test_sets_are_the_size_the_issue_asks_for(name):
    rows = questions(name)
    assert len(rows) >= SIZES[name] and all(q.relevant for q in rows)
    if name == "followups":
        assert all(q.turns and len(q.turns) == 2 for q in rows)
        assert {q.lang for q in rows} == {"en", "ar", "sl"}


@pytest.mark.parametrize("name", sorted(GATE))
def test_quality_does_not_regress(engine, name):
    metrics, _ = evaluate(engine, questions(name))
    below = {
        (lang, metric): (metrics[lang][metric], floor)
        for lang, floors in GATE[name].items()
        for metric, floor in floors.items()
        if metrics[lang][metric] < floor
    }
    assert not below, f"{name}: below the gate (value, floor): {below}"
