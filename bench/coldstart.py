"""7. Cold start: `peerbot ask` against the cold sentence-transformers floor (A B A B, wall time and
peak RSS of each process), `peerbot run` against the Bot API emulator to its first answer (and the
running bot's peak RSS), `peerbot --help`, `peerbot check`, the heavy imports of each, image size."""

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
# The least any sentence-transformers program pays before its first answer over the same model.
ST_FLOOR = (
    "import sys\n"
    "from sentence_transformers import SentenceTransformer\n"
    "model = SentenceTransformer(sys.argv[1], device='cpu', local_files_only=True)\n"
    "model.encode_query([sys.argv[2]], normalize_embeddings=True)\n"
)
# Each cold process reports its own peak RSS as it exits: /proc/self/status VmHWM belongs to the
# process image after exec, whereas wait4's ru_maxrss survives exec on Linux and reports the
# benchmark's own peak when the benchmark is the bigger process (it forks the child).
PEAK_RSS = (
    "import atexit, sys\n"
    "def _peak():\n"
    "    with open('/proc/self/status') as status:\n"
    "        kb = [line.split()[1] for line in status if line.startswith('VmHWM:')]\n"
    "    sys.stderr.write(f'PEAK_RSS_KB {kb[0]}\\n')\n"
    "atexit.register(_peak)\n"
)
PEERBOT_MAIN = "import sys\nfrom bot.cli import main\nsys.argv = ['peerbot', *sys.argv[1:]]\nmain()\n"
NO_TORCH = ("torch", "sentence_transformers", "transformers")
IMAGE = "localhost/peerbot:check"  # what scripts/container-check.sh builds


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


def timed_process(command: list[str], env: dict, cwd: Path) -> tuple[float, float]:
    """(wall seconds, peak RSS in MiB) of one process run to its end."""
    started = time.perf_counter()
    process = subprocess.Popen(command, env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, error = process.communicate(timeout=300)
    wall = time.perf_counter() - started
    error = error.decode(errors="replace")
    if process.returncode != 0:
        raise RuntimeError(f"{' '.join(command[:3])} exited {process.returncode}: {error[-1000:]}")
    peaks = re.findall(r"PEAK_RSS_KB (\d+)", error)
    return wall, int(peaks[-1]) / 1024 if peaks else float("nan")


def cold_ask_vs_floor(ctx: Context, env: dict, cwd: Path, pairs: int) -> dict[str, list[tuple[float, float]]]:
    """`peerbot ask` and the bare sentence-transformers program, alternating (A B A B)."""
    folder = str(ctx.model_folder())
    # `peerbot ask` is the console script's own two lines (import bot.cli, call main) after the
    # peak-RSS hook; the floor program gets the same hook.
    commands = {
        "ask": [sys.executable, "-c", PEAK_RSS + PEERBOT_MAIN, "ask", QUESTION],
        "floor": [sys.executable, "-c", PEAK_RSS + ST_FLOOR, folder, QUESTION],
    }
    results: dict[str, list[tuple[float, float]]] = {name: [] for name in commands}
    for _ in range(pairs):
        for name, command in commands.items():
            results[name].append(timed_process(command, env, cwd))
    return results


def bot_first_answer(ctx: Context, cwd: Path) -> tuple[float, float, float]:
    """`peerbot run` against the Bot API emulator, a question already waiting: (seconds to its answer,
    peak RSS MiB after it, peak RSS MiB after 20 more questions)."""
    import shutil as _shutil

    from tests.tg_emulator import TelegramEmulator

    from .concurrency import _Watcher

    data_dir = Path(tempfile.mkdtemp(prefix="bot-", dir=cwd))
    _shutil.copytree(ctx.shipped_data_dir / "index", data_dir / "index")
    with TelegramEmulator(token="123456:COLDSTART") as emulator:
        env = clean_env(
            ctx,
            PEERBOT_DATA_DIR=str(data_dir),
            TELEGRAM_BOT_TOKEN=emulator.token,
            TELEGRAM_API_BASE=emulator.base_url,
            PEERBOT_ALLOWED_USERS="*",
            PEERBOT_LOG_LEVEL="WARNING",
        )
        watcher = _Watcher(emulator)
        chat = 720_000_001
        emulator.send_text(chat, QUESTION)
        started = time.perf_counter()
        process = subprocess.Popen(
            peerbot_command() + ["run"], env=env, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        try:
            while watcher.answers(chat) < 1:
                if process.poll() is not None or time.perf_counter() - started > 300:
                    raise RuntimeError(f"`peerbot run` gave no answer (exit {process.returncode})")
                time.sleep(0.005)
            first = time.perf_counter() - started
            after_first = _peak_rss_mib(process.pid)
            for k, q in enumerate(ctx.questions[:20]):
                asker = chat + 1 + k  # one question per official: the per-user rate limit stays out of it
                emulator.send_text(asker, q.question)
                while watcher.answers(asker) < 1:
                    if process.poll() is not None or time.perf_counter() - started > 600:
                        raise RuntimeError("`peerbot run` stopped answering")
                    time.sleep(0.005)
            after_more = _peak_rss_mib(process.pid)
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
    return first, after_first, after_more


def _peak_rss_mib(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def image_size() -> str | None:
    """The container image's size when scripts/container-check.sh built it on this machine."""
    import shutil as _shutil

    for tool in ("podman", "docker"):
        if _shutil.which(tool):
            done = subprocess.run(
                [tool, "image", "inspect", "--format", "{{.Size}}", IMAGE],
                capture_output=True,
                text=True,
                timeout=60,
                check=False,
            )
            if done.returncode == 0 and done.stdout.strip().isdigit():
                return f"{int(done.stdout.strip()) / 1e9:.2f} GB ({tool} image inspect {IMAGE})"
    return None


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

    log("coldstart: cold `peerbot ask` and the cold sentence-transformers floor, alternating")
    pairs = cold_ask_vs_floor(ctx, env, cwd, 3 if ctx.quick else 5)
    ask_wall, floor_wall = (median([w for w, _ in pairs[n]]) for n in ("ask", "floor"))
    ask_rss, floor_rss = (max(r for _, r in pairs[n]) for n in ("ask", "floor"))
    paired = median([a[0] / f[0] for a, f in zip(pairs["ask"], pairs["floor"])])
    section.add(
        "cold `peerbot ask` wall time, median (runs)",
        f"{ask_wall:.2f} s ({', '.join(f'{w:.2f}' for w, _ in pairs['ask'])})",
    )
    section.add(
        "cold sentence-transformers floor (import, load the same model, encode one question), median (runs)",
        f"{floor_wall:.2f} s ({', '.join(f'{w:.2f}' for w, _ in pairs['floor'])})",
    )
    section.add(
        "cold `peerbot ask` / cold floor",
        f"{ask_wall / floor_wall:.3f}x (paired per run: {paired:.3f}x)",
        "<= 0.5x",
        ask_wall / floor_wall <= 0.5,
    )
    section.add("peak RSS of `peerbot ask` (largest of the runs)", f"{ask_rss:.0f} MiB", "<= 500 MiB", ask_rss <= 500)
    section.add("peak RSS of the floor program", f"{floor_rss:.0f} MiB")
    heavy, slowest = heavy_imports(["ask", QUESTION], env, cwd)
    torch_side = [name for name in heavy if name in NO_TORCH]
    section.add(
        "torch / sentence-transformers / transformers imported by `peerbot ask` (-X importtime)",
        ", ".join(torch_side) if torch_side else "none",
        "none",
        not torch_side,
    )
    section.note(
        "`peerbot ask` imports of the heavy list: "
        + (", ".join(heavy) or "none")
        + "; slowest direct imports: "
        + ", ".join(f"{name} {ms_:.0f} ms" for ms_, name in slowest)
    )

    if not (REPO / "tests" / "tg_emulator.py").is_file():
        section.note("tests/tg_emulator.py is missing: `peerbot run` against the Bot API was not measured.")
    else:
        log("coldstart: `peerbot run` against the Bot API emulator, to the first answer")
        bots = [bot_first_answer(ctx, cwd) for _ in range(2 if ctx.quick else 3)]
        first = median([b[0] for b in bots])
        section.add(
            "`peerbot run` (Telegram, emulator) start -> first answer, median (runs)",
            f"{first:.2f} s ({', '.join(f'{b[0]:.2f}' for b in bots)})",
            "<= 2 s",
            first <= 2.0,
        )
        section.add(
            "peak RSS of the running bot: after the first answer / after 20 more questions",
            f"{max(b[1] for b in bots):.0f} MiB / {max(b[2] for b in bots):.0f} MiB",
            "<= 500 MiB",
            max(b[2] for b in bots) <= 500,
        )

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
    size = image_size()
    section.add(
        "container image size",
        size or "not measured here (no image built): scripts/container-check.sh prints it on its `podman build` line",
    )
    import shutil

    shutil.rmtree(cwd, ignore_errors=True)
    section.note(
        "Model already converted and index current (a later start); the first start ever also converts the model "
        "(about 5-15 s) and embeds every passage (see section 4). Peak RSS is the kernel's VmHWM of each process "
        "(reported by the cold processes themselves as they exit; read from /proc for the running bot)."
    )
    return section
