"""/stats sends a PNG chart: a real PNG that decodes, of the intended size, and drawn from the data."""

from __future__ import annotations

import io
from datetime import date

import numpy as np
from PIL import Image

from bot.charts import DPI, HEIGHT_IN, WIDTH_IN, stats_chart
from tests.bot_harness import (
    ADMIN,
    ARAB_OFFICIAL,
    OFFICIAL,
    button,
)

PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
SIZE = (int(WIDTH_IN * DPI), int(HEIGHT_IN * DPI))
STATS = {
    "per_day": [("2026-11-20", 3), ("2026-11-26", 12)],
    "languages": [("en", 10), ("ar", 4), ("sl", 1)],
    "total": 15,
    "confident": 11,
    "up": 5,
    "down": 2,
}


def decode(png: bytes) -> np.ndarray:
    assert png.startswith(PNG_MAGIC)
    with Image.open(io.BytesIO(png)) as image:
        image.verify()  # checksums of every chunk
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        assert image.size == SIZE
        return np.asarray(image.convert("RGB"), dtype=np.int16)


def test_chart_is_a_png_of_the_intended_size_that_matplotlib_reads_back():
    png = stats_chart(STATS, today=date(2026, 11, 26))
    pixels = decode(png)
    import matplotlib.image

    again = matplotlib.image.imread(io.BytesIO(png), format="png")
    assert again.shape[:2] == (SIZE[1], SIZE[0])
    assert 10_000 < len(png) < 500_000
    assert (np.abs(pixels - 255).sum(axis=2) > 60).mean() > 0.02  # something is drawn on the white


def test_chart_draws_the_numbers_it_is_given():
    """Different data give a different picture, and the bars' colours appear only when there are bars."""
    busy = decode(stats_chart(STATS, today=date(2026, 11, 26)))
    quiet = decode(stats_chart({**STATS, "per_day": [("2026-11-26", 1)], "up": 0, "down": 0}, today=date(2026, 11, 26)))
    empty = decode(
        stats_chart(
            {"per_day": [], "languages": [], "total": 0, "confident": 0, "up": 0, "down": 0}, today=date(2026, 11, 26)
        )
    )
    red = lambda p: int(((p[..., 0] > 180) & (p[..., 1] < 80) & (p[..., 2] < 80)).sum())  # noqa: E731 - "not helpful" bars
    assert red(busy) > 500 and red(quiet) == 0 and red(empty) == 0
    blue = lambda p: int(((p[..., 2] > 150) & (p[..., 0] < 80)).sum())  # noqa: E731 - question bars
    assert blue(busy) > blue(quiet) > blue(empty)


async def test_stats_command_sends_the_chart_after_the_numbers(bot, emulator):
    [reply] = await bot.say(OFFICIAL, "rent exemption for business premises")
    await bot.press(OFFICIAL, reply, button(reply, "fb:"))
    await bot.say(ARAB_OFFICIAL, "إعفاء الشركات من إيجار المباني البلدية")
    text, photo = await bot.say(ADMIN, "/stats", count=2)
    assert text.text.startswith("Questions: 2 in all")
    assert photo.photo and photo.text is None
    [sent] = await emulator.wait_for_files_async(ADMIN)
    assert sent.kind == "photo" and sent.message_id == photo.message_id
    pixels = decode(sent.content)
    assert (np.abs(pixels - 255).sum(axis=2) > 60).mean() > 0.02


async def test_no_questions_no_chart(bot, emulator):
    [text] = await bot.say(ADMIN, "/stats")
    await bot.settle()
    assert text.text == "No questions yet."
    assert emulator.sent_files(ADMIN) == []


def test_arabic_chart_is_shaped_by_matplotlib_with_every_glyph_in_the_font():
    """matplotlib >= 3.11 lays text out with libraqm; DejaVu Sans has the Arabic glyphs (docs/stats-ar.png)."""
    import warnings

    import matplotlib.ft2font

    assert matplotlib.ft2font.__libraqm_version__
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # "Glyph ... missing from font(s)" would fail here
        arabic = stats_chart(STATS, today=date(2026, 11, 26), language="ar")
    english = stats_chart(STATS, today=date(2026, 11, 26), language="en")
    assert decode(arabic).shape == decode(english).shape
    assert (decode(arabic) != decode(english)).any(axis=2).mean() > 0.005  # the labels are another text


async def test_stats_chart_in_the_admins_language(bot, emulator):
    await bot.say(ARAB_OFFICIAL, "إعفاء الشركات من إيجار المباني البلدية")
    bot.database.set_language(ADMIN, "ar")
    await bot.say(ADMIN, "/stats", count=2)
    [sent] = await emulator.wait_for_files_async(ADMIN)
    data = bot.database.stats(14)
    # The same data drawn in Arabic (rendering is deterministic), not in English.
    assert sent.content == stats_chart(data, 14, None, "ar") != stats_chart(data, 14, None, "en")
