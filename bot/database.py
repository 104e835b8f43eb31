"""The bot's own SQLite database (``<data_dir>/peerbot.db``): access decisions, language choices,
the question log (which doubles as the knowledge-gap log), feedback, pending uploads, the
questions officials sent to the coordinators ("ask the team") with their answers, and the
audit log of changes to the knowledge folder.

The schema is made only by the numbered migrations below (the pattern of index/store.py); the
database runs in WAL mode so the index builder and readers never block each other for long.
One connection, shared by the event loop and worker threads, guarded by a lock.
"""

from __future__ import annotations

import json
import sqlite3
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import sqlite_utils
from sqlite_utils import Migrations

from index.errors import PeerbotError
from index.gaps import AskedQuestion

DB_NAME = "peerbot.db"

PENDING, APPROVED, DENIED = "pending", "approved", "denied"
TEAM_OPEN, TEAM_ANSWERED = "open", "answered"
AUDIT_PUBLISHED, AUDIT_REPLACED, AUDIT_REMOVED = "published", "replaced", "removed"
UPLOAD_PENDING, UPLOAD_PUBLISHING, UPLOAD_PUBLISHED, UPLOAD_CANCELLED, UPLOAD_FAILED = (
    "pending",
    "publishing",
    "published",
    "cancelled",
    "failed",
)

migrations = Migrations("peerbot-bot")


class DatabaseDamaged(PeerbotError):
    """peerbot.db exists but is empty or damaged: it is never replaced silently (its access
    decisions would be lost, approved officials refused and denied ones let ask again)."""


def fix_for(path: Path) -> str:
    return (
        f"restore it from a backup (`peerbot restore BACKUP` into a new data folder), or start with an empty "
        f"database (no users, decisions or log) by `peerbot run --new-database`, which moves {path.name} aside first"
    )


def check_database(path: Path) -> None:
    """Raise DatabaseDamaged when ``path`` exists and is empty (0 bytes) or fails SQLite's quick check.

    A 0-byte file is a valid empty SQLite database to SQLite, which would silently create a
    fresh schema in it; so size is checked first."""
    path = Path(path)
    if not path.exists():
        return
    if path.is_file() and path.stat().st_size == 0 and not Path(f"{path}-wal").exists():
        raise DatabaseDamaged(f"{path} is empty (0 bytes): {fix_for(path)}")
    try:
        connection = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            result = connection.execute("pragma quick_check").fetchone()[0]
        finally:
            connection.close()
    except sqlite3.DatabaseError as exc:
        raise DatabaseDamaged(f"{path} cannot be read ({exc}): {fix_for(path)}") from None
    if result != "ok":
        raise DatabaseDamaged(f"{path} is damaged ({result[:200]}): {fix_for(path)}")


def set_aside(path: Path) -> Path | None:
    """Rename a damaged database (and its -wal/-shm) out of the way, never deleting it; its new name."""
    path = Path(path)
    if not path.exists():
        return None
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    target = path.with_name(f"{path.name}.damaged-{stamp}")
    for suffix in ("-wal", "-shm"):
        side = Path(f"{path}{suffix}")
        if side.exists():
            side.rename(f"{target}{suffix}")
    path.rename(target)
    return target


@migrations()
def m001_initial(db: sqlite_utils.Database) -> None:
    db["users"].create(
        {
            "user_id": int,
            "status": str,
            "first_name": str,
            "username": str,
            "language_code": str,
            "requested_at": str,
            "decided_by": int,
            "decided_at": str,
        },
        pk="user_id",
    )
    db["preferences"].create({"user_id": int, "language": str, "updated_at": str}, pk="user_id")
    db["questions"].create(
        {
            "id": int,
            "user_id": int,
            "chat_id": int,
            "question": str,
            "language": str,
            "reply_language": str,
            "results": str,
            "scores": str,
            "confident": int,
            "latency_ms": float,
            "asked_at": str,
            "day": str,
        },
        pk="id",
    )
    db["questions"].create_index(["day"])
    db["questions"].create_index(["confident"])
    db["feedback"].create(
        {"question_id": int, "user_id": int, "value": int, "at": str},
        pk=("question_id", "user_id"),
        foreign_keys=[("question_id", "questions", "id")],
    )
    db["uploads"].create(
        {
            "id": int,
            "user_id": int,
            "file_name": str,
            "relative_path": str,
            "practice_id": str,
            "content": bytes,
            "status": str,
            "created_at": str,
            "finished_at": str,
            "detail": str,
        },
        pk="id",
    )


@migrations()
def m002_outbox(db: sqlite_utils.Database) -> None:
    """The durable outbox (bot/outbox.py) and at most one logged question per Telegram update."""
    db["questions"].add_column("update_id", int)
    db.execute("create unique index questions_update_id on questions (update_id) where update_id is not null")
    db["outbox"].create(
        {
            "id": int,
            "key": str,  # "u<update id>:<n>" for the n-th message an update caused; unique, so a
            # redelivered update never sends its answer twice; null for messages of no update
            "chat_id": int,
            "text": str,  # the HTML of one message
            "markup": str,  # its inline keyboard as JSON, or null
            "reply_to": int,  # the message it answers (groups), or null
            "status": str,  # pending, sent, uncertain (timed out after Telegram had it), failed
            "attempts": int,
            "created_at": str,
            "next_at": str,  # when a pending message is tried next
            "sent_at": str,
            "message_id": int,
            "error": str,  # the last failure
        },
        pk="id",
    )
    db.execute("create unique index outbox_key on outbox (key) where key is not null")
    db["outbox"].create_index(["status", "next_at"])
    # Publishing, step by step, so a publish cut off by a crash is finished or undone at start-up
    # (bot/recovery.py): the copy of the file it replaced ("" when it added a new file).
    db["uploads"].add_column("backup", str)


@migrations()
def m003_team_questions_and_audit(db: sqlite_utils.Database) -> None:
    """ "Ask the team" (a question, who asked it in which language, its answer, by whom and when;
    which coordinator message carries it, so a reply finds it after a restart) and the audit log."""
    db["team_questions"].create(
        {
            "id": int,
            "question_id": int,
            "user_id": int,
            "chat_id": int,
            "first_name": str,
            "language": str,
            "question": str,
            "asked_at": str,
            "status": str,
            "answered_by": int,
            "answered_by_name": str,
            "answer": str,
            "answered_at": str,
        },
        pk="id",
        foreign_keys=[("question_id", "questions", "id")],
    )
    db["team_questions"].create_index(["question_id"], unique=True)
    db["team_questions"].create_index(["user_id", "asked_at"])
    db["team_messages"].create(
        {"chat_id": int, "message_id": int, "team_question_id": int, "coordinator_id": int},
        pk=("chat_id", "message_id"),
        foreign_keys=[("team_question_id", "team_questions", "id")],
    )
    db["audit_log"].create(
        {"id": int, "at": str, "user_id": int, "user_name": str, "action": str, "practice_id": str, "detail": str},
        pk="id",
    )
    db["audit_log"].create_index(["at"])


@dataclass(frozen=True)
class TeamQuestion:
    id: int
    question_id: int
    user_id: int
    chat_id: int
    first_name: str
    language: str
    question: str
    asked_at: datetime
    status: str
    answered_by: int | None
    answered_by_name: str | None
    answer: str | None
    answered_at: datetime | None

    @classmethod
    def from_row(cls, row: dict) -> TeamQuestion:
        answered = row["answered_at"]
        return cls(
            row["id"],
            row["question_id"],
            row["user_id"],
            row["chat_id"],
            row["first_name"] or "",
            row["language"],
            row["question"],
            datetime.fromisoformat(row["asked_at"]),
            row["status"],
            row["answered_by"],
            row["answered_by_name"],
            row["answer"],
            datetime.fromisoformat(answered) if answered else None,
        )


@dataclass(frozen=True)
class AuditEntry:
    at: datetime
    user_id: int
    user_name: str
    action: str
    practice_id: str
    detail: str


@dataclass(frozen=True)
class QuestionRow:
    id: int
    user_id: int
    chat_id: int
    question: str
    language: str
    reply_language: str
    results: list[str]
    confident: bool


@dataclass(frozen=True)
class UploadRow:
    id: int
    user_id: int
    file_name: str
    relative_path: str
    practice_id: str
    content: bytes
    status: str
    created_at: datetime


UNANSWERED_SQL = (
    "select question, language, asked_at from questions q where asked_at >= ? and (confident = 0 or exists "
    "(select 1 from feedback f where f.question_id = q.id and f.value < 0)) and not exists "
    "(select 1 from team_questions t where t.question_id = q.id and t.status = ?) order by asked_at, id"
)


def unanswered_questions(query, since: datetime | None = None) -> list[AskedQuestion]:
    """The open gaps through ``query(sql, params) -> rows as dicts``: the bot's connection, or the
    dashboard's snapshot (which must not be opened as a BotDatabase: that would migrate it)."""
    rows = query(UNANSWERED_SQL, [_stamp(since) if since else "", TEAM_ANSWERED])
    return [AskedQuestion(r["question"], r["language"], datetime.fromisoformat(r["asked_at"])) for r in rows]


def _now() -> datetime:
    return datetime.now(UTC)


def _stamp(moment: datetime | None = None) -> str:
    return (moment or _now()).isoformat(timespec="seconds")


def _stamp_precise(moment: datetime | None = None) -> str:
    """Outbox times: retries come within seconds, so to the microsecond (still ISO, still sortable)."""
    return (moment or _now()).isoformat(timespec="microseconds")


class BotDatabase:
    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        check_database(self.path)
        self._lock = threading.RLock()
        self.db = sqlite_utils.Database(sqlite3.connect(str(self.path), check_same_thread=False, timeout=30))
        self.db.enable_wal()
        migrations.apply(self.db)

    @classmethod
    def in_data_dir(cls, data_dir: Path) -> BotDatabase:
        return cls(Path(data_dir) / DB_NAME)

    def close(self) -> None:
        with self._lock:
            self.db.close()

    def _one(self, sql: str, params: list | tuple = ()) -> dict | None:
        with self._lock:
            rows = list(self.db.query(sql, params))
        return rows[0] if rows else None

    def _all(self, sql: str, params: list | tuple = ()) -> list[dict]:
        with self._lock:
            return list(self.db.query(sql, params))

    def _write(self, sql: str, params: list | tuple = ()) -> sqlite3.Cursor:
        with self._lock:
            return self.db.execute(sql, params)

    # -- access -------------------------------------------------------------------------

    def user_status(self, user_id: int) -> str | None:
        row = self._one("select status from users where user_id = ?", [user_id])
        return row["status"] if row else None

    def user(self, user_id: int) -> dict | None:
        return self._one("select * from users where user_id = ?", [user_id])

    def request_access(self, user_id: int, first_name: str, username: str | None, language_code: str | None) -> bool:
        """Record a pending request; False when the user already has a request or a decision."""
        with self._lock:
            cursor = self.db.execute(
                "insert or ignore into users (user_id, status, first_name, username, language_code, requested_at) values (?, ?, ?, ?, ?, ?)",
                [user_id, PENDING, first_name, username, language_code, _stamp()],
            )
            return cursor.rowcount == 1

    def decide(self, user_id: int, status: str, admin_id: int) -> bool:
        """Approve or deny a pending request; False when it was already decided (or never made)."""
        if status not in (APPROVED, DENIED):
            raise ValueError(status)
        cursor = self._write(
            "update users set status = ?, decided_by = ?, decided_at = ? where user_id = ? and status = ?",
            [status, admin_id, _stamp(), user_id, PENDING],
        )
        return cursor.rowcount == 1

    # -- preferences --------------------------------------------------------------------

    def language(self, user_id: int) -> str | None:
        row = self._one("select language from preferences where user_id = ?", [user_id])
        return row["language"] if row else None

    def set_language(self, user_id: int, language: str) -> None:
        self._write(
            "insert into preferences (user_id, language, updated_at) values (?, ?, ?) "
            "on conflict(user_id) do update set language = excluded.language, updated_at = excluded.updated_at",
            [user_id, language, _stamp()],
        )

    # -- question log -------------------------------------------------------------------

    def log_question(
        self,
        user_id: int,
        chat_id: int,
        question: str,
        language: str,
        reply_language: str,
        results: list[str],
        scores: list[float],
        confident: bool,
        latency_ms: float,
        update_id: int | None = None,
    ) -> int:
        """The question's id; a second call for the same Telegram update returns the first one's."""
        now = _now()
        cursor = self._write(
            "insert or ignore into questions (user_id, chat_id, question, language, reply_language, results, scores, confident, latency_ms, asked_at, day, update_id) "
            "values (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            [
                user_id,
                chat_id,
                question,
                language,
                reply_language,
                json.dumps(results),
                json.dumps([round(s, 4) for s in scores]),
                int(confident),
                round(latency_ms, 1),
                _stamp(now),
                now.date().isoformat(),
                update_id,
            ],
        )
        if cursor.rowcount == 0 and update_id is not None:
            return self._one("select id from questions where update_id = ?", [update_id])["id"]
        return int(cursor.lastrowid)

    def question(self, question_id: int) -> QuestionRow | None:
        row = self._one("select * from questions where id = ?", [question_id])
        if row is None:
            return None
        return QuestionRow(
            row["id"],
            row["user_id"],
            row["chat_id"],
            row["question"],
            row["language"],
            row["reply_language"],
            json.loads(row["results"]),
            bool(row["confident"]),
        )

    def last_answered(self, user_id: int, chat_id: int) -> QuestionRow | None:
        """The user's latest question in this chat that got practices (what /brief puts in a PDF)."""
        row = self._one(
            "select id from questions where user_id = ? and chat_id = ? and confident = 1 order by id desc limit 1",
            [user_id, chat_id],
        )
        return self.question(row["id"]) if row else None

    def add_feedback(self, question_id: int, user_id: int, value: int) -> None:
        self._write(
            "insert into feedback (question_id, user_id, value, at) values (?, ?, ?, ?) "
            "on conflict(question_id, user_id) do update set value = excluded.value, at = excluded.at",
            [question_id, user_id, 1 if value > 0 else -1, _stamp()],
        )

    def feedback(self, question_id: int) -> dict[int, int]:
        return {
            r["user_id"]: r["value"]
            for r in self._all("select user_id, value from feedback where question_id = ?", [question_id])
        }

    def gaps(self, limit: int = 10) -> list[dict]:
        """Most frequent questions without a confident answer (case and spacing folded)."""
        return self._all(
            "select lower(trim(question)) as folded, min(question) as question, count(*) as count, "
            "max(asked_at) as last_asked, group_concat(distinct language) as languages "
            "from questions where confident = 0 group by folded order by count desc, last_asked desc limit ?",
            [limit],
        )

    def unanswered_questions(self, since: datetime | None = None) -> list[AskedQuestion]:
        """Questions the bot could not answer, oldest first: not confident, or given a 👎 by anyone,
        and not answered by the coordinators since (the input of :func:`index.gaps.group_gaps`)."""
        return unanswered_questions(self._all, since)

    def stats(self, days: int = 14) -> dict:
        since = (_now() - timedelta(days=days - 1)).date().isoformat()
        per_day = self._all(
            "select day, count(*) as count from questions where day >= ? group by day order by day", [since]
        )
        languages = self._all(
            "select language, count(*) as count from questions group by language order by count desc, language"
        )
        totals = self._one("select count(*) as total, coalesce(sum(confident), 0) as confident from questions") or {}
        feedback = (
            self._one("select coalesce(sum(value > 0), 0) as up, coalesce(sum(value < 0), 0) as down from feedback")
            or {}
        )
        return {
            "per_day": [(r["day"], r["count"]) for r in per_day],
            "languages": [(r["language"], r["count"]) for r in languages],
            "total": totals.get("total", 0),
            "confident": totals.get("confident", 0),
            "up": feedback.get("up", 0),
            "down": feedback.get("down", 0),
        }

    def purge(self, before: datetime) -> tuple[int, int]:
        """Delete questions asked and feedback given before ``before`` (and the feedback on
        those questions); returns (questions, feedback) deleted. With secure_delete the rows'
        bytes are overwritten, and the WAL is checkpointed, so they are gone from the disk."""
        cutoff = _stamp(before)
        with self._lock:
            self.db.execute("pragma secure_delete = on")
            with self.db.atomic():
                feedback = self.db.execute(
                    "delete from feedback where at < ? or question_id in (select id from questions where asked_at < ?)",
                    [cutoff, cutoff],
                ).rowcount
                # What officials sent to the coordinators is personal data too, and refers to the questions.
                self.db.execute(
                    "delete from team_messages where team_question_id in "
                    "(select id from team_questions where asked_at < ? or question_id in "
                    "(select id from questions where asked_at < ?))",
                    [cutoff, cutoff],
                )
                self.db.execute(
                    "delete from team_questions where asked_at < ? or question_id in "
                    "(select id from questions where asked_at < ?)",
                    [cutoff, cutoff],
                )
                questions = self.db.execute("delete from questions where asked_at < ?", [cutoff]).rowcount
                # The outbox holds copies of answers and notices (names, questions): old ones go too.
                self.db.execute("delete from outbox where created_at < ? and status != 'pending'", [cutoff])
            self.db.execute("pragma wal_checkpoint(TRUNCATE)")
        return questions, feedback

    def questions_today(self) -> int:
        row = self._one("select count(*) as n from questions where day = ?", [_now().date().isoformat()])
        return row["n"] if row else 0

    # -- uploads ------------------------------------------------------------------------

    def add_upload(self, user_id: int, file_name: str, relative_path: str, practice_id: str, content: bytes) -> int:
        cursor = self._write(
            "insert into uploads (user_id, file_name, relative_path, practice_id, content, status, created_at) values (?, ?, ?, ?, ?, ?, ?)",
            [user_id, file_name, relative_path, practice_id, content, UPLOAD_PENDING, _stamp()],
        )
        return int(cursor.lastrowid)

    def upload(self, upload_id: int) -> UploadRow | None:
        row = self._one("select * from uploads where id = ?", [upload_id])
        if row is None:
            return None
        return UploadRow(
            row["id"],
            row["user_id"],
            row["file_name"],
            row["relative_path"],
            row["practice_id"],
            bytes(row["content"]),
            row["status"],
            datetime.fromisoformat(row["created_at"]),
        )

    def claim_upload(self, upload_id: int, user_id: int, to_status: str, max_age: timedelta) -> UploadRow | None:
        """Move a pending upload of this user to ``to_status``, once; None if it is not theirs or not pending."""
        oldest = _stamp(_now() - max_age)
        with self._lock:
            cursor = self.db.execute(
                "update uploads set status = ? where id = ? and user_id = ? and status = ? and created_at >= ?",
                [to_status, upload_id, user_id, UPLOAD_PENDING, oldest],
            )
            return self.upload(upload_id) if cursor.rowcount == 1 else None

    def set_upload_backup(self, upload_id: int, backup: str) -> None:
        """Recorded before the practice file is written: what to put back if the publish is cut off."""
        self._write("update uploads set backup = ? where id = ?", [backup, upload_id])

    def upload_backup(self, upload_id: int) -> str | None:
        row = self._one("select backup from uploads where id = ?", [upload_id])
        return row["backup"] if row else None

    def interrupted_uploads(self) -> list[UploadRow]:
        """Publishes a previous process started and never finished (status publishing)."""
        ids = [r["id"] for r in self._all("select id from uploads where status = ? order by id", [UPLOAD_PUBLISHING])]
        return [self.upload(i) for i in ids]

    def finish_upload(self, upload_id: int, status: str, detail: str = "") -> None:
        self._write(
            "update uploads set status = ?, finished_at = ?, detail = ? where id = ?",
            [status, _stamp(), detail, upload_id],
        )

    # -- ask the team -------------------------------------------------------------------

    def ask_team(
        self, question_id: int, user_id: int, chat_id: int, first_name: str, language: str, question: str, per_day: int
    ) -> tuple[str, TeamQuestion | None]:
        """Record a question for the coordinators: ("sent", it), ("already", the earlier one) or
        ("limit", None) when this official has sent ``per_day`` in the last 24 hours."""
        now = _now()
        with self._lock, self.db.atomic():
            earlier = self._one("select * from team_questions where question_id = ?", [question_id])
            if earlier is not None:
                return "already", TeamQuestion.from_row(earlier)
            recent = self._one(
                "select count(*) as n from team_questions where user_id = ? and asked_at >= ?",
                [user_id, _stamp(now - timedelta(days=1))],
            )
            if recent["n"] >= per_day:
                return "limit", None
            cursor = self.db.execute(
                "insert into team_questions (question_id, user_id, chat_id, first_name, language, question, asked_at, status) "
                "values (?, ?, ?, ?, ?, ?, ?, ?)",
                [question_id, user_id, chat_id, first_name, language, question, _stamp(now), TEAM_OPEN],
            )
            return "sent", self.team_question(int(cursor.lastrowid))

    def team_question(self, team_question_id: int) -> TeamQuestion | None:
        row = self._one("select * from team_questions where id = ?", [team_question_id])
        return TeamQuestion.from_row(row) if row else None

    def add_team_message(self, team_question_id: int, coordinator_id: int, chat_id: int, message_id: int) -> None:
        self._write(
            "insert or replace into team_messages (chat_id, message_id, team_question_id, coordinator_id) values (?, ?, ?, ?)",
            [chat_id, message_id, team_question_id, coordinator_id],
        )

    def team_question_of_message(self, chat_id: int, message_id: int) -> TeamQuestion | None:
        """The question a coordinator's message carries (what a reply to it answers)."""
        row = self._one(
            "select t.* from team_messages m join team_questions t on t.id = m.team_question_id "
            "where m.chat_id = ? and m.message_id = ?",
            [chat_id, message_id],
        )
        return TeamQuestion.from_row(row) if row else None

    def answer_team_question(self, team_question_id: int, by: int, by_name: str, answer: str) -> bool:
        """Close an open question with its answer, once; False if it was already answered."""
        cursor = self._write(
            "update team_questions set status = ?, answered_by = ?, answered_by_name = ?, answer = ?, answered_at = ? "
            "where id = ? and status = ?",
            [TEAM_ANSWERED, by, by_name, answer, _stamp(), team_question_id, TEAM_OPEN],
        )
        return cursor.rowcount == 1

    def drop_team_question(self, team_question_id: int) -> None:
        """No coordinator could be reached: forget it, so the official may send it again later."""
        with self._lock, self.db.atomic():
            self.db.execute("delete from team_messages where team_question_id = ?", [team_question_id])
            self.db.execute("delete from team_questions where id = ? and status = ?", [team_question_id, TEAM_OPEN])

    def reopen_team_question(self, team_question_id: int) -> None:
        """The answer could not be delivered: the question is open again."""
        self._write(
            "update team_questions set status = ?, answered_by = null, answered_by_name = null, answer = null, "
            "answered_at = null where id = ?",
            [TEAM_OPEN, team_question_id],
        )

    # -- audit log ----------------------------------------------------------------------

    def audit(self, user_id: int, user_name: str, action: str, practice_id: str, detail: str = "") -> None:
        self._write(
            "insert into audit_log (at, user_id, user_name, action, practice_id, detail) values (?, ?, ?, ?, ?, ?)",
            [_stamp(), user_id, user_name, action, practice_id, detail],
        )

    def audit_log(self, limit: int = 10) -> list[AuditEntry]:
        """The latest changes to the knowledge folder, newest first."""
        rows = self._all("select * from audit_log order by at desc, id desc limit ?", [limit])
        return [
            AuditEntry(
                datetime.fromisoformat(r["at"]),
                r["user_id"],
                r["user_name"] or "",
                r["action"],
                r["practice_id"],
                r["detail"] or "",
            )
            for r in rows
        ]

    # -- outbox (bot/outbox.py) -------------------------------------------------------

    def outbox_add(
        self, key: str | None, chat_id: int, text: str, markup: str | None, reply_to: int | None, status: str
    ) -> tuple[int, str, bool]:
        """Store a message before it is sent: (its id, its status, whether it is new). A key seen
        before (the same update's n-th message, handled again) returns the stored row instead."""
        now = _stamp_precise()
        with self._lock:
            cursor = self.db.execute(
                "insert or ignore into outbox (key, chat_id, text, markup, reply_to, status, attempts, created_at, next_at) "
                "values (?, ?, ?, ?, ?, ?, 0, ?, ?)",
                [key, chat_id, text, markup, reply_to, status, now, now],
            )
            if cursor.rowcount == 1:
                return int(cursor.lastrowid), status, True
            row = self._one("select id, status from outbox where key = ?", [key])
            return row["id"], row["status"], False

    def outbox_row(self, row_id: int) -> dict | None:
        return self._one("select * from outbox where id = ?", [row_id])

    def outbox_claim(self, row_id: int) -> bool:
        """pending -> sending, once: the worker and a handler never send one row twice."""
        return (
            self._write("update outbox set status = 'sending' where id = ? and status = 'pending'", [row_id]).rowcount
            == 1
        )

    def outbox_sent(self, row_id: int, message_id: int) -> None:
        self._write(
            "update outbox set status = 'sent', sent_at = ?, message_id = ?, attempts = attempts + 1 where id = ?",
            [_stamp_precise(), message_id, row_id],
        )

    def outbox_later(self, row_id: int, next_at: datetime, error: str) -> None:
        self._write(
            "update outbox set status = 'pending', next_at = ?, error = ?, attempts = attempts + 1 where id = ?",
            [_stamp_precise(next_at), error[:500], row_id],
        )

    def outbox_finish(self, row_id: int, status: str, error: str) -> None:
        self._write(
            "update outbox set status = ?, error = ?, attempts = attempts + 1 where id = ?",
            [status, error[:500], row_id],
        )

    def outbox_waiting_before(self, chat_id: int, row_id: int) -> bool:
        """An earlier message to this chat still waits: this one queues behind it, in order."""
        return (
            self._one(
                "select 1 as x from outbox where chat_id = ? and id < ? and status = 'pending' limit 1",
                [chat_id, row_id],
            )
            is not None
        )

    def outbox_due(self, now: datetime, limit: int = 50) -> list[dict]:
        """Pending messages whose time has come, the oldest of each chat only (order per chat)."""
        return self._all(
            "select * from outbox o where status = 'pending' and next_at <= ? and not exists "
            "(select 1 from outbox e where e.chat_id = o.chat_id and e.id < o.id and e.status in ('pending', 'sending')) "
            "order by id limit ?",
            [_stamp_precise(now), limit],
        )

    def outbox_next_at(self) -> datetime | None:
        row = self._one("select min(next_at) as next_at from outbox where status = 'pending'")
        return datetime.fromisoformat(row["next_at"]) if row and row["next_at"] else None

    def outbox_expire(self, created_before: datetime) -> list[dict]:
        """Give up pending messages older than the cutoff: status failed; the rows given up."""
        cutoff = _stamp_precise(created_before)
        with self._lock:
            rows = self._all("select * from outbox where status = 'pending' and created_at < ?", [cutoff])
            self.db.execute(
                "update outbox set status = 'failed', error = coalesce(error, '') || ' (given up)' "
                "where status = 'pending' and created_at < ?",
                [cutoff],
            )
        return rows

    def outbox_interrupted(self) -> int:
        """At start-up: messages a previous process was sending when it stopped. Telegram may have
        them (as after a read timeout), so they are not sent again: uncertain, shown to admins."""
        return self._write(
            "update outbox set status = 'uncertain', error = 'the bot stopped while sending it' where status = 'sending'"
        ).rowcount

    def outbox_prune(self, sent_before: datetime) -> int:
        """Forget messages delivered before the cutoff (the outbox is not an archive)."""
        return self._write(
            "delete from outbox where status = 'sent' and sent_at < ?", [_stamp_precise(sent_before)]
        ).rowcount

    def outbox_counts(self) -> dict[str, int]:
        return {r["status"]: r["n"] for r in self._all("select status, count(*) as n from outbox group by status")}
