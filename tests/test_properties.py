"""Property-based tests (hypothesis) of the three parsers and formatters that meet untrusted
input: the knowledge loader, the reply formatter and the callback-data parser."""

from __future__ import annotations

import asyncio
import html
import re
from pathlib import Path
from types import SimpleNamespace

import pytest
import telegram
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot import callback_data as cb
from bot.markup import UI
from bot.reply import Card
from bot.sending import TELEGRAM_LIMIT, send_html, split_messages
from bot.texts import LANGUAGES, Texts
from bot.views import card_html, full_practice_blocks, gaps_blocks, sources_blocks
from index.knowledge import FrontMatter, Source, parse_practice
from index.problems import Problem
from index.search import PracticeRecord
from index.taxonomy import Taxonomy, load_taxonomy
from tests.conftest import FIXTURE_KNOWLEDGE
from tests.tg_emulator import TelegramEmulator, parse_html

FAST = settings(max_examples=80, deadline=None, suppress_health_check=list(HealthCheck))
HEAVY = settings(
    max_examples=40, deadline=None, suppress_health_check=list(HealthCheck)
)  # long texts through the HTML parser
TAXONOMY = load_taxonomy(FIXTURE_KNOWLEDGE / "taxonomy.yaml")[0]
VALID = (FIXTURE_KNOWLEDGE / "practices" / "tolmin-red-cross-free-transport.md").read_text()


# -- the loader: parse_practice never raises; a practice or problems, never both -------------


def check_parse(data: bytes, name: str = "tolmin-red-cross-free-transport.md", taxonomy: Taxonomy = TAXONOMY) -> None:
    practice, problems = parse_practice(data, Path("practices") / name, taxonomy)
    assert (practice is None) == bool(problems)
    for problem in problems:
        assert isinstance(problem, Problem) and problem.message
        assert "\n" not in str(problem)  # one problem, one line
    if practice is not None:
        assert practice.id == Path(name).stem and practice.meta.sources


FIELDS = sorted(FrontMatter.model_fields) + ["url", "title", "en", "ar", "sl", "<<"]
SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(),
    st.text(max_size=40),
    st.dates(),
    st.datetimes(),
    st.sampled_from(["en", "https://example.si/x", "javascript:alert(1)", "2020-13", "volunteering", "", "*a", "&a"]),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.sampled_from(FIELDS), st.text(max_size=6)), inner, max_size=5),
    ),
    max_leaves=25,
)


@FAST
@given(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=14), st.text(max_size=300))
def test_loader_on_any_front_matter(meta, body):
    check_parse(("---\n" + yaml.safe_dump(meta, allow_unicode=True) + "---\n" + body).encode())


MUTATIONS = st.one_of(
    st.text(max_size=60),
    st.sampled_from(
        [
            "date: 2020-02-30",
            "  - url: javascript:x",
            "period: 99999999999999999999999999999999999999",
            "id: Tolmin",
            "x: *a",
            "- &a x",
            "title: !!binary AAAA",
            "topics: {a: b}",
            "sources: []",
            "---",
            "...",
            "  en: \ufeff",
            "summary: !!timestamp 2020-01-01T25:00:00Z",
            "level: 0x" + "f" * 60,
            "  ar: \u202e\u200b",
            "? [a, b]\n: c",
        ]
    ),
)


@FAST
@given(st.lists(st.tuples(st.integers(0, 200), MUTATIONS), min_size=1, max_size=4))
def test_loader_on_a_damaged_valid_file(edits):
    lines = VALID.split("\n")
    for position, text in edits:
        lines[position % len(lines)] = text
    check_parse("\n".join(lines).encode())


@FAST
@given(
    st.binary(max_size=400),
    st.sampled_from(["a.md", "tolmin-red-cross-free-transport.md", "\u202ex.md", "x" * 90 + ".md"]),
)
def test_loader_on_any_bytes(data, name):
    check_parse(data, name)
    check_parse(b"---\n" + data + b"\n---\nbody\n", name)


def test_loader_accepts_the_valid_file_and_without_a_taxonomy_too():
    check_parse(VALID.encode())
    assert (
        parse_practice(VALID.encode(), Path("tolmin-red-cross-free-transport.md"), Taxonomy.contract_default())[0]
        is not None
    )


# -- the reply formatter: any text -> valid Telegram HTML, each message under the limit --------

CONTROL = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # dropped by split_messages


def visible_text(blocks: list[str]) -> str:
    """What the blocks show, as parsed one by one (control characters aside)."""
    return "".join(parse_html(CONTROL.sub("", block))[0] for block in blocks)


def assert_messages_are_valid(messages: list[str], original: str) -> None:
    visible = ""
    for message in messages:
        text, _entities = parse_html(message)  # TDLib's parser, as the Bot API server runs it
        assert len(text.encode("utf-16-le")) // 2 <= TELEGRAM_LIMIT
        assert text.strip(), "Telegram refuses a message without visible text"
        visible += text
    assert re.sub(r"\s", "", visible) == re.sub(r"\s", "", original)  # nothing lost, nothing added


TEXT = st.text(st.characters(codec="utf-8"), max_size=300)
LONG_TEXT = st.one_of(
    TEXT,
    st.builds(lambda t, n: t * n, st.text(st.characters(codec="utf-8"), min_size=1, max_size=8), st.integers(1, 900)),
)
URLS = st.builds(
    lambda path: "https://example.si/" + path,
    st.text(st.characters(codec="utf-8", exclude_characters=" \n\t\r"), max_size=80),
)


@HEAVY
@given(
    st.lists(
        st.tuples(LONG_TEXT, LONG_TEXT, LONG_TEXT, st.lists(st.tuples(LONG_TEXT, URLS), min_size=1, max_size=3)),
        min_size=1,
        max_size=4,
    ),
    st.sampled_from(LANGUAGES),
)
def test_cards_of_any_text_are_valid_html_under_the_limit(items, language):
    texts = Texts(language)
    cards = [
        Card(i + 1, f"p{i}", title, municipality, summary, tuple(sources))
        for i, (title, municipality, summary, sources) in enumerate(items)
    ]
    blocks = [html.escape(texts("results_intro")), *(card_html(card, language, texts) for card in cards)]
    messages = split_messages(blocks)
    assert_messages_are_valid(messages, visible_text(blocks))


PRACTICE = st.builds(
    lambda title, summary, municipality, sections, outcomes, actors, sources: PracticeRecord(
        "p",
        # Unvalidated on purpose: any text at all, not only what the loader accepts.
        FrontMatter.model_construct(
            id="p",
            title={"en": title, "ar": title},
            summary={"en": summary},
            municipality=municipality,
            topics=["volunteering"],
            target_groups=[],
            actors=actors,
            outcomes=outcomes,
            sources=[Source.model_construct(**source) for source in sources],
            language="sl",
            period="2020",
            transferability={"en": summary},
        ),
        sections,
        "practices/p.md",
    ),
    TEXT,
    TEXT,
    TEXT,
    st.lists(st.tuples(TEXT, LONG_TEXT), max_size=3),
    st.lists(TEXT, max_size=3),
    st.lists(TEXT, max_size=3),
    st.lists(
        st.fixed_dictionaries({"url": URLS, "title": LONG_TEXT}, optional={"publisher": TEXT, "date": st.just("2020")}),
        min_size=1,
        max_size=3,
    ),
)


@HEAVY
@given(PRACTICE, st.sampled_from(LANGUAGES))
def test_a_full_practice_of_any_text_is_valid_html_under_the_limit(practice, language):
    ui = UI(language)
    for blocks in (full_practice_blocks(ui, practice, TAXONOMY), sources_blocks(ui, practice, titled=True)):
        assert_messages_are_valid(split_messages(blocks), visible_text(blocks))


@FAST
@given(TEXT, st.integers(0, 10**6), st.sampled_from(LANGUAGES))
def test_catalogue_texts_with_any_value_are_valid_html(question, count, language):
    ui = UI(language)
    for block in (
        ui.html("gaps_group", count=count, languages="en", first="2026-01-01", last="2026-01-02"),
        ui.html("upload_unsafe_name", name=question),
        ui.html("welcome", name=question),
        f"<b>{ui.line(question)}</b>",
    ):
        messages = split_messages([block])
        if visible_text([block]).strip():
            assert_messages_are_valid(messages, visible_text([block]))
        else:
            assert messages == []


@FAST
@given(st.lists(st.lists(LONG_TEXT, min_size=1, max_size=6), max_size=40), st.sampled_from(LANGUAGES))
def test_gaps_of_any_questions_are_valid_html_in_at_most_two_messages(wordings, language):
    from datetime import UTC, datetime

    from index.gaps import GapGroup

    at = datetime(2026, 1, 1, tzinfo=UTC)
    groups = [GapGroup(len(w), tuple(w), ("en",), at, at) for w in wordings]
    messages = split_messages(gaps_blocks(UI(language), groups, 30))
    assert 1 <= len(messages) <= 2
    for message in messages:
        parse_html(message)  # Telegram would accept it


TAGGED = st.recursive(
    st.builds(html.escape, LONG_TEXT),
    lambda inner: st.one_of(
        st.builds(lambda t: f"<b>{t}</b>", inner),
        st.builds(lambda t: f"<i>{t}</i>", inner),
        st.builds(
            lambda u, t: f'<a href="{html.escape(u, quote=True)}">{t}</a>',
            st.one_of(URLS, st.just("https://x.si/" + "y" * 1500)),
            inner,
        ),
        st.builds(lambda a, b: a + "\n" + b, inner, inner),
    ),
    max_leaves=6,
)


@HEAVY
@given(st.lists(TAGGED, min_size=1, max_size=5), st.sampled_from([TELEGRAM_LIMIT, 100, 40]))
def test_splitting_any_markup_keeps_every_message_valid(blocks, limit):
    messages = split_messages(blocks, limit)
    for message in messages:
        parse_html(message)
        assert len(message.encode("utf-16-le")) // 2 <= limit or limit < 100  # tiny limits may keep a link's tags whole
    visible = "".join(parse_html(m)[0] for m in messages)
    assert re.sub(r"\s", "", visible) == re.sub(r"\s", "", visible_text(blocks))


def test_what_the_splitter_used_to_get_wrong():
    emoji = html.escape("😀" * 3000)  # 6000 UTF-16 units: Telegram counts those, not code points
    assert [len(m.encode("utf-16-le")) // 2 for m in split_messages([emoji])] == [4096, 1904]
    link = f'<a href="https://example.si/x">{"A" * 5000}</a>'  # one line longer than a message
    assert all(parse_html(m) for m in split_messages([link]))
    amps = split_messages([html.escape("&" * 3000)])  # never a cut inside "&amp;"
    assert all(m.endswith("&amp;") and m.startswith("&amp;") for m in amps)
    assert split_messages(["<b></b>", "   "]) == []  # nothing visible: nothing sent


# -- the same through the bot's own send path, against the emulator --------------------------


@pytest.fixture(scope="module")
def sender(tmp_path_factory):
    from bot.bookkeeping import Incidents
    from bot.database import BotDatabase
    from bot.outbox import Outbox
    from bot.services import SERVICES

    with TelegramEmulator(token="42:AAsend-path-property-test-token-xyz") as emulator:
        loop = asyncio.new_event_loop()
        bot = telegram.Bot(
            emulator.token, base_url=f"{emulator.base_url}/bot", base_file_url=f"{emulator.base_url}/file/bot"
        )
        loop.run_until_complete(bot.initialize())
        database = BotDatabase.in_data_dir(tmp_path_factory.mktemp("send-path"))
        outbox = Outbox(bot, database, Incidents(), max_age=60)  # the real send path: stored, then sent
        yield emulator, loop, SimpleNamespace(bot=bot, bot_data={SERVICES: SimpleNamespace(outbox=outbox)})
        database.close()
        loop.run_until_complete(bot.shutdown())
        loop.close()
    assert not emulator.server_errors


@settings(max_examples=20, deadline=None, suppress_health_check=list(HealthCheck))
@given(PRACTICE, st.sampled_from(LANGUAGES))
def test_the_send_path_delivers_any_practice_to_the_emulator(sender, practice, language):
    emulator, loop, context = sender
    chat = 77
    before = len(emulator.sent_messages(chat))
    blocks = full_practice_blocks(UI(language), practice, TAXONOMY)
    sent = loop.run_until_complete(send_html(context, chat, blocks))  # a refusal would raise BadRequest
    delivered = emulator.sent_messages(chat)[before:]
    assert len(sent) == len(delivered) == len(split_messages(blocks))
    visible = "".join(m.text for m in delivered)
    assert re.sub(r"\s", "", visible) == re.sub(r"\s", "", visible_text(blocks))


# -- the callback-data parser -------------------------------------------------------------

ALPHABET = "0123456789abcdefmnprstuxlpd:-_ ÿ٣\n"
SHAPED = st.one_of(
    st.text(ALPHABET, max_size=64),
    st.builds(lambda a, rest: f"{a}:{rest}", st.sampled_from(sorted(cb._FORMS)), st.text(ALPHABET, max_size=40)),
)


@settings(max_examples=300, deadline=None)
@given(st.one_of(SHAPED, st.text(max_size=64).filter(lambda t: len(t.encode()) <= 64)))
def test_parse_never_raises_and_accepts_only_what_encode_makes(data):
    parsed = cb.parse(data)
    if parsed is not None:
        assert parsed.action in cb._FORMS
        assert cb.encode(parsed.action, *parsed.args) == data
        for i, arg in enumerate(parsed.args):
            if arg.isdigit():
                assert parsed.number(i) >= 0


NUMBER = st.integers(0, 10**12 - 1)
LANG = st.sampled_from(["en", "ar", "sl", "xx"])
KEY = st.from_regex(r"[a-z0-9]{1,8}(-[a-z0-9]{1,8}){0,3}", fullmatch=True)
DIGEST = st.builds(cb.digest, st.text(max_size=90))
ARGS = {
    cb.MORE: st.tuples(NUMBER, NUMBER),
    cb.FULL: st.tuples(DIGEST, LANG),
    cb.SOURCES: st.tuples(DIGEST, LANG),
    cb.FEEDBACK: st.tuples(NUMBER, st.sampled_from("ud")),
    cb.TOPICS: st.tuples(LANG),
    cb.TOPIC: st.tuples(KEY, NUMBER, LANG),
    cb.LANGUAGE: st.tuples(LANG),
    cb.REQUEST_ACCESS: st.tuples(LANG),
    cb.APPROVE: st.tuples(NUMBER),
    cb.DENY: st.tuples(NUMBER),
    cb.PUBLISH: st.tuples(NUMBER),
    cb.CANCEL: st.tuples(NUMBER),
    cb.ASK_TEAM: st.tuples(NUMBER),
    cb.DRAFT: st.tuples(NUMBER),
    **({cb.NARROW: st.tuples(NUMBER), cb.NARROW_TOPIC: st.tuples(NUMBER, KEY)} if hasattr(cb, "NARROW") else {}),
    cb.BRIEF_ANSWER: st.tuples(NUMBER),
    cb.BRIEF_PRACTICE: st.tuples(DIGEST, LANG),
    cb.NEW_QUESTION: st.tuples(),
}


def test_every_callback_kind_has_a_strategy():
    assert set(ARGS) == set(cb._FORMS)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(sorted(ARGS)).flatmap(lambda action: st.tuples(st.just(action), ARGS[action])))
def test_what_encode_makes_parse_gives_back(case):
    action, args = case
    try:
        data = cb.encode(action, *args)
    except ValueError:
        assert len(":".join([action, *map(str, args)]).encode()) > cb.MAX_BYTES  # only too long is refused
        return
    parsed = cb.parse(data)
    assert parsed is not None and parsed.action == action and parsed.args == tuple(map(str, args))
    assert len(data.encode()) <= cb.MAX_BYTES


@pytest.mark.parametrize(
    "data",
    [
        "m:01:3",
        "m:1:3 ",
        " m:1:3",
        "M:1:3",
        "m:1:3\n",
        "m:١:3",
        "m:1:-3",
        "m:1",
        "m:1:3:",
        "fb:1:U",
        "p:ABCDEF012345:en",
        "t:-x:0:en",
        "t:x--y:0:en",
        "t:x:0:EN",
        "l:e",
        "ap:" + "9" * 13,
        "pub:1.0",
        "cx:+1",
        "ra:",
        "tl:en:",
        ":",
        "",
        "x" * 65,
    ],
)
def test_near_misses_are_rejected(data):
    assert cb.parse(data) is None
