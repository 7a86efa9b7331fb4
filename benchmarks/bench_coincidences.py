"""Benchmark: find_coincidences against a plain numpy searchsorted matcher.

Run on demand (not part of the tests)::

    python benchmarks/bench_coincidences.py [--tags 10000000] [--repeats 5]

Two streams of ``--tags`` timestamps each, as a bench would record them: 10 s
of acquisition, ~10 % of the events of each stream belong to a photon pair
(Gaussian jitter 100 ps RMS per detector, arm B 3 ns later), the rest are
uncorrelated (background, dark counts, partners lost). Window 1 ns.

The baseline is the usual numpy idiom: ``np.searchsorted`` of every A event
in B and the nearer of the two neighbours, kept when within the window. It
does not enforce one-to-one matching (a B event may serve two A events), so
it does less than find_coincidences. Both run in this process after a warm-up
call (numba compilation or cache load excluded); the best of the repeats is
reported, as tags per second of both streams together.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np
from numpy.typing import NDArray

from qnic.coincidence import find_coincidences, find_coincidences_chunked

DURATION_S = 10.0
PAIR_FRACTION = 0.10
JITTER_PS = 100.0
DELAY_PS = 3_000
WINDOW_PS = 1_000

Pairs = tuple[NDArray[np.int64], NDArray[np.int64]]


def make_streams(n_tags: int, seed: int = 12345) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """Two sorted int64 streams of ``n_tags`` each (see the module docstring)."""
    rng = np.random.default_rng(seed)
    span_ps = int(DURATION_S * 1e12)
    n_pairs = int(PAIR_FRACTION * n_tags)
    emission = rng.integers(0, span_ps, size=n_pairs, dtype=np.int64)

    def one_arm(delay_ps: int) -> NDArray[np.int64]:
        jitter = np.rint(rng.normal(0.0, JITTER_PS, n_pairs)).astype(np.int64)
        background = rng.integers(0, span_ps, size=n_tags - n_pairs, dtype=np.int64)
        stream = np.concatenate((emission + delay_ps + jitter, background))
        stream.sort()
        return stream

    return one_arm(0), one_arm(DELAY_PS)


def searchsorted_baseline(
    t_a: NDArray[np.int64], t_b: NDArray[np.int64], window_ps: int, delay_ps: int
) -> Pairs:
    """Nearest B neighbour of each A event via np.searchsorted (not one-to-one)."""
    target = t_a + delay_ps
    idx = np.searchsorted(t_b, target)
    right = np.minimum(idx, t_b.size - 1)
    left = np.maximum(idx - 1, 0)
    d_right = np.abs(t_b[right] - target)
    d_left = np.abs(t_b[left] - target)
    nearest = np.where(d_right < d_left, right, left)
    ok = np.minimum(d_left, d_right) <= window_ps
    return np.flatnonzero(ok), nearest[ok]


def best_time(func: Callable[[], Pairs], repeats: int) -> tuple[float, Pairs]:
    """Best wall time of ``repeats`` calls after one warm-up call."""
    result = func()
    best = float("inf")
    for _ in range(repeats):
        start = time.perf_counter()
        result = func()
        best = min(best, time.perf_counter() - start)
    return best, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=10_000_000, help="tags per stream")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()

    t_a, t_b = make_streams(args.tags)
    n_total = t_a.size + t_b.size
    print(f"{t_a.size:,} + {t_b.size:,} tags, window {WINDOW_PS} ps, delay {DELAY_PS} ps")

    runs = {
        "numpy searchsorted baseline": lambda: searchsorted_baseline(t_a, t_b, WINDOW_PS, DELAY_PS),
        "find_coincidences": lambda: find_coincidences(t_a, t_b, WINDOW_PS, DELAY_PS),
        "find_coincidences_chunked (2^20)": lambda: find_coincidences_chunked(
            t_a, t_b, WINDOW_PS, DELAY_PS
        ),
    }
    rates: dict[str, float] = {}
    for name, func in runs.items():
        seconds, (i_a, _) = best_time(func, args.repeats)
        rates[name] = n_total / seconds
        print(f"{name:34s} {seconds * 1e3:8.1f} ms  {rates[name] / 1e6:7.1f} M tags/s  "
              f"{i_a.size:,} pairs")
    ratio = rates["find_coincidences"] / rates["numpy searchsorted baseline"]
    print(f"find_coincidences / baseline: {ratio:.2f}x (target >= 3x, aim 200 M tags/s)")


if __name__ == "__main__":
    main()
