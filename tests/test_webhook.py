"""`peerbot run --webhook-url`: the emulator posts updates to the bot's webhook, secret checked.

The bot runs as a separate process (as in production); the emulator plays Telegram: it
records setWebhook and delivers updates by HTTP POST with the secret token header.
"""

from __future__ import annotations

import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main
from tests.bot_harness import OFFICIAL, TOKEN, bold, bot_process_env

REPO = Path(__file__).resolve().parent.parent
SECRET = "peerbot-test-webhook-secret_0123456789"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _start(emulator, knowledge: Path, data_dir: Path, tmp_path: Path, args: list[str], **extra_env: str):
    env = {
        **bot_process_env(emulator, knowledge, data_dir, PYTHONPATH=str(REPO)),
        **extra_env,
    }
    for name in ("PEERBOT_WEBHOOK_URL", "PEERBOT_WEBHOOK_SECRET"):
        if name not in extra_env:
            env.pop(name, None)
    log = open(tmp_path / "peerbot.log", "wb")
    process = subprocess.Popen(
        [sys.executable, "-c", "import tests.fake_embedder; from bot.cli import main; main()", "run", *args],
        cwd=tmp_path,
        env=env,
        stdout=log,
        stderr=log,
    )
    return process, log


def _deliver(emulator, update_id: int, secret: str | None = None, timeout: float = 30.0) -> int:
    """POST the update to the webhook; retried while the bot's server is not accepting yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            return emulator.deliver_via_webhook(update_id, secret_token=secret)
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


def _stop(process, log, tmp_path: Path) -> str:
    process.terminate()
    code = process.wait(timeout=20)
    log.close()
    text = (tmp_path / "peerbot.log").read_text(encoding="utf-8", errors="replace")
    assert code == 0, text[-3000:]
    return text


def test_webhook_mode_answers_posted_updates_and_rejects_a_wrong_secret(emulator, knowledge, data_dir, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/peerbot-hook"
    process, log = _start(
        emulator,
        knowledge,
        data_dir,
        tmp_path,
        ["--webhook-url", url, "--listen", "127.0.0.1", "--port", str(port)],
        PEERBOT_WEBHOOK_SECRET=SECRET,
    )
    try:
        emulator.wait_until(lambda: emulator.webhook.get("url") == url, timeout=30, what="setWebhook")
        assert emulator.webhook["secret_token"] == SECRET
        assert emulator.calls_of("getUpdates") == []  # no polling

        forged = emulator.send_text(OFFICIAL, "/start")
        assert _deliver(emulator, forged, secret="not-the-secret") == 403
        assert _deliver(emulator, forged, secret=None) == 200  # the emulator sends the real secret
        [welcome] = emulator.wait_for_messages(OFFICIAL, 1, timeout=10)
        assert welcome.text.startswith("Hello, \u2068Tester\u2069! I am peerbot.")  # the name isolated

        question = emulator.send_text(OFFICIAL, "rent exemption for business premises")
        assert emulator.pending_update_ids() == [question]  # webhook mode: nothing pulls it
        assert _deliver(emulator, question) == 200
        reply = emulator.wait_for_messages(OFFICIAL, 2, timeout=10)[1]
        assert bold(reply)[0] == "1. Rent exemption for businesses in municipal premises"
        assert emulator.pending_update_ids() == []
        assert (data_dir / "heartbeat").is_file()
    finally:
        text = _stop(process, log, tmp_path)
    assert len(emulator.sent_messages(OFFICIAL)) == 2  # the forged post got nothing
    assert TOKEN not in text and SECRET not in text
    assert f"peerbot serves webhook {url} on 127.0.0.1:{port}/peerbot-hook" in text
    assert not (data_dir / "heartbeat").exists()  # a stopped bot is not healthy


def test_webhook_url_from_the_environment_and_a_generated_secret(emulator, knowledge, data_dir, tmp_path):
    port = _free_port()
    url = f"http://127.0.0.1:{port}/hook"
    process, log = _start(
        emulator,
        knowledge,
        data_dir,
        tmp_path,
        ["--port", str(port)],
        PEERBOT_WEBHOOK_URL=url,
        PEERBOT_WEBHOOK_LISTEN="127.0.0.1",
    )
    try:
        emulator.wait_until(lambda: emulator.webhook.get("url") == url, timeout=30, what="setWebhook")
        secret = emulator.webhook["secret_token"]
        assert len(secret) >= 32
        update = emulator.send_text(OFFICIAL, "/start")
        assert _deliver(emulator, update) == 200
        emulator.wait_for_messages(OFFICIAL, 1, timeout=10)
    finally:
        text = _stop(process, log, tmp_path)
    assert secret not in text


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "8443"], "--listen and --port are for webhook mode"),
        (["--webhook-url", "bot.example.org/hook"], "is not a URL"),
    ],
)
def test_run_refuses_inconsistent_webhook_options(env, args, message):
    result = CliRunner().invoke(main, ["run", *args])
    assert result.exit_code == 2
    assert message in result.output


def test_webhook_mode_needs_a_token(env):
    result = CliRunner().invoke(main, ["run", "--webhook-url", "https://bot.example.org/hook"])
    assert result.exit_code == 2
    assert "webhook mode needs TELEGRAM_BOT_TOKEN" in result.output


def test_a_malformed_webhook_secret_is_refused(env, monkeypatch):
    monkeypatch.setenv("PEERBOT_WEBHOOK_SECRET", "has spaces and ünïcode")
    result = CliRunner().invoke(main, ["run", "--webhook-url", "https://bot.example.org/hook"])
    assert result.exit_code == 1
    assert "PEERBOT_WEBHOOK_SECRET: Value error, must be 1-256 characters A-Z, a-z, 0-9, _ and -" in result.output
    assert "has spaces" not in result.output
