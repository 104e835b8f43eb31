"""Translated bodies in a practice file: splitting them off the original, and checking them.

The optional extension of docs/knowledge-format.md ("Translations"): after the original body, a
line ``<!-- translation: ar -->`` starts that language's copy of the same ``##`` sections; the
front matter's ``translations: {ar: {outcomes: [...], actors: [...]}}`` holds the translated lists.
A file without either is exactly what it was before the extension.

The checks are those of the translators' checker (``check_translation.py``): the same sections in
the same order, the same number of outcomes and actors, and the same figures both ways in every
section, outcome, actor, title, summary and transferability, so a mistyped number in Arabic is
caught before it is published. Arabic-Indic digits count as digits and thousands separators are
ignored, so "٣٠٬٠٠٠" and "30,000" are the same figure.
"""

from __future__ import annotations

import re
from collections.abc import Sequence

from .problems import Problem, quoted

MARKER = re.compile(r"^<!--\s*translation:\s*([a-z]{2})\s*-->\s*$", re.M)
# A line that looks meant as a marker but is not one ("<!-- Translation: AR -->", "<!-- translation ar -->"):
# silently it would become part of the original's last section, so it is reported.
_NEAR_MARKER = re.compile(r"^\s*<!--\s*translat", re.I)
_DIGITS = str.maketrans("٠١٢٣٤٥٦٧٨٩۰۱۲۳۴۵۶۷۸۹", "01234567890123456789")
_THOUSANDS = re.compile(r"(?<=\d)[,.\u00a0 ](?=\d{3}(?!\d))")
_NUMBER = re.compile(r"\d+(?:[.,]\d+)?")
FIGURES_HINT = "every number of the original must appear in the translation and no other; Arabic-Indic digits count"

Pairs = Sequence[tuple[str, str]]  # (heading, text) of each section; heading "" before the first ##


def figures(text: str) -> list[str]:
    """The numbers in a text, as the translators' checker sees them: 30,000 / 400.000 / ٣٠٬٠٠٠ -> 30000."""
    plain = text.translate(_DIGITS).replace("٬", ",").replace("٫", ".")
    plain = _THOUSANDS.sub("", plain)
    return sorted(set(_NUMBER.findall(plain)), key=str)


def split_body(body: str, body_language: str, name: str, first_line: int) -> tuple[str, dict[str, str], list[Problem]]:
    """(the original body, {language: translated body}, problems with the markers)."""
    problems = []
    for number, line in enumerate(body.split("\n"), start=first_line):
        if _NEAR_MARKER.match(line) and not MARKER.match(line):
            problems.append(
                Problem(
                    name,
                    "body",
                    f"line {number}: {quoted(line.strip(), 60)} is not a translation marker (write it alone on its line as <!-- translation: ar -->, with a two-letter language code in lower case)",
                )
            )
    parts = MARKER.split(body)
    original, blocks = parts[0], {}
    for language, text in zip(parts[1::2], parts[2::2]):
        if language == body_language:
            problems.append(
                Problem(
                    name,
                    "body",
                    f"'<!-- translation: {language} -->' translates the body into its own language '{body_language}' (use the code of the translation's language, or remove the marker)",
                )
            )
        elif language in blocks:
            problems.append(
                Problem(
                    name,
                    "body",
                    f"two translation blocks for '{language}' (keep one '<!-- translation: {language} -->' block with all its sections)",
                )
            )
        else:
            blocks[language] = text
    return original, blocks, problems


def translation_problems(name: str, meta, original: Pairs, translated: dict[str, Pairs]) -> list[Problem]:
    """Every problem of every translation of one valid practice (``meta`` is its FrontMatter)."""
    problems: list[Problem] = []
    listed = meta.translations
    for language in sorted(set(translated) | set(listed)):
        problems += _body_problems(name, language, original, translated.get(language))
        fields = listed.get(language)
        for key in ("outcomes", "actors"):
            problems += _list_problems(name, language, key, getattr(meta, key), getattr(fields, key, None))
        for key in ("title", "summary", "transferability"):
            values = getattr(meta, key)
            if "en" not in values:
                continue
            if language not in values:
                if key != "title":  # a title may stay as published; the checker asks the same
                    problems.append(
                        Problem(
                            name,
                            f"{key}.{language}",
                            f"missing: the practice is translated into '{language}' (add {key}.{language}, translated from {key}.en)",
                        )
                    )
                continue
            problems += _figure_problems(name, f"{key}.{language}", values["en"], values[language], f"{key}.en")
    return problems


def _body_problems(name: str, language: str, original: Pairs, translation: Pairs | None) -> list[Problem]:
    field = f"body ({language})"
    if translation is None:
        return [
            Problem(
                name,
                field,
                f"no translated body (after the original body add a line <!-- translation: {language} --> and then the {len(original)} sections translated)",
            )
        ]
    # Counted as the checker counts: the "## " sections; text before the first heading is compared apart.
    headed, t_headed = [p for p in original if p[0]], [p for p in translation if p[0]]
    if len(headed) != len(t_headed):
        headings = ", ".join(quoted(h, 40) for h, _ in headed)
        return [
            Problem(
                name,
                field,
                f"{len(t_headed)} section(s), the original has {len(headed)} (translate every '## ' section of the original in the same order: {headings})",
            )
        ]
    if len(original) != len(translation):
        has = "has" if len(translation) > len(original) else "lacks"
        return [
            Problem(
                name,
                field,
                f"the translation {has} text before its first '## ' heading and the original does not (translate the original's text before its first heading there, and nothing else)",
            )
        ]
    problems = []
    for number, ((heading, text), (t_heading, t_text)) in enumerate(zip(original, translation), start=1):
        where = f"{field} section {number} {quoted(t_heading or '-', 60)}"
        if text and not t_text:
            problems.append(
                Problem(name, where, f"is empty, the original {quoted(heading or '-', 60)} is not (translate its text)")
            )
            continue
        problems += _figure_problems(name, where, text, t_text, f"section {quoted(heading or '-', 60)}")
    return problems


def _list_problems(
    name: str, language: str, key: str, original: list[str], translation: list[str] | None
) -> list[Problem]:
    field = f"translations.{language}.{key}"
    translation = translation or []
    if not original and translation:
        return [Problem(name, field, f"the original has no {key} (remove translations.{language}.{key})")]
    if len(original) != len(translation):
        return [
            Problem(
                name,
                field,
                f"{len(translation)} item(s), the original {key} has {len(original)} (one translation per item, in the same order)",
            )
        ]
    problems = []
    for i, (text, t_text) in enumerate(zip(original, translation)):
        problems += _figure_problems(name, f"{field}[{i}]", text, t_text, f"{key}[{i}]")
    return problems


def _figure_problems(name: str, field: str, original: str, translation: str, original_name: str) -> list[Problem]:
    want, have = figures(original), figures(translation)
    if want == have:
        return []
    missing = [n for n in want if n not in have]
    extra = [n for n in have if n not in want]
    said = []
    if missing:
        said.append(f"lacks {', '.join(missing)}")
    if extra:
        said.append(f"has {', '.join(extra)} that {original_name} does not")
    return [
        Problem(name, field, f"figures differ from {original_name}: the translation {'; '.join(said)} ({FIGURES_HINT})")
    ]
