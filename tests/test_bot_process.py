"""`peerbot run` as a separate process against the emulator, and the token kept out of logs."""

from __future__ import annotations

import logging
import sqlite3
import subprocess
import sys
from pathlib import Path

import sqlite_utils

from bot.database import migrations
from bot.logging_setup import REDACTED, configure_logging
from bot.texts import Texts
from tests.bot_harness import (
    ADMIN,
    COORDINATOR,
    NEW_PRACTICE,
    OFFICIAL,
    TOKEN,
    bold,
    bot_process_env,
    button,
    iso,
    start_bot,
)

EN = Texts("en")
REPO = Path(__file__).resolve().parent.parent
SECRET_HALF = TOKEN.split(":", 1)[1]


def test_peerbot_run_answers_over_http_and_logs_no_token(emulator, knowledge, data_dir, tmp_path):
    env = bot_process_env(
        emulator, knowledge, data_dir, PEERBOT_ADMINS=str(ADMIN), PEERBOT_COORDINATORS=str(COORDINATOR)
    )
    log_file = tmp_path / "peerbot.log"
    with open(log_file, "wb") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-c", "import tests.fake_embedder; from bot.cli import main; main(['run'])"],
            cwd=tmp_path,
            env={**env, "PYTHONPATH": str(REPO)},
            stdout=stderr,
            stderr=stderr,  # no stray .env
        )
        try:
            emulator.send_text(OFFICIAL, "/start")
            [welcome] = emulator.wait_for_messages(OFFICIAL, timeout=30)  # the index is built at start
            assert welcome.text.startswith(f"Hello, {iso('Tester')}! I am peerbot.")
            emulator.send_text(OFFICIAL, "rent exemption for business premises")
            reply = emulator.wait_for_messages(OFFICIAL, 2)[1]
            assert bold(reply)[0] == "1. Rent exemption for businesses in municipal premises"
            emulator.send_document(
                COORDINATOR, "zrece-beekeepers-honey-for-quarantined-families.md", NEW_PRACTICE.encode()
            )
            [preview] = emulator.wait_for_messages(COORDINATOR)
            emulator.press_button(COORDINATOR, preview.message_id, button(preview, "pub:"))
            emulator.wait_for_messages(COORDINATOR, 3)
            emulator.send_text(OFFICIAL, "beekeepers honey for quarantined families")
            reply = emulator.wait_for_messages(OFFICIAL, 3)[2]
            assert bold(reply)[0] == "1. Beekeepers deliver honey to quarantined families"
            emulator.send_text(ADMIN, "/status")
            [status] = emulator.wait_for_messages(ADMIN)
            assert "Practices: 7" in status.text
        finally:
            process.terminate()
            returncode = process.wait(timeout=20)
    log = log_file.read_text(encoding="utf-8", errors="replace")
    assert returncode == 0, log[-3000:]
    assert TOKEN not in log and SECRET_HALF not in log
    assert "DEBUG" in log and "peerbot starts polling" in log
    db = sqlite3.connect(data_dir / "peerbot.db")
    try:
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"
        assert db.execute("select count(*) from questions").fetchone()[0] == 2
        applied = {row[0] for row in db.execute("select name from _sqlite_migrations")}
        assert {"m001_initial", "m002_outbox", "m003_team_questions_and_audit"} <= applied
        assert not migrations.pending(sqlite_utils.Database(db))  # every migration the bot defines
    finally:
        db.close()


async def test_token_never_appears_in_debug_logs(emulator, settings, engine, caplog, monkeypatch):
    quiet = {name: logging.getLogger(name).level for name in ("httpx", "httpcore")}
    caplog.set_level(logging.DEBUG)
    for name in quiet:  # the worst case: even the HTTP client's request lines at DEBUG
        logging.getLogger(name).setLevel(logging.DEBUG)
    running = await start_bot(emulator, settings, engine)
    try:
        await running.say(OFFICIAL, "/start")
        await running.say(OFFICIAL, "rent exemption for business premises")
        [_preview] = await running.send_document(
            COORDINATOR, "zrece-beekeepers-honey-for-quarantined-families.md", NEW_PRACTICE.encode()
        )
        logging.getLogger("peerbot.test").debug("the bot object is %r", running.application.bot)

        def leaky(*args, **kwargs):
            raise RuntimeError(f"cannot reach {settings.telegram_api_base}/bot{TOKEN}/getMe")

        monkeypatch.setattr(running.engine, "ask", leaky)
        [apology] = await running.say(OFFICIAL, "rent exemption for business premises")
        assert apology.text == EN("error_user")
        [notice] = await emulator.wait_for_messages_async(ADMIN)
        assert TOKEN not in notice.text and REDACTED in notice.text
    finally:
        await running.stop()
        running.database.close()
        for name, level in quiet.items():
            logging.getLogger(name).setLevel(level)
    text = caplog.text
    assert "HTTP Request: POST" in text and "/file/bot" in text  # httpx did log URLs, with the token…
    assert TOKEN not in text and SECRET_HALF not in text  # …redacted
    assert all(TOKEN not in record.getMessage() for record in caplog.records)
    assert REDACTED in text


def test_configure_logging_sets_the_level_and_quiets_http_clients():
    root = logging.getLogger()
    saved = root.level, {n: logging.getLogger(n).level for n in ("httpx", "httpcore")}
    try:
        configure_logging("DEBUG", TOKEN)
        assert root.level == logging.DEBUG
        assert logging.getLogger("httpx").level == logging.getLogger("httpcore").level == logging.WARNING
        configure_logging("error", TOKEN)
        assert root.level == logging.ERROR
    finally:
        root.setLevel(saved[0])
        for name, level in saved[1].items():
            logging.getLogger(name).setLevel(level)
