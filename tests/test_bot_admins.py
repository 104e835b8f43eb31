"""Admin commands end to end: /status, /gaps, /stats, /reindex, /remove."""

from __future__ import annotations

import re
from datetime import UTC, datetime

from bot.texts import Texts
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    FSI,
    NEW_PRACTICE,
    OFFICIAL,
    PDI,
    RLM,
    bold,
    button,
    iso,
)

EN, AR = Texts("en"), Texts("ar")
KOCEVJE = "kocevje-cash-free-food-packages"


async def test_status(bot):
    [_reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    [status] = await bot.say(ADMIN, "/status")
    lines = status.text.split("\n")
    assert lines[0] == "Model: test-hash:64"
    assert lines[1:3] == ["Practices: 6", "Passages: 32"]
    assert re.fullmatch(r"Index built: \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", lines[3])
    assert lines[4] == "Uptime: 0 d 0 h 0 min"
    assert lines[5] == "Questions today: 1"


async def test_status_in_arabic(bot):
    bot.database.set_language(ADMIN, "ar")
    [status] = await bot.say(ADMIN, "/status")
    assert status.text.split("\n")[0] == f"{RLM}النموذج: {FSI}test-hash:64{PDI}"


async def test_gaps_groups_the_unanswered_questions_largest_first(bot):
    [empty] = await bot.say(ADMIN, "/gaps")
    assert empty.text == EN("gaps_none_days", days=30)
    for text in ("xyzzy", "XYZZY ", "qwrtplk zzkv", "rent exemption for business premises"):
        await bot.say(OFFICIAL, text)
    await bot.say(ARAB_OFFICIAL, "زقزقة الكواكب البعيدة")
    [gaps] = await bot.say(ADMIN, "/gaps")
    today = datetime.now(UTC).date().isoformat()
    lines = [line for line in gaps.text.split("\n") if line]
    assert lines[0] == EN("gaps_title_days", days=30)
    assert lines[1:3] == [
        EN("gaps_group", count=2, languages="en", first=today, last=today),
        f"• {FSI}XYZZY{PDI}",  # case and spacing folded; the form typed first of the tied ones
    ]
    assert len(lines) == 7 and not any("rent" in line for line in lines)
    assert f"• {FSI}زقزقة الكواكب البعيدة{PDI}" in lines
    [week] = await bot.say(ADMIN, "/gaps 7")
    assert week.text.split("\n")[0] == EN("gaps_title_days", days=7)
    for bad in ("/gaps 0", "/gaps x", "/gaps 1 2", "/gaps 400"):
        [usage] = await bot.say(ADMIN, bad)
        assert usage.text == EN("gaps_usage", days=30, limit=366), bad


async def test_gaps_stay_one_message_however_many_and_long_the_questions(bot):
    """Issue 15, finding 9: 15 long questions full of <&>"' once made /gaps send 31 messages."""
    words = "alpha bravo charlie delta echo foxtrot golf hotel india juliett kilo lima mike november oscar".split()
    for word in words:  # 15 unrelated unanswered questions (no shared word), each about 900 characters
        bot.database.log_question(OFFICIAL, OFFICIAL, f"{word} " + "<&>\"' " * 150, "en", "en", [], [], False, 5.0)
    [gaps] = await bot.say(ADMIN, "/gaps")
    await bot.settle()
    assert len(bot.messages(ADMIN)) == 1
    lines = gaps.text.split("\n")
    wordings = [line for line in lines if line.startswith("• ")]
    assert all(len(line) <= 2 + 1 + 90 + 1 + 1 for line in wordings)  # "• ", FSI, 90 characters, "…", PDI
    assert wordings[0].startswith(f"• {FSI}") and wordings[0].endswith(f"…{PDI}")
    shown = len(wordings)
    assert 1 <= shown < 15
    assert lines[-1] == EN("gaps_more_groups", count=15 - shown)


async def test_gaps_in_arabic_keep_each_wording_isolated_on_a_right_to_left_line(bot):
    bot.database.set_language(ADMIN, "ar")
    bot.database.log_question(OFFICIAL, OFFICIAL, "xyzzy plover", "en", "en", [], [], False, 5.0)
    [gaps] = await bot.say(ADMIN, "/gaps")
    lines = gaps.text.split("\n")
    assert lines[0].startswith(RLM)
    assert f"{RLM}• {FSI}xyzzy plover{PDI}" in lines


async def test_stats_counts_questions_languages_and_feedback(bot):
    [reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    await bot.press(OFFICIAL, reply, button(reply, "fb:"))  # 👍
    await bot.say(ARAB_OFFICIAL, "إعفاء الشركات من إيجار المباني البلدية")
    await bot.say(OFFICIAL, "xyzzy")
    [stats, _chart] = await bot.say(ADMIN, "/stats", count=2)  # the chart: tests/test_charts.py
    today = datetime.now(UTC).date().isoformat()
    assert stats.text.startswith(EN("stats", total=3, confident=2, up=1, down=0, languages="en 2, ar 1"))
    assert stats.text.endswith(f"{EN('stats_days', days=14)}\n{today}: 3")


async def test_reindex_reports_unchanged_new_and_invalid(bot, knowledge):
    [_, unchanged] = await bot.say(ADMIN, "/reindex", count=2)
    assert unchanged.text == EN("reindex_unchanged", practices=6, passages=32)
    (knowledge / "practices" / "zrece-beekeepers-honey-for-quarantined-families.md").write_text(NEW_PRACTICE)
    [_, done] = await bot.say(ADMIN, "/reindex", count=2)
    assert re.fullmatch(
        r"Index rebuilt in \d+\.\d s: 7 practices, 35 passages \(3 newly embedded, 32 reused\)\.", done.text
    )
    [after] = await bot.say(OFFICIAL, "beekeepers honey for quarantined families")
    assert bold(after)[0] == "1. Beekeepers deliver honey to quarantined families"
    (knowledge / "practices" / "broken.md").write_text("no front matter")
    [_, invalid] = await bot.say(ADMIN, "/reindex", count=2)
    assert invalid.text.startswith(EN("reindex_invalid", count=1) + "\n\n• practices/broken.md: -: no front matter")
    assert len(bot.engine.index.practices) == 7  # the previous index keeps serving


async def test_remove_moves_the_file_to_the_backup_folder_and_reindexes(bot, knowledge, data_dir):
    path = knowledge / "practices" / f"{KOCEVJE}.md"
    original = path.read_bytes()
    [reply] = await bot.say(ADMIN, f"/remove {KOCEVJE}")
    [backup] = (data_dir / "backups" / "removed").iterdir()
    assert reply.text == EN("remove_done", id=KOCEVJE, backup=f"backups/removed/{backup.name}", practices=5)
    assert not path.exists() and backup.read_bytes() == original
    assert KOCEVJE not in bot.engine.index.practices
    [answer] = await bot.say(OFFICIAL, "food packages")
    assert "Kočevje" not in answer.text


async def test_remove_refuses_bad_ids_and_puts_the_file_back_on_failure(bot, knowledge):
    [usage] = await bot.say(ADMIN, "/remove")
    assert usage.text == EN("remove_usage")
    for bad in ("no-such-practice", "../../etc/passwd", "x.md"):
        [reply] = await bot.say(ADMIN, f"/remove {bad}")
        assert reply.text == EN("remove_not_found", id=iso(bad))
    (knowledge / "practices" / "broken.md").write_text("no front matter")
    [failed] = await bot.say(ADMIN, f"/remove {KOCEVJE}")
    assert failed.text.startswith(EN("remove_failed", id=KOCEVJE))
    assert (knowledge / "practices" / f"{KOCEVJE}.md").is_file()
    assert KOCEVJE in bot.engine.index.practices
