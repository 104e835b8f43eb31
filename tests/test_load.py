"""Load at CI size: 100 questions from 20 users in bursts, through the emulator, with the
per-user rate limit and PTB's flood-limit rate limiter on. The full size (500 questions from
100 users, with memory) is `python -m bench.load` (tests/load_scenario.py holds the scenario).

And the same load with Telegram pushing back (429 with retry_after, 5xx, dropped connections,
failed polls) and one restart of the bot in the middle: nothing lost, nothing duplicated. At
CI size 100 questions; the full size is

    PEERBOT_LOAD_QUESTIONS=500 python -m pytest tests/test_load.py -k restart -p no:cacheprovider
"""

from __future__ import annotations

import os

from bot import outbox
from tests.bot_harness import make_settings, start_bot
from tests.load_scenario import check_log, drive, make_plan, rss_mb

FAULT_QUESTIONS = int(os.environ.get("PEERBOT_LOAD_QUESTIONS", "100"))

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


async def test_bursts_of_429_and_5xx_and_a_restart_lose_and_duplicate_nothing(
    emulator, knowledge, data_dir, engine, monkeypatch
):
    monkeypatch.setattr(outbox, "RETRY_DELAYS", (0.1, 0.2, 0.5, 1.0, 1.0))  # the same schedule, faster
    monkeypatch.setattr(outbox, "MAX_DELAY", 1.0)
    questions = FAULT_QUESTIONS
    plan = make_plan(questions=questions, users=max(20, questions // 5), limit=10**6)  # no per-user limit:
    # it is kept in memory, so a restart would reset it and change what the plan expects
    settings = make_settings(
        emulator, knowledge, data_dir, allowed_users=[str(u) for u in plan.users], rate_limit_per_minute=10**6
    )
    running = [await start_bot(emulator, settings, engine)]
    burst = max(10, questions // 10)
    at_restart: list[tuple[int, int, int]] = []  # (questions sent, answers delivered, answers waiting)
    faults = {
        0: lambda: emulator.fail_next("sendMessage", 429, retry_after=1, times=6),  # more than PTB retries
        1: lambda: (emulator.fail_next("sendMessage", 502, times=5), emulator.drop_connection_next("sendMessage", 2)),
        2: lambda: emulator.fail_next("getUpdates", 500, times=2),
        4: lambda: (emulator.fail_next("sendMessage", 500, times=4), emulator.fail_next("sendMessage", 429, times=3)),
    }

    async def on_burst(number: int, bursts: int) -> None:
        if number in faults:
            faults[number]()
        if number == bursts // 2:  # one restart while answers are in flight and in the outbox
            sent = min(len(plan.sends), (number + 1) * burst)
            answered = sum(len(emulator.sent_messages(u)) for u in plan.users)
            at_restart.append((sent, answered, running[0].database.outbox_counts().get("pending", 0)))
            await running[0].stop()
            running[0].database.close()
            running[0] = await start_bot(emulator, settings, engine)

    try:
        outcome = await drive(emulator, plan, burst=burst, pause=0.1, timeout=180, on_burst=on_burst)
        assert outcome.problems == []
        assert outcome.answers == len(plan.sends) and outcome.warnings == 0
        assert check_log(running[0].database, plan) == []
        assert running[0].database.outbox_counts() == {"sent": len(plan.sends)}
        pushed_back = [e for e in emulator.errors if e[1].startswith(("Too Many Requests", "Bad Gateway", "Internal"))]
        assert len(pushed_back) >= 6 + 5 + 2 + 4 + 3  # the faults did happen
        [(sent, answered, waiting)] = at_restart
        assert answered < sent  # the restart did cut into unanswered questions
        print(  # shown with -s: what the run measured
            f"{len(plan.sends)} questions from {len(plan.users)} users in {outcome.seconds:.1f} s; restart after "
            f"{sent} sent, {answered} answered, {waiting} waiting in the outbox; {len(pushed_back)} pushbacks"
        )
    finally:
        await running[0].stop()
        running[0].database.close()
