"""XOR games: the Tsirelson SDP beside toqito at 2 x 2 to 64 x 64, and the classical value
past brute force (exact at 32 x 32, a certified bracket at 64 x 64).

Quantum rows: median time of ``XorGame.quantum_value()`` per random game of
each size, beside toqito's ``XORGame.quantum_value()`` (cvxpy) on the same
games, the two timed in turn within each of 5 repeats. toqito pins an older
numpy, so it usually lives in an environment of its own: this same script
then runs there as a worker (``--toqito-worker``, which imports numpy and
toqito only), started once, reading the games from a file and timing what it
is asked over its standard input and output. Point the runner at that
environment's interpreter with the environment variable TOQITO_PYTHON, e.g.::

    python3 -m venv toqito-venv && toqito-venv/bin/pip install toqito
    TOQITO_PYTHON=toqito-venv/bin/python python -m benchmarks --only xor

Without it (and without toqito importable here) the rows say the baseline
is unavailable and why. Classical rows have no baseline (nothing else
computes these values); their notes carry the value, the bracket and the
target of issue #18.

Run on its own: ``python benchmarks/bench_xor.py [--quick]``.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

try:
    from benchmarks.common import Row, compare, print_row
except ModuleNotFoundError:  # run as a script (or as the toqito worker)
    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from common import Row, compare, print_row  # type: ignore[no-redef]

SIZES = (2, 8, 16, 32, 64)
GAMES = {2: 30, 8: 30, 16: 20, 32: 10, 64: 3}
QUICK_GAMES = {2: 10, 8: 10, 16: 5, 32: 3, 64: 1}
REPEATS = 5


def random_game_arrays(size: int, count: int, seed: int) -> list[tuple[list[list[float]], list[list[int]]]]:
    """``count`` random size x size games (prob uniform then normalised, pred uniform bits)."""
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(count):
        prob = rng.random((size, size))
        out.append(((prob / prob.sum()).tolist(), rng.integers(0, 2, (size, size)).tolist()))
    return out


# --- the toqito side ------------------------------------------------------------------

def toqito_worker(games_file: str) -> None:
    """Answer ``{"size": n}`` lines with the seconds and values of toqito on those games."""
    from toqito.nonlocal_games.xor_game import XORGame

    games = {int(k): v for k, v in json.loads(Path(games_file).read_text()).items()}
    print(json.dumps({"ready": True}), flush=True)
    for line in sys.stdin:
        size = int(json.loads(line)["size"])
        start = time.perf_counter()
        values = [float(XORGame(np.asarray(p), np.asarray(q)).quantum_value()) for p, q in games[size]]
        print(json.dumps({"seconds": time.perf_counter() - start, "values": values}), flush=True)


class Toqito:
    """toqito in-process when it imports here, else the worker in TOQITO_PYTHON's environment."""

    def __init__(self, games: dict[int, list[Any]]) -> None:
        self.why_not = ""
        self._proc: subprocess.Popen[str] | None = None
        self._local: Callable[[int], tuple[float, list[float]]] | None = None
        self._games = games
        try:
            from toqito.nonlocal_games.xor_game import XORGame  # noqa: F401
        except ImportError as exc:
            self._start_worker(exc)
        else:
            self._local = self._run_local

    def _start_worker(self, exc: ImportError) -> None:
        python = os.environ.get("TOQITO_PYTHON", "")
        if not python:
            self.why_not = (f"unavailable: toqito does not import here ({exc}; it pins an older numpy)"
                            " and TOQITO_PYTHON names no interpreter of an environment that has it")
            return
        with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as f:
            json.dump(self._games, f)
        self._file = f.name
        self._proc = subprocess.Popen([python, __file__, "--toqito-worker", f.name],
                                      stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self._proc.stdout is not None
        if not self._proc.stdout.readline().strip():
            self.why_not = f"unavailable: the toqito worker under {python} did not start"
            self.close()

    def _run_local(self, size: int) -> tuple[float, list[float]]:
        from toqito.nonlocal_games.xor_game import XORGame

        start = time.perf_counter()
        values = [float(XORGame(np.asarray(p), np.asarray(q)).quantum_value())
                  for p, q in self._games[size]]
        return time.perf_counter() - start, values

    @property
    def available(self) -> bool:
        return self._local is not None or self._proc is not None

    def solve(self, size: int) -> tuple[float, list[float]]:
        """(seconds for all games of this size, their values)."""
        if self._local is not None:
            return self._local(size)
        assert self._proc is not None and self._proc.stdin and self._proc.stdout
        self._proc.stdin.write(json.dumps({"size": size}) + "\n")
        self._proc.stdin.flush()
        reply = json.loads(self._proc.stdout.readline())
        return float(reply["seconds"]), list(reply["values"])

    def close(self) -> None:
        if self._proc is not None:
            assert self._proc.stdin is not None
            self._proc.stdin.close()
            self._proc.wait(timeout=30)
            self._proc = None
            Path(self._file).unlink(missing_ok=True)


# --- our side and the rows ---------------------------------------------------------------

def _ours(games: Sequence[tuple[Any, Any]]) -> tuple[float, list[float]]:
    from qnic.games import XorGame

    built = [XorGame(p, q) for p, q in games]  # a new game each time: values are cached on it
    start = time.perf_counter()
    values = [g.quantum_value().value for g in built]
    return time.perf_counter() - start, values


def quantum_rows(quick: bool) -> list[Row]:
    """One row per size: per-game time of ours and toqito's, 5 repeats taken in turn."""
    counts = QUICK_GAMES if quick else GAMES
    games = {size: random_game_arrays(size, counts[size], size) for size in SIZES}
    toqito = Toqito(games)
    rows = []
    try:
        for size in SIZES:
            _ours(games[size][:1])  # warm-up: the compiled kernels load
            if toqito.available:
                toqito.solve(size)
            ours, base, worst = [], [], 0.0
            for _ in range(REPEATS):
                seconds, values = _ours(games[size])
                ours.append(seconds / len(games[size]))
                if toqito.available:
                    seconds, theirs = toqito.solve(size)
                    base.append(seconds / len(games[size]))
                    worst = max(worst, max(abs(a - b) for a, b in zip(values, theirs)))
            notes = "issue #18 target: >= 10x toqito at every size"
            if base:
                notes += (f"; largest |ours - toqito| {worst:.1e} (toqito's solver, SCS, "
                          "stops at about 1e-6)")
            label = toqito.why_not or "toqito XORGame.quantum_value() (cvxpy) on the same games"
            rows.append(compare("xor", f"XorGame.quantum_value() (Tsirelson SDP, certified) per "
                                f"random {size} x {size} game, {len(games[size])} games per repeat",
                                "s", ours, label, base or None, higher_is_better=False,
                                notes=notes))
    finally:
        toqito.close()
    return rows


def classical_rows(quick: bool) -> list[Row]:
    """Exact classical value of a random 32 x 32 game; a certified bracket at 64 x 64."""
    from qnic.games import XorGame

    size, repeats = (26, 2) if quick else (32, 3)
    (p, q), = random_game_arrays(size, 1, 1000 + size)
    exact_times, value = [], 0.0
    for _ in range(repeats):
        game = XorGame(p, q)
        start = time.perf_counter()
        value = game.classical_value().value
        exact_times.append(time.perf_counter() - start)
    rows = [compare("xor", f"XorGame.classical_value() exact, random {size} x {size} game "
                    "(Gray-code search on all cores, pruned by local search)", "s", exact_times,
                    "none: no other tool computes it", higher_is_better=False,
                    notes=f"value {value:.10f}; issue #18 target: 32 x 32 in under 30 s on 2 cores")]
    big = 48 if quick else 64
    (p, q), = random_game_arrays(big, 1, 2000 + big)
    times, widths = [], []
    for _ in range(repeats):
        game = XorGame(p, q)
        start = time.perf_counter()
        bracket = game.classical_bracket()
        times.append(time.perf_counter() - start)
        widths.append(bracket.width)
    rows.append(compare("xor", f"XorGame.classical_bracket(), random {big} x {big} game "
                        "(local search, 2000 starts; SDP with triangle cuts, 200 rounds)", "s", times,
                        "none: no other tool computes it", higher_is_better=False,
                        notes=f"bracket [{bracket.lower:.6f}, {bracket.upper:.6f}], width "
                              f"{widths[-1]:.4f} (the Tsirelson bound alone: "
                              f"{game.quantum_value().upper_bound - bracket.lower:.4f}); "
                              "issue #18 target: width <= 0.01"))
    return rows


def run(quick: bool) -> list[Row]:
    """The runner's entry point: quantum rows at 2..64, then the classical rows."""
    return quantum_rows(quick) + classical_rows(quick)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="fewer games, smaller classical sizes")
    ap.add_argument("--toqito-worker", metavar="GAMES_FILE",
                    help="(internal) run as toqito's worker on these games")
    args = ap.parse_args()
    if args.toqito_worker:
        toqito_worker(args.toqito_worker)
        return
    for row in run(args.quick):
        print_row(row)


if __name__ == "__main__":
    main()
