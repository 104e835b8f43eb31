"""The terminal conversation: questions from a stream, replies as the bot would word them."""

from __future__ import annotations

from collections.abc import Callable
from typing import TextIO

from index.engine import Engine
from index.followup import Memory, read_message

from .markup import directed
from .reply import render_plain
from .texts import Texts

CHAT = 0  # the terminal is one chat


def run_chat(engine: Engine, stream: TextIO, echo: Callable[[str], None], followup_minutes: float = 10.0) -> None:
    """As the bot: a short follow-up is read with the previous question; /new forgets it."""
    interactive = stream.isatty()
    memory = Memory(followup_minutes * 60)
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
        text = line.strip()
        if text == "/new":
            memory.forget(CHAT)
            echo(Texts("en")("new_question_ready"))
            if not interactive:
                echo("")
            continue
        reading, turn = read_message(text, memory.recall(CHAT), engine.index.local_places)
        if reading.used_context:
            answer = engine.ask(reading.question, filters=reading.filters, language=reading.language)
            texts = Texts(answer.language)
            echo(directed(texts("chat_followup_context", question=reading.context), answer.language))
        else:
            answer = engine.ask(text)
        memory.remember(CHAT, turn)
        echo(render_plain(answer, answer.language))
        if not interactive:
            echo("")
