"""Inline-button data: short, typed, and never trusted.

Telegram returns callback data exactly as the bot sent it, but anyone can forge an update with
any data, so a press carries no authority: every handler re-checks the presser's role and
re-validates every id against the database or the live index. This module only guarantees
the shape (and the 64-byte limit): ``parse`` accepts exactly the forms ``encode`` makes.

Practice ids can be 80 characters long, more than callback data allows, so buttons carry a
short digest of the id and the handler looks it up in the live index.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from index.search import practice_digest

MAX_BYTES = 64

MORE = "m"  # m:<question id>:<results already shown>
FULL = "p"  # p:<practice digest>:<language>
SOURCES = "s"  # s:<practice digest>:<language>
BRIEF_ANSWER = "bq"  # bq:<question id>: a briefing PDF of the practices of that answer
BRIEF_PRACTICE = "bp"  # bp:<practice digest>:<language>: a briefing PDF of one practice
FEEDBACK = "fb"  # fb:<question id>:<u|d>
TOPICS = "tl"  # tl:<language>
TOPIC = "t"  # t:<topic key>:<offset>:<language>
LANGUAGE = "l"  # l:<language>
REQUEST_ACCESS = "ra"  # ra:<language of the refusal>
APPROVE = "ap"  # ap:<user id>
DENY = "dn"  # dn:<user id>
PUBLISH = "pub"  # pub:<upload id>
CANCEL = "cx"  # cx:<upload id>
NARROW = "n"  # n:<question id>: show topic buttons to narrow an answer
NARROW_TOPIC = "nt"  # nt:<question id>:<topic key>
NEW_QUESTION = "nq"  # nq: forget the chat's last question (the next message is read alone)
ASK_TEAM = "tq"  # tq:<question id>: send an unanswered question to the coordinators
DRAFT = "dr"  # dr:<team question id>: a draft practice from the question and its answer

_NUMBER = r"(0|[1-9][0-9]{0,11})"
_DIGEST = r"([0-9a-f]{12})"
_LANG = r"([a-z]{2})"  # the language the view was shown in, so the next view follows it
_FORMS = {
    MORE: re.compile(rf"m:{_NUMBER}:{_NUMBER}"),
    FULL: re.compile(rf"p:{_DIGEST}:{_LANG}"),
    SOURCES: re.compile(rf"s:{_DIGEST}:{_LANG}"),
    BRIEF_ANSWER: re.compile(rf"bq:{_NUMBER}"),
    BRIEF_PRACTICE: re.compile(rf"bp:{_DIGEST}:{_LANG}"),
    FEEDBACK: re.compile(rf"fb:{_NUMBER}:([ud])"),
    TOPICS: re.compile(rf"tl:{_LANG}"),
    TOPIC: re.compile(rf"t:([a-z0-9]+(?:-[a-z0-9]+)*):{_NUMBER}:{_LANG}"),
    LANGUAGE: re.compile(rf"l:{_LANG}"),
    REQUEST_ACCESS: re.compile(rf"ra:{_LANG}"),
    APPROVE: re.compile(rf"ap:{_NUMBER}"),
    DENY: re.compile(rf"dn:{_NUMBER}"),
    PUBLISH: re.compile(rf"pub:{_NUMBER}"),
    CANCEL: re.compile(rf"cx:{_NUMBER}"),
    NARROW: re.compile(rf"n:{_NUMBER}"),
    NARROW_TOPIC: re.compile(rf"nt:{_NUMBER}:([a-z0-9]+(?:-[a-z0-9]+)*)"),
    NEW_QUESTION: re.compile(r"nq"),
    ASK_TEAM: re.compile(rf"tq:{_NUMBER}"),
    DRAFT: re.compile(rf"dr:{_NUMBER}"),
}


@dataclass(frozen=True)
class Callback:
    action: str
    args: tuple[str, ...]

    def number(self, position: int = 0) -> int:
        return int(self.args[position])


digest = practice_digest  # a practice's name in callback data; SearchIndex.practice_by_digest resolves it


def encode(action: str, *args: object) -> str:
    data = ":".join([action, *map(str, args)])
    if len(data.encode("utf-8")) > MAX_BYTES or parse(data) is None:
        raise ValueError(f"bad callback data {data!r}")
    return data


def parse(data: str | None) -> Callback | None:
    if not data or len(data.encode("utf-8")) > MAX_BYTES:
        return None
    action = data.split(":", 1)[0]
    form = _FORMS.get(action)
    match = form.fullmatch(data) if form else None
    return Callback(action, match.groups()) if match else None


def pattern(action: str):
    """A CallbackQueryHandler pattern selecting one action (the handler still validates)."""
    return lambda data: isinstance(data, str) and (parsed := parse(data)) is not None and parsed.action == action
