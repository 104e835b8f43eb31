"""Part of scripts/container-check.sh: the image's `peerbot run` against the Bot API emulator.

Runs inside the check's network namespace (loopback only): the emulator of the tests
(tests/tg_emulator.py) listens on 127.0.0.1, the bot runs in the mounted image with chroot as
the image's user. Prints one `PASS|FAIL what (detail)` line per step; exit 1 on a failure.

    python scripts/container_bot_e2e.py ROOT UID:GID WORKDIR ENVFILE
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from tests.tg_emulator import TelegramEmulator

TOKEN = "123456789:AAH-container-check-0123456789abcdef"
OFFICIAL, ADMIN = 4242, 4343
failed = False


def report(ok: bool, what: str, detail: str = "") -> None:
    global failed
    failed |= not ok
    print(f"{'PASS' if ok else 'FAIL'} {what}" + (f" ({detail})" if detail else ""), flush=True)


def main() -> int:
    root, spec, workdir, envfile = sys.argv[1:5]
    image_env = [item for item in Path(envfile).read_bytes().decode().split("\0") if item]

    def in_image(*command: str, extra: tuple[str, ...] = (), **kwargs) -> subprocess.Popen:
        return subprocess.Popen(
            [
                "chroot",
                f"--userspec={spec}",
                root,
                "/usr/bin/env",
                "-i",
                *image_env,
                *extra,
                "/bin/sh",
                "-c",
                'cd "$0" && exec "$@"',
                workdir,
                *command,
            ],
            **kwargs,
        )

    with TelegramEmulator(token=TOKEN, bot_username="peerbot_image_bot") as emulator:
        settings = (
            f"TELEGRAM_BOT_TOKEN={TOKEN}",
            f"TELEGRAM_API_BASE={emulator.base_url}",
            f"PEERBOT_ALLOWED_USERS={OFFICIAL}",
            f"PEERBOT_ADMINS={ADMIN}",
        )
        log = open(Path(envfile).parent / "bot.log", "wb")
        started = time.monotonic()
        bot = in_image("peerbot", "run", extra=settings, stdout=log, stderr=log)
        try:
            emulator.send_text(OFFICIAL, "/start", first_name="Amal", language_code="en")
            [welcome] = emulator.wait_for_messages(OFFICIAL, 1, timeout=300)
            report(
                welcome.text.startswith("Hello, \u2068Amal\u2069!"),  # a user's name is isolated
                "bot in the image answers /start",
                f"{time.monotonic() - started:.0f} s after start",
            )
            emulator.send_text(OFFICIAL, "كيف ساعدت البلديات كبار السن الذين يعيشون بمفردهم؟", first_name="Amal")
            answer = emulator.wait_for_messages(OFFICIAL, 2, timeout=60)[1]
            report(
                "1." in answer.text and any(e.type == "text_link" for e in answer.entities or ()),
                "bot in the image answers an Arabic question with sourced cards",
                answer.text.split("\n")[0][:60],
            )
            emulator.send_text(ADMIN, "/stats")
            emulator.wait_for_files(ADMIN, 1, timeout=60)
            [chart] = emulator.sent_files(ADMIN)
            report(
                chart.kind == "photo" and chart.content.startswith(b"\x89PNG"),
                "/stats sends a PNG chart",
                f"{len(chart.content)} bytes",
            )
            time.sleep(1)
            health = in_image("peerbot", "health", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
            out = health.communicate(timeout=60)[0].decode().strip()
            report(health.returncode == 0, "HEALTHCHECK command while the bot runs", out)
        except Exception as exc:  # noqa: BLE001 - report, then stop the bot
            report(False, "bot in the image", f"{type(exc).__name__}: {str(exc)[:300]}")
        finally:
            bot.terminate()
            code = bot.wait(timeout=60)
            log.close()
        report(code == 0, "bot stops cleanly on SIGTERM", f"exit {code}")
        health = in_image("peerbot", "health", stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
        out = health.communicate(timeout=60)[0].decode().strip()
        report(health.returncode == 1, "HEALTHCHECK command after the bot stopped", out)
        dashboard_check(in_image)
        if emulator.server_errors:
            report(False, "emulator", repr(emulator.server_errors)[:300])
    return 1 if failed else 0


def dashboard_check(in_image) -> None:
    """compose.yaml's dashboard command on the database the bot just wrote, and its healthcheck."""
    import base64
    import json
    import urllib.request

    port = 8001
    log = open("/dev/null", "wb")
    password = "container-check-dashboard-password"  # compose.yaml passes PEERBOT_DASHBOARD_PASSWORD from .env
    dashboard = in_image(
        "peerbot",
        "dashboard",
        "--host",
        "0.0.0.0",
        "--port",
        str(port),
        extra=(f"PEERBOT_DASHBOARD_PASSWORD={password}",),
        stdout=log,
        stderr=log,
    )
    login = "Basic " + base64.b64encode(f"admin:{password}".encode()).decode()
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                request = urllib.request.Request(
                    f"http://127.0.0.1:{port}/peerbot/questions_per_day.json?_shape=array",
                    headers={"Authorization": login},
                )
                with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 - a fixed http URL
                    rows = json.load(response)
                break
            except OSError:
                if time.monotonic() > deadline or dashboard.poll() is not None:
                    report(False, "dashboard in the image", "did not answer within 60 s")
                    return
                time.sleep(0.5)
        asked = sum(row["Questions"] for row in rows)
        report(
            asked == 1, "dashboard in the image shows the bot's questions", f"{asked} question(s) per day and language"
        )
        probe = in_image(
            "python",
            "-c",
            f"import urllib.request; urllib.request.urlopen('http://127.0.0.1:{port}/-/healthz', timeout=5)",
        )
        report(probe.wait(timeout=60) == 0, "compose.yaml's dashboard healthcheck command")
    finally:
        dashboard.terminate()
        dashboard.wait(timeout=30)


if __name__ == "__main__":
    sys.exit(main())
