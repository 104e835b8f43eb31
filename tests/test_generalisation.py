"""The generalisation protocol's parts (issue 12): variants, the caching embedder, folds, the table.

Real files, the real loader, build, FAISS and SQLite; the fast hash embedder stands in for e5.
"""

from __future__ import annotations

from pathlib import Path

from index.evaluate import Question
from index.generalisation import (
    CachedEmbedder,
    VariantPlan,
    english_only,
    fold_table,
    format_table,
    join_practice_file,
    question_fold,
    read_sl_bodies,
    run_variants,
    split_practice_file,
    variant_plans,
    without_translated_blocks,
    write_variant,
)
from index.knowledge import load_knowledge
from tests.fake_embedder import HashEmbedder

ROOT = Path(__file__).resolve().parent.parent
SL_BODIES = ROOT / "tests" / "fixtures" / "sl_bodies"

TRANSLATED = """---
id: demo-practice
title:
  en: Demo practice title
  ar: عنوان الممارسة التجريبية
  sl: Naslov preizkusne prakse
summary:
  en: An English summary long enough for the contract.
  ar: ملخص عربي طويل بما يكفي لشروط الصيغة.
  sl: Slovenski povzetek, dovolj dolg za pogodbo.
municipality: Kočevje
topics: [volunteering]
outcomes: ["30 volunteers."]
transferability:
  en: It transfers.
  ar: قابلة للنقل.
translations:
  ar:
    outcomes: ["30 متطوعاً."]
sources:
  - url: https://example.org/a
    title: A source
---

## Context

English body.

<!-- translation: ar -->

## السياق

نص عربي.
"""


def test_english_only_strips_every_arabic_and_slovenian_text_and_the_translated_body():
    meta, body = english_only(*split_practice_file(TRANSLATED))
    assert meta["title"] == {"en": "Demo practice title"}
    assert meta["summary"] == {"en": "An English summary long enough for the contract."}
    assert meta["transferability"] == {"en": "It transfers."}
    assert "translations" not in meta
    assert body.strip() == "## Context\n\nEnglish body."
    meta2, body2 = split_practice_file(join_practice_file(meta, body))
    assert meta2 == meta and body2.strip() == body.strip()


def test_english_only_leaves_a_file_without_translations_as_it_was():
    text = (ROOT / "tests/fixtures/knowledge/practices/kocevje-cash-free-food-packages.md").read_text(encoding="utf-8")
    meta, body = split_practice_file(text)
    stripped, same_body = english_only(meta, body)
    assert same_body == body
    assert {k: v for k, v in stripped.items() if k not in ("title", "summary", "transferability")} == {
        k: v for k, v in meta.items() if k not in ("title", "summary", "transferability")
    }


def test_variants_load_cleanly_and_strip_what_they_say(knowledge: Path, tmp_path: Path):
    ids = sorted(p.id for p in load_knowledge(knowledge).practices)
    sl = read_sl_bodies(SL_BODIES)
    assert "readme" not in {k.lower() for k in sl} and len(sl) >= 5
    plans = {p.name: p for p in variant_plans(ids, [i for i in sl if i in ids])}
    assert list(plans) == ["shipped", "half-1", "half-2", "half-3", "english-only", "sl-bodies"]
    assert all(len(plans[f"half-{s}"].english_only) == len(ids) // 2 for s in (1, 2, 3))
    original = {p.id: p for p in load_knowledge(knowledge).practices}
    assert any(len(p.meta.summary) > 1 for p in original.values())
    for plan in plans.values():
        kb = load_knowledge(write_variant(knowledge, tmp_path / plan.name, plan, sl))
        assert not kb.problems, kb.problems
        for practice in kb.practices:
            expected = {"en"} if practice.id in plan.english_only else set(original[practice.id].meta.summary)
            assert set(practice.meta.summary) == expected
            assert set(practice.meta.title) == (
                {"en"} if practice.id in plan.english_only else set(original[practice.id].meta.title)
            )
            assert practice.meta.language == ("sl" if practice.id in plan.sl_bodies else "en")
    sl_practice = next(
        p for p in load_knowledge(tmp_path / "sl-bodies").practices if p.id in plans["sl-bodies"].sl_bodies
    )
    assert sl_practice.sections[-1].heading == "Nauki za Basro"


def test_every_slovenian_body_has_the_sections_of_its_english_original():
    shipped = {p.id: p for p in load_knowledge(ROOT / "knowledge").practices}
    for pid, body in read_sl_bodies(SL_BODIES).items():
        english = [s.heading for s in shipped[pid].sections]
        slovenian = [line[3:].strip() for line in body.splitlines() if line.startswith("## ")]
        assert len(slovenian) == len(english) and english[-1] == "Lessons for Basra", pid


def test_every_slovenian_body_keeps_the_figures_of_its_english_original():
    import re

    for pid, body in read_sl_bodies(SL_BODIES).items():
        english = split_practice_file((ROOT / "knowledge/practices" / f"{pid}.md").read_text(encoding="utf-8"))[1]
        english = without_translated_blocks(english)  # the original only, not its Arabic block

        def numbers(text):
            return sorted(re.sub(r"[.,](?=\d{3}\b)", "", n) for n in re.findall(r"\d[\d.,]*\d|\d", text))

        assert numbers(body) == numbers(english), pid


def test_cached_embedder_encodes_a_text_once_across_variants(knowledge: Path, tmp_path: Path):
    inner = HashEmbedder(64)
    embedder = CachedEmbedder(inner, tmp_path / "cache.npz")
    questions = [Question("How did Kočevje deliver food packages?", "en", ["kocevje-cash-free-food-packages"])]
    runs = run_variants(knowledge, questions, embedder, tmp_path / "work", sl_bodies=read_sl_bodies(SL_BODIES))
    first = embedder.encoded
    passages = {p.text for run in runs for p in run.engine.index.passages}
    assert first == len(passages) + 1  # every distinct passage and the question, each once
    embedder.save()
    again = CachedEmbedder(inner, tmp_path / "cache.npz")
    run_variants(knowledge, questions, again, tmp_path / "work2", sl_bodies=read_sl_bodies(SL_BODIES))
    assert again.encoded == 0


def test_folds_are_reproducible_and_keep_translations_together():
    a = Question("How did Kočevje deliver food?", "en", ["kocevje-cash-free-food-packages"])
    b = Question("كيف وزعت كوتشيفيه الطعام؟", "ar", ["kocevje-cash-free-food-packages"])
    assert question_fold(a) == question_fold(b) in ("A", "B")
    folds = {question_fold(Question(f"out of scope {i}", "en", [])) for i in range(20)}
    assert folds == {"A", "B"}


def test_table_has_a_row_per_approach_and_variant(knowledge: Path, tmp_path: Path):
    questions = [
        Question(f"How did Kočevje deliver food packages {i}?", "en", [f"kocevje-cash-free-food-packages{'x' * i}"])
        for i in range(6)
    ] + [Question(f"What is the weather {i}?", "en", []) for i in range(6)]
    runs = run_variants(knowledge, questions, CachedEmbedder(HashEmbedder(64)), tmp_path / "w", only=["shipped"])
    table = fold_table(runs, questions, "B", {q.question for q in questions if not q.relevant})
    text = format_table(table)
    assert text.splitlines()[0].startswith(
        "| approach | variant | en R@1 | en R@3 | en MRR | en answered | en no-answer | ar R@1"
    )
    assert text.splitlines()[0].endswith("| answered | no-answer | hard no-answer |")
    assert len(text.splitlines()) == 2 + 5  # five approaches, one variant
    assert all("hard_no_answer" in m["all"] for m in table["shipped"].values())
    assert isinstance(VariantPlan("x"), VariantPlan)


def test_out_of_scope_set_is_the_size_the_issue_asks_for():
    import json

    rows = [
        json.loads(line) for line in (ROOT / "tests/eval/out_of_scope.jsonl").read_text(encoding="utf-8").splitlines()
    ]
    assert len(rows) >= 150 and all(r["relevant"] == [] for r in rows)
    assert sum(r["hard"] for r in rows) >= 60
    assert {r["lang"] for r in rows} == {"en", "ar", "sl"}
    assert any(r.get("arabic") == "iraqi" for r in rows)
    assert len({r["question"] for r in rows}) == len(rows)
