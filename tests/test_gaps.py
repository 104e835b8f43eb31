"""Gap grouping (index/gaps.py) with the fast hash embedder, and the bot database's unanswered questions."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta

import numpy as np
import pytest

from bot.database import BotDatabase
from index.gaps import AskedQuestion, GapConfig, gaps_json, group_gaps

T0 = datetime(2026, 11, 1, 8, 0, tzinfo=UTC)
# The hash embedder's cosines are not e5's: no language bias, and a threshold that joins texts
# sharing most of their words.
HASH = GapConfig(threshold=0.6, language_bias={})


def asked(text: str, language: str = "en", hours: int = 0) -> AskedQuestion:
    return AskedQuestion(text, language, T0 + timedelta(hours=hours))


def test_json_matches_the_contract_exactly(fake_embedder):
    groups = group_gaps(
        [asked("power cuts in summer", hours=1), asked("انقطاع الكهرباء", "ar", hours=2)], fake_embedder, HASH
    )
    data = json.loads(json.dumps(gaps_json(groups), ensure_ascii=False))
    assert isinstance(data, list) and data
    for row in data:
        assert set(row) == {"count", "questions", "languages", "first_asked", "last_asked"}
        assert isinstance(row["count"], int)
        assert all(isinstance(q, str) for q in row["questions"])
        assert all(isinstance(lang, str) for lang in row["languages"])
        assert isinstance(row["first_asked"], str) and isinstance(row["last_asked"], str)
        datetime.fromisoformat(row["first_asked"])


def test_counts_wordings_languages_and_date_bounds(fake_embedder):
    questions = [
        asked("Electricity cuts in Basra summer", hours=5),
        asked("electricity  cuts in basra summer ", hours=1),  # the same wording, case and spacing apart
        asked("Electricity cuts in Basra summer", hours=9),
        asked("electricity cuts basra summer", "sl", hours=3),
        asked("stray dogs attack children", hours=4),
    ]
    groups = group_gaps(questions, fake_embedder, HASH)
    assert [g.count for g in groups] == [4, 1]
    power = groups[0]
    assert power.questions == ("Electricity cuts in Basra summer", "electricity cuts basra summer")
    assert power.languages == ("en", "sl")
    assert power.first_asked == T0 + timedelta(hours=1)
    assert power.last_asked == T0 + timedelta(hours=9)
    assert gaps_json(groups)[0]["first_asked"] == "2026-11-01T09:00:00+00:00"
    assert groups[1].questions == ("stray dogs attack children",)


def test_largest_first_then_most_recent(fake_embedder):
    questions = [
        asked("stray dogs attack children", hours=1),
        asked("salty tap water drinking", hours=8),
        asked("traffic jams city centre", hours=2),
        asked("traffic jams city centre", hours=3),
    ]
    groups = group_gaps(questions, fake_embedder, HASH)
    assert [g.questions[0] for g in groups] == [
        "traffic jams city centre",
        "salty tap water drinking",
        "stray dogs attack children",
    ]


def test_output_does_not_depend_on_input_order(fake_embedder):
    questions = [asked(f"question about topic {k % 4} number {k % 3}", hours=k) for k in range(12)]
    expected = gaps_json(group_gaps(questions, fake_embedder, HASH))
    assert gaps_json(group_gaps(list(reversed(questions)), fake_embedder, HASH)) == expected
    assert sum(g["count"] for g in expected) == 12


def test_threshold_decides_what_merges(fake_embedder):
    questions = [asked("power cuts summer basra"), asked("power cuts summer"), asked("football results")]
    assert len(group_gaps(questions, fake_embedder, GapConfig(threshold=0.99, language_bias={}))) == 3
    assert [g.count for g in group_gaps(questions, fake_embedder, HASH)] == [2, 1]


def test_language_bias_is_subtracted_per_pair(fake_embedder):
    same = [asked("power cuts summer basra", "sl"), asked("power cuts summer", "sl")]
    strict = GapConfig(threshold=0.6, language_bias={("sl", "sl"): 0.5})
    assert len(group_gaps(same, fake_embedder, HASH)) == 1
    assert len(group_gaps(same, fake_embedder, strict)) == 2


def test_nothing_unanswered_is_no_groups(fake_embedder):
    assert group_gaps([], fake_embedder) == []
    assert group_gaps([asked("   ")], fake_embedder) == []


def test_naive_times_are_utc(fake_embedder):
    groups = group_gaps([AskedQuestion("power cuts", "en", datetime(2026, 11, 1, 8, 0))], fake_embedder, HASH)
    assert gaps_json(groups)[0]["last_asked"] == "2026-11-01T08:00:00+00:00"


@pytest.fixture
def db(tmp_path):
    database = BotDatabase(tmp_path / "peerbot.db")
    yield database
    database.close()


def log(db: BotDatabase, text: str, confident: bool) -> int:
    return db.log_question(1, 1, text, "en", "en", [], [], confident, 1.0)


def test_unanswered_means_not_confident_or_thumbs_down(db):
    log(db, "not confident", False)
    disliked = log(db, "confident but disliked", True)
    liked = log(db, "confident and liked", True)
    log(db, "confident, no feedback", True)
    db.add_feedback(disliked, 7, -1)
    db.add_feedback(disliked, 8, +1)
    db.add_feedback(liked, 7, +1)
    rows = db.unanswered_questions()
    assert [r.text for r in rows] == ["not confident", "confident but disliked"]
    assert all(r.language == "en" and r.asked_at.tzinfo for r in rows)


def test_unanswered_since(db):
    log(db, "old question", False)
    db._write("update questions set asked_at = ? where question = ?", ["2020-01-01T00:00:00+00:00", "old question"])
    log(db, "new question", False)
    since = datetime.now(UTC) - timedelta(days=3)
    assert [r.text for r in db.unanswered_questions(since)] == ["new question"]
    assert len(db.unanswered_questions()) == 2


def test_eval_scores_pairs_groups_and_singles():
    from index.gaps_eval import Item, score

    items = [
        Item("a1", "en", "a", False),
        Item("a2", "ar", "a", False),
        Item("a3", "sl", "a", False),
        Item("b1", "en", "b", False),
        Item("b2", "sl", "b", False),
        Item("s1", "en", "single:1", True),
        Item("s2", "en", "single:2", True),
    ]
    # a split 2 + 1, s1 wrongly joined to a3, b exact, s2 alone
    m = score(items, list(range(7)), np.array([1, 1, 2, 3, 3, 2, 4]))
    assert m["recall"] == pytest.approx(2 / 4)  # of a1a2 a1a3 a2a3 b1b2, a1a2 and b1b2 are together
    assert m["precision"] == pytest.approx(2 / 3)  # together: a1a2 b1b2 a3s1
    assert m["exact"] == pytest.approx(1 / 2)
    assert m["alone"] == pytest.approx(1 / 2)
    assert m["apart"] == pytest.approx(16 / 17)  # 21 pairs, 4 paraphrase pairs, one unrelated pair together
