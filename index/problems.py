"""One problem found in a knowledge file, phrased so a coordinator can fix it."""

from __future__ import annotations

import unicodedata
from dataclasses import dataclass

# Control, format (bidi overrides such as U+202E, zero-width characters), private-use,
# surrogate and unassigned characters, and line/paragraph separators: shown as <U+XXXX>.
_HIDDEN = frozenset({"Cc", "Cf", "Co", "Cs", "Cn", "Zl", "Zp"})
QUOTE_LIMIT = 120


def visible(text: str) -> str:
    """Text safe to print on one line: invisible and direction-changing characters spelled out,
    so a name with a right-to-left override or a zero-width space reads as what it is."""
    return "".join(f"<U+{ord(c):04X}>" if unicodedata.category(c) in _HIDDEN else c for c in text)


def short(value: object, limit: int = QUOTE_LIMIT) -> str:
    """A value as a problem message shows it: at most ``limit`` characters, on one line."""
    text = visible(str(value))
    return f"{text[:limit]}…" if len(text) > limit else text


def quoted(value: object, limit: int = QUOTE_LIMIT) -> str:
    return f"'{short(value, limit)}'"


def odd_character(value: str, allowed: str) -> str:
    """' (it contains U+043E CYRILLIC SMALL LETTER O)' for the first non-ASCII character, else ''.

    Ids and file names are ASCII: a homoglyph or an invisible character looks right and is
    not, so the message names it."""
    for c in value:
        if c not in allowed and ord(c) > 127:
            name = unicodedata.name(c, "an unnamed character")
            return f"; it contains U+{ord(c):04X} {name}"
    return ""


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    field: str  # "-" when the problem concerns the whole file
    message: str  # what is wrong (what is allowed)

    def __str__(self) -> str:
        return f"{visible(self.path)}: {visible(self.field)}: {visible(self.message)}"
