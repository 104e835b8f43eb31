"""Run the benchmark suite: ``python -m bench [--quick] [--only latency,scale,...]``.

Prints one table and writes ``docs/benchmarks.md`` (machine, command, every number and target).
A benchmark, not a test: nothing here fails a build; a missed target is reported as MISSED.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import traceback
from pathlib import Path

from .common import REPO, Context, Section, log, machine

SECTIONS = ("latency", "scale", "build", "incremental", "concurrency", "coldstart", "typing")


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="python -m bench", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument(
        "--quick",
        action="store_true",
        help="a smaller run (fewer repetitions, a subset for build throughput, fewer simulated users)",
    )
    parser.add_argument(
        "--only", default="", help=f"comma-separated sections to run (default all): {', '.join(SECTIONS)}"
    )
    parser.add_argument("--skip", default="", help="comma-separated sections to leave out")
    parser.add_argument(
        "--out", default=str(REPO / "docs" / "benchmarks.md"), help="the Markdown report to write ('-' for none)"
    )
    parser.add_argument(
        "--data-dir",
        default=str(REPO / "data" / "bench"),
        help="scratch folder for indexes and synthetic corpora (not committed)",
    )
    parser.add_argument(
        "--models-dir",
        default=os.environ.get("PEERBOT_MODEL_DIR") or str(REPO / "data" / "models"),
        help="where the converted default model is cached",
    )
    parser.add_argument("--knowledge", default=str(REPO / "knowledge"), help="the knowledge folder to measure")
    parser.add_argument(
        "--questions",
        default=str(REPO / "tests" / "eval" / "questions.jsonl"),
        help="JSON-lines questions with relevance labels",
    )
    parser.add_argument(
        "--worst-case",
        action="store_true",
        help="also measure HNSW recall on 100k uniform random vectors (about 3 more minutes)",
    )
    parser.add_argument(
        "--keep", action="store_true", help="keep scratch folders (bot logs, synthetic corpora) for inspection"
    )
    args = parser.parse_args(argv)
    chosen = [s.strip() for s in args.only.split(",") if s.strip()] or list(SECTIONS)
    skipped = {s.strip() for s in args.skip.split(",") if s.strip()}
    unknown = [s for s in [*chosen, *skipped] if s not in SECTIONS]
    if unknown:
        parser.error(f"unknown section(s) {', '.join(unknown)}; choose from {', '.join(SECTIONS)}")
    args.sections = [s for s in SECTIONS if s in chosen and s not in skipped]
    return args


def _runner(name: str):
    if name == "latency":
        from . import latency

        return latency.run
    if name == "scale":
        from . import scale

        return scale.run
    if name in ("build", "incremental"):
        from . import build

        return build.run_throughput if name == "build" else build.run_incremental
    if name == "concurrency":
        from . import concurrency

        return concurrency.run
    if name == "coldstart":
        from . import coldstart

        return coldstart.run
    if name == "typing":
        from . import officials_typing

        return officials_typing.run
    raise KeyError(name)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.perf_counter()
    info = machine()
    ctx = Context(args)
    log(f"sections: {', '.join(args.sections)}{' (quick)' if args.quick else ''}; scratch folder {ctx.bench_dir}")
    sections: list[Section] = []
    for name in args.sections:
        section_started = time.perf_counter()
        log(f"== {name}")
        try:
            result = _runner(name)(ctx)
            produced = result if isinstance(result, list) else [result]
        except Exception as exc:  # noqa: BLE001 - one broken section must not hide the others
            traceback.print_exc()
            produced = [Section(name, name, error=f"{type(exc).__name__}: {exc}")]
        elapsed = time.perf_counter() - section_started
        for section in produced:
            section.seconds = elapsed / len(produced)
        sections.extend(produced)
        log(f"== {name} done in {elapsed:.0f} s")
    total = time.perf_counter() - started
    command = (
        "python -m bench"
        + (" --quick" if args.quick else "")
        + (f" --only {','.join(args.sections)}" if set(args.sections) != set(SECTIONS) else "")
    )
    from .report import markdown, table

    print(table(sections, info, total))
    if args.out != "-":
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        out.write_text(markdown(sections, info, total, command), encoding="utf-8")
        log(f"wrote {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
