"""Access control end to end: refusals, requests, admin decisions that survive a restart, and
admin/coordinator powers that no one else gets, whatever the callback data says."""

from __future__ import annotations

from bot.database import BotDatabase
from bot.texts import Texts
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    COORDINATOR,
    NEW_PRACTICE,
    OFFICIAL,
    RLM,
    STRANGER,
    button,
    buttons,
    iso,
    make_settings,
    start_bot,
)

EN, AR = Texts("en"), Texts("ar")
QUESTION = "rent exemption for business premises"


async def test_unknown_user_is_refused_politely_and_can_request_access(bot):
    [refusal] = await bot.say(STRANGER, QUESTION, first_name="Zaid")
    assert refusal.text == EN("access_refused")
    assert buttons(refusal) == ["ra:en"]
    assert bot.database.question(1) is None  # nothing was searched or logged
    assert not bot.emulator.calls_of("sendChatAction")

    _answer, [sent] = await bot.press(STRANGER, refusal, "ra:en", count=1, first_name="Zaid")
    assert sent.text == EN("access_requested")
    [request] = await bot.emulator.wait_for_messages_async(ADMIN)
    assert request.text == EN("access_request_admin", name=iso("Zaid"), username="", user_id=STRANGER, language="en")
    assert buttons(request) == [f"ap:{STRANGER}", f"dn:{STRANGER}"]
    assert bot.database.user_status(STRANGER) == "pending"

    [pending] = await bot.say(STRANGER, QUESTION)
    assert pending.text == EN("access_pending") and buttons(pending) == []


async def test_refusal_in_arabic(bot):
    [refusal] = await bot.say(STRANGER, "كيف ساعدت البلديات كبار السن؟", language_code="ar")
    assert refusal.text == RLM + AR("access_refused")
    assert [b.text for row in refusal.reply_markup.inline_keyboard for b in row] == [AR("button_request_access")]


async def test_approval_lets_the_user_in_and_survives_a_restart(emulator, settings, engine):
    first = await start_bot(emulator, settings, engine)
    [refusal] = await first.say(STRANGER, QUESTION, language_code="ar")
    await first.press(STRANGER, refusal, "ra:ar", count=1)
    [request] = await emulator.wait_for_messages_async(ADMIN)
    _answer, _ = await first.press(ADMIN, request, f"ap:{STRANGER}")
    [welcome] = await first.expect(STRANGER, 2)  # refusal, "request sent", then this
    assert welcome.text == RLM + AR("access_granted").replace("/start", "/\u2068start\u2069")
    [edited] = emulator.sent_messages(ADMIN)
    assert edited.text == EN(
        "access_decided_admin", name=iso("Tester"), user_id=STRANGER, decision="approved", admin=iso("Tester")
    )
    assert buttons(edited) == []
    [reply] = await first.say(STRANGER, QUESTION)
    assert "Hrastnik" in reply.text
    await first.stop()
    first.database.close()

    second = await start_bot(
        emulator, settings, engine, BotDatabase.in_data_dir(settings.data_dir)
    )  # a new process would do this
    try:
        [reply] = await second.say(STRANGER, QUESTION)
        assert "Hrastnik" in reply.text
        assert second.database.user(STRANGER)["decided_by"] == ADMIN
    finally:
        await second.stop()
        second.database.close()


async def test_denial_is_final_and_survives_a_restart(emulator, settings, engine):
    first = await start_bot(emulator, settings, engine)
    [refusal] = await first.say(STRANGER, QUESTION)
    await first.press(STRANGER, refusal, "ra:en", count=1)
    [request] = await emulator.wait_for_messages_async(ADMIN)
    await first.press(ADMIN, request, f"dn:{STRANGER}")
    [told] = await first.expect(STRANGER, 2)
    assert told.text == EN("access_refused_final")
    await first.stop()
    first.database.close()

    second = await start_bot(emulator, settings, engine)
    try:
        [again] = await second.say(STRANGER, QUESTION)
        assert again.text == EN("access_declined") and buttons(again) == []
        # the old "request access" button cannot reopen the case
        emulator._messages[(STRANGER, refusal.message_id)]["reply_markup"] = refusal.reply_markup.to_dict()
        answer, _ = await second.press(STRANGER, refusal, "ra:en")
        assert answer["text"] == EN("access_declined") and answer["show_alert"] is True
        assert second.database.user_status(STRANGER) == "denied"
    finally:
        await second.stop()
        second.database.close()


async def test_a_request_is_decided_once(bot):
    [refusal] = await bot.say(STRANGER, QUESTION)
    await bot.press(STRANGER, refusal, "ra:en", count=1)
    [request] = await bot.emulator.wait_for_messages_async(ADMIN)
    # another admin message with the same buttons, e.g. for a second admin
    bot.emulator._messages[(ADMIN, request.message_id)]["reply_markup"] = request.reply_markup.to_dict()
    await bot.press(ADMIN, request, f"ap:{STRANGER}")
    bot.emulator._messages[(ADMIN, request.message_id)]["reply_markup"] = request.reply_markup.to_dict()
    answer, _ = await bot.press(ADMIN, request, f"dn:{STRANGER}")
    assert answer["text"] == EN("access_already_decided", decision="approved")
    assert bot.database.user_status(STRANGER) == "approved"


async def test_open_access_with_a_star(emulator, knowledge, data_dir, engine):
    running = await start_bot(emulator, make_settings(emulator, knowledge, data_dir, allowed_users=["*"]), engine)
    try:
        [reply] = await running.say(STRANGER, QUESTION)
        assert "Hrastnik" in reply.text
    finally:
        await running.stop()
        running.database.close()


async def test_without_admins_nobody_can_request(emulator, knowledge, data_dir, engine):
    running = await start_bot(emulator, make_settings(emulator, knowledge, data_dir, admins=[]), engine)
    try:
        [refusal] = await running.say(STRANGER, QUESTION)
        assert refusal.text == EN("access_refused") + "\n\n" + EN("access_no_admins")
        assert buttons(refusal) == []
    finally:
        await running.stop()
        running.database.close()


async def test_admin_only_in_arabic(bot):
    [reply] = await bot.say(ARAB_OFFICIAL, "/status", language_code="ar")
    assert reply.text == RLM + AR("admins_only")


async def test_forged_admin_buttons_change_nothing(bot):
    [refusal] = await bot.say(STRANGER, QUESTION)
    await bot.press(STRANGER, refusal, "ra:en", count=1)
    [official_reply] = await bot.say(OFFICIAL, QUESTION)
    inject = bot.emulator._messages[(OFFICIAL, official_reply.message_id)]
    forged = {
        "inline_keyboard": [
            [
                {"text": "x", "callback_data": data}
                for data in (f"ap:{STRANGER}", f"ap:{OFFICIAL}", f"dn:{ADMIN}", "pub:1", "cx:1")
            ]
        ]
    }
    inject["reply_markup"] = forged
    for data in (f"ap:{STRANGER}", f"ap:{OFFICIAL}", f"dn:{ADMIN}"):
        answer, _ = await bot.press(OFFICIAL, official_reply, data)
        assert answer["text"] == EN("admins_only") and answer["show_alert"] is True
    for data in ("pub:1", "cx:1"):
        answer, _ = await bot.press(OFFICIAL, official_reply, data)
        assert answer["text"] == EN("coordinators_only")
    assert bot.database.user_status(STRANGER) == "pending"
    # an unknown user pressing the same forged buttons is refused before anything else
    stranger_chat = bot.emulator._messages[(STRANGER, refusal.message_id)]
    stranger_chat["reply_markup"] = forged
    answer, _ = await bot.press(STRANGER, refusal, f"ap:{STRANGER}")
    assert answer["text"] == EN("access_pending")
    assert bot.database.user_status(STRANGER) == "pending"


async def test_forged_and_stale_data_is_answered_and_ignored(bot, knowledge):
    [reply] = await bot.say(OFFICIAL, QUESTION)
    [_other] = await bot.say(ARAB_OFFICIAL, QUESTION)  # a question asked in another chat
    other_id = bot.database.question(2).id
    data = [
        "m:999999:3",
        f"m:{other_id}:3",
        "m:1:0",
        "m:1:99",
        f"fb:{other_id}:u",
        "fb:1:x",
        "p:000000000000:en",
        "s:0123456789ab:ar",
        "p:../../etc:en",
        "t:no-such-topic:0:en",
        "t:local-business:999:en",
        "l:xx",
        "l:en:extra",
        "tl:english",
        "ap:abc",
        "pub:-1",
        "x" * 64,
        "💥",
    ]
    inject = bot.emulator._messages[(OFFICIAL, reply.message_id)]
    inject["reply_markup"] = {"inline_keyboard": [[{"text": "x", "callback_data": d}] for d in data]}
    texts = []
    for item in data:
        answer, _ = await bot.press(OFFICIAL, reply, item)
        texts.append(answer.get("text"))
    await bot.settle()
    expected = (EN("button_invalid"), EN("practice_gone"), AR("practice_gone"), EN("topic_empty"))
    bad = [(d, t) for d, t in zip(data, texts) if t not in expected]
    assert not bad
    assert len(bot.messages(OFFICIAL)) == 1  # nothing but the first answer was ever sent here
    assert bot.database.feedback(other_id) == {}
    assert bot.database.language(OFFICIAL) is None


async def test_a_coordinator_cannot_publish_someone_elses_upload(bot):
    [preview] = await bot.send_document(
        COORDINATOR, "zrece-beekeepers-honey-for-quarantined-families.md", NEW_PRACTICE.encode()
    )
    upload = button(preview, "pub:")
    inject = bot.emulator._messages[(COORDINATOR, preview.message_id)]
    admin_message = (await bot.say(ADMIN, "/help"))[0]
    bot.emulator._messages[(ADMIN, admin_message.message_id)]["reply_markup"] = inject["reply_markup"]
    answer, _ = await bot.press(ADMIN, admin_message, upload)  # admins may publish, but only their own uploads
    assert answer["text"] == EN("upload_not_pending")
    assert bot.database.upload(int(upload.split(":")[1])).status == "pending"
