"""YAML for files written by people we do not fully trust.

Knowledge files arrive through Telegram uploads, so the loader refuses the constructs that
make YAML dangerous or confusing in a practice file: aliases (the "billion laughs" bomb
expands them), deep nesting, and non-standard tags. Values YAML itself cannot build (a date
such as 2020-13-01, a number with thousands of digits) are problems too, never exceptions, and
so are control characters written as escapes (a double-quoted "\\e" or "\\0").
Errors carry the line number.
"""

from __future__ import annotations

import re

import yaml

MAX_DEPTH = 20
MAX_INT_DIGITS = 30  # nothing in a practice file needs more; Python refuses str() beyond 4300
# C0 and C1 control characters but tab, line feed and carriage return: no knowledge text needs
# them, and they can break Telegram's HTML parser or a terminal (ESC starts escape sequences).
CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")


class YamlError(ValueError):
    pass


class _StrictLoader(yaml.SafeLoader):
    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise YamlError(
                f"YAML alias '*{event.anchor}' at line {event.start_mark.line + 1} (aliases are not allowed; write the value out)"
            )
        self._depth = getattr(self, "_depth", 0) + 1
        try:
            if self._depth > MAX_DEPTH:
                mark = self.peek_event().start_mark
                raise YamlError(f"YAML nested deeper than {MAX_DEPTH} levels at line {mark.line + 1}")
            return super().compose_node(parent, index)
        finally:
            self._depth -= 1

    def construct_object(self, node, deep=False):
        # Values are built by Python: `2020-13-01` raises ValueError there, and explicit tags on
        # malformed values raise whatever PyYAML's constructor happens to hit.
        try:
            value = super().construct_object(node, deep)
        except (YamlError, yaml.YAMLError):
            raise
        except Exception as exc:  # noqa: BLE001 - e.g. `!!timestamp` on an empty value raises AttributeError in PyYAML
            if "integer string conversion" in str(exc):
                raise YamlError(
                    f"YAML number at line {node.start_mark.line + 1} has more than {MAX_INT_DIGITS} digits"
                ) from None
            raise YamlError(
                f"YAML value at line {node.start_mark.line + 1} cannot be read ({_short(exc)}; quote it to keep it as text)"
            ) from None
        if isinstance(value, str) and (control := CONTROL.search(value)):
            raise YamlError(
                f"YAML text at line {node.start_mark.line + 1} contains the control character U+{ord(control.group()):04X} "
                "(written as an escape such as \\0 or \\e; remove it)"
            )
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) >= 10**MAX_INT_DIGITS:
            raise YamlError(f"YAML number at line {node.start_mark.line + 1} has more than {MAX_INT_DIGITS} digits")
        return value


def _short(exc: Exception) -> str:
    return str(exc).split(":")[0][:120] or type(exc).__name__


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
    except RecursionError:  # belt and braces: MAX_DEPTH stops nesting long before this
        raise YamlError(f"YAML nested deeper than {MAX_DEPTH} levels") from None


def _shift_line(message: str, first_line: int) -> str:
    return re.sub(r"line (\d+)", lambda m: f"line {int(m.group(1)) + first_line - 1}", message)
