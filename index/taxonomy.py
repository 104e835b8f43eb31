"""The controlled vocabularies of ``knowledge/taxonomy.yaml``: topics and target groups."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .problems import Problem
from .safe_yaml import YamlError, load_yaml

# The contract (knowledge-format.md) fixes these keys: files in other corpora use them, so a
# taxonomy may add keys but never drop one of these.
CONTRACT_TOPICS = (
    "local-administration",
    "local-business",
    "vulnerable-groups",
    "volunteering",
    "cooperation",
    "civil-protection",
    "health",
    "education",
    "communication",
    "psychosocial-support",
    "funding",
)
CONTRACT_TARGET_GROUPS = (
    "elderly",
    "people-with-disabilities",
    "children",
    "families",
    "low-income",
    "homeless",
    "quarantined",
    "care-home-residents",
    "businesses",
    "workers",
    "volunteers",
    "municipal-staff",
    "youth",
)
VOCABULARIES = ("topics", "target_groups")


@dataclass
class Taxonomy:
    # key -> {language: label}
    topics: dict[str, dict[str, str]] = field(default_factory=dict)
    target_groups: dict[str, dict[str, str]] = field(default_factory=dict)

    @classmethod
    def contract_default(cls) -> Taxonomy:
        """Keys only, English labels made from the key: used when taxonomy.yaml is unusable."""

        def labels(keys):
            return {k: {"en": k.replace("-", " ").capitalize()} for k in keys}

        return cls(labels(CONTRACT_TOPICS), labels(CONTRACT_TARGET_GROUPS))

    def label(self, vocabulary: str, key: str, language: str) -> str:
        labels = getattr(self, vocabulary).get(key, {})
        return labels.get(language) or labels.get("en") or key


def load_taxonomy(path: Path) -> tuple[Taxonomy, list[Problem]]:
    """Read taxonomy.yaml; on any problem fall back to the contract's keys so practices can still be checked."""
    name = str(path)
    if not path.is_file():
        return Taxonomy.contract_default(), [
            Problem(
                name,
                "-",
                "file is missing (create it with 'topics' and 'target_groups' mappings, see knowledge/README.md)",
            )
        ]
    try:
        data = load_yaml(path.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        return Taxonomy.contract_default(), [
            Problem(name, "-", f"not UTF-8 text (byte {exc.start}; save the file as UTF-8)")
        ]
    except YamlError as exc:
        return Taxonomy.contract_default(), [Problem(name, "-", str(exc))]
    if not isinstance(data, dict):
        return Taxonomy.contract_default(), [Problem(name, "-", "must be a mapping with 'topics' and 'target_groups'")]

    problems: list[Problem] = []
    taxonomy = Taxonomy()
    for vocabulary, required in (("topics", CONTRACT_TOPICS), ("target_groups", CONTRACT_TARGET_GROUPS)):
        entries = data.get(vocabulary)
        if not isinstance(entries, dict):
            problems.append(Problem(name, vocabulary, "missing or not a mapping of key -> {en: label, ...}"))
            entries = {}
        parsed: dict[str, dict[str, str]] = {}
        for key, labels in entries.items():
            if not isinstance(labels, dict) or not isinstance(labels.get("en"), str) or not labels["en"].strip():
                problems.append(
                    Problem(
                        name,
                        f"{vocabulary}.{key}",
                        "needs a label mapping with at least 'en' (e.g. {en: Volunteering, ar: التطوع})",
                    )
                )
                continue
            parsed[str(key)] = {str(lang): str(text) for lang, text in labels.items()}
        missing = [k for k in required if k not in parsed]
        if missing:
            problems.append(
                Problem(
                    name, vocabulary, f"contract keys missing: {', '.join(missing)} (keys may be added, never removed)"
                )
            )
            for k in missing:
                parsed[k] = {"en": k.replace("-", " ").capitalize()}
        setattr(taxonomy, vocabulary, parsed)
    for extra in sorted(set(data) - set(VOCABULARIES)):
        problems.append(Problem(name, str(extra), f"unknown section (allowed: {', '.join(VOCABULARIES)})"))
    return taxonomy, problems
