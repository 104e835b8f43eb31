"""Start-up recovery of publishes a previous process never finished (killed, crashed, or the
machine lost power between "Publish" and "Published").

A publish goes: claim (status publishing) -> copy the replaced file to backups/ and record it
-> write the new file -> rebuild the index -> status published -> tell the coordinator. At
start-up, after the bot's index refresh, each upload still ``publishing`` is:

- **finished** when its file is in the knowledge folder with exactly the uploaded bytes and
  the live index was built from those bytes: status published, the coordinator told;
- **rolled back** otherwise: a file it wrote is replaced by the recorded backup (or removed,
  if it added a new practice), the index rebuilt to match, status failed, the coordinator
  told that nothing changed and to send the file again.

So the status in the database, the folder, the index and what the coordinator is told agree.
"""

from __future__ import annotations

import hashlib
import json
import logging
from dataclasses import dataclass
from pathlib import Path

from .database import UPLOAD_FAILED, UPLOAD_PUBLISHED, BotDatabase, UploadRow
from .knowledge_files import _inside, write_atomic

log = logging.getLogger(__name__)

FINISHED, ROLLED_BACK = "finished", "rolled back"


@dataclass(frozen=True)
class Recovered:
    upload: UploadRow
    outcome: str  # FINISHED or ROLLED_BACK


def recover_publishes(engine, db: BotDatabase) -> list[Recovered]:
    """Finish or undo every interrupted publish (blocking: disk and maybe an index build)."""
    done = []
    for upload in db.interrupted_uploads():
        try:
            done.append(Recovered(upload, _recover(engine, db, upload)))
        except Exception:
            log.exception("could not recover the interrupted publish of upload %s", upload.id)
    return done


def _indexed_hash(engine, relative: str) -> str | None:
    try:
        return json.loads(engine.index.meta.get("knowledge_hashes", "{}")).get(relative)
    except ValueError:
        return None


def _recover(engine, db: BotDatabase, upload: UploadRow) -> str:
    knowledge_dir = Path(engine.knowledge_dir)
    target = _inside(knowledge_dir, Path(upload.relative_path))
    wanted = hashlib.sha256(upload.content).hexdigest()
    in_place = target.is_file() and hashlib.sha256(target.read_bytes()).hexdigest() == wanted
    if in_place and _indexed_hash(engine, upload.relative_path) == wanted:
        db.finish_upload(upload.id, UPLOAD_PUBLISHED, "finished at start-up after an interruption")
        log.warning("the interrupted publish of %s was complete on disk: marked published", upload.practice_id)
        return FINISHED
    if in_place:  # written, never indexed: put the folder back as the live index knows it
        backup = db.upload_backup(upload.id)
        if backup:
            write_atomic(target, Path(backup).read_bytes())
        else:
            target.unlink()
        try:
            engine.rebuild()
        except Exception as exc:  # noqa: BLE001 - the folder is as the live index knows it; that is enough
            log.warning("rebuilding after rolling back %s failed: %s", upload.practice_id, exc)
    db.finish_upload(upload.id, UPLOAD_FAILED, "interrupted; rolled back at start-up")
    log.warning("the interrupted publish of %s was rolled back", upload.practice_id)
    return ROLLED_BACK
