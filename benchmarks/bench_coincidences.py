"""Benchmark: find_coincidences against numpy searchsorted and a plain numba loop.

Run on demand (not part of the tests)::

    python benchmarks/bench_coincidences.py [--tags 10000000] [--repeats 5]

The runner (``python -m benchmarks --only matching``) times two data sets:

- SPDC-like: 4e6 pairs and 1.5e6 unpaired clicks per stream over 10 s
  (:mod:`benchmarks.data`: jitter 100 ps RMS, stream B 3 ns late), 1.1e7
  tags in all;
- 10 % paired: two streams of 1e7 tags each (this script's default): 10 s,
  ~10 % of each stream's events from pairs (jitter 100 ps RMS per detector,
  B 3 ns late), the rest uncorrelated.

Window 1 ns. Ours: ``find_coincidences(..., threads=1)`` and ``threads=2``
(asserted equal, so a wrong answer cannot look fast). Baselines, in the same
process, interleaved with ours: the plain numba two-pointer loop a user
would write (greedy first match within the window, :func:`plain_loop`), and
the usual numpy idiom, ``np.searchsorted`` of every A event in B and the
nearer of the two neighbours kept when within the window. Neither enforces
the nearest-first one-to-one rule of find_coincidences (the searchsorted
one lets a B event serve two A events), so both do less. Rates are tags per
second of both streams together, after a warm-up call (numba compilation or
cache load excluded).
"""

from __future__ import annotations

import argparse

import numba
import numpy as np
from numpy.typing import NDArray

from qnic.coincidence import find_coincidences

try:
    from benchmarks.common import Row, compare, interleaved, print_row, rates
    from benchmarks.data import spdc_arms
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_coincidences.py
    from common import Row, compare, interleaved, print_row, rates  # type: ignore[no-redef]
    from data import spdc_arms  # type: ignore[no-redef]

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


@numba.njit(cache=True)
def plain_loop(t_a: NDArray[np.int64], t_b: NDArray[np.int64], window_ps: int,
               delay_ps: int) -> Pairs:
    """Greedy first match: each A event takes the first unused B event within the window."""
    i_a = np.empty(min(t_a.size, t_b.size), np.int64)
    i_b = np.empty_like(i_a)
    n, j = 0, 0
    for i in range(t_a.size):
        t = t_a[i] + delay_ps
        while j < t_b.size and t_b[j] < t - window_ps:
            j += 1
        if j < t_b.size and t_b[j] <= t + window_ps:
            i_a[n], i_b[n] = i, j
            n += 1
            j += 1
    return i_a[:n], i_b[:n]


def measure(label: str, t_a: NDArray[np.int64], t_b: NDArray[np.int64],
            repeats: int) -> list[Row]:
    """Rows of ours (1 and 2 threads) against both baselines on one data set."""
    one = find_coincidences(t_a, t_b, WINDOW_PS, DELAY_PS, threads=1)
    two = find_coincidences(t_a, t_b, WINDOW_PS, DELAY_PS, threads=2)
    assert all(np.array_equal(x, y) for x, y in zip(one, two)), "threads=2 differs from threads=1"
    loop_pairs = plain_loop(t_a, t_b, WINDOW_PS, DELAY_PS)[0].size
    seconds = interleaved({
        "threads=1": lambda: find_coincidences(t_a, t_b, WINDOW_PS, DELAY_PS, threads=1),
        "threads=2": lambda: find_coincidences(t_a, t_b, WINDOW_PS, DELAY_PS, threads=2),
        "loop": lambda: plain_loop(t_a, t_b, WINDOW_PS, DELAY_PS),
        "searchsorted": lambda: searchsorted_baseline(t_a, t_b, WINDOW_PS, DELAY_PS),
    }, repeats)
    r = {k: rates(t_a.size + t_b.size, v) for k, v in seconds.items()}
    what = (f"find_coincidences, {label}: {t_a.size:,} + {t_b.size:,} tags, window "
            f"{WINDOW_PS} ps, B {DELAY_PS} ps late")
    pairs = f"pairs: ours {one[0].size:,}, plain loop {loop_pairs:,}"
    loop = "plain numba two-pointer loop, greedy first match, 1 thread"
    return [
        compare("matching", f"{what}; threads=1", "tags/s", r["threads=1"], loop, r["loop"],
                higher_is_better=True,
                notes=f"{pairs} (the loop takes the first B event in the window, not the "
                      "nearest, and resolves no clusters); threads=2 gives the same pairs"),
        compare("matching", f"{what}; threads=2", "tags/s", r["threads=2"], loop, r["loop"],
                higher_is_better=True, notes="2 threads against the 1-thread loop"),
        compare("matching", f"{what}; threads=1", "tags/s", r["threads=1"],
                "numpy searchsorted nearest neighbour (not one-to-one)", r["searchsorted"],
                higher_is_better=True),
    ]


def run(quick: bool) -> list[Row]:
    """Both data sets (a fifth of the tags with ``quick``), 5 interleaved repeats."""
    scale = 0.2 if quick else 1.0
    (t_a, _), (t_b, _) = spdc_arms(round(11_000_000 * scale), seed=7)
    rows = measure("SPDC-like", t_a, t_b, 5)
    del t_a, t_b
    t_a, t_b = make_streams(round(10_000_000 * scale))
    return rows + measure("10% paired", t_a, t_b, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tags", type=int, default=10_000_000, help="tags per stream")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    t_a, t_b = make_streams(args.tags)
    for row in measure("10% paired", t_a, t_b, args.repeats):
        print_row(row)


if __name__ == "__main__":
    main()
