"""Hostile knowledge files and hostile text, through `peerbot check`/`peerbot index` and through
a Telegram upload: each refused with a clear message, nothing written (the knowledge folder and
the index are byte-identical before and after), and whatever is published shown escaped."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.texts import Texts
from tests.bot_harness import (
    ADMIN,
    COORDINATOR,
    OFFICIAL,
    bold,
    button,
    buttons,
    iso,
    links,
    make_settings,
    start_bot,
)
from tests.conftest import FIXTURE_KNOWLEDGE

EN = Texts("en")
NAME = "hostile-practice.md"
VALID = (
    (FIXTURE_KNOWLEDGE / "practices" / "tolmin-red-cross-free-transport.md")
    .read_text()
    .replace("id: tolmin-red-cross-free-transport", "id: hostile-practice")
)
URL = "https://prostovoljska-pomoc.si/zgodbe/prevozi-starejsih"


def practice(old: str = "", new: str = "", front: str = "", body: str = "") -> bytes:
    """The valid practice with one change: a replacement, extra front-matter lines, extra body."""
    text = VALID.replace(old, new) if old else VALID
    if front:
        text = text.replace("municipality: Tolmin\n", f"municipality: Tolmin\n{front}\n")
    return (text + body).encode()


LAUGHS = "\n".join(
    ["lol0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    + [f"lol{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 9) + "]" for i in range(1, 10)]
)

# name -> (file content, what the problem message says)
HOSTILE: dict[str, tuple[bytes, str]] = {
    "billion laughs": (
        practice(front=LAUGHS),
        "YAML alias '*a0' at line 12 (aliases are not allowed; write the value out)",
    ),
    "merge key": (practice(front="base: &base {en: x}\nextra:\n  <<: *base"), "YAML alias '*base'"),
    "deep nesting": (
        practice(front="deep: " + "[" * 5000 + "]" * 5000),
        "YAML nested deeper than 20 levels at line 11",
    ),
    "deep block nesting": (
        practice(front="deep:\n" + "".join(" " * i + "a:\n" for i in range(1, 40))),
        "YAML nested deeper than 20 levels",
    ),
    "huge file": (
        practice(body="x" * (300 * 1024)),
        "file is 301 KiB (at most 256 KiB allowed; split it into several practices)",
    ),
    "invalid UTF-8": (
        practice(body="\n") + b"caf\xe9 \xff\xfe\n",
        "not UTF-8 text (invalid byte at line 31; save the file as UTF-8)",
    ),
    "NUL bytes": (practice(body="\x00\x00"), "file contains NUL bytes (it is binary, not a Markdown text file)"),
    "terminal escape": (
        practice(body="\x1b[2J\x1b]0;pwned\x07"),
        "file contains the control character U+001B at line 30 (knowledge files are plain text; remove it)",
    ),
    "escaped control in YAML": (
        practice(old="municipality: Tolmin", new='municipality: "Tol\\e[31mmin\\0"'),
        "YAML text at line 10 contains the control character U+001B",
    ),
    "python tag": (
        practice(front='run: !!python/object/apply:os.system ["touch /tmp/pwned"]'),
        "could not determine a constructor for the tag 'tag:yaml.org,2002:python/object/apply:os.system'",
    ),
    "impossible date": (
        practice(old="date: 2022-07-22", new="date: 2022-13-45"),
        "YAML value at line 21 cannot be read (month must be in 1..12; quote it to keep it as text)",
    ),
    "giant number": (
        practice(old="period: 2018-10/2021", new="period: " + "9" * 5000),
        "YAML number at line 13 has more than 30 digits",
    ),
    "javascript URL": (
        practice(old=URL, new="javascript:alert(document.cookie)"),
        "sources[0].url: 'javascript:alert(document.cookie)' is not a web address",
    ),
    "JavaScript URL, mixed case": (
        practice(old=URL, new="JaVaScRiPt:alert(1)"),
        "'JaVaScRiPt:alert(1)' is not a web address",
    ),
    "data URL": (
        practice(old=URL, new="data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
        "is not a web address",
    ),
    "file URL": (practice(old=URL, new="file:///etc/passwd"), "'file:///etc/passwd' is not a web address"),
    "tg URL": (
        practice(old=URL, new="tg://resolve?domain=peerbot"),
        "'tg://resolve?domain=peerbot' is not a web address",
    ),
    "scheme-relative URL": (practice(old=URL, new="//evil.example/x"), "'//evil.example/x' is not a web address"),
    "attribute injection": (
        practice(old=URL, new=f"'{URL}\" onmouseover=\"alert(1)'"),
        "is not a web address (http:// or https:// with a host, no spaces)",
    ),
    "path traversal id": (
        practice(old="id: hostile-practice", new="id: ../../../etc/passwd"),
        "id: '../../../etc/passwd' is not a valid id",
    ),
    "homoglyph id": (
        practice(old="id: hostile-practice", new="id: hostile-pr\u0430ctice"),
        "it contains U+0430 CYRILLIC SMALL LETTER A",
    ),
    "zero-width id": (
        practice(old="id: hostile-practice", new="id: hostile-\u200bpractice"),
        "id: 'hostile-<U+200B>practice' is not a valid id (lower-case letters, digits and single hyphens, at most 80 characters; it contains U+200B ZERO WIDTH SPACE)",
    ),
    "RTL override id": (
        practice(old="id: hostile-practice", new="id: hostile-\u202eecitcarp"),
        "'hostile-<U+202E>ecitcarp' is not a valid id",
    ),
    "very long id": (
        practice(old="id: hostile-practice", new="id: " + "a" * 5000),
        "id: '" + "a" * 120 + "…' is not a valid id",
    ),
    "second front matter": (
        practice(body="").replace(b"---\n\n## What", b"---\n---\nid: other\n---\n## What"),
        "a second front-matter block follows the first",
    ),
}


def snapshot(*folders: Path) -> dict[str, bytes]:
    """Every file under the folders, byte for byte (the build lock file aside: it is empty)."""
    return {
        str(p): p.read_bytes()
        for folder in folders
        for p in sorted(folder.rglob("*"))
        if p.is_file() and p.name != ".lock"
    }


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# -- through the command line --------------------------------------------------------------


@pytest.fixture
def indexed(env, knowledge, data_dir, built_index):
    shutil.copytree(built_index, data_dir / "index")
    assert invoke("index").output.startswith("Index is up to date")
    return knowledge, data_dir


@pytest.mark.parametrize("case", HOSTILE)
def test_check_and_index_refuse_a_hostile_file_and_write_nothing(indexed, case):
    knowledge, data_dir = indexed
    content, message = HOSTILE[case]
    path = knowledge / "practices" / NAME
    path.write_bytes(content)
    before = snapshot(knowledge, data_dir)
    check = invoke("check")
    assert check.exit_code == 1
    assert f"{path}: " in check.output and message in check.output, check.output
    assert check.output.endswith("6 of 7 practice file(s) are valid.\n")
    assert max(len(line) for line in check.output.splitlines()) < 1000  # one readable line per problem
    index = invoke("index")
    assert index.exit_code == 1 and message in index.output
    problems = index.output.count(f"{path}: ")
    assert index.output.endswith(
        f"Error: index not changed: fix the {problems} problem(s) above, then run `peerbot index` again\n"
    )
    if case == "billion laughs":  # (once is enough:) the previous index still answers
        ask = invoke("ask", "free transport red cross")
        assert ask.exit_code == 0 and "Free transport for older people by Red Cross volunteers" in ask.output
        assert "serving the previous index" in ask.output
    assert snapshot(knowledge, data_dir) == before


ODD_NAMES = {
    "RTL override": "\u202edm.txt",
    "zero-width space": "hostile\u200bpractice",
    "homoglyph": "hostile-pr\u0430ctice",
    "very long": "a" * 240,
    "spaces and capitals": "Hostile Practice",
}


@pytest.mark.parametrize("case", ODD_NAMES)
def test_odd_file_names_are_named_visibly(indexed, case):
    knowledge, data_dir = indexed
    stem = ODD_NAMES[case]
    (knowledge / "practices" / f"{stem}.md").write_bytes(practice())
    before = snapshot(knowledge, data_dir)
    check = invoke("check")
    assert check.exit_code == 1
    [line] = [line for line in check.output.splitlines() if "does not match the file name" in line]
    assert (
        "id: 'hostile-practice' does not match the file name (rename the file to hostile-practice.md or set id: "
        in line
    )
    assert "\u202e" not in line and "\u200b" not in line  # spelled out as <U+202E>, <U+200B>
    if case in ("RTL override", "zero-width space", "homoglyph"):
        assert "; it contains U+" in line
    assert invoke("index").exit_code == 1
    assert snapshot(knowledge, data_dir) == before


# -- through a Telegram upload -------------------------------------------------------------


@pytest.fixture
async def bot(emulator, knowledge, data_dir, engine):
    """The bot, with a rate limit high enough for one coordinator to send every case."""
    running = await start_bot(
        emulator, make_settings(emulator, knowledge, data_dir, rate_limit_per_minute=1000), engine
    )
    yield running
    await running.stop()
    running.database.close()


async def test_hostile_uploads_are_refused_with_the_problem_and_nothing_is_written(bot, knowledge, data_dir):
    before = snapshot(knowledge, data_dir / "index")
    for case, (content, message) in HOSTILE.items():
        [reply, *more] = await bot.send_document(COORDINATOR, NAME, content)
        if case == "huge file":  # refused from its announced size, before any download
            assert reply.text == EN("upload_too_big", size=302, limit=256), case
            continue
        count = reply.text.count("\n• ")
        assert reply.text.startswith(EN("upload_problems", name=iso(NAME), count=count) + "\n"), (case, reply.text)
        assert message.replace(f"{knowledge}/", "") in reply.text, (case, reply.text)
        assert buttons(reply) == [] and not any(b.startswith("pub:") for m in more for b in buttons(m)), case
    await bot.settle()
    assert snapshot(knowledge, data_dir / "index") == before
    assert bot.database.upload(1) is None  # nothing was even kept for a preview
    assert len(bot.emulator.calls_of("getFile")) == len(HOSTILE) - 1  # all but the huge one were downloaded and checked


UNSAFE_NAMES = [
    "../../etc/passwd.md",
    "..%2F..%2Fx.md",
    "practices/../../x.md",
    "/etc/cron.d/x.md",
    "..\\..\\x.md",
    ".hidden.md",
    "\u202edm.exe.md",
    "hostile\u200bpractice.md",
    "hostile-pr\u0430ctice.md",
    "a" * 300 + ".md",
    "Hostile.md",
    "x.md\u0000.png.md",
    "con.md.md",
    "-leading-hyphen.md",
    "double--hyphen.md",
]


async def test_unsafe_upload_names_are_refused_before_download_and_shown_visibly(bot, knowledge, data_dir):
    before = snapshot(knowledge, data_dir / "index")
    for name in UNSAFE_NAMES:
        [reply] = await bot.send_document(COORDINATOR, name, practice())
        assert reply.text.startswith("The file name “"), name
        assert "\u202e" not in reply.text and "\u200b" not in reply.text and "\x00" not in reply.text, name
        assert len(reply.text) < 500, name  # a long name is shortened
    assert "<U+202E>dm.exe.md" in bot.messages(COORDINATOR)[6].text
    assert "hostile<U+200B>practice.md" in bot.messages(COORDINATOR)[7].text
    assert bot.emulator.calls_of("getFile") == []  # nothing was downloaded
    assert snapshot(knowledge, data_dir / "index") == before


# -- whatever is published is shown as text, never as markup --------------------------------

SCRIPT = "<script>alert(1)</script>"
GAP = "<b>How</b> do I register a <i>tractor</i> &amp; a boat?"  # no practice answers it
MARKUP_TITLE = f'{SCRIPT} & <b>Honey</b> <a href="javascript:alert(2)">bees</a>'
MARKUP = (
    VALID.replace("id: hostile-practice", "id: markup-honey-bees")
    .replace("  en: Free transport for older people by Red Cross volunteers", f"  en: '{MARKUP_TITLE}'")
    .replace("  en: Volunteer drivers", "  en: <i>Honey</i> &amp; bees </b> volunteer drivers")
    .replace("municipality: Tolmin", "municipality: '<u>Tolmin</u> &lt;'")
    .replace("    title: Brezplačni prevozi starejših v občini Tolmin", f"    title: '{SCRIPT} source'")
    .replace("    publisher: prostovoljska-pomoc.si", "    publisher: '<b>pub</b>'")
    .replace("  - 389 trips for 421 people in 2021.", f"  - '{SCRIPT} outcome'")
    .replace("## What was done", f"## What <b>was</b> done {SCRIPT}")
    .replace("The Red Cross association", "The <pre>Red Cross</pre> & <tg-spoiler>association</tg-spoiler>")
)


def only_safe_markup(message) -> None:
    for entity in message.entities or ():
        assert entity.type in ("bold", "italic", "text_link"), entity
        if entity.type == "text_link":
            assert entity.url.startswith(("https://", "http://")), entity.url


async def test_markup_in_a_practice_is_shown_literally_in_every_reply(bot, knowledge):
    [preview] = await bot.send_document(COORDINATOR, "markup-honey-bees.md", MARKUP.encode())
    assert MARKUP_TITLE in preview.text and "<u>Tolmin</u> &lt;" in preview.text and f"{SCRIPT} source" in preview.text
    only_safe_markup(preview)
    await bot.press(COORDINATOR, preview, button(preview, "pub:"), count=2)
    [reply] = await bot.say(OFFICIAL, "honey bees volunteer drivers")
    card = next(b for b in bold(reply) if "Honey" in b)
    assert card.endswith(MARKUP_TITLE) and "<i>Honey</i> &amp; bees </b> volunteer drivers" in reply.text
    only_safe_markup(reply)
    digest_button = next(d for d in buttons(reply) if d.startswith("p:"))
    before = len(bot.messages(OFFICIAL))
    await bot.press(OFFICIAL, reply, digest_button, count=1)
    await bot.settle()
    full = bot.messages(OFFICIAL)[before:]
    text = "\n".join(m.text for m in full)
    for literal in (
        MARKUP_TITLE,
        f"What <b>was</b> done {SCRIPT}",
        "The <pre>Red Cross</pre> & <tg-spoiler>association</tg-spoiler>",
        f"{SCRIPT} outcome",
        f"{SCRIPT} source",
        "<b>pub</b>",
        "<u>Tolmin</u> &lt;",
    ):
        assert literal in text, literal
    for message in full:
        only_safe_markup(message)
    _, [sources] = await bot.press(OFFICIAL, reply, digest_button.replace("p:", "s:", 1), count=1)
    assert f"{SCRIPT} source" in sources.text and links(sources) == [URL]
    [topics] = await bot.say(OFFICIAL, "/topics")
    _, [listing] = await bot.press(OFFICIAL, topics, "t:volunteering:0:en", count=1)
    assert MARKUP_TITLE in listing.text
    only_safe_markup(listing)
    [nothing] = await bot.say(OFFICIAL, GAP)
    assert nothing.text.startswith(EN("no_match"))
    [gaps] = await bot.say(ADMIN, "/gaps")
    assert GAP in gaps.text
    only_safe_markup(gaps)


def test_explicit_tags_on_malformed_values_are_problems_not_crashes():
    # Found by the property test: PyYAML's own constructor raises AttributeError here.
    from index.knowledge import parse_practice
    from index.taxonomy import Taxonomy

    practice, problems = parse_practice(
        b"---\nid: x\n0: !!timestamp\n---\nbody\n", Path("practices/x.md"), Taxonomy.contract_default()
    )
    assert practice is None
    assert [str(p) for p in problems] == [
        "practices/x.md: front matter: YAML value at line 3 cannot be read ('NoneType' object has no attribute 'groupdict'; quote it to keep it as text)"
    ]
