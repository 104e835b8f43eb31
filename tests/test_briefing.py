"""The briefing PDF: `peerbot brief`, the 📄 buttons and /brief. fpdf2 and uharfbuzz run for real;
the PDF's text layer (pypdf) and link annotations are what is checked, and one page is rendered."""

from __future__ import annotations

import io
import shutil
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from pypdf import PdfReader

from bot.briefing import briefing_pdf
from bot.cli import main
from bot.texts import Texts
from index.errors import BriefingUnavailable
from index.knowledge import load_knowledge
from index.reading import read_practice
from tests.bot_harness import ARAB_OFFICIAL, OFFICIAL, button, buttons

TRANSLATED = Path(__file__).parent / "fixtures" / "translated" / "practices"
KOCEVJE = "kocevje-cash-free-food-packages"
TITLE_AR = "سلال غذائية دون دفع نقدي تُضاف إلى فاتورة شركة الخدمات"
DELO = "https://www.delo.si/novice/slovenija/starejsi-ki-so-sami-niso-pozabljeni-289896.html"
TOLMIN_URL = "https://prostovoljska-pomoc.si/zgodbe/prevozi-starejsih"
RENT_AR = "إعفاء الشركات من إيجار المباني البلدية"
AR, EN = Texts("ar"), Texts("en")


@pytest.fixture
def translated(knowledge: Path) -> Path:
    shutil.copy(TRANSLATED / f"{KOCEVJE}.md", knowledge / "practices" / f"{KOCEVJE}.md")
    return knowledge


def text_of(pdf: bytes) -> str:
    return "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)


def link_targets(pdf: bytes) -> list[str]:
    return [
        annotation.get_object()["/A"]["/URI"]
        for page in PdfReader(io.BytesIO(pdf)).pages
        for annotation in page.get("/Annots") or []
    ]


def readings(folder: Path, language: str, *ids: str):
    practices = {p.id: p for p in load_knowledge(folder).practices}
    return [read_practice(practices[i], language) for i in ids]


def test_arabic_briefing_holds_the_arabic_text_and_working_links(translated: Path):
    kb = load_knowledge(translated)
    pdf = briefing_pdf(
        readings(translated, "ar", KOCEVJE, "tolmin-red-cross-free-transport"),
        kb.taxonomy,
        "ar",
        "كيف ساعدت البلديات كبار السن؟",
        date(2026, 12, 3),
    )
    assert pdf.startswith(b"%PDF-")
    assert len(PdfReader(io.BytesIO(pdf)).pages) >= 2  # each practice on its own pages
    text = text_of(pdf)
    assert "ملف إحاطة: ممارسات جيدة من" in text  # (a line that mixes in Latin is extracted in visual order)
    assert TITLE_AR in text
    assert "ما الذي تم" in text and "دروس للبصرة" in text  # the Arabic body, not the English one
    assert "كيف ساعدت البلديات كبار السن؟" in text and "2026-12-03" in text
    assert "الوصف الكامل أدناه متاح بلغته الأصلية فقط" in text  # Tolmin has no Arabic body: said so
    assert DELO in text and TOLMIN_URL in text  # printed, for paper
    assert {DELO, TOLMIN_URL} <= set(link_targets(pdf))  # and clickable


def test_an_arabic_page_renders(translated: Path, tmp_path: Path):
    pdfium = pytest.importorskip("pypdfium2")
    kb = load_knowledge(translated)
    pdf = briefing_pdf(readings(translated, "ar", KOCEVJE), kb.taxonomy, "ar", None, date(2026, 12, 3))
    image = pdfium.PdfDocument(pdf)[0].render(scale=1).to_pil().convert("L")
    import numpy as np

    dark = int((np.asarray(image) < 128).sum())
    assert (
        abs(image.size[0] - 595) <= 1 and abs(image.size[1] - 842) <= 1 and dark > 2000
    )  # A4 at 72 dpi, with text on it


def test_a_missing_font_is_a_clear_error(translated: Path, monkeypatch, tmp_path: Path):
    import matplotlib

    monkeypatch.setattr(matplotlib, "get_data_path", lambda: str(tmp_path))
    with pytest.raises(BriefingUnavailable) as error:
        briefing_pdf(readings(translated, "en", KOCEVJE), load_knowledge(translated).taxonomy, "en")
    assert str(error.value) == (
        f"the font {tmp_path}/fonts/ttf/DejaVuSans.ttf is missing, so no briefing can be made (it ships with matplotlib: reinstall it with `pip install --force-reinstall matplotlib`)"
    )


def test_cli_brief_writes_the_pdf(env, translated: Path, tmp_path: Path):
    out = tmp_path / "brief.pdf"
    result = CliRunner().invoke(
        main, ["brief", KOCEVJE, "tolmin-red-cross-free-transport", "--lang", "ar", "-o", str(out)]
    )
    assert result.exit_code == 0, result.output
    assert result.output == f"Briefing on 2 practice(s) in 'ar' written to {out}.\n"
    assert TITLE_AR in text_of(out.read_bytes())


def test_cli_brief_unknown_practice(env, knowledge: Path, tmp_path: Path):
    result = CliRunner().invoke(main, ["brief", "nope", "-o", str(tmp_path / "x.pdf")])
    assert result.exit_code == 1
    assert result.output == (
        f"Error: no practice 'nope' in {knowledge} (the id is the file name without .md; `ls {knowledge}/practices`)\n"
    )
    assert not (tmp_path / "x.pdf").exists()


async def test_the_button_under_an_answer_sends_the_pdf_of_its_practices(bot, emulator):
    [reply] = await bot.say(ARAB_OFFICIAL, RENT_AR)
    question = bot.database.question(1)
    await bot.press(ARAB_OFFICIAL, reply, button(reply, "bq:"))
    [sent] = await emulator.wait_for_files_async(ARAB_OFFICIAL)
    assert sent.kind == "document" and sent.mime_type == "application/pdf"
    assert sent.file_name.startswith("peerbot-briefing-") and sent.file_name.endswith(".pdf")
    assert sent.caption == AR("brief_caption")
    text = text_of(sent.content)
    assert RENT_AR in text  # the question it answered (and the Hrastnik title, which is the same words)
    assert len(PdfReader(io.BytesIO(sent.content)).pages) >= len(question.results)
    assert "https://savus.si/ukrepi-obcine-hrastnik-za-obcane-drustva-in-gospodarstvo/" in link_targets(sent.content)


async def test_the_button_under_a_full_practice_and_the_brief_command(bot, emulator):
    [reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    _, [full] = await bot.press(OFFICIAL, reply, button(reply, "p:"), count=1)
    assert [d[:3] for d in buttons(full)] == ["bp:"]
    await bot.press(OFFICIAL, full, button(full, "bp:"))
    [one] = await emulator.wait_for_files_async(OFFICIAL)
    assert "Rent exemption for businesses in municipal premises" in text_of(one.content)
    assert len(PdfReader(io.BytesIO(one.content)).pages) == 1
    await bot.say(OFFICIAL, "/brief", count=0)
    files = await emulator.wait_for_files_async(OFFICIAL, 2)
    assert "rent exemption for business premises" in text_of(files[1].content)  # the last answer's question


async def test_brief_before_any_answer_says_what_to_do(bot, emulator):
    [reply] = await bot.say(OFFICIAL, "/brief")
    assert reply.text == EN("brief_nothing")
    await bot.settle()
    assert emulator.sent_files(OFFICIAL) == []
