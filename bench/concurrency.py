"""6. Many users at once: simulated officials through the Bot API emulator against `peerbot run`,
and the same load on the engine alone, each with and without the query micro-batcher."""

from __future__ import annotations

import asyncio
import re
import shutil
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from .coldstart import clean_env
from .common import REPO, Context, Section, log, median, pcts, percentile

FIRST_USER = 710_000_001
ANSWER_TIMEOUT = 180.0


def _load(ctx: Context) -> tuple[int, int]:
    return (100, 2) if ctx.quick else (100, 5)


def _question(ctx: Context, user: int, k: int) -> str:
    questions = ctx.questions
    return questions[(user * 7 + k * 13) % len(questions)].question


# -- the engine alone ------------------------------------------------------------------------


async def _engine_load(ctx: Context, batched: bool) -> dict:
    from bench.query_batcher import QueryBatcher

    engine = ctx.engine
    users, each = _load(ctx)
    latencies: list[float] = []
    answers: dict[tuple[int, int], list[str]] = {}
    loop = asyncio.get_running_loop()
    pool = ThreadPoolExecutor(max_workers=2)  # as the bot's Services.executor
    batcher = QueryBatcher(engine) if batched else None

    async def official(user: int) -> None:
        for k in range(each):
            question = _question(ctx, user, k)
            started = time.perf_counter()
            if batcher is not None:
                answer = await batcher.ask(question)
            else:
                answer = await loop.run_in_executor(pool, engine.ask, question)
            latencies.append(time.perf_counter() - started)
            answers[(user, k)] = [r.id for r in answer.results]

    started = time.perf_counter()
    await asyncio.gather(*(official(u) for u in range(users)))
    wall = time.perf_counter() - started
    stats = batcher.stats if batcher else None
    if batcher:
        await batcher.aclose()
    pool.shutdown()
    return {
        "wall": wall,
        "latencies": latencies,
        "answers": answers,
        "questions": users * each,
        "mean_batch": stats.mean_batch if stats else 1.0,
        "largest": stats.largest if stats else 1,
    }


# -- through Telegram ------------------------------------------------------------------------


class _Watcher:
    """Counts the bot's answers per chat from the emulator's state (one poller for all users).

    An answer is the message that carries the reply's buttons: the results' last message (with
    the feedback buttons) or the "no match" message (with the topics button).
    """

    def __init__(self, emulator):
        self.emulator = emulator

    def answers(self, chat_id: int) -> int:
        e = self.emulator
        with e._cond:  # the emulator's one lock for all state
            return sum(
                1 for mid in e._bot_message_ids.get(chat_id, ()) if e._messages[(chat_id, mid)].get("reply_markup")
            )

    def messages(self, chat_id: int) -> int:
        with self.emulator._cond:
            return len(self.emulator._bot_message_ids.get(chat_id, ()))

    async def wait(self, chat_id: int, count: int, timeout: float = ANSWER_TIMEOUT) -> float:
        deadline = time.perf_counter() + timeout
        while self.answers(chat_id) < count:
            if time.perf_counter() > deadline:
                raise TimeoutError(f"chat {chat_id}: no answer {count} within {timeout:.0f} s")
            await asyncio.sleep(0.005)
        return time.perf_counter()


def _start_bot(
    ctx: Context, emulator, data_dir: Path, cwd: Path, batched: bool, limited: bool, log_path: Path
) -> subprocess.Popen:
    env = clean_env(
        ctx,
        PEERBOT_DATA_DIR=str(data_dir),
        TELEGRAM_BOT_TOKEN=emulator.token,
        TELEGRAM_API_BASE=emulator.base_url,
        PEERBOT_ALLOWED_USERS="*",
        PEERBOT_LOG_LEVEL="WARNING",
        PYTHONPATH=str(REPO),
    )
    command = (
        [sys.executable, "-m", "bench.bot_launcher"]
        + (["--batcher"] if batched else [])
        + ([] if limited else ["--no-rate-limit"])
    )
    return subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=open(log_path, "wb"))


async def _bot_load(ctx: Context, emulator, batched: bool, limited: bool, scratch: Path, first_user: int) -> dict:
    name = f"{'batched' if batched else 'plain'}-{'limited' if limited else 'unlimited'}"
    data_dir = scratch / f"data-{name}"
    shutil.copytree(ctx.shipped_data_dir / "index", data_dir / "index")
    log_path = scratch / f"bot-{name}.log"
    watcher = _Watcher(emulator)
    users, each = _load(ctx)
    started = time.perf_counter()
    process = _start_bot(ctx, emulator, data_dir, scratch, batched, limited, log_path)
    result: dict = {}
    try:
        # Cold start in bot mode: a question waiting when the process starts, until its answer.
        probe = first_user - 1
        emulator.send_text(probe, "How did municipalities help elderly people living alone?")
        await watcher.wait(probe, 1, timeout=300)
        result["cold_start"] = time.perf_counter() - started

        latencies: list[float] = []

        async def official(user: int) -> None:
            for k in range(each):
                sent = time.perf_counter()
                emulator.send_text(user, _question(ctx, user, k), first_name=f"Official {user}")
                answered = await watcher.wait(user, k + 1)
                latencies.append(answered - sent)

        load_started = time.perf_counter()
        await asyncio.gather(*(official(first_user + u) for u in range(users)))
        result["wall"] = time.perf_counter() - load_started
        result["latencies"] = latencies
        await asyncio.sleep(2.0)  # anything late or doubled shows up now
        chats = [first_user + u for u in range(users)]
        counts = [watcher.answers(c) for c in chats]
        result["questions"] = users * each
        result["lost"] = sum(max(0, each - c) for c in counts)
        result["duplicated"] = sum(max(0, c - each) for c in counts)
        result["messages"] = sum(watcher.messages(c) for c in chats)
        result["errors"] = len([e for e in emulator.errors if e[0] != "getUpdates"])
    finally:
        process.terminate()
        try:
            process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
    text = log_path.read_text(errors="replace")
    match = re.search(r"BATCHER questions=(\d+) batches=(\d+) largest=(\d+) mean=([\d.]+)", text)
    if match:
        result["mean_batch"], result["largest"] = float(match.group(4)), int(match.group(3))
    result["log_errors"] = len(re.findall(r"\bERROR\b", text))
    return result


def _bot_ready(ctx: Context) -> str | None:
    if not (REPO / "bot" / "telegram_app.py").is_file():
        return "bot/telegram_app.py is missing"
    try:
        import tests.tg_emulator  # noqa: F401
    except Exception as exc:  # noqa: BLE001
        return f"the Bot API emulator cannot be imported ({exc}); install the test extra"
    return None


def run(ctx: Context) -> Section:
    section = Section("concurrency", "6. Many users at once (100 simulated officials)")
    users, each = _load(ctx)
    _ = ctx.engine  # index current before anything is timed

    # The engine alone: the same closed-loop load, A-B-B-A (quick: A-B).
    log(f"concurrency: engine alone, {users} users x {each} questions, with and without the batcher")
    order = [False, True, True, False]
    runs: dict[bool, list[dict]] = {False: [], True: []}
    for batched in order:
        runs[batched].append(asyncio.run(_engine_load(ctx, batched)))
    for batched, label in (
        (False, "one Engine.ask per question (2 worker threads)"),
        (True, "QueryBatcher (one encode per batch)"),
    ):
        rs = runs[batched]
        rate = sum(r["questions"] for r in rs) / sum(r["wall"] for r in rs)
        lat = [x for r in rs for x in r["latencies"]]
        extra = (
            f", mean batch {median([r['mean_batch'] for r in rs]):.1f}, largest {max(r['largest'] for r in rs)}"
            if batched
            else ""
        )
        section.add(
            f"engine alone, {label}: throughput; reply p50 / p95",
            f"{rate:.1f} questions/s; {percentile(lat, 50) * 1000:.0f} / {percentile(lat, 95) * 1000:.0f} ms{extra}",
        )
    plain_rate = sum(r["questions"] for r in runs[False]) / sum(r["wall"] for r in runs[False])
    batched_rate = sum(r["questions"] for r in runs[True]) / sum(r["wall"] for r in runs[True])
    section.add("engine alone: batched / unbatched throughput", f"{batched_rate / plain_rate:.2f}x")
    same = [runs[True][0]["answers"][key] == runs[False][0]["answers"][key] for key in runs[False][0]["answers"]]
    section.add("engine alone: same top practices batched and unbatched", f"{sum(same)} of {len(same)} questions")

    why_not = _bot_ready(ctx)
    if why_not:
        section.note(f"Telegram part skipped: {why_not}.")
        return section
    from tests.tg_emulator import TelegramEmulator

    scratch = Path(tempfile.mkdtemp(prefix="concurrency-", dir=ctx.bench_dir))
    rates: dict[tuple[bool, bool], float] = {}
    try:
        runs_tg = [(False, True, 0), (True, True, 1)] + [(False, False, 2), (True, False, 3)]
        for batched, limited, n in runs_tg:
            label = ("with the batcher" if batched else "as shipped") + ("" if limited else ", rate limiter off")
            log(f"concurrency: `peerbot run` against the emulator, {label}")
            with TelegramEmulator(token="123456:BENCHMARK") as emulator:
                r = asyncio.run(_bot_load(ctx, emulator, batched, limited, scratch, FIRST_USER + 10_000 * n))
            rate = r["questions"] / r["wall"]
            batch = f"; mean batch {r['mean_batch']:.1f}, largest {r['largest']}" if "mean_batch" in r else ""
            section.add(
                f"Telegram, {label}: throughput; time to reply p50 / p95 / p99",
                f"{rate:.1f} questions/s; {pcts(r['latencies'])}{batch}",
            )
            ok = r["lost"] == 0 and r["duplicated"] == 0
            section.add(
                f"Telegram, {label}: replies lost / duplicated",
                f"{r['lost']} / {r['duplicated']} of {r['questions']} questions ({r['messages']} messages, {r['errors']} API errors, {r['log_errors']} ERROR log lines)",
                "0 / 0",
                ok,
            )
            if n == 0:
                section.add("Telegram, as shipped: cold start, spawn -> first answer", f"{r['cold_start']:.1f} s")
            rates[(batched, limited)] = rate
        section.add(
            "Telegram, rate limiter off: batched / unbatched throughput",
            f"{rates[(True, False)] / rates[(False, False)]:.2f}x",
        )
    finally:
        if not ctx.args.keep:
            shutil.rmtree(scratch, ignore_errors=True)
    section.note(
        f"{users} officials (distinct Telegram users, private chats), each sending {each} questions from the dev set one after another, "
        "the next as soon as the previous answer arrives (closed loop); `peerbot run` as a subprocess with PEERBOT_ALLOWED_USERS=* and "
        "TELEGRAM_API_BASE pointing at tests/tg_emulator.py. 'With the batcher' runs the same bot through bench/bot_launcher.py, which "
        "applies the proposed one-line change at run time (Services.blocking(engine.ask, ...) -> QueryBatcher.ask(...)). "
        "As shipped, PTB's AIORateLimiter (30 requests/s per bot, Telegram's own limit; a 'typing' action and a message per answer) "
        "caps the bot near 15 answers/s and spaces the questions out, so the batcher has little to batch; 'rate limiter off' "
        "(bench/bot_launcher.py --no-rate-limit) shows the engine's side of the same load."
    )
    return section
