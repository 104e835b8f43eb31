"""Issue 16, done-when: three paraphrases of an unanswered question in two languages, asked in the
bot with the real model, are one gap group of 3 in `/gaps` and in `peerbot gaps --json`; once
the coordinators answer one of them through "ask the team", it leaves the open gaps."""

from __future__ import annotations

import json
import shutil
from datetime import UTC, datetime

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.texts import Texts
from index.embedding import DEFAULT_MODEL
from index.engine import Engine
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    COORDINATOR,
    FSI,
    OFFICIAL,
    PDI,
    RLM,
    button,
    make_settings,
    start_bot,
)
from tests.conftest import FIXTURE_KNOWLEDGE

pytestmark = pytest.mark.model
EN = Texts("en")


async def test_paraphrases_in_two_languages_are_one_gap_group(
    emulator, tmp_path, real_embedder, model_data_dir, monkeypatch
):
    knowledge, data_dir = tmp_path / "knowledge", tmp_path / "data"
    shutil.copytree(FIXTURE_KNOWLEDGE, knowledge)
    engine = Engine(real_embedder, data_dir, knowledge)
    engine.rebuild()
    settings = make_settings(
        emulator,
        knowledge,
        data_dir,
        embedding_model=DEFAULT_MODEL,
        model_dir=model_data_dir / "models",
        min_dense_score=engine.config.min_dense_score,
        min_centred_score=engine.config.min_centred_score,
    )
    for name, value in {
        "PEERBOT_KNOWLEDGE_DIR": str(knowledge),
        "PEERBOT_DATA_DIR": str(data_dir),
        "PEERBOT_EMBEDDING_MODEL": DEFAULT_MODEL,
        "PEERBOT_MODEL_DIR": str(model_data_dir / "models"),
    }.items():
        monkeypatch.setenv(name, value)
    monkeypatch.chdir(tmp_path)

    def cli_gaps() -> list[dict]:
        result = CliRunner().invoke(main, ["gaps", "--json"], catch_exceptions=False)
        assert result.exit_code == 0, result.output
        return json.loads(result.output)

    bot = await start_bot(emulator, settings, engine)
    try:
        replies = {}
        for user, text in (
            (OFFICIAL, "electricity cuts"),
            (OFFICIAL, "power outages"),
            (ARAB_OFFICIAL, "انقطاع الكهرباء"),
            (OFFICIAL, "Who won the football match yesterday?"),
        ):
            [replies[text]] = await bot.say(user, text)
            assert replies[text].text in (EN("no_match"), RLM + Texts("ar")("no_match")), text  # an honest "not found"
        [gaps] = await bot.say(ADMIN, "/gaps")
        today = datetime.now(UTC).date().isoformat()
        lines = gaps.text.split("\n")
        group = lines.index(EN("gaps_group", count=3, languages="en, ar", first=today, last=today))
        assert sorted(lines[group + 1 : group + 4]) == sorted(
            f"• {FSI}{q}{PDI}" for q in ("electricity cuts", "power outages", "انقطاع الكهرباء")
        )
        assert EN("gaps_group", count=1, languages="en", first=today, last=today) in lines

        data = cli_gaps()  # while the bot runs: the database is shared (WAL)
        assert [g["count"] for g in data] == [3, 1]
        assert sorted(data[0]["questions"]) == sorted(["electricity cuts", "power outages", "انقطاع الكهرباء"])
        assert data[0]["languages"] == ["en", "ar"]
        assert data[1]["questions"] == ["Who won the football match yesterday?"]

        # The loop closes: the official asks the team, a coordinator's reply answers it, the gap shrinks.
        reply = replies["power outages"]
        await bot.press(OFFICIAL, reply, button(reply, "tq:"), count=1)
        [question] = await bot.expect(COORDINATOR, 0)
        before = len(bot.messages(OFFICIAL))
        bot.emulator.send_text(COORDINATOR, "Hrastnik lent generators to the care home.", reply_to=question.message_id)
        [answer] = await bot.expect(OFFICIAL, before)
        assert answer.text.startswith(EN("team_answer_header"))
        data = cli_gaps()
        assert [g["count"] for g in data] == [2, 1]
        assert sorted(data[0]["questions"]) == sorted(["electricity cuts", "انقطاع الكهرباء"])
    finally:
        await bot.stop()
        bot.database.close()
