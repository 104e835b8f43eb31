"""Issue 15's findings reproduced through the real bot and the Bot API emulator, then fixed:
button presses without data, the reply language of a question naming a Slovenian place, and
user-supplied values (names, questions) that carry direction overrides or control characters.
"""

from __future__ import annotations

import json
import logging
import sqlite3
from datetime import timedelta

import pytest
from click.testing import CliRunner

from bot.cli import main
from bot.database import BotDatabase
from bot.texts import Texts
from tests.bot_harness import ADMIN, FSI, OFFICIAL, PDI, STRANGER, buttons

EN, SL = Texts("en"), Texts("sl")
RLO = "\u202e"  # RIGHT-TO-LEFT OVERRIDE


# -- finding 6: empty or missing callback data -------------------------------------------


async def test_a_press_without_data_is_refused_like_a_stale_button(bot):
    [reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    for data in (None, ""):
        answers = len(bot.emulator.callback_answers)
        bot.emulator.press_without_data(OFFICIAL, reply.message_id, data)
        [answer] = (await bot.emulator.wait_for_callback_answers_async(answers + 1))[answers:]
        assert answer["text"] == EN("button_invalid"), data
    await bot.settle()
    assert bot.messages(ADMIN) == []  # no error, so no admin notice
    assert len(bot.messages(OFFICIAL)) == 1


# -- finding 7: a place name's diacritics do not choose the reply language ---------------


async def test_an_english_question_naming_kocevje_is_answered_in_english(bot):
    [reply] = await bot.say(OFFICIAL, "How did Kočevje help older people?", language_code="en")
    assert reply.text.split("\n")[0] in (EN("results_intro"), EN("no_match"))
    [slovenian] = await bot.say(OFFICIAL, "Kako je Kočevje pomagalo starejšim?")
    assert slovenian.text.split("\n")[0] in (SL("results_intro"), SL("no_match"))
    assert [bot.database.question(i).language for i in (1, 2)] == ["en", "sl"]


# -- finding 8: user-supplied values isolated, controls stripped ---------------------------


async def test_a_right_to_left_override_in_a_name_cannot_reverse_the_admins_line(bot):
    name = f"Evil{RLO}gnirts"
    [refusal] = await bot.say(STRANGER, "hello", first_name=name)
    answers = len(bot.emulator.callback_answers)
    bot.emulator.press_button(STRANGER, refusal.message_id, "ra:en", first_name=name, username=f"evil{RLO}_user")
    await bot.emulator.wait_for_callback_answers_async(answers + 1)
    [request] = await bot.emulator.wait_for_messages_async(ADMIN)
    # The override is gone and the name is one isolated unit: the id after it reads as sent.
    assert RLO not in request.text
    assert request.text.startswith(
        f"Access request from {FSI}Evilgnirts{PDI} {FSI}@evil_user{PDI} (Telegram id {STRANGER}"
    )
    assert buttons(request) == [f"ap:{STRANGER}", f"dn:{STRANGER}"]
    assert bot.database.user(STRANGER)["first_name"] == "Evilgnirts"  # stored cleaned
    [welcome] = await bot.say(OFFICIAL, "/start", first_name=f"Amal{RLO}\x1b[31m")
    assert welcome.text.startswith(f"Hello, {FSI}Amal[31m{PDI}!")
    for language in ("ar", "sl"):
        bot.database.set_language(OFFICIAL, language)
        [other] = await bot.say(OFFICIAL, "/start", first_name=f"Amal{RLO}")
        assert f"{FSI}Amal{PDI}" in other.text and RLO not in other.text, language


async def test_questions_are_stored_without_control_characters_and_gaps_shortens_them(bot):
    question = "xyzzy \x1b[2J" + RLO + "qwrtplk " + "zzkv " * 60
    await bot.say(OFFICIAL, question)
    stored = bot.database.question(1).question
    assert "\x1b" not in stored and RLO not in stored and stored.startswith("xyzzy [2Jqwrtplk zzkv")
    [gaps] = await bot.say(ADMIN, "/gaps")
    [line] = [line for line in gaps.text.split("\n")[1:] if "xyzzy" in line]  # the group's wording
    assert f"{FSI}xyzzy [2Jqwrtplk zzkv" in line and "…" + PDI in line
    assert len(line) < 200


# -- finding 3: an empty or damaged peerbot.db is never replaced silently ------------------


def _run(*args: str):
    return CliRunner().invoke(main, ["run", *args])


@pytest.fixture
def bot_env(env, monkeypatch):
    monkeypatch.setenv("TELEGRAM_BOT_TOKEN", "123456789:AAH-resilience-TEST-secret-0123456789")
    monkeypatch.setenv("TELEGRAM_API_BASE", "http://127.0.0.1:9")  # never reached: run stops before
    started = []
    monkeypatch.setattr("bot.telegram_app.run_polling", lambda settings, engine: started.append(settings))
    return started


@pytest.mark.parametrize(
    "content, reason",
    [(b"", "is empty (0 bytes)"), (b"this is not sqlite" * 100, "cannot be read (file is not a database)")],
)
def test_run_refuses_an_empty_or_damaged_database_in_one_line(bot_env, data_dir, content, reason):
    data_dir.mkdir(parents=True)
    path = data_dir / "peerbot.db"
    path.write_bytes(content)
    result = _run()
    assert result.exit_code == 1 and bot_env == []
    assert result.output == (
        f"Error: {path} {reason}: restore it from a backup (`peerbot restore BACKUP` into a new data folder), "
        "or start with an empty database (no users, decisions or log) by `peerbot run --new-database`, "
        "which moves peerbot.db aside first\n"
    )
    assert path.read_bytes() == content  # untouched
    doctor = CliRunner().invoke(main, ["doctor"])
    [line] = [line for line in doctor.output.splitlines() if line.split()[1:2] == ["database"]]
    assert line.startswith("FAIL  database") and doctor.exit_code == 1
    # The explicit way out: the file is moved aside, not deleted, and the bot starts.
    result = _run("--new-database")
    assert result.exit_code == 0, result.output
    [moved] = data_dir.glob("peerbot.db.damaged-*")
    assert moved.read_bytes() == content and len(bot_env) == 1


def test_a_second_run_on_the_same_data_folder_stops_before_the_index_refresh(bot_env, data_dir):
    from bot.telegram_app import poller_lock

    held = poller_lock(data_dir)  # the first copy
    try:
        result = _run()
    finally:
        held.close()
    assert result.exit_code == 1 and bot_env == []
    assert result.output.startswith("Error: another peerbot (pid ") and result.output.count("\n") == 1
    assert not (data_dir / "index").exists()  # refused before building anything


def test_new_database_never_replaces_an_intact_one(bot_env, data_dir):
    BotDatabase.in_data_dir(data_dir).close()
    result = _run("--new-database")
    assert result.exit_code == 2 and "is intact" in result.output and bot_env == []
    assert not list(data_dir.glob("peerbot.db.damaged-*"))


# -- finding 10: the dashboard safe to expose by mistake ----------------------------------


@pytest.fixture
def dashboard_db(data_dir):
    db = BotDatabase.in_data_dir(data_dir)
    db.log_question(OFFICIAL, OFFICIAL, f"old question\x1b[2J{RLO}reversed", "en", "en", [], [], False, 20.0)
    db.add_upload(COORDINATOR_ID, "secret-draft.md", "practices/secret-draft.md", "secret-draft", b"UNPUBLISHED DRAFT")
    db.request_access(STRANGER, f"Name{RLO}", "user", "en")
    db.close()
    return data_dir


COORDINATOR_ID = 1002


def test_binding_beyond_loopback_without_a_password_is_refused(env, dashboard_db, monkeypatch):
    served = []
    monkeypatch.setattr("uvicorn.run", lambda *args, **kwargs: served.append(kwargs))
    for host in ("0.0.0.0", "192.168.1.20", "::", "dashboard.example.org"):
        result = CliRunner().invoke(main, ["dashboard", "--host", host])
        assert result.exit_code == 1 and served == [], host
        assert result.output == (
            f"Error: refusing to serve the dashboard on {host} without a password: anyone who reaches the port "
            "would read officials' Telegram ids, names and questions. Set PEERBOT_DASHBOARD_PASSWORD (then log in "
            "with any user name and that password), or bind 127.0.0.1 and use an SSH tunnel\n"
        )
    assert CliRunner().invoke(main, ["dashboard", "--host", "127.0.0.1"]).exit_code == 0 and len(served) == 1
    monkeypatch.setenv("PEERBOT_DASHBOARD_PASSWORD", "correct horse battery staple")
    result = CliRunner().invoke(main, ["dashboard", "--host", "0.0.0.0"])
    assert result.exit_code == 0 and len(served) == 2
    assert "password required" in result.output


async def test_the_password_gate_and_what_the_snapshot_leaves_out(dashboard_db, tmp_path):
    import httpx

    from bot.dashboard import DATABASE, asgi_app, build_datasette

    ds = build_datasette(dashboard_db, tmp_path / "snapshot")
    await ds.invoke_startup()
    app = asgi_app(ds, "correct horse battery staple")
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://dash") as client:
        for path in ("/", f"/{DATABASE}", f"/{DATABASE}/questions.json", f"/{DATABASE}/uploads/1.blob"):
            response = await client.get(path)
            assert response.status_code == 401 and "officials" not in response.text, path
            assert response.headers["www-authenticate"].startswith("Basic")
        wrong = await client.get(f"/{DATABASE}/questions.json", auth=("admin", "wrong"))
        assert wrong.status_code == 401
        health = await client.get("/-/healthz")
        assert (health.status_code, health.text) == (200, "ok")
        auth = ("anyone", "correct horse battery staple")
        questions = await client.get(f"/{DATABASE}/questions.json?_shape=array", auth=auth)
        assert questions.status_code == 200
        assert [q["question"] for q in questions.json()] == ["old question[2Jreversed"]  # cleaned in the snapshot
        users = (await client.get(f"/{DATABASE}/users.json?_shape=array", auth=auth)).json()
        assert users[0]["first_name"] == "Name"
        uploads = (await client.get(f"/{DATABASE}/uploads.json?_shape=array", auth=auth)).json()
        assert uploads[0]["file_name"] == "secret-draft.md" and "content" not in uploads[0]
        page = await client.get(f"/{DATABASE}/uploads", auth=auth)
        assert page.status_code == 200 and ".blob" not in page.text
        blob = await client.get(f"/{DATABASE}/uploads/1.blob?_blob_column=content", auth=auth)
        assert blob.status_code in (400, 404)
    snapshot = next((tmp_path / "snapshot").glob("*.db")).read_bytes()
    assert b"UNPUBLISHED DRAFT" not in snapshot


# -- finding 1: a full disk costs no answer, and builds and publishes check space first -------


@pytest.fixture
def full_disk(monkeypatch):
    """Every write of the bot's database fails as SQLite fails on a full disk (patched at the
    connection's execute: a real full filesystem would need root to mount)."""

    def fill(database: BotDatabase):
        original = database.db.execute

        def execute(sql, parameters=None):
            if state["full"] and sql.lstrip().lower().startswith(("insert", "update", "delete", "replace")):
                raise sqlite3.OperationalError("database or disk is full")
            return original(sql, parameters) if parameters is not None else original(sql)

        monkeypatch.setattr(database.db, "execute", execute)

    state = {"full": True, "fill": fill}
    return state


async def test_a_full_disk_costs_no_answer_and_tells_the_admins_once(bot, full_disk, caplog):
    caplog.set_level(logging.INFO)
    full_disk["fill"](bot.database)
    replies = []
    for question in ("rent exemption for business premises", "free transport red cross", "local food network"):
        [reply] = await bot.say(OFFICIAL, question)
        replies.append(reply)
    assert all(r.text.startswith(EN("results_intro")) for r in replies[:2])
    assert not any(EN("error_user") in r.text for r in replies)
    assert all(b.startswith(("p:", "s:")) for r in replies for b in buttons(r))  # no buttons for an unlogged question
    [notice] = await bot.emulator.wait_for_messages_async(ADMIN)
    assert notice.text.startswith("⚠️ The bot cannot write to its database (OperationalError: database or disk is full)")
    errors = [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert len(errors) == 1 and "cannot write the question log" in errors[0].getMessage()
    [status] = await bot.say(ADMIN, "/status")
    assert "⚠️ Database writes are failing: OperationalError: database or disk is full" in status.text
    # Space returns: the bot recovers by itself, no restart.
    full_disk["full"] = False
    [reply] = await bot.say(OFFICIAL, "psychological support line")
    assert any(b.startswith("fb:") for b in buttons(reply))
    assert bot.database.stats()["total"] == 1
    assert any("works again" in r.getMessage() for r in caplog.records)
    await bot.settle()
    assert len(bot.messages(ADMIN)) == 2  # the one notice, and the /status reply


async def test_when_the_outbox_is_the_first_write_to_fail_the_admins_are_told_once(bot, full_disk):
    full_disk["fill"](bot.database)
    [welcome] = await bot.say(OFFICIAL, "/start")  # no question log here: the outbox fails first
    assert welcome.text.startswith("Hello, ")
    [help_text] = await bot.say(OFFICIAL, "/help")
    assert "/topics" in help_text.text
    [notice] = await bot.emulator.wait_for_messages_async(ADMIN)
    assert notice.text.startswith("⚠️ The bot cannot write to its database (OperationalError: database or disk is full)")
    await bot.settle()
    assert len(bot.messages(ADMIN)) == 1


async def test_an_action_that_needs_a_write_apologises_and_the_admins_hear_once(bot, full_disk):
    full_disk["fill"](bot.database)
    [menu] = await bot.say(OFFICIAL, "/language")
    for _ in range(2):  # choosing a language is the action itself: it cannot be done, so an apology
        _answer, [sorry] = await bot.press(OFFICIAL, menu, "l:ar", count=1)
        assert sorry.text == EN("error_user")
    [notice] = await bot.emulator.wait_for_messages_async(ADMIN)
    assert notice.text.startswith("⚠️ The bot cannot write to its database")
    await bot.settle()
    assert len(bot.messages(ADMIN)) == 1


def test_builds_and_doctor_check_free_space_first(env, data_dir, monkeypatch):
    assert CliRunner().invoke(main, ["index"]).exit_code == 0
    live = sorted((data_dir / "index").glob("gen-*"))
    monkeypatch.setattr("index.diskspace.free_bytes", lambda folder: 3 * 1024 * 1024)
    embedded = []
    monkeypatch.setattr("tests.fake_embedder.HashEmbedder.encode_documents", lambda *a, **k: embedded.append(1))
    result = CliRunner().invoke(main, ["index", "--force"])
    assert result.exit_code == 1 and embedded == []  # refused before any embedding
    assert result.output.startswith(
        f"Error: not enough free space in {data_dir / 'index'} for a new index generation: "
    )
    assert "3.0 MB free, about " in result.output and result.output.count("\n") == 1
    assert sorted((data_dir / "index").glob("gen-*")) == live  # the live index is untouched
    doctor = CliRunner().invoke(main, ["doctor"])
    [line] = [line for line in doctor.output.splitlines() if line.split()[1:2] == ["data"]]
    assert line.startswith(f"FAIL  data      {data_dir} has only 3.0 MB free (at least 100 MB needed")
    assert doctor.exit_code == 1


def test_a_disk_that_fills_during_a_build_anyway_costs_one_line(env, data_dir, monkeypatch):
    import errno

    assert CliRunner().invoke(main, ["index"]).exit_code == 0
    live = sorted((data_dir / "index").glob("gen-*"))

    def full(*args, **kwargs):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr("index.build._write_generation", full)
    result = CliRunner().invoke(main, ["index", "--force"])
    assert result.exit_code == 1 and result.output.count("\n") == 1, result.output
    assert result.output.startswith(f"Error: the disk holding {data_dir / 'index'} filled up while the new index")
    assert "the live index is unchanged" in result.output
    assert sorted((data_dir / "index").glob("gen-*")) == live and not list((data_dir / "index").glob(".building-*"))


async def test_a_publish_on_a_full_disk_is_refused_before_anything_is_written(bot, knowledge, monkeypatch):
    from tests.bot_harness import COORDINATOR, NEW_PRACTICE, button

    before = sorted(p.name for p in knowledge.rglob("*.md"))
    [preview] = await bot.send_document(
        COORDINATOR, "zrece-beekeepers-honey-for-quarantined-families.md", NEW_PRACTICE.encode()
    )
    monkeypatch.setattr("index.diskspace.free_bytes", lambda folder: 512 * 1024)
    _, [_publishing, failed, *reason] = await bot.press(COORDINATOR, preview, button(preview, "pub:"), count=2)
    text = "\n".join([failed.text, *(m.text for m in reason)])
    assert "not enough free space in" in text and "0.5 MB free" in text
    assert sorted(p.name for p in knowledge.rglob("*.md")) == before


# -- finding 2: a publish cut off half-way is finished or rolled back at start-up ----------

PUBLISH_STEPS = ("claimed", "backup recorded", "file written", "indexed")


@pytest.mark.parametrize("step", PUBLISH_STEPS)
@pytest.mark.parametrize("replacing", [False, True], ids=["new practice", "replacing one"])
async def test_a_publish_killed_at_each_step_is_recovered_at_start(
    emulator, settings, engine, knowledge, step, replacing
):
    from bot import knowledge_files as kf
    from tests.bot_harness import COORDINATOR, NEW_PRACTICE, start_bot

    if replacing:
        name = "tolmin-red-cross-free-transport.md"
        target = knowledge / "practices" / name
        original = target.read_bytes()
        content = original.replace(b"Tolmin", b"Tolmin (corrected)", 1)
    else:
        name = "zrece-beekeepers-honey-for-quarantined-families.md"
        target, original, content = knowledge / "practices" / name, None, NEW_PRACTICE.encode()
    practice_id = name[:-3]
    # What the killed process left behind, step by step (bot/handlers/coordinators.py on_publish).
    database = BotDatabase.in_data_dir(settings.data_dir)
    upload_id = database.add_upload(COORDINATOR, name, f"practices/{name}", practice_id, content)
    assert database.claim_upload(upload_id, COORDINATOR, "publishing", timedelta(days=1)) is not None
    if step != "claimed":
        backup = kf.backup(settings.data_dir, "knowledge", name, original) if original is not None else None
        database.set_upload_backup(upload_id, str(backup or ""))
    if step in ("file written", "indexed"):
        kf.write_atomic(target, content)
    if step == "indexed":
        engine.rebuild()
    indexed_before = json.loads(engine.index.meta["knowledge_hashes"])
    database.close()

    running = await start_bot(emulator, settings, engine)  # no start-up refresh: the index stays as the kill left it
    try:
        [told] = await running.expect(COORDINATOR, 0)
        finished = step == "indexed"
        status = running.database.upload(upload_id).status
        if finished:
            assert status == "published"
            assert told.text == EN("upload_recovered_published", id=practice_id)
            assert target.read_bytes() == content
        else:
            assert status == "failed"
            assert told.text == EN("upload_recovered_rolled_back", id=practice_id)
            assert (target.read_bytes() if target.exists() else None) == original  # the folder as before
        hashes = json.loads(engine.index.meta["knowledge_hashes"])
        on_disk = {p.relative_to(knowledge).as_posix() for p in knowledge.rglob("*.md") if p.name != "README.md"}
        assert set(hashes) == on_disk  # the index matches the folder
        assert finished or hashes == {k: v for k, v in indexed_before.items() if k in on_disk}
        # Pressing the old Publish button now says what is true.
        [preview] = running.messages(COORDINATOR)
        emulator._messages[(COORDINATOR, preview.message_id)]["reply_markup"] = {
            "inline_keyboard": [[{"text": "Publish", "callback_data": f"pub:{upload_id}"}]]
        }
        answer, _ = await running.press(COORDINATOR, preview, f"pub:{upload_id}")
        assert answer["text"] == EN("upload_state_published" if finished else "upload_state_failed")
        await running.stop()
    finally:
        await running.stop()
        running.database.close()
    again = BotDatabase.in_data_dir(settings.data_dir)  # a second restart tells nobody again
    assert again.interrupted_uploads() == []
    again.close()


def test_purge_also_forgets_old_outbox_copies_but_keeps_what_still_waits(env, data_dir):
    from datetime import UTC, datetime

    db = BotDatabase.in_data_dir(data_dir)
    for status in ("sent", "failed", "uncertain", "pending"):
        row, _, _ = db.outbox_add(None, OFFICIAL, f"old {status}", None, None, status)
        db._write("update outbox set created_at = '2020-01-01T00:00:00+00:00' where id = ?", [row])
    db.outbox_add(None, OFFICIAL, "recent", None, None, "sent")
    db.close()
    assert CliRunner().invoke(main, ["purge", "--older-than", "30"]).exit_code == 0
    db = BotDatabase.in_data_dir(data_dir)
    assert [r["text"] for r in db._all("select text from outbox order by id")] == ["old pending", "recent"]
    assert db.outbox_prune(datetime.now(UTC)) == 0  # "recent" was never confirmed sent_at: kept
    db.close()
