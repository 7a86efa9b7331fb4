"""Benchmark: start-up wall time of the ``qnic`` command against the interpreter's own.

Run on demand (not part of the tests)::

    python benchmarks/bench_startup.py [--repeats 5]

Times, as subprocesses in turn within each repeat: ``qnic --help``,
``qnic chsh --help`` (the ``qnic`` script installed beside this Python, or
``python -m qnic.cli`` without one) and, as the floor any Python command
stands on, ``python -c pass``. Target: under 0.5 s. The ratio of a row is
the floor's time over ours, so it stays below 1: how close to the floor.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
from pathlib import Path

try:
    from benchmarks.common import Row, compare, interleaved, print_row
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_startup.py
    from common import Row, compare, interleaved, print_row  # type: ignore[no-redef]

TARGET_S = 0.5


def qnic_command() -> list[str]:
    """The installed ``qnic`` script of this environment, else ``python -m qnic.cli``."""
    script = Path(sys.executable).with_name("qnic")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "qnic.cli"]


def _call(argv: list[str]) -> None:
    subprocess.run(argv, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def measure(repeats: int) -> list[Row]:
    """Both commands against the bare interpreter, interleaved."""
    qnic = qnic_command()
    floor = [sys.executable, "-c", "pass"]
    seconds = interleaved({
        "help": lambda: _call([*qnic, "--help"]),
        "chsh": lambda: _call([*qnic, "chsh", "--help"]),
        "floor": lambda: _call(floor),
    }, repeats)
    shown = "qnic" if len(qnic) == 1 else "python -m qnic.cli"
    rows = []
    for key, args in (("help", "--help"), ("chsh", "chsh --help")):
        ours = statistics.median(seconds[key])
        rows.append(compare(
            "startup", f"wall time of `{shown} {args}` (subprocess)", "s", seconds[key],
            "`python -c pass`: the interpreter's start, the floor", seconds["floor"],
            higher_is_better=False,
            notes=f"target < {TARGET_S:g} s: {'met' if ours < TARGET_S else 'NOT met'}; the "
                  "ratio is the floor's time over ours (< 1 by nature)"))
    return rows


def run(quick: bool) -> list[Row]:
    """Median of 5 interleaved repeats (the same with ``quick``: it is cheap)."""
    return measure(5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--repeats", type=int, default=5)
    args = ap.parse_args()
    for row in measure(args.repeats):
        print_row(row)


if __name__ == "__main__":
    main()
