"""Arabizi told apart from English and Slovenian, and written in Arabic script (index/arabizi.py)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.arabizi import Skeletons, arabic_skeleton, is_arabizi, latin_skeleton, letter_by_letter, to_arabic
from index.query_variants import Reader, question_language

EVAL = Path(__file__).parent / "eval"


def _questions(*names: str) -> list[dict]:
    rows = []
    for name in names:
        rows += [json.loads(line) for line in (EVAL / f"{name}.jsonl").read_text(encoding="utf-8").splitlines()]
    return rows


def test_every_arabizi_dev_question_is_detected():
    missed = [q["question"] for q in _questions("arabizi_tune", "arabizi_heldout") if not is_arabizi(q["question"])]
    assert not missed


def test_no_english_slovenian_or_arabic_dev_question_is_taken_for_arabizi():
    others = _questions(
        "questions", "gap_questions", "hasty_en_tune", "hasty_en_heldout", "iraqi_tune", "iraqi_heldout"
    )
    wrong = [q["question"] for q in others if is_arabizi(q["question"])]
    assert not wrong


@pytest.mark.parametrize(
    "text",
    ["shlon?", "shno sawat hrastnik", "aku da3m lil sharikat?", "el baladiya sa3dat el nas"],
)
def test_short_and_long_arabizi(text):
    assert is_arabizi(text)
    assert question_language(text) == "ar"


@pytest.mark.parametrize("text", ["What did Bovec do?", "kaj pa v Tolminu?", "Covid-19 in 2020", "", "2020"])
def test_not_arabizi(text):
    assert not is_arabizi(text)


def test_skeletons_of_both_scripts_meet():
    assert latin_skeleton("baladiyat") == arabic_skeleton("بلديات") == "bldt"
    assert latin_skeleton("mutatawi3in") == arabic_skeleton("متطوعين")
    assert latin_skeleton("sharikat") == arabic_skeleton("شركات")
    assert latin_skeleton("3awa2il") == arabic_skeleton("عوائل")  # a hamza inside is typed as 2


def test_words_come_out_as_the_knowledge_spells_them():
    skeletons = Skeletons.from_texts(["البلديات ساعدت المتطوعين الشركات الأطباء الطبية الطبية الطبية"])
    assert to_arabic("el baladiyat", skeletons) == "البلديات"
    assert to_arabic("el mutatawi3in", skeletons) == "المتطوعين"
    # Vowels break a consonant tie: الأطباء (a-i-a) over the commoner الطبية.
    assert to_arabic("el atiba2", skeletons) == "الأطباء"


def test_frequent_words_prepositions_and_kept_latin():
    out = to_arabic("shlon sa3dat el kbar bil 3umr b hrastnik online?", None, frozenset({"hrastnik"}))
    assert out == "شلون ساعدت الكبار بالعمر ب hrastnik online ?"


def test_dialect_words_are_found_through_the_lexicon():
    # "sawat" is سوت, which no practice writes: the dialect lexicon's words are in the skeletons too.
    assert Skeletons.from_texts([]).find("sawat") == "سوت"


def test_unknown_words_fall_back_to_letters():
    assert letter_by_letter("karam") == "كرم"
    assert letter_by_letter("7ukuma") == "حكما"


def test_reader_searches_arabizi_in_arabic_and_in_msa():
    reader = Reader(["البلديات ساعدت كبار السن"], ["Hrastnik"])
    reading = reader.read("shlon el baladiyat sa3dat hrastnik?")
    assert reading.language == "ar" and reading.arabizi
    assert reading.question == "shlon el baladiyat sa3dat hrastnik?"  # what the answer and the log show
    assert reading.texts == ("شلون البلديات ساعدت hrastnik ?", "كيف البلديات ساعدت hrastnik ?")


def test_reader_leaves_english_slovenian_and_msa_as_one_text():
    reader = Reader(["البلديات ساعدت كبار السن"], ["Hrastnik"])
    for question, language in (
        ("How did municipalities help elderly people?", "en"),
        ("Kako so občine pomagale starejšim?", "sl"),
        ("كيف ساعدت البلديات كبار السن؟", "ar"),
    ):
        reading = reader.read(question)
        assert reading.texts == (question,) and reading.language == language


def test_the_engine_answers_arabizi_in_arabic_with_the_place_typed_in_latin(engine):
    answer = engine.ask("shno sawat baladiyat hrastnik lil sharikat?", top_k=5)
    assert answer.language == "ar" and answer.question == "shno sawat baladiyat hrastnik lil sharikat?"
    assert answer.filters.municipalities == {"Hrastnik"}
    assert answer.results and {r.practice.municipality for r in answer.results} == {"Hrastnik"}
    assert all(r.title == r.practice.text("title", "ar") for r in answer.results)  # Arabic titles


def test_the_engine_searches_an_unchanged_question_exactly_as_before(engine):
    question = "rent exemption for business premises"
    plain = engine.answer_with_vector(question, engine.embedder.encode_queries([question])[0])
    asked = engine.ask(question)
    assert [(r.id, r.hit.score) for r in asked.results] == [(r.id, r.hit.score) for r in plain.results]
