"""Changing the knowledge folder from the bot: check an uploaded file, publish it, take a
practice out, and undo either if the index cannot be rebuilt.

- checking uses the same validator as ``peerbot check``: ``parse_practice`` with the folder's
  taxonomy, plus the duplicate-id check against the other files;
- writes are atomic (a hidden temporary file in the same folder, fsync, rename), so a reader
  or a concurrent ``peerbot check`` sees the old file or the new one, never half of one;
- the previous content of a replaced or removed file is copied under
  ``<data_dir>/backups/`` first, and restored if the rebuild fails, so the folder stays valid.

All functions here block (disk, embedding): the bot runs them in its worker threads.
"""

from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from index import diskspace, store
from index.build import BuildBusy, BuildReport, KnowledgeInvalid
from index.engine import Engine
from index.errors import DiskFull
from index.knowledge import ID_PATTERN, Practice, load_knowledge, parse_practice, practice_files
from index.problems import Problem
from index.taxonomy import load_taxonomy

log = logging.getLogger(__name__)

SAFE_NAME = re.compile(r"^[a-z0-9]+(-[a-z0-9]+)*\.md$")
MAX_NAME = 83  # an 80-character id + ".md"
PRACTICES_FOLDER = "practices"
BACKUPS = "backups"


def is_markdown_name(name: str | None) -> bool:
    return bool(name) and name.lower().endswith(".md")


def is_safe_name(name: str | None) -> bool:
    return bool(name) and len(name) <= MAX_NAME and SAFE_NAME.fullmatch(name) is not None


@dataclass
class Checked:
    relative_path: Path  # where the file will be written, relative to the knowledge folder
    practice: Practice | None
    problems: list[Problem] = field(default_factory=list)
    replaces: bool = False

    @property
    def ok(self) -> bool:
        return self.practice is not None and not self.problems


def _inside(folder: Path, relative: Path) -> Path:
    target = (folder / relative).resolve()
    if not target.is_relative_to(folder.resolve()):
        raise ValueError(f"{relative} is outside the knowledge folder")
    return target


def target_path(knowledge_dir: Path, name: str) -> tuple[Path, bool]:
    """Where a file called ``name`` goes: over the existing file of that practice, else into practices/."""
    if not is_safe_name(name):
        raise ValueError(f"unsafe file name {name!r}")
    for path in practice_files(knowledge_dir):
        if path.name == name:
            return path.relative_to(knowledge_dir), True
    folder = Path(PRACTICES_FOLDER) if (knowledge_dir / PRACTICES_FOLDER).is_dir() else Path()
    return folder / name, False


def check_upload(knowledge_dir: Path, name: str, data: bytes) -> Checked:
    knowledge_dir = Path(knowledge_dir)
    relative, replaces = target_path(knowledge_dir, name)
    _inside(knowledge_dir, relative)
    taxonomy, problems = load_taxonomy(knowledge_dir / "taxonomy.yaml")
    practice, file_problems = parse_practice(data, relative, taxonomy, display=name)
    problems = list(problems) + list(file_problems)
    if practice is not None:
        # As `peerbot check`: no other file may carry this id (nor, as ids match file names, this name).
        others = {Path(p.path) for p in load_knowledge(knowledge_dir).practices if p.id == practice.id}
        others |= {
            path.relative_to(knowledge_dir) for path in practice_files(knowledge_dir) if path.stem == practice.id
        }
        for other in sorted(others - {relative}):
            problems.append(
                Problem(
                    name,
                    "id",
                    f"duplicate id '{practice.id}', also used by {other.as_posix()} (ids must be unique across the folder)",
                )
            )
    return Checked(relative, practice if not problems else None, relative_problems(problems, knowledge_dir), replaces)


@dataclass(frozen=True)
class PracticeDiff:
    """What a replacing upload changes: front-matter fields (a language of a text field counts as
    its own field, e.g. ``title.ar``) and body sections (by heading), added, removed or changed.
    ``changed_values`` holds (field, old, new) for the changed fields that are one short text."""

    fields_added: tuple[str, ...] = ()
    fields_removed: tuple[str, ...] = ()
    fields_changed: tuple[str, ...] = ()
    sections_added: tuple[str, ...] = ()
    sections_removed: tuple[str, ...] = ()
    sections_changed: tuple[str, ...] = ()
    changed_values: tuple[tuple[str, str, str], ...] = ()

    @property
    def empty(self) -> bool:
        return not any(
            (
                self.fields_added,
                self.fields_removed,
                self.fields_changed,
                self.sections_added,
                self.sections_removed,
                self.sections_changed,
            )
        )


def _fields(practice: Practice) -> dict[str, object]:
    """The front matter as written (defaults left out), with language mappings flattened."""
    flat: dict[str, object] = {}
    for key, value in practice.meta.model_dump(mode="json", exclude_defaults=True).items():
        if isinstance(value, dict):
            flat.update({f"{key}.{language}": text for language, text in value.items()})
        else:
            flat[key] = value
    return flat


def _section_map(practice: Practice) -> dict[str, str]:
    sections: dict[str, str] = {}
    for section in practice.sections:
        name = section.heading or "(text before the first heading)"
        sections[name] = f"{sections[name]}\n{section.text}" if name in sections else section.text
    return sections


def practice_diff(old: Practice, new: Practice) -> PracticeDiff:
    before, after = _fields(old), _fields(new)
    changed = tuple(k for k in before if k in after and before[k] != after[k])
    old_sections, new_sections = _section_map(old), _section_map(new)
    return PracticeDiff(
        fields_added=tuple(k for k in after if k not in before),
        fields_removed=tuple(k for k in before if k not in after),
        fields_changed=changed,
        sections_added=tuple(k for k in new_sections if k not in old_sections),
        sections_removed=tuple(k for k in old_sections if k not in new_sections),
        sections_changed=tuple(k for k in old_sections if k in new_sections and old_sections[k] != new_sections[k]),
        changed_values=tuple(
            (k, before[k], after[k]) for k in changed if isinstance(before[k], str) and isinstance(after[k], str)
        ),
    )


def current_practice(knowledge_dir: Path, relative: Path) -> Practice | None:
    """The practice in the knowledge folder now (what an upload would replace), if it is valid."""
    knowledge_dir = Path(knowledge_dir)
    path = _inside(knowledge_dir, relative)
    if not path.is_file():
        return None
    taxonomy, _ = load_taxonomy(knowledge_dir / "taxonomy.yaml")
    practice, _ = parse_practice(path.read_bytes(), relative, taxonomy)
    return practice


def write_atomic(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")  # hidden: never read as a practice
    try:
        with open(temporary, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)


def backup(data_dir: Path, kind: str, name: str, data: bytes) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    path = Path(data_dir) / BACKUPS / kind / f"{stamp}-{name}"
    write_atomic(path, data)
    return path


@dataclass
class Outcome:
    ok: bool
    report: BuildReport | None = None
    problems: list[Problem] = field(default_factory=list)
    busy: bool = False
    reason: str = ""
    backup: Path | None = None


def relative_problems(problems: list[Problem], knowledge_dir: Path) -> list[Problem]:
    """Problems as `peerbot check` prints them, but with paths inside the knowledge folder
    (a chat is no place for the server's absolute paths)."""
    prefix = str(Path(knowledge_dir)) + os.sep
    return [Problem(p.path.removeprefix(prefix), p.field, p.message) for p in problems]


def _rebuild_or_restore(engine: Engine, target: Path, previous: bytes | None, backup_path: Path | None) -> Outcome:
    try:
        try:
            report = engine.rebuild()
        except BaseException:  # even an interrupt leaves the folder as it was
            if previous is None:
                target.unlink(missing_ok=True)
            else:
                write_atomic(target, previous)
            raise
    except KnowledgeInvalid as exc:
        return Outcome(
            False,
            problems=relative_problems(exc.problems, engine.knowledge_dir),
            backup=backup_path,
        )
    except BuildBusy as exc:
        return Outcome(False, busy=True, reason=str(exc), backup=backup_path)
    except Exception as exc:  # noqa: BLE001 - whatever failed, the user is told and the folder is restored
        # The build may have got as far as publishing; rebuild from the restored folder.
        try:
            engine.rebuild()
        except Exception:
            log.warning("rebuilding from the restored knowledge folder failed too", exc_info=True)
        return Outcome(False, reason=f"{type(exc).__name__}: {exc}", backup=backup_path)
    return Outcome(True, report, backup=backup_path)


def publish(engine: Engine, data_dir: Path, name: str, data: bytes, record_backup=None) -> Outcome:
    """Check again (the folder may have changed since the preview), write, rebuild; undo on failure.

    ``record_backup(path or None)`` is called after the replaced file is copied and before the
    new one is written, so a publish cut off by a crash can be undone (bot/recovery.py)."""
    knowledge_dir = engine.knowledge_dir
    checked = check_upload(knowledge_dir, name, data)
    if not checked.ok:
        return Outcome(False, problems=relative_problems(checked.problems, knowledge_dir))
    target = _inside(knowledge_dir, checked.relative_path)
    previous = target.read_bytes() if target.is_file() else None
    try:  # before anything is written: the file, its backup and a new index generation
        diskspace.ensure_free(target.parent, len(data) + diskspace.MB, "the practice file")
        live = store.current_generation(data_dir)
        needed = diskspace.generation_estimate(0, 0, live) + len(previous or b"")
        diskspace.ensure_free(store.index_root(data_dir), needed, "its backup and a new index generation")
    except DiskFull as exc:
        return Outcome(False, reason=str(exc))
    backup_path = backup(data_dir, "knowledge", name, previous) if previous is not None else None
    if record_backup is not None:
        record_backup(backup_path)
    write_atomic(target, data)
    return _rebuild_or_restore(engine, target, previous, backup_path)


def find_practice_file(engine: Engine, practice_id: str) -> Path | None:
    """The file of a practice: from the live index, else any file named after the id."""
    if not ID_PATTERN.match(practice_id) or len(practice_id) > 80:
        return None
    record = engine.index.practices.get(practice_id)
    if record is not None:
        return Path(record.path)
    for path in practice_files(engine.knowledge_dir):
        if path.stem == practice_id:
            return path.relative_to(engine.knowledge_dir)
    return None


def remove(engine: Engine, data_dir: Path, relative: Path) -> Outcome:
    """Move a practice file to the backup folder and rebuild; put it back if the rebuild fails."""
    target = _inside(engine.knowledge_dir, relative)
    previous = target.read_bytes()
    backup_path = backup(data_dir, "removed", target.name, previous)  # copy, then delete: data may be another disk
    target.unlink()
    return _rebuild_or_restore(engine, target, previous, backup_path)


def reindex(engine: Engine) -> Outcome:
    try:
        return Outcome(True, engine.rebuild())
    except KnowledgeInvalid as exc:
        return Outcome(False, problems=relative_problems(exc.problems, engine.knowledge_dir))
    except BuildBusy as exc:
        return Outcome(False, busy=True, reason=str(exc))
    except DiskFull as exc:  # refused before embedding; the live index keeps serving
        return Outcome(False, reason=str(exc))
