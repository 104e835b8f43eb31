"""The practice template (bot/practice_template.py): refused as it is, a valid practice once every
placeholder is filled, in every language; the draft made from a question and its answer."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.practice_template import draft_from_answer, practice_template
from bot.texts import LANGUAGES
from index.knowledge import PLACEHOLDER, parse_practice
from index.taxonomy import load_taxonomy
from tests.conftest import FIXTURE_KNOWLEDGE

TAXONOMY, _ = load_taxonomy(FIXTURE_KNOWLEDGE / "taxonomy.yaml")
PRACTICE_ID = "zrece-beekeepers-honey-for-quarantined-families"
FILLED = {
    "id": PRACTICE_ID,
    "title_en": "Beekeepers deliver honey to quarantined families",
    "title_ar": "مربو النحل يوصلون العسل إلى الأسر في الحجر الصحي",
    "summary_en": "The beekeepers' society of Zreče: volunteers delivered honey and groceries to quarantined families.",
    "summary_ar": "نظّمت جمعية مربي النحل في زريتشه متطوعين أوصلوا العسل والبقالة إلى الأسر الخاضعة للحجر الصحي.",
    "municipality": "Zreče",
    "topics": ["volunteering", "vulnerable-groups"],
    "actors": ["Beekeepers' society of Zreče", "Volunteer fire brigade"],
    "period": "2020-03/2020-05",
    "outcome": "The source gives no figure.",
    "transferability_en": "A local association with volunteers and a way to reach families in quarantine.",
    "url": "https://www.example.si/zrece-beekeepers-honey",
    "source_title": "Zreče beekeepers help families in quarantine",
    "publisher": "Example News",
    "date": "2020-04-02",
    "context": "Families in quarantine could not shop.",
    "done": "Members of the society collected honey and, with volunteers, delivered it with groceries.",
    "who": "The beekeepers' society and the volunteer fire brigade.",
    "results": "The source does not say how many families were reached.",
    "lessons": "A neighbourhood association in Basra could organise the same deliveries.",
}


def load(text: str, name: str = PRACTICE_ID):
    return parse_practice(text.encode("utf-8"), Path(f"practices/{name}.md"), TAXONOMY)


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_template_with_its_placeholders_filled_is_a_valid_practice(language):
    text = practice_template(language, TAXONOMY.topics, TAXONOMY.target_groups, FILLED)
    assert not PLACEHOLDER.search(text)
    practice, problems = load(text)
    assert problems == []
    assert practice.meta.title == {"en": FILLED["title_en"], "ar": FILLED["title_ar"]}
    assert practice.meta.topics == ["volunteering", "vulnerable-groups"]
    assert [s.heading for s in practice.sections] == [
        "Context",
        "What was done",
        "Who was involved",
        "Results",
        "Lessons for Basra",
    ]
    assert practice.sections[-1].text.startswith("*Curators' suggestion, not a claim of the sources:* A neighbourhood")


@pytest.mark.parametrize("language", LANGUAGES)
def test_the_template_as_sent_is_refused_and_every_field_is_explained(language):
    text = practice_template(language, TAXONOMY.topics, TAXONOMY.target_groups)
    practice, problems = load(text)
    assert practice is None
    assert any("placeholder" in p.message for p in problems)
    front = text.split("\n---\n", 1)[0]
    comments = [line for line in front.splitlines() if line.startswith("#")]
    for field in ("id", "title", "summary", "municipality", "level", "topics", "target_groups", "actors", "period",
                  "outcomes", "transferability", "sources"):  # fmt: skip
        assert any(line.startswith(f"# {field} ") or line.startswith(f"# {field}:") for line in comments), field
    assert "volunteering" in text and "elderly" in text  # the allowed keys are listed


def test_the_comments_are_in_the_coordinators_language():
    arabic = practice_template("ar", TAXONOMY.topics, TAXONOMY.target_groups)
    slovenian = practice_template("sl", TAXONOMY.topics, TAXONOMY.target_groups)
    assert "# id (إلزامي):" in arabic and "# id (obvezno):" in slovenian
    assert "# id (required):" in practice_template("en", TAXONOMY.topics, TAXONOMY.target_groups)


def test_a_value_with_colons_quotes_or_arabic_cannot_break_the_yaml():
    tricky = dict(FILLED, title_en='Mayor: "a tenth" of all cases # not a comment', municipality="Črna na Koroškem")
    practice, problems = load(practice_template("en", TAXONOMY.topics, TAXONOMY.target_groups, tricky))
    assert problems == []
    assert practice.meta.title["en"] == 'Mayor: "a tenth" of all cases # not a comment'


def test_a_draft_keeps_the_question_and_answer_and_must_be_completed():
    draft = draft_from_answer(
        "en",
        TAXONOMY.topics,
        TAXONOMY.target_groups,
        "How did towns keep the power on for hospitals?",
        "en",
        "Hrastnik's civil protection kept a list of generators: ask the municipality for it.",
        official="Amal",
        coordinator="Maja",
        asked_on="2026-12-01",
    )
    assert draft.startswith("---\n# DRAFT made by peerbot from a question of Amal (2026-12-01) and the answer of Maja.")
    assert 'en: "How did towns keep the power on for hospitals?"' in draft
    assert "Hrastnik's civil protection kept a list of generators" in draft
    practice, problems = load(draft, "draft-1")
    assert practice is None
    problem_text = " ".join(p.message for p in problems)
    assert "placeholder" in problem_text  # id, municipality, topics and the sources are still to write
