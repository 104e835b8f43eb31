"""The /stats chart: questions per day, languages, confident answers and feedback, as one PNG.

Rendered with matplotlib's Agg canvas directly (no pyplot, no display, safe in a worker
thread). Labels are in English: matplotlib does not shape Arabic script, so the localised
numbers travel in the text message sent with the chart.
"""

from __future__ import annotations

import io
from datetime import UTC, date, datetime, timedelta

WIDTH_IN, HEIGHT_IN, DPI = 10.0, 6.0, 100  # 1000 x 600 px
BLUE, GREEN, RED, GREY = "#2b6cb0", "#2f855a", "#c53030", "#a0aec0"


def stats_chart(stats: dict, days: int = 14, today: date | None = None) -> bytes:
    """PNG bytes for ``BotDatabase.stats(days)``: per_day, languages, total, confident, up, down."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    today = today or datetime.now(UTC).date()
    first = today - timedelta(days=days - 1)
    counts = {day: count for day, count in stats.get("per_day", [])}
    span = [first + timedelta(days=i) for i in range(days)]
    per_day = [counts.get(day.isoformat(), 0) for day in span]

    figure = Figure(figsize=(WIDTH_IN, HEIGHT_IN), dpi=DPI, layout="constrained")
    FigureCanvasAgg(figure)
    grid = figure.add_gridspec(2, 2, height_ratios=[3, 2])
    figure.suptitle(
        f"peerbot: {stats.get('total', 0)} questions in all, {sum(per_day)} in the last {days} days (UTC)", fontsize=13
    )

    daily = figure.add_subplot(grid[0, :])
    positions = range(days)
    bars = daily.bar(positions, per_day, color=BLUE)
    daily.bar_label(bars, labels=[str(n) if n else "" for n in per_day], fontsize=8)
    daily.set_xticks(list(positions), [day.strftime("%d %b") for day in span], rotation=45, ha="right", fontsize=8)
    daily.set_ylabel("questions per day")
    daily.set_ylim(0, max(per_day + [1]) * 1.2)
    _tidy(daily)

    languages = figure.add_subplot(grid[1, 0])
    rows = list(stats.get("languages", []))[:6] or [("none", 0)]
    names, values = [str(name) for name, _ in rows][::-1], [count for _, count in rows][::-1]
    bars = languages.barh(names, values, color=BLUE)
    languages.bar_label(bars, fontsize=8, padding=2)
    languages.set_title("questions by language", fontsize=10)
    languages.set_xlim(0, max(values + [1]) * 1.25)
    _tidy(languages, counts_on="x")

    outcomes = figure.add_subplot(grid[1, 1])
    total, confident = stats.get("total", 0), stats.get("confident", 0)
    labels = ["answered\nconfidently", "no confident\nanswer", "helpful\n(thumbs up)", "not helpful\n(thumbs down)"]
    values = [confident, total - confident, stats.get("up", 0), stats.get("down", 0)]
    bars = outcomes.bar(labels, values, color=[GREEN, GREY, GREEN, RED])
    outcomes.bar_label(bars, fontsize=8)
    outcomes.set_title("answers and feedback", fontsize=10)
    outcomes.set_ylim(0, max(values + [1]) * 1.25)
    outcomes.tick_params(axis="x", labelsize=8)
    _tidy(outcomes)

    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=DPI, metadata={"Software": "peerbot"})
    return buffer.getvalue()


def _tidy(axes, counts_on: str = "y") -> None:
    from matplotlib.ticker import MaxNLocator

    axes.spines[["top", "right"]].set_visible(False)
    (axes.xaxis if counts_on == "x" else axes.yaxis).set_major_locator(MaxNLocator(integer=True))
