"""`peerbot run` for the concurrency benchmark, optionally with the query batcher wired in.

``python -m bench.bot_launcher`` is exactly ``peerbot run``. ``--no-rate-limit`` replaces PTB's
``AIORateLimiter`` (Telegram's 30 requests/s for a bot) with a pass-through, to see the engine's
side of the load. With ``--batcher`` it first applies,
at run time, the one-line change proposed for the bot (docs/benchmarks.md): questions the
handlers send to ``Engine.ask`` through ``Services.blocking`` go to an
``bench.query_batcher.QueryBatcher`` instead, so concurrent questions share model calls.
Nothing in bot/ is edited; the patch lives only in this process.
"""

from __future__ import annotations

import atexit
import sys


def install_batcher() -> None:
    from bench.query_batcher import QueryBatcher
    from bot.services import Services
    from index.engine import Engine

    original = Services.blocking
    batchers: dict[int, QueryBatcher] = {}

    async def blocking(self, function, /, *args, **kwargs):
        if getattr(function, "__func__", None) is Engine.ask and getattr(function, "__self__", None) is self.engine:
            batcher = batchers.get(id(self))
            if batcher is None:
                batcher = batchers[id(self)] = QueryBatcher(self.engine)
            return await batcher.ask(*args, **kwargs)
        return await original(self, function, *args, **kwargs)

    Services.blocking = blocking

    # Close the batcher when the application shuts down (the integrated version does this in
    # telegram_app._post_shutdown); build_application looks the hook up when it builds the app.
    from bot import telegram_app

    shutdown = telegram_app._post_shutdown

    async def post_shutdown(app) -> None:
        for batcher in batchers.values():
            await batcher.aclose()
        await shutdown(app)

    telegram_app._post_shutdown = post_shutdown

    def report() -> None:
        for batcher in batchers.values():
            s = batcher.stats
            print(
                f"BATCHER questions={s.questions} batches={s.batches} largest={s.largest} mean={s.mean_batch:.2f}",
                file=sys.stderr,
                flush=True,
            )

    atexit.register(report)


def remove_rate_limiter() -> None:
    """Telegram's limits off (the emulator has none): what the bot does when the engine is the bottleneck."""
    from telegram.ext import BaseRateLimiter

    from bot import telegram_app

    class NoLimit(BaseRateLimiter):
        async def initialize(self) -> None:
            pass

        async def shutdown(self) -> None:
            pass

        async def process_request(self, callback, args, kwargs, endpoint, data, rate_limit_args):
            return await callback(*args, **kwargs)

    telegram_app.AIORateLimiter = lambda *args, **kwargs: NoLimit()


def main() -> int:
    if "--batcher" in sys.argv[1:]:
        install_batcher()
    if "--no-rate-limit" in sys.argv[1:]:
        remove_rate_limiter()
    from bot.cli import main as peerbot

    return peerbot(["run"], standalone_mode=True)


if __name__ == "__main__":
    sys.exit(main())
