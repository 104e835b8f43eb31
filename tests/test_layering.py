"""The retrieval engine stands alone: importing any index module never imports Telegram or bot/."""

from __future__ import annotations

import pkgutil
import subprocess
import sys

import index


def test_importing_index_never_imports_telegram_or_the_bot():
    modules = sorted(f"index.{m.name}" for m in pkgutil.iter_modules(index.__path__))
    assert "index.engine" in modules and "index.build" in modules
    # A fresh interpreter: this test process has long imported telegram for the bot tests.
    code = (
        "import importlib, sys\n"
        f"for name in {modules!r}:\n"
        "    importlib.import_module(name)\n"
        "leaked = sorted(m for m in sys.modules if m.split('.')[0] in ('telegram', 'bot'))\n"
        "print(','.join(leaked))\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert result.stdout.strip() == ""
