"""`peerbot dashboard`: Datasette over a read-only snapshot of the bot's database.

The canned queries are checked on exact rows in-process (Datasette's own client); the served
pages are checked in real headless Chromium against `peerbot dashboard` run as a process.
"""

from __future__ import annotations

import os
import shutil
import socket
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.dashboard import CHARTS, DASHBOARD, DATABASE, QUERIES, build_datasette
from bot.database import BotDatabase

REPO = Path(__file__).resolve().parent.parent
CHROMIUM = next(
    (shutil.which(name) for name in ("chromium", "chromium-browser", "google-chrome") if shutil.which(name)), None
)
UNANSWERED = "How were schools disinfected?"


@pytest.fixture
def bot_db(data_dir: Path):
    """The bot's database as the bot leaves it: WAL mode, still open, the last rows only in the WAL."""
    db = BotDatabase.in_data_dir(data_dir)
    db.db.execute("pragma wal_autocheckpoint = 0")  # keep every row in the -wal file
    ask = lambda user, text, lang, results, confident: db.log_question(  # noqa: E731
        user, user, text, lang, lang, results, [0.9] * len(results), confident, 25.0
    )
    first = ask(1, "rent relief for shops", "en", ["hrastnik-rent", "sevnica-food"], True)
    ask(1, UNANSWERED, "en", ["tolmin-transport"], False)
    ask(2, "  how were schools disinfected? ", "en", ["tolmin-transport"], False)
    ask(3, "كيف تم تعقيم المدارس؟", "ar", ["kocevje-food"], False)
    second = ask(3, "مساعدة كبار السن", "ar", ["kocevje-food", "hrastnik-rent"], True)
    db.add_feedback(first, 1, 1)
    db.add_feedback(second, 3, -1)
    db.add_feedback(second, 4, -1)
    yield db
    db.close()


async def rows(ds, query: str) -> list[dict]:
    response = await ds.client.get(f"/{DATABASE}/{query}.json?_shape=array")
    assert response.status_code == 200, response.text
    return response.json()


async def test_canned_queries_answer_from_a_consistent_immutable_snapshot(bot_db, data_dir: Path, tmp_path: Path):
    source = data_dir / "peerbot.db"
    assert Path(f"{source}-wal").stat().st_size > 0  # rows still only in the WAL
    before = source.read_bytes(), Path(f"{source}-wal").read_bytes()
    ds = build_datasette(data_dir, tmp_path / "snap")
    await ds.invoke_startup()

    database = ds.databases[DATABASE]
    assert not database.is_mutable
    assert Path(database.path).parent == tmp_path / "snap"
    assert sqlite3.connect(database.path).execute("pragma journal_mode").fetchone()[0] == "delete"

    unanswered = await rows(ds, "unanswered_questions")
    assert [(r["Question"], r["Times asked"], r["Languages"]) for r in unanswered] == [
        (UNANSWERED, 2, "en"),  # case and surrounding spaces folded into one question
        ("كيف تم تعقيم المدارس؟", 1, "ar"),
    ]
    feedback = await rows(ds, "feedback")
    assert [(r["Question"], r["👍 helpful"], r["👎 not helpful"]) for r in feedback] == [
        ("مساعدة كبار السن", 0, 2),
        ("rent relief for shops", 1, 0),
    ]
    per_day = await rows(ds, "questions_per_day")
    assert sorted((r["Language"], r["Questions"], r["Answered confidently"]) for r in per_day) == [
        ("ar", 2, 1),
        ("en", 3, 1),
    ]
    shown = await rows(ds, "most_shown_practices")
    assert [(r["Practice id"], r["Times shown"], r["Times first"]) for r in shown] == [
        ("kocevje-food", 2, 2),
        ("tolmin-transport", 2, 2),
        ("hrastnik-rent", 2, 1),
        ("sevnica-food", 1, 0),
    ]
    # Nothing was written to the bot's database, and the bot can still write.
    assert (source.read_bytes(), Path(f"{source}-wal").read_bytes()) == before
    bot_db.log_question(9, 9, "later", "en", "en", [], [], False, 1.0)
    assert len(await rows(ds, "questions_per_day")) == len(per_day)  # a snapshot: restart to refresh

    tables = (await ds.client.get(f"/{DATABASE}.json")).json()["tables"]
    assert {t["name"]: t["hidden"] for t in tables}["_sqlite_migrations"] is True
    questions_page = (await ds.client.get(f"/{DATABASE}/questions")).text
    assert "1 = a practice matched closely" in questions_page  # labelled columns
    # No writes of any kind, and no download of the whole file.
    write = await ds.client.get(f"/{DATABASE}.json", params={"sql": "delete from questions"})
    assert write.status_code == 400 and "Statement must be a SELECT" in write.text
    assert sqlite3.connect(database.path).execute("select count(*) from questions").fetchone()[0] == 5
    assert (await ds.client.get(f"/{DATABASE}.db")).status_code == 403


HOSTILE = "<img src=x onerror=alert(1)> & power cuts"


async def chart_rows(ds, name: str) -> list[dict]:
    response = await ds.client.get(f"/{DATABASE}.json", params={"sql": CHARTS[name]["query"], "_shape": "array"})
    assert response.status_code == 200, response.text
    return response.json()


async def test_the_dashboards_charts_answer_from_the_snapshot(bot_db, data_dir: Path, tmp_path: Path, fake_embedder):
    bot_db.log_question(5, 5, HOSTILE, "en", "en", [], [], False, 9.0)
    bot_db.audit(1002, "Maja <b>", "published", "zrece-honey", "practices/zrece-honey.md")
    ds = build_datasette(data_dir, tmp_path / "snap", fake_embedder)
    await ds.invoke_startup()
    page = await ds.client.get(f"/-/dashboards/{DASHBOARD}")
    assert page.status_code == 200 and "peerbot at a glance" in page.text

    assert await chart_rows(ds, "questions-total") == [{"n": 6}]
    assert await chart_rows(ds, "confident-total") == [{"share": 33}]  # 2 of 6
    assert sorted((r["language"], r["questions"]) for r in await chart_rows(ds, "questions-per-day")) == [
        ("ar", 2),
        ("en", 4),
    ]
    assert sorted((r["feedback"], r["count"]) for r in await chart_rows(ds, "feedback")) == [
        ("helpful", 1),
        ("not helpful", 2),
    ]
    # Gap groups by meaning, computed into the snapshot: the hash embedder joins only the same
    # words, so the two spellings of the schools question are one group; a 👎 makes a gap too.
    groups = await chart_rows(ds, "gap-groups")
    assert [(g["rank"], g["count"]) for g in groups] == [(1, 2), (2, 1), (3, 1), (4, 1)]
    assert groups[0]["wording"] == UNANSWERED
    assert {g["wording"] for g in groups[1:]} == {HOSTILE, "كيف تم تعقيم المدارس؟", "مساعدة كبار السن"}
    assert (await chart_rows(ds, "gaps-total")) == [{"n": 4}]
    # The table charts set cells as HTML: what people wrote arrives escaped.
    table = await chart_rows(ds, "gap-table")
    assert "<bdi>&lt;img src=x onerror=alert(1)&gt; &amp; power cuts</bdi>" in {r["Wordings"] for r in table}
    assert not any("<img" in str(value) for row in table for value in row.values())  # only our <bdi> is markup
    [entry] = await chart_rows(ds, "audit-log")
    assert (entry["Action"], entry["Practice"], entry["By"]) == ("published", "zrece-honey", "Maja &lt;b&gt;")
    assert [r["Times asked"] for r in await rows(ds, "gap_groups")] == [2, 1, 1, 1]


async def test_without_an_embedder_or_any_change_the_charts_say_so(bot_db, data_dir: Path, tmp_path: Path):
    ds = build_datasette(data_dir, tmp_path / "snap")
    await ds.invoke_startup()
    assert await chart_rows(ds, "gap-groups") == []
    [empty] = await chart_rows(ds, "gap-table")
    assert empty["Wordings"] == "No open gap in the 30 days before the snapshot."
    [none] = await chart_rows(ds, "audit-log")
    assert none["Practice"] == "No practice published, replaced or removed from Telegram yet."
    assert await chart_rows(ds, "team-open") == [{"n": 0}]


def test_dashboard_without_a_database_says_why(env, data_dir: Path):
    result = CliRunner().invoke(main, ["dashboard", "--port", "1"])
    assert result.exit_code == 1
    assert result.output.strip().endswith(
        f"Error: no bot database at {data_dir / 'peerbot.db'}: the bot creates it at its first start (`peerbot run`)"
    )


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _chromium(*args: str, profile: Path, timeout: float = 60) -> subprocess.CompletedProcess:
    flags = [
        "--headless",
        "--no-sandbox",
        "--disable-gpu",
        "--disable-quic",
        "--no-first-run",
        "--disable-background-networking",
        "--disable-component-update",
        "--disable-sync",
        f"--user-data-dir={profile}",
    ]
    return subprocess.run([CHROMIUM, *flags, *args], capture_output=True, text=True, timeout=timeout)


@pytest.mark.skipif(
    CHROMIUM is None, reason="chromium is not installed (apt-get install chromium); .ci/run installs it"
)
def test_dashboard_in_headless_chromium(bot_db, data_dir: Path, tmp_path: Path):
    bot_db.log_question(5, 5, HOSTILE, "en", "en", [], [], False, 9.0)
    bot_db.db.execute("pragma wal_checkpoint(truncate)")
    port = _free_port()
    env = {
        **os.environ,
        "PEERBOT_DATA_DIR": str(data_dir),
        "PYTHONPATH": str(REPO),
        "PEERBOT_EMBEDDING_MODEL": "test-hash:64",  # the gap groups' embedder, registered by tests.fake_embedder
    }
    program = "import tests.fake_embedder; from bot.cli import main; main()"
    server = subprocess.Popen(
        [sys.executable, "-c", program, "dashboard", "--port", str(port)],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                assert server.poll() is None, server.stdout.read()
                assert time.monotonic() < deadline, "the dashboard did not start listening within 30 s"
                time.sleep(0.1)
        _assert_loopback_only(port)

        page = _chromium("--dump-dom", f"{base}/{DATABASE}", profile=tmp_path / "profile-1")
        assert page.returncode == 0, page.stderr[-2000:]
        for query in QUERIES.values():
            assert f">{query['title']}</a>" in page.stdout, query["title"]

        result = _chromium("--dump-dom", f"{base}/{DATABASE}/unanswered_questions", profile=tmp_path / "profile-2")
        assert result.returncode == 0, result.stderr[-2000:]
        assert "3 rows" in result.stdout
        assert UNANSWERED in result.stdout and "كيف تم تعقيم المدارس؟" in result.stdout

        # The pictures: every chart drawn by the page's own scripts (vega-lite, the plugin's files).
        charts = _chromium(
            "--virtual-time-budget=15000", "--dump-dom", f"{base}/-/dashboards/{DASHBOARD}", profile=tmp_path / "p4"
        )
        assert charts.returncode == 0, charts.stderr[-2000:]
        dom = charts.stdout
        for name, chart in CHARTS.items():
            if chart["library"] == "vega-lite":  # embedded and drawn as SVG, labelled with its title
                assert f'id="chart-{name}" class="dashboard-card-chart vega-embed' in dom, name
                assert f'aria-label="{chart["title"]}"' in dom, name
        assert dom.count("<svg") >= 4
        assert UNANSWERED in dom  # the gap table, drawn from the snapshot's gap groups
        assert "&lt;img src=x onerror=alert(1)&gt;" in dom and "<img src=" not in dom  # escaped, never markup

        shot = tmp_path / "dashboard.png"
        taken = _chromium(
            f"--screenshot={shot}",
            "--window-size=1280,1500",
            "--hide-scrollbars",
            "--virtual-time-budget=15000",
            f"{base}/-/dashboards/{DASHBOARD}",
            profile=tmp_path / "profile-3",
        )
        assert taken.returncode == 0, taken.stderr[-2000:]
        from PIL import Image

        with Image.open(shot) as image:
            assert image.format == "PNG" and image.size == (1280, 1500)
            assert len(image.convert("L").resize((64, 64)).getcolors(4096)) > 8  # not a blank page
    finally:
        server.terminate()
        server.wait(timeout=20)


def _assert_loopback_only(port: int) -> None:
    """Bound to 127.0.0.1 by default: the machine's other addresses refuse the connection."""
    try:
        address = socket.gethostbyname(socket.gethostname())
    except OSError:
        return
    if address.startswith("127."):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.connect(("10.255.255.255", 1))
                address = probe.getsockname()[0]
            except OSError:
                return
    if address.startswith("127.") or address == "0.0.0.0":
        return
    with pytest.raises(OSError):
        socket.create_connection((address, port), timeout=2).close()


def test_a_read_only_mount_without_a_running_bot_is_read_immutably(bot_db, data_dir: Path, tmp_path: Path, monkeypatch):
    """On a read-only volume SQLite cannot open a WAL database mode=ro unless the bot has its
    -wal/-shm files open; with no bot running the file is complete, and immutable=1 reads it."""
    import bot.dashboard as dashboard

    source = data_dir / "peerbot.db"
    real_copy = dashboard._copy
    opened: list[str] = []

    def read_only_mount(uri: str, target: Path) -> None:
        opened.append(uri.rsplit("?", 1)[1])
        if uri.endswith("?mode=ro"):
            raise sqlite3.OperationalError("unable to open database file")
        real_copy(uri, target)

    monkeypatch.setattr(dashboard, "_copy", read_only_mount)
    with pytest.raises(sqlite3.OperationalError):  # the bot is running (there is a -wal): no guessing
        dashboard.snapshot(source, tmp_path)
    bot_db.close()  # the bot stops: its last connection checkpoints and removes the -wal
    assert not Path(f"{source}-wal").exists()
    copy = dashboard.snapshot(source, tmp_path)
    assert opened == ["mode=ro", "mode=ro", "immutable=1"]
    assert sqlite3.connect(copy).execute("select count(*) from questions").fetchone()[0] == 5
