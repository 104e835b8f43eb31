"""Concurrent questions share model calls: an asyncio micro-batcher in front of the engine.

Kept in bench/ (section 6 of docs/benchmarks.md measures it): the bot does not use it yet, and
wiring it in (``Services`` would own one, closed in ``_post_shutdown``) is its own change.

When many officials ask at once, encoding their questions one by one queues them behind each
other; one ``encode_queries`` call for a batch of questions costs little more than one call
for a single question on CPU. The batcher collects the questions that arrive within a few
milliseconds (and all that arrived while the model was busy with the previous batch), encodes
them in one call in a worker thread, then ranks each with ``Engine.answer_with_vector``.

    batcher = QueryBatcher(engine)
    answer = await batcher.ask("How did municipalities help elderly people?")
    ...
    await batcher.aclose()

A lone question waits at most ``max_wait`` seconds for company; while the model is busy, new
questions simply queue and go together in the next call. Up to ``workers`` batches (2, like
the bot's executor) are in the model at once: on a shared 2-core machine one batch at a time
left a core idle whenever another process held the other (bench/, docs/benchmarks.md). Each caller gets its own answer or
its own exception; a caller that gives up (its task is cancelled) does not disturb the others.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass, field

from index.engine import Answer, Engine
from index.search import Filters, RankingConfig

log = logging.getLogger(__name__)


@dataclass
class _Pending:
    question: str
    top_k: int | None
    filters: Filters | None
    language: str | None
    config: RankingConfig | None
    started: float
    future: asyncio.Future = field(repr=False)


@dataclass
class BatcherStats:
    questions: int = 0
    batches: int = 0
    largest: int = 0

    @property
    def mean_batch(self) -> float:
        return self.questions / self.batches if self.batches else 0.0


class QueryBatcher:
    """Micro-batches ``Engine.ask`` calls made from one asyncio event loop."""

    def __init__(
        self,
        engine: Engine,
        max_batch: int = 32,
        max_wait: float = 0.004,
        workers: int = 2,
        executor: Executor | None = None,
    ):
        if max_batch < 1 or workers < 1:
            raise ValueError("max_batch and workers must be at least 1")
        self.engine = engine
        self.max_batch = max_batch
        self.max_wait = max_wait
        self.workers = workers
        self._own_executor = executor is None
        # Few workers: model calls run (at most `workers`) at a time, which is what lets the queue fill up.
        self._executor = executor or ThreadPoolExecutor(max_workers=workers, thread_name_prefix="peerbot-batcher")
        self._running: set[asyncio.Task] = set()
        self._stats_lock = threading.Lock()
        self._queue: asyncio.Queue[_Pending] | None = None
        self._worker: asyncio.Task | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._closed = False
        self.stats = BatcherStats()

    async def ask(
        self,
        question: str,
        top_k: int | None = None,
        filters: Filters | None = None,
        language: str | None = None,
        config: RankingConfig | None = None,
    ) -> Answer:
        """The same answer as ``engine.ask(...)``, computed together with concurrent questions."""
        if self._closed:
            raise RuntimeError("the query batcher is closed")
        loop = asyncio.get_running_loop()
        self._start(loop)
        pending = _Pending(question, top_k, filters, language, config, time.perf_counter(), loop.create_future())
        self._queue.put_nowait(pending)
        return await pending.future

    def _start(self, loop: asyncio.AbstractEventLoop) -> None:
        if (
            self._worker is not None
            and not self._worker.done()
            and self._loop is not None
            and not self._loop.is_closed()
        ):
            if self._loop is not loop:
                raise RuntimeError("a QueryBatcher serves one event loop")
            return
        self._loop = loop
        self._queue = asyncio.Queue()
        self._worker = loop.create_task(self._run(), name="peerbot-query-batcher")

    async def _run(self) -> None:
        queue = self._queue
        loop = asyncio.get_running_loop()
        slots = asyncio.Semaphore(self.workers)
        try:
            while True:
                await slots.acquire()  # a batch is collected only when a worker can take it
                batch = [await queue.get()]
                deadline = loop.time() + self.max_wait
                while len(batch) < self.max_batch:
                    try:
                        batch.append(queue.get_nowait())  # arrived while the model was busy
                        continue
                    except asyncio.QueueEmpty:
                        pass
                    remaining = deadline - loop.time()
                    if remaining <= 0:
                        break
                    try:
                        batch.append(await asyncio.wait_for(queue.get(), remaining))
                    except TimeoutError:
                        break
                task = loop.create_task(self._process(batch))
                self._running.add(task)
                task.add_done_callback(lambda t: (self._running.discard(t), slots.release()))
        finally:
            for task in list(self._running):
                task.cancel()

    async def _process(self, batch: list[_Pending]) -> None:
        live = [p for p in batch if not p.future.done()]  # callers that gave up are skipped
        if not live:
            return
        loop = asyncio.get_running_loop()
        try:
            results = await loop.run_in_executor(self._executor, self._answer_batch, live)
        except asyncio.CancelledError:
            for p in live:
                if not p.future.done():
                    p.future.cancel()
            raise
        except BaseException as exc:  # noqa: BLE001 - the encode failed: every caller of the batch is told
            log.warning("query batch of %d failed: %s", len(live), exc)
            results = [exc] * len(live)
        for p, result in zip(live, results):
            if p.future.done():
                continue
            if isinstance(result, BaseException):
                p.future.set_exception(result)
            else:
                p.future.set_result(result)

    def _answer_batch(self, batch: list[_Pending]) -> list[Answer | BaseException]:
        """In the worker thread: one model call for the batch, then each question ranked on its own."""
        vectors = self.engine.embedder.encode_queries([p.question for p in batch])
        with self._stats_lock:
            self.stats.questions += len(batch)
            self.stats.batches += 1
            self.stats.largest = max(self.stats.largest, len(batch))
        results: list[Answer | BaseException] = []
        for p, vector in zip(batch, vectors):
            try:
                results.append(
                    self.engine.answer_with_vector(
                        p.question, vector, p.top_k, p.filters, p.language, p.config, p.started
                    )
                )
            except Exception as exc:  # noqa: BLE001 - one question's failure is its caller's alone
                results.append(exc)
        return results

    async def aclose(self) -> None:
        """Stop the worker; questions still waiting get CancelledError."""
        self._closed = True
        worker, self._worker = self._worker, None
        if worker is not None:
            worker.cancel()
            try:
                await worker
            except asyncio.CancelledError:
                pass
        if self._queue is not None:
            while not self._queue.empty():
                pending = self._queue.get_nowait()
                if not pending.future.done():
                    pending.future.cancel()
        if self._own_executor:
            self._executor.shutdown(wait=False, cancel_futures=True)

    async def __aenter__(self) -> QueryBatcher:
        return self

    async def __aexit__(self, *exc_info) -> None:
        await self.aclose()
