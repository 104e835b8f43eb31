"""`peerbot dashboard`: Datasette over a read-only snapshot of the bot's database.

The bot keeps writing ``<data>/peerbot.db`` (WAL mode) while the dashboard runs. Datasette's
immutable mode tells SQLite the file never changes, which is only true of a copy: so the
dashboard first takes a consistent snapshot with SQLite's backup API (the live file is opened
``mode=ro``; the bot is never blocked), switches the copy out of WAL mode and serves the copy
immutably. Nothing the dashboard does can write to the bot's database. Restart the dashboard
to see newer questions; the page says when its snapshot was taken.

Safe to expose by mistake: bound beyond loopback it refuses to start without a password
(PEERBOT_DASHBOARD_PASSWORD), and with one every page needs it (HTTP Basic, any user name),
except ``/-/healthz``, which says "ok" and nothing else. The snapshot holds no uploaded file
contents (the column is dropped and the copy vacuumed, so no blob link exists) and no
control or direction-override characters in questions and names.
"""

from __future__ import annotations

import base64
import hmac
import ipaddress
import shutil
import sqlite3
import tempfile
from datetime import UTC, datetime
from pathlib import Path

from index.errors import PeerbotError

from .bidi import strip_controls
from .database import DB_NAME

HEALTH_PATH = "/-/healthz"

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
        "update_id": "The Telegram update it came in (one question per update)",
    },
    "outbox": {
        "id": "Message number",
        "key": "u<update>:<n>: the n-th message answering that update (empty for notices)",
        "chat_id": "Telegram chat it goes to",
        "text": "The message (HTML)",
        "markup": "Its buttons (JSON)",
        "reply_to": "The message it answers, in groups",
        "status": "sent; pending (retried); uncertain (timed out after Telegram had it: most likely arrived); "
        "failed (given up, or refused by Telegram)",
        "attempts": "Attempts so far",
        "created_at": "Stored (UTC)",
        "next_at": "Next attempt (UTC), while pending",
        "sent_at": "Confirmed by Telegram (UTC)",
        "message_id": "Telegram's id for it",
        "error": "The last failure",
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
        "status": "pending, publishing, published, cancelled or failed",
        "created_at": "Received (UTC)",
        "finished_at": "Published or given up (UTC)",
        "detail": "Why it failed, if it did",
        "backup": "The copy of the file it replaced (empty: a new practice)",
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
    tables["outbox"].update(
        title="Outbox: every message the bot sent or tried to send",
        description="Messages that are not 'sent' may not have reached the official.",
    )
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
        _scrub(copy)
    finally:
        copy.close()
        live.close()


def _scrub(copy: sqlite3.Connection) -> None:
    """What the dashboard must not serve: coordinators' uploaded files (Datasette would link each
    blob for download), and controls or overrides in old questions and names (new ones are
    cleaned when they arrive). The copy is vacuumed so the dropped bytes leave the file too."""
    copy.create_function("clean", 1, lambda text: strip_controls(text) if isinstance(text, str) else text)
    columns = {row[1] for row in copy.execute("pragma table_info(uploads)")}
    if "content" in columns:
        copy.execute("alter table uploads drop column content")
    for table, column in (("questions", "question"), ("users", "first_name"), ("users", "username")):
        if column in {row[1] for row in copy.execute(f"pragma table_info({table})")}:
            copy.execute(f"update {table} set {column} = clean({column}) where {column} != clean({column})")  # noqa: S608 - fixed names
    copy.commit()
    copy.execute("vacuum")


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


class DashboardExposed(PeerbotError):
    """The dashboard would serve officials' data beyond this machine without a password."""


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False  # a host name: it may resolve to anything


def check_exposure(host: str, password: str | None) -> None:
    if password or is_loopback(host):
        return
    raise DashboardExposed(
        f"refusing to serve the dashboard on {host} without a password: anyone who reaches the port would read "
        "officials' Telegram ids, names and questions. Set PEERBOT_DASHBOARD_PASSWORD (then log in with any "
        "user name and that password), or bind 127.0.0.1 and use an SSH tunnel"
    )


class PasswordGate:
    """ASGI middleware: HTTP Basic authentication with one password in front of Datasette.

    The user name is not checked (there is one password); the password is compared in constant
    time. Send it over HTTPS or an SSH tunnel only: Basic authentication does not encrypt."""

    def __init__(self, app, password: str):
        self.app, self.password = app, password.encode("utf-8")

    def allowed(self, headers: list[tuple[bytes, bytes]]) -> bool:
        value = dict(headers).get(b"authorization", b"")
        scheme, _, encoded = value.partition(b" ")
        if scheme.lower() != b"basic":
            return False
        try:
            _user, _, given = base64.b64decode(encoded.strip(), validate=True).partition(b":")
        except ValueError:
            return False
        return hmac.compare_digest(given, self.password)

    async def __call__(self, scope, receive, send):
        if scope["type"] == "lifespan":
            return await self.app(scope, receive, send)
        if scope["type"] != "http":
            return None  # no websockets: the connection is closed unanswered
        if scope["path"] == HEALTH_PATH:
            return await _plain(send, 200, b"ok")
        if self.allowed(scope.get("headers") or []):
            return await self.app(scope, receive, send)
        return await _plain(
            send, 401, b"peerbot dashboard: password required", [(b"www-authenticate", b'Basic realm="peerbot"')]
        )


async def _plain(send, status: int, body: bytes, headers: list | None = None) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [(b"content-type", b"text/plain; charset=utf-8"), *(headers or [])],
        }
    )
    await send({"type": "http.response.body", "body": body})


def asgi_app(ds, password: str | None):
    """Datasette's app, behind the password when there is one (health path answered either way)."""
    app = ds.app()
    return PasswordGate(app, password) if password else app


def serve(data_dir: Path, host: str, port: int, password: str | None = None) -> None:
    """Blocks until Ctrl-C/SIGTERM; the snapshot is deleted on the way out."""
    import uvicorn

    check_exposure(host, password)
    folder = Path(tempfile.mkdtemp(prefix="peerbot-dashboard-"))
    try:
        ds = build_datasette(data_dir, folder)
        _run_startup(ds)
        uvicorn.run(asgi_app(ds, password), host=host, port=port, log_level="warning", lifespan="on", workers=1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_startup(ds) -> None:
    import asyncio

    asyncio.run(ds.invoke_startup())
