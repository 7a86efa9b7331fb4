"""Speed of the Tsirelson SDP: median time of XorGame.quantum_value() on random
10 x 10 games, beside toqito's xor-game value on the same games when toqito is
importable (it pins old numpy, so it lives in a separate environment: run this
script there too, with --games-file to share the games, and compare).

Run on demand: ``python benchmarks/bench_xor.py [--games 30] [--seed 0]``.
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from qnic.games import XorGame


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
