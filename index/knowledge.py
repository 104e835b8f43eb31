"""Knowledge files -> validated practices.

Implements the contract in docs/knowledge-format.md: one Markdown file per practice with YAML
front matter. Every problem in every file is collected (never just the first), each phrased as
``path: field: what is wrong (what is allowed)``.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from .problems import Problem, odd_character, quoted, short
from .safe_yaml import CONTROL, YamlError, load_yaml
from .taxonomy import Taxonomy, load_taxonomy
from .translations import split_body, translation_problems

MAX_FILE_BYTES = 256 * 1024
ID_PATTERN = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*$")
ID_CHARS = "abcdefghijklmnopqrstuvwxyz0123456789-"
LANG_PATTERN = re.compile(r"^[a-z]{2}$")
DATE_PATTERN = re.compile(r"^\d{4}(-(0[1-9]|1[0-2])(-(0[1-9]|[12]\d|3[01]))?)?$")
MONTH_PATTERN = re.compile(r"^\d{4}(-(0[1-9]|1[0-2]))?$")
LEVELS = ("municipal", "regional", "national", "international")
Text = dict[str, str]


def _as_text(value):
    # YAML turns `date: 2020` into an int and `date: 2020-03-17` into a date; the contract means text.
    if isinstance(value, bool):
        return value
    if isinstance(value, int):
        return str(value)
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def _check_languages(value: Text, low: int, high: int) -> Text:
    if "en" not in value:
        raise ValueError("'en' is required (languages are ISO 639-1 codes: en, ar, sl, ...)")
    for lang, text in value.items():
        if not LANG_PATTERN.match(lang):
            raise ValueError(f"'{lang}' is not an ISO 639-1 language code (two lower-case letters, e.g. en, ar, sl)")
        length = len(text.strip())
        if not low <= length <= high:
            raise ValueError(f"'{lang}' text has {length} characters ({low}–{high} allowed)")
    return {lang: text.strip() for lang, text in value.items()}


class Source(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    url: str
    title: str = Field(min_length=1)
    publisher: str | None = None
    date: str | None = None
    lang: str | None = None

    @field_validator("url")
    @classmethod
    def _url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc or any(c.isspace() for c in value):
            raise ValueError(f"{quoted(value)} is not a web address (http:// or https:// with a host, no spaces)")
        return value

    @field_validator("date", mode="before")
    @classmethod
    def _date_text(cls, value):
        return _as_text(value)

    @field_validator("date")
    @classmethod
    def _date(cls, value: str | None) -> str | None:
        if value is not None and not DATE_PATTERN.match(value):
            raise ValueError(f"{quoted(value)} is not a date (YYYY, YYYY-MM or YYYY-MM-DD)")
        return value

    @field_validator("lang")
    @classmethod
    def _lang(cls, value: str | None) -> str | None:
        if value is not None and not LANG_PATTERN.match(value):
            raise ValueError(f"{quoted(value)} is not an ISO 639-1 language code (e.g. en, sl, ar)")
        return value


class TranslatedFields(BaseModel):
    """One language's copy of the front matter's lists (same items, same order as the original)."""

    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    outcomes: list[str] | None = None
    actors: list[str] | None = None


class FrontMatter(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    id: str
    title: Text
    summary: Text
    municipality: str = Field(min_length=1)
    country: str = "Slovenia"
    level: Literal["municipal", "regional", "national", "international"] = "municipal"
    topics: list[str] = Field(min_length=1)
    target_groups: list[str] = []
    actors: list[str] = []
    period: str | None = None
    outcomes: list[str] = []
    transferability: Text = {}
    contact: str | None = None
    sources: list[Source] = Field(min_length=1)
    language: str = "en"  # language of the Markdown body (and of actors and outcomes)
    # Optional extension (docs/knowledge-format.md, "Translations"): translated actors and outcomes;
    # the translated body sections are in the body after <!-- translation: xx --> markers.
    translations: dict[str, TranslatedFields] = {}

    @field_validator("id")
    @classmethod
    def _id(cls, value: str) -> str:
        if len(value) > 80 or not ID_PATTERN.match(value):
            raise ValueError(
                f"{quoted(value)} is not a valid id (lower-case letters, digits and single hyphens, at most 80 characters{odd_character(value, ID_CHARS)})"
            )
        return value

    @field_validator("title")
    @classmethod
    def _title(cls, value: Text) -> Text:
        return _check_languages(value, 3, 200)

    @field_validator("summary")
    @classmethod
    def _summary(cls, value: Text) -> Text:
        return _check_languages(value, 20, 600)

    @field_validator("transferability")
    @classmethod
    def _transferability(cls, value: Text) -> Text:
        return _check_languages(value, 1, 2000) if value else value

    @field_validator("period", "contact", mode="before")
    @classmethod
    def _text(cls, value):
        return _as_text(value)

    @field_validator("period")
    @classmethod
    def _period(cls, value: str | None) -> str | None:
        if value is None:
            return value
        ends = value.split("/")
        if len(ends) > 2 or not all(MONTH_PATTERN.match(end) for end in ends) or (len(ends) == 2 and ends[0] > ends[1]):
            raise ValueError(
                f"{quoted(value)} is not a period (YYYY, YYYY-MM, or START/END of those, START not after END)"
            )
        return value

    @field_validator("language")
    @classmethod
    def _language(cls, value: str) -> str:
        if not LANG_PATTERN.match(value):
            raise ValueError(f"{quoted(value)} is not an ISO 639-1 language code (e.g. en, sl)")
        return value

    @field_validator("translations")
    @classmethod
    def _translations(cls, value: dict[str, TranslatedFields]) -> dict[str, TranslatedFields]:
        for lang in value:
            if not LANG_PATTERN.match(lang):
                raise ValueError(
                    f"{quoted(lang)} is not an ISO 639-1 language code (two lower-case letters, e.g. ar, sl)"
                )
        return value

    def text(self, field_name: str, language: str) -> str:
        """A multilingual field (title, summary, transferability) in ``language``, else in English."""
        values: Text = getattr(self, field_name)
        return values.get(language) or values.get("en", "")


@dataclass(frozen=True)
class Section:
    heading: str  # "" for text before the first ## heading
    text: str


@dataclass
class Practice:
    meta: FrontMatter
    sections: list[Section]  # the original body, in meta.language
    path: str  # relative to the knowledge folder
    content_hash: str  # sha256 of the file bytes
    translations: dict[str, list[Section]] = field(default_factory=dict)  # language -> the same sections translated

    @property
    def id(self) -> str:
        return self.meta.id

    def text(self, field_name: str, language: str) -> str:
        return self.meta.text(field_name, language)


@dataclass
class KnowledgeBase:
    practices: list[Practice] = field(default_factory=list)
    problems: list[Problem] = field(default_factory=list)
    taxonomy: Taxonomy = field(default_factory=Taxonomy.contract_default)
    files_checked: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems


def practice_files(folder: Path) -> list[Path]:
    """Every *.md below the folder except README.md files and hidden paths, in a stable order."""
    files = []
    for path in folder.rglob("*.md"):
        relative = path.relative_to(folder)
        if path.name.lower() == "readme.md" or any(part.startswith(".") for part in relative.parts):
            continue
        if path.is_file():
            files.append(path)
    return sorted(files)


def load_knowledge(folder: Path) -> KnowledgeBase:
    folder = Path(folder)
    if not folder.is_dir():
        return KnowledgeBase(
            problems=[
                Problem(
                    str(folder), "-", "knowledge folder does not exist (set PEERBOT_KNOWLEDGE_DIR or pass the folder)"
                )
            ]
        )
    taxonomy, problems = load_taxonomy(folder / "taxonomy.yaml")
    kb = KnowledgeBase(taxonomy=taxonomy, problems=list(problems))
    seen: dict[str, str] = {}
    files = practice_files(folder)
    kb.files_checked = len(files)
    for path in files:
        practice, file_problems = parse_practice(
            path.read_bytes(), path.relative_to(folder), taxonomy, display=str(path)
        )
        kb.problems.extend(file_problems)
        if practice is None:
            continue
        if practice.id in seen:
            kb.problems.append(
                Problem(
                    str(path),
                    "id",
                    f"duplicate id '{practice.id}', also used by {seen[practice.id]} (ids must be unique across the folder)",
                )
            )
            continue
        seen[practice.id] = str(path)
        kb.practices.append(practice)
    return kb


def parse_practice(
    data: bytes, relative_path: Path, taxonomy: Taxonomy, display: str | None = None
) -> tuple[Practice | None, list[Problem]]:
    """Validate one file's bytes. Returns the practice only when there is no problem at all."""
    name = display or str(relative_path)
    if len(data) > MAX_FILE_BYTES:
        return None, [
            Problem(
                name,
                "-",
                f"file is {len(data) // 1024} KiB (at most {MAX_FILE_BYTES // 1024} KiB allowed; split it into several practices)",
            )
        ]
    if b"\x00" in data:
        return None, [Problem(name, "-", "file contains NUL bytes (it is binary, not a Markdown text file)")]
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        return None, [Problem(name, "-", f"not UTF-8 text (invalid byte at line {line}; save the file as UTF-8)")]
    text = text.removeprefix("\ufeff").replace("\r\n", "\n")
    control = CONTROL.search(text)
    if control:
        line = text[: control.start()].count("\n") + 1
        return None, [
            Problem(
                name,
                "-",
                f"file contains the control character U+{ord(control.group()):04X} at line {line} (knowledge files are plain text; remove it)",
            )
        ]

    front, body, body_line, problem = _split_front_matter(text)
    if problem:
        return None, [Problem(name, "-", problem)]
    try:
        raw = load_yaml(front, first_line=2)
    except YamlError as exc:
        return None, [Problem(name, "front matter", str(exc))]
    if not isinstance(raw, dict):
        return None, [Problem(name, "front matter", f"must be a mapping of field: value (found {type(raw).__name__})")]

    problems: list[Problem] = []
    meta = None
    try:
        meta = FrontMatter.model_validate(raw)
    except ValidationError as exc:
        problems.extend(_pydantic_problems(name, exc))

    expected_id = relative_path.stem
    raw_id = raw.get("id")
    if isinstance(raw_id, str) and raw_id != expected_id:
        problems.append(
            Problem(
                name,
                "id",
                f"{quoted(raw_id)} does not match the file name (rename the file to {short(raw_id)}.md or set id: {short(expected_id)}{odd_character(expected_id, ID_CHARS)})",
            )
        )
    for vocabulary in ("topics", "target_groups"):
        allowed = getattr(taxonomy, vocabulary)
        values = raw.get(vocabulary)
        if isinstance(values, list):
            for i, key in enumerate(values):
                if isinstance(key, str) and key not in allowed:
                    problems.append(
                        Problem(
                            name,
                            f"{vocabulary}[{i}]",
                            f"unknown key {quoted(key)} (allowed: {', '.join(sorted(allowed))})",
                        )
                    )

    body_language = meta.language if meta is not None else "en"
    original, blocks, marker_problems = split_body(body, body_language, name, body_line)
    problems.extend(marker_problems)
    sections = _sections(original)
    translated = {language: _sections(text) for language, text in blocks.items()}
    if not any(s.text for s in sections):
        problems.append(
            Problem(name, "body", f"empty (write at least one paragraph after the front matter, from line {body_line})")
        )
    elif meta is not None:
        problems.extend(
            translation_problems(
                name,
                meta,
                [(s.heading, s.text) for s in sections],
                {language: [(s.heading, s.text) for s in parts] for language, parts in translated.items()},
            )
        )
    problems.extend(_placeholders(name, text))
    if problems or meta is None:
        return None, sorted(set(problems))
    return Practice(meta, sections, relative_path.as_posix(), hashlib.sha256(data).hexdigest(), translated), []


# The practice template (bot/practice_template.py) marks what the coordinator must write as
# <<hint>>; a file that still holds one is a draft, never a practice, wherever it would validate.
# The template's comments name the mark itself as "<<...>>", which is not a placeholder.
PLACEHOLDER = re.compile(r"<<(?!\.\.\.>>)[^<>\n]{1,300}>>")
PLACEHOLDERS_SHOWN = 5


def _placeholders(name: str, text: str) -> list[Problem]:
    found = [(text[: m.start()].count("\n") + 1, m.group()) for m in PLACEHOLDER.finditer(text)]
    problems = [
        Problem(
            name,
            "-",
            f"line {line}: the template's placeholder {quoted(mark)} is still there (write your text in its place, or delete the line)",
        )
        for line, mark in found[:PLACEHOLDERS_SHOWN]
    ]
    if len(found) > PLACEHOLDERS_SHOWN:
        problems.append(
            Problem(
                name,
                "-",
                f"{len(found) - PLACEHOLDERS_SHOWN} more template placeholder(s) after line {found[PLACEHOLDERS_SHOWN - 1][0]}",
            )
        )
    return problems


def _split_front_matter(text: str) -> tuple[str, str, int, str | None]:
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        return (
            "",
            "",
            1,
            "no front matter (the file must start with a line '---', then YAML fields, then a closing '---')",
        )
    for i in range(1, len(lines)):
        if lines[i].strip() in ("---", "..."):
            body_lines = lines[i + 1 :]
            first = next((line.strip() for line in body_lines if line.strip()), "")
            if first == "---":
                return (
                    "",
                    "",
                    i + 2,
                    "a second front-matter block follows the first (merge the fields into one block between two '---' lines)",
                )
            return "\n".join(lines[1:i]), "\n".join(body_lines), i + 2, None
    return "", "", 1, "front matter is not closed (add a line '---' after the YAML fields)"


_HEADING = re.compile(r"^##\s+(.+?)\s*#*\s*$")


def _sections(body: str) -> list[Section]:
    sections: list[Section] = []
    heading, lines = "", []
    for line in body.split("\n"):
        match = _HEADING.match(line)
        if match:
            sections.append(Section(heading, "\n".join(lines).strip()))
            heading, lines = match.group(1), []
        else:
            lines.append(line)
    sections.append(Section(heading, "\n".join(lines).strip()))
    return [s for s in sections if s.text or s.heading]


_ALLOWED_HINT = {
    "level": f"one of {', '.join(LEVELS)}",
    "topics": "a non-empty list of topic keys from taxonomy.yaml",
    "target_groups": "a list of target-group keys from taxonomy.yaml",
    "sources": "a non-empty list of {url, title, publisher, date, lang}",
    "title": "a mapping of language -> text, e.g. {en: ..., ar: ...}",
    "summary": "a mapping of language -> text, e.g. {en: ..., ar: ...}",
    "transferability": "a mapping of language -> text",
    "actors": "a list of names",
    "outcomes": "a list of sentences",
    "translations": "a mapping of language -> {outcomes: [...], actors: [...]}, e.g. {ar: {outcomes: [...]}}",
}


def _pydantic_problems(name: str, exc: ValidationError) -> list[Problem]:
    problems = []
    for error in exc.errors():
        loc = error["loc"]
        where = loc[0] if loc else "-"
        path = str(where)
        for part in loc[1:]:
            path += f"[{part}]" if isinstance(part, int) else f".{part}"
        kind = error["type"]
        if kind == "extra_forbidden":
            parent, model = {
                "sources": ("sources[] item", Source),
                "translations": (f"translations.{loc[1] if len(loc) > 1 else ''}", TranslatedFields),
            }.get(str(where), ("front matter", FrontMatter))
            allowed = ", ".join(sorted(model.model_fields))
            message = f"unknown field in {parent} (allowed: {allowed})"
        elif kind == "missing":
            message = "required field is missing" + (f" ({_ALLOWED_HINT[path]})" if path in _ALLOWED_HINT else "")
        elif kind == "value_error":
            message = str(error["ctx"]["error"])
        elif kind == "literal_error":
            message = f"{quoted(error['input'])} is not allowed ({_ALLOWED_HINT.get(str(where), error['msg'])})"
        elif kind == "too_short" and path in ("topics", "sources"):
            message = f"must not be empty ({_ALLOWED_HINT[path]})"
        else:
            hint = _ALLOWED_HINT.get(str(where))
            message = error["msg"][0].lower() + error["msg"][1:] + (f" ({hint})" if hint else "")
        problems.append(Problem(name, path, message))
    return problems
