"""7. Cold start: `peerbot --help`, `peerbot check`, and `peerbot run` to the first answer."""

from __future__ import annotations

import os
import re
import selectors
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .common import REPO, Context, Section, log, median

HEAVY = (
    "torch",
    "sentence_transformers",
    "transformers",
    "faiss",
    "bm25s",
    "scipy",
    "sklearn",
    "telegram",
    "langchain_core",
)
QUESTION = "How did municipalities help elderly people living alone?"


def peerbot_command() -> list[str]:
    script = Path(sys.executable).with_name("peerbot")
    return (
        [str(script)]
        if script.is_file()
        else [sys.executable, "-c", "import sys; from bot.cli import main; sys.exit(main())"]
    )


def clean_env(ctx: Context, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PEERBOT_", "TELEGRAM_"))}
    env.update(
        PEERBOT_KNOWLEDGE_DIR=str(ctx.knowledge_dir),
        PEERBOT_DATA_DIR=str(ctx.shipped_data_dir),
        PEERBOT_MODEL_DIR=str(ctx.models_dir),
        PYTHONUNBUFFERED="1",
    )
    env.update(extra)
    return env


def _wall(command: list[str], env: dict, cwd: Path, runs: int) -> tuple[float, str]:
    times, output = [], ""
    for _ in range(runs):
        started = time.perf_counter()
        done = subprocess.run(command, env=env, cwd=cwd, capture_output=True, text=True, timeout=120, check=False)
        times.append(time.perf_counter() - started)
        output = done.stdout + done.stderr
        if done.returncode != 0:
            raise RuntimeError(f"{' '.join(command)} exited {done.returncode}: {output[-1000:]}")
    return median(times), output


def heavy_imports(args: list[str], env: dict, cwd: Path) -> tuple[list[str], list[tuple[float, str]]]:
    """Heavy top-level packages imported by `peerbot ARGS`, and the slowest imports (ms, name)."""
    code = "import sys; from bot.cli import main; sys.argv = ['peerbot', *sys.argv[1:]]; main()"
    done = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", code, *args],
        env={**env, "PYTHONPATH": str(REPO)},
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    heavy, cumulative = set(), []
    for line in done.stderr.splitlines():
        match = re.match(r"import time:\s+(\d+) \|\s+(\d+) \|(\s+)(\S+)", line)
        if not match:
            continue
        name = match.group(4)
        top = name.split(".")[0]
        if top in HEAVY:
            heavy.add(top)
        if len(match.group(3)) <= 2:  # imported by the command itself, not as a dependency
            cumulative.append((int(match.group(2)) / 1000, name))
    return sorted(heavy), sorted(cumulative, reverse=True)[:3]


def first_answer(ctx: Context, env: dict, cwd: Path) -> tuple[float, float]:
    """Seconds from starting `peerbot run` (no token: terminal chat) to the first answer line, and to exit."""
    from bot.texts import Texts

    markers = {Texts(lang)(key) for lang in ("en", "ar", "sl") for key in ("results_intro", "no_match")}
    started = time.perf_counter()
    process = subprocess.Popen(
        peerbot_command() + ["run"],
        env=env,
        cwd=cwd,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    process.stdin.write(QUESTION + "\n")
    process.stdin.close()
    answered = None
    selector = selectors.DefaultSelector()
    selector.register(process.stdout, selectors.EVENT_READ)
    deadline = started + 300
    while time.perf_counter() < deadline:
        if not selector.select(timeout=1):
            if process.poll() is not None:
                break
            continue
        line = process.stdout.readline()
        if not line:
            break
        if answered is None and any(m in line for m in markers):
            answered = time.perf_counter() - started
    process.wait(timeout=60)
    ended = time.perf_counter() - started
    if answered is None:
        raise RuntimeError(f"`peerbot run` printed no answer: {process.stderr.read()[-1500:]}")
    return answered, ended


def run(ctx: Context) -> Section:
    section = Section("coldstart", "7. Cold start")
    _ = ctx.engine  # the shipped index exists and is current, so `run` only checks it
    cwd = Path(tempfile.mkdtemp(prefix="coldstart-", dir=ctx.bench_dir))  # no stray .env
    env = clean_env(ctx)
    runs = 3 if ctx.quick else 5
    help_time, _ = _wall(peerbot_command() + ["--help"], env, cwd, runs)
    check_time, _ = _wall(peerbot_command() + ["check", str(ctx.knowledge_dir)], env, cwd, runs)
    section.add("`peerbot --help` wall time (median)", f"{help_time:.2f} s")
    section.add("`peerbot check knowledge` wall time (median)", f"{check_time:.2f} s")
    for args, label in ((["--help"], "--help"), (["check", str(ctx.knowledge_dir)], "check knowledge")):
        heavy, slowest = heavy_imports(args, env, cwd)
        section.add(
            f"heavy imports on `peerbot {label}` (-X importtime)",
            ", ".join(heavy) if heavy else "none of " + "/".join(HEAVY[:5]),
            "none",
            not heavy,
        )
        section.note(
            f"`peerbot {label}` slowest direct imports: " + ", ".join(f"{name} {ms_:.0f} ms" for ms_, name in slowest)
        )
    log("coldstart: `peerbot run` (terminal chat) to the first answer")
    tries = 2 if ctx.quick else 3
    results = [first_answer(ctx, env, cwd) for _ in range(tries)]
    section.add(
        "`peerbot run` (terminal chat, question on stdin) -> first answer, median",
        f"{median([a for a, _ in results]):.1f} s (runs: {', '.join(f'{a:.1f}' for a, _ in results)} s; process exit {median([e for _, e in results]):.1f} s)",
    )
    import shutil

    shutil.rmtree(cwd, ignore_errors=True)
    section.note(
        "Model already converted and index current (a later start); the first start ever also converts the model (about 5-15 s) and embeds every passage (see section 4)."
    )
    return section
