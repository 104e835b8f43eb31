"""Take docs/dashboard.png: `peerbot dashboard` over a made-up fortnight of questions, in headless
Chromium. The rows are sample data for the picture (no real official asked them); the gap groups
are computed by the configured model as in production (the default: multilingual-e5-small, so
"electricity cuts", "power outages" and "انقطاع الكهرباء" are one group). Usage, from the
repository (chromium installed, the model converted once, e.g. PEERBOT_MODEL_DIR=/srv/models):

    python scripts/dashboard_screenshot.py [OUTPUT]      # default docs/dashboard.png
"""

from __future__ import annotations

import os
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from bot.database import BotDatabase  # noqa: E402

ANSWERED = [
    ("How did volunteers help elderly people living alone?", "en"),
    ("كيف ساعدت البلديات أصحاب المحلات في دفع الإيجار؟", "ar"),
    ("Kako so občine pomagale podjetjem?", "sl"),
    ("food delivery for people in quarantine", "en"),
    ("كيف نظّمت البلديات المتطوعين؟", "ar"),
]
GAPS = [
    ("electricity cuts", "en"),
    ("power outages", "en"),
    ("انقطاع الكهرباء", "ar"),
    ("How were schools disinfected?", "en"),
    ("كيف تم تعقيم المدارس؟", "ar"),
    ("Who paid for masks for the police?", "en"),
]


def sample(data_dir: Path, seed: int = 16) -> None:
    rng = random.Random(seed)  # noqa: S311 - sample data, not secrets
    db = BotDatabase.in_data_dir(data_dir)
    now = datetime.now(UTC).replace(microsecond=0)
    for day in range(13, -1, -1):
        for _ in range(rng.randint(3, 9)):
            confident = rng.random() < 0.72
            text, language = rng.choice(ANSWERED if confident else GAPS)
            qid = db.log_question(1000 + rng.randint(1, 6), 1, text, language, language, [], [], confident, 30.0)
            at = (now - timedelta(days=day, hours=rng.randint(0, 8))).isoformat()
            db.db.execute("update questions set asked_at = ?, day = ? where id = ?", [at, at[:10], qid])
            if confident and rng.random() < 0.4:
                db.add_feedback(qid, 1001, 1 if rng.random() < 0.85 else -1)
                db.db.execute("update feedback set at = ? where question_id = ?", [at, qid])
    db.db.conn.commit()
    db.audit(1002, "Maja", "published", "zrece-beekeepers-honey-for-quarantined-families", "practices/zrece.md")
    db.audit(1002, "Maja", "replaced", "hrastnik-rent-relief-for-businesses-and-families", "practices/hrastnik.md")
    db.close()


def main() -> None:
    output = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO / "docs" / "dashboard.png"
    chromium = next(filter(None, map(shutil.which, ("chromium", "chromium-browser", "google-chrome"))), None)
    if chromium is None:
        sys.exit("chromium is not installed (apt-get install chromium)")
    work = Path(tempfile.mkdtemp(prefix="peerbot-dashboard-shot-"))
    try:
        sample(work / "data")
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            port = probe.getsockname()[1]
        env = {**os.environ, "PEERBOT_DATA_DIR": str(work / "data"), "PYTHONPATH": str(REPO)}
        server = subprocess.Popen(
            [sys.executable, "-c", "from bot.cli import main; main()", "dashboard", "--port", str(port)],
            env=env,
            cwd=work,
        )
        try:
            for _ in range(600):
                try:
                    socket.create_connection(("127.0.0.1", port), timeout=1).close()
                    break
                except OSError:
                    time.sleep(0.1)
            subprocess.run(
                [
                    chromium,
                    "--headless",
                    "--no-sandbox",
                    "--disable-gpu",
                    "--no-first-run",
                    f"--user-data-dir={work / 'profile'}",
                    "--hide-scrollbars",
                    "--window-size=1280,1500",
                    "--virtual-time-budget=15000",
                    f"--screenshot={output}",
                    f"http://127.0.0.1:{port}/-/dashboards/peerbot",
                ],
                check=True,
                capture_output=True,
            )
        finally:
            server.terminate()
            server.wait(timeout=20)
        print(f"wrote {output}")
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
