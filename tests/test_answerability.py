"""Answerability (issue 12): the fitted model, its fitting, and when the index uses it."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from index.answerability import E5_ANSWERABILITY, FEATURES, Answerability, feature_vector, fit
from index.build import build_index
from index.search import RankingConfig, SearchIndex


def _row(i: int, language: str, in_scope: bool, rng: random.Random) -> tuple:
    # In scope: a higher English cosine and centred score; the lexical score is noise.
    level = 0.86 if in_scope else 0.80
    features = {
        "dense_en": level + rng.gauss(0, 0.015),
        "top_centred": (0.05 if in_scope else 0.02) + rng.gauss(0, 0.01),
        "dense_en_centred": (0.06 if in_scope else 0.03) + rng.gauss(0, 0.01),
        "lexical_en": abs(rng.gauss(3, 1)),
        "lift_same": rng.gauss(0, 0.01),
    }
    return (f"question {language} {i} {in_scope}", language, features, in_scope)


def test_fit_learns_a_separable_rule_and_its_threshold_out_of_fold():
    rng = random.Random(12)
    rows = [_row(i, lang, i % 2 == 0, rng) for lang in ("en", "ar") for i in range(120)]
    result = fit(rows, "some-model")
    assert result.out_of_fold["answered"] >= 0.9 and result.out_of_fold["no_answer"] >= 0.9
    model = result.answerability
    assert [m[0] for m in model.models] == ["ar", "en"]
    high = {"dense_en": 0.87, "dense_en_centred": 0.06, "top_centred": 0.06, "lexical_en": 3.0, "lift_same": 0.0}
    low = {"dense_en": 0.79, "dense_en_centred": 0.03, "top_centred": 0.01, "lexical_en": 3.0, "lift_same": 0.0}
    for language in ("en", "ar", "sl"):  # sl: no model of its own, the English one
        assert model.probability(language, high) > result.threshold > model.probability(language, low)


def test_feature_vector_is_in_the_documented_order():
    assert FEATURES == ("dense_en", "dense_en_centred", "top_centred", "lexical_en", "lift_same")
    features = {"dense_en": 0.8, "dense_en_centred": 0.05, "top_centred": 0.1, "lexical_en": 0.0, "lift_same": 0.2}
    assert feature_vector(features) == [0.8, 0.05, 0.1, 0.0, 0.2]


def test_the_shipped_model_covers_the_three_languages_and_a_probability_floor():
    assert {m[0] for m in E5_ANSWERABILITY.models} == {"en", "ar", "sl"}
    assert all(len(w) == len(FEATURES) for _, w, _ in E5_ANSWERABILITY.models)
    assert 0 < RankingConfig().min_confidence < 1


@pytest.fixture
def index(knowledge: Path, data_dir: Path, fake_embedder) -> SearchIndex:
    build_index(knowledge, data_dir, fake_embedder, progress=False)
    return SearchIndex.load(data_dir)


def test_another_model_keeps_the_two_floors(index: SearchIndex, fake_embedder):
    question = "How did Kočevje deliver food packages without cash?"
    vector = fake_embedder.encode_queries([question])[0]
    config = RankingConfig(min_dense_score=-1.0, min_centred_score=-1.0)
    assert index.rank(question, vector, "en", config).confident  # the e5 model is not applied to test-hash
    assert not index.rank(question, vector, "en", config.variant(min_dense_score=2.0)).confident


def test_the_model_decides_for_the_index_it_was_fitted_for(index: SearchIndex, fake_embedder):
    question = "How did Kočevje deliver food packages without cash?"
    vector = fake_embedder.encode_queries([question])[0]
    always = Answerability(index.model_id, (("en", (0.0,) * len(FEATURES), 5.0),))
    never = Answerability(index.model_id, (("en", (0.0,) * len(FEATURES), -5.0),))
    lenient = RankingConfig(min_dense_score=-1.0, min_centred_score=-1.0)
    assert index.rank(question, vector, "en", lenient.variant(answerability=always)).confident
    assert not index.rank(question, vector, "en", lenient.variant(answerability=never)).confident
    features = index.rank(question, vector, "en", lenient).features
    assert set(FEATURES) <= set(features)
    assert features["dense_en"] == pytest.approx(features["top_dense"], abs=0.2)
