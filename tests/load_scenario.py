"""Load through the Bot API emulator: many users ask in bursts, with both rate limiters on
(the bot's per-user limit, PEERBOT_RATE_LIMIT, and PTB's AIORateLimiter for Telegram's flood
limits). Shared by tests/test_load.py (CI size) and bench/load.py (the full size).

What must hold, per user who sent n questions with a limit of L per minute (the run stays
inside one minute): min(n, L) answers, plus exactly one "please wait" when n > L; every
answered question logged once; nothing else sent.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from bot.texts import LANGUAGES, Texts

RLM = "\u200f"
# Replies come in the question's language: an answer starts with one of these, in any language.
ANSWER_STARTS = tuple(
    Texts(lang)(key, filter="").split("(")[0].split("\u2068")[0]
    for lang in LANGUAGES
    for key in ("results_intro", "no_match", "filtered_out")
)
WARNING_STARTS = tuple(Texts(lang)("rate_limited", seconds=0).split("0")[0] for lang in LANGUAGES)
QUESTIONS = [
    "rent exemption for business premises",
    "free transport red cross",
    "food packages for isolated older residents",
    "psychological support line",
    "local food network",
    "utility costs for companies",
    "how did volunteers help older people?",
    "إعفاء الشركات من إيجار المباني البلدية",
    "كيف ساعد المتطوعون كبار السن؟",
    "brezplačni prevozi starejših",
    "pomoč podjetjem pri najemnini",
    "who paid for the masks?",
    "tractor registration fees",
]
FIRST_USER = 500_000


@dataclass
class Plan:
    sends: list[tuple[int, str]]  # (user id, question), in sending order
    limit: int

    @property
    def users(self) -> list[int]:
        return sorted({user for user, _ in self.sends})

    def expected(self, user: int) -> tuple[int, bool]:
        """(answers, warned) for a user."""
        sent = sum(1 for u, _ in self.sends if u == user)
        return min(sent, self.limit), sent > self.limit


def make_plan(questions: int, users: int, limit: int, seed: int = 11, first_user: int = FIRST_USER) -> Plan:
    """Uneven load: most users ask a few questions, some many more than the limit allows."""
    rng = random.Random(seed)
    ids = [first_user + i for i in range(users)]
    weights = [rng.choice((1, 1, 2, 3, 6)) for _ in ids]
    per_user = Counter({user: 1 for user in ids})  # everyone asks at least once
    for user in rng.choices(ids, weights, k=questions - users):
        per_user[user] += 1
    sends = [(user, f"{rng.choice(QUESTIONS)} (#{i})") for user, count in per_user.items() for i in range(count)]
    rng.shuffle(sends)
    return Plan(sends, limit)


@dataclass
class Outcome:
    seconds: float
    messages: int
    answers: int
    warnings: int
    problems: list[str] = field(default_factory=list)
    latencies: list[float] = field(
        default_factory=list
    )  # per user: from their first question to the bot's last reply to them


async def drive(
    emulator, plan: Plan, burst: int = 50, pause: float = 0.2, timeout: float = 120.0, on_burst=None
) -> Outcome:
    """Send the plan in bursts (without waiting for answers), then wait for every expected reply.

    ``on_burst(number, bursts)``, when given, is awaited after each burst is sent: the place to
    inject Telegram faults or restart the bot while questions are in flight."""
    before = {user: len(emulator.sent_messages(user)) for user in plan.users}
    expected = {user: answers + int(warned) for user in plan.users for answers, warned in [plan.expected(user)]}
    started = time.perf_counter()
    first_sent: dict[int, float] = {}
    bursts = (len(plan.sends) + burst - 1) // burst
    for number, start in enumerate(range(0, len(plan.sends), burst)):
        for user, question in plan.sends[start : start + burst]:
            first_sent.setdefault(user, time.perf_counter())
            emulator.send_text(user, question, first_name=f"Official {user}")
        if on_burst is not None:
            await on_burst(number, bursts)
        await asyncio.sleep(pause)

    finished: dict[int, float] = {}
    deadline = time.perf_counter() + timeout
    while len(finished) < len(plan.users):
        for user in plan.users:
            if user not in finished and len(emulator.sent_messages(user)) - before[user] >= expected[user]:
                finished[user] = time.perf_counter()
        if time.perf_counter() > deadline:
            missing = [u for u in plan.users if u not in finished]
            raise TimeoutError(
                f"{len(missing)} user(s) still waiting for replies after {timeout:.0f} s, e.g. {missing[:5]}"
            )
        await asyncio.sleep(0.02)
    seconds = time.perf_counter() - started
    await asyncio.sleep(0.3)  # anything extra (a duplicate, a second warning) would arrive by now
    outcome = Outcome(seconds, 0, 0, 0)
    for user in plan.users:
        new = emulator.sent_messages(user)[before[user] :]
        outcome.messages += len(new)
        answers = [m for m in new if m.text.lstrip(RLM).startswith(ANSWER_STARTS)]
        warnings = [m for m in new if m.text.lstrip(RLM).startswith(WARNING_STARTS)]
        outcome.answers += len(answers)
        outcome.warnings += len(warnings)
        want_answers, want_warning = plan.expected(user)
        if (len(answers), len(warnings), len(new)) != (
            want_answers,
            int(want_warning),
            want_answers + int(want_warning),
        ):
            outcome.problems.append(
                f"user {user}: {len(answers)} answers, {len(warnings)} warnings, {len(new)} messages; "
                f"expected {want_answers}, {int(want_warning)}"
            )
        outcome.latencies.append(finished[user] - first_sent[user])
    return outcome


def check_log(database, plan: Plan) -> list[str]:
    """Every answered question is in the question log exactly once, for the user who asked it."""
    problems = []
    users = set(plan.users)
    rows = database._all("select user_id, question from questions")
    logged = Counter((r["user_id"], r["question"]) for r in rows if r["user_id"] in users)
    sent = Counter(plan.sends)
    for key, count in logged.items():
        if count != 1 or key not in sent:
            problems.append(f"logged {count}x: {key}")
    for user in plan.users:
        got = sum(1 for (u, _), c in logged.items() if u == user)
        if got != plan.expected(user)[0]:
            problems.append(f"user {user}: {got} logged, expected {plan.expected(user)[0]}")
    return problems


def rss_mb(pid: int | str = "self") -> float:
    """Resident memory of a process, from /proc (Linux)."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")
