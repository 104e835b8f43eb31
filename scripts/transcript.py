"""Print a real conversation with the bot as Markdown (the README's transcript comes from here).

`peerbot run` runs as a separate process with the real model and the shipped knowledge,
talking to the Bot API emulator of the tests (tests/tg_emulator.py) instead of Telegram; an
English-speaking and an Arabic-speaking official write to it, and every bot message is
printed with its buttons. Usage (from the repository, about 3 minutes the first time: the
index is built into the data folder given):

    python scripts/transcript.py [DATA_DIR]      # default /tmp/peerbot-transcript
"""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from tests.tg_emulator import TelegramEmulator  # noqa: E402

TOKEN = "123456789:AAH-transcript-0123456789abcdefghij"
EN_USER, AR_USER = 5001, 5002
CONVERSATION = [
    (EN_USER, "Amal", "en", "/start"),
    (EN_USER, "Amal", "en", "How did municipalities help elderly people living alone?"),
    (AR_USER, "Hussein", "ar", "كيف ساعدت البلديات أصحاب المحلات والشركات الصغيرة في دفع الإيجار خلال الإغلاق؟"),
    (EN_USER, "Amal", "en", "Which companies in Basra can repair oil pipelines?"),
]


def main() -> None:
    data = Path(sys.argv[1] if len(sys.argv) > 1 else "/tmp/peerbot-transcript")
    env = {
        **os.environ,
        "PEERBOT_DATA_DIR": str(data),
        "PEERBOT_KNOWLEDGE_DIR": str(REPO / "knowledge"),
        "PEERBOT_ALLOWED_USERS": f"{EN_USER},{AR_USER}",
        "TELEGRAM_BOT_TOKEN": TOKEN,
    }
    if (REPO / "data" / "models").is_dir() and "PEERBOT_MODEL_DIR" not in env:
        env["PEERBOT_MODEL_DIR"] = str(REPO / "data" / "models")  # reuse the converted model
    with TelegramEmulator(token=TOKEN, bot_username="peerbot_basra_bot") as emulator:
        env["TELEGRAM_API_BASE"] = emulator.base_url
        log = open(data.with_suffix(".log"), "wb") if data.parent.is_dir() else subprocess.DEVNULL
        bot = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", "run"], cwd=REPO, env=env, stdout=log, stderr=log
        )
        try:
            for user, name, language, text in CONVERSATION:
                before = len(emulator.sent_messages(user))
                emulator.send_text(user, text, first_name=name, language_code=language)
                emulator.wait_for_messages(user, before + 1, timeout=600)
                time.sleep(1.5)  # a reply may come in several messages
                replies = emulator.sent_messages(user)[before:]
                print(f"**{name}:** {text}\n")
                for message in replies:
                    print(_render(message))
        finally:
            bot.terminate()
            bot.wait(timeout=30)


def _render(message) -> str:
    """The message as Telegram shows its text (links are the titles), then its buttons."""
    body = message.text or message.caption or ""
    buttons = [b.text for row in (message.reply_markup.inline_keyboard if message.reply_markup else ()) for b in row]
    if buttons:
        body += f"\n\n[{'] ['.join(buttons)}]"
    return f"**peerbot:**\n\n```text\n{body}\n```\n"


if __name__ == "__main__":
    main()
