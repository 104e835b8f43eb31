"""Load at CI size: 100 questions from 20 users in bursts, through the emulator, with the
per-user rate limit and PTB's flood-limit rate limiter on. The full size (500 questions from
100 users, with memory) is `python -m bench.load` (tests/load_scenario.py holds the scenario)."""

from __future__ import annotations

from tests.bot_harness import make_settings, start_bot
from tests.load_scenario import check_log, drive, make_plan, rss_mb

LIMIT = 6  # questions per user per minute: the heavier users of the plan go over it


async def test_100_questions_from_20_users_in_bursts_all_answered_or_told_to_wait(
    emulator, knowledge, data_dir, engine
):
    plan = make_plan(questions=100, users=20, limit=LIMIT)
    assert any(plan.expected(u)[1] for u in plan.users) and any(not plan.expected(u)[1] for u in plan.users)
    settings = make_settings(
        emulator, knowledge, data_dir, allowed_users=[str(u) for u in plan.users], rate_limit_per_minute=LIMIT
    )
    running = await start_bot(emulator, settings, engine)
    try:
        before = rss_mb()
        outcome = await drive(emulator, plan, burst=25, pause=0.1, timeout=60)
        grown = rss_mb() - before
        assert outcome.problems == []
        assert outcome.answers == sum(plan.expected(u)[0] for u in plan.users)
        assert outcome.warnings == sum(plan.expected(u)[1] for u in plan.users)
        assert check_log(running.database, plan) == []
        assert not [
            e for e in emulator.errors if "Too Many Requests" in e[1]
        ]  # the flood limiter kept us under Telegram's limits
        assert grown < 50, f"RSS grew by {grown:.0f} MB"
    finally:
        await running.stop()
        running.database.close()
