"""Authoring from Telegram, end to end: a coordinator gets the template, fills it in and publishes;
edits a practice with /edit, sees what changes before Publish; the audit log in /status shows it."""

from __future__ import annotations

import re

from bot.practice_template import TEMPLATE_NAME
from bot.texts import Texts
from tests.bot_harness import ADMIN, COORDINATOR, FSI, OFFICIAL, PDI, RLM, button
from tests.test_practice_template import FILLED

EN, AR = Texts("en"), Texts("ar")
HRASTNIK = "hrastnik-rent-relief-for-business-premises"
NEW_ID = FILLED["id"]


def fill(template: str, values: dict[str, str]) -> str:
    """Write each value where its placeholder is, as a coordinator would (the hints are known)."""
    for slot, value in values.items():
        hint = f"<<{EN(f'tpl_hint_{slot}')}>>"
        template = template.replace(hint, value)
    return template


async def test_a_coordinator_fills_the_template_publishes_edits_and_the_audit_log_shows_it(bot, knowledge):
    # 1. The template, explained in the coordinator's language.
    await bot.say(COORDINATOR, "/template", count=0)
    [sent] = await bot.emulator.wait_for_files_async(COORDINATOR, 1)
    assert sent.file_name == TEMPLATE_NAME and sent.caption == EN("template_caption")
    template = sent.content.decode()
    assert "# id (required):" in template and "<<" in template

    # 2. Filled in and sent back: a new practice, published.
    values = {k: v for k, v in FILLED.items() if k not in ("topics", "actors")}
    text = fill(template, values)
    text = text.replace(f'["<<{EN("tpl_hint_topics")}>>"]', '["volunteering", "vulnerable-groups"]')
    text = text.replace(f'["<<{EN("tpl_hint_actors")}>>"]', '["Beekeepers\' society of Zreče"]')
    assert "<<" not in text.replace("<<...>>", "")
    [preview] = await bot.send_document(COORDINATOR, f"{NEW_ID}.md", text.encode())
    assert preview.text.startswith(EN("upload_preview_new", name=f"practices/{NEW_ID}.md")), preview.text
    await bot.press(COORDINATOR, preview, button(preview, "pub:"), count=2, first_name="Maja")
    assert NEW_ID in bot.engine.index.practices

    # 3. /edit sends the current file; changed and sent back, the preview says what changes.
    await bot.say(COORDINATOR, f"/edit {HRASTNIK}", count=0)
    current = (await bot.emulator.wait_for_files_async(COORDINATOR, 2))[1]
    assert current.file_name == f"{HRASTNIK}.md" and current.caption == EN("edit_caption", id=HRASTNIK)
    original = (knowledge / "practices" / f"{HRASTNIK}.md").read_bytes()
    assert current.content == original
    changed = (
        original.decode()
        .replace("  en: Rent exemption for businesses in municipal premises", "  en: Rent waiver for municipal tenants")
        .replace("  sl: Oprostitev najemnine za poslovne prostore občine\n", "")
        .replace("period: 2020-03/2020-04\n", "period: 2020-03/2020-04\ncontact: Municipality of Hrastnik\n")
        .replace("Parents were also exempted", "Parents were exempted too")
        .replace("## Lessons for Basra", "## Who was involved\nThe mayor and the council.\n\n## Lessons for Basra")
    )
    [replace] = await bot.send_document(COORDINATOR, f"{HRASTNIK}.md", changed.encode())
    lines = replace.text.split("\n")
    assert lines[0] == EN("upload_preview_replace", id=HRASTNIK)
    diff = lines[lines.index(EN("diff_title", id=HRASTNIK)) :]
    assert diff[1:6] == [
        EN("diff_fields_added", names="contact"),
        EN("diff_fields_removed", names="title.sl"),
        EN("diff_fields_changed", names="title.en"),
        EN("diff_sections_added", names="Who was involved"),
        EN("diff_sections_changed", names="What was done"),
    ]
    assert diff[6] == (
        f"• title.en: {FSI}Rent exemption for businesses in municipal premises{PDI} → {FSI}Rent waiver for municipal tenants{PDI}"
    )
    await bot.press(COORDINATOR, replace, button(replace, "pub:"), count=2, first_name="Maja")

    # 4. An admin removes one; /status shows who did what, latest first.
    await bot.say(ADMIN, "/remove kocevje-cash-free-food-packages")
    [status] = await bot.say(ADMIN, "/status")
    audit = status.text.split("\n\n")[-1].split("\n")
    assert audit[0] == EN("audit_title")
    expected = [
        ("removed", "kocevje-cash-free-food-packages", "Tester"),
        ("replaced", HRASTNIK, "Maja"),
        ("published", NEW_ID, "Maja"),
    ]
    assert len(audit) == 4
    for (action, practice_id, name), line in zip(expected, audit[1:]):
        when = r"\d{4}-\d\d-\d\d \d\d:\d\d UTC"
        assert re.fullmatch(f"{when} · {action} · {re.escape(practice_id)} · {name}", line), line
    entries = bot.database.audit_log()
    assert [(e.action, e.practice_id, e.user_id) for e in entries] == [
        ("removed", "kocevje-cash-free-food-packages", ADMIN),
        ("replaced", HRASTNIK, COORDINATOR),
        ("published", NEW_ID, COORDINATOR),
    ]


async def test_an_unchanged_upload_says_nothing_changes(bot, knowledge):
    original = (knowledge / "practices" / f"{HRASTNIK}.md").read_bytes()
    [preview] = await bot.send_document(COORDINATOR, f"{HRASTNIK}.md", original + b"\n")
    assert EN("diff_none") in preview.text.split("\n")


async def test_status_before_any_change_and_in_arabic(bot):
    [status] = await bot.say(ADMIN, "/status")
    assert status.text.endswith(EN("audit_none"))
    bot.database.set_language(COORDINATOR, "ar")
    await bot.say(COORDINATOR, "/template", count=0)
    [sent] = await bot.emulator.wait_for_files_async(COORDINATOR, 1)
    assert "# id (إلزامي):" in sent.content.decode() and sent.caption == AR("template_caption")


async def test_template_and_edit_are_for_coordinators_and_edit_checks_its_id(bot):
    for text in ("/template", f"/edit {HRASTNIK}"):
        [refused] = await bot.say(OFFICIAL, text)
        assert refused.text == EN("coordinators_only")
    assert bot.emulator.sent_files(OFFICIAL) == []
    [usage] = await bot.say(COORDINATOR, "/edit")
    assert usage.text == EN("edit_usage")
    for bad in ("no-such-practice", "../../etc/passwd"):
        [missing] = await bot.say(COORDINATOR, f"/edit {bad}")
        assert missing.text == EN("remove_not_found", id=f"{FSI}{bad}{PDI}")  # isolated, as every user value
    assert RLM not in usage.text
