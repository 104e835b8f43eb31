"""`peerbot purge`, `peerbot backup` and `peerbot restore`: thin commands over bot/maintenance.py
(registered on the `peerbot` group at the end of bot/cli.py)."""

from __future__ import annotations

from pathlib import Path

import click


def _settings(ctx: click.Context):
    from .cli import _settings as settings

    return settings(ctx)


@click.command()
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
    DAYS, and the feedback on those questions; the bytes are overwritten on disk. Users,
    access decisions and language choices stay. Safe while the bot runs.
    """
    from .maintenance import purge as purge_rows

    settings = _settings(ctx)
    questions, feedback, cutoff = purge_rows(settings.data_dir, days)
    click.echo(
        f"Deleted {questions} question(s) and {feedback} feedback row(s) older than {days} day(s) (before {cutoff})."
    )


@click.command()
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


@click.command()
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
