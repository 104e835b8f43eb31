"""Crash safety of the index: builds killed with SIGKILL at random points, questions answered
while the index is swapped under them, and damaged index files found at start-up."""

from __future__ import annotations

import os
import random
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from click.testing import CliRunner

from bot.cli import main
from index import store
from index.build import build_index
from index.engine import Engine
from index.search import RankingConfig
from tests.bot_harness import RANKING
from tests.fake_embedder import HashEmbedder

REPO = Path(__file__).resolve().parent.parent
QUESTIONS = [
    "rent exemption for business premises",
    "free transport red cross",
    "food packages for isolated older residents",
    "psychological support line",
    "local food network",
    "utility costs for companies",
]

# The child builds with the slow twin of the test embedder (same vectors and model id), so a
# kill lands in the middle of the work. PAUSE_AT stops it at a chosen step instead, for kills
# exactly between the steps that matter; "random" kills at whatever point the clock says.
CHILD = r"""
import os, sys, time
import tests.slow_embedder
from index import build, store
from index.embedding import load_embedder

knowledge, data, pause_at = sys.argv[1], sys.argv[2], sys.argv[3]
embedder = load_embedder("test-slow:64:0.02", data)

def pause(step):
    print("paused", step, flush=True)
    time.sleep(60)

hook = None
if pause_at == "written":  # all files of the generation written, not yet verified
    hook = lambda folder: pause("written")
if pause_at == "renamed":  # verified and renamed to gen-..., CURRENT not yet replaced
    publish = store.publish
    store.publish = lambda *a, **k: (pause("renamed"), publish(*a, **k))
if pause_at == "published":  # CURRENT replaced, older generations not yet pruned
    prune = store._prune
    store._prune = lambda *a, **k: (pause("published"), prune(*a, **k))
print("ready", flush=True)
build.build_index(knowledge, data, embedder, force=True, on_generation_written=hook)
print("done", flush=True)
"""


def answers(engine: Engine) -> list[list[str]]:
    return [[r.id for r in engine.ask(q).results] for q in QUESTIONS]


def leftovers(data: Path) -> list[str]:
    return sorted(
        p.name for p in store.index_root(data).iterdir() if p.name.startswith((".building-", f".{store.CURRENT}."))
    )


def kill_a_build(knowledge: Path, data: Path, pause_at: str, delay: float) -> str:
    """Start a forced build in a child process and SIGKILL it; returns how far it got."""
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, str(knowledge), str(data), pause_at],
        cwd=REPO,
        env={**os.environ, "PYTHONPATH": str(REPO)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        lines = [child.stdout.readline().strip()]
        assert lines == ["ready"], lines
        if pause_at == "random":
            time.sleep(delay)
        else:
            lines.append(child.stdout.readline().strip())
            assert lines[-1] == f"paused {pause_at}", lines
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=10)
        return child.stdout.read().strip() or lines[-1]
    finally:
        if child.poll() is None:
            child.kill()
        child.stdout.close()


def test_a_build_killed_at_any_point_leaves_a_working_index_and_the_next_build_cleans_up(
    knowledge: Path, tmp_path: Path
):
    baseline_dir = tmp_path / "baseline"
    build_index(knowledge, baseline_dir, HashEmbedder(64))
    baseline = answers(Engine(HashEmbedder(64), baseline_dir, knowledge, RankingConfig(**RANKING)))
    rng = random.Random(7)
    runs = [("written", 0.0), ("renamed", 0.0), ("published", 0.0)] + [
        ("random", rng.uniform(0.1, 0.6)) for _ in range(2)
    ]
    folders = []
    for i, _ in enumerate(runs):  # one data folder per run, so the children can run side by side
        data = tmp_path / f"run-{i}"
        shutil.copytree(baseline_dir, data)
        folders.append(data)
    with ThreadPoolExecutor(max_workers=len(runs)) as pool:
        outcomes = list(
            pool.map(
                lambda args: kill_a_build(knowledge, *args), [(data, at, d) for data, (at, d) in zip(folders, runs)]
            )
        )

    before = store.current_generation(baseline_dir).name
    for data, (pause_at, delay), outcome in zip(folders, runs, outcomes):
        where = f"killed at {pause_at} {delay:.2f}s ({outcome})"
        live = store.current_generation(data)
        assert live is not None, where
        if pause_at in ("written", "renamed"):
            assert live.name == before, where  # not published: the old index serves
        if pause_at == "published":
            assert live.name != before, where  # published just before the kill: the new one serves
        if pause_at == "written":
            assert leftovers(data), where  # the half-written folder is there to be cleaned up
        # The index on disk loads and answers exactly as before the kill.
        assert answers(Engine(HashEmbedder(64), data, knowledge, RankingConfig(**RANKING))) == baseline, where
        # The next build succeeds and removes what the killed one left behind...
        report = build_index(knowledge, data, HashEmbedder(64))
        assert leftovers(data) == [], where
        assert report.generation == store.current_generation(data).name, where
        # ...and the next generation published leaves only the live one and the one before it.
        build_index(knowledge, data, HashEmbedder(64), force=True)
        assert len([p for p in store.index_root(data).iterdir() if p.name.startswith("gen-")]) == 2, where
        assert answers(Engine(HashEmbedder(64), data, knowledge, RankingConfig(**RANKING))) == baseline, where
    assert {o.split()[-1] for o in outcomes[:3]} == {"written", "renamed", "published"}


def test_questions_in_flight_while_the_index_is_swapped_all_get_answers(knowledge: Path, data_dir: Path):
    """50 questions from 8 threads while a rebuild publishes a new practice under them: every
    question gets an answer, some from the old index, some from the new one."""
    engine = Engine(HashEmbedder(64), data_dir, knowledge, RankingConfig(**RANKING))
    engine.rebuild()
    old = engine.index
    (knowledge / "practices" / "kranj-beekeepers-honey.md").write_text(
        (knowledge / "practices" / "tolmin-red-cross-free-transport.md")
        .read_text()
        .replace("id: tolmin-red-cross-free-transport", "id: kranj-beekeepers-honey")
        .replace("municipality: Tolmin", "municipality: Kranj")
    )
    started, swapped = threading.Event(), threading.Event()
    embed, reload = engine.embedder.encode_documents, engine.reload

    def embed_once_questions_fly(texts, *args, **kwargs):
        assert started.wait(10)
        return embed(texts, *args, **kwargs)

    def reload_and_tell():
        index = reload()
        swapped.set()
        return index

    engine.embedder.encode_documents, engine.reload = embed_once_questions_fly, reload_and_tell
    lock = threading.Lock()
    seen: list[tuple[object, object]] = []

    def ask(i: int):
        if i >= 40:
            assert swapped.wait(10)  # the last ten certainly meet the new index
        before = engine.index
        answer = engine.ask(QUESTIONS[i % len(QUESTIONS)])
        with lock:
            seen.append((before, engine.index))
            if len(seen) == 20:
                started.set()  # the rebuild goes on while questions 20-39 are asked
        return answer

    with ThreadPoolExecutor(max_workers=8) as pool:
        rebuild = pool.submit(engine.rebuild)
        futures = [pool.submit(ask, i) for i in range(50)]
        results = [f.result(timeout=30) for f in futures]
        report = rebuild.result(timeout=30)
    assert report.changed and report.practices == 7 and engine.index is not old
    assert len(results) == 50 and all(a.results and a.confident for a in results)
    by_old = sum(1 for before, after in seen if before is after is old)
    by_new = sum(1 for before, after in seen if before is after is engine.index)
    assert by_old >= 20 and by_new >= 10 and len(seen) == 50


# -- damaged or missing index files at start-up ----------------------------------------------


def _current(env) -> Path:
    return store.current_generation(Path(env["PEERBOT_DATA_DIR"]))


DAMAGE = {
    "garbage faiss": lambda g: (g / store.FAISS_NAME).write_bytes(b"garbage"),
    "missing faiss": lambda g: (g / store.FAISS_NAME).unlink(),
    "missing bm25": lambda g: shutil.rmtree(g / store.BM25_DIR),
    "truncated bm25": lambda g: (g / store.BM25_DIR / "params.index.json").write_text("{"),
}


def test_a_damaged_index_is_reported_at_start_up_with_the_command_that_fixes_it(env, monkeypatch):
    runner = CliRunner()
    assert runner.invoke(main, ["index"]).exit_code == 0
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAH-not-used-the-index-check-comes-first")
    for i, (damage, harm) in enumerate(DAMAGE.items()):
        command = ["ask", "rent exemption"] if i % 2 else ["run"]
        generation = _current(env)
        harm(generation)
        result = runner.invoke(main, command)
        assert result.exit_code == 1, damage
        assert re.fullmatch(
            rf"Error: the index in {re.escape(str(generation))} is damaged or incomplete \(.+\); "
            r"run `peerbot index --force` to rebuild it\n",
            result.output,
            re.DOTALL,
        ), (damage, result.output)
        assert "Traceback" not in result.output, damage
        fixed = runner.invoke(main, ["index", "--force"])
        assert fixed.exit_code == 0 and fixed.output.startswith("Indexed 6 practices"), damage
    assert runner.invoke(main, ["ask", "rent exemption"]).exit_code == 0


def test_a_damaged_index_database_is_rebuilt_by_the_next_start(env):
    runner = CliRunner()
    runner.invoke(main, ["index"])
    for damage in ("garbage", "truncated"):
        db = _current(env) / store.DB_NAME
        db.write_bytes({"garbage": os.urandom(8192), "truncated": db.read_bytes()[:4096]}[damage])
        result = runner.invoke(main, ["ask", "rent exemption for business premises", "--json"])
        assert result.exit_code == 0, (damage, result.output)
        assert "index updated: 6 practices, 32 passages (32 embedded)" in result.output, damage
        assert '"hrastnik-rent-relief-for-business-premises"' in result.output, damage


def test_a_current_pointer_outside_the_index_folder_is_ignored(env):
    runner = CliRunner()
    runner.invoke(main, ["index"])
    data = Path(env["PEERBOT_DATA_DIR"])
    (data / "elsewhere").mkdir()
    for pointer in ("../elsewhere", "/etc", ""):
        (store.index_root(data) / store.CURRENT).write_text(pointer + "\n")
        assert store.current_generation(data) is None
    result = runner.invoke(main, ["ask", "rent exemption for business premises"])
    assert result.exit_code == 0 and "index updated" in result.output  # rebuilt, not read from elsewhere


def test_no_index_at_all_says_to_run_peerbot_index(env, monkeypatch, knowledge):
    """`ask` and `run` build a missing index themselves; only a folder they cannot build from
    leaves them with nothing, and then they say what to run."""
    shutil.rmtree(knowledge / "practices")
    for command in (["ask", "rent"], ["run"]):
        result = CliRunner().invoke(main, command)
        assert result.exit_code == 1
        assert result.output.splitlines()[-1].startswith(
            f"Error: no index in {store.index_root(Path(env['PEERBOT_DATA_DIR']))}: run `peerbot index`"
        )
