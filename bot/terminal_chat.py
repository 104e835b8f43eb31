"""The terminal conversation: questions from a stream, replies as the bot would word them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from index.engine import Engine

from .reply import render_plain
from .texts import Texts


def run_chat(engine: Engine, stream: TextIO, echo: Callable[[str], None]) -> None:
    interactive = stream.isatty()
    echo(Texts("en")("chat_welcome"))
    while True:
        if interactive:
            echo("")
        try:
            line = input("> ") if interactive else stream.readline()
        except EOFError:
            break
        if not line or not line.strip():
            if interactive or not line:
                break
            continue
        answer = engine.ask(line.strip())
        echo(render_plain(answer, answer.language))
        if not interactive:
            echo("")
