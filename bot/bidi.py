"""Right-to-left text that stays readable when it mixes Arabic with Latin names and URLs.

Telegram picks each paragraph's direction from its first strong character, so an Arabic line
that starts with "Kočevje" is laid out left-to-right and its punctuation jumps around. Arabic
lines therefore start with a RIGHT-TO-LEFT MARK, and every Latin run (a place name, a URL, a
figure with a unit) is wrapped in FIRST STRONG ISOLATE ... POP DIRECTIONAL ISOLATE so it is
laid out on its own without reordering its neighbours.
"""

from __future__ import annotations

import re

RLM = "\u200f"
FSI = "\u2068"
PDI = "\u2069"
_LATIN_RUN = re.compile(
    r"[A-Za-z\u00C0-\u024F0-9][A-Za-z\u00C0-\u024F0-9 .,:;/#%&()'’\-–—_+=?@~]*[A-Za-z\u00C0-\u024F0-9)%/]|[A-Za-z\u00C0-\u024F]"
)


# Characters a user's text never needs and that can disturb what is shown around it: C0/C1
# controls (ESC sequences, NUL, backspace; tab and newline are kept) and the explicit
# directional embeddings, overrides and isolates (U+202A-U+202E, U+2066-U+2069; a stray PDI
# would end the isolate the bot wraps around the value). Marks (LRM, RLM, ALM) and the joiners
# Arabic and emoji need are kept.
_UNWANTED = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u202a-\u202e\u2066-\u2069]")


def strip_controls(text: str) -> str:
    """Text from a user (a question, a name, a file name) as it may be stored and shown."""
    return _UNWANTED.sub("", text)


def isolate(text: str) -> str:
    """Wrap text of unknown direction so it cannot disturb the surrounding line."""
    return f"{FSI}{text}{PDI}" if text else text


def rtl_line(text: str) -> str:
    """An Arabic line: RTL base direction, Latin runs isolated."""
    return RLM + _LATIN_RUN.sub(lambda m: isolate(m.group(0)), text)


def is_rtl(language: str) -> bool:
    return language in ("ar", "fa", "he", "ur")
