"""The CLI, tested on exact output (the pattern of sqlite-utils' tests/test_cli.py)."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from click.testing import CliRunner

from bot.cli import main


def invoke(*args: str, input: str | None = None):
    return CliRunner().invoke(main, list(args), input=input, catch_exceptions=False)


def test_check_clean_folder(env, knowledge: Path):
    result = invoke("check")
    assert result.exit_code == 0
    assert result.output == f"OK: 6 practice(s) in {knowledge}, no problems.\n"


def test_check_reports_every_problem_and_exits_1(env, knowledge: Path):
    (knowledge / "practices" / "a.md").write_text("nothing\n")
    (knowledge / "practices" / "b.md").write_bytes(b"---\nid: b\n---\n\xff\n")
    result = invoke("check", str(knowledge))
    assert result.exit_code == 1
    assert result.output == (
        f"{knowledge}/practices/a.md: -: no front matter (the file must start with a line '---', then YAML fields, then a closing '---')\n"
        f"{knowledge}/practices/b.md: -: not UTF-8 text (invalid byte at line 4; save the file as UTF-8)\n"
        "2 problem(s) in 2 file(s); 6 of 8 practice file(s) are valid.\n"
    )


def test_check_missing_folder(env, tmp_path: Path):
    result = invoke("check", str(tmp_path / "nope"))
    assert result.exit_code == 1
    assert result.output == (
        f"{tmp_path / 'nope'}: -: knowledge folder does not exist (set PEERBOT_KNOWLEDGE_DIR or pass the folder)\n"
        "1 problem(s) in 1 file(s); 0 of 0 practice file(s) are valid.\n"
    )


def test_index_then_up_to_date(env):
    first = invoke("index")
    assert first.exit_code == 0
    assert re.fullmatch(
        r"Indexed 6 practices, 32 passages \(32 embedded, 0 reused\) in \d+\.\d s with test-hash:64\.\n", first.output
    )
    second = invoke("index")
    assert re.fullmatch(r"Index is up to date: 6 practices, 32 passages \(gen-\d{8}T\d+Z-\d+\)\.\n", second.output)


def test_index_refuses_bad_knowledge_and_says_how_to_fix(env, knowledge: Path):
    (knowledge / "practices" / "bad.md").write_text("---\nid: bad\n---\n")
    result = CliRunner().invoke(main, ["index"])
    assert result.exit_code == 1
    assert result.output.splitlines()[-1] == (
        "Error: index not changed: fix the 6 problem(s) above, then run `peerbot index` again"
    )
    assert f"{knowledge}/practices/bad.md: municipality: required field is missing" in result.output


def test_ask_json_contract(env):
    result = invoke("ask", "rent exemption for business premises", "--json", "--top", "2")
    assert result.exit_code == 0
    lines = result.output.strip().splitlines()
    payload = json.loads(lines[-1])
    assert payload["question"] == "rent exemption for business premises"
    assert payload["language"] == "en"
    assert isinstance(payload["confident"], bool)
    assert [r["id"] for r in payload["results"]][0] == "hrastnik-rent-relief-for-business-premises"
    assert len(payload["results"]) == 2
    assert payload["results"][0]["sources"] == [
        {
            "url": "https://savus.si/ukrepi-obcine-hrastnik-za-obcane-drustva-in-gospodarstvo/",
            "title": "Ukrepi Občine Hrastnik za občane, društva in gospodarstvo",
        }
    ]
    assert set(payload["results"][0]) == {"id", "title", "municipality", "score", "snippet", "sources"}


def test_ask_builds_a_missing_index_and_tells_stderr(env):
    runner = CliRunner()
    result = runner.invoke(main, ["ask", "rent", "--json"])
    assert result.exit_code == 0
    assert result.stderr == "index updated: 6 practices, 32 passages (32 embedded)\n"
    assert json.loads(result.stdout)["results"]


def test_ask_plain_text_in_arabic_is_right_to_left(env):
    invoke("index")
    result = invoke("ask", "الدعم النفسي")
    lines = result.output.splitlines()
    assert lines[0] == "\u200fأكثر الممارسات صلة بسؤالك:"
    assert lines[2] == "\u200f1. خط هاتفي وطني واحد للدعم النفسي — \u2068Slovenia\u2069"


def test_ask_empty_question(env):
    result = CliRunner().invoke(main, ["ask", "  "])
    assert result.exit_code == 2
    assert (
        "Invalid value for QUESTION: the question is empty; write a question in English, Arabic or Slovenian"
        in result.output
    )


def test_eval_json_contract(env, tmp_path: Path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "rent exemption for business premises", "lang": "en", "relevant": ["hrastnik-rent-relief-for-business-premises"]}\n'
        '{"question": "الدعم النفسي", "lang": "ar", "relevant": ["slovenia-national-psychological-support-line"]}\n'
        '{"question": "zzzz qqqq", "lang": "en", "relevant": []}\n'
    )
    result = CliRunner().invoke(main, ["eval", str(questions), "--json"])
    assert result.exit_code == 0
    payload = json.loads(result.stdout)
    assert set(payload) == {"metrics", "questions"}
    assert set(payload["metrics"]) == {"all", "en", "ar"}
    assert payload["metrics"]["all"]["recall@1"] == 1.0
    assert payload["metrics"]["all"]["mrr"] == 1.0
    assert {"recall@1", "recall@3", "mrr", "ndcg@5", "no_answer_accuracy"} <= set(payload["metrics"]["en"])
    assert [q["question"] for q in payload["questions"]][2] == "zzzz qqqq"
    first = payload["questions"][0]
    assert set(first) == {"question", "lang", "confident", "results"}
    assert set(first["results"][0]) == {"id", "score", "sources"}
    assert first["results"][0]["sources"] == [
        "https://savus.si/ukrepi-obcine-hrastnik-za-obcane-drustva-in-gospodarstvo/"
    ]


def test_eval_table(env, tmp_path: Path):
    questions = tmp_path / "q.jsonl"
    questions.write_text(
        '{"question": "rent exemption for business premises", "lang": "en", "relevant": ["hrastnik-rent-relief-for-business-premises"]}\n'
    )
    result = CliRunner().invoke(main, ["eval", str(questions)])
    assert result.stdout.splitlines()[0].split() == [
        "lang",
        "questions",
        "recall@1",
        "recall@3",
        "mrr",
        "ndcg@5",
        "answered_rate",
        "no_answer_accuracy",
    ]
    assert result.stdout.splitlines()[1].split()[:6] == ["all", "1", "1.000", "1.000", "1.000", "1.000"]


def test_eval_bad_line_names_the_line(env, tmp_path: Path):
    questions = tmp_path / "q.jsonl"
    questions.write_text('{"question": "ok", "lang": "en", "relevant": []}\nnot json\n')
    result = CliRunner().invoke(main, ["eval", str(questions)])
    assert result.exit_code == 1
    assert result.output.startswith(f"Error: {questions}:2: not a question line (")
    assert result.output.rstrip().endswith(
        'expected {"question": str, "lang": str, "relevant": [ids]} or "turns": [str, ...] instead of "question"'
    )


def test_chat_answers_each_line_until_end_of_input(env):
    result = CliRunner().invoke(main, ["chat"], input="rent exemption for business premises\nzzzz qqqq\n")
    assert result.exit_code == 0
    out = result.stdout.split("\n")
    assert out[0].startswith("peerbot — terminal chat.")
    assert "1. Rent exemption for businesses in municipal premises — Hrastnik" in out
    assert (
        "I found no practice in the knowledge base that clearly answers this. Try other words, name a municipality or topic, or browse the topics."
        in out
    )


def test_run_without_token_is_a_terminal_chat(env):
    result = CliRunner().invoke(main, ["run"], input="free transport for older people\n")
    assert result.exit_code == 0
    assert result.stderr.startswith(
        "TELEGRAM_BOT_TOKEN is not set, so peerbot runs as a terminal chat on the same engine."
    )
    assert "Free transport for older people by Red Cross volunteers — Tolmin" in result.stdout


def test_bad_settings_say_what_to_fix(env, monkeypatch):
    monkeypatch.setenv("PEERBOT_ALLOWED_USERS", "alice")
    result = CliRunner().invoke(main, ["check"])
    assert result.exit_code == 1
    assert (
        result.output
        == "Error: invalid settings (PEERBOT_ALLOWED_USERS: Value error, 'alice' is not a Telegram user id (numbers separated by commas, or * for everyone)); fix the environment or .env\n"
    )


@pytest.mark.parametrize("command", sorted(main.commands))
def test_every_command_help_has_an_example(command):
    result = invoke(command, "--help")
    assert result.exit_code == 0
    assert re.search(r"\n  Example:\n      [^\n]*peerbot \S", result.output), result.output


def test_a_named_error_is_one_line_and_any_other_keeps_its_traceback(env, monkeypatch):
    import index.engine
    from index.errors import IndexCorrupt

    def damaged(self):
        raise IndexCorrupt("the index in X is damaged; run `peerbot index --force` to rebuild it")

    monkeypatch.setattr(index.engine.Engine, "reload", damaged)
    result = CliRunner().invoke(main, ["ask", "help for the elderly"])
    assert result.exit_code == 1
    assert (
        result.output.splitlines()[-1] == "Error: the index in X is damaged; run `peerbot index --force` to rebuild it"
    )

    def bug(self):
        raise RuntimeError("a bug")

    monkeypatch.setattr(index.engine.Engine, "reload", bug)
    result = CliRunner().invoke(main, ["ask", "help for the elderly"])
    assert isinstance(result.exception, RuntimeError) and "Error:" not in result.output


def test_chat_reads_a_follow_up_with_the_previous_question_until_new(env):
    lines = "Volunteers who help people with transport\nand in Tolmin?\n/new\nand in Tolmin?\n"
    result = CliRunner().invoke(main, ["chat"], input=lines)
    assert result.exit_code == 0
    out = result.stdout.split("\n")
    notice = "(Read together with your previous question: «Volunteers who help people with transport». Type /new to start a new question.)"
    assert out.count(notice) == 1
    after = out[out.index(notice) + 1 :]
    assert after[0] == "The most relevant practices:"
    assert after[2] == "1. Free transport for older people by Red Cross volunteers — Tolmin"
    # After /new the same message is read alone: no second notice.
    assert out.index("Ready for a new question: I will read your next message on its own.") > out.index(notice)


def _log_gaps(data_dir: Path, questions: list[tuple[str, str, str, bool]]) -> None:
    """(text, language, asked_at, confident) rows in the bot database, at fixed times."""
    from bot.database import BotDatabase

    database = BotDatabase.in_data_dir(data_dir)
    for text, language, at, confident in questions:
        qid = database.log_question(1003, 1003, text, language, language, [], [], confident, 10.0)
        database.db.execute("update questions set asked_at = ?, day = ? where id = ?", [at, at[:10], qid])
    database.db.conn.commit()
    database.close()


def test_gaps_prints_groups_largest_first_with_their_wordings(env, data_dir: Path):
    from datetime import UTC, datetime, timedelta

    today = datetime.now(UTC).replace(microsecond=0)
    at = [(today - timedelta(days=d)).isoformat() for d in (40, 3, 2, 1)]
    _log_gaps(
        data_dir,
        [
            ("xyzzy plover", "en", at[1], False),
            ("Xyzzy  plover", "en", at[3], False),
            ("rent exemption", "en", at[2], True),  # answered: not a gap
            ("زقزقة\x1b[2J", "ar", at[2], False),  # a terminal escape is spelled out, never printed
            ("very old question", "en", at[0], False),  # outside the 30 days
        ],
    )
    result = invoke("gaps")
    assert result.exit_code == 0
    d = [a[:10] for a in at]
    assert result.output == (
        f"2× (en; first asked {d[1]}, last asked {d[3]})\n"
        "  Xyzzy plover\n"  # tied forms: the first in code-point order, so the output never depends on input order
        f"1× (ar; first asked {d[2]}, last asked {d[2]})\n"
        "  زقزقة<U+001B>[2J\n"
        "2 group(s) of 3 unanswered question(s) in the last 30 day(s).\n"
    )
    every = invoke("gaps", "--days", "0")
    assert every.output.splitlines()[-1] == "3 group(s) of 4 unanswered question(s) in all."


def test_gaps_json_contract(env, data_dir: Path):
    _log_gaps(
        data_dir,
        [
            ("xyzzy plover", "en", "2026-11-01T08:00:00+00:00", False),
            ("xyzzy plover", "sl", "2026-11-02T09:30:00+00:00", False),
        ],
    )
    result = invoke("gaps", "--json", "--days", "0")
    assert result.exit_code == 0
    assert json.loads(result.output) == [
        {
            "count": 2,
            "questions": ["xyzzy plover"],
            "languages": ["en", "sl"],
            "first_asked": "2026-11-01T08:00:00+00:00",
            "last_asked": "2026-11-02T09:30:00+00:00",
        }
    ]


def test_gaps_before_the_bot_ever_ran(env, data_dir: Path):
    assert invoke("gaps", "--json").output == "[]\n"
    assert invoke("gaps").output == f"No bot database at {data_dir / 'peerbot.db'} yet: no questions to group.\n"
    assert not (data_dir / "peerbot.db").exists()


def test_new_writes_the_template_with_the_id_and_never_overwrites(env, tmp_path: Path, knowledge: Path):
    from bot.practice_template import practice_template
    from index.taxonomy import load_taxonomy

    folder = tmp_path / "drafts"
    result = invoke("new", "zrece-beekeepers-honey", "--language", "ar", "--dir", str(folder))
    assert result.exit_code == 0
    assert result.output == (
        f"Wrote {folder}/zrece-beekeepers-honey.md: replace every <<...>>, then send it to the bot as a document, "
        "or copy it into the knowledge folder and run `peerbot check`.\n"
    )
    taxonomy, _ = load_taxonomy(knowledge / "taxonomy.yaml")
    written = (folder / "zrece-beekeepers-honey.md").read_text(encoding="utf-8")
    assert written == practice_template("ar", taxonomy.topics, taxonomy.target_groups, {"id": "zrece-beekeepers-honey"})
    assert 'id: "zrece-beekeepers-honey"' in written and "# id (إلزامي):" in written
    again = CliRunner().invoke(main, ["new", "zrece-beekeepers-honey", "--dir", str(folder)])
    assert again.exit_code == 1
    assert again.output == f"Error: {folder}/zrece-beekeepers-honey.md already exists; nothing was written\n"
    bad = CliRunner().invoke(main, ["new", "Not An Id"])
    assert bad.exit_code == 2 and "'Not An Id' is not a practice id" in bad.output
