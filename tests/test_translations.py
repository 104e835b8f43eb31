"""Translated bodies (docs/knowledge-format.md, "Translations"): loaded beside the original, and
checked like the translators' checker: same sections, same item counts, same figures both ways."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from index.knowledge import load_knowledge
from index.translations import figures

TRANSLATED = Path(__file__).parent / "fixtures" / "translated" / "practices"
NAME = "kocevje-cash-free-food-packages.md"


@pytest.fixture
def translated(knowledge: Path) -> Path:
    """The test knowledge with the Kočevje practice replaced by its copy that carries an Arabic translation."""
    shutil.copy(TRANSLATED / NAME, knowledge / "practices" / NAME)
    return knowledge


def problems_with(knowledge: Path, old: str, new: str, count: int = 1) -> list[str]:
    path = knowledge / "practices" / NAME
    text = path.read_text(encoding="utf-8")
    assert text.count(old) >= count, old
    path.write_text(text.replace(old, new, count), encoding="utf-8")
    return [str(p) for p in load_knowledge(knowledge).problems]


def test_translated_practice_loads_with_its_arabic_sections(translated: Path):
    kb = load_knowledge(translated)
    assert kb.problems == []
    practice = next(p for p in kb.practices if p.id == "kocevje-cash-free-food-packages")
    assert [s.heading for s in practice.sections] == ["Context", "What was done", "Lessons for Basra"]
    assert [s.heading for s in practice.translations["ar"]] == ["السياق", "ما الذي تم", "دروس للبصرة"]
    assert "30 يورو" in practice.translations["ar"][1].text
    assert "<!--" not in practice.sections[-1].text  # the marker ends the original, it is no part of it
    assert practice.meta.translations["ar"].actors == ["البلدية", "الحماية المدنية", "Komunala Kočevje"]


def test_a_file_of_todays_contract_means_the_same(knowledge: Path):
    practice = next(p for p in load_knowledge(knowledge).practices if p.id == "kocevje-cash-free-food-packages")
    assert practice.translations == {}
    assert practice.meta.translations == {}
    assert [s.heading for s in practice.sections] == ["Context", "What was done", "Lessons for Basra"]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("30,000 EUR in 2020", ["2020", "30000"]),
        ("٣٠٬٠٠٠ يورو في ٢٠٢٠", ["2020", "30000"]),
        ("400.000 and 4 100 and 1.5", ["1.5", "400000", "4100"]),
        ("COVID-19 / كوفيد-19", ["19"]),
    ],
)
def test_figures_count_arabic_indic_digits_and_ignore_thousands_separators(text: str, expected: list[str]):
    assert figures(text) == expected


def test_arabic_indic_digits_are_the_same_figure(translated: Path):
    assert problems_with(translated, "بسعر 30 يورو لكل منها:", "بسعر ٣٠ يورو لكل منها:") == []


def test_a_mistyped_figure_in_a_section_is_caught(translated: Path):
    path = str(translated / "practices" / NAME)
    assert problems_with(translated, "بسعر 30 يورو لكل منها:", "بسعر ٣٥ يورو لكل منها:") == [
        f"{path}: body (ar) section 2 'ما الذي تم': figures differ from section 'What was done': the translation lacks 30; has 35 that section 'What was done' does not (every number of the original must appear in the translation and no other; Arabic-Indic digits count)"
    ]


def test_a_mistyped_figure_in_an_outcome_and_the_summary(translated: Path):
    path = str(translated / "practices" / NAME)
    problems_with(translated, '"ثلاث سلال بسعر 30 يورو', '"ثلاث سلال بسعر 3 يورو')
    assert problems_with(translated, "وزّعت بلدية كوتشيفيه", "وزّعت بلدية كوتشيفيه عام 2020") == [
        f"{path}: summary.ar: figures differ from summary.en: the translation has 2020 that summary.en does not (every number of the original must appear in the translation and no other; Arabic-Indic digits count)",
        f"{path}: translations.ar.outcomes[0]: figures differ from outcomes[0]: the translation lacks 30; has 3 that outcomes[0] does not (every number of the original must appear in the translation and no other; Arabic-Indic digits count)",
    ]


def test_a_missing_section(translated: Path):
    path = str(translated / "practices" / NAME)
    assert problems_with(translated, "## السياق\n", "") == [
        f"{path}: body (ar): 2 section(s), the original has 3 (translate every '## ' section of the original in the same order: 'Context', 'What was done', 'Lessons for Basra')"
    ]


def test_an_unknown_field_in_a_translation(translated: Path):
    path = str(translated / "practices" / NAME)
    assert problems_with(translated, "  ar:\n    outcomes:", "  ar:\n    outcome:") == [
        f"{path}: translations.ar.outcome: unknown field in translations.ar (allowed: actors, outcomes)"
    ]


def test_item_counts(translated: Path):
    path = str(translated / "practices" / NAME)
    assert problems_with(translated, "[البلدية, الحماية المدنية, Komunala Kočevje]", "[البلدية, الحماية المدنية]") == [
        f"{path}: translations.ar.actors: 2 item(s), the original actors has 3 (one translation per item, in the same order)"
    ]


def test_a_translated_file_needs_the_translated_summary_and_transferability(translated: Path):
    path = str(translated / "practices" / NAME)
    problems_with(translated, "  ar: يحتاج إلى نظام فوترة لدى شركة خدمات أو لدى البلدية يصل إلى كل أسرة.\n", "")
    assert [str(p) for p in load_knowledge(translated).problems] == [
        f"{path}: transferability.ar: missing: the practice is translated into 'ar' (add transferability.ar, translated from transferability.en)"
    ]


def test_translations_without_a_translated_body(translated: Path):
    path = str(translated / "practices" / NAME)
    text = (translated / "practices" / NAME).read_text(encoding="utf-8")
    (translated / "practices" / NAME).write_text(text.split("<!-- translation: ar -->")[0], encoding="utf-8")
    assert [str(p) for p in load_knowledge(translated).problems] == [
        f"{path}: body (ar): no translated body (after the original body add a line <!-- translation: ar --> and then the 3 sections translated)"
    ]


def test_a_near_miss_marker_and_a_marker_for_the_body_language(translated: Path):
    path = str(translated / "practices" / NAME)
    problems = problems_with(translated, "<!-- translation: ar -->", "<!-- Translation: AR -->")
    assert (
        f"{path}: body: line 43: '<!-- Translation: AR -->' is not a translation marker (write it alone on its line as <!-- translation: ar -->, with a two-letter language code in lower case)"
        in problems
    )
    assert problems_with(translated, "<!-- Translation: AR -->", "<!-- translation: en -->")[0] == (
        f"{path}: body: '<!-- translation: en -->' translates the body into its own language 'en' (use the code of the translation's language, or remove the marker)"
    )


def test_an_empty_translated_section(translated: Path):
    path = str(translated / "practices" / NAME)
    assert problems_with(
        translated, "لم يستطع كبار السن الذين يعيشون وحدهم في القرى النائية التسوّق خلال الموجة الأولى.", ""
    ) == [f"{path}: body (ar) section 1 'السياق': is empty, the original 'Context' is not (translate its text)"]


def test_a_translation_language_must_be_a_code(translated: Path):
    path = str(translated / "practices" / NAME)
    assert problems_with(translated, "translations:\n  ar:", "translations:\n  arabic:") == [
        f"{path}: translations: 'arabic' is not an ISO 639-1 language code (two lower-case letters, e.g. ar, sl)"
    ]


def test_translated_sections_are_indexed_and_served_in_their_language(translated: Path, data_dir: Path, fake_embedder):
    from index.engine import Engine

    engine = Engine(fake_embedder, data_dir, translated)
    engine.rebuild()
    record = engine.index.practices["kocevje-cash-free-food-packages"]
    assert [h for h, _ in record.translations["ar"]] == ["السياق", "ما الذي تم", "دروس للبصرة"]
    arabic = [
        p for p in engine.index.passages if p.practice_id == record.id and p.kind == "section" and p.language == "ar"
    ]
    assert [p.heading for p in arabic] == ["السياق", "ما الذي تم", "دروس للبصرة", "Outcomes"]
    assert arabic[0].text.startswith("سلال غذائية دون دفع نقدي تُضاف إلى فاتورة شركة الخدمات — السياق: ")
    # Words only the Arabic body has: the search finds the practice by them.
    answer = engine.ask("علاقة فوترة قائمة بدل الدفع النقدي مقابل التوصيل")
    assert answer.results[0].id == record.id
    assert "فوترة" in answer.results[0].snippet


def test_the_translated_lessons_section_is_advice_not_evidence(translated: Path, data_dir: Path, fake_embedder):
    from index.engine import Engine

    engine = Engine(fake_embedder, data_dir, translated)
    engine.rebuild()
    index = engine.index
    evidence = {
        (p.language, p.heading): bool(index.passage_is_evidence[i])
        for i, p in enumerate(index.passages)
        if p.practice_id == "kocevje-cash-free-food-packages" and p.kind == "section"
    }
    assert evidence[("en", "Lessons for Basra")] is False and evidence[("ar", "دروس للبصرة")] is False
    assert evidence[("en", "What was done")] is True and evidence[("ar", "ما الذي تم")] is True
