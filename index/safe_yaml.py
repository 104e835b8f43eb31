"""YAML for files written by people we do not fully trust.

Knowledge files arrive through Telegram uploads, so the loader refuses the constructs that
make YAML dangerous or confusing in a practice file: aliases (the "billion laughs" bomb
expands them), deep nesting, and non-standard tags. Errors carry the line number.
"""

from __future__ import annotations

import yaml

MAX_DEPTH = 20


class YamlError(ValueError):
    pass


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlError(f"YAML alias '*{event.anchor}' at line {event.start_mark.line + 1} (aliases are not allowed; write the value out)")
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlError(f"YAML nested deeper than {MAX_DEPTH} levels at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1


def load_yaml(text: str, first_line: int = 1):
    """Parse one YAML document; ``first_line`` is where it starts in the file, for messages."""
    try:
        return yaml.load(text, Loader=_StrictLoader)  # noqa: S506 - _StrictLoader is a SafeLoader
    except YamlError as exc:
        raise YamlError(_shift_line(str(exc), first_line)) from None
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f" at line {mark.line + first_line}, column {mark.column + 1}" if mark else ""
        raise YamlError(f"YAML does not parse{where}: {exc.problem or exc.context}") from None
    except yaml.YAMLError as exc:
        raise YamlError(f"YAML does not parse: {exc}") from None


def _shift_line(message: str, first_line: int) -> str:
    import re

    return re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + first_line - 1}", message)
