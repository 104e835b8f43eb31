"""Liveness for container health checks: the running bot touches ``<data>/heartbeat`` every
``INTERVAL`` seconds from its own event loop, so the file stays fresh only while that loop
runs; ``peerbot health`` reads the file's age.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from pathlib import Path

FILE_NAME = "heartbeat"
INTERVAL = 30.0
MAX_AGE = 90.0  # three missed beats

log = logging.getLogger(__name__)


def heartbeat_path(data_dir: Path) -> Path:
    return Path(data_dir) / FILE_NAME


def beat(path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.touch()


async def _beat_forever(path: Path, interval: float, alive) -> None:
    while True:
        if not alive():  # e.g. another copy polls with this token: this one is not the bot
            path.unlink(missing_ok=True)
            await asyncio.sleep(interval)
            continue
        try:
            beat(path)
        except OSError as exc:  # a full or read-only disk must not stop the bot
            log.warning("cannot write the heartbeat %s: %s", path, exc)
        await asyncio.sleep(interval)


def attach(application, data_dir: Path, interval: float = INTERVAL, alive=lambda: True) -> None:
    """Beat from ``application``'s event loop between its post_init and post_shutdown hooks."""
    path = heartbeat_path(data_dir)
    post_init, post_shutdown = application.post_init, application.post_shutdown
    tasks: list[asyncio.Task] = []

    async def start(app) -> None:
        if post_init:
            await post_init(app)
        tasks.append(
            asyncio.get_running_loop().create_task(_beat_forever(path, interval, alive), name="peerbot-heartbeat")
        )

    async def stop(app) -> None:
        for task in tasks:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        tasks.clear()
        with contextlib.suppress(OSError):
            path.unlink()  # a stopped bot is not alive, whatever the file's age
        if post_shutdown:
            await post_shutdown(app)

    application.post_init, application.post_shutdown = start, stop


def age(data_dir: Path) -> float | None:
    """Seconds since the last beat, or None when there is no heartbeat file."""
    try:
        return max(0.0, time.time() - heartbeat_path(data_dir).stat().st_mtime)
    except FileNotFoundError:
        return None
