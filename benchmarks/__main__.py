"""Run every benchmark against its baseline: ``python -m benchmarks`` (from the repository root).

Writes the rows to a JSON file and a markdown table; ``--readme`` rewrites
the README's performance table (between its marker comments) from the JSON
file without running anything. The rows of benchmarks not run (``--only``)
or failed that the JSON file already holds are kept: each row names its
machine and date.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
import traceback
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path

from benchmarks import BENCHMARKS
from benchmarks.common import Row, machine, machine_text, now, print_row
from benchmarks.report import load, markdown, merge, update_readme, write_json

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent


def parser() -> argparse.ArgumentParser:
    ap = argparse.ArgumentParser(
        prog="python -m benchmarks", description=__doc__.splitlines()[0],
        epilog="Benchmarks: " + ", ".join(BENCHMARKS) + ". Each script also runs on its own: "
               "python benchmarks/bench_<name>.py --help.")
    ap.add_argument("--quick", action="store_true",
                    help="smaller inputs (still 5 repeats; net's whole-system run skipped): "
                         "everything in under a minute, to check that the benchmarks run")
    ap.add_argument("--only", nargs="+", metavar="NAME", choices=list(BENCHMARKS),
                    help="run these benchmarks only (the others' rows in the JSON file stay)")
    ap.add_argument("--json", type=Path, default=HERE / "results.json", metavar="PATH",
                    help="results file (default benchmarks/results.json)")
    ap.add_argument("--markdown", type=Path, default=HERE / "results.md", metavar="PATH",
                    help="markdown table (default benchmarks/results.md)")
    ap.add_argument("--readme", action="store_true",
                    help="run nothing: rewrite the README's performance table from the JSON file")
    ap.add_argument("--readme-path", type=Path, default=ROOT / "README.md", metavar="PATH",
                    help="the README --readme rewrites (default: the repository's)")
    ap.add_argument("--list", action="store_true", help="list the benchmarks and exit")
    return ap


def run_one(name: str, quick: bool) -> list[Row]:
    """Rows of one benchmark, stamped with its name and the run's mode."""
    module = importlib.import_module(f"benchmarks.{BENCHMARKS[name]}")
    return [replace(row, benchmark=name, quick=quick) for row in module.run(quick)]


def run_all(names: Sequence[str], quick: bool) -> tuple[list[Row], list[str]]:
    """Rows of the benchmarks ``names`` and the names of those that failed."""
    rows: list[Row] = []
    failed: list[str] = []
    for name in names:
        print(f"\n== {name}", flush=True)
        start = time.perf_counter()
        try:
            new = run_one(name, quick)
        except Exception:  # one broken benchmark must not lose the others' rows
            traceback.print_exc()
            failed.append(name)
            continue
        for row in new:
            print_row(row)
        print(f"  ({time.perf_counter() - start:.1f} s)", flush=True)
        rows += new
    return rows, failed


def main(argv: Sequence[str] | None = None) -> int:
    args = parser().parse_args(argv)
    if args.list:
        print("\n".join(BENCHMARKS))
        return 0
    if args.readme:
        rows = load(args.json)
        name = args.json.resolve().relative_to(ROOT).as_posix() \
            if args.json.resolve().is_relative_to(ROOT) else args.json.name
        update_readme(args.readme_path, rows, name)
        if any(r.quick for r in rows):
            print("warning: some rows come from a --quick run (marked so in the table)",
                  file=sys.stderr)
        print(f"{args.readme_path}: performance table rewritten from {args.json} "
              f"({len(rows)} rows)")
        return 0
    names = args.only or list(BENCHMARKS)
    print(f"machine: {machine_text(machine())}; {now()}")
    if args.quick:
        print("--quick: smaller inputs (still 5 repeats), net's whole-system run skipped; "
              "the figures check that the benchmarks run and are not for quoting")
    start = time.perf_counter()
    rows, failed = run_all(names, args.quick)
    if args.json.exists():  # keep the rows of benchmarks not run (or failed), dated
        done = [n for n in names if n not in failed]
        rows = merge((r for r in load(args.json) if r.benchmark in BENCHMARKS), rows, done)
    write_json(args.json, rows)
    args.markdown.write_text(markdown(rows), encoding="utf-8")
    print(f"\n{len(rows)} rows written to {args.json} and {args.markdown} "
          f"in {time.perf_counter() - start:.0f} s")
    if failed:
        print(f"FAILED: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
