"""Officials end to end: the real bot polls the Bot API emulator over HTTP."""

from __future__ import annotations

import string

import pytest
import yaml

from bot.callback_data import digest as cb_digest
from bot.sending import TELEGRAM_LIMIT
from bot.texts import LANGUAGES, LOCALES, Texts, catalogue
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    BOT_USERNAME,
    COORDINATOR,
    FSI,
    OFFICIAL,
    PDI,
    RLM,
    STRANGER,
    bold,
    button,
    buttons,
    links,
    make_settings,
    start_bot,
)

EN, AR, SL = Texts("en"), Texts("ar"), Texts("sl")
RENT_EN = "rent exemption for business premises"
RENT_AR = "إعفاء الشركات من إيجار المباني البلدية"
HRASTNIK_TITLE_EN = "Rent exemption for businesses in municipal premises"
HRASTNIK_TITLE_AR = "إعفاء الشركات من إيجار المباني البلدية"


def first_line(text: str) -> str:
    return text.split("\n", 1)[0]


# -- /start, /help, /language ------------------------------------------------------------


async def test_start_welcomes_explains_and_offers_languages(bot):
    [reply] = await bot.say(OFFICIAL, "/start", first_name="Alma <& Co>")
    assert reply.text.startswith(f"Hello, {FSI}Alma <& Co>{PDI}! I am peerbot.")  # escaped, shown literally
    assert "/topics" in reply.text and "/language" in reply.text
    assert buttons(reply) == ["l:en", "l:ar", "l:sl"]
    assert [b.text for row in reply.reply_markup.inline_keyboard for b in row] == ["English", "العربية", "Slovenščina"]
    menus = {
        c.get("language_code"): [x["command"] for x in c["commands"]]
        for c in bot.emulator.calls_of("setMyCommands")
        if not c.get("scope")  # the default scope; per-role menus: tests/test_command_menus.py
    }
    assert menus[None] == menus["ar"] == ["start", "help", "language", "topics", "brief", "new"]


async def test_start_in_arabic_for_an_arabic_telegram_client(bot):
    [reply] = await bot.say(ARAB_OFFICIAL, "/start", first_name="علي", language_code="ar")
    assert reply.text.startswith(RLM + f"مرحباً {FSI}علي{PDI}! أنا {FSI}peerbot{PDI}")
    assert all(line.startswith(RLM) for line in reply.text.split("\n") if line.strip())


async def test_help_shows_extra_commands_by_role(bot):
    [official] = await bot.say(OFFICIAL, "/help")
    [admin] = await bot.say(ADMIN, "/help")
    [coordinator] = await bot.say(COORDINATOR, "/help")
    assert "/topics" in official.text and "/reindex" not in official.text and ".md" not in official.text
    assert "/reindex" in admin.text and "/gaps" in admin.text and ".md" in admin.text
    assert ".md" in coordinator.text and "/reindex" not in coordinator.text


async def test_chosen_language_wins_over_the_question_language(bot):
    [menu] = await bot.say(OFFICIAL, "/language")
    answer, [confirmation] = await bot.press(OFFICIAL, menu, "l:ar", count=1)
    assert answer["text"] == AR("language_set")
    assert confirmation.text == RLM + AR("language_set")
    assert bot.database.language(OFFICIAL) == "ar"
    [reply] = await bot.say(OFFICIAL, RENT_EN)  # English question, Arabic chosen
    assert first_line(reply.text) == RLM + AR("results_intro")
    assert HRASTNIK_TITLE_AR in reply.text


# -- questions ---------------------------------------------------------------------------


async def test_english_question_gets_cards_with_sources_and_buttons(bot):
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    assert first_line(reply.text) == EN("results_intro")
    assert f"1. {HRASTNIK_TITLE_EN} — Hrastnik" in reply.text
    assert bold(reply)[0] == f"1. {HRASTNIK_TITLE_EN}"
    assert "Hrastnik exempted sole traders" in reply.text  # the curated summary
    assert "https://savus.si/ukrepi-obcine-hrastnik-za-obcane-drustva-in-gospodarstvo/" in links(reply)
    data = buttons(reply)
    assert sum(d.startswith("p:") for d in data) == sum(d.startswith("s:") for d in data) == 3
    question_id = bot.database.question(1).id
    assert data[-5:] == [
        f"m:{question_id}:3",
        f"fb:{question_id}:u",
        f"fb:{question_id}:d",
        f"n:{question_id}",
        f"bq:{question_id}",
    ]
    assert all(len(d.encode()) <= 64 for d in data)
    # "typing…" was shown before the answer
    calls = [name for name, _ in bot.emulator.calls if name in ("sendChatAction", "sendMessage")]
    assert calls[-2:] == ["sendChatAction", "sendMessage"]
    assert bot.emulator.calls_of("sendChatAction")[-1]["action"] == "typing"
    sent = bot.emulator.calls_of("sendMessage")[-1]
    assert sent["parse_mode"] == "HTML"


async def test_arabic_question_gets_arabic_cards_laid_out_right_to_left(bot):
    [reply] = await bot.say(ARAB_OFFICIAL, RENT_AR, language_code="en")  # detected language beats the client's
    lines = reply.text.split("\n")
    assert lines[0] == RLM + AR("results_intro")
    assert lines[2] == f"1. {RLM}{HRASTNIK_TITLE_AR} — {FSI}Hrastnik{PDI}"
    assert lines[3].startswith(RLM + "أعفت بلدية هراستنيك")  # the Arabic summary
    assert lines[4] == RLM + AR("sources") + ":"
    assert lines[5] == f"• {FSI}Ukrepi Občine Hrastnik za občane, društva in gospodarstvo{PDI}"
    labels = [b.text for row in reply.reply_markup.inline_keyboard for b in row]
    assert AR("button_more") in labels and "1. الممارسة كاملة" in labels
    row = bot.database.question(1)
    assert (row.language, row.reply_language, row.confident) == ("ar", "ar", True)


async def test_telegram_language_is_the_last_resort(bot):
    [reply] = await bot.say(OFFICIAL, "2020?", language_code="sl")  # no letters: nothing to detect
    assert first_line(reply.text) == SL("results_intro")


async def test_more_results_then_no_more(bot):
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    answer, [more] = await bot.press(OFFICIAL, reply, button(reply, "m:"), count=1)
    assert answer.get("text") is None
    assert first_line(more.text) == EN("more_intro")
    assert [line.split(".")[0] for line in bold(more)] == ["4", "5", "6"]
    first_ids = {d for d in buttons(reply) if d.startswith("p:")}
    assert not first_ids & {d for d in buttons(more) if d.startswith("p:")}
    assert not any(d.startswith("fb:") for d in buttons(more))
    # the fixture has 6 practices: the next page is empty
    answer, new = await bot.press(OFFICIAL, more, button(more, "m:"))
    assert answer["text"] == EN("no_more_results") and new == []


async def test_narrow_an_answer_to_a_topic_and_fail_closed(bot):
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    _, [menu] = await bot.press(OFFICIAL, reply, button(reply, "n:"), count=1)
    assert menu.text == EN("narrow_intro")
    labels = {b.text: b.callback_data for row in menu.reply_markup.inline_keyboard for b in row}
    assert "Local businesses" in labels and "Psychosocial support" in labels
    # Within "local businesses": only practices of that topic, first the one the question is about.
    _, [narrowed] = await bot.press(OFFICIAL, menu, labels["Local businesses"], count=1)
    assert first_line(narrowed.text) == EN("narrow_results", topic="Local businesses")
    assert bold(narrowed)[0] == f"1. {HRASTNIK_TITLE_EN}"
    business = {p.id for p in bot.engine.index.practices.values() if "local-business" in p.meta.topics}
    shown = {
        p.id
        for p in bot.engine.index.practices.values()
        if cb_digest(p.id) in {d[2:14] for d in buttons(narrowed) if d.startswith("p:")}
    }
    assert shown and shown <= business
    # The only psychosocial practice is removed meanwhile: say so, never fall back to other topics.
    (bot.engine.knowledge_dir / "practices" / "slovenia-national-psychological-support-line.md").unlink()
    bot.engine.rebuild()
    _, [none] = await bot.press(OFFICIAL, menu, labels["Psychosocial support"], count=1)
    assert none.text == EN("narrow_no_match", topic="Psychosocial support")
    assert none.reply_markup is None


async def test_narrow_buttons_are_checked_again(bot):
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    question_id = bot.database.question(1).id
    [other] = await bot.say(ARAB_OFFICIAL, RENT_EN)  # another official's chat
    forged_data = (f"nt:{question_id}:no-such-topic", f"nt:{question_id + 99}:local-business", f"n:{question_id}")
    for message, user in ((reply, OFFICIAL), (other, ARAB_OFFICIAL)):
        injected = bot.emulator._messages[(user, message.message_id)]
        injected["reply_markup"] = {"inline_keyboard": [[{"text": "x", "callback_data": d} for d in forged_data]]}
    for forged in forged_data[:2]:
        answer, new = await bot.press(OFFICIAL, reply, forged)
        assert answer["text"] == EN("button_invalid") and new == []
    # Another official cannot narrow a question asked in someone else's chat.
    answer, new = await bot.press(ARAB_OFFICIAL, other, f"n:{question_id}")
    assert answer["text"] in (EN("button_invalid"), AR("button_invalid")) and new == []


async def test_full_practice_and_sources(bot):
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    _, [full] = await bot.press(OFFICIAL, reply, button(reply, "p:"), count=1)
    assert bold(full)[0] == HRASTNIK_TITLE_EN
    assert "What was done" in bold(full) and "Lessons for Basra" in bold(full)
    assert "Parents were also exempted from kindergarten fees" in full.text
    assert "Municipality: Hrastnik" in full.text and "Period: 2020-03/2020-04" in full.text
    assert "Topics: Local businesses, Local administration" in full.text
    _, [sources] = await bot.press(OFFICIAL, reply, button(reply, "s:"), count=1)
    assert sources.text.startswith(f"Sources for “{HRASTNIK_TITLE_EN}”:")
    assert links(sources) == ["https://savus.si/ukrepi-obcine-hrastnik-za-obcane-drustva-in-gospodarstvo/"]
    assert "Savus, 2020" in sources.text


async def test_full_practice_in_arabic_says_the_body_is_english(bot):
    [reply] = await bot.say(ARAB_OFFICIAL, RENT_AR)
    _, [full] = await bot.press(ARAB_OFFICIAL, reply, button(reply, "p:"), count=1)
    assert bold(full)[0] == RLM + HRASTNIK_TITLE_AR
    # The original language is named in Arabic, not "English" inside an Arabic sentence.
    assert RLM + AR("body_language_note", language=FSI + "الإنجليزية" + PDI) in full.text
    assert "English" not in full.text
    assert "What was done" in full.text  # the body keeps its own language
    assert f"{AR('label_outcomes')} {RLM}({FSI}{AR('in_language_en')}{PDI} فقط)" in full.text
    assert full.text.endswith(f"— {FSI}Savus, 2020{PDI}، {AR('in_language_sl')}")  # the source's language, in Arabic


async def test_feedback_is_recorded_and_can_be_changed(bot):
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    question_id = bot.database.question(1).id
    answer, _ = await bot.press(OFFICIAL, reply, f"fb:{question_id}:u")
    assert answer["text"] == EN("feedback_thanks")
    assert bot.database.feedback(question_id) == {OFFICIAL: 1}
    await bot.press(OFFICIAL, reply, f"fb:{question_id}:d")
    assert bot.database.feedback(question_id) == {OFFICIAL: -1}


async def test_no_confident_match_is_honest_offers_topics_and_is_logged(bot):
    [reply] = await bot.say(OFFICIAL, "xyzzy")
    assert reply.text == EN("no_match")
    assert buttons(reply) == ["tl:en", "tq:1"]  # browse, or ask the coordinators (tests/test_bot_team.py)
    row = bot.database.question(1)
    assert row.question == "xyzzy" and not row.confident
    assert bot.database.gaps()[0]["question"] == "xyzzy"
    _, [topics] = await bot.press(OFFICIAL, reply, "tl:en", count=1)
    assert topics.text == EN("topics_intro")


async def test_no_match_in_arabic(bot):
    [reply] = await bot.say(ARAB_OFFICIAL, "زقزقة الكواكب البعيدة")
    assert reply.text == RLM + AR("no_match")
    assert [b.text for row in reply.reply_markup.inline_keyboard for b in row] == [
        AR("button_topics"),
        AR("button_ask_team"),
    ]


async def test_topics_browse_by_buttons(bot):
    [menu] = await bot.say(OFFICIAL, "/topics")
    labels = {b.callback_data: b.text for row in menu.reply_markup.inline_keyboard for b in row}
    assert labels["t:local-business:0:en"] == "Local businesses (3)"
    assert labels["t:psychosocial-support:0:en"] == "Psychosocial support (1)"
    assert "t:education:0:en" not in labels  # no practice on it
    _, [page] = await bot.press(OFFICIAL, menu, "t:local-business:0:en", count=1)
    assert page.text.startswith("Practices on “Local businesses” (1–3 of 3):")
    assert any(HRASTNIK_TITLE_EN in b for b in bold(page))
    _, [full] = await bot.press(OFFICIAL, page, button(page, "p:"), count=1)
    assert "Municipality: Hrastnik" in full.text


async def test_topics_in_arabic_use_taxonomy_labels(bot):
    [menu] = await bot.say(ARAB_OFFICIAL, "/topics", language_code="ar")
    labels = {b.callback_data: b.text for row in menu.reply_markup.inline_keyboard for b in row}
    assert labels["t:psychosocial-support:0:ar"] == "الدعم النفسي والاجتماعي (1)"


# -- bad input ---------------------------------------------------------------------------


async def test_stickers_photos_and_other_media_get_a_hint(bot):
    before = len(bot.messages(OFFICIAL))
    bot.emulator.send_sticker(OFFICIAL)
    [reply] = await bot.expect(OFFICIAL, before)
    assert reply.text == EN("unsupported_message")
    before += 1
    bot.emulator.send_photo(OFFICIAL, b"\xff\xd8jpeg", caption="what is this?")
    [reply] = await bot.expect(OFFICIAL, before)
    assert reply.text == EN("unsupported_message")


async def test_a_voice_note_gets_a_request_to_type_in_the_senders_language(bot):
    before = len(bot.messages(ARAB_OFFICIAL))
    bot.emulator.send_voice(ARAB_OFFICIAL, language_code="ar")
    [reply] = await bot.expect(ARAB_OFFICIAL, before)
    assert reply.text == RLM + AR("voice_not_supported")
    assert "كتابة سؤالك" in reply.text
    before = len(bot.messages(OFFICIAL))
    bot.emulator.send_voice(OFFICIAL)
    [reply] = await bot.expect(OFFICIAL, before)
    assert reply.text == EN("voice_not_supported")
    assert bot.database.question(1) is None  # nothing was asked


async def test_empty_and_blank_messages(bot):
    [reply] = await bot.say(OFFICIAL, "   \n  ")
    assert reply.text == EN("question_empty")
    [reply] = await bot.say(OFFICIAL, "")
    assert reply.text in (EN("question_empty"), EN("unsupported_message"))
    assert bot.database.question(1) is None  # nothing was asked


async def test_a_5000_character_message_is_refused_politely(bot):
    [reply] = await bot.say(OFFICIAL, "help " * 1000)
    assert reply.text == EN("question_too_long", length=4999, limit=1000)
    [reply] = await bot.say(ARAB_OFFICIAL, "مساعدة " * 800)
    assert reply.text.startswith(RLM + "رسالتك طويلة")


async def test_unknown_command(bot):
    [reply] = await bot.say(OFFICIAL, "/frobnicate")
    assert reply.text == EN("unknown_command")


async def test_html_in_questions_and_knowledge_is_escaped(bot, knowledge):
    path = knowledge / "practices" / "hrastnik-rent-relief-for-business-premises.md"
    path.write_text(
        path.read_text().replace("Rent exemption for businesses", "Rent <b>exemption</b> & relief for businesses")
    )
    bot.engine.rebuild()
    [reply] = await bot.say(OFFICIAL, "rent <exemption> & business premises")
    assert bold(reply)[0] == "1. Rent <b>exemption</b> & relief for businesses in municipal premises"


async def test_long_replies_are_split_under_the_limit(bot, knowledge):
    path = knowledge / "practices" / "tolmin-red-cross-free-transport.md"
    sentence = "Volunteer drivers of the Red Cross & the municipality drove older people to <doctors> and shops. "
    path.write_text(path.read_text() + "\n## Long diary\n" + sentence * 60 + "\n\n" + sentence * 60 + "\n")
    bot.engine.rebuild()
    [reply] = await bot.say(OFFICIAL, "free transport red cross")
    before = len(bot.messages(OFFICIAL))
    bot.emulator.press_button(OFFICIAL, reply.message_id, button(reply, "p:"))
    await bot.expect(OFFICIAL, before, count=3)
    await bot.settle()
    parts = bot.messages(OFFICIAL)[before:]
    assert len(parts) >= 3
    assert all(len(p.text) <= TELEGRAM_LIMIT for p in parts)
    text = "\n".join(p.text for p in parts)
    assert text.count("drove older people to <doctors> and shops") == 120
    assert "Long diary" in [b for p in parts for b in bold(p)]


# -- groups --------------------------------------------------------------------------------


async def test_group_policy_only_commands_mentions_and_replies(bot):
    group = -5000
    ignored = len(bot.messages(group))
    bot.emulator.send_text(OFFICIAL, RENT_EN, chat_type="group", chat_id=group)
    bot.emulator.send_text(STRANGER, "anyone here?", chat_type="group", chat_id=group)  # unknown users are not refused
    bot.emulator.send_text(OFFICIAL, "/help@some_other_bot", chat_type="group", chat_id=group)
    await bot.settle()
    assert len(bot.messages(group)) == ignored
    [reply] = await bot.say(OFFICIAL, f"@{BOT_USERNAME} {RENT_EN}", chat_type="group", chat_id=group)
    assert first_line(reply.text) == EN("results_intro")
    assert reply.reply_to_message is not None  # answers as a reply in a group
    [help_reply] = await bot.say(OFFICIAL, f"/help@{BOT_USERNAME}", chat_type="group", chat_id=group)
    assert "/topics" in help_reply.text
    # a reply to the bot's message counts as addressing it
    before = len(bot.messages(group))
    bot.emulator._user_message(
        {"id": OFFICIAL, "is_bot": False, "first_name": "Tester"},
        "group",
        group,
        {"text": "free transport red cross", "reply_to_message": bot.emulator._messages[(group, reply.message_id)]},
    )
    [answer] = await bot.expect(group, before)
    assert "Tolmin" in answer.text
    [refusal] = await bot.say(STRANGER, f"@{BOT_USERNAME} hello", chat_type="group", chat_id=group)
    assert refusal.text == EN("access_refused") and buttons(refusal) == []  # requests only in private
    [empty] = await bot.say(OFFICIAL, f"@{BOT_USERNAME}", chat_type="group", chat_id=group)
    assert empty.text == EN("question_empty")
    assert bot.database.question(1).question == RENT_EN  # the mention is not part of the question


# -- limits and errors ------------------------------------------------------------------------


async def test_rate_limit_answers_once_with_a_friendly_message(emulator, knowledge, data_dir, engine):
    settings = make_settings(emulator, knowledge, data_dir, rate_limit_per_minute=3)
    running = await start_bot(emulator, settings, engine)
    try:
        for _ in range(3):
            await running.say(OFFICIAL, RENT_EN)
        before = len(running.messages(OFFICIAL))
        emulator.send_text(OFFICIAL, RENT_EN)
        emulator.send_text(OFFICIAL, RENT_EN)
        [warning] = await running.expect(OFFICIAL, before)
        await running.settle()
        assert len(running.messages(OFFICIAL)) == before + 1
        assert warning.text.startswith("You are sending messages faster than I can answer.")
        [other] = await running.say(ARAB_OFFICIAL, RENT_AR)  # other users are not affected
        assert HRASTNIK_TITLE_AR in other.text
    finally:
        await running.stop()
        running.database.close()


async def test_an_engine_failure_is_logged_reported_to_admins_and_answered(bot, caplog, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("index exploded")

    monkeypatch.setattr(bot.engine, "ask", broken)
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    assert reply.text == EN("error_user")
    [notice] = await bot.emulator.wait_for_messages_async(ADMIN)
    assert notice.text == EN("error_admin", user=OFFICIAL, error="RuntimeError: index exploded")
    assert any("index exploded" in (r.exc_text or "") for r in caplog.records if r.levelname == "ERROR")


@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")  # PTB's own retry_after
async def test_telegram_errors_are_survived(bot):
    bot.emulator.fail_next("sendMessage", 429, retry_after=1)  # AIORateLimiter waits and retries
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    assert first_line(reply.text) == EN("results_intro")
    bot.emulator.fail_next("sendChatAction", 500)  # "typing…" is cosmetic
    [reply] = await bot.say(OFFICIAL, "free transport red cross")
    assert "Tolmin" in reply.text
    bot.emulator.block_user(ARAB_OFFICIAL)  # 403: nobody to answer, nothing to tell the admins
    bot.emulator.send_text(ARAB_OFFICIAL, RENT_AR)
    await bot.emulator.wait_until_async(lambda: any("blocked" in e[1] for e in bot.emulator.errors))
    await bot.settle()
    assert bot.messages(ADMIN) == []
    bot.emulator.unblock_user(ARAB_OFFICIAL)
    [reply] = await bot.say(ARAB_OFFICIAL, RENT_AR)
    assert HRASTNIK_TITLE_AR in reply.text


async def test_every_callback_is_answered_once(bot):
    [reply] = await bot.say(OFFICIAL, RENT_EN)
    for data in buttons(reply):
        await bot.press(OFFICIAL, reply, data)
    await bot.settle()
    assert len(bot.emulator.callback_answers) == len(buttons(reply))
    assert not [e for e in bot.emulator.errors if "query is too old" in e[1]]


# -- the catalogues ------------------------------------------------------------------------------


def test_every_interface_text_exists_in_all_three_languages():
    english = catalogue("en")
    for language in LANGUAGES:
        texts = yaml.safe_load((LOCALES / f"{language}.yaml").read_text(encoding="utf-8"))
        assert set(texts) == set(english), language
        for key, value in texts.items():
            fields = {f for _, f, _, _ in string.Formatter().parse(value) if f}
            assert fields == {f for _, f, _, _ in string.Formatter().parse(english[key]) if f}, (language, key)
            if not key.startswith("tpl_"):  # tpl_ texts go into a practice file (its <<placeholders>>), never HTML
                assert "<" not in value.replace("‹", ""), (
                    language,
                    key,
                )  # HTML is added by code, never by the catalogue


def test_callback_data_is_short_and_strict():
    from hypothesis import given
    from hypothesis import settings as examples
    from hypothesis import strategies as st

    from bot import callback_data as cb

    assert cb.parse(cb.encode(cb.MORE, 123456789012, 9)).args == ("123456789012", "9")
    assert cb.parse("ap:../../1") is None and cb.parse("m:1:2:3") is None and cb.parse("p:" + "0" * 64) is None
    assert cb.parse("t:local-business:0:ar").args == ("local-business", "0", "ar")

    @examples(max_examples=60, deadline=None)
    @given(st.text(max_size=80))
    def any_text(data):
        parsed = cb.parse(data)
        assert parsed is None or cb.encode(parsed.action, *parsed.args) == data

    any_text()
