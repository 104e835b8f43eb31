"""The practice template coordinators fill in: `/template`, `peerbot new ID`, and the draft made
from a question the coordinators answered ("ask the team").

Every field is explained in YAML comments inside the front matter, in the coordinator's
language (the body has no comments: the loader would index them as text). What the
coordinator must write is marked ``<<...>>``; the loader refuses any file that still holds one
(index/knowledge.py, ``PLACEHOLDER``), so a template or a draft is never published by mistake.
Values are written as JSON strings, which are valid YAML whatever they contain (a ``: ``, a
quote, Arabic), so a filled slot can never break the file.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping

from .texts import Texts

TEMPLATE_NAME = "practice-template.md"
TITLE_CHARS, SUMMARY_CHARS = 200, 600

# Body sections recommended by docs/knowledge-format.md, each with the slot that fills it.
SECTIONS = (
    ("Context", "context"),
    ("What was done", "done"),
    ("Who was involved", "who"),
    ("Results", "results"),
    ("Lessons for Basra", "lessons"),
)
LESSONS_MARK = "*Curators' suggestion, not a claim of the sources:*"


def practice_template(
    language: str,
    topics: Iterable[str],
    target_groups: Iterable[str],
    fill: Mapping[str, object] | None = None,
    header: str | None = None,
) -> str:
    """The template's text; ``fill`` gives slots their values (the rest stay ``<<hint>>``).

    Slots: id, title_en, title_ar, summary_en, summary_ar, municipality, topics (a list),
    actors (a list), period, outcome, transferability_en, url, source_title, publisher, date,
    and the body's context, done, who, results, lessons. ``header`` is one more comment at
    the top (the draft's "this is a draft" note).
    """
    texts = Texts(language)
    fill = dict(fill or {})

    def hint(slot: str) -> str:
        return f"<<{texts(f'tpl_hint_{slot}')}>>"

    def value(slot: str) -> str:
        given = fill.get(slot)
        return json.dumps(given if given is not None else hint(slot), ensure_ascii=False)

    def listed(slot: str) -> str:
        given = fill.get(slot)
        return json.dumps(list(given) if given is not None else [hint(slot)], ensure_ascii=False)

    def comment(key: str, **values) -> list[str]:
        return [f"# {line}".rstrip() for line in texts(key, **values).split("\n")]

    lines = ["---"]
    if header:
        lines += [f"# {line}".rstrip() for line in header.split("\n")] + ["#"]
    lines += comment("tpl_intro")
    lines += ["", *comment("tpl_id"), f"id: {value('id')}"]
    lines += ["", *comment("tpl_title"), "title:", f"  en: {value('title_en')}", f"  ar: {value('title_ar')}"]
    lines += ["", *comment("tpl_summary"), "summary:", f"  en: {value('summary_en')}", f"  ar: {value('summary_ar')}"]
    lines += ["", *comment("tpl_municipality"), f"municipality: {value('municipality')}"]
    lines += ["", *comment("tpl_level"), "level: municipal"]
    lines += ["", *comment("tpl_topics", topics=", ".join(topics)), f"topics: {listed('topics')}"]
    lines += ["", *comment("tpl_target_groups", groups=", ".join(target_groups)), "target_groups: []"]
    lines += ["", *comment("tpl_actors"), f"actors: {listed('actors')}"]
    lines += ["", *comment("tpl_period"), f"period: {value('period')}"]
    lines += ["", *comment("tpl_outcomes"), "outcomes:", f"  - {value('outcome')}"]
    lines += ["", *comment("tpl_transferability"), "transferability:", f"  en: {value('transferability_en')}"]
    lines += [
        "",
        *comment("tpl_sources"),
        "sources:",
        f"  - url: {value('url')}",
        f"    title: {value('source_title')}",
        f"    publisher: {value('publisher')}",
        f"    date: {value('date')}",
        "",
        *comment("tpl_body"),
        "---",
    ]
    for heading, slot in SECTIONS:
        text = fill.get(slot)
        body = str(text) if text is not None else hint(slot)
        if slot == "lessons" and not body.startswith(LESSONS_MARK):
            body = f"{LESSONS_MARK} {body}"
        lines += ["", f"## {heading}", "", body]
    return "\n".join(lines) + "\n"


def shortened(text: str, limit: int) -> str:
    """One line of at most ``limit`` characters, cut at a word where possible."""
    text = " ".join(str(text).split())
    if len(text) <= limit:
        return text
    cut = text.rfind(" ", 0, limit - 1)
    return text[: cut if cut > limit // 2 else limit - 1].rstrip() + "…"


def draft_from_answer(
    language: str,
    topics: Iterable[str],
    target_groups: Iterable[str],
    question: str,
    question_language: str,
    answer: str,
    official: str,
    coordinator: str,
    asked_on: str,
) -> str:
    """A draft practice from a question and the coordinators' answer: the question as the title
    and context, the answer as the summary and "What was done", in the question's language when
    that is en or ar; everything else (the id, the municipality, the topics and above all the
    sources) is left for the coordinator, so the draft cannot be published as it is."""
    fill: dict[str, object] = {"context": question, "done": answer}
    if question_language in ("en", "ar"):
        fill[f"title_{question_language}"] = shortened(question, TITLE_CHARS)
        if len(" ".join(answer.split())) >= 20:
            fill[f"summary_{question_language}"] = shortened(answer, SUMMARY_CHARS)
    header = Texts(language)("tpl_draft_header", official=official, coordinator=coordinator, date=asked_on)
    return practice_template(language, topics, target_groups, fill, header=header)
