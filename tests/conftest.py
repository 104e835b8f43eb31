from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest
from hypothesis import settings as hypothesis_settings

from tests.fake_embedder import HASH_RANKING, HashEmbedder  # importing registers the "test-hash" embedder

# CI replays the same examples every run, so a submission lands or fails on its own code; local
# runs keep exploring new examples (that is how the explicit-tag YAML crash was found).
hypothesis_settings.register_profile("ci", derandomize=True)
if os.environ.get("CI"):
    hypothesis_settings.load_profile("ci")

# The Telegram fixtures (emulator, built_index, engine, settings, bot) and the emulator's own.
pytest_plugins = ["tests.tg_emulator", "tests.bot_harness"]  # the emulator first: the harness imports it

FIXTURE_KNOWLEDGE = Path(__file__).parent / "fixtures" / "knowledge"


@pytest.fixture
def knowledge(tmp_path: Path) -> Path:
    """A private, writable copy of the test knowledge folder."""
    target = tmp_path / "knowledge"
    shutil.copytree(FIXTURE_KNOWLEDGE, target)
    return target


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    return tmp_path / "data"


@pytest.fixture
def fake_embedder() -> HashEmbedder:
    return HashEmbedder(64)


@pytest.fixture
def env(monkeypatch, knowledge: Path, data_dir: Path) -> dict[str, str]:
    """Settings for CLI tests: the copied knowledge, a fresh data folder and the fast embedder."""
    values = {
        "PEERBOT_KNOWLEDGE_DIR": str(knowledge),
        "PEERBOT_DATA_DIR": str(data_dir),
        "PEERBOT_EMBEDDING_MODEL": "test-hash:64",
        "PEERBOT_MIN_DENSE_SCORE": str(HASH_RANKING["min_dense_score"]),
        "PEERBOT_MIN_CENTRED_SCORE": str(HASH_RANKING["min_centred_score"]),
    }
    for name in ("TELEGRAM_BOT_TOKEN", "PEERBOT_ALLOWED_USERS", "PEERBOT_ADMINS", "PEERBOT_COORDINATORS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(knowledge.parent)  # no stray .env from the repo
    return values


@pytest.fixture(scope="session")
def model_data_dir(tmp_path_factory) -> Path:
    """One data folder per test session holding the converted default model (converted once)."""
    from index.model_cache import ensure_default_model

    folder = tmp_path_factory.mktemp("model-data")
    ensure_default_model(folder / "models")
    return folder


@pytest.fixture(scope="session")
def real_embedder(model_data_dir: Path):
    from index.embedding import DEFAULT_MODEL, load_embedder

    return load_embedder(DEFAULT_MODEL, model_data_dir / "models")
