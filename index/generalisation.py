"""Generalisation protocol (issue 12): the ranking measured on knowledge nobody tuned it for.

``python -m index.generalisation --models-dir data/models`` builds variants of ``knowledge/``
into temporary folders, indexes each with the real build (vectors of unchanged passages are
reused through :class:`CachedEmbedder`, so a variant costs only its new passages), and reports
Recall@1/@3, MRR, answered and no-answer per language, per variant, per approach of
``peerbot eval --compare``, side by side, on the **held-out fold** of the questions.

Variants (``variant_plans``):
- ``shipped``: the files as they are;
- ``half-1``, ``half-2``, ``half-3``: Arabic and Slovenian titles, summaries and transferability
  (and any translated body or ``translations`` field) removed from a random half of the
  practices, one seed each: what coordinators who write English only add;
- ``english-only``: the same removed from every practice;
- ``sl-bodies``: a few practices whose body is Slovenian (faithful translations of their English
  bodies in ``tests/fixtures/sl_bodies/``), the rest as shipped.

Folds: every question is put in fold A or B by a hash of its relevant practices (in-scope: so that
translations of one question, which share their labels, land in the same fold) or of its text
(out of scope). Every threshold or learned parameter is chosen on fold A of the *tuning variants*
(``shipped`` and ``half-1``) and reported on fold B of every variant; ``half-2``, ``half-3``,
``english-only`` and ``sl-bodies`` are corpora the tuning never saw.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import random
import re
import shutil
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import yaml

from .evaluate import EVAL_DEPTH, Question, read_questions, summarise
from .knowledge import practice_files

STRIPPED_LANGUAGES = ("ar", "sl")
MULTILINGUAL_FIELDS = ("title", "summary", "transferability")
TRANSLATION_MARKER = re.compile(r"^<!--\s*translation:\s*[a-z]{2}\s*-->\s*$", re.MULTILINE)
HALF_SEEDS = (1, 2, 3)
TUNING_VARIANTS = ("shipped", "half-1")
TUNING_FOLD = "A"
HELD_OUT_FOLD = "B"
DEFAULT_QUESTIONS = (Path("tests/eval/questions.jsonl"), Path("tests/eval/out_of_scope.jsonl"))
DEFAULT_SL_BODIES = Path("tests/fixtures/sl_bodies")
DEFAULT_APPROACH = "hybrid + centring (default)"


# -- variants of the knowledge ------------------------------------------------------------


def split_practice_file(text: str) -> tuple[dict, str]:
    """A practice file -> (front matter as a dict, body). The loader validates it again later."""
    lines = text.split("\n")
    if not lines or lines[0].strip() != "---":
        raise ValueError("no front matter")
    end = next(i for i in range(1, len(lines)) if lines[i].strip() in ("---", "..."))
    return yaml.safe_load("\n".join(lines[1:end])) or {}, "\n".join(lines[end + 1 :])


def join_practice_file(meta: dict, body: str) -> str:
    front = yaml.safe_dump(meta, allow_unicode=True, sort_keys=False, width=100000)
    return f"---\n{front}---\n{body}"


def english_only(meta: dict, body: str) -> tuple[dict, str]:
    """What an English-only coordinator writes: no Arabic or Slovenian title, summary, transferability,
    no ``translations`` field and no translated body block (the body is cut at the first marker)."""
    meta = dict(meta)
    for name in MULTILINGUAL_FIELDS:
        if isinstance(meta.get(name), dict):
            meta[name] = {lang: text for lang, text in meta[name].items() if lang not in STRIPPED_LANGUAGES}
            if not meta[name]:
                del meta[name]
    meta.pop("translations", None)
    return meta, without_translated_blocks(body)


def without_translated_blocks(body: str) -> str:
    marker = TRANSLATION_MARKER.search(body)
    return body[: marker.start()].rstrip() + "\n" if marker else body


def with_body(meta: dict, body: str, language: str) -> tuple[dict, str]:
    """The practice with another body (in ``language``); translations of the old body go with it."""
    meta = dict(meta)
    meta["language"] = language
    meta.pop("translations", None)
    return meta, body


@dataclass(frozen=True)
class VariantPlan:
    name: str
    english_only: frozenset[str] = frozenset()  # practice ids stripped of ar/sl
    sl_bodies: frozenset[str] = frozenset()  # practice ids given their Slovenian body


def variant_plans(practice_ids: list[str], sl_body_ids: list[str]) -> list[VariantPlan]:
    ids = sorted(practice_ids)
    plans = [VariantPlan("shipped")]
    for seed in HALF_SEEDS:
        plans.append(VariantPlan(f"half-{seed}", frozenset(random.Random(seed).sample(ids, len(ids) // 2))))  # noqa: S311 - a reproducible split
    plans.append(VariantPlan("english-only", frozenset(ids)))
    if sl_body_ids:
        plans.append(VariantPlan("sl-bodies", sl_bodies=frozenset(sl_body_ids)))
    return plans


def read_sl_bodies(folder: Path) -> dict[str, str]:
    """``<practice-id>.md`` -> its Slovenian body (Markdown, the same ``##`` sections as the English one)."""
    if not Path(folder).is_dir():
        return {}
    return {
        path.stem: path.read_text(encoding="utf-8")
        for path in sorted(Path(folder).glob("*.md"))
        if path.name.lower() != "readme.md"
    }


def write_variant(knowledge_dir: Path, out_dir: Path, plan: VariantPlan, sl_bodies: dict[str, str]) -> Path:
    """A copy of ``knowledge_dir`` changed as ``plan`` says, in ``out_dir`` (replaced if it exists)."""
    knowledge_dir, out_dir = Path(knowledge_dir), Path(out_dir)
    if out_dir.exists():
        shutil.rmtree(out_dir)
    shutil.copytree(knowledge_dir, out_dir)
    for path in practice_files(out_dir):
        meta, body = split_practice_file(path.read_text(encoding="utf-8"))
        pid = meta.get("id", path.stem)
        changed = False
        if pid in plan.english_only:
            meta, body = english_only(meta, body)
            changed = True
        if pid in plan.sl_bodies:
            meta, body = with_body(meta, sl_bodies[pid], "sl")
            changed = True
        if changed:
            path.write_text(join_practice_file(meta, body), encoding="utf-8")
    return out_dir


# -- an embedder that remembers -----------------------------------------------------------


class CachedEmbedder:
    """Wraps an embedder: a text seen before (in any variant) is not encoded again.

    The variants share most passages, so the first variant pays for the corpus and the others only
    for what they change. With ``cache_file`` the vectors survive between runs (keyed by model id).
    """

    def __init__(self, inner, cache_file: Path | None = None):
        self.inner = inner
        self.model_id = inner.model_id
        self.dimension = inner.dimension
        self.engine = getattr(inner, "engine", type(inner).__name__)
        self.cache_file = Path(cache_file) if cache_file else None
        self._vectors: dict[str, np.ndarray] = {}
        self.encoded = 0  # texts actually sent to the model
        if self.cache_file and self.cache_file.is_file():
            with np.load(self.cache_file, allow_pickle=False) as data:
                if str(data["model_id"]) == self.model_id:
                    self._vectors = dict(zip(data["keys"].tolist(), data["vectors"]))

    @staticmethod
    def _key(kind: str, text: str) -> str:
        return hashlib.sha256(f"{kind}\x1f{text}".encode()).hexdigest()

    def _encode(self, kind: str, texts: list[str], encode: Callable[[list[str]], np.ndarray]) -> np.ndarray:
        keys = [self._key(kind, t) for t in texts]
        missing = sorted({k: t for k, t in zip(keys, texts) if k not in self._vectors}.items())
        if missing:
            fresh = np.asarray(encode([t for _, t in missing]), dtype=np.float32)
            self._vectors.update((k, fresh[i]) for i, (k, _) in enumerate(missing))
            self.encoded += len(missing)
        if not texts:
            return np.zeros((0, self.dimension), np.float32)
        return np.stack([self._vectors[k] for k in keys])

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        return self._encode("query", list(texts), self.inner.encode_queries)

    def encode_documents(self, texts, batch_size: int = 32, progress=None) -> np.ndarray:
        vectors = self._encode("passage", list(texts), lambda t: self.inner.encode_documents(t, batch_size=batch_size))
        if progress:
            progress(len(texts))
        return vectors

    def save(self) -> None:
        if not self.cache_file or not self._vectors:
            return
        self.cache_file.parent.mkdir(parents=True, exist_ok=True)
        keys = sorted(self._vectors)
        partial = self.cache_file.with_suffix(".partial.npz")
        np.savez(
            partial, model_id=self.model_id, keys=np.array(keys), vectors=np.stack([self._vectors[k] for k in keys])
        )
        partial.replace(self.cache_file)


# -- folds of the questions ---------------------------------------------------------------


def question_fold(question: Question) -> str:
    """'A' or 'B', reproducibly: by the labels for in-scope questions (translations share them)."""
    key = "\x1f".join(sorted(question.relevant)) if question.relevant else "oos\x1f" + question.question
    return "AB"[int(hashlib.sha256(key.encode()).hexdigest()[:8], 16) % 2]


def in_fold(questions: list[Question], fold: str) -> list[int]:
    return [i for i, q in enumerate(questions) if question_fold(q) == fold]


# -- the protocol -------------------------------------------------------------------------


@dataclass
class VariantRun:
    """One variant indexed: the engine and, per approach, every question's answer."""

    plan: VariantPlan
    engine: object
    answers: dict[str, list]  # approach -> answers in question order


def run_variants(
    knowledge_dir: Path,
    questions: list[Question],
    embedder,
    work_dir: Path,
    approaches: dict | None = None,
    sl_bodies: dict[str, str] | None = None,
    only: list[str] | None = None,
) -> list[VariantRun]:
    """Index every variant (reusing vectors through ``embedder``, a CachedEmbedder) and answer every question."""
    from .engine import Engine
    from .evaluate import comparison_variants
    from .knowledge import load_knowledge

    sl_bodies = sl_bodies if sl_bodies is not None else {}
    ids = [p.id for p in load_knowledge(Path(knowledge_dir)).practices]
    plans = [p for p in variant_plans(ids, [i for i in sorted(sl_bodies) if i in ids]) if not only or p.name in only]
    vectors = embedder.encode_queries([q.question for q in questions])
    runs = []
    for plan in plans:
        folder = write_variant(knowledge_dir, Path(work_dir) / plan.name / "knowledge", plan, sl_bodies)
        engine = Engine(embedder, Path(work_dir) / plan.name / "data", folder)
        engine.rebuild(progress=False)
        configs = approaches if approaches is not None else comparison_variants(engine.config)
        answers = {
            name: [engine.answer_with_vector(q.question, v, EVAL_DEPTH, config=c) for q, v in zip(questions, vectors)]
            for name, c in configs.items()
        }
        runs.append(VariantRun(plan, engine, answers))
    return runs


def read_hard(paths) -> set[str]:
    """The questions marked ``"hard": true`` (out of scope, but in the knowledge's words)."""
    hard = set()
    for path in paths:
        for line in Path(path).read_text(encoding="utf-8").splitlines():
            if line.strip():
                row = json.loads(line)
                if row.get("hard"):
                    hard.add(row["question"])
    return hard


def fold_table(runs: list[VariantRun], questions: list[Question], fold: str, hard: set[str] = frozenset()) -> dict:
    """variant -> approach -> language -> metrics, on the questions of ``fold``; "all" also has
    ``hard_no_answer``, the share of the hard out-of-scope questions flagged not confident."""
    chosen = in_fold(questions, fold)
    qs = [questions[i] for i in chosen]
    hard_ones = [k for k, i in enumerate(chosen) if questions[i].question in hard and not questions[i].relevant]
    table = {}
    for run in runs:
        table[run.plan.name] = {}
        for name, answers in run.answers.items():
            picked = [answers[i] for i in chosen]
            metrics = summarise(qs, picked)
            if hard_ones:
                metrics["all"]["hard_no_answer"] = round(
                    sum(not picked[k].confident for k in hard_ones) / len(hard_ones), 4
                )
            table[run.plan.name][name] = metrics
    return table


COLUMNS = (
    ("recall@1", "R@1"),
    ("recall@3", "R@3"),
    ("mrr", "MRR"),
    ("answered_rate", "answered"),
    ("no_answer_accuracy", "no-answer"),
)


def format_table(table: dict, languages=("en", "ar", "sl")) -> str:
    """Markdown: one row per approach and variant, each language's metrics side by side."""
    head = ["approach", "variant"]
    for lang in languages:
        head += [f"{lang} {short}" for _, short in COLUMNS]
    head += ["answered", "no-answer", "hard no-answer"]
    lines = ["| " + " | ".join(head) + " |", "|---|---|" + "---:|" * (len(head) - 2)]
    approaches = list(next(iter(table.values())))
    for approach in approaches:
        for variant, by_approach in table.items():
            metrics = by_approach[approach]
            cells = [approach, variant]
            for lang in languages:
                row = metrics.get(lang, {})
                cells += [_cell(row.get(key)) for key, _ in COLUMNS]
            cells += [_cell(metrics["all"].get(k)) for k in ("answered_rate", "no_answer_accuracy", "hard_no_answer")]
            lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def worst(table: dict, approach: str, key: str, languages=("en", "ar", "sl")) -> tuple[float, str, str]:
    """The lowest value of ``key`` over variants and languages for ``approach``: (value, variant, lang)."""
    return min(
        (by_approach[approach][lang][key], variant, lang)
        for variant, by_approach in table.items()
        for lang in languages
        if key in by_approach[approach].get(lang, {})
    )


def _cell(value) -> str:
    return "-" if value is None else f"{value:.3f}"


def calibration_rows(runs: list[VariantRun], questions: list[Question], approach: str) -> list[tuple]:
    """(question, language, features, in scope) for fold A of the tuning variants: what answerability is fitted on."""
    rows = []
    for run in runs:
        if run.plan.name not in TUNING_VARIANTS:
            continue
        for i in in_fold(questions, TUNING_FOLD):
            answer = run.answers[approach][i]
            rows.append((questions[i].question, answer.language, answer.diagnostics, bool(questions[i].relevant)))
    return rows


def calibrate(runs: list[VariantRun], questions: list[Question], approach: str = DEFAULT_APPROACH):
    from .answerability import E5_ANSWERABILITY, fit

    return fit(calibration_rows(runs, questions, approach), E5_ANSWERABILITY.model_prefix)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m index.generalisation", description=__doc__.splitlines()[0])
    parser.add_argument("--knowledge", type=Path, default=Path("knowledge"))
    parser.add_argument("--questions", type=Path, nargs="+", default=list(DEFAULT_QUESTIONS))
    parser.add_argument("--sl-bodies", type=Path, default=DEFAULT_SL_BODIES)
    parser.add_argument("--models-dir", type=Path, default=Path("data/models"), help="the converted model's folder")
    parser.add_argument("--cache", type=Path, default=None, help="an .npz file that keeps vectors between runs")
    parser.add_argument("--fold", choices=("A", "B"), default=HELD_OUT_FOLD, help="the fold reported (B: held out)")
    parser.add_argument("--variant", action="append", help="only this variant (repeatable)")
    parser.add_argument("--json", action="store_true", help="print the table as JSON")
    parser.add_argument(
        "--calibrate", action="store_true", help="fit answerability on fold A of the tuning variants and print it"
    )
    args = parser.parse_args(argv)
    from .embedding import DEFAULT_MODEL, load_embedder

    questions = [q for path in args.questions for q in read_questions(path)]
    embedder = CachedEmbedder(load_embedder(DEFAULT_MODEL, args.models_dir), args.cache)
    with tempfile.TemporaryDirectory(prefix="peerbot-variants-") as work:
        runs = run_variants(
            args.knowledge, questions, embedder, Path(work), None, read_sl_bodies(args.sl_bodies), args.variant
        )
    embedder.save()
    if args.calibrate:
        result = calibrate(runs, questions)
        print(
            f"{result.answerability!r}\nmin_confidence={result.threshold} l2={result.l2} out-of-fold={result.out_of_fold}"
        )
        return
    table = fold_table(runs, questions, args.fold, read_hard(args.questions))
    print(json.dumps(table, ensure_ascii=False) if args.json else format_table(table))


if __name__ == "__main__":
    main()
