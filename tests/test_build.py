"""Index builds: incremental, model-aware, atomic, and never changed by a bad file."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from index import store
from index.build import KnowledgeInvalid, build_index
from index.engine import Engine, ModelMismatch
from index.search import IndexCorrupt, IndexMissing, SearchIndex
from tests.fake_embedder import HashEmbedder


def test_first_build_embeds_everything_and_records_metadata(
    knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder
):
    report = build_index(knowledge, data_dir, fake_embedder)
    assert report.changed and report.practices == 6
    assert report.embedded == report.passages and report.reused == 0
    generation = store.current_generation(data_dir)
    assert generation is not None and generation.name == report.generation
    db = store.open_db(generation)
    meta = store.read_meta(db)
    assert meta["model_id"] == "test-hash:64" and meta["dimension"] == "64" and meta["practices"] == "6"
    assert {row["model_id"] for row in db["vectors"].rows} == {"test-hash:64"}
    assert db["sources"].count == 6 and db["passages"].count == report.passages
    assert [m.name for m in store.migrations.applied(db)] == ["m001_initial", "m002_vector_engine", "m003_translations"]
    assert {row["engine"] for row in db["vectors"].rows} == {"test-hash"} and meta["query_engine"] == "test-hash"
    db.close()


def test_unchanged_knowledge_is_not_rebuilt(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    first = build_index(knowledge, data_dir, fake_embedder)
    second = build_index(knowledge, data_dir, fake_embedder)
    assert not second.changed and second.generation == first.generation and second.embedded == 0


def test_changing_one_file_re_embeds_only_its_changed_passages(
    knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder
):
    first = build_index(knowledge, data_dir, fake_embedder)
    path = knowledge / "practices" / "sevnica-local-food-network.md"
    path.write_text(path.read_text().replace("Buying local was framed", "Buying local food was framed"))
    second = build_index(knowledge, data_dir, fake_embedder)
    assert second.changed and second.generation != first.generation
    assert second.embedded == 1 and second.reused == second.passages - 1


def test_the_index_serves_the_taxonomy_it_was_built_with(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    build_index(knowledge, data_dir, fake_embedder)
    assert SearchIndex.load(data_dir).taxonomy.label("topics", "volunteering", "en") == "Volunteering"
    path = knowledge / "taxonomy.yaml"
    path.write_text(path.read_text().replace("{en: Volunteering,", "{en: Volunteers and helpers,"))
    report = build_index(knowledge, data_dir, fake_embedder)
    assert report.changed and report.embedded == 0  # a label is no passage: every vector is reused
    assert SearchIndex.load(data_dir).taxonomy.label("topics", "volunteering", "en") == "Volunteers and helpers"


def test_changing_the_model_forces_a_full_rebuild(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    build_index(knowledge, data_dir, fake_embedder)
    other = HashEmbedder(64, salt="other-model")
    report = build_index(knowledge, data_dir, other)
    assert report.changed and report.reused == 0 and report.embedded == report.passages
    with pytest.raises(ModelMismatch, match="run `peerbot index`"):
        Engine(fake_embedder, data_dir, knowledge).reload()


def test_a_bad_file_leaves_the_index_untouched(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    first = build_index(knowledge, data_dir, fake_embedder)
    before = sorted(p.name for p in store.index_root(data_dir).iterdir())
    (knowledge / "practices" / "broken.md").write_text("---\nid: broken\n---\n")
    with pytest.raises(KnowledgeInvalid) as caught:
        build_index(knowledge, data_dir, fake_embedder)
    assert any("broken.md" in str(p) for p in caught.value.problems)
    assert store.current_generation(data_dir).name == first.generation
    assert sorted(p.name for p in store.index_root(data_dir).iterdir()) == before


def test_a_failed_build_leaves_the_old_index_serving(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    first = build_index(knowledge, data_dir, fake_embedder)
    engine = Engine(fake_embedder, data_dir, knowledge)
    before = [r.id for r in engine.ask("rent for business premises").results]
    path = knowledge / "practices" / "sevnica-local-food-network.md"
    path.write_text(path.read_text().replace("Buying local", "Buying locally"))

    def crash(folder: Path):
        raise OSError("disk full")

    with pytest.raises(OSError, match="disk full"):
        build_index(knowledge, data_dir, fake_embedder, on_generation_written=crash)
    assert store.current_generation(data_dir).name == first.generation
    engine.reload()
    assert [r.id for r in engine.ask("rent for business premises").results] == before
    # The next build succeeds and cleans up the abandoned folder.
    report = build_index(knowledge, data_dir, fake_embedder)
    assert report.changed
    assert not [p for p in store.index_root(data_dir).iterdir() if p.name.startswith(".building-")]


def test_only_two_generations_are_kept(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    path = knowledge / "practices" / "sevnica-local-food-network.md"
    for i in range(4):
        path.write_text(path.read_text() + f"\nEdit {i}.\n")
        build_index(knowledge, data_dir, fake_embedder)
    generations = [p for p in store.index_root(data_dir).iterdir() if p.name.startswith("gen-")]
    assert len(generations) == 2
    assert store.current_generation(data_dir) in generations


def test_missing_index_says_how_to_build_it(data_dir: Path):
    with pytest.raises(IndexMissing, match="run `peerbot index` to build it"):
        SearchIndex.load(data_dir)


def test_corrupt_faiss_file_is_detected(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    build_index(knowledge, data_dir, fake_embedder)
    (store.current_generation(data_dir) / store.FAISS_NAME).write_bytes(b"garbage")
    with pytest.raises(IndexCorrupt, match=r"run `peerbot index --force` to rebuild it"):
        SearchIndex.load(data_dir)
    # --force rebuilds from the knowledge and serves again.
    build_index(knowledge, data_dir, fake_embedder, force=True)
    assert len(SearchIndex.load(data_dir).practices) == 6


def test_corrupt_database_is_detected(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    build_index(knowledge, data_dir, fake_embedder)
    db_path = store.current_generation(data_dir) / store.DB_NAME
    with sqlite3.connect(db_path) as conn:
        conn.execute("drop table passages")
    with pytest.raises(IndexCorrupt, match="damaged or incomplete"):
        SearchIndex.load(data_dir)


def test_engine_swaps_in_a_rebuilt_index(knowledge: Path, data_dir: Path, fake_embedder: HashEmbedder):
    engine = Engine(fake_embedder, data_dir, knowledge)
    engine.rebuild()
    old = engine.index
    (knowledge / "practices" / "kranj-playground-test.md").write_text(
        (knowledge / "practices" / "sevnica-local-food-network.md")
        .read_text()
        .replace("id: sevnica-local-food-network", "id: kranj-playground-test")
        .replace("municipality: Sevnica", "municipality: Kranj")
    )
    report = engine.rebuild()
    assert report.changed and engine.index is not old
    assert "kranj-playground-test" in engine.index.practices and "kranj-playground-test" not in old.practices
