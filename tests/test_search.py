"""Ranking with the fast embedder: FAISS, BM25 and SQLite run for real."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.engine import Engine
from index.knowledge import load_knowledge
from index.language import detect_language, fold_latin, lexical_tokens, normalise_arabic
from index.passages import practice_passages
from index.search import Filters, RankingConfig


@pytest.fixture
def engine(knowledge: Path, data_dir: Path, fake_embedder) -> Engine:
    engine = Engine(fake_embedder, data_dir, knowledge)
    engine.rebuild()
    return engine


def test_question_finds_the_practice_that_shares_its_words(engine: Engine):
    answer = engine.ask("rent exemption for business premises")
    assert answer.results[0].id == "hrastnik-rent-relief-for-business-premises"
    assert answer.language == "en"
    assert len(answer.results) == 3
    assert [r.hit.score for r in answer.results] == sorted((r.hit.score for r in answer.results), reverse=True)


def test_results_are_grouped_by_practice_with_sources(engine: Engine):
    answer = engine.ask("volunteers older people", top_k=6)
    ids = [r.id for r in answer.results]
    assert len(ids) == len(set(ids))
    payload = answer.to_json()
    assert set(payload) == {"question", "language", "confident", "results"}
    first = payload["results"][0]
    assert set(first) == {"id", "title", "municipality", "score", "snippet", "sources"}
    assert all(s["url"].startswith("https://") for r in payload["results"] for s in r["sources"])


def test_snippet_is_the_best_passage_of_the_practice(engine: Engine):
    answer = engine.ask("kindergarten fees parents")
    top = answer.results[0]
    assert top.id == "hrastnik-rent-relief-for-business-premises"
    assert "kindergarten fees" in top.snippet


def test_arabic_question_uses_arabic_summaries_lexically(engine: Engine):
    answer = engine.ask("الدعم النفسي")
    assert answer.language == "ar"
    assert answer.results[0].id == "slovenia-national-psychological-support-line"
    assert answer.results[0].title == "خط هاتفي وطني واحد للدعم النفسي"


def test_filters_restrict_results_and_fail_closed(engine: Engine):
    answer = engine.ask("help for people", filters=Filters(municipalities=frozenset({"Hrastnik"})), top_k=5)
    assert {r.practice.municipality for r in answer.results} == {"Hrastnik"}
    none = engine.ask("help for people", filters=Filters(municipalities=frozenset({"Basra"})))
    assert none.results == [] and none.filtered_out and not none.confident
    topic = engine.ask("help", filters=Filters(topics=frozenset({"psychosocial-support"})), top_k=5)
    assert [r.id for r in topic.results] == ["slovenia-national-psychological-support-line"]


def test_confidence_follows_the_configured_thresholds(engine: Engine):
    strict = RankingConfig(min_dense_score=1.01)
    lenient = RankingConfig(min_dense_score=-1.0, min_centred_score=-1.0)
    assert not engine.ask("rent exemption for business premises", config=strict).confident
    assert engine.ask("rent exemption for business premises", config=lenient).confident


def test_centring_subtracts_each_language_mean(engine: Engine):
    index = engine.index
    vector = engine.embedder.encode_queries(["older people"])[0]
    for language, centroid in index.centroids.items():
        rows = index.matrix[index.passage_language == language]
        assert float(centroid @ vector) == pytest.approx(float((rows @ vector).mean()), abs=1e-5)


def test_lexical_only_and_dense_only_modes_both_rank(engine: Engine):
    for config in (RankingConfig(dense=False), RankingConfig(lexical=False), RankingConfig(centring=False)):
        answer = engine.ask("rent exemption for business premises", config=config)
        assert answer.results[0].id == "hrastnik-rent-relief-for-business-premises"


def test_ask_many_matches_ask(engine: Engine):
    questions = ["rent exemption", "free transport older people"]
    many = engine.ask_many(questions)
    assert [[r.id for r in a.results] for a in many] == [[r.id for r in engine.ask(q).results] for q in questions]


def test_passages_cover_each_language_and_section(knowledge: Path):
    kb = load_knowledge(knowledge)
    practice = next(p for p in kb.practices if p.id == "kocevje-cash-free-food-packages")
    passages = practice_passages(practice)
    assert {(p.kind, p.language) for p in passages} >= {
        ("summary", "en"),
        ("summary", "ar"),
        ("summary", "sl"),
        ("section", "en"),
    }
    assert [p.heading for p in passages if p.kind == "section"] == [
        "Context",
        "What was done",
        "Lessons for Basra",
        "Outcomes",
    ]
    assert all(p.text.startswith("Cash-free food packages") for p in passages if p.kind == "section")


@pytest.mark.parametrize(
    "text, language",
    [
        ("How did municipalities help the elderly?", "en"),
        ("كيف ساعدت البلديات كبار السن؟", "ar"),
        ("ما الذي فعلته Kočevje للمسنين؟", "ar"),
        ("Kako so občine pomagale starejšim?", "sl"),
        ("Kako so obcine pomagale starejsim", "sl"),
        ("Kočevje", "sl"),
        ("How did Kočevje help older people?", "en"),  # a place name's diacritics do not make it Slovenian
        ("What did Črna na Koroškem and Hrastnik do?", "en"),
        ("Kako je Kočevje pomagalo starejšim?", "sl"),
        ("Pomoč za Kočevje", "sl"),
        ("What did municipalities do for tourism?", "en"),
        ("How do we repair oil pipelines in Basra?", "en"),
        ("Kaj je CUDV?", "sl"),
        ("Kako so obcine pomagale podjetjem", "sl"),
        ("", "en"),
    ],
)
def test_language_detection(text: str, language: str):
    assert detect_language(text) == language


def test_lexical_normalisation_folds_diacritics_and_arabic_forms():
    assert fold_latin("Kočevje ŠOLA") == "kocevje sola"
    assert normalise_arabic("مُدَرِّسَة إِلى") == "مدرسه الي"
    assert lexical_tokens("المساعدة للمسنين") == lexical_tokens("مساعده مسنين")
    assert lexical_tokens("Volunteers volunteering") == ["volunt", "volunt"]


@pytest.mark.parametrize(
    "question, places",
    [
        ("What did Hrastnik do for companies?", {"Hrastnik"}),
        ("Kaj so naredili v Kočevju za starejše?", {"Kočevje"}),
        ("Kako so v Črni na Koroškem ravnali z maskami?", {"Črna na Koroškem"}),
        ("Crna na Koroskem", {"Črna na Koroškem"}),
        ("Compare Koper and Kranj", {"Koper", "Kranj"}),
        (
            "Mirno so sedeli doma",
            set(),
        ),  # a common word, not the place Mirna: not capitalised mid-sentence, not the whole name
        ("How did towns help older people?", set()),
        ("ماذا فعلت Hrastnik للشركات؟", {"Hrastnik"}),
    ],
)
def test_places_named_in_the_question(question: str, places: set[str]):
    from index.query_filters import mentioned_places

    known = ["Kočevje", "Hrastnik", "Črna na Koroškem", "Koper", "Kranj", "Mirna", "Tolmin"]
    assert mentioned_places(question, known) == places


def test_a_place_in_the_question_restricts_the_answer(engine: Engine):
    answer = engine.ask("What did Hrastnik do to help?", top_k=5)
    assert {r.practice.municipality for r in answer.results} == {"Hrastnik"}
    assert answer.filters is not None and answer.filters.municipalities == {"Hrastnik"}
    unrestricted = engine.ask("What did Hrastnik do to help?", top_k=5, config=RankingConfig(place_filters=False))
    assert len({r.practice.municipality for r in unrestricted.results}) > 1


def test_national_practices_are_not_a_place_filter(engine: Engine):
    # "Slovenia" is the municipality field of national measures, not a place an official filters by.
    answer = engine.ask("What did Slovenia do for psychological support?", top_k=5)
    assert answer.filters is None


def test_an_explicit_filter_with_no_match_says_so_in_the_reply(engine: Engine):
    from bot.reply import render_plain

    answer = engine.ask("help", filters=Filters(municipalities=frozenset({"Basra"})))
    assert render_plain(answer, "en") == "No practice matches that filter (Basra). Remove it or choose another one."


def test_confidence_ignores_the_curators_lessons_sections(engine: Engine):
    question = "existing billing relationship can replace cash payments"
    answer = engine.ask(question, top_k=1)
    assert answer.results[0].hit.passage.heading == "Lessons for Basra"  # it still ranks
    index = engine.index
    scores = index.matrix @ engine.embedder.encode_queries([question])[0]
    evidence = [s for s, p in zip(scores, index.passages) if p.heading != "Lessons for Basra"]
    assert answer.diagnostics["top_dense"] == pytest.approx(max(evidence), abs=1e-5)
    assert answer.diagnostics["top_dense"] < max(scores)
