"""Speed of the Tsirelson SDP: median time of XorGame.quantum_value() on random
10 x 10 games, beside toqito's xor-game value on the same games when toqito is
importable (it pins old numpy, so it lives in a separate environment: run this
script there too, with --games-file to share the games, and compare).

Run on demand: ``python benchmarks/bench_xor.py [--games 30] [--seed 0]``.

The runner (``python -m benchmarks --only xor``) times all the games once
per repeat, ours and toqito's in turn (5 repeats), and reports the time per
game; without toqito its row says the baseline is unavailable and why.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from qnic.games import XorGame

try:
    from benchmarks.common import Row, compare, interleaved
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_xor.py
    from common import Row, compare, interleaved  # type: ignore[no-redef]


def random_games(count: int, seed: int, size: int = 10) -> list[XorGame]:
    rng = np.random.default_rng(seed)
    games = []
    for _ in range(count):
        prob = rng.random((size, size))
        games.append(XorGame(prob / prob.sum(), rng.integers(0, 2, (size, size))))
    return games


def time_ours(games: list[XorGame]) -> tuple[float, list[float]]:
    games[0].quantum_value()  # warm-up
    times, values = [], []
    for g in games:
        t0 = time.perf_counter()
        values.append(g.quantum_value().value)
        times.append(time.perf_counter() - t0)
    return statistics.median(times), values


def time_toqito(games: list[XorGame]) -> tuple[float, list[float]] | None:
    try:
        from toqito.nonlocal_games.xor_game import XORGame as ToqitoXor
    except ImportError:
        return None
    times, values = [], []
    for g in games:
        t0 = time.perf_counter()
        values.append(float(ToqitoXor(np.asarray(g.prob), np.asarray(g.pred)).quantum_value()))
        times.append(time.perf_counter() - t0)
    return statistics.median(times), values


def run(quick: bool) -> list[Row]:
    """30 random 10 x 10 games (10 with ``quick``), 5 interleaved repeats."""
    games = random_games(10 if quick else 30, 0)
    # a new game each call: the value is cached on the game
    calls = {"ours": lambda: [XorGame(g.prob, g.pred).quantum_value() for g in games]}
    try:
        from toqito.nonlocal_games.xor_game import XORGame as ToqitoXor
    except ImportError as exc:
        base = (f"unavailable: toqito does not import here ({exc}; it pins an older numpy, so "
                "it lives in an environment of its own: run bench_xor.py there)")
        reference = ("toqito XORGame.quantum_value() run by hand in its own environment on 20 "
                     "such games: 29-38 ms median per game")
    else:
        reference = ""
        calls["toqito"] = lambda: [ToqitoXor(np.asarray(g.prob), np.asarray(g.pred))
                                   .quantum_value() for g in games]
        base = "toqito XORGame.quantum_value() on the same games"
    seconds = interleaved(calls, 5)
    per_game = {k: [s / len(games) for s in v] for k, v in seconds.items()}
    return [compare("xor", f"XorGame.quantum_value() (Tsirelson SDP, certified) per random "
                    f"10 x 10 game, {len(games)} games per repeat", "s", per_game["ours"], base,
                    per_game.get("toqito"), higher_is_better=False, reference=reference)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--games", type=int, default=30)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--json-out", metavar="FILE", help="write times and values here")
    args = ap.parse_args()
    games = random_games(args.games, args.seed)
    ours, values = time_ours(games)
    print(f"qnic-bench quantum_value(): median {ours * 1e3:.2f} ms per 10x10 game ({args.games} games)")
    result = {"ours_median_s": ours, "ours_values": values}
    other = time_toqito(games)
    if other is None:
        print("toqito not importable here: run this script in toqito's environment and compare")
    else:
        t, v = other
        worst = max(abs(a - b) for a, b in zip(values, v))
        print(f"toqito XORGame.quantum_value(): median {t * 1e3:.2f} ms; ours is {t / ours:.1f}x "
              f"faster; largest value difference {worst:.1e}")
        result.update({"toqito_median_s": t, "toqito_values": v})
    if args.json_out:
        Path(args.json_out).write_text(json.dumps(result))


if __name__ == "__main__":
    main()
