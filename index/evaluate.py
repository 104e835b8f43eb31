"""Retrieval quality on a JSON-lines question file: Recall@k, MRR, nDCG@5, out-of-scope accuracy.

Definitions (binary relevance, per question, then averaged):
- recall@k = 1 when at least one relevant practice is in the top k, else 0 (an official is
  served by one good example in the cards they see; nDCG@5 rewards finding several);
- mrr = 1 / rank of the first relevant practice in the top 10 (0 if none);
- ndcg@5 = DCG of the top 5 / ideal DCG;
- no_answer_accuracy = share of out-of-scope questions (``"relevant": []``) flagged not confident;
- answered_rate = share of in-scope questions flagged confident.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

from .engine import Answer, Engine
from .errors import EvalFileError
from .followup import read_conversation
from .search import RankingConfig

EVAL_DEPTH = 10


@dataclass
class Question:
    question: str  # for a conversation, its last turn
    lang: str
    relevant: list[str]
    turns: list[str] | None = None  # a conversation: the last turn is read after the earlier ones


def read_questions(path: Path) -> list[Question]:
    questions = []
    try:
        lines = Path(path).read_text(encoding="utf-8").splitlines()
    except (OSError, UnicodeDecodeError) as exc:
        raise EvalFileError(f"{path}: cannot read ({exc})") from exc
    for number, line in enumerate(lines, 1):
        if not line.strip():
            continue
        try:
            row = json.loads(line)
            lang, relevant = str(row.get("lang") or "und"), [str(r) for r in row.get("relevant", [])]
            if "turns" in row and "question" not in row:
                turns = [str(t) for t in row["turns"]]
                if not turns or not all(t.strip() for t in turns):
                    raise ValueError("turns must be a non-empty list of questions")
                questions.append(Question(turns[-1], lang, relevant, turns))
            else:
                questions.append(Question(str(row["question"]), lang, relevant))
        except (ValueError, KeyError, TypeError) as exc:
            raise EvalFileError(
                f'{path}:{number}: not a question line ({exc}); expected {{"question": str, "lang": str, "relevant": [ids]}}'
                ' or "turns": [str, ...] instead of "question"'
            ) from exc
    if not questions:
        raise EvalFileError(f"{path}: no questions (one JSON object per line)")
    return questions


def score_question(ranked: list[str], relevant: list[str]) -> dict[str, float]:
    rel = set(relevant)
    first = next((i for i, pid in enumerate(ranked[:EVAL_DEPTH], 1) if pid in rel), None)
    dcg = sum(1 / math.log2(i + 1) for i, pid in enumerate(ranked[:5], 1) if pid in rel)
    ideal = sum(1 / math.log2(i + 1) for i in range(1, min(len(rel), 5) + 1))
    return {
        "recall@1": float(bool(rel & set(ranked[:1]))),
        "recall@3": float(bool(rel & set(ranked[:3]))),
        "recall@5": float(bool(rel & set(ranked[:5]))),
        "mrr": 1 / first if first else 0.0,
        "ndcg@5": dcg / ideal,
    }


def summarise(questions: list[Question], answers: list[Answer]) -> dict[str, dict[str, float]]:
    groups: dict[str, list[tuple[Question, Answer]]] = {"all": []}
    for q, a in zip(questions, answers):
        groups["all"].append((q, a))
        groups.setdefault(q.lang, []).append((q, a))
    metrics = {}
    for name, pairs in groups.items():
        in_scope = [(q, a) for q, a in pairs if q.relevant]
        out_scope = [(q, a) for q, a in pairs if not q.relevant]
        row: dict[str, float] = {"questions": len(pairs), "in_scope": len(in_scope), "out_of_scope": len(out_scope)}
        if in_scope:
            scores = [score_question([r.id for r in a.results], q.relevant) for q, a in in_scope]
            for key in scores[0]:
                row[key] = round(sum(s[key] for s in scores) / len(scores), 4)
            row["answered_rate"] = round(sum(a.confident for _, a in in_scope) / len(in_scope), 4)
        if out_scope:
            row["no_answer_accuracy"] = round(sum(not a.confident for _, a in out_scope) / len(out_scope), 4)
        metrics[name] = row
    return metrics


def evaluate(
    engine: Engine, questions: list[Question], config: RankingConfig | None = None
) -> tuple[dict, list[Answer]]:
    single = [k for k, q in enumerate(questions) if q.turns is None]
    answers: list[Answer | None] = [None] * len(questions)
    for k, answer in zip(single, engine.ask_many([questions[k].question for k in single], EVAL_DEPTH, config)):
        answers[k] = answer
    for k, q in enumerate(questions):
        if q.turns is not None:
            answers[k] = ask_conversation(engine, q.turns, EVAL_DEPTH, config)
    return summarise(questions, answers), answers


def ask_conversation(engine: Engine, turns: list[str], top_k: int, config: RankingConfig | None = None) -> Answer:
    """The answer to the last turn read after the earlier ones, as the bot reads it (index/followup.py)."""
    reading = read_conversation(turns, engine.index.local_places)
    return engine.ask(reading.question, top_k=top_k, filters=reading.filters, language=reading.language, config=config)


# The approaches compared side by side by `peerbot eval --compare` (docs/quality.md).
def comparison_variants(base: RankingConfig) -> dict[str, RankingConfig]:
    return {
        "bm25 only": base.variant(dense=False, centring=False),
        "dense only": base.variant(lexical=False, centring=False),
        "dense + centring": base.variant(lexical=False),
        "hybrid": base.variant(centring=False),
        "hybrid + centring (default)": base,
    }


def compare(engine: Engine, questions: list[Question], variants: dict[str, RankingConfig]) -> dict[str, dict]:
    """Every variant on the same questions and the same query vectors, in one run."""
    places = engine.index.local_places
    readings = [read_conversation(q.turns or [q.question], places) for q in questions]
    vectors = engine.embedder.encode_queries([r.question for r in readings])
    results = {}
    for name, config in variants.items():
        answers = [
            engine.answer_with_vector(r.question, v, EVAL_DEPTH, r.filters, r.language if q.turns else None, config)
            for q, r, v in zip(questions, readings, vectors)
        ]
        results[name] = summarise(questions, answers)
    return results


def report_json(questions: list[Question], answers: list[Answer], metrics: dict) -> dict:
    return {
        "metrics": metrics,
        "questions": [
            {
                "question": q.question,
                "lang": q.lang,
                "confident": a.confident,
                "results": [
                    {"id": r.id, "score": round(r.hit.score, 4), "sources": [s.url for s in r.practice.sources]}
                    for r in a.results
                ],
            }
            for q, a in zip(questions, answers)
        ],
    }
