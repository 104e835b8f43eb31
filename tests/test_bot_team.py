"""Ask the team, end to end against the Bot API emulator: an unanswered question reaches every
coordinator, a coordinator's reply reaches the official and closes the gap, the steps survive a
restart, and second answers, non-coordinators and too many questions are refused politely."""

from __future__ import annotations

import pytest

from bot.database import BotDatabase
from bot.texts import Texts
from index.knowledge import parse_practice
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    COORDINATOR,
    FSI,
    OFFICIAL,
    PDI,
    RLM,
    button,
    buttons,
    make_settings,
    start_bot,
)

EN, AR = Texts("en"), Texts("ar")
SECOND_COORDINATOR = 1005
GAP = "xyzzy"  # no practice answers it (nor do the other nonsense words here, with the hash embedder)
ANSWER = "Hrastnik's civil protection kept a list of generators.\nAsk the municipality for it."


@pytest.fixture
async def team_bot(emulator, knowledge, data_dir, engine):
    settings = make_settings(emulator, knowledge, data_dir, coordinators=[COORDINATOR, SECOND_COORDINATOR])
    running = await start_bot(emulator, settings, engine)
    yield running
    await running.stop()
    running.database.close()


async def ask_the_team(bot, user=OFFICIAL, text=GAP):
    [reply] = await bot.say(user, text)
    assert reply.text.startswith(EN("no_match")) or reply.text.startswith(RLM + AR("no_match")[:10])
    return reply, await bot.press(user, reply, button(reply, "tq:"), count=1)


async def test_the_question_reaches_every_coordinator_and_a_reply_closes_the_gap(team_bot):
    bot = team_bot
    _, (_, [sent]) = await ask_the_team(bot)
    assert sent.text == EN("team_sent")
    assert [q.text for q in bot.database.unanswered_questions()] == [GAP]
    received = {}
    for coordinator in (COORDINATOR, SECOND_COORDINATOR):
        [message] = await bot.expect(coordinator, 0)
        assert message.text.split("\n")[0] == EN(
            "team_question_header", name="Tester", language="English", date=message.date.date().isoformat()
        )
        assert f"{FSI}{GAP}{PDI}" in message.text and EN("team_reply_hint") in message.text
        received[coordinator] = message
    assert bot.messages(ADMIN) == []  # coordinators exist, so the admins are not asked

    before = len(bot.messages(OFFICIAL))
    bot.emulator.send_text(COORDINATOR, ANSWER, reply_to=received[COORDINATOR].message_id, first_name="Maja")
    [delivered] = await bot.expect(OFFICIAL, before)
    lines = delivered.text.split("\n")
    assert lines[0] == EN("team_answer_header")
    assert f"{FSI}Hrastnik's civil protection kept a list of generators.{PDI}" in lines
    assert f"{FSI}Ask the municipality for it.{PDI}" in lines
    assert lines[-1] == EN("team_answer_note")  # marked as the coordinators' answer, not a practice
    [confirmed] = await bot.expect(COORDINATOR, 1)
    assert confirmed.text.startswith(EN("team_answer_sent", name="Tester"))

    assert bot.database.unanswered_questions() == []  # the gap is closed
    closed = bot.database.team_question(1)
    assert (closed.status, closed.answered_by, closed.answered_by_name, closed.answer) == (
        "answered",
        COORDINATOR,
        "Maja",
        ANSWER,
    )
    assert closed.answered_at is not None
    [gaps] = await bot.say(ADMIN, "/gaps")
    assert gaps.text == EN("gaps_none_days", days=30)

    # A second answer is refused politely and never reaches the official.
    [refused] = await bot.say(SECOND_COORDINATOR, "Another answer", reply_to=received[SECOND_COORDINATOR].message_id)
    assert refused.text.startswith(EN("team_already_answered", name="Maja", date="")[:40])
    await bot.settle()
    assert len(bot.messages(OFFICIAL)) == before + 1

    # One tap: a draft practice with the question and the answer, to complete with sources.
    await bot.press(COORDINATOR, confirmed, button(confirmed, "dr:"))
    [draft] = await bot.emulator.wait_for_files_async(COORDINATOR, 1)
    assert draft.file_name == "draft-1.md" and draft.caption == EN("team_draft_caption")
    text = draft.content.decode()
    assert "# DRAFT made by peerbot from a question of Tester" in text and "and the answer of Maja." in text
    assert f'en: "{GAP}"' in text and ANSWER in text
    practice, problems = parse_practice(
        draft.content, bot.engine.knowledge_dir / "practices/draft-1.md", bot.engine.index.taxonomy
    )
    assert practice is None and any("placeholder" in p.message for p in problems)


async def test_every_step_survives_a_restart(emulator, knowledge, data_dir, engine, settings):
    bot = await start_bot(emulator, settings, engine)
    try:
        await ask_the_team(bot)
        [question] = await bot.expect(COORDINATOR, 0)
    finally:
        await bot.stop()
        bot.database.close()
    bot = await start_bot(emulator, settings, engine, BotDatabase.in_data_dir(data_dir))
    try:
        before = len(bot.messages(OFFICIAL))
        bot.emulator.send_text(COORDINATOR, "The answer after a restart.", reply_to=question.message_id)
        [delivered] = await bot.expect(OFFICIAL, before)
        assert f"{FSI}The answer after a restart.{PDI}" in delivered.text
        assert bot.database.team_question(1).status == "answered"
    finally:
        await bot.stop()
        bot.database.close()


async def test_a_reply_from_someone_no_longer_a_coordinator_is_refused(emulator, knowledge, data_dir, engine, settings):
    bot = await start_bot(emulator, settings, engine)
    try:
        await ask_the_team(bot)
        [question] = await bot.expect(COORDINATOR, 0)
    finally:
        await bot.stop()
        bot.database.close()
    demoted = make_settings(
        emulator, knowledge, data_dir, coordinators=[], allowed_users=[str(OFFICIAL), str(COORDINATOR)]
    )
    bot = await start_bot(emulator, demoted, engine, BotDatabase.in_data_dir(data_dir))
    try:
        before = len(bot.messages(OFFICIAL))
        [refused] = await bot.say(COORDINATOR, "my answer", reply_to=question.message_id)
        assert refused.text == EN("team_not_coordinator")
        await bot.settle()
        assert len(bot.messages(OFFICIAL)) == before
        assert bot.database.team_question(1).status == "open"
    finally:
        await bot.stop()
        bot.database.close()


async def test_an_official_sends_at_most_the_daily_limit(emulator, knowledge, data_dir, engine):
    settings = make_settings(emulator, knowledge, data_dir, team_questions_per_day=2)
    bot = await start_bot(emulator, settings, engine)
    try:
        for text in ("xyzzy", "qwrtplk zzkv"):
            await ask_the_team(bot, text=text)
        [third] = await bot.say(OFFICIAL, "kvrrk")
        answer, _ = await bot.press(OFFICIAL, third, button(third, "tq:"))
        assert answer["text"] == EN("team_limit", limit=2) and answer["show_alert"] is True
        assert len(bot.messages(COORDINATOR)) == 2
        # The same question twice is one question.
        [first] = [m for m in bot.messages(OFFICIAL) if m.text.startswith(EN("no_match"))][:1]
        again, _ = await bot.press(OFFICIAL, first, button(first, "tq:"))
        assert again["text"] == EN("team_already_sent")
    finally:
        await bot.stop()
        bot.database.close()


async def test_only_the_official_who_asked_can_send_it_and_arabic_reaches_the_team(team_bot):
    bot = team_bot
    [reply] = await bot.say(ARAB_OFFICIAL, "زقزقة الكواكب البعيدة")
    forged, _ = await bot.press(OFFICIAL, reply, button(reply, "tq:"), chat_id=ARAB_OFFICIAL)
    assert forged["text"] == AR("button_invalid")  # in the language of the view it was pressed on
    _, [sent] = await bot.press(ARAB_OFFICIAL, reply, button(reply, "tq:"), count=1)
    assert sent.text == RLM + AR("team_sent")
    [message] = await bot.expect(COORDINATOR, 0)
    assert "(replies in العربية," in message.text.split("\n")[0]
    bot.emulator.send_text(COORDINATOR, "Try the Red Cross.", reply_to=message.message_id)
    [delivered] = await bot.expect(ARAB_OFFICIAL, 2)
    assert delivered.text.split("\n")[0] == RLM + AR("team_answer_header")
    assert f"{FSI}Try the Red Cross.{PDI}" in delivered.text


async def test_a_reply_to_any_other_bot_message_is_a_question(team_bot):
    bot = team_bot
    [answer] = await bot.say(OFFICIAL, "rent exemption for business premises")
    [again] = await bot.say(OFFICIAL, "rent exemption for business premises", reply_to=answer.message_id)
    assert again.text.startswith(EN("results_intro"))
    assert "tq:" not in " ".join(buttons(again))  # a confident answer offers no "ask the team"


async def test_when_no_coordinator_can_be_reached_the_official_may_try_again(team_bot):
    bot = team_bot
    bot.emulator.block_user(COORDINATOR)
    bot.emulator.block_user(SECOND_COORDINATOR)
    reply, (_, [unreachable]) = await ask_the_team(bot)
    assert unreachable.text == EN("team_unreachable")
    assert bot.database.team_question(1) is None
    bot.emulator.unblock_user(COORDINATOR)
    _, [sent] = await bot.press(OFFICIAL, reply, button(reply, "tq:"), count=1)
    assert sent.text == EN("team_sent")
    assert len(bot.messages(COORDINATOR)) == 1


async def test_purge_removes_team_questions_with_the_questions(team_bot):
    from datetime import UTC, datetime, timedelta

    bot = team_bot
    await ask_the_team(bot)
    assert bot.database.team_question(1) is not None
    bot.database.purge(datetime.now(UTC) + timedelta(seconds=5))
    assert bot.database.team_question(1) is None
    assert bot.database.team_question_of_message(COORDINATOR, 1) is None
