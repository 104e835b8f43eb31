"""Reading a practice in the reader's language: index/reading.py, and the bot's views built on it."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from bot.texts import Texts
from index.engine import Engine
from index.knowledge import load_knowledge
from index.reading import read_practice
from index.search import RankingConfig
from tests.bot_harness import ARAB_OFFICIAL, COORDINATOR, FSI, PDI, RANKING, RLM, bold, button, start_bot
from tests.fake_embedder import HashEmbedder

TRANSLATED = Path(__file__).parent / "fixtures" / "translated" / "practices"
KOCEVJE = "kocevje-cash-free-food-packages"
AR = Texts("ar")


@pytest.fixture
def translated(knowledge: Path) -> Path:
    shutil.copy(TRANSLATED / f"{KOCEVJE}.md", knowledge / "practices" / f"{KOCEVJE}.md")
    return knowledge


def practice(folder: Path, practice_id: str):
    return next(p for p in load_knowledge(folder).practices if p.id == practice_id)


def test_arabic_reading_of_a_translated_practice_is_arabic_throughout(translated: Path):
    reading = read_practice(practice(translated, KOCEVJE), "ar")
    assert (reading.title.language, reading.summary.language, reading.transferability.language) == ("ar",) * 3
    assert [(s.heading, s.language) for s in reading.sections] == [
        ("السياق", "ar"),
        ("ما الذي تم", "ar"),
        ("دروس للبصرة", "ar"),
    ]
    assert [(o.text[:9], o.language) for o in reading.outcomes] == [("ثلاث سلال", "ar")]
    assert [a.text for a in reading.actors] == ["البلدية", "الحماية المدنية", "Komunala Kočevje"]
    assert [(s.title, s.language) for s in reading.sources] == [("Starejši, ki so sami, niso pozabljeni", "sl")]


def test_other_languages_fall_back_part_by_part_and_say_which(translated: Path):
    reading = read_practice(practice(translated, KOCEVJE), "sl")
    assert reading.title == type(reading.title)("Paketi hrane brez gotovine prek položnice Komunale", "sl")
    assert reading.summary.language == "en" and reading.transferability.language == "en"  # no sl in the file
    assert {s.language for s in reading.sections} == {"en"}
    assert reading.outcomes[0].language == "en" and reading.actors[0].text == "municipality"


def test_json_contract(translated: Path):
    payload = read_practice(practice(translated, KOCEVJE), "ar").to_json()
    assert list(payload) == [
        "id",
        "language",
        "title",
        "summary",
        "municipality",
        "sections",
        "outcomes",
        "transferability",
        "sources",
    ]
    assert payload["sections"][0] == {
        "heading": "السياق",
        "text": "لم يستطع كبار السن الذين يعيشون وحدهم في القرى النائية التسوّق خلال الموجة الأولى.",
        "language": "ar",
    }
    assert payload["transferability"]["language"] == "ar"
    assert payload["sources"] == [
        {
            "url": "https://www.delo.si/novice/slovenija/starejsi-ki-so-sami-niso-pozabljeni-289896.html",
            "title": "Starejši, ki so sami, niso pozabljeni",
            "language": "sl",
        }
    ]


@pytest.fixture
async def translated_bot(emulator, settings, translated: Path, data_dir: Path):
    engine = Engine(HashEmbedder(64), data_dir, translated, RankingConfig(**RANKING))
    engine.rebuild()
    running = await start_bot(emulator, settings, engine)
    yield running
    await running.stop()
    running.database.close()


async def test_full_practice_in_arabic_shows_the_arabic_body_without_a_note(translated_bot):
    [reply] = await translated_bot.say(ARAB_OFFICIAL, "سلال غذائية دون دفع نقدي تضاف إلى فاتورة شركة الخدمات")
    _, [full] = await translated_bot.press(ARAB_OFFICIAL, reply, button(reply, "p:"), count=1)
    headings = bold(full)
    assert headings[0] == RLM + "سلال غذائية دون دفع نقدي تُضاف إلى فاتورة شركة الخدمات"
    assert [RLM + h for h in ("السياق", "ما الذي تم", "دروس للبصرة")] == [
        h for h in headings if h[1:] in ("السياق", "ما الذي تم", "دروس للبصرة")
    ]
    assert AR("body_language_note", language="x")[:20] not in full.text  # all of it is Arabic: no note
    assert "فقط)" not in full.text
    assert "Context" not in full.text and "What was done" not in full.text
    assert f"• {RLM}ثلاث سلال بسعر {FSI}30{PDI} يورو" in full.text
    assert f"{AR('label_actors')}: {RLM}البلدية, الحماية المدنية, {FSI}Komunala Kočevje{PDI}" in full.text
    assert full.text.endswith(f"{FSI}Starejši, ki so sami, niso pozabljeni{PDI} — {FSI}Delo, 2020{PDI}، بالسلوفينية")


async def test_sources_view_names_the_sources_language(translated_bot):
    [reply] = await translated_bot.say(ARAB_OFFICIAL, "سلال غذائية دون دفع نقدي تضاف إلى فاتورة شركة الخدمات")
    _, [sources] = await translated_bot.press(ARAB_OFFICIAL, reply, button(reply, "s:"), count=1)
    assert sources.text.split("\n")[1] == (
        f"• {FSI}Starejši, ki so sami, niso pozabljeni{PDI} — {FSI}Delo, 2020{PDI}، {AR('in_language_sl')}"
    )


async def test_coordinator_preview_in_arabic(translated_bot, translated: Path):
    data = (TRANSLATED / f"{KOCEVJE}.md").read_bytes()
    translated_bot.database.set_language(COORDINATOR, "ar")
    [preview] = await translated_bot.send_document(COORDINATOR, f"{KOCEVJE}.md", data)
    assert "\n\n" + RLM + "سلال غذائية دون دفع نقدي" in preview.text
    assert "الوصف الكامل" not in preview.text  # the body reaches Arabic readers in Arabic
    assert preview.text.endswith("، " + AR("in_language_sl"))
