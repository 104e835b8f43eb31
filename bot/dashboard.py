"""`peerbot dashboard`: Datasette over a read-only snapshot of the bot's database.

The bot keeps writing ``<data>/peerbot.db`` (WAL mode) while the dashboard runs. Datasette's
immutable mode tells SQLite the file never changes, which is only true of a copy: so the
dashboard first takes a consistent snapshot with SQLite's backup API (the live file is opened
``mode=ro``; the bot is never blocked), switches the copy out of WAL mode and serves the copy
immutably. Nothing the dashboard does can write to the bot's database. Restart the dashboard
to see newer questions; the page says when its snapshot was taken.

The pictures are datasette-dashboards charts (vega-lite, served from the plugin's own files):
questions per day by language, the share answered confidently, 👍/👎, gap groups, the audit
log. Gap groups need the embedder, so they are computed once, into a ``gap_groups`` table of
the snapshot (never of the bot's database), when the snapshot is taken. The plugin's table
charts set cell HTML from the query's values, so every value people wrote is escaped in SQL.

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
from .database import DB_NAME, unanswered_questions

HEALTH_PATH = "/-/healthz"
DATABASE = "peerbot"  # the name Datasette gives the snapshot (its file stem): URLs are /peerbot/...
DASHBOARD = "peerbot"  # /-/dashboards/peerbot
GAP_GROUPS_SHOWN = 15


def _html(column: str) -> str:
    """SQL that HTML-escapes a text column (the plugin's table charts render cells as HTML)."""
    return f"replace(replace(replace(coalesce({column}, ''), '&', '&amp;'), '<', '&lt;'), '>', '&gt;')"


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
    "gap_groups": {
        "title": "Gap groups by meaning",
        "description": "Unanswered questions of the 30 days before the snapshot, grouped by meaning across languages (as /gaps and `peerbot gaps`), largest first.",
        "sql": """
select
  rank as "Rank",
  count as "Times asked",
  languages as "Languages",
  questions as "Wordings (most asked first)",
  first_asked as "First asked (UTC)",
  last_asked as "Last asked (UTC)"
from gap_groups
order by rank
""",
    },
    "team_questions": {
        "title": "Questions sent to the team",
        "description": 'What officials asked the coordinators ("ask the team"), and who answered when.',
        "sql": """
select
  question as "Question",
  first_name as "Official",
  language as "Language",
  asked_at as "Asked (UTC)",
  status as "Status",
  answered_by_name as "Answered by",
  answered_at as "Answered (UTC)",
  answer as "Answer"
from team_questions
order by asked_at desc
""",
    },
    "audit_log": {
        "title": "Changes to the knowledge",
        "description": "Who published, replaced or removed which practice from Telegram, and when.",
        "sql": """
select
  at as "When (UTC)",
  action as "Action",
  practice_id as "Practice",
  user_name as "By",
  user_id as "Telegram id",
  detail as "File"
from audit_log
order by at desc, id desc
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


COLUMNS.update(
    {
        "team_questions": {
            "id": "Team question number",
            "question_id": "The question (questions.id)",
            "user_id": "Telegram user id of the official",
            "chat_id": "Chat the answer goes to",
            "first_name": "The official's Telegram first name",
            "language": "Language the official reads",
            "question": "The question as written",
            "asked_at": "Sent to the team (UTC)",
            "status": "open or answered",
            "answered_by": "Telegram id of the coordinator who answered",
            "answered_by_name": "Their first name",
            "answer": "The answer as written",
            "answered_at": "Answered (UTC)",
        },
        "team_messages": {
            "chat_id": "Coordinator's chat",
            "message_id": "The bot's message there carrying the question",
            "team_question_id": "The team question",
            "coordinator_id": "The coordinator",
        },
        "audit_log": {
            "id": "Entry number",
            "at": "When (UTC)",
            "user_id": "Telegram id of who did it",
            "user_name": "Their first name",
            "action": "published, replaced or removed",
            "practice_id": "The practice",
            "detail": "Its file in the knowledge folder",
        },
        "gap_groups": {
            "rank": "1 = the largest group",
            "count": "Times asked, all wordings together",
            "questions": "The distinct wordings, most asked first",
            "languages": "Languages, most asked first",
            "first_asked": "First asked (UTC)",
            "last_asked": "Last asked (UTC)",
        },
    }
)

_DAY = {"field": "day", "type": "ordinal", "title": "Day (UTC)"}
CHARTS: dict[str, dict] = {
    "questions-total": {
        "title": "Questions asked",
        "db": DATABASE,
        "query": "select count(*) as n from questions",
        "library": "metric",
        "display": {"field": "n"},
    },
    "confident-total": {
        "title": "Answered confidently",
        "db": DATABASE,
        "query": "select cast(coalesce(round(100.0 * sum(confident) / count(*)), 0) as integer) as share from questions",
        "library": "metric",
        "display": {"field": "share", "suffix": " %"},
    },
    "gaps-total": {
        "title": "Open gap groups (30 days)",
        "db": DATABASE,
        "query": "select count(*) as n from gap_groups",
        "library": "metric",
        "display": {"field": "n"},
    },
    "team-open": {
        "title": "Team questions still open",
        "db": DATABASE,
        "query": "select count(*) as n from team_questions where status = 'open'",
        "library": "metric",
        "display": {"field": "n"},
    },
    "questions-per-day": {
        "title": "Questions per day, by language",
        "db": DATABASE,
        "query": "select day, language, count(*) as questions from questions group by day, language order by day",
        "library": "vega-lite",
        "display": {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": _DAY,
                "y": {"field": "questions", "type": "quantitative", "title": "Questions"},
                "color": {"field": "language", "type": "nominal", "title": "Language"},
            },
        },
    },
    "confident-per-day": {
        "title": "Share answered confidently, per day (%)",
        "db": DATABASE,
        "query": "select day, round(100.0 * sum(confident) / count(*), 1) as share, count(*) as questions "
        "from questions group by day order by day",
        "library": "vega-lite",
        "display": {
            "mark": {"type": "line", "tooltip": True, "point": True},
            "encoding": {
                "x": _DAY,
                "y": {"field": "share", "type": "quantitative", "title": "%", "scale": {"domain": [0, 100]}},
            },
        },
    },
    "feedback": {
        "title": "Feedback per day: helpful and not helpful",
        "db": DATABASE,
        "query": "select substr(at, 1, 10) as day, case when value > 0 then 'helpful' else 'not helpful' end as feedback, "
        "count(*) as count from feedback group by 1, 2 order by 1",
        "library": "vega-lite",
        "display": {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "x": _DAY,
                "y": {"field": "count", "type": "quantitative", "title": "Presses"},
                "color": {
                    "field": "feedback",
                    "type": "nominal",
                    "title": "Feedback",
                    "scale": {"domain": ["helpful", "not helpful"], "range": ["#2e7d32", "#c62828"]},
                },
            },
        },
    },
    "gap-groups": {
        "title": "Largest gap groups: what the knowledge lacks",
        "db": DATABASE,
        "query": "select rank, count, languages, case when length(first_wording) > 60 "  # noqa: S608 - our own constants
        "then substr(first_wording, 1, 59) || '…' else first_wording end as wording "
        f"from gap_groups order by rank limit {GAP_GROUPS_SHOWN}",
        "library": "vega-lite",
        "display": {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "wording", "type": "nominal", "sort": {"field": "rank"}, "title": None},
                "x": {"field": "count", "type": "quantitative", "title": "Times asked"},
                "color": {"field": "languages", "type": "nominal", "title": "Languages"},
            },
        },
    },
    "gap-table": {
        "title": "Gap groups and their wordings",
        "db": DATABASE,
        "query": f'select count as "Times asked", {_html("languages")} as "Languages", '  # noqa: S608 - our own constants
        "'<bdi>' || replace("
        + _html("questions")
        + ", ' · ', '</bdi> · <bdi>') || '</bdi>' as \"Wordings\", "  # each wording in its own direction
        'substr(last_asked, 1, 10) as "Last asked" from gap_groups '
        "union all select 0, '', 'No open gap in the 30 days before the snapshot.', '' "
        "where not exists (select 1 from gap_groups) order by 1 desc limit 30",
        "library": "table",
    },
    "audit-log": {
        "title": "Changes to the knowledge (audit log)",
        "db": DATABASE,
        "query": f"select replace(substr(at, 1, 16), 'T', ' ') as \"When (UTC)\", {_html('action')} as \"Action\", "  # noqa: S608 - our own constants
        f'{_html("practice_id")} as "Practice", {_html("user_name")} as "By" from audit_log '
        "union all select '', '', 'No practice published, replaced or removed from Telegram yet.', '' "
        "where not exists (select 1 from audit_log) order by 1 desc limit 20",
        "library": "table",
    },
}
LAYOUT = [
    ["questions-total", "confident-total", "gaps-total", "team-open"],
    ["questions-per-day", "questions-per-day", "confident-per-day", "confident-per-day"],
    ["gap-groups", "gap-groups", "feedback", "feedback"],
    ["gap-table", "gap-table", "audit-log", "audit-log"],
]


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
    tables["team_questions"].update(title="Questions sent to the team", description='"Ask the team" and the answers.')
    tables["team_messages"].update(title="Which coordinator message carries which team question")
    tables["audit_log"].update(title="Audit log", description="Who published, replaced or removed which practice.")
    tables["gap_groups"].update(
        title="Gap groups (computed for this snapshot)",
        description="Unanswered questions of the 30 days before the snapshot, grouped by meaning.",
    )
    tables["_sqlite_migrations"] = {"hidden": True}
    return {
        "title": "peerbot: admin dashboard",
        "description": f"Read-only snapshot of {source} taken {stamp}. Restart `peerbot dashboard` to refresh.",
        "databases": {DATABASE: {"title": "The bot's database", "tables": tables, "queries": QUERIES}},
        "plugins": {
            "datasette-dashboards": {
                DASHBOARD: {
                    "title": "peerbot at a glance",
                    "description": f"Snapshot taken {stamp}. Restart `peerbot dashboard` to refresh.",
                    "layout": LAYOUT,
                    "charts": CHARTS,
                }
            }
        },
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


def write_gap_groups(copy: Path, embedder, days: int | None) -> int:
    """Group the snapshot's open gaps into its ``gap_groups`` table (empty without an embedder,
    or for a database from before ask-the-team); returns the number of groups."""
    from index.gaps import group_gaps

    from .gap_report import since

    connection = sqlite3.connect(copy)
    connection.row_factory = sqlite3.Row
    try:
        connection.execute(
            "create table gap_groups (rank integer primary key, count integer, questions text, first_wording text, "
            "languages text, first_asked text, last_asked text)"
        )
        groups = []
        if embedder is not None:
            try:
                asked = unanswered_questions(
                    lambda sql, params: [dict(r) for r in connection.execute(sql, params)], since(days)
                )
            except sqlite3.OperationalError:  # no team_questions table: the bot has not run this version yet
                asked = []
            groups = group_gaps(asked, embedder)
        connection.executemany(
            "insert into gap_groups values (?, ?, ?, ?, ?, ?, ?)",
            [
                (
                    rank,
                    g.count,
                    " · ".join(g.questions),
                    g.questions[0],
                    ", ".join(g.languages),
                    g.to_json()["first_asked"],
                    g.to_json()["last_asked"],
                )
                for rank, g in enumerate(groups, start=1)
            ],
        )
        connection.commit()
        return len(groups)
    finally:
        connection.close()


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


def build_datasette(data_dir: Path, folder: Path, embedder=None, gap_days: int | None = 30):
    """The Datasette instance over a fresh snapshot of ``<data_dir>/peerbot.db`` taken into ``folder``;
    with an embedder, the snapshot's open gaps grouped by meaning (``gap_groups``)."""
    from datasette.app import Datasette

    source = Path(data_dir) / DB_NAME
    Path(folder).mkdir(parents=True, exist_ok=True)
    copy = snapshot(source, Path(folder))
    write_gap_groups(copy, embedder, gap_days)
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


def serve(data_dir: Path, host: str, port: int, embedder=None, password: str | None = None) -> None:
    """Blocks until Ctrl-C/SIGTERM; the snapshot is deleted on the way out."""
    import uvicorn

    check_exposure(host, password)
    folder = Path(tempfile.mkdtemp(prefix="peerbot-dashboard-"))
    try:
        ds = build_datasette(data_dir, folder, embedder)
        _run_startup(ds)
        uvicorn.run(asgi_app(ds, password), host=host, port=port, log_level="warning", lifespan="on", workers=1)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _run_startup(ds) -> None:
    import asyncio

    asyncio.run(ds.invoke_startup())
