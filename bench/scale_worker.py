"""Subprocess side of the scale benchmark: ``python -m bench.scale_worker build|serve SPEC.json``.

``build`` generates a synthetic corpus and writes a real index generation with the project's
own writer; ``serve`` is a fresh process that loads that generation (and the model, as
``peerbot run`` does), answers the dev questions' real query vectors, and reports latency
beyond the encode, HNSW recall against an exact scan, and its peak RSS. Each writes its
results as JSON to the path given in the spec.
"""

from __future__ import annotations

import hashlib
import json
import os
import resource
import sys
import time
from pathlib import Path

import numpy as np


def _rss_now() -> int:
    try:
        import psutil

        return psutil.Process().memory_info().rss
    except ImportError:
        with open("/proc/self/statm") as handle:
            return int(handle.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")


def _rss_peak() -> int:
    """Peak RSS of this process (VmHWM).

    Not ``getrusage(RUSAGE_SELF).ru_maxrss``: on Linux that survives exec, so a worker started
    by a large parent would report the parent's peak. VmHWM belongs to this process's memory.
    """
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024


# -- build -----------------------------------------------------------------------------------


class _Dump:
    def __init__(self, data: dict):
        self.data = data

    def model_dump(self, mode: str = "json") -> dict:
        return self.data


class _Meta(_Dump):
    def __init__(self, data: dict):
        super().__init__(data)
        self.municipality = data["municipality"]
        self.country = data["country"]
        self.level = data["level"]
        self.sources = [_Dump(s) for s in data["sources"]]


class _Section:
    def __init__(self, heading: str, text: str):
        self.heading, self.text = heading, text


class _Practice:
    def __init__(self, pid: str, meta: dict, sections: list[_Section]):
        self.id = pid
        self.path = f"practices/{pid}.md"
        self.meta = _Meta(meta)
        self.sections = sections
        self.translations: dict = {}  # synthetic practices are written in English only
        self.content_hash = hashlib.sha256(json.dumps(meta, sort_keys=True).encode()).hexdigest()


class _KB:
    def __init__(self, practices):
        from index.taxonomy import Taxonomy

        self.practices = practices
        self.taxonomy = Taxonomy.contract_default()


class _Embedder:
    def __init__(self, model_id: str, dimension: int):
        self.model_id, self.dimension = model_id, dimension


def synthetic_corpus(
    n: int,
    base_vectors: np.ndarray,
    base_texts: list[str],
    base_languages: list[str],
    places: list[str],
    distribution: str,
    seed: int = 6,
):
    """n passages, 10 per practice: vectors and texts mixed from the real passages."""
    from index.passages import Passage

    rng = np.random.default_rng(seed)
    dimension = base_vectors.shape[1]
    a = rng.integers(0, len(base_texts), n)
    b = rng.integers(0, len(base_texts), n)
    if distribution == "uniform":
        vectors = rng.standard_normal((n, dimension), dtype=np.float32)
    else:  # e5-like: a random mixture of two real passage vectors plus noise
        w = rng.uniform(0.3, 0.7, (n, 1)).astype(np.float32)
        vectors = (
            w * base_vectors[a] + (1 - w) * base_vectors[b] + rng.normal(0, 0.02, (n, dimension)).astype(np.float32)
        )
    vectors /= np.linalg.norm(vectors, axis=1, keepdims=True)
    words = [t.split() for t in base_texts]
    passages = []
    for i in range(n):
        mixed = words[a[i]][:60] + words[b[i]][:60]
        order = rng.permutation(len(mixed))
        text = " ".join(mixed[j] for j in order)
        passages.append(Passage(f"synthetic-{i // 10:06d}", "section", "Synthetic", base_languages[a[i]], text))
    practices = []
    for j in range((n + 9) // 10):
        pid = f"synthetic-{j:06d}"
        place = places[j % len(places)]
        meta = {
            "id": pid,
            "municipality": place,
            "country": "Slovenia",
            "level": "municipal",
            "language": "en",
            "title": {"en": f"Synthetic practice {j} of {place}"},
            "summary": {"en": f"Synthetic summary {j} of a practice in {place}."},
            "topics": ["cooperation"],
            "target_groups": ["elderly"],
            "outcomes": [],
            "sources": [
                {
                    "url": f"https://example.org/{j}",
                    "title": f"Source {j}",
                    "publisher": "bench",
                    "date": "2021-01-01",
                    "lang": "en",
                }
            ],
        }
        practices.append(_Practice(pid, meta, [_Section("Synthetic", "synthetic")]))
    return _KB(practices), passages, vectors.astype(np.float32)


def build(spec: dict) -> dict:
    import index.build as builder
    from index.lexical import LexicalIndex

    base = np.load(spec["base_vectors"])
    meta = json.loads(Path(spec["base_meta"]).read_text())
    started = time.perf_counter()
    kb, passages, vectors = synthetic_corpus(
        spec["n"], base, meta["texts"], meta["languages"], meta["places"], spec["distribution"]
    )
    generate_seconds = time.perf_counter() - started

    parts: dict[str, float] = {}

    def timing(name, function):
        def wrapper(*args, **kwargs):
            t = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                parts[name] = parts.get(name, 0.0) + time.perf_counter() - t

        return wrapper

    builder.build_faiss = timing("faiss", builder.build_faiss)
    LexicalIndex.build = classmethod(timing("bm25", LexicalIndex.build.__func__))
    folder = Path(spec["folder"])
    folder.mkdir(parents=True, exist_ok=True)
    embedder = _Embedder(spec["model_id"], vectors.shape[1])
    started = time.perf_counter()
    builder._write_generation(folder, kb, passages, vectors, embedder, f"synthetic-{spec['n']}")
    write_seconds = time.perf_counter() - started
    started = time.perf_counter()
    builder._verify(folder, len(passages), vectors.shape[1])
    verify_seconds = time.perf_counter() - started
    sizes = {
        p.name: (p.stat().st_size if p.is_file() else sum(q.stat().st_size for q in p.rglob("*") if q.is_file()))
        for p in folder.iterdir()
    }
    import faiss

    return {
        "n": len(passages),
        "practices": len(kb.practices),
        "generate_seconds": generate_seconds,
        "build_seconds": write_seconds + verify_seconds,
        "faiss_seconds": parts.get("faiss", 0.0),
        "bm25_seconds": parts.get("bm25", 0.0),
        "verify_seconds": verify_seconds,
        "sizes": sizes,
        "faiss_type": type(faiss.read_index(str(folder / "index.faiss"))).__name__,
        "build_peak_rss": _rss_peak(),
    }


# -- serve -----------------------------------------------------------------------------------


def _exact_top(matrix: np.ndarray, vector: np.ndarray, k: int) -> np.ndarray:
    scores = matrix @ vector
    top = np.argpartition(-scores, k)[:k]
    return top


def serve(spec: dict) -> dict:
    from index.search import RankingConfig, SearchIndex

    result: dict = {"rss_start": _rss_now()}
    started = time.perf_counter()
    index = SearchIndex.load_generation(Path(spec["folder"]))
    result["load_seconds"] = time.perf_counter() - started
    result["rss_index"] = _rss_now()
    result["peak_index"] = _rss_peak()
    result["faiss_type"] = type(index.vectors).__name__

    engine = None
    if spec.get("with_model"):
        from index.embedding import load_embedder
        from index.engine import Engine

        started = time.perf_counter()
        embedder = load_embedder(spec["model_spec"], Path(spec["models_dir"]))
        result["model_seconds"] = time.perf_counter() - started
        texts = json.loads(Path(spec["questions"]).read_text())["texts"]
        embedder.encode_queries(texts[:16])  # the model's working memory counts too
        engine = Engine(embedder, Path(spec["folder"]).parent, Path("."))
        engine._index = index  # serve this generation as it is (no knowledge folder behind it)
        result["rss_model"] = _rss_now()

    questions = json.loads(Path(spec["questions"]).read_text())
    vectors = np.load(spec["query_vectors"])
    config = RankingConfig()
    for text, lang, vector in list(zip(questions["texts"], questions["languages"], vectors))[:5]:
        index.rank(text, vector, lang, config, 3)
    from index.vector_index import search

    rank_times, answer_times, faiss_times, faiss_default_times = [], [], [], []
    for text, lang, vector in zip(questions["texts"], questions["languages"], vectors):
        t = time.perf_counter()
        index.rank(text, vector, lang, config, 3)
        rank_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        search(index.vectors, vector, config.candidates)  # as the ranking calls it (single-threaded)
        faiss_times.append(time.perf_counter() - t)
        t = time.perf_counter()
        index.vectors.search(vector.reshape(1, -1), config.candidates)  # FAISS's default OpenMP threads
        faiss_default_times.append(time.perf_counter() - t)
        if engine is not None:
            t = time.perf_counter()
            engine.answer_with_vector(text, vector)
            answer_times.append(time.perf_counter() - t)
    result.update(
        rank_times=rank_times,
        answer_times=answer_times,
        faiss_times=faiss_times,
        faiss_default_times=faiss_default_times,
    )
    # The serving process's peak, before the measuring below adds an exact index of its own.
    result["peak_rss"] = _rss_peak()

    # Recall of the approximate index against an exact scan, and what the ranking makes of it.
    import faiss

    if isinstance(index.vectors, faiss.IndexHNSW):
        recall = {}
        for k in (10, config.candidates):
            found = []
            for vector in vectors:
                _, ids = index.vectors.search(vector.reshape(1, -1), k)
                exact = _exact_top(index.matrix, vector, k)
                found.append(len(set(ids[0].tolist()) & set(exact.tolist())) / k)
            recall[str(k)] = float(np.mean(found))
        result["recall"] = recall
        approximate = [
            [h.practice.id for h in index.rank(t, v, lang, config, 3).hits]
            for t, lang, v in zip(questions["texts"], questions["languages"], vectors)
        ]
        flat = faiss.IndexFlatIP(index.matrix.shape[1])
        flat.add(index.matrix)
        hnsw, index.vectors = index.vectors, flat
        exact_times, exact_answers = [], []
        for t_, lang, v in zip(questions["texts"], questions["languages"], vectors):
            t = time.perf_counter()
            exact_answers.append([h.practice.id for h in index.rank(t_, v, lang, config, 3).hits])
            exact_times.append(time.perf_counter() - t)
        index.vectors = hnsw
        result["top3_agreement"] = float(np.mean([a == b for a, b in zip(approximate, exact_answers)]))
        result["exact_rank_times"] = exact_times
        if spec.get("uniform_check"):
            result["uniform_recall"] = _uniform_recall(index.matrix.shape[1], len(index.passages), vectors.shape[0])
    result["rss_end"] = _rss_now()
    return result


def _uniform_recall(dimension: int, n: int, queries: int) -> dict:
    """The hardest case for HNSW: uniform random unit vectors (no structure at all)."""
    from index.vector_index import build_faiss

    rng = np.random.default_rng(7)
    data = rng.standard_normal((n, dimension), dtype=np.float32)
    data /= np.linalg.norm(data, axis=1, keepdims=True)
    q = rng.standard_normal((queries, dimension), dtype=np.float32)
    q /= np.linalg.norm(q, axis=1, keepdims=True)
    started = time.perf_counter()
    hnsw = build_faiss(data)
    build_seconds = time.perf_counter() - started
    out = {"build_seconds": build_seconds}
    for k in (10,):
        _, ids = hnsw.search(q, k)
        exact = np.argsort(-(q @ data.T), axis=1)[:, :k]
        out[str(k)] = float(np.mean([len(set(a.tolist()) & set(b.tolist())) / k for a, b in zip(ids, exact)]))
    return out


def main() -> int:
    command, spec_path = sys.argv[1], Path(sys.argv[2])
    spec = json.loads(spec_path.read_text())
    result = build(spec) if command == "build" else serve(spec)
    Path(spec["result"]).write_text(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
