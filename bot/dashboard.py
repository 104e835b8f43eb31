"""`peerbot dashboard`: Datasette over a read-only snapshot of the bot's database.

The bot keeps writing ``<data>/peerbot.db`` (WAL mode) while the dashboard runs. Datasette's
immutable mode tells SQLite the file never changes, which is only true of a copy: so the
dashboard first takes a consistent snapshot with SQLite's backup API (the live file is opened
``mode=ro``; the bot is never blocked), switches the copy out of WAL mode and serves the copy
immutably. Nothing the dashboard does can write to the bot's database. Restart the dashboard
to see newer questions; the page says when its snapshot was taken.
"""

from __future__ import annotations

import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from .database import DB_NAME

DATABASE = "peerbot"  # the name Datasette gives the snapshot (its file stem): URLs are /peerbot/...

QUERIES: dict[str, dict] = {
    "unanswered_questions": {
        "title": "Questions without a confident answer",
        "description": "What the knowledge base lacks: the same question (ignoring case and surrounding spaces) with how often it was asked.",
        "sql": """
select
  min(trim(question)) as "Question",
  count(*) as "Times asked",
  group_concat(distinct language) as "Languages",
  max(asked_at) as "Last asked (UTC)"
from questions
where confident = 0
group by lower(trim(question))
order by count(*) desc, max(asked_at) desc
""",
    },
    "feedback": {
        "title": "Feedback on answers",
        "description": "Every question that got a thumbs up or down, with the practices it was shown.",
        "sql": """
select
  q.question as "Question",
  q.language as "Language",
  sum(f.value > 0) as "👍 helpful",
  sum(f.value < 0) as "👎 not helpful",
  q.results as "Practices shown (best first)",
  max(f.at) as "Last feedback (UTC)"
from feedback f
join questions q on q.id = f.question_id
group by q.id
order by sum(f.value < 0) desc, max(f.at) desc
""",
    },
    "questions_per_day": {
        "title": "Questions per day and language",
        "description": "Days are UTC dates.",
        "sql": """
select
  day as "Day (UTC)",
  language as "Language",
  count(*) as "Questions",
  sum(confident) as "Answered confidently",
  round(avg(latency_ms)) as "Mean answer time (ms)"
from questions
group by day, language
order by day desc, count(*) desc
""",
    },
    "most_shown_practices": {
        "title": "Most shown practices",
        "description": "How often each practice appeared in an answer, and how often it came first.",
        "sql": """
select
  shown.value as "Practice id",
  count(*) as "Times shown",
  sum(shown.key = 0) as "Times first",
  count(distinct q.user_id) as "Officials"
from questions q, json_each(q.results) shown
group by shown.value
order by count(*) desc, sum(shown.key = 0) desc, shown.value
""",
    },
}

COLUMNS: dict[str, dict[str, str]] = {
    "questions": {
        "id": "Question number",
        "user_id": "Telegram user id of the official",
        "chat_id": "Telegram chat the question came from",
        "question": "The question as written",
        "language": "Language detected in the question (en, ar, sl)",
        "reply_language": "Language the answer was given in",
        "results": "Practice ids shown, best first (JSON list)",
        "scores": "Their scores (JSON list)",
        "confident": "1 = a practice matched closely; 0 = the bot said it has no good answer",
        "latency_ms": "Time to answer, milliseconds",
        "asked_at": "When (UTC)",
        "day": "Day (UTC)",
    },
    "feedback": {
        "question_id": "The question (questions.id)",
        "user_id": "Who gave it",
        "value": "1 = 👍 helpful, -1 = 👎 not helpful",
        "at": "When (UTC)",
    },
    "users": {
        "user_id": "Telegram user id",
        "status": "Access: pending, approved or denied",
        "first_name": "Telegram first name",
        "username": "Telegram @username",
        "language_code": "Telegram client language",
        "requested_at": "Access requested (UTC)",
        "decided_by": "Admin who decided",
        "decided_at": "Decided (UTC)",
    },
    "preferences": {
        "user_id": "Telegram user id",
        "language": "Language chosen with /language",
        "updated_at": "When (UTC)",
    },
    "uploads": {
        "id": "Upload number",
        "user_id": "Coordinator who sent the file",
        "file_name": "File name as sent",
        "relative_path": "Where it goes in the knowledge folder",
        "practice_id": "Practice id",
        "content": "The file",
        "status": "pending, publishing, published, cancelled or failed",
        "created_at": "Received (UTC)",
        "finished_at": "Published or given up (UTC)",
        "detail": "Why it failed, if it did",
    },
}


def metadata(source: Path, taken_at: datetime) -> dict:
    stamp = taken_at.strftime("%Y-%m-%d %H:%M UTC")
    tables: dict[str, dict] = {name: {"columns": columns} for name, columns in COLUMNS.items()}
    tables["questions"].update(title="Questions asked", description="One row per question an official asked.")
    tables["feedback"].update(title="Feedback", description="👍/👎 pressed under answers.")
    tables["users"].update(title="Access requests and decisions")
    tables["preferences"].update(title="Language choices")
    tables["uploads"].update(title="Knowledge files sent by coordinators")
    tables["_sqlite_migrations"] = {"hidden": True}
    return {
        "title": "peerbot: admin dashboard",
        "description": f"Read-only snapshot of {source} taken {stamp}. Restart `peerbot dashboard` to refresh.",
        "databases": {DATABASE: {"title": "The bot's database", "tables": tables, "queries": QUERIES}},
    }


def snapshot(source: Path, folder: Path) -> Path:
    """A consistent copy of the live database (WAL included), itself not in WAL mode."""
    if not source.is_file():
        raise FileNotFoundError(source)
    target = folder / f"{DATABASE}.db"
    uri = source.resolve().as_uri()
    try:
        _copy(f"{uri}?mode=ro", target)
    except sqlite3.OperationalError:
        # A read-only mount of a WAL database whose bot is not running (no -wal/-shm files to
        # read): with no writer, the file is what it is, and immutable=1 reads it without them.
        if Path(f"{source}-wal").exists():
            raise
        _copy(f"{uri}?immutable=1", target)
    return target


def _copy(uri: str, target: Path) -> None:
    live = sqlite3.connect(uri, uri=True)
    copy = sqlite3.connect(target)
    try:
        live.backup(copy)
        copy.execute("pragma journal_mode = delete")
    finally:
        copy.close()
        live.close()


def build_datasette(data_dir: Path, folder: Path):
    """The Datasette instance over a fresh snapshot of ``<data_dir>/peerbot.db`` taken into ``folder``."""
    from datasette.app import Datasette

    source = Path(data_dir) / DB_NAME
    Path(folder).mkdir(parents=True, exist_ok=True)
    copy = snapshot(source, Path(folder))
    return Datasette(
        immutables=[str(copy)],
        metadata=metadata(source, datetime.now(UTC)),
        settings={"allow_download": False, "sql_time_limit_ms": 3000, "default_page_size": 50},
    )


def serve(data_dir: Path, host: str, port: int) -> None:
    """Blocks until Ctrl-C/SIGTERM; the snapshot is deleted on the way out."""
    import uvicorn

    folder = Path(tempfile.mkdtemp(prefix="peerbot-dashboard-"))
    try:
        ds = build_datasette(data_dir, folder)
        _run_startup(ds)
        uvicorn.run(ds.app(), host=host, port=port, log_level="warning", lifespan="on", workers=1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_startup(ds) -> None:
    import asyncio

    asyncio.run(ds.invoke_startup())
