"""Gap grouping with the real model: paraphrases across languages meet, an unrelated question stays apart."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from index import gaps_eval
from index.gaps import E5_GROUP_THRESHOLD, E5_LANGUAGE_BIAS, AskedQuestion, gaps_json, group_gaps

pytestmark = pytest.mark.model
T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)


def test_three_paraphrases_in_two_languages_form_one_group(real_embedder):
    questions = [
        # Issue 16's own example; none of these wordings is in tests/eval/gap_questions.jsonl.
        AskedQuestion("electricity cuts", "en", T0),
        AskedQuestion("power outages", "en", T0 + timedelta(hours=1)),
        AskedQuestion("انقطاع الكهرباء", "ar", T0 + timedelta(hours=2)),
        AskedQuestion("Who won the football match yesterday?", "en", T0 + timedelta(hours=3)),
    ]
    data = gaps_json(group_gaps(questions, real_embedder))
    assert [g["count"] for g in data] == [3, 1]
    assert data[0]["languages"] == ["en", "ar"]
    assert data[0]["first_asked"] == "2026-11-01T08:00:00+00:00"
    assert data[0]["last_asked"] == "2026-11-01T10:00:00+00:00"
    assert data[1]["questions"] == ["Who won the football match yesterday?"]


def test_shipped_constants_are_the_ones_the_measurement_chooses(real_embedder):
    items = gaps_eval.read_items(gaps_eval.DEFAULT_FILE)
    vectors = np.asarray(real_embedder.encode_queries([it.question for it in items]), dtype=np.float64)
    tuning, _ = gaps_eval.split(items)
    chosen = gaps_eval.tune(items, vectors, tuning)
    assert chosen.threshold == pytest.approx(E5_GROUP_THRESHOLD)
    assert chosen.language_bias == pytest.approx(dict(E5_LANGUAGE_BIAS), abs=2e-4)
