"""Load: 500 questions from 100 users in bursts, through the Bot API emulator, against
`peerbot run` as its own process, with both rate limiters on (the bot's per-user limit and
PTB's AIORateLimiter for Telegram's flood limits). Reports whether every question was answered
or its sender told to slow down, the timings, and the bot process's memory (RSS) before and
after each round.

    python -m bench.load                       # 2 rounds of 500 questions from 100 users
    python -m bench.load --questions 100 --users 20 --rounds 1 --json

Each round uses new users, so the per-user limit (a minute's window) starts fresh. The bot
runs the fixture knowledge with the fast test embedder: this measures the Telegram side
(updates, limits, replies, the database), not the model (see the other benchmarks for that).
The scenario and its checks are in tests/load_scenario.py; tests/test_load.py runs it at CI size.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
TOKEN = "123456789:AAH-peerbot-LOAD-secret-0123456789abc"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench.load", description=__doc__.split("\n\n")[0])
    parser.add_argument("--questions", type=int, default=500)
    parser.add_argument("--users", type=int, default=100)
    parser.add_argument(
        "--limit", type=int, default=6, help="PEERBOT_RATE_LIMIT, questions per user per minute (default 6)"
    )
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--burst", type=int, default=50, help="questions sent at once (default 50)")
    parser.add_argument("--json", action="store_true", help="print one JSON object")
    args = parser.parse_args(argv)
    sys.path.insert(0, str(REPO))
    from bot.database import BotDatabase
    from tests.conftest import FIXTURE_KNOWLEDGE
    from tests.load_scenario import check_log, drive, make_plan, rss_mb
    from tests.tg_emulator import TelegramEmulator

    plans = [
        make_plan(args.questions, args.users, args.limit, seed=11 + r, first_user=500_000 + r * 100_000)
        for r in range(args.rounds)
    ]
    warmup = 400_000
    result: dict = {"questions": args.questions, "users": args.users, "limit": args.limit, "rounds": []}
    with tempfile.TemporaryDirectory(prefix="peerbot-load-") as tmp, TelegramEmulator(token=TOKEN) as emulator:
        knowledge, data = Path(tmp) / "knowledge", Path(tmp) / "data"
        shutil.copytree(FIXTURE_KNOWLEDGE, knowledge)
        allowed = [warmup] + [user for plan in plans for user in plan.users]
        env = {
            **os.environ,
            "PYTHONPATH": str(REPO),
            "PEERBOT_KNOWLEDGE_DIR": str(knowledge),
            "PEERBOT_DATA_DIR": str(data),
            "PEERBOT_EMBEDDING_MODEL": "test-hash:64",
            "PEERBOT_MIN_DENSE_SCORE": "0.25",
            "PEERBOT_MIN_CENTRED_SCORE": "0.05",
            "TELEGRAM_BOT_TOKEN": TOKEN,
            "TELEGRAM_API_BASE": emulator.base_url,
            "PEERBOT_LOG_LEVEL": "WARNING",
            "PEERBOT_ALLOWED_USERS": ",".join(map(str, allowed)),
            "PEERBOT_RATE_LIMIT": str(args.limit),
        }
        log = open(Path(tmp) / "bot.log", "wb")
        bot = subprocess.Popen(
            [sys.executable, "-c", "import tests.fake_embedder; from bot.cli import main; main(['run'])"],
            cwd=tmp,
            env=env,
            stdout=log,
            stderr=log,
        )
        try:
            emulator.send_text(warmup, "rent exemption for business premises")
            emulator.wait_for_messages(warmup, 1, timeout=60)
            result["rss_mb_start"] = round(rss_mb(bot.pid), 1)
            problems: list[str] = []
            for number, plan in enumerate(plans, start=1):
                outcome = asyncio.run(drive(emulator, plan, burst=args.burst, pause=0.2, timeout=600))
                database = BotDatabase.in_data_dir(data)
                try:
                    logged = check_log(database, plan)
                finally:
                    database.close()
                problems += outcome.problems + logged
                result["rounds"].append(
                    {
                        "round": number,
                        "seconds": round(outcome.seconds, 1),
                        "messages": outcome.messages,
                        "answered": outcome.answers,
                        "told_to_wait": outcome.warnings,
                        "expected_answers": sum(plan.expected(u)[0] for u in plan.users),
                        "expected_told_to_wait": sum(plan.expected(u)[1] for u in plan.users),
                        "questions_per_second": round(len(plan.sends) / outcome.seconds, 1),
                        "user_wait_p50_s": round(statistics.median(outcome.latencies), 2),
                        "user_wait_max_s": round(max(outcome.latencies), 2),
                        "rss_mb_after": round(rss_mb(bot.pid), 1),
                        "problems": len(outcome.problems) + len(logged),
                    }
                )
            result["flood_429s"] = sum(1 for _, description in emulator.errors if "Too Many Requests" in description)
            result["problems"] = problems[:20]
        finally:
            bot.terminate()
            bot.wait(timeout=30)
            log.close()
        result["bot_exit_code"] = bot.returncode
        result["token_in_log"] = TOKEN.split(":")[1] in (Path(tmp) / "bot.log").read_text(errors="replace")
    ok = not result["problems"] and result["bot_exit_code"] == 0 and not result["token_in_log"]
    if args.json:
        print(json.dumps(result))
    else:
        print(
            f"load: {args.rounds} round(s) of {args.questions} questions from {args.users} users, limit {args.limit}/min per user"
        )
        print(f"bot RSS at start: {result['rss_mb_start']} MB")
        for r in result["rounds"]:
            print(
                f"round {r['round']}: {r['answered']}/{r['expected_answers']} answered, {r['told_to_wait']}/{r['expected_told_to_wait']} "
                f"told to wait, {r['messages']} messages in {r['seconds']} s ({r['questions_per_second']} questions/s); "
                f"a user's wait p50 {r['user_wait_p50_s']} s, max {r['user_wait_max_s']} s; RSS after {r['rss_mb_after']} MB; "
                f"{r['problems']} problem(s)"
            )
        print(
            f"429s from the emulator: {result['flood_429s']}; token in the bot's log: {result['token_in_log']}; "
            f"bot exit code {result['bot_exit_code']}"
        )
        for problem in result["problems"]:
            print("  problem:", problem)
        print("OK" if ok else "FAILED")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
