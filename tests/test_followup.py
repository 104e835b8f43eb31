"""Follow-ups (index/followup.py): which messages depend on the previous question, what they then
mean, the chat memory, and `peerbot eval`'s "turns" lines read the same way."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from index.evaluate import read_questions, report_json
from index.followup import Memory, Turn, depends_on_previous, places_in, read_conversation, read_message

EVAL = Path(__file__).parent / "eval"
PLACES = ["Celje", "Hrastnik", "Koper", "Kočevje", "Ljubljana", "Maribor", "Tolmin", "Črna na Koroškem"]
ELDERLY = "How did municipalities help elderly people living alone?"


AFTER_ELDERLY = Turn(ELDERLY, "en")


def read(message: str, previous: Turn | None = AFTER_ELDERLY):
    return read_message(message, previous, PLACES)[0]


@pytest.mark.parametrize(
    "message",
    [
        "and in Hrastnik?",
        "what about Maribor?",
        "Hrastnik?",
        "how much did it cost?",
        "how much in Koper?",
        "who answered the calls?",
        "what was the budget?",
        "kaj pa v Tolminu?",
        "koliko je to stalo?",
        "koliko je dal Koper?",
        "وهراستنيك؟",
        "وهراستنيك شنو سوت؟",
        "وفي تولمين؟",
        "وماذا عن كوبر؟",
        "شكد كلفت؟",
        "شكد ميزانيته؟",
        "وبتولمين؟",
    ],
)
def test_short_dependent_messages_are_read_with_the_previous_question(message):
    reading = read(message)
    assert reading.used_context and reading.context == ELDERLY
    assert reading.question == f"{ELDERLY} {message}"


@pytest.mark.parametrize(
    "message",
    [
        "What did Bovec do?",  # a place and its own question: complete
        "How did Tolmin help older people get to the doctor?",
        "Which towns waived rent for shops in municipal premises?",
        "كيف ساعدت البلديات أصحاب المحلات في دفع الإيجار؟",
        "Kaj je Kočevje naredilo za podjetja?",
        "shno sawat baladiyat hrastnik lil sharikat?",
        "zzzz qqqq",
        "psychological support line",
        "utility costs for companies",  # terse, with a detail word: still a question of its own
        "rent relief budget in 2020",
        "free transport red cross",
    ],
)
def test_complete_questions_start_afresh(message):
    reading = read(message)
    assert not reading.used_context and reading.question == message and reading.filters is None


def test_nothing_remembered_means_read_alone():
    assert not read("and in Hrastnik?", previous=None).used_context


def test_a_new_place_replaces_the_old_one_and_restricts_the_answer():
    previous = read_message("What did Kočevje do for local businesses?", None, PLACES)[1]
    assert previous.places == {"Kočevje"}
    reading, turn = read_message("and in Hrastnik?", previous, PLACES)
    assert reading.question == "What did do for local businesses? and in Hrastnik?"
    assert reading.filters.municipalities == {"Hrastnik"} and turn.places == {"Hrastnik"}


def test_arabic_place_spellings_restrict_the_answer_too():
    reading, _ = read_message("وهراستنيك شنو سوت؟", Turn("شلون البلديات ساعدت الشياب؟", "ar"), PLACES)
    assert reading.filters.municipalities == {"Hrastnik"} and reading.language == "ar"
    assert places_in("وبتولمين؟ وليوبليانا", PLACES) == {"Tolmin", "Ljubljana"}
    assert places_in("اللي يسوون", PLACES) == frozenset()


def test_a_detail_follow_up_keeps_the_previous_place():
    previous = read_message("كيف نظمت سيليه المتطوعين؟", None, PLACES)[1]
    reading, _ = read_message("كم عدد المكالمات التي تلقتها؟", previous, PLACES)
    assert reading.used_context and reading.filters.municipalities == {"Celje"}


def test_a_short_follow_up_keeps_the_conversation_language():
    previous = Turn("Katere občine so podjetjem odpustile najemnino?", "sl")
    assert read_message("in Maribor?", previous, PLACES)[0].language == "sl"
    assert read_message("وماريبور؟", previous, PLACES)[0].language == "ar"  # another script: its own language


def test_a_chain_of_follow_ups_builds_on_the_question_as_read():
    reading = read_conversation([ELDERLY, "and in Hrastnik?", "and in Tolmin?"], PLACES)
    assert reading.question == f"{ELDERLY} and in Tolmin?"
    assert reading.filters.municipalities == {"Tolmin"} and reading.context == f"{ELDERLY} and in Hrastnik?"


def test_no_standalone_dev_question_is_taken_for_a_follow_up():
    # After a question about the elderly, every complete question of every dev set must start afresh.
    names = ["questions", "gap_questions", "iraqi_tune", "iraqi_heldout", "arabizi_tune", "hasty_en_tune"]
    from tests.load_scenario import QUESTIONS as LOAD  # terse questions the load tests send one after another

    taken = [q for q in LOAD if read(q).used_context]
    for name in names:
        for line in (EVAL / f"{name}.jsonl").read_text(encoding="utf-8").splitlines():
            question = json.loads(line)["question"]
            if depends_on_previous(question, places_in(question, PLACES)) and read(question).used_context:
                taken.append(question)
    assert not taken


def test_every_tuning_follow_up_is_read_in_context():
    conversations = [json.loads(line) for line in (EVAL / "followups_tune.jsonl").read_text().splitlines()]
    alone = [c["turns"] for c in conversations if not read_conversation(c["turns"], PLACES).used_context]
    assert not alone


# -- memory ------------------------------------------------------------------------------


class Clock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now


def test_memory_keeps_a_chats_question_for_its_ttl_only():
    clock = Clock()
    memory = Memory(600, clock=clock)
    memory.remember(1, Turn("q", "en"))
    clock.now += 599
    assert memory.recall(1) == Turn("q", "en") and memory.recall(2) is None
    clock.now += 2
    assert memory.recall(1) is None


def test_memory_forgets_on_request_and_when_full_and_when_off():
    memory = Memory(600, size=2)
    for chat in (1, 2, 3):
        memory.remember(chat, Turn(str(chat), "en"))
    assert memory.recall(1) is None and memory.recall(3).question == "3"
    memory.forget(3)
    assert memory.recall(3) is None
    off = Memory(0)
    off.remember(1, Turn("q", "en"))
    assert off.recall(1) is None


# -- eval lines ----------------------------------------------------------------------------


def test_eval_reads_turns_lines_beside_question_lines(tmp_path: Path):
    path = tmp_path / "mixed.jsonl"
    path.write_text(
        '{"question": "rent relief", "lang": "en", "relevant": ["a"]}\n'
        '{"turns": ["How did municipalities help elderly people?", "and in Hrastnik?"], "lang": "en", "relevant": ["b"]}\n'
    )
    first, second = read_questions(path)
    assert (first.question, first.turns) == ("rent relief", None)
    assert second.question == "and in Hrastnik?" and second.turns[0].startswith("How did")


@pytest.mark.parametrize("turns", ["[]", '[""]', '"one string"'])
def test_eval_rejects_empty_turns(tmp_path: Path, turns: str):
    from index.errors import EvalFileError

    path = tmp_path / "bad.jsonl"
    path.write_text('{"turns": ' + turns + ', "lang": "en", "relevant": []}\n')
    with pytest.raises(EvalFileError, match=r"bad.jsonl:1: not a question line"):
        read_questions(path)


def test_turns_lines_are_scored_in_context_and_reported_in_input_order(engine):
    from index.evaluate import evaluate

    questions = read_questions_from(
        [
            {"question": "rent exemption for business premises", "lang": "en", "relevant": ["x"]},
            {"turns": ["free transport for older people", "and in Tolmin?"], "lang": "en", "relevant": ["y"]},
            {"question": "psychological support line", "lang": "en", "relevant": ["z"]},
        ]
    )
    metrics, answers = evaluate(engine, questions)
    report = report_json(questions, answers, metrics)
    assert [q["question"] for q in report["questions"]] == [
        "rent exemption for business premises",
        "and in Tolmin?",
        "psychological support line",
    ]
    tolmin = {p.id for p in engine.index.practices.values() if p.municipality == "Tolmin"}
    assert {r["id"] for r in report["questions"][1]["results"]} <= tolmin  # read with the first turn, in Tolmin


def read_questions_from(rows: list[dict]):
    from index.evaluate import Question

    return [Question(r.get("question") or r["turns"][-1], r["lang"], r["relevant"], r.get("turns")) for r in rows]
