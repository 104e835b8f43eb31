"""Secrets and privacy: the token stays out of every output, old personal data can be purged,
and the bot's data can be backed up and restored (tested by restoring and answering)."""

from __future__ import annotations

import logging
import os
import re
import shutil
import sqlite3
import subprocess
import sys
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from bot.database import BotDatabase
from bot.logging_setup import REDACTED, install_token_redaction
from bot.texts import Texts
from index import store
from index.engine import Engine
from index.search import RankingConfig
from tests.bot_harness import (
    ADMIN,
    OFFICIAL,
    RANKING,
    STRANGER,
    TOKEN,
    make_settings,
    start_bot,
)
from tests.fake_embedder import HashEmbedder
from tests.tg_emulator import TelegramEmulator

EN = Texts("en")
REPO = Path(__file__).resolve().parent.parent
SECRET_HALF = TOKEN.split(":", 1)[1]
QUESTION = "rent exemption for business premises"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args))


# -- the token ---------------------------------------------------------------------------------


def test_a_rejected_token_stops_the_bot_without_printing_it(knowledge, data_dir, tmp_path, built_index):
    """PTB puts the token into InvalidToken's message; `peerbot run` reports it redacted."""
    shutil.copytree(built_index, data_dir / "index")
    wrong = "987654321:AAwrong-token-SECRET-part-0123456789"
    with TelegramEmulator(token=TOKEN) as emulator:  # knows another token: answers 401
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PEERBOT_KNOWLEDGE_DIR": str(knowledge),
            "PEERBOT_DATA_DIR": str(data_dir),
            "PEERBOT_EMBEDDING_MODEL": "test-hash:64",
            "TELEGRAM_BOT_TOKEN": wrong,
            "TELEGRAM_API_BASE": emulator.base_url,
            "PEERBOT_LOG_LEVEL": "DEBUG",
        }
        done = subprocess.run(
            [sys.executable, "-c", "import tests.fake_embedder; from bot.cli import main; main(['run'])"],
            env=env,
            cwd=tmp_path,
            capture_output=True,
            text=True,
            timeout=60,
        )
    output = done.stdout + done.stderr
    assert done.returncode == 1, output[-2000:]
    assert wrong not in output and wrong.split(":")[1] not in output
    assert (
        "CRITICAL bot.telegram_app: Telegram rejected TELEGRAM_BOT_TOKEN (The token `[REDACTED-TOKEN]` was rejected"
        in output
    )
    assert "Traceback" not in output.split("CRITICAL bot.telegram_app")[-1]  # nothing raw after the report


def test_the_token_is_redacted_from_every_shape_of_record(caplog):
    install_token_redaction(TOKEN)
    caplog.set_level(logging.DEBUG)
    log = logging.getLogger("peerbot.test.secrets")
    separate = logging.getLogger("peerbot.test.secrets.own-handler")  # a logger with its own handler, not propagating
    own = logging.Handler()
    own.emit = lambda record: seen.append(logging.Formatter().format(record))
    seen: list[str] = []
    separate.addHandler(own)
    separate.propagate = False

    class Leaky:
        def __repr__(self):
            return f"<Leaky url=https://api.telegram.org/bot{TOKEN}/getMe>"

    try:
        try:
            try:
                raise ConnectionError(f"cannot reach /bot{TOKEN}/sendMessage")
            except ConnectionError as inner:
                raise RuntimeError(f"wrapped ({SECRET_HALF})") from inner
        except RuntimeError:
            log.exception("failed with %r", Leaky())
            separate.error("own handler %s", TOKEN.replace(":", "%3A"), exc_info=True)
        log.debug("url-encoded %s and %s", TOKEN.replace(":", "%3A"), SECRET_HALF, stack_info=True)
        worker = threading.Thread(target=lambda: log.warning("from a thread: %s", TOKEN))
        worker.start()
        worker.join()
    finally:
        separate.removeHandler(own)
        separate.propagate = True
    formatted = [logging.Formatter().format(r) for r in caplog.records] + seen + [caplog.text]
    assert len(caplog.records) == 3 and len(seen) == 1
    assert all(SECRET_HALF not in text and "AAH-peerbot" not in text for text in formatted)
    assert all(REDACTED in text for text in formatted)


# -- purge -------------------------------------------------------------------------------------


def age(data_dir: Path, question_id: int, days: int) -> None:
    """Make a logged question (and its feedback) look ``days`` old."""
    stamp = (datetime.now(UTC) - timedelta(days=days)).isoformat(timespec="seconds")
    with sqlite3.connect(data_dir / "peerbot.db") as db:
        db.execute("update questions set asked_at = ?, day = ? where id = ?", [stamp, stamp[:10], question_id])
        db.execute("update feedback set at = ? where question_id = ?", [stamp, question_id])


def test_purge_deletes_old_questions_and_feedback_and_their_bytes(env, data_dir):
    db = BotDatabase.in_data_dir(data_dir)
    db.request_access(STRANGER, "Zaid", None, "ar")
    db.decide(STRANGER, "approved", ADMIN)
    db.set_language(STRANGER, "ar")
    for i, text in enumerate(
        ["old secret question about rent", "recent question about food", "old question about transport"]
    ):
        qid = db.log_question(STRANGER, STRANGER, text, "en", "en", ["x"], [0.5], False, 10.0)
        db.add_feedback(qid, STRANGER, 1 if i else -1)
    db.close()
    age(data_dir, 1, 200)
    age(data_dir, 3, 31)
    running = BotDatabase.in_data_dir(data_dir)  # the bot keeps its connection open meanwhile
    running.question(2)
    result = invoke("purge", "--older-than", "30")
    # Gone from the disk while the bot still runs: overwritten, and no old page left in the file or the WAL.
    on_disk = b"".join(p.read_bytes() for p in data_dir.glob("peerbot.db*"))
    assert b"old secret question" not in on_disk and b"recent question about food" in on_disk
    assert running.question(1) is None and running.question(2).question == "recent question about food"
    running.close()
    assert result.exit_code == 0
    assert re.fullmatch(
        r"Deleted 2 question\(s\) and 2 feedback row\(s\) older than 30 day\(s\) "
        r"\(before \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00\)\.\n",
        result.output,
    ), result.output
    db = BotDatabase.in_data_dir(data_dir)
    try:
        assert [q["question"] for q in db._all("select question from questions")] == ["recent question about food"]
        assert db._all("select question_id from feedback") == [{"question_id": 2}]
        assert db.user_status(STRANGER) == "approved" and db.language(STRANGER) == "ar"  # people and decisions stay
    finally:
        db.close()
    assert invoke("purge", "--older-than", "30").output.startswith("Deleted 0 question(s) and 0 feedback row(s)")


def test_purge_refuses_nonsense(env, data_dir):
    # A fresh install (finding 11): a scheduled purge before the bot's first start succeeds.
    result = invoke("purge", "--older-than", "30")
    assert (result.exit_code, result.output) == (
        0,
        f"Nothing to purge: no bot database at {data_dir / 'peerbot.db'} yet.\n",
    )
    assert not (data_dir / "peerbot.db").exists()
    assert invoke("purge", "--older-than", "-1").exit_code == 2
    assert invoke("purge").exit_code == 2  # --older-than is required: nothing is deleted by default


# -- backup and restore --------------------------------------------------------------------------


async def test_backup_then_restore_answers_and_keeps_users_and_decisions(
    emulator, settings, engine, knowledge, data_dir, tmp_path, env
):
    running = await start_bot(emulator, settings, engine)
    try:
        [refusal] = await running.say(STRANGER, QUESTION)
        await running.press(STRANGER, refusal, "ra:en", count=1)
        [request] = await emulator.wait_for_messages_async(ADMIN)
        await running.press(ADMIN, request, f"ap:{STRANGER}")
        await running.expect(STRANGER, 2)
        [answer] = await running.say(STRANGER, QUESTION)
        [menu] = await running.say(OFFICIAL, "/language")
        await running.press(OFFICIAL, menu, "l:ar", count=1)
        dest = tmp_path / "backup"
        # The bot is running and its last writes sit in the WAL: a copy of peerbot.db alone would miss them.
        assert (data_dir / "peerbot.db-wal").stat().st_size > 0
        result = invoke("backup", str(dest))
    finally:
        await running.stop()
        running.database.close()
    generation = store.current_generation(data_dir).name
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Backed up into {dest}:\n"
        "  database: 1 user(s), 1 question(s), 0 feedback, 0 upload(s) (integrity ok)\n"
        "  knowledge: 7 file(s)\n"
        f"  index: {generation}\n"
        "  backups: 0 file(s)\n"
        f"Restore with: peerbot restore {dest}\n"
    )
    assert sorted(p.name for p in dest.iterdir()) == ["index", "knowledge", "peerbot-backup.json", "peerbot.db"]
    assert (
        invoke("backup", str(dest)).output
        == f"Error: {dest} is not empty; a backup never overwrites anything (give a new or empty folder)\n"
    )

    new_data, new_knowledge = tmp_path / "new-data", tmp_path / "new-knowledge"
    os.environ["PEERBOT_DATA_DIR"], os.environ["PEERBOT_KNOWLEDGE_DIR"] = (
        str(new_data),
        str(new_knowledge),
    )  # monkeypatched by `env`
    result = invoke("restore", str(dest))
    assert result.exit_code == 0, result.output
    assert result.output == (
        f"Restored into {new_data}:\n"
        "  database: 1 user(s), 1 question(s), 0 feedback, 0 upload(s) (integrity ok)\n"
        "  knowledge: 7 file(s)\n"
        f"  index: {generation}\n"
        "  backups: 0 file(s)\n"
        f"Knowledge in {new_knowledge}. Start the bot with: peerbot run\n"
    )
    assert invoke("restore", str(dest)).output.startswith(f"Error: refusing to overwrite {new_data / 'peerbot.db'}, ")

    restored_engine = Engine(HashEmbedder(64), new_data, new_knowledge, RankingConfig(**RANKING))
    assert not restored_engine.rebuild().changed  # the restored index matches the restored knowledge: no re-embedding
    restored = await start_bot(emulator, make_settings(emulator, new_knowledge, new_data), restored_engine)
    try:
        [again] = await restored.say(STRANGER, QUESTION)  # approved before the backup: still in
        assert again.text == answer.text
        assert restored.database.user(STRANGER)["decided_by"] == ADMIN
        assert restored.database.language(OFFICIAL) == "ar"
        assert restored.database.stats()["total"] == 2  # the question log came along
        [refused] = await restored.say(STRANGER + 1, QUESTION)
        assert refused.text == EN("access_refused")
    finally:
        await restored.stop()
        restored.database.close()
    with sqlite3.connect(new_data / "peerbot.db") as db:
        assert db.execute("pragma journal_mode").fetchone()[0] == "wal"


def test_a_damaged_or_foreign_backup_is_refused(env, data_dir, knowledge, tmp_path, built_index):
    BotDatabase.in_data_dir(data_dir).close()
    shutil.copytree(built_index, data_dir / "index")
    dest = tmp_path / "backup"
    assert invoke("backup", str(dest)).exit_code == 0
    (dest / "knowledge" / "taxonomy.yaml").write_text("topics: {}\n")
    os.environ["PEERBOT_DATA_DIR"], os.environ["PEERBOT_KNOWLEDGE_DIR"] = str(tmp_path / "d2"), str(tmp_path / "k2")
    assert invoke("restore", str(dest)).output == (
        f"Error: the backup in {dest} is damaged: knowledge/taxonomy.yaml differ from its manifest\n"
    )
    assert invoke("restore", str(knowledge)).output == (
        f"Error: {knowledge} is not a peerbot backup (no peerbot-backup.json; make one with `peerbot backup DEST`)\n"
    )
    assert not (tmp_path / "d2").exists() and not (tmp_path / "k2").exists()  # nothing was written
