"""One problem found in a knowledge file, phrased so a coordinator can fix it."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, order=True)
class Problem:
    path: str
    field: str  # "-" when the problem concerns the whole file
    message: str  # what is wrong (what is allowed)

    def __str__(self) -> str:
        return f"{self.path}: {self.field}: {self.message}"
