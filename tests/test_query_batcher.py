"""The query micro-batcher: same answers as Engine.ask, one model call per batch, failures contained."""

from __future__ import annotations

import asyncio
import threading
import time
from pathlib import Path

import pytest

from bench.query_batcher import QueryBatcher
from index.engine import Engine
from index.search import Filters, RankingConfig

QUESTIONS = [
    "rent exemption for business premises",
    "volunteers older people",
    "food packages for isolated residents",
    "masks for care homes",
    "How did Hrastnik help companies?",
    "ماذا فعلت البلديات لكبار السن",
    "Kako so občine pomagale starejšim?",
]


class RecordingEmbedder:
    """Wraps the fast test embedder; records every encode_queries call (and can be slowed or broken)."""

    def __init__(self, inner, delay: float = 0.0):
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.delay = delay
        self.calls: list[list[str]] = []
        self.threads: set[str] = set()
        self.fail_on: str | None = None
        self.lock = threading.Lock()

    def encode_queries(self, texts):
        with self.lock:
            self.calls.append(list(texts))
            self.threads.add(threading.current_thread().name)
        if self.delay:
            time.sleep(self.delay)
        if self.fail_on is not None and self.fail_on in texts:
            raise RuntimeError("model exploded")
        return self.inner.encode_queries(texts)

    def encode_documents(self, texts, batch_size=32, progress=None):
        return self.inner.encode_documents(texts, batch_size, progress)


@pytest.fixture
def engine(knowledge: Path, data_dir: Path, fake_embedder) -> Engine:
    engine = Engine(RecordingEmbedder(fake_embedder), data_dir, knowledge)
    engine.rebuild()
    return engine


async def _until(condition, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "condition not reached"
        await asyncio.sleep(0.002)


def _same(a, b) -> bool:
    return (
        [r.id for r in a.results] == [r.id for r in b.results]
        and [round(r.hit.score, 6) for r in a.results] == [round(r.hit.score, 6) for r in b.results]
        and a.confident == b.confident
        and a.language == b.language
        and a.filtered_out == b.filtered_out
    )


async def test_concurrent_questions_share_one_model_call_and_get_their_own_answers(engine: Engine):
    expected = {q: engine.ask(q) for q in QUESTIONS}
    engine.embedder.calls.clear()
    async with QueryBatcher(engine, max_wait=0.05) as batcher:
        answers = await asyncio.gather(*(batcher.ask(q) for q in QUESTIONS))
    assert len(engine.embedder.calls) == 1
    assert sorted(engine.embedder.calls[0]) == sorted(QUESTIONS)
    for question, answer in zip(QUESTIONS, answers):
        assert answer.question == question
        assert _same(answer, expected[question])
    assert batcher.stats.batches == 1 and batcher.stats.largest == len(QUESTIONS)


async def test_the_model_runs_in_a_worker_thread_not_on_the_event_loop(engine: Engine):
    async with QueryBatcher(engine) as batcher:
        await batcher.ask(QUESTIONS[0])
    assert threading.current_thread().name not in engine.embedder.threads
    assert all(name.startswith("peerbot-batcher") for name in engine.embedder.threads)


async def test_questions_arriving_while_the_model_is_busy_go_together_in_the_next_call(engine: Engine):
    engine.embedder.delay = 0.5
    async with QueryBatcher(engine, max_wait=0.001, workers=1) as batcher:
        first = asyncio.create_task(batcher.ask(QUESTIONS[0]))
        await _until(lambda: engine.embedder.calls)  # the first batch is in the model now
        rest = [asyncio.create_task(batcher.ask(q)) for q in QUESTIONS[1:]]
        await asyncio.gather(first, *rest)
    assert [len(call) for call in engine.embedder.calls] == [1, len(QUESTIONS) - 1]


async def test_two_workers_keep_two_batches_in_the_model_at_once(engine: Engine):
    engine.embedder.delay = 0.5
    async with QueryBatcher(engine, max_wait=0.001, workers=2) as batcher:
        first = asyncio.create_task(batcher.ask(QUESTIONS[0]))
        await _until(lambda: len(engine.embedder.calls) == 1)
        second = asyncio.create_task(batcher.ask(QUESTIONS[1]))
        await _until(lambda: len(engine.embedder.calls) == 2)  # while the first is still in the model
        assert not first.done()
        third = [asyncio.create_task(batcher.ask(q)) for q in QUESTIONS[2:]]
        await asyncio.gather(first, second, *third)
    assert [len(call) for call in engine.embedder.calls] == [1, 1, len(QUESTIONS) - 2]
    assert len(engine.embedder.threads) == 2


async def test_max_batch_splits_a_crowd(engine: Engine):
    async with QueryBatcher(engine, max_batch=3, max_wait=0.05) as batcher:
        answers = await asyncio.gather(*(batcher.ask(q) for q in QUESTIONS))
    assert len(answers) == len(QUESTIONS)
    assert max(len(call) for call in engine.embedder.calls) <= 3
    assert sum(len(call) for call in engine.embedder.calls) == len(QUESTIONS)


async def test_a_lone_question_waits_at_most_max_wait(engine: Engine):
    async with QueryBatcher(engine, max_wait=0.01) as batcher:
        started = time.perf_counter()
        answer = await batcher.ask(QUESTIONS[0])
        elapsed = time.perf_counter() - started
    assert answer.results
    assert elapsed < 1.0
    assert answer.seconds > 0


async def test_per_question_options_are_kept(engine: Engine):
    async with QueryBatcher(engine, max_wait=0.05) as batcher:
        wide, filtered, lexical = await asyncio.gather(
            batcher.ask("volunteers older people", top_k=5),
            batcher.ask("volunteers older people", filters=Filters(municipalities=frozenset({"Nowhere"}))),
            batcher.ask("volunteers older people", config=RankingConfig(dense=False, centring=False)),
        )
    assert len(wide.results) == 5
    assert filtered.filtered_out and not filtered.results
    assert _same(lexical, engine.ask("volunteers older people", config=RankingConfig(dense=False, centring=False)))
    assert len(engine.embedder.calls[0]) == 3


async def test_a_failing_model_call_fails_every_question_of_that_batch_and_the_batcher_goes_on(engine: Engine):
    engine.embedder.fail_on = "boom"
    async with QueryBatcher(engine, max_wait=0.05) as batcher:
        results = await asyncio.gather(batcher.ask("boom"), batcher.ask(QUESTIONS[0]), return_exceptions=True)
        assert all(isinstance(r, RuntimeError) for r in results)
        engine.embedder.fail_on = None
        answer = await batcher.ask(QUESTIONS[1])
    assert answer.results


async def test_one_question_failing_in_the_ranking_does_not_fail_the_others(engine: Engine, monkeypatch):
    original = engine.answer_with_vector

    def flaky(question, vector, *args, **kwargs):
        if question == "bad":
            raise ValueError("bad question")
        return original(question, vector, *args, **kwargs)

    monkeypatch.setattr(engine, "answer_with_vector", flaky)
    async with QueryBatcher(engine, max_wait=0.05) as batcher:
        bad, good = await asyncio.gather(batcher.ask("bad"), batcher.ask(QUESTIONS[0]), return_exceptions=True)
    assert isinstance(bad, ValueError)
    assert good.results


async def test_a_caller_that_gives_up_does_not_disturb_the_others(engine: Engine):
    engine.embedder.delay = 0.5
    async with QueryBatcher(engine, max_wait=0.001, workers=1) as batcher:
        busy = asyncio.create_task(batcher.ask(QUESTIONS[0]))
        await _until(lambda: engine.embedder.calls)
        impatient = asyncio.create_task(batcher.ask(QUESTIONS[1]))
        patient = asyncio.create_task(batcher.ask(QUESTIONS[2]))
        await asyncio.sleep(0.01)
        impatient.cancel()
        results = await asyncio.gather(busy, patient)
    assert all(r.results for r in results)
    assert impatient.cancelled()
    assert QUESTIONS[1] not in [q for call in engine.embedder.calls for q in call]


async def test_closing_cancels_waiting_questions_and_refuses_new_ones(engine: Engine):
    engine.embedder.delay = 0.5
    batcher = QueryBatcher(engine, max_wait=0.001, workers=1)
    running = asyncio.create_task(batcher.ask(QUESTIONS[0]))
    await _until(lambda: engine.embedder.calls)
    waiting = asyncio.create_task(batcher.ask(QUESTIONS[1]))
    await asyncio.sleep(0.01)
    await batcher.aclose()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    with pytest.raises(asyncio.CancelledError):
        await running
    with pytest.raises(RuntimeError, match="closed"):
        await batcher.ask(QUESTIONS[2])


async def test_many_concurrent_callers_each_get_exactly_one_answer(engine: Engine):
    questions = [f"{QUESTIONS[i % len(QUESTIONS)]} {i}" for i in range(200)]
    async with QueryBatcher(engine, max_batch=16, max_wait=0.002) as batcher:
        answers = await asyncio.gather(*(batcher.ask(q) for q in questions))
    assert [a.question for a in answers] == questions
    assert sum(len(call) for call in engine.embedder.calls) == len(questions)
    assert len(engine.embedder.calls) < len(questions) / 4  # really batched
