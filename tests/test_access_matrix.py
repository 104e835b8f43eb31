"""Access, exhaustively: every command and every kind of button, pressed by everyone who lacks
the role it needs, is refused and changes nothing; people without access never see knowledge;
groups follow README "Group chats". Extends tests/test_bot_access.py, which covers the flows.

The tables below are checked against what the application registers, so a new command or a
new kind of button fails here until someone decides who may use it.
"""

from __future__ import annotations

import json

import pytest
from telegram.ext import CallbackQueryHandler, CommandHandler

from bot import callback_data as cb
from bot.telegram_app import PUBLIC_COMMANDS
from bot.texts import Texts
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    BOT_USERNAME,
    COORDINATOR,
    NEW_PRACTICE,
    OFFICIAL,
    STRANGER,
    buttons,
    make_settings,
    start_bot,
)

EN = Texts("en")
PENDING, DENIED = 2002, 2003  # strangers who asked for access: one still waiting, one refused
QUESTION = "rent exemption for business premises"
ADMIN_COMMANDS = {
    "reindex": "/reindex",
    "status": "/status",
    "gaps": "/gaps",
    "stats": "/stats",
    "remove": "/remove kocevje-cash-free-food-packages",
}
COORDINATOR_COMMANDS = {"template": "/template", "edit": "/edit hrastnik-rent-relief-for-business-premises"}
# The least role each kind of button needs ("ra", asking for access, is for everyone).
NEEDS = {
    cb.MORE: "official",
    cb.FULL: "official",
    cb.SOURCES: "official",
    cb.FEEDBACK: "official",
    cb.TOPICS: "official",
    cb.TOPIC: "official",
    cb.LANGUAGE: "official",
    cb.REQUEST_ACCESS: "anyone",
    cb.APPROVE: "admin",
    cb.DENY: "admin",
    cb.PUBLISH: "coordinator",
    cb.CANCEL: "coordinator",
    cb.NARROW: "official",
    cb.NARROW_TOPIC: "official",
    cb.NEW_QUESTION: "official",
    cb.ASK_TEAM: "official",
    cb.DRAFT: "coordinator",
    cb.BRIEF_ANSWER: "official",
    cb.BRIEF_PRACTICE: "official",
}
RANK = {"anyone": 0, "official": 1, "coordinator": 2, "admin": 3}
EXAMPLES = {  # one well-formed press of each kind
    cb.MORE: "m:1:3",
    cb.FULL: "p:0123456789ab:en",
    cb.SOURCES: "s:0123456789ab:en",
    cb.FEEDBACK: "fb:1:u",
    cb.TOPICS: "tl:en",
    cb.TOPIC: "t:health:0:en",
    cb.LANGUAGE: "l:ar",
    cb.REQUEST_ACCESS: "ra:en",
    cb.APPROVE: "ap:5",
    cb.DENY: "dn:5",
    cb.PUBLISH: "pub:1",
    cb.CANCEL: "cx:1",
    cb.NARROW: "n:1",
    cb.NARROW_TOPIC: "nt:1:health",
    cb.NEW_QUESTION: "nq",
    cb.ASK_TEAM: "tq:1",
    cb.DRAFT: "dr:1",
    cb.BRIEF_ANSWER: "bq:1",
    cb.BRIEF_PRACTICE: "bp:0123456789ab:en",
}
USERS = {STRANGER: "anyone", PENDING: "anyone", DENIED: "anyone", OFFICIAL: "official", COORDINATOR: "coordinator"}


@pytest.fixture
async def bot(emulator, knowledge, data_dir, engine):
    running = await start_bot(
        emulator, make_settings(emulator, knowledge, data_dir, rate_limit_per_minute=1000), engine
    )
    running.database.request_access(PENDING, "Pending", None, "en")
    running.database.request_access(DENIED, "Denied", None, "en")
    running.database.decide(DENIED, "denied", ADMIN)
    yield running
    await running.stop()
    running.database.close()


def state(bot, knowledge) -> str:
    """Everything a refused action could have changed: every table, and the knowledge folder."""
    db = bot.database
    names = ("users", "preferences", "questions", "feedback", "uploads", "team_questions", "team_messages", "audit_log")
    tables = {t: db._all(f"select * from {t}") for t in names}  # noqa: S608 - literal table names
    files = {str(p.relative_to(knowledge)): p.read_bytes().hex() for p in sorted(knowledge.rglob("*")) if p.is_file()}
    return json.dumps([tables, files], default=str, sort_keys=True)


def registered(bot):
    handlers = [h for group in bot.application.handlers.values() for h in group]
    commands = {c for h in handlers if isinstance(h, CommandHandler) for c in h.commands}
    return commands, handlers


def test_the_tables_cover_every_command_and_button_the_bot_registers(emulator, knowledge, data_dir, engine):
    from bot.database import BotDatabase
    from bot.telegram_app import build_application

    database = BotDatabase.in_data_dir(data_dir)
    try:
        app = build_application(make_settings(emulator, knowledge, data_dir), engine, database)
        handlers = [h for group in app.handlers.values() for h in group]
        commands = {c for h in handlers if isinstance(h, CommandHandler) for c in h.commands}
        assert commands == set(PUBLIC_COMMANDS) | set(ADMIN_COMMANDS) | set(COORDINATOR_COMMANDS)
        patterns = [h.pattern for h in handlers if isinstance(h, CallbackQueryHandler) and callable(h.pattern)]
        kinds = {action for action, data in EXAMPLES.items() if any(pattern(data) for pattern in patterns)}
        assert set(NEEDS) == set(EXAMPLES) == set(cb._FORMS) == kinds
    finally:
        database.close()


async def example_data(bot) -> dict[str, str]:
    """For each kind of button, data that would do something for a user with the role."""
    await bot.say(OFFICIAL, QUESTION)
    [preview] = await bot.send_document(
        COORDINATOR, "zrece-beekeepers-honey-for-quarantined-families.md", NEW_PRACTICE.encode()
    )
    question = bot.database.question(1).id
    upload = int(next(d for d in buttons(preview) if d.startswith("pub:")).split(":")[1])
    practice = cb.digest("hrastnik-rent-relief-for-business-premises")
    data = {
        cb.MORE: cb.encode(cb.MORE, question, 3),
        cb.FULL: cb.encode(cb.FULL, practice, "en"),
        cb.SOURCES: cb.encode(cb.SOURCES, practice, "en"),
        cb.FEEDBACK: cb.encode(cb.FEEDBACK, question, "u"),
        cb.TOPICS: cb.encode(cb.TOPICS, "en"),
        cb.TOPIC: cb.encode(cb.TOPIC, "local-business", 0, "en"),
        cb.LANGUAGE: cb.encode(cb.LANGUAGE, "ar"),
        cb.REQUEST_ACCESS: cb.encode(cb.REQUEST_ACCESS, "en"),
        cb.APPROVE: cb.encode(cb.APPROVE, PENDING),
        cb.DENY: cb.encode(cb.DENY, PENDING),
        cb.PUBLISH: cb.encode(cb.PUBLISH, upload),
        cb.CANCEL: cb.encode(cb.CANCEL, upload),
        cb.NARROW: cb.encode(cb.NARROW, question),
        cb.NARROW_TOPIC: cb.encode(cb.NARROW_TOPIC, question, "local-business"),
        cb.NEW_QUESTION: cb.encode(cb.NEW_QUESTION),
        cb.ASK_TEAM: cb.encode(cb.ASK_TEAM, question),
        cb.DRAFT: cb.encode(cb.DRAFT, 1),
        cb.BRIEF_ANSWER: cb.encode(cb.BRIEF_ANSWER, question),
        cb.BRIEF_PRACTICE: cb.encode(cb.BRIEF_PRACTICE, practice, "en"),
    }
    assert set(data) == set(NEEDS)
    return data


def refusal(user: int, kind: str) -> str:
    if USERS[user] == "anyone":
        return EN({STRANGER: "access_refused", PENDING: "access_pending", DENIED: "access_declined"}[user])
    return EN("admins_only") if NEEDS[kind] == "admin" else EN("coordinators_only")


async def a_message_with_buttons(bot, user: int, data: list[str]):
    """A bot message in the user's chat carrying the given buttons (forged: data is untrusted)."""
    [message] = await bot.say(user, "/help")
    bot.emulator._messages[(user, message.message_id)]["reply_markup"] = {
        "inline_keyboard": [[{"text": "x", "callback_data": d}] for d in data]
    }
    return message


async def test_every_button_is_refused_to_everyone_without_its_role(bot, knowledge):
    data = await example_data(bot)
    messages = {user: await a_message_with_buttons(bot, user, list(data.values())) for user in USERS}
    refused = 0
    for kind in sorted(NEEDS, key=lambda k: k == cb.REQUEST_ACCESS):  # asking for access removes the buttons: last
        for user, role in USERS.items():
            if RANK[role] >= RANK[NEEDS[kind]]:
                continue
            before, sent_before = state(bot, knowledge), len(bot.emulator.calls_of("sendMessage"))
            answer, _new = await bot.press(user, messages[user], data[kind])
            assert answer["text"] == refusal(user, kind), (user, kind)
            assert answer.get("show_alert") is True, (user, kind)
            await bot.settle(0.02)
            assert len(bot.emulator.calls_of("sendMessage")) == sent_before, (user, kind)  # nobody was told anything
            assert state(bot, knowledge) == before, (user, kind)
            refused += 1
    # 3 strangers x every kind but "ra", the official x 5 (approve, deny, publish, cancel, draft), the coordinator x 2
    assert refused == 3 * (len(NEEDS) - 1) + 5 + 2


async def test_every_admin_command_is_refused_to_everyone_else(bot, knowledge):
    commands, _ = registered(bot)
    assert commands - set(PUBLIC_COMMANDS) == set(ADMIN_COMMANDS) | set(COORDINATOR_COMMANDS)
    for chat_type in ("private", "group"):
        for user in (OFFICIAL, COORDINATOR, STRANGER, PENDING, DENIED):
            for name in sorted(ADMIN_COMMANDS):
                text = ADMIN_COMMANDS[name]
                if chat_type == "group":
                    text = text.replace(f"/{name}", f"/{name}@{BOT_USERNAME}")
                before = state(bot, knowledge)
                [reply] = await bot.say(user, text, chat_type=chat_type)
                assert reply.text == refusal(user, cb.APPROVE), (user, name, chat_type)
                button_allowed = chat_type == "private" and user == STRANGER
                assert buttons(reply) == (["ra:en"] if button_allowed else []), (user, name, chat_type)
                assert (reply.reply_to_message is not None) == (chat_type == "group")
                assert state(bot, knowledge) == before, (user, name, chat_type)


async def test_every_coordinator_command_is_refused_to_officials_and_strangers(bot, knowledge):
    for user in (OFFICIAL, STRANGER, PENDING, DENIED):
        for name, text in sorted(COORDINATOR_COMMANDS.items()):
            before = state(bot, knowledge)
            [reply] = await bot.say(user, text)
            assert reply.text == refusal(user, cb.PUBLISH), (user, name)
            assert state(bot, knowledge) == before, (user, name)
    assert all(bot.emulator.sent_files(user) == [] for user in (OFFICIAL, STRANGER, PENDING, DENIED))


def knowledge_texts(bot) -> list[str]:
    """Every piece of curated text an official could be shown (long enough to be telling)."""
    found = set()
    for practice in bot.engine.index.practices.values():
        meta = practice.meta
        for field in ("title", "summary", "transferability"):
            found.update(getattr(meta, field).values())
        found.update(s.url for s in meta.sources)
        found.update(s.title for s in meta.sources)
        found.update(meta.outcomes)
        found.update(text[:40] for _, text in practice.sections if text)
    return sorted(t for t in found if len(t) >= 12)


async def test_people_without_access_never_see_knowledge(bot):
    data = await example_data(bot)
    presses = sorted(data.values(), key=lambda d: d.startswith("ra:"))  # asking for access removes the buttons: last
    for user in (STRANGER, PENDING, DENIED):
        for text in (
            QUESTION,
            "إعفاء الشركات من إيجار المباني البلدية",
            "/start",
            "/help",
            "/topics",
            "/language",
            "/brief",
            "/gaps",
        ):
            await bot.say(user, text)
            await bot.say(user, f"@{BOT_USERNAME} {text}", chat_type="group")
        message = await a_message_with_buttons(bot, user, presses)
        for item in presses:
            await bot.press(user, message, item)
    await bot.settle(0.1)
    shown = [m.text or "" for user in (STRANGER, PENDING, DENIED) for chat in (user, -user) for m in bot.messages(chat)]
    shown += [a.get("text") or "" for a in bot.emulator.callback_answers]
    assert len(shown) > 80
    leaks = [(piece, text) for piece in knowledge_texts(bot) for text in shown if piece in text]
    assert leaks == []
    assert [m.text for m in bot.messages(OFFICIAL)][0].startswith(
        EN("results_intro")
    )  # the texts are real: an official sees them


async def test_groups_follow_the_documented_policy(bot):
    group = -6000
    quiet = len(bot.messages(group))
    for user in (STRANGER, OFFICIAL, PENDING):  # not addressed to the bot: silence, for everyone
        bot.emulator.send_text(user, QUESTION, chat_type="supergroup", chat_id=group)
        bot.emulator.send_text(user, "/status@another_bot", chat_type="supergroup", chat_id=group)
        bot.emulator.send_sticker(user, chat_type="supergroup")
    await bot.settle(0.2)
    assert len(bot.messages(group)) == quiet and len(bot.messages(-STRANGER)) == 0
    assert bot.database.stats()["total"] == 0

    [answer] = await bot.say(OFFICIAL, f"@{BOT_USERNAME} {QUESTION}", chat_type="supergroup", chat_id=group)
    assert answer.text.startswith(EN("results_intro")) and answer.reply_to_message is not None
    # A stranger replying to the bot's answer addresses it: refused, as a reply, without a button.
    before = len(bot.messages(group))
    bot.emulator._user_message(
        {"id": STRANGER, "is_bot": False, "first_name": "Zaid"},
        "supergroup",
        group,
        {"text": "and for us?", "reply_to_message": bot.emulator._messages[(group, answer.message_id)]},
    )
    [refused] = await bot.expect(group, before)
    assert refused.text == EN("access_refused") and buttons(refused) == [] and refused.reply_to_message is not None
    # The answer's buttons work for the official and are refused to the stranger, in the group too.
    feedback = next(d for d in buttons(answer) if d.startswith("fb:"))
    reply, _ = await bot.press(STRANGER, answer, feedback, chat_id=group)
    assert reply["text"] == EN("access_refused") and reply["show_alert"] is True
    reply, _ = await bot.press(OFFICIAL, answer, feedback, chat_id=group)
    assert reply["text"] == EN("feedback_thanks")
    assert bot.database.feedback(bot.database.question(1).id) == {OFFICIAL: 1}
    # Files are accepted only in private chats, whoever sends them.
    before = len(bot.messages(-COORDINATOR))
    bot.emulator.send_document(
        COORDINATOR,
        "zrece-beekeepers-honey-for-quarantined-families.md",
        NEW_PRACTICE.encode(),
        chat_type="supergroup",
        caption=f"@{BOT_USERNAME}",
    )
    [refused] = await bot.expect(-COORDINATOR, before)
    assert refused.text == EN("document_private_only") and not bot.emulator.calls_of("getFile")
    assert len(bot.messages(-STRANGER)) == 0  # never a message to the stranger's own chat either


async def test_ids_in_buttons_are_checked_again(bot):
    """Valid-looking data whose ids do not fit the presser, the chat or the database."""
    data = await example_data(bot)
    [_other] = await bot.say(ARAB_OFFICIAL, QUESTION)  # question 2, asked in another chat
    foreign = bot.database.question(2).id
    cases = {
        cb.encode(cb.FEEDBACK, foreign, "d"): EN("button_invalid"),
        cb.encode(cb.MORE, foreign, 3): EN("button_invalid"),
        cb.encode(cb.APPROVE, 999_999): EN("access_unknown_request"),
        cb.encode(cb.DENY, DENIED): EN("access_already_decided", decision="denied"),
        cb.encode(cb.PUBLISH, 999): EN("upload_not_pending"),
        cb.encode(cb.CANCEL, 999): EN("upload_not_pending"),
        cb.encode(cb.FULL, cb.digest("no-such-practice"), "en"): EN("practice_gone"),
        cb.encode(cb.TOPIC, "no-such-topic", 0, "en"): EN("topic_empty"),
        cb.encode(cb.NARROW, foreign): EN("button_invalid"),
        cb.encode(cb.NARROW_TOPIC, foreign, "local-business"): EN("button_invalid"),
        cb.encode(cb.ASK_TEAM, foreign): EN("button_invalid"),
        cb.encode(cb.DRAFT, 999): EN("button_invalid"),
    }
    message = await a_message_with_buttons(bot, ADMIN, list(cases))  # an admin: the role is not what stops these
    for item, expected in cases.items():
        answer, _ = await bot.press(ADMIN, message, item)
        assert answer["text"] == expected, item
    assert bot.database.feedback(foreign) == {} and bot.database.user_status(DENIED) == "denied"
    assert bot.database.upload(int(data[cb.PUBLISH].split(":")[1])).status == "pending"
