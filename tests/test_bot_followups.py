"""Follow-up questions end to end: the real bot polls the Bot API emulator over HTTP."""

from __future__ import annotations

import pytest

from bot.texts import Texts
from tests.bot_harness import ARAB_OFFICIAL, FSI, OFFICIAL, PDI, RLM, bold, button, buttons, make_settings, start_bot

EN, AR, SL = Texts("en"), Texts("ar"), Texts("sl")
HELP = "Volunteers who help people with transport and psychological support"
TOLMIN_TITLE = "Free transport for older people by Red Cross volunteers"


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


def municipalities(bot, reply) -> set[str]:
    digests = {d[2:14] for d in buttons(reply) if d.startswith("p:")}
    from bot.callback_data import digest

    return {p.municipality for p in bot.engine.index.practices.values() if digest(p.id) in digests}


async def test_a_follow_up_is_answered_in_context_and_says_so(bot):
    [first] = await bot.say(OFFICIAL, HELP)
    assert first_line(first.text) == EN("results_intro")
    assert "nq" not in buttons(first)  # read alone: no notice, no "new question"
    [reply] = await bot.say(OFFICIAL, "and in Tolmin?")
    lines = reply.text.split("\n")
    assert lines[0] == EN("followup_context", question=HELP)
    assert lines[2] == EN("results_intro")
    assert bold(reply)[0] == f"1. {TOLMIN_TITLE}"
    assert municipalities(bot, reply) == {"Tolmin"}  # restricted to the place the follow-up names
    assert buttons(reply)[-1] == "nq"
    row = bot.database.question(2)
    assert row.question == f"{HELP} and in Tolmin?"  # what was answered: "more results" re-reads it


async def test_read_alone_the_same_follow_up_finds_nothing(bot):
    [reply] = await bot.say(OFFICIAL, "and in Tolmin?")
    assert EN("followup_context", question=HELP) not in reply.text
    assert "nq" not in buttons(reply)


async def test_a_complete_new_question_starts_afresh(bot):
    await bot.say(OFFICIAL, HELP)
    [reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    assert first_line(reply.text) == EN("results_intro")
    assert "nq" not in buttons(reply)
    assert bot.database.question(2).question == "rent exemption for business premises"


async def test_new_command_clears_the_previous_question(bot):
    await bot.say(OFFICIAL, HELP)
    [ready] = await bot.say(OFFICIAL, "/new")
    assert ready.text == EN("new_question_ready")
    [reply] = await bot.say(OFFICIAL, "and in Tolmin?")
    assert "nq" not in buttons(reply) and not reply.text.startswith(EN("followup_context", question=HELP))


async def test_the_new_question_button_clears_it_too(bot):
    await bot.say(OFFICIAL, HELP)
    [reply] = await bot.say(OFFICIAL, "and in Tolmin?")
    answer, [ready] = await bot.press(OFFICIAL, reply, button(reply, "nq"), count=1)
    assert answer["text"] == EN("new_question_ready") and ready.text == EN("new_question_ready")
    [alone] = await bot.say(OFFICIAL, "what about Hrastnik?")
    assert "nq" not in buttons(alone)


async def test_each_chat_has_its_own_previous_question(bot):
    await bot.say(OFFICIAL, HELP)
    [other] = await bot.say(ARAB_OFFICIAL, "and in Tolmin?")
    assert "nq" not in buttons(other)


async def test_an_arabic_follow_up_is_read_in_context_in_arabic(bot):
    question = "متطوعون للنقل والدعم النفسي"
    await bot.say(ARAB_OFFICIAL, question)
    [reply] = await bot.say(ARAB_OFFICIAL, "وفي تولمين؟")
    assert first_line(reply.text) == RLM + AR("followup_context", question=question).replace(
        f"«{question}»", f"«{FSI}{question}{PDI}»"
    )
    assert municipalities(bot, reply) == {"Tolmin"}
    labels = [b.text for row in reply.reply_markup.inline_keyboard for b in row]
    assert labels[-1] == AR("button_new_question")


async def test_arabizi_is_answered_in_arabic(bot):
    [reply] = await bot.say(OFFICIAL, "shlon el mutatawi3in sa3dat el kbar b tolmin?")
    assert first_line(reply.text) == RLM + AR("results_intro")
    assert bot.database.question(1).language == "ar"


@pytest.fixture
async def forgetful_bot(emulator, knowledge, data_dir, engine):
    running = await start_bot(emulator, make_settings(emulator, knowledge, data_dir, followup_minutes=0), engine)
    yield running
    await running.stop()
    running.database.close()


async def test_follow_ups_can_be_switched_off(forgetful_bot):
    await forgetful_bot.say(OFFICIAL, HELP)
    [reply] = await forgetful_bot.say(OFFICIAL, "and in Tolmin?")
    assert "nq" not in buttons(reply)


async def test_an_expired_question_is_not_used(bot):
    await bot.say(OFFICIAL, HELP)
    memory = bot.application.bot_data["services"].followups
    memory.ttl = 0.05  # the setting is minutes; the memory's clock is seconds
    await bot.settle(0.1)
    [reply] = await bot.say(OFFICIAL, "and in Tolmin?")
    assert "nq" not in buttons(reply)
