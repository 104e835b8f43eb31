"""The FAISS part of the index: exact search for small corpora, HNSW for large ones."""

from __future__ import annotations

from pathlib import Path

import numpy as np

# Below this many passages an exact scan is both fast (about 1 ms at 20k x 384 dimensions,
# single-threaded) and exact; above it HNSW keeps search in milliseconds at 100k passages.
EXACT_LIMIT = 20_000
# Tuned by `python -m bench` on 100k synthetic e5-like passages (docs/benchmarks.md): with the
# ranking's 256 candidates, M=48 / efConstruction=120 / efSearch=512 gives recall@10 of about
# 0.997 against an exact scan at about 2 ms per search; M=32 / 80 / 128 gave 0.95.
HNSW_NEIGHBOURS = 48
HNSW_EF_CONSTRUCTION = 120
HNSW_EF_SEARCH = 512
# A search for this many queries or fewer runs in the calling thread only. FAISS's OpenMP
# threads gain nothing on one query, and in a process that also runs torch (which has its own
# OpenMP pool spinning after every forward pass) they cost 5-20 ms per search on 2 cores.
SINGLE_THREAD_QUERIES = 4


def build_faiss(vectors: np.ndarray):
    import faiss

    dimension = vectors.shape[1]
    if len(vectors) <= EXACT_LIMIT:
        index = faiss.IndexFlatIP(dimension)
    else:
        index = faiss.IndexHNSWFlat(dimension, HNSW_NEIGHBOURS, faiss.METRIC_INNER_PRODUCT)
        index.hnsw.efConstruction = HNSW_EF_CONSTRUCTION
        index.hnsw.efSearch = HNSW_EF_SEARCH
    if len(vectors):
        index.add(np.ascontiguousarray(vectors, dtype=np.float32))
    return index


def search(index, queries: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """``index.search`` for a few queries, kept in the calling thread (see SINGLE_THREAD_QUERIES)."""
    import faiss

    queries = np.ascontiguousarray(np.asarray(queries, dtype=np.float32).reshape(-1, index.d))
    if len(queries) > SINGLE_THREAD_QUERIES:
        return index.search(queries, k)
    # OpenMP's thread count is per calling thread: this leaves other threads (an index build in
    # the bot's worker thread, for instance) with all cores.
    previous = faiss.omp_get_max_threads()
    faiss.omp_set_num_threads(1)
    try:
        return index.search(queries, k)
    finally:
        faiss.omp_set_num_threads(previous)


class _Vectors:
    """Keeps a FAISS index alive for as long as a numpy view of its stored vectors exists."""

    def __init__(self, index, address: int, shape: tuple[int, int]):
        self.index = index
        self.__array_interface__ = {"shape": shape, "typestr": "<f4", "data": (address, True), "version": 3}


def faiss_vectors_view(index) -> np.ndarray | None:
    """The vectors a flat or HNSW-flat index holds, as a read-only view without a copy.

    At 100k passages a second copy of the vectors (the one the ranking uses for centroids and
    exact re-scoring) would cost 150 MB of the serving process. None for other index types.
    """
    import faiss

    storage = faiss.downcast_index(index.storage) if isinstance(index, faiss.IndexHNSW) else index
    if not isinstance(storage, faiss.IndexFlat):
        return None
    shape = (int(storage.ntotal), int(storage.d))
    if shape[0] == 0:
        return np.zeros(shape, dtype=np.float32)
    view = faiss.rev_swig_ptr(storage.get_xb(), shape[0] * shape[1])
    return np.asarray(_Vectors(index, view.__array_interface__["data"][0], shape))


def write_faiss(index, path: Path) -> None:
    import faiss

    faiss.write_index(index, str(path))


def read_faiss(path: Path):
    import faiss

    index = faiss.read_index(str(path))
    if isinstance(index, faiss.IndexHNSW):
        index.hnsw.efSearch = HNSW_EF_SEARCH
    return index
