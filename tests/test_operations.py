"""Running it in production: `peerbot health` and the heartbeat behind it, a read-only index."""

from __future__ import annotations

import asyncio
import os
import time
from pathlib import Path

from click.testing import CliRunner

from bot import heartbeat
from bot.cli import main
from tests.test_cli import invoke


def test_health_fails_without_a_heartbeat(env, data_dir: Path):
    result = invoke("health")
    assert result.exit_code == 1
    assert result.output == f"unhealthy: no heartbeat at {data_dir / 'heartbeat'} (is `peerbot run` running?)\n"


def test_health_passes_on_a_fresh_heartbeat_and_fails_on_a_stale_one(env, data_dir: Path):
    heartbeat.beat(heartbeat.heartbeat_path(data_dir))
    result = invoke("health")
    assert result.exit_code == 0 and result.output.startswith("healthy: last heartbeat 0 s ago")
    old = time.time() - 200
    os.utime(heartbeat.heartbeat_path(data_dir), (old, old))
    result = invoke("health")
    assert result.exit_code == 1 and result.output.startswith("unhealthy: last heartbeat 200 s ago (more than 90 s)")
    assert invoke("health", "--max-age", "300").exit_code == 0


class FakeApplication:
    """The two hooks heartbeat.attach wraps, as PTB's Application has them."""

    def __init__(self):
        self.calls: list[str] = []

        async def post_init(app):
            self.calls.append("init")

        async def post_shutdown(app):
            self.calls.append("shutdown")

        self.post_init, self.post_shutdown = post_init, post_shutdown


async def test_heartbeat_beats_from_the_event_loop_between_start_and_stop(tmp_path: Path):
    app = FakeApplication()
    heartbeat.attach(app, tmp_path, interval=0.05)
    path = heartbeat.heartbeat_path(tmp_path)
    await app.post_init(app)
    assert app.calls == ["init"]  # the bot's own hook still runs
    await asyncio.sleep(0.02)
    first = path.stat().st_mtime_ns
    await asyncio.sleep(0.15)
    assert path.stat().st_mtime_ns > first  # beating, not just created
    assert heartbeat.age(tmp_path) < 1
    await app.post_shutdown(app)
    assert app.calls == ["init", "shutdown"]
    assert not path.exists() and heartbeat.age(tmp_path) is None
    await asyncio.sleep(0.1)
    assert not path.exists()  # the task is gone


def test_a_read_only_index_is_served_as_it_is(env, monkeypatch):
    """A replica whose index folder cannot be written still answers (README, Scaling)."""
    assert invoke("index").exit_code == 0
    import index.engine

    def read_only(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(index.engine, "build_index", read_only)
    result = CliRunner().invoke(main, ["ask", "rent exemption for business premises", "--json"])
    assert result.exit_code == 0, result.output
    assert (
        "warning: cannot update the index" in result.output
        and "Permission denied); serving it as it is." in result.output
    )
    assert '"id": "hrastnik-rent-relief-for-business-premises"' in result.output
