"""The knowledge contract: good files load, every kind of bad file gets a precise message."""

from __future__ import annotations

from pathlib import Path

import pytest

from index.knowledge import load_knowledge

GOOD = """---
id: {id}
title:
  en: Volunteers deliver food to older people
  ar: متطوعون يوصلون الطعام إلى كبار السن
summary:
  en: Volunteers of the municipality delivered food and medicines to older people living alone.
municipality: Kočevje
topics: [volunteering]
sources:
  - url: https://example.org/a
    title: A source
    date: 2020
---

## What was done
Volunteers delivered food.
"""


def write(folder: Path, name: str, text: str | bytes) -> Path:
    path = folder / "practices" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text, encoding="utf-8")
    return path


def problems_for(knowledge: Path, name: str, text: str | bytes) -> list[str]:
    path = write(knowledge, name, text)
    kb = load_knowledge(knowledge)
    return [p.field + ": " + p.message for p in kb.problems if p.path == str(path)]


def test_fixture_knowledge_is_valid(knowledge: Path):
    kb = load_knowledge(knowledge)
    assert kb.problems == []
    assert len(kb.practices) == 6
    practice = next(p for p in kb.practices if p.id == "kocevje-cash-free-food-packages")
    assert practice.meta.municipality == "Kočevje"
    assert practice.meta.sources[0].date == "2020"  # YAML int turned back into the contract's text
    assert [s.heading for s in practice.sections] == ["Context", "What was done", "Lessons for Basra"]


def test_readme_and_hidden_files_are_not_practices(knowledge: Path):
    (knowledge / "README.md").write_text("# guide\n")
    write(knowledge, ".draft.md", "not a practice")
    kb = load_knowledge(knowledge)
    assert kb.problems == [] and kb.files_checked == 6


def test_good_file_in_a_subfolder_loads(knowledge: Path):
    path = knowledge / "a" / "b" / "nested-practice.md"
    path.parent.mkdir(parents=True)
    path.write_text(GOOD.format(id="nested-practice"))
    kb = load_knowledge(knowledge)
    assert kb.problems == []
    assert "nested-practice" in {p.id for p in kb.practices}


@pytest.mark.parametrize(
    "text, expected",
    [
        (
            "no front matter here\n",
            ["-: no front matter (the file must start with a line '---', then YAML fields, then a closing '---')"],
        ),
        ("---\nid: x\n", ["-: front matter is not closed (add a line '---' after the YAML fields)"]),
        (
            GOOD.format(id="x").replace("---\n\n## What", "---\n---\nid: again\n---\n## What"),
            [
                "-: a second front-matter block follows the first (merge the fields into one block between two '---' lines)"
            ],
        ),
        ("---\n- a\n- b\n---\nbody\n", ["front matter: must be a mapping of field: value (found list)"]),
        ("---\nid: x\ntitle: [unclosed\n---\nbody\n", None),  # YAML error: checked separately for the line
    ],
)
def test_front_matter_shape(knowledge: Path, text: str, expected):
    found = problems_for(knowledge, "x.md", text)
    if expected is None:
        assert found == [
            "front matter: YAML does not parse at line 3, column 17: expected ',' or ']', but got '<stream end>'"
        ]
    else:
        assert found == expected


def test_yaml_error_reports_the_file_line(knowledge: Path):
    text = GOOD.format(id="x").replace("municipality: Kočevje", "municipality: Kočevje\ntopics: [a\n")
    found = problems_for(knowledge, "x.md", text)
    assert found == ["front matter: YAML does not parse at line 11, column 7: expected ',' or ']', but got ':'"]


def test_unknown_field_and_missing_fields(knowledge: Path):
    text = GOOD.format(id="x").replace("municipality: Kočevje\n", "municipalty: Kočevje\n")
    found = problems_for(knowledge, "x.md", text)
    assert "municipality: required field is missing" in found
    assert any(
        f.startswith(
            "municipalty: unknown field in front matter (allowed: actors, contact, country, id, language, level,"
        )
        for f in found
    )


def test_id_must_match_file_name(knowledge: Path):
    found = problems_for(knowledge, "other-name.md", GOOD.format(id="x"))
    assert found == ["id: 'x' does not match the file name (rename the file to x.md or set id: other-name)"]


def test_bad_id_slug(knowledge: Path):
    found = problems_for(knowledge, "Bad_Id.md", GOOD.format(id="Bad_Id"))
    assert found == [
        "id: 'Bad_Id' is not a valid id (lower-case letters, digits and single hyphens, at most 80 characters)"
    ]


def test_duplicate_ids_across_folders(knowledge: Path):
    write(knowledge, "dup.md", GOOD.format(id="dup"))
    other = knowledge / "elsewhere" / "dup.md"
    other.parent.mkdir()
    other.write_text(GOOD.format(id="dup"))
    kb = load_knowledge(knowledge)
    messages = [str(p) for p in kb.problems]
    assert len(messages) == 1
    assert (
        "id: duplicate id 'dup', also used by" in messages[0]
        and "(ids must be unique across the folder)" in messages[0]
    )


def test_unknown_topics_and_target_groups_list_the_allowed_keys(knowledge: Path):
    text = GOOD.format(id="x").replace(
        "topics: [volunteering]", "topics: [volunteering, sport]\ntarget_groups: [aliens]"
    )
    found = problems_for(knowledge, "x.md", text)
    assert (
        "topics[1]: unknown key 'sport' (allowed: civil-protection, communication, cooperation, education, funding, health, local-administration, local-business, psychosocial-support, volunteering, vulnerable-groups)"
        in found
    )
    assert any(
        f.startswith("target_groups[0]: unknown key 'aliens' (allowed: businesses, care-home-residents, children,")
        for f in found
    )


@pytest.mark.parametrize(
    "url, message",
    [
        (
            "javascript:alert(1)",
            "sources[0].url: 'javascript:alert(1)' is not a web address (http:// or https:// with a host, no spaces)",
        ),
        (
            "ftp://example.org/x",
            "sources[0].url: 'ftp://example.org/x' is not a web address (http:// or https:// with a host, no spaces)",
        ),
        ("https://", "sources[0].url: 'https://' is not a web address (http:// or https:// with a host, no spaces)"),
    ],
)
def test_bad_urls(knowledge: Path, url: str, message: str):
    found = problems_for(knowledge, "x.md", GOOD.format(id="x").replace("https://example.org/a", url))
    assert found == [message]


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("date: 2020", "date: 2020-13", "sources[0].date: '2020-13' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)"),
        (
            "date: 2020",
            "date: spring 2020",
            "sources[0].date: 'spring 2020' is not a date (YYYY, YYYY-MM or YYYY-MM-DD)",
        ),
        (
            "topics: [volunteering]",
            "topics: [volunteering]\nperiod: 2020-05/2020-03",
            "period: '2020-05/2020-03' is not a period (YYYY, YYYY-MM, or START/END of those, START not after END)",
        ),
        (
            "topics: [volunteering]",
            "topics: [volunteering]\nlevel: city",
            "level: 'city' is not allowed (one of municipal, regional, national, international)",
        ),
        (
            "topics: [volunteering]",
            "topics: []",
            "topics: must not be empty (a non-empty list of topic keys from taxonomy.yaml)",
        ),
        (
            "  en: Volunteers deliver food to older people\n",
            "  ar: متطوعون\n",
            "title: 'en' is required (languages are ISO 639-1 codes: en, ar, sl, ...)",
        ),
        (
            "  en: Volunteers of the municipality delivered food and medicines to older people living alone.",
            "  en: Too short.",
            "summary: 'en' text has 10 characters (20–600 allowed)",
        ),
    ],
)
def test_bad_values(knowledge: Path, old: str, new: str, message: str):
    text = GOOD.format(id="x").replace(old, new, 1)
    assert text != GOOD.format(id="x")
    found = problems_for(knowledge, "x.md", text)
    assert message in found


def test_empty_body(knowledge: Path):
    text = GOOD.format(id="x").split("## What was done")[0]
    assert problems_for(knowledge, "x.md", text) == [
        "body: empty (write at least one paragraph after the front matter, from line 15)"
    ]


def test_not_utf8(knowledge: Path):
    data = (
        GOOD.format(id="x")
        .replace("Kočevje", "Ko\u010devje")
        .encode("utf-8")
        .replace("Kočevje".encode(), "Ko\xe8evje".encode("latin-1"))
    )
    assert problems_for(knowledge, "x.md", data) == [
        "-: not UTF-8 text (invalid byte at line 8; save the file as UTF-8)"
    ]


def test_nul_bytes(knowledge: Path):
    assert problems_for(knowledge, "x.md", b"---\nid: x\x00\n---\n") == [
        "-: file contains NUL bytes (it is binary, not a Markdown text file)"
    ]


def test_file_over_256_kib(knowledge: Path):
    text = GOOD.format(id="x") + ("word " * 60_000)
    assert problems_for(knowledge, "x.md", text) == [
        "-: file is 293 KiB (at most 256 KiB allowed; split it into several practices)"
    ]


def test_yaml_alias_bomb_is_refused(knowledge: Path):
    bomb = '---\na: &a ["x","x","x","x","x","x","x","x","x"]\nb: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]\nc: [*b,*b,*b,*b,*b,*b,*b,*b,*b]\n---\nbody\n'
    found = problems_for(knowledge, "x.md", bomb)
    assert found == ["front matter: YAML alias '*a' at line 3 (aliases are not allowed; write the value out)"]


def test_deep_nesting_is_refused(knowledge: Path):
    deep = "---\nid: " + "[" * 50 + "]" * 50 + "\n---\nbody\n"
    found = problems_for(knowledge, "x.md", deep)
    assert found == ["front matter: YAML nested deeper than 20 levels at line 2"]


def test_every_problem_is_reported_in_one_run(knowledge: Path):
    write(knowledge, "a.md", "no front matter\n")
    write(knowledge, "b.md", GOOD.format(id="wrong"))
    write(knowledge, "c.md", GOOD.format(id="c").replace("https://example.org/a", "mailto:x@y.z"))
    kb = load_knowledge(knowledge)
    assert {Path(p.path).name for p in kb.problems} == {"a.md", "b.md", "c.md"}
    assert len(kb.practices) == 6  # the good files still load


def test_missing_taxonomy_falls_back_to_contract_keys(knowledge: Path):
    (knowledge / "taxonomy.yaml").unlink()
    kb = load_knowledge(knowledge)
    assert [p.field for p in kb.problems] == ["-"]
    assert kb.problems[0].message.startswith("file is missing")
    assert len(kb.practices) == 6


def test_taxonomy_must_keep_contract_keys(knowledge: Path):
    path = knowledge / "taxonomy.yaml"
    path.write_text(path.read_text().replace("  funding: {en: Funding, ar: التمويل, sl: Financiranje}\n", ""))
    kb = load_knowledge(knowledge)
    assert [str(p).split(": ", 1)[1] for p in kb.problems] == [
        "topics: contract keys missing: funding (keys may be added, never removed)"
    ]
