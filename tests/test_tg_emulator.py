"""Proves the Bot API emulator against the real python-telegram-bot."""

import asyncio
import datetime as dtm
import html
import os
import socket
import subprocess
import sys
import time

import pytest
import telegram
from hypothesis import given
from hypothesis import strategies as st
from telegram import InlineKeyboardButton, InlineKeyboardMarkup
from telegram.error import (
    BadRequest,
    Conflict,
    EndPointNotFound,
    Forbidden,
    InvalidToken,
    NetworkError,
    RetryAfter,
    TimedOut,
)
from telegram.ext import Application, CallbackQueryHandler, CommandHandler, MessageHandler, filters

from tests.tg_emulator import HtmlParseError, parse_html

USER = 42
KEYBOARD = InlineKeyboardMarkup(
    [[InlineKeyboardButton("Yes", callback_data="yes"), InlineKeyboardButton("No", callback_data="no")]]
)


async def start(update, context):
    await update.message.reply_text(f"Hello, {update.effective_user.first_name}!", reply_markup=KEYBOARD)


async def echo(update, context):
    await update.message.reply_text(f"echo: {update.message.text}")


async def choose(update, context):
    query = update.callback_query
    await query.answer(f"got {query.data}")
    await query.edit_message_text(f"You chose {query.data}")


async def reverse_document(update, context):
    document = update.message.document
    data = bytes(await (await document.get_file()).download_as_bytearray())
    await update.message.reply_document(
        data[::-1],
        filename=f"reversed-{document.file_name}",
        caption=f"Prejel sem {len(data)} bajtov — vračam obrnjeno",
    )


def build_app(emulator):
    app = (
        Application.builder()
        .token(emulator.token)
        .base_url(f"{emulator.base_url}/bot")
        .base_file_url(f"{emulator.base_url}/file/bot")
        .build()
    )
    app.add_handler(CommandHandler("start", start))
    app.add_handler(MessageHandler(filters.TEXT & ~filters.COMMAND, echo))
    app.add_handler(CallbackQueryHandler(choose))
    app.add_handler(MessageHandler(filters.Document.ALL, reverse_document))
    return app


def make_bot(emulator, token=None):
    return telegram.Bot(
        token or emulator.token, base_url=f"{emulator.base_url}/bot", base_file_url=f"{emulator.base_url}/file/bot"
    )


@pytest.fixture
async def polling_app(tg_emulator):
    app = build_app(tg_emulator)
    async with app:
        await app.start()
        await app.updater.start_polling(poll_interval=0.0, timeout=1)
        yield app
        await app.updater.stop()
        await app.stop()


@pytest.fixture
async def bot(tg_emulator):
    """A bare PTB Bot, without polling, for calling the API directly."""
    async with make_bot(tg_emulator) as bot:
        yield bot


# --- a PTB Application end to end


async def test_command_is_answered_with_greeting_and_keyboard(tg_emulator, polling_app):
    tg_emulator.send_text(USER, "/start", first_name="Alma")
    [reply] = await tg_emulator.wait_for_messages_async(USER)
    assert reply.text == "Hello, Alma!"
    assert [[b.callback_data for b in row] for row in reply.reply_markup.inline_keyboard] == [["yes", "no"]]
    sent = tg_emulator.calls_of("sendMessage")[-1]
    assert sent["chat_id"] == USER
    assert sent["reply_markup"]["inline_keyboard"][0][0] == {"text": "Yes", "callback_data": "yes"}


async def test_command_addressed_to_the_bot_in_a_group(tg_emulator, polling_app):
    tg_emulator.send_text(USER, "/start@peerbot_test_bot", chat_type="group", first_name="Bo")
    [reply] = await tg_emulator.wait_for_messages_async(-USER)
    assert reply.text == "Hello, Bo!"
    assert reply.chat.type == "group"


async def test_text_is_echoed_raw(tg_emulator, polling_app):
    for text in ("123", "true", '<b>not markup</b> & {"json": 1}', "hello /start"):
        tg_emulator.send_text(USER, text)
    replies = await tg_emulator.wait_for_messages_async(USER, 4)
    assert [m.text for m in replies] == [
        "echo: 123",
        "echo: true",
        'echo: <b>not markup</b> & {"json": 1}',
        "echo: hello /start",
    ]


async def test_strings_travel_raw_and_other_fields_as_json(tg_emulator, bot):
    message = await bot.send_message(USER, "123", reply_markup=KEYBOARD)
    assert message.text == "123"
    [params] = tg_emulator.calls_of("sendMessage")
    assert params["text"] == "123"
    assert params["chat_id"] == USER
    assert params["reply_markup"] == KEYBOARD.to_dict()


async def test_button_press_is_answered_and_edits_the_message(tg_emulator, polling_app):
    tg_emulator.send_text(USER, "/start")
    [greeting] = await tg_emulator.wait_for_messages_async(USER)
    tg_emulator.press_button(USER, greeting.message_id, "yes")
    [answer] = await tg_emulator.wait_for_callback_answers_async(1)
    assert answer["text"] == "got yes"
    await tg_emulator.wait_until_async(
        lambda: tg_emulator.sent_messages(USER)[0].text == "You chose yes", what="the edit"
    )
    [edited] = tg_emulator.sent_messages(USER)
    assert edited.reply_markup is None  # an edit without reply_markup drops the keyboard
    assert edited.edit_date is not None
    with pytest.raises(BadRequest, match=r"^Query is too old"):
        await polling_app.bot.answer_callback_query(answer["callback_query_id"])
    with pytest.raises(ValueError, match="no button"):
        tg_emulator.press_button(USER, greeting.message_id, "yes")


async def test_document_upload_and_download_round_trip_bytes(tg_emulator, polling_app):
    content = bytes(range(256)) * 10
    tg_emulator.send_document(USER, "notes.txt", content, mime_type="text/plain")
    [sent] = await tg_emulator.wait_for_files_async(USER)
    assert (sent.kind, sent.file_name, sent.mime_type) == ("document", "reversed-notes.txt", "text/plain")
    # A non-ASCII caption proves multipart text parts arrive as UTF-8 strings.
    assert sent.caption == "Prejel sem 2560 bajtov — vračam obrnjeno"
    assert sent.content == content[::-1]
    [message] = tg_emulator.sent_messages(USER)
    assert message.document.file_size == len(content)
    downloaded = await (await polling_app.bot.get_file(sent.file_id)).download_as_bytearray()
    assert bytes(downloaded) == content[::-1]


async def test_webhook_mode_with_ptb_webhook_server(tg_emulator):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    url = f"http://127.0.0.1:{port}/hook"
    app = build_app(tg_emulator)
    async with app:
        await app.start()
        await app.updater.start_webhook(
            listen="127.0.0.1", port=port, url_path="hook", webhook_url=url, secret_token="s3cret"
        )
        try:
            assert tg_emulator.webhook == {"url": url, "secret_token": "s3cret"}
            with pytest.raises(Conflict, match="webhook is active"):
                await app.bot.get_updates()
            status = await tg_emulator.deliver_via_webhook_async(tg_emulator.send_text(USER, "via hook"))
            assert status == 200
            [reply] = await tg_emulator.wait_for_messages_async(USER)
            assert reply.text == "echo: via hook"
            assert tg_emulator.pending_update_ids() == []
            forged = tg_emulator.send_text(USER, "forged")
            assert await tg_emulator.deliver_via_webhook_async(forged, secret_token="bad") == 403
        finally:
            await app.updater.stop()
            await app.stop()


BOT_SCRIPT = """
import os
from telegram.ext import Application, MessageHandler, filters

async def echo(update, context):
    await update.message.reply_text("echo: " + update.message.text)

base = os.environ["TELEGRAM_API_BASE"]
app = (Application.builder().token(os.environ["TELEGRAM_BOT_TOKEN"])
       .base_url(base + "/bot").base_file_url(base + "/file/bot").build())
app.add_handler(MessageHandler(filters.TEXT, echo))
app.run_polling(poll_interval=0.0, timeout=1)
"""


def test_bot_in_a_separate_process(tg_emulator, tmp_path):
    script = tmp_path / "echo_bot.py"
    script.write_text(BOT_SCRIPT)
    env = {**os.environ, "TELEGRAM_API_BASE": tg_emulator.base_url, "TELEGRAM_BOT_TOKEN": tg_emulator.token}
    process = subprocess.Popen([sys.executable, str(script)], env=env)
    try:
        tg_emulator.send_text(7, "from afar")
        [reply] = tg_emulator.wait_for_messages(7, timeout=15)
        assert reply.text == "echo: from afar"
    finally:
        process.terminate()
        returncode = process.wait(timeout=10)
    assert returncode == 0  # PTB stops cleanly on SIGTERM


# --- getUpdates semantics


async def test_updates_of_every_kind_parse_and_offset_drops_them(tg_emulator, bot):
    tg_emulator.send_photo(USER, b"\xff\xd8jpeg", caption="look")
    tg_emulator.send_sticker(USER, emoji="🎉")
    tg_emulator.send_text(USER, "/help me", language_code="sl")
    photo, sticker, command = await bot.get_updates()
    assert photo.message.caption == "look"
    assert photo.message.photo[-1].file_size == 6
    assert sticker.message.sticker.emoji == "🎉"
    assert command.message.entities[0].type == "bot_command"
    assert command.message.entities[0].length == len("/help")
    assert command.message.from_user.language_code == "sl"
    assert command.message.date.year >= 2024  # seconds, not milliseconds
    assert len(await bot.get_updates(offset=sticker.update_id)) == 2
    assert await bot.get_updates(offset=command.update_id + 1) == ()
    assert tg_emulator.pending_update_ids() == []


async def test_kinds_outside_allowed_updates_are_not_delivered(tg_emulator, bot):
    message = await bot.send_message(USER, "pick", reply_markup=KEYBOARD)
    assert await bot.get_updates(allowed_updates=["message"]) == ()
    tg_emulator.press_button(USER, message.message_id, "yes")
    tg_emulator.send_text(USER, "hi")
    [update] = await bot.get_updates()
    assert update.message.text == "hi"


async def test_long_poll_returns_promptly_and_honours_timeout(tg_emulator, bot):
    poll = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    started = time.monotonic()
    tg_emulator.send_text(USER, "wake up")
    [update] = await poll
    assert time.monotonic() - started < 0.5
    started = time.monotonic()
    assert await bot.get_updates(offset=update.update_id + 1, timeout=dtm.timedelta(seconds=0.3)) == ()
    assert 0.25 < time.monotonic() - started < 1.5


async def test_a_second_poller_terminates_the_first(tg_emulator, bot):
    first = asyncio.create_task(bot.get_updates(timeout=5))
    await asyncio.sleep(0.1)
    async with make_bot(tg_emulator) as second:
        assert await second.get_updates() == ()
    with pytest.raises(Conflict, match="terminated by other getUpdates request"):
        await first


async def test_webhook_blocks_polling_until_deleted(tg_emulator, bot):
    assert await bot.set_webhook("https://example.invalid/hook", secret_token="abc")
    assert (await bot.get_webhook_info()).url == "https://example.invalid/hook"
    with pytest.raises(Conflict) as error:
        await bot.get_updates()
    assert error.value.message == (
        "Conflict: can't use getUpdates method while webhook is active; use deleteWebhook to delete the webhook first"
    )
    tg_emulator.send_text(USER, "lost")
    assert await bot.delete_webhook(drop_pending_updates=True)
    assert await bot.get_updates() == ()


# --- errors surface in PTB as real Telegram's do


async def test_wrong_token_is_invalid_token(tg_emulator):
    with pytest.raises(InvalidToken):
        async with make_bot(tg_emulator, token="123:WRONG"):
            pass


async def test_unknown_method_is_not_found(bot):
    with pytest.raises(EndPointNotFound):
        await bot.do_api_request("sendTelepathy")


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "Message text is empty"),
        (" \n ", "Message text is empty"),
        ("x" * 4097, "Message is too long"),
        ("🏟" * 2049, "Message is too long"),  # 4098 UTF-16 code units
    ],
)
async def test_invalid_text_is_rejected(bot, text, message):
    with pytest.raises(BadRequest) as error:
        await bot.send_message(USER, text)
    assert error.value.message == message


@pytest.mark.parametrize(
    "text, parse_mode",
    [
        ("x" * 4096, None),
        ("<b>" + "x" * 4096 + "</b>", "HTML"),  # the limit counts visible text
        ("&lt;" * 4096, "HTML"),
    ],
)
async def test_texts_at_the_limit_are_accepted(bot, text, parse_mode):
    message = await bot.send_message(USER, text, parse_mode=parse_mode)
    assert len(message.text) == 4096


async def test_html_is_parsed_into_text_and_entities(bot):
    message = await bot.send_message(
        USER, '<b>Ljubljana</b> &amp; <a href="https://example.org/x?a=1&b=2">Maribor</a>', parse_mode="HTML"
    )
    assert message.text == "Ljubljana & Maribor"
    assert message.text_html == ('<b>Ljubljana</b> &amp; <a href="https://example.org/x?a=1&b=2">Maribor</a>')


async def test_malformed_html_cannot_be_parsed(bot):
    with pytest.raises(BadRequest) as error:
        await bot.send_message(USER, "Price <100 €", parse_mode="HTML")
    # PTB strips "Bad Request: " and capitalizes the rest.
    assert error.value.message == ('Can\'t parse entities: unsupported start tag "100" at byte offset 6')


async def test_edits_and_deletes(tg_emulator, bot):
    message = await bot.send_message(USER, "draft", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"^Message is not modified: specified new message"):
        await message.edit_text("draft", reply_markup=KEYBOARD)
    with pytest.raises(BadRequest, match=r"^Message is not modified"):
        await message.edit_reply_markup(KEYBOARD)
    await message.edit_reply_markup(None)
    assert tg_emulator.sent_messages(USER)[0].reply_markup is None
    with pytest.raises(BadRequest) as error:
        await bot.edit_message_text("x", chat_id=USER, message_id=999)
    assert error.value.message == "Message to edit not found"
    assert await message.delete()
    assert tg_emulator.sent_messages(USER) == []
    with pytest.raises(BadRequest, match=r"^Message to delete not found$"):
        await message.delete()


async def test_photo_reply_and_resend_by_file_id(tg_emulator, bot):
    tg_emulator.send_text(USER, "the map, please")
    [update] = await bot.get_updates()
    photo = await update.message.reply_photo(
        b"\x89PNG map", caption="<b>Zemljevid</b>", parse_mode="HTML", do_quote=True
    )
    assert photo.reply_to_message.text == "the map, please"
    assert photo.caption == "Zemljevid"
    assert photo.caption_entities[0].type == "bold"
    await bot.send_photo(USER, photo.photo[-1].file_id)
    assert [f.content for f in tg_emulator.sent_files(USER)] == [b"\x89PNG map"] * 2
    with pytest.raises(BadRequest, match=r"^Wrong file identifier/http url specified$"):
        await bot.send_document(USER, "no-such-file-id")


async def test_callback_data_over_64_bytes_is_invalid(bot):
    await bot.send_message(
        USER, "ok", reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("fits", callback_data="č" * 32)]])
    )
    with pytest.raises(BadRequest) as error:
        await bot.send_message(
            USER,
            "no",
            reply_markup=InlineKeyboardMarkup([[InlineKeyboardButton("too long", callback_data="č" * 32 + "x")]]),
        )
    assert error.value.message == "Button_data_invalid"


async def test_answering_a_callback_twice(tg_emulator, bot):
    message = await bot.send_message(USER, "pick", reply_markup=KEYBOARD)
    tg_emulator.press_button(USER, message.message_id, "no")
    [update] = await bot.get_updates()
    assert update.callback_query.message.text == "pick"
    assert update.callback_query.chat_instance
    assert await update.callback_query.answer("noted")
    with pytest.raises(BadRequest) as error:
        await update.callback_query.answer("again")
    assert error.value.message == ("Query is too old and response timeout expired or query id is invalid")


async def test_files_over_20_mb_cannot_be_fetched(tg_emulator, bot):
    tg_emulator.send_document(USER, "big.pdf", b"\0" * (20 * 1024 * 1024 + 1))
    [update] = await bot.get_updates()
    with pytest.raises(BadRequest, match=r"^File is too big$"):
        await bot.get_file(update.message.document.file_id)


async def test_blocked_user_is_forbidden(tg_emulator, bot):
    tg_emulator.block_user(USER)
    with pytest.raises(Forbidden) as error:
        await bot.send_message(USER, "hello?")
    assert error.value.message == "Forbidden: bot was blocked by the user"
    tg_emulator.unblock_user(USER)
    assert (await bot.send_message(USER, "hello again")).text == "hello again"


# RetryAfter's own constructor reads its deprecated int-valued retry_after.
@pytest.mark.filterwarnings("ignore::telegram.warnings.PTBDeprecationWarning")
async def test_injected_faults(tg_emulator, bot):
    tg_emulator.fail_next("sendMessage", 429, retry_after=3)
    with pytest.raises(RetryAfter) as flood:
        await bot.send_message(USER, "one")
    assert flood.value.message == "Flood control exceeded. Retry in 3 seconds"
    tg_emulator.fail_next("sendMessage", 502, times=2)
    for _ in range(2):
        with pytest.raises(NetworkError, match=r"^Bad Gateway$"):
            await bot.send_message(USER, "two")
    tg_emulator.drop_connection_next("sendMessage")
    with pytest.raises(NetworkError, match="Server disconnected"):
        await bot.send_message(USER, "three")
    tg_emulator.delay_next("sendMessage", 0.5)
    with pytest.raises(TimedOut):
        await bot.send_message(USER, "four", read_timeout=0.1)
    assert (await bot.send_message(USER, "five")).text == "five"
    assert len(tg_emulator.calls_of("sendMessage")) == 6
    assert ("sendMessage", "Bad Gateway") in tg_emulator.errors


async def test_commands_and_chat_actions(bot):
    assert await bot.set_my_commands([("start", "Začni"), ("help", "Pomoč")])
    assert [(c.command, c.description) for c in await bot.get_my_commands()] == [("start", "Začni"), ("help", "Pomoč")]
    assert await bot.delete_my_commands()
    assert await bot.get_my_commands() == ()
    with pytest.raises(BadRequest, match=r"^Bot_command_invalid$"):
        await bot.set_my_commands([("Start", "capitals are not allowed")])
    assert await bot.send_chat_action(USER, "typing")


# --- the HTML checker (vectors from TDLib's own tests)


@pytest.mark.parametrize(
    "markup, text, entities",
    [
        ("", "", []),
        ("AT&T &copy; &lt;&gt;&amp;&quot; &#x1F3DF;", 'AT&T &copy; <>&" 🏟', []),
        (
            "🏟 🏟<i>🏟 &gt;<b aba   =   caba>&lt🏟</b></i>",
            "🏟 🏟🏟 ><🏟",
            [{"type": "italic", "offset": 5, "length": 7}, {"type": "bold", "offset": 9, "length": 3}],
        ),
        ("<i>a</    >", "a", [{"type": "italic", "offset": 0, "length": 1}]),
        (
            '<pre><code class="language-python">x = 1</code></pre>',
            "x = 1",
            [{"type": "pre", "offset": 0, "length": 5, "language": "python"}],
        ),
        ('<code class="language-python">x</code>', "x", [{"type": "code", "offset": 0, "length": 1}]),
        (
            "<strong>s</strong><em>e</em><ins>i</ins><strike>k</strike><del>d</del>",
            "seikd",
            [
                {"type": "bold", "offset": 0, "length": 1},
                {"type": "italic", "offset": 1, "length": 1},
                {"type": "underline", "offset": 2, "length": 1},
                {"type": "strikethrough", "offset": 3, "length": 1},
                {"type": "strikethrough", "offset": 4, "length": 1},
            ],
        ),
        (
            '<span class="tg-spoiler">a</span><tg-spoiler>b</tg-spoiler>',
            "ab",
            [{"type": "spoiler", "offset": 0, "length": 1}, {"type": "spoiler", "offset": 1, "length": 1}],
        ),
        (
            "<blockquote>q</blockquote><blockquote expandable>e</blockquote>",
            "qe",
            [
                {"type": "blockquote", "offset": 0, "length": 1},
                {"type": "expandable_blockquote", "offset": 1, "length": 1},
            ],
        ),
        (
            '<a href="https://x.org/?a=1&b=2">x</a>',
            "x",
            [{"type": "text_link", "offset": 0, "length": 1, "url": "https://x.org/?a=1&b=2"}],
        ),
        (
            '<tg-emoji emoji-id="5368324170671202286">👍</tg-emoji>',
            "👍",
            [{"type": "custom_emoji", "offset": 0, "length": 2, "custom_emoji_id": "5368324170671202286"}],
        ),
        ("<b></b>x", "x", []),
    ],
)
def test_valid_html(markup, text, entities):
    assert parse_html(markup) == (text, entities)


@pytest.mark.parametrize(
    "markup, error",
    [
        ("🏟 🏟&lt;<abacaba", "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;<abac aba>", 'Unsupported start tag "abac" at byte offset 13'),
        ("a <br> b", 'Unsupported start tag "br" at byte offset 2'),
        ("1 < 2", 'Unsupported start tag "" at byte offset 2'),
        ("🏟 🏟&lt;<i   =aba>", 'Empty attribute name in the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba>", 'Expected equal sign in declaration of an attribute of the tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  ", 'Unclosed start tag "i" at byte offset 13'),
        ("🏟 🏟&lt;<i    aba  =  190azAz-.,", "Unexpected end of name token at byte offset 27"),
        ('🏟 🏟&lt;<i    aba  =  "&lt;&gt;&quot;>', "Unclosed start tag at byte offset 13"),
        ("🏟 🏟&lt;</", "Unexpected end tag at byte offset 13"),
        ("🏟 🏟&lt;<b></b></", "Unexpected end tag at byte offset 20"),
        ("🏟 🏟&lt;<i>a</i   ", "Unclosed end tag at byte offset 17"),
        ("🏟 🏟&lt;<i>a</em   >", 'Unmatched end tag at byte offset 17, expected "</i>", found "</em>"'),
        ("<b><i>x</b></i>", 'Unmatched end tag at byte offset 7, expected "</i>", found "</b>"'),
        ("<b>never closed", 'Can\'t find end tag corresponding to start tag "b"'),
        ("<span>s</span>", 'Tag "span" must have class "tg-spoiler" at byte offset 0'),
        ('<tg-emoji emoji-id="x">y</tg-emoji>', "Invalid custom emoji identifier specified"),
        (
            "&#xDFDF;",
            "Text contains invalid Unicode characters after decoding HTML entities,"
            " check for unmatched surrogate code units",
        ),
    ],
)
def test_invalid_html(markup, error):
    with pytest.raises(HtmlParseError) as raised:
        parse_html(markup)
    assert str(raised.value) == error


texts = st.text(st.characters(blacklist_categories=("Cs",)))  # no lone surrogates, as in PTB


@given(texts)
def test_escaped_text_parses_back_to_itself(text):
    assert parse_html(html.escape(text)) == (text, [])


@given(texts.filter(bool))
def test_bold_entity_spans_the_text_in_utf16_units(text):
    _, [entity] = parse_html(f"<b>{html.escape(text)}</b>")
    assert entity == {"type": "bold", "offset": 0, "length": len(text.encode("utf-16-le")) // 2}


@given(texts)
def test_any_input_parses_or_fails_with_a_parse_error(markup):
    try:
        parse_html(markup)
    except HtmlParseError:
        pass
