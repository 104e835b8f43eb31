"""Telegram faults injected by the emulator: every question still gets exactly one answer, the
bot never stops polling, and each failure is logged once, without the token.

Delivery policy under test (bot/outbox.py): every message is stored before it is sent; one
that Telegram certainly did not act on (429 after PTB's two retries, 5xx, a dropped connection,
a connection that could not be made) is sent again, waiting out retry_after, until it arrives
or the outbox's max age gives it up (the admins are told); one that timed out after Telegram
had the whole request is not, because the Bot API server finishes such a request and a second
copy would be a duplicate. A pending answer survives a restart; a redelivered update is
answered once. Two copies polling with one token: the newer one stops (409 Conflict).
"""

from __future__ import annotations

import asyncio
import collections
import logging
import os

import pytest
from click.testing import CliRunner
from telegram.ext import ApplicationBuilder

import bot.sending as common
from bot import outbox, telegram_app
from bot.cli import main
from bot.database import BotDatabase
from bot.telegram_app import ALLOWED_UPDATES, build_application
from bot.texts import Texts
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    BOT_USERNAME,
    OFFICIAL,
    TOKEN,
    Bot,
    make_settings,
)
from tests.tg_emulator import POLL_TERMINATED, TelegramEmulator

EN = Texts("en")
SECRET_HALF = TOKEN.split(":", 1)[1]
RENT = "rent exemption for business premises"
TRANSPORT = "free transport red cross"
READ_TIMEOUT = 0.6  # the bot's HTTP read timeout in these tests (PTB's default is 5 s)
POLL_TIMEOUT = 1  # long-poll seconds; getUpdates times out after POLL_TIMEOUT + READ_TIMEOUT


class FaultyEmulator(TelegramEmulator):
    """The emulator plus one fault it lacks: Telegram does the work, then answers too late.

    The emulator's own ``delay_next`` waits *before* doing the work and gives up when the
    client goes away (a request lost on the way); this is the other case of a timeout, the
    one where the message was delivered and only the answer is lost.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._late: dict[str, collections.deque[float]] = collections.defaultdict(collections.deque)

    def answer_late_next(self, method: str, seconds: float) -> None:
        with self._cond:
            self._late[method.lower()].append(seconds)

    async def _answer(self, request):
        with self._cond:
            queue = self._late.get(request.match_info["method"].lower())
            seconds = queue.popleft() if queue else 0.0
        response = await super()._answer(request)
        if seconds:
            await asyncio.sleep(seconds)  # the client gives up first; the work is done
        return response


@pytest.fixture
def emulator():
    with FaultyEmulator(token=TOKEN, bot_username=BOT_USERNAME) as server:
        yield server
    assert not server.server_errors, server.server_errors


@pytest.fixture
def logs(caplog):
    """Every record at every level, httpx's request lines (URLs, with the token) included.
    (httpcore's connection traces stay out: thousands of lines per test, and no URL in them;
    tests/test_bot_process.py checks those.)"""
    quiet = {name: logging.getLogger(name).level for name in ("httpx",)}
    caplog.set_level(logging.DEBUG)
    for name in quiet:
        logging.getLogger(name).setLevel(logging.DEBUG)
    yield caplog
    for name, level in quiet.items():
        logging.getLogger(name).setLevel(level)
    assert TOKEN not in caplog.text and SECRET_HALF not in caplog.text
    for record in caplog.records:
        assert SECRET_HALF not in record.getMessage() and SECRET_HALF not in (record.exc_text or "")


@pytest.fixture
async def launch(emulator, knowledge, data_dir, engine, monkeypatch, logs):
    """Starts the bot as ``run_polling`` runs it (polling errors go to the error handler), with
    short HTTP timeouts so that a timeout costs a second, not five."""
    original = ApplicationBuilder.build

    def build(builder):
        builder.read_timeout(READ_TIMEOUT).get_updates_read_timeout(READ_TIMEOUT)
        return original(builder)

    monkeypatch.setattr(ApplicationBuilder, "build", build)
    started: list[Bot] = []

    async def start(poll_timeout: int = POLL_TIMEOUT, data=None, **overrides) -> Bot:
        settings = make_settings(emulator, knowledge, data or data_dir, **overrides)
        database = BotDatabase.in_data_dir(data or data_dir)
        app = build_application(settings, engine, database)
        await app.initialize()
        await app.post_init(app)
        await app.start()

        def polling_error(exc):  # what Application.run_polling passes to start_polling
            app.create_task(app.process_error(error=exc, update=None))

        # A small poll interval also shortens PTB's pause after a failed poll (1.5 x the
        # interval; 1 s when the interval is 0, as in production), which is all it changes here.
        await app.updater.start_polling(
            poll_interval=0.02, timeout=poll_timeout, allowed_updates=ALLOWED_UPDATES, error_callback=polling_error
        )
        started.append(Bot(emulator, app, database, engine, settings))
        return started[-1]

    yield start
    for running in started:
        await running.stop()
        running.database.close()


@pytest.fixture
async def bot(launch):
    return await launch()


def answers(bot: Bot, chat: int) -> list[str]:
    return [m.text for m in bot.messages(chat)]


def records(logs, level: int, *needles: str, since: int = 0) -> list[logging.LogRecord]:
    return [r for r in logs.records[since:] if r.levelno >= level and all(n in r.getMessage() for n in needles)]


async def ask_and_count(bot: Bot, chat: int, question: str, settle: float = 0.15) -> list[str]:
    """Ask, wait for the answer, then wait a little longer: a duplicate would arrive by then."""
    before = len(bot.messages(chat))
    bot.emulator.send_text(chat, question)
    await bot.expect(chat, before, timeout=10)
    await bot.settle(settle)
    return answers(bot, chat)[before:]


# -- getUpdates ----------------------------------------------------------------------------

GET_UPDATES_FAULTS = {
    "500": lambda e: e.fail_next("getUpdates", 500),
    "502": lambda e: e.fail_next("getUpdates", 502),
    "dropped": lambda e: e.drop_connection_next("getUpdates"),
    "429": lambda e: e.fail_next("getUpdates", 429, retry_after=1),
    "timeout": lambda e: e.delay_next("getUpdates", READ_TIMEOUT + 1.0),
}


async def test_get_updates_faults_lose_nothing_and_polling_goes_on(launch, emulator, logs):
    # Short polls (timeout 0), so each fault meets the very next poll and a read timeout
    # alone decides when a poll has timed out.
    bot = await launch(poll_timeout=0)
    questions = 0
    for fault, inject in GET_UPDATES_FAULTS.items():
        since, failed_before = len(logs.records), len(emulator.errors)
        inject(emulator)
        await emulator.wait_until_async(lambda: not emulator._faults.get("getupdates"), timeout=5)
        new = await ask_and_count(bot, OFFICIAL, f"{RENT} ({fault})")  # sent while the poll fails
        questions += 1
        assert len(new) == 1 and new[0].startswith(EN("results_intro")), fault
        assert not records(logs, logging.ERROR, since=since), fault
        if fault in ("500", "502", "dropped"):
            [warning] = records(logs, logging.WARNING, "polling Telegram failed", since=since)
            assert warning.exc_info is None, fault  # one line, no traceback
            assert len(emulator.errors) == failed_before + (fault != "dropped"), fault
        else:  # PTB waits out a 429 and repeats a timed-out poll at once, logging it at DEBUG
            assert not records(logs, logging.WARNING, since=since), fault
            assert len(records(logs, logging.DEBUG, "Polling Updates", "Retrying", since=since)) == 1, fault
    new = await ask_and_count(bot, OFFICIAL, TRANSPORT)  # still polling
    assert len(new) == 1 and "Tolmin" in new[0]
    assert bot.database.stats()["total"] == questions + 1  # each question handled once
    assert len(bot.messages(OFFICIAL)) == questions + 1


async def test_an_update_waiting_while_the_first_poll_fails_is_delivered(launch, emulator, logs):
    emulator.fail_next("getUpdates", 502)  # the bot's very first poll
    emulator.send_text(OFFICIAL, RENT)  # Telegram keeps updates until a poll fetches them
    bot = await launch()
    [answer] = await bot.expect(OFFICIAL, 0, timeout=10)
    await bot.settle(0.15)
    assert answer.text.startswith(EN("results_intro")) and len(bot.messages(OFFICIAL)) == 1
    assert len(records(logs, logging.WARNING, "polling Telegram failed")) == 1


# -- sendMessage ---------------------------------------------------------------------------


@pytest.fixture
def quick_retries(monkeypatch):
    monkeypatch.setattr(outbox, "RETRY_DELAYS", (0.05, 0.1, 0.1, 0.1, 0.1))
    monkeypatch.setattr(outbox, "MAX_DELAY", 0.2)


SEND_FAULTS = {  # fault -> sendMessage calls for one answer
    "500": (lambda e: e.fail_next("sendMessage", 500), 2),
    "502 twice": (lambda e: e.fail_next("sendMessage", 502, times=2), 3),
    "dropped": (lambda e: e.drop_connection_next("sendMessage"), 2),
    "429": (lambda e: e.fail_next("sendMessage", 429, retry_after=1), 2),  # PTB's AIORateLimiter waits and retries
    "500 five times": (lambda e: e.fail_next("sendMessage", 500, times=5), 6),  # the outbox keeps trying
}


async def test_send_faults_are_retried_and_answered_exactly_once(bot, emulator, logs, quick_retries):
    for fault, (inject, calls) in SEND_FAULTS.items():
        since, calls_before = len(logs.records), len(emulator.calls_of("sendMessage"))
        inject(emulator)
        new = await ask_and_count(bot, OFFICIAL, f"{RENT} ({fault})")
        assert len(new) == 1 and new[0].startswith(EN("results_intro")), fault
        assert len(emulator.calls_of("sendMessage")) == calls_before + calls, fault
        assert not records(logs, logging.ERROR, since=since), fault
        retries = records(logs, logging.WARNING, f"to chat {OFFICIAL} failed", since=since)
        if fault == "429":
            assert not retries and len(records(logs, logging.INFO, "Rate limit hit", since=since)) == 1
        else:
            assert len(retries) == calls - 1 and all(r.exc_info is None for r in retries), fault
    assert bot.messages(ADMIN) == []  # nothing to report: every answer arrived, no apology was sent
    assert bot.database.outbox_counts() == {"sent": len(SEND_FAULTS)}

    # A user who blocked the bot: 403 is never repeated, one INFO line, nothing for the admins.
    since, calls_before = len(logs.records), len(emulator.calls_of("sendMessage"))
    emulator.block_user(ARAB_OFFICIAL)
    emulator.send_text(ARAB_OFFICIAL, RENT)
    await emulator.wait_until_async(lambda: any("blocked" in e[1] for e in emulator.errors))
    await bot.settle(0.15)
    assert len(records(logs, logging.INFO, "not answered", "blocked", since=since)) == 1
    assert not records(logs, logging.WARNING, since=since)
    assert len(emulator.calls_of("sendMessage")) == calls_before + 1 and bot.messages(ADMIN) == []
    new = await ask_and_count(bot, OFFICIAL, TRANSPORT)  # everyone else is served
    assert len(new) == 1 and "Tolmin" in new[0]


async def test_four_429s_in_a_row_are_waited_out_and_the_answer_arrives(bot, emulator, logs):
    # Finding 5: PTB's rate limiter retries two 429s, then gives up; the outbox waits out the rest.
    emulator.fail_next("sendMessage", 429, retry_after=1, times=4)
    emulator.send_text(OFFICIAL, RENT)
    [answer] = await bot.expect(OFFICIAL, 0, timeout=15)
    await bot.settle(0.3)
    assert answer.text.startswith(EN("results_intro")) and len(bot.messages(OFFICIAL)) == 1
    assert len(emulator.calls_of("sendMessage")) == 5
    assert [e for e in emulator.errors if "Too Many Requests" in e[1]] == [
        ("sendMessage", "Too Many Requests: retry after 1")
    ] * 4
    assert bot.messages(ADMIN) == [] and not records(logs, logging.ERROR)


async def test_an_answer_waiting_in_the_outbox_is_sent_after_a_restart(launch, emulator, logs, quick_retries):
    first = await launch()
    emulator.fail_next("sendMessage", 502, times=1000)  # Telegram is down
    emulator.send_text(OFFICIAL, RENT)
    await emulator.wait_until_async(lambda: first.database.outbox_counts().get("pending"), timeout=10)
    await first.stop()
    first.database.close()
    emulator._faults.clear()  # Telegram is back
    second = await launch()
    [answer] = await second.expect(OFFICIAL, 0, timeout=10)
    await second.settle(0.3)
    assert answer.text.startswith(EN("results_intro")) and len(second.messages(OFFICIAL)) == 1
    assert second.database.outbox_counts() == {"sent": 1} and second.database.stats()["total"] == 1


async def test_a_redelivered_update_is_answered_and_logged_once(launch, emulator, logs):
    first = await launch()
    update_id = emulator.send_text(OFFICIAL, RENT)
    [answer] = await first.expect(OFFICIAL, 0, timeout=10)
    await first.stop()
    first.database.close()
    # Telegram delivers the update again, as it does when the bot stopped before confirming it.
    emulator.redeliver(update_id)
    second = await launch()
    await emulator.wait_until_async(lambda: not emulator.pending_update_ids(), timeout=10)
    await second.settle(0.5)
    assert [m.text for m in second.messages(OFFICIAL)] == [answer.text]
    assert second.database.stats()["total"] == 1
    assert len(records(logs, logging.INFO, "stored before", "not sent again")) == 1


async def test_an_undeliverable_answer_is_given_up_after_the_max_age_and_shown_to_admins(
    launch, emulator, logs, quick_retries, monkeypatch
):
    bot = await launch(outbox_max_age=1.0)
    emulator.fail_next("sendMessage", 500, times=1000, description="Internal Server Error")
    original = emulator._take_fault

    def only_for_the_official(method):  # the admins' notice gets through, the official's answer never
        return None if method.lower() == "sendmessage" and _chat_of_last_call(emulator) == ADMIN else original(method)

    monkeypatch.setattr(emulator, "_take_fault", only_for_the_official)
    emulator.send_text(OFFICIAL, RENT)
    [notice] = await bot.expect(ADMIN, 0, timeout=15)
    assert notice.text == EN("outbox_given_up_admin", count=1, chats=1, minutes=0)
    await emulator.wait_until_async(lambda: bot.database.outbox_counts() == {"failed": 1, "sent": 1})
    [given_up] = records(logs, logging.ERROR, "gave up 1 message(s) to 1 chat(s)")
    assert given_up.exc_info is None
    monkeypatch.setattr(emulator, "_take_fault", original)
    emulator._faults.clear()
    [status] = await bot.say(ADMIN, "/status")
    assert EN("status_outbox", waiting=0, uncertain=0, failed=1) in status.text
    assert bot.messages(OFFICIAL) == []


def _chat_of_last_call(emulator) -> int | None:
    calls = emulator.calls_of("sendMessage")
    return calls[-1].get("chat_id") if calls else None


async def test_a_timeout_after_telegram_took_the_message_is_not_repeated(bot, emulator, logs, quick_retries):
    # Telegram delivered the message but answered too late: sending it again would duplicate it.
    emulator.answer_late_next("sendMessage", READ_TIMEOUT + 0.6)
    emulator.send_text(OFFICIAL, RENT)
    await emulator.wait_until_async(
        lambda: records(logs, logging.WARNING, "timed out after Telegram received it"), timeout=10
    )
    await bot.settle(0.3)  # a second copy or an apology would be sent right after the timeout
    new = answers(bot, OFFICIAL)
    assert len(new) == 1 and new[0].startswith(EN("results_intro"))  # delivered once, no apology
    [warning] = records(logs, logging.WARNING, "timed out after Telegram received it")
    assert warning.exc_info is None
    assert not records(logs, logging.ERROR) and bot.messages(ADMIN) == []
    assert len(emulator.calls_of("sendMessage")) == 1
    assert bot.database.outbox_counts() == {"uncertain": 1}  # counted in /status and the dashboard

    # The price of never duplicating: a request the emulator drops after the client gave up
    # looks the same to the bot as one Telegram delivered late, so it is not sent again.
    emulator.delay_next("sendMessage", READ_TIMEOUT + 0.6)
    emulator.send_text(OFFICIAL, TRANSPORT)
    await emulator.wait_until_async(
        lambda: len(records(logs, logging.WARNING, "timed out after Telegram received it")) == 2, timeout=10
    )
    await bot.settle(0.3)
    assert len(answers(bot, OFFICIAL)) == 1 and len(emulator.calls_of("sendMessage")) == 2
    assert not records(logs, logging.ERROR)
    assert bot.database.stats()["total"] == 2  # the question is logged: it is in /gaps and /stats
    new = await ask_and_count(bot, OFFICIAL, TRANSPORT)  # asking again works
    assert len(new) == 1 and "Tolmin" in new[0]


def test_what_counts_as_certainly_not_delivered():
    import httpx
    from telegram.error import BadRequest, Forbidden, NetworkError, RetryAfter, TimedOut

    def caused(error, cause):
        error.__cause__ = cause
        return error

    yes = [
        NetworkError("Internal Server Error"),
        NetworkError("Bad Gateway"),
        caused(NetworkError("httpx.ConnectError: refused"), httpx.ConnectError("refused")),
        caused(NetworkError("httpx.RemoteProtocolError"), httpx.RemoteProtocolError("closed")),
        caused(TimedOut(), httpx.ConnectTimeout("")),
        caused(TimedOut(), httpx.PoolTimeout("")),
        caused(TimedOut(), httpx.WriteTimeout("")),
    ]
    no = [
        caused(TimedOut(), httpx.ReadTimeout("")),
        TimedOut(),
        BadRequest("can't parse entities"),
        Forbidden("bot was blocked by the user"),
        RetryAfter(3),
    ]
    assert all(common.certainly_not_delivered(e) for e in yes)
    assert not any(common.certainly_not_delivered(e) for e in no)


# -- 409 Conflict: two copies polling with one token ------------------------------------------


async def test_a_second_copy_polling_with_the_same_token_stops_and_the_first_goes_on(
    launch, emulator, logs, tmp_path, monkeypatch
):
    monkeypatch.setattr(telegram_app, "CONFLICT_GRACE", 0.5)
    first = await launch()
    await asyncio.sleep(0.7)  # the first copy is the established poller
    elsewhere = tmp_path / "second-copy-data"
    elsewhere.mkdir()
    (elsewhere / "heartbeat").touch()
    second = await launch(data=elsewhere)
    await emulator.wait_until_async(lambda: not second.application.updater.running, timeout=10)
    assert any(e == ("getUpdates", POLL_TERMINATED) for e in emulator.errors)
    [stopped] = records(logs, logging.ERROR, "another copy of the bot is polling Telegram with this token")
    assert stopped.exc_info is None  # one line, no traceback
    assert len(records(logs, logging.WARNING, "this copy has been polling")) == 1  # the first copy's one line
    [notice] = await emulator.wait_for_messages_async(ADMIN)
    assert notice.text.startswith("⚠️ Another copy of the bot is polling Telegram with the same token (409 Conflict).")
    assert not (elsewhere / "heartbeat").exists()
    monkeypatch.setenv("PEERBOT_DATA_DIR", str(elsewhere))
    health = CliRunner().invoke(main, ["health"])
    assert health.exit_code == 1 and health.output.startswith("unhealthy: no heartbeat")
    new = await ask_and_count(first, OFFICIAL, RENT, settle=0.5)  # the first copy still serves, once
    assert len(new) == 1 and new[0].startswith(EN("results_intro"))
    await first.settle(0.3)
    assert len(emulator.sent_messages(ADMIN)) == 1  # admins told once
    assert not records(logs, logging.ERROR, "error while handling update")


def test_a_second_copy_on_the_same_data_folder_refuses_to_start(data_dir):
    held = telegram_app.poller_lock(data_dir)
    try:
        with pytest.raises(telegram_app.PollerBusy) as refused:
            telegram_app.poller_lock(data_dir)
        assert str(refused.value).startswith(f"another peerbot (pid {os.getpid()} on ")
        assert "stop it first" in str(refused.value)
    finally:
        held.close()
    telegram_app.poller_lock(data_dir).close()  # free again once the first copy stopped
