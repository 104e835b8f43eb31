"""`peerbot`: thin commands over the library. Heavy imports stay inside the commands that need them."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import click

from .settings import Settings


def _settings(ctx: click.Context) -> Settings:
    from pydantic import ValidationError

    if ctx.obj is None:
        try:
            ctx.obj = Settings()
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise click.ClickException(f"invalid settings ({problems}); fix the environment or .env") from None
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

    engine = Engine(_embedder(settings), settings.data_dir, settings.knowledge_dir, settings.ranking(), settings.top_k)
    if refresh:
        try:
            report = engine.rebuild()
            if report.changed:
                click.echo(f"index updated: {report.practices} practices, {report.passages} passages ({report.embedded} embedded)", err=True)
        except KnowledgeInvalid as exc:
            click.echo(f"warning: {len(exc.problems)} problem(s) in {settings.knowledge_dir}; serving the previous index. Run `peerbot check` to see them.", err=True)
        except BuildBusy:
            pass
    try:
        engine.reload()
    except RuntimeError as exc:  # missing or damaged index, or one built by another model: the message says what to run
        raise click.ClickException(str(exc)) from None
    return engine


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
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
        click.echo(f"{len(kb.problems)} problem(s) in {files} file(s); {len(kb.practices)} of {kb.files_checked} practice file(s) are valid.")
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
    from index.build import BuildBusy, KnowledgeInvalid, build_index

    settings = _settings(ctx)
    embedder = _embedder(settings)
    try:
        report = build_index(settings.knowledge_dir, settings.data_dir, embedder, force=force)
    except KnowledgeInvalid as exc:
        for problem in exc.problems:
            click.echo(str(problem), err=True)
        raise click.ClickException(f"index not changed: fix the {len(exc.problems)} problem(s) above, then run `peerbot index` again") from None
    except BuildBusy as exc:
        raise click.ClickException(str(exc)) from None
    if not report.changed:
        click.echo(f"Index is up to date: {report.practices} practices, {report.passages} passages ({report.generation}).")
        return
    click.echo(
        f"Indexed {report.practices} practices, {report.passages} passages "
        f"({report.embedded} embedded, {report.reused} reused) in {report.seconds:.1f} s with {report.model_id}."
    )


@main.command()
@click.argument("question")
@click.option("--top", "top", type=click.IntRange(1, 20), default=None, help="How many practices to return (default PEERBOT_TOP_K, 3).")
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
        raise click.BadParameter("the question is empty; write a question in English, Arabic or Slovenian", param_hint="QUESTION")
    engine = _engine(_settings(ctx))
    answer = engine.ask(question, top_k=top)
    if as_json:
        click.echo(json.dumps(answer.to_json(), ensure_ascii=False))
    else:
        click.echo(render_plain(answer, answer.language))


@main.command(name="eval")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print metrics and per-question results as one JSON object.")
@click.option("--compare", is_flag=True, help="Compare BM25 only, dense only, hybrid and centring side by side (Markdown table).")
@click.pass_context
def eval_command(ctx: click.Context, file: Path, as_json: bool, compare: bool) -> None:
    """Measure retrieval quality on a JSON-lines question file.

    \b
    Example:
        peerbot eval tests/eval/questions.jsonl
    Each line: {"question": "...", "lang": "en", "relevant": ["practice-id", ...]};
    --compare prints BM25 only, dense only, hybrid and centring side by side.
    "relevant": [] marks a question the knowledge cannot answer (it should not be confident).
    """
    from index.evaluate import EvalFileError, evaluate, read_questions, report_json

    try:
        questions = read_questions(file)
    except EvalFileError as exc:
        raise click.ClickException(str(exc)) from None
    engine = _engine(_settings(ctx))
    if compare:
        from index.evaluate import compare as compare_variants, comparison_variants

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
@click.pass_context
def chat(ctx: click.Context) -> None:
    """Talk to peerbot in the terminal: same engine and replies as the Telegram bot.

    \b
    Example:
        peerbot chat
    Type a question and press Enter; an empty line or Ctrl-D ends the chat.
    """
    from .chat import run_chat

    settings = _settings(ctx)
    run_chat(_engine(settings), sys.stdin, click.echo)


@main.command()
@click.pass_context
def run(ctx: click.Context) -> None:
    """Run the Telegram bot (long polling); without TELEGRAM_BOT_TOKEN, a terminal chat.

    \b
    Example:
        TELEGRAM_BOT_TOKEN=123456:ABC... peerbot run
    """
    from .chat import run_chat
    from .texts import Texts

    settings = _settings(ctx)
    if settings.telegram_bot_token is None:
        click.echo(Texts("en")("chat_no_token"), err=True)
        run_chat(_engine(settings), sys.stdin, click.echo)
        return
    from .telegram_app import run_polling

    run_polling(settings, _engine(settings))
