"""The Iraqi/Gulf -> MSA rewrite (index/dialect.py), word by word, and what it must leave alone."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from index.dialect import LEXICON, Vocabulary, rewrite_word, to_msa

EVAL = Path(__file__).parent / "eval"

# Each entry: the dialect word as officials type it, and the MSA the practices use.
WORDS = [
    ("شلون", "كيف"),
    ("شنو", "ماذا"),
    ("شكد", "كم"),
    ("اكو", "يوجد"),
    ("ماكو", "لا يوجد"),
    ("منو", "من"),
    ("وين", "أين"),
    ("ليش", "لماذا"),
    ("اللي", "الذي"),
    ("ويا", "مع"),
    ("الشياب", "كبار السن"),
    ("العجايز", "كبار السن"),
    ("العجزه", "المسنين"),
    ("جهال", "أطفال"),
    ("الحظر", "الإغلاق"),
    ("الماي", "الماء"),
    ("الاكل", "الطعام"),
    ("الدوه", "الدواء"),
    ("الفلوس", "الأموال"),
    ("ببلاش", "مجانا"),
    ("مسكره", "مغلقة"),
    ("زغيره", "صغيرة"),
    ("سوت", "فعلت"),
    ("نكدر", "نستطيع"),
    ("دزتلنا", "أرسلت لنا"),
    ("خايسه", "رديئة"),
    ("الروضات", "رياض الأطفال"),
    ("لابتوب", "حاسوب"),
]


@pytest.mark.parametrize(("dialect", "msa"), WORDS)
def test_each_dialect_word_has_its_msa(dialect, msa):
    assert rewrite_word(dialect) == msa


def test_a_leading_wa_or_fa_is_kept():
    assert rewrite_word("وشلون") == "وكيف"
    assert rewrite_word("فشنو") == "فماذا"


def test_diacritics_do_not_hide_a_dialect_word():
    assert rewrite_word("شْلون") == "كيف"


@pytest.mark.parametrize("word", ["كيف", "البلديات", "إلى", "الى", "عدة", "حتى", "الثانية", "كبار", "السن", "لو"])
def test_msa_words_and_ambiguous_ones_are_not_rewritten(word):
    assert rewrite_word(word) is None


def test_the_issue_sentence_reads_as_msa():
    text = "شلون البلديات ساعدت الشياب اللي عايشين وحدهم وقت الحظر؟"
    assert to_msa(text) == "كيف البلديات ساعدت كبار السن الذي يعيشون وحدهم وقت الإغلاق؟"


def test_latin_text_punctuation_and_digits_pass_through():
    assert to_msa("Hrastnik 2020, شلون?") == "Hrastnik 2020, كيف?"


def test_every_lexicon_entry_is_bare_arabic():
    # Keys are matched without diacritics; a key with one could never match.
    assert all(key == key.strip() and " " not in key for key in LEXICON)
    assert rewrite_word("") is None


# -- spelling repaired against the knowledge's words ---------------------------------------

VOCABULARY = Vocabulary(Counter({"مساعدة": 5, "الأسواق": 2, "أسماء": 3, "وقت": 4, "مستشفى": 1, "المسنين": 2}))


@pytest.mark.parametrize(
    ("typed", "known"),
    [
        ("مساعده", "مساعدة"),  # ه for ة
        ("اسماء", "أسماء"),  # a bare alef for أ
        ("الاسواك", "الأسواق"),  # Iraqi ك for ق, and the hamza
        ("مستشفي", "مستشفى"),  # ي for ى
    ],
)
def test_a_misspelt_word_becomes_the_knowledges_spelling(typed, known):
    assert VOCABULARY.repair(typed) == known


def test_known_words_and_unknown_words_without_a_near_spelling_stay():
    assert VOCABULARY.repair("وقت") == "وقت"
    assert VOCABULARY.repair("كهرباء") == "كهرباء"
    assert VOCABULARY.repair("من") == "من"  # too short to repair safely


def test_to_msa_uses_the_vocabulary_only_for_words_the_lexicon_does_not_know():
    assert to_msa("شلون مساعده الاسواك", VOCABULARY) == "كيف مساعدة الأسواق"


def test_the_msa_dev_questions_contain_almost_no_dialect_words():
    # The rewrite is an extra variant only when it changes something: MSA questions stay one text.
    questions = [json.loads(line) for line in (EVAL / "questions.jsonl").read_text(encoding="utf-8").splitlines()]
    arabic = [q["question"] for q in questions if q["lang"] == "ar"]
    changed = [q for q in arabic if to_msa(q) != q]
    assert len(changed) <= 3, changed
