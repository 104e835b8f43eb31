"""Coordinators publish knowledge from Telegram; bad files are refused with clear messages."""

from __future__ import annotations

from pathlib import Path

from bot import knowledge_files as kf
from bot.texts import Texts
from index.knowledge import MAX_FILE_BYTES, load_knowledge
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    COORDINATOR,
    FSI,
    NEW_PRACTICE,
    OFFICIAL,
    PDI,
    RLM,
    bold,
    button,
    buttons,
    iso,
    links,
)

EN, AR = Texts("en"), Texts("ar")
NEW_NAME = "zrece-beekeepers-honey-for-quarantined-families.md"
NEW_ID = NEW_NAME[:-3]
HRASTNIK = "hrastnik-rent-relief-for-business-premises"


def folder_snapshot(knowledge: Path) -> dict[str, bytes]:
    return {str(p.relative_to(knowledge)): p.read_bytes() for p in sorted(knowledge.rglob("*")) if p.is_file()}


async def test_coordinator_publishes_a_new_practice_and_the_next_question_finds_it(bot, knowledge):
    [before] = await bot.say(OFFICIAL, "beekeepers honey for quarantined families")
    assert "Zreče" not in before.text

    [preview] = await bot.send_document(COORDINATOR, NEW_NAME, NEW_PRACTICE.encode(), mime_type="text/markdown")
    assert preview.text.startswith(EN("upload_preview_new", name=f"practices/{NEW_NAME}"))
    assert "Beekeepers deliver honey to quarantined families — Zreče" in preview.text
    assert "The beekeepers' society of Zreče organised volunteers" in preview.text
    assert "Topics: Volunteering, Most vulnerable groups" in preview.text
    assert links(preview) == ["https://www.example.si/zrece-beekeepers-honey"]
    assert [b.text for row in preview.reply_markup.inline_keyboard for b in row] == ["Publish", "Cancel"]
    assert not (knowledge / "practices" / NEW_NAME).exists()  # nothing is written before "Publish"

    _, [working, done] = await bot.press(COORDINATOR, preview, button(preview, "pub:"), count=2)
    assert working.text == EN("upload_publishing", id=NEW_ID)
    assert done.text == EN("upload_published", id=NEW_ID, practices=7, passages=35)
    assert buttons(bot.emulator.sent_messages(COORDINATOR)[0]) == []  # the preview lost its buttons
    assert (knowledge / "practices" / NEW_NAME).read_text() == NEW_PRACTICE
    assert load_knowledge(knowledge).ok  # `peerbot check` stays green

    [after] = await bot.say(OFFICIAL, "beekeepers honey for quarantined families")
    assert bold(after)[0] == "1. Beekeepers deliver honey to quarantined families"
    [arabic] = await bot.say(ARAB_OFFICIAL, "كيف أوصل مربو النحل العسل إلى الأسر؟")
    assert arabic.text.split("\n")[2] == f"1. {RLM}مربو النحل يوصلون العسل إلى الأسر في الحجر الصحي — {FSI}Zreče{PDI}"


async def test_replacing_a_practice_keeps_a_backup_and_takes_effect(bot, knowledge, data_dir):
    path = knowledge / "practices" / f"{HRASTNIK}.md"
    original = path.read_bytes()
    changed = original.replace(
        b"Rent exemption for businesses in municipal premises", b"Rent waiver for tenants of municipal premises"
    )
    [preview] = await bot.send_document(COORDINATOR, f"{HRASTNIK}.md", changed)
    assert preview.text.startswith(EN("upload_preview_replace", id=HRASTNIK))
    _, [_, done] = await bot.press(COORDINATOR, preview, button(preview, "pub:"), count=2)
    assert done.text == EN("upload_published", id=HRASTNIK, practices=6, passages=32)
    assert path.read_bytes() == changed  # replaced in place
    [backup] = (data_dir / "backups" / "knowledge").iterdir()
    assert backup.name.endswith(f"-{HRASTNIK}.md") and backup.read_bytes() == original
    [reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    assert bold(reply)[0] == "1. Rent waiver for tenants of municipal premises"


async def test_a_failed_rebuild_restores_the_previous_file(bot, knowledge):
    path = knowledge / "practices" / f"{HRASTNIK}.md"
    original = path.read_bytes()
    changed = original.replace(b"Rent exemption for businesses", b"Rent waiver for businesses")
    [preview] = await bot.send_document(COORDINATOR, f"{HRASTNIK}.md", changed)
    # meanwhile someone breaks another file, so the folder cannot be indexed
    broken = knowledge / "practices" / "sevnica-local-food-network.md"
    broken.write_text(broken.read_text().replace("municipality: Sevnica", "municipality: Sevnica\ncolour: green"))
    _, [_, failed] = await bot.press(COORDINATOR, preview, button(preview, "pub:"), count=2)
    assert failed.text.startswith(
        EN("upload_publish_failed", id=HRASTNIK)
        + "\n\n• practices/sevnica-local-food-network.md: colour: unknown field"
    )
    assert path.read_bytes() == original  # restored
    [reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    assert bold(reply)[0] == "1. Rent exemption for businesses in municipal premises"
    assert bot.database.upload(int(button(preview, "pub:").split(":")[1])).status == "failed"


async def test_a_new_file_is_deleted_again_when_the_rebuild_fails(bot, knowledge):
    [preview] = await bot.send_document(COORDINATOR, NEW_NAME, NEW_PRACTICE.encode())
    broken = knowledge / "practices" / "sevnica-local-food-network.md"
    broken.write_text(broken.read_text().replace("municipality: Sevnica", "municipality: Sevnica\ncolour: green"))
    await bot.press(COORDINATOR, preview, button(preview, "pub:"), count=2)
    assert not (knowledge / "practices" / NEW_NAME).exists()
    assert NEW_ID not in bot.engine.index.practices


async def test_not_markdown_too_big_and_unsafe_names_are_refused_before_download(bot, knowledge, data_dir):
    snapshot = folder_snapshot(knowledge)
    cases = [
        ("notes.txt", b"hello", EN("upload_not_markdown", name=iso("notes.txt"))),
        ("report.pdf", b"%PDF-1.4", EN("upload_not_markdown", name=iso("report.pdf"))),
        ("../../x.md", NEW_PRACTICE.encode(), EN("upload_unsafe_name", name=iso("../../x.md"))),
        ("Hello World.md", NEW_PRACTICE.encode(), EN("upload_unsafe_name", name=iso("Hello World.md"))),
        ("UPPER.md", NEW_PRACTICE.encode(), EN("upload_unsafe_name", name=iso("UPPER.md"))),
        (".hidden.md", NEW_PRACTICE.encode(), EN("upload_unsafe_name", name=iso(".hidden.md"))),
        ("big-file.md", b"x" * (MAX_FILE_BYTES + 1), EN("upload_too_big", size=257, limit=256)),
    ]
    for name, content, expected in cases:
        [reply] = await bot.send_document(COORDINATOR, name, content)
        assert reply.text == expected, name
        assert buttons(reply) == []
    assert not bot.emulator.calls_of("getFile")  # nothing was downloaded
    assert folder_snapshot(knowledge) == snapshot
    assert not (knowledge.parent / "x.md").exists() and not (data_dir / "x.md").exists()


async def test_unsafe_name_in_arabic(bot):
    bot.database.set_language(COORDINATOR, "ar")
    [reply] = await bot.send_document(COORDINATOR, "../../x.md", b"---")
    assert reply.text.startswith(RLM + f"لا يمكن استخدام اسم الملف «{FSI}../../x.md{PDI}»")


async def test_invalid_files_list_their_problems(bot, knowledge):
    snapshot = folder_snapshot(knowledge)
    invalid = NEW_PRACTICE.replace("municipality: Zreče\n", "").replace(
        "topics: [volunteering, vulnerable-groups]", "topics: [beekeeping]"
    )
    [reply] = await bot.send_document(COORDINATOR, NEW_NAME, invalid.encode())
    assert reply.text.startswith(EN("upload_problems", name=iso(NEW_NAME), count=2))
    assert f"{NEW_NAME}: municipality: required field is missing" in reply.text
    assert f"{NEW_NAME}: topics[0]: unknown key 'beekeeping'" in reply.text
    assert buttons(reply) == []
    for content in (
        b"\x89PNG\r\n\x1a\n\x00\x00",
        b"no front matter at all",
        b"---\nid: [unclosed\n---\ntext",
        b"\xff\xfe bad utf-8",
    ):
        [reply] = await bot.send_document(COORDINATOR, "some-practice.md", content)
        assert reply.text.startswith(f"“{iso('some-practice.md')}” has 1 problem(s)"), reply.text
    [mismatch] = await bot.send_document(COORDINATOR, "other-name.md", NEW_PRACTICE.encode())
    assert f"does not match the file name (rename the file to {NEW_ID}.md" in mismatch.text
    assert folder_snapshot(knowledge) == snapshot


def test_duplicate_ids_across_sub_folders_are_problems(knowledge):
    archive = knowledge / "practices" / "archive"
    archive.mkdir()
    (archive / NEW_NAME).write_text(NEW_PRACTICE)
    other = knowledge / "practices" / "more"
    other.mkdir()
    (other / NEW_NAME).write_text(NEW_PRACTICE)
    checked = kf.check_upload(knowledge, NEW_NAME, NEW_PRACTICE.encode())
    assert not checked.ok and checked.replaces
    assert any("duplicate id" in p.message for p in checked.problems)


async def test_officials_cannot_upload_and_groups_are_refused(bot, knowledge):
    [reply] = await bot.send_document(OFFICIAL, NEW_NAME, NEW_PRACTICE.encode())
    assert reply.text == EN("document_not_allowed")
    before = len(bot.messages(-COORDINATOR))
    bot.emulator.send_document(
        COORDINATOR, NEW_NAME, NEW_PRACTICE.encode(), chat_type="group", caption="@peerbot_test_bot"
    )
    [group] = await bot.expect(-COORDINATOR, before)
    assert group.text == EN("document_private_only")
    assert not bot.emulator.calls_of("getFile")


async def test_cancel_and_double_press(bot, knowledge):
    [preview] = await bot.send_document(COORDINATOR, NEW_NAME, NEW_PRACTICE.encode())
    publish, cancel = button(preview, "pub:"), button(preview, "cx:")
    answer, [cancelled] = await bot.press(COORDINATOR, preview, cancel, count=1)
    assert answer["text"] == cancelled.text == EN("upload_cancelled")
    bot.emulator._messages[(COORDINATOR, preview.message_id)]["reply_markup"] = preview.reply_markup.to_dict()
    answer, _ = await bot.press(COORDINATOR, preview, publish)
    assert answer["text"] == EN("upload_state_cancelled")  # what is true of it
    assert not (knowledge / "practices" / NEW_NAME).exists()

    [preview] = await bot.send_document(COORDINATOR, NEW_NAME, NEW_PRACTICE.encode())
    publish = button(preview, "pub:")
    await bot.press(COORDINATOR, preview, publish, count=2)
    bot.emulator._messages[(COORDINATOR, preview.message_id)]["reply_markup"] = preview.reply_markup.to_dict()
    answer, _ = await bot.press(COORDINATOR, preview, publish)
    assert answer["text"] == EN("upload_state_published")


async def test_admins_may_publish_and_previews_follow_the_language(bot, knowledge):
    bot.database.set_language(ADMIN, "ar")
    [preview] = await bot.send_document(ADMIN, NEW_NAME, NEW_PRACTICE.encode())
    lines = preview.text.split("\n")
    assert lines[0].startswith(RLM + "معاينة ممارسة جديدة")
    assert lines[2] == f"{RLM}مربو النحل يوصلون العسل إلى الأسر في الحجر الصحي — {FSI}Zreče{PDI}"
    assert [b.text for row in preview.reply_markup.inline_keyboard for b in row] == ["نشر", "إلغاء"]
    _, [_, done] = await bot.press(ADMIN, preview, button(preview, "pub:"), count=2)
    assert done.text.startswith(RLM + "نُشرت «")
    assert (knowledge / "practices" / NEW_NAME).is_file()
