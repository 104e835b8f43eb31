"""The /stats chart: questions per day, languages, confident answers and feedback, as one PNG.

Rendered with matplotlib's Agg canvas directly (no pyplot, no display, safe in a worker
thread), with its labels, title and legend in the admin's language from bot/locales. Since 3.11
matplotlib lays text out with libraqm (bundled in its wheels): Arabic is shaped and ordered
right-to-left by matplotlib itself, with Latin names and digits inside it in their own order, so
the text goes in as it is written (a reshaper or a bidi reordering before it would reverse it
again). DejaVu Sans, matplotlib's default font, has the Arabic glyphs.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

from .texts import LANGUAGES, Texts

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100  # 1000 x 600 px
BLUE, GREEN, RED, GREY = "#2b6cb0", "#2f855a", "#c53030", "#a0aec0"


def stats_chart(stats: dict, days: int = 14, today: date | None = None, language: str = "en") -> bytes:
    """PNG bytes for ``BotDatabase.stats(days)``: per_day, languages, total, confident, up, down."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    texts = Texts(language)
    months = texts("chart_months").split(",")
    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    counts = {day: count for day, count in stats.get("per_day", [])}
    span = [first + timedelta(days=i) for i in range(days)]
    per_day = [counts.get(day.isoformat(), 0) for day in span]

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 2, height_ratios=[3, 2])
    figure.suptitle(texts("chart_title", total=stats.get("total", 0), recent=sum(per_day), days=days), fontsize=13)

    daily = figure.add_subplot(grid[0, :])
    positions = range(days)
    bars = daily.bar(positions, per_day, color=BLUE)
    daily.bar_label(bars, labels=[str(n) if n else "" for n in per_day], fontsize=8)
    daily.set_xticks(
        list(positions), [f"{day.day} {months[day.month - 1]}" for day in span], rotation=45, ha="right", fontsize=8
    )
    daily.set_ylabel(texts("chart_per_day"))
    daily.set_ylim(0, max(per_day + [1]) * 1.2)
    _tidy(daily)

    languages = figure.add_subplot(grid[1, 0])
    rows = list(stats.get("languages", []))[:6] or [(None, 0)]
    names = [_language_label(texts, name) for name, _ in rows][::-1]
    values = [count for _, count in rows][::-1]
    bars = languages.barh(names, values, color=BLUE)
    languages.bar_label(bars, fontsize=8, padding=2)
    languages.set_title(texts("chart_languages"), fontsize=10)
    languages.set_xlim(0, max(values + [1]) * 1.25)
    _tidy(languages, counts_on="x")

    outcomes = figure.add_subplot(grid[1, 1])
    total, confident = stats.get("total", 0), stats.get("confident", 0)
    labels = [texts(key) for key in ("chart_confident", "chart_not_confident", "chart_up", "chart_down")]
    values = [confident, total - confident, stats.get("up", 0), stats.get("down", 0)]
    bars = outcomes.bar(labels, values, color=[GREEN, GREY, GREEN, RED])
    outcomes.bar_label(bars, fontsize=8)
    outcomes.set_title(texts("chart_outcomes"), fontsize=10)
    outcomes.set_ylim(0, max(values + [1]) * 1.25)
    outcomes.tick_params(axis="x", labelsize=8)
    _tidy(outcomes)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": "peerbot"})
    return buffer.getvalue()


def _language_label(texts: Texts, code: str | None) -> str:
    if code is None:
        return texts("chart_none")
    return texts(f"language_name_{code}") if code in LANGUAGES else str(code)


def _tidy(axes, counts_on: str = "y") -> None:
    from matplotlib.ticker import MaxNLocator

    axes.spines[["top", "right"]].set_visible(False)
    (axes.xaxis if counts_on == "x" else axes.yaxis).set_major_locator(MaxNLocator(integer=True))
