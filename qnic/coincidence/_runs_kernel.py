"""Numba kernels of one-shot matching, on one thread or on all of them.

:func:`match_range` walks stream A with a pointer into stream B as the
plain two-pointer loop does, and keeps the nearest-first rule exact: an A
event whose lowest candidate is its only one, and which the next A event
cannot reach, forms a cluster of its own (the previous A event could not
reach it either, or it would have left the fast path) and is paired at once;
anything else is grown into its whole cluster (connected component of the
candidate graph) and resolved by the general resolver of
:mod:`qnic.coincidence._matching_kernel`. At SPDC rates almost every A event
takes the fast path, whose two extra tests are nearly always false, so the
branch predictor learns them.

:func:`match_parallel` cuts both streams where no candidate pair crosses
(a gap wider than the window between A's and B's events, on A's axis) into
blocks of about equal size, and matches the blocks on all threads
(``numba.prange``). No pair spans a cut, so the blocks' pairs joined in order
are exactly the one-thread result.
"""

from __future__ import annotations

import numba
import numpy as np

from qnic.coincidence._matching_kernel import _resolve_cluster
from qnic.instruments.kernel_cache import cached_njit

# How far past its target a block cut may move looking for a gap; beyond
# it (a stream with no gap wider than the window) the blocks are merged.
_CUT_TRIES = 100_000


@cached_njit()
def match_range(
    t_a: np.ndarray,
    t_b: np.ndarray,
    window: int,
    delay: int,
    a0: int,
    a1: int,
    b0: int,
    b1: int,
    out_a: np.ndarray,
    out_b: np.ndarray,
    n: int,
) -> int:
    """Match A events ``[a0, a1)`` with B events ``[b0, b1)``.

    No candidate pair may join an event inside the ranges with one outside.

    Args:
        t_a: int64 ps, shape (n_a,), sorted: stream A.
        t_b: int64 ps, shape (n_b,), sorted: stream B; (i, j) is a candidate
            when ``|t_b[j] - delay - t_a[i]| <= window``.
        window: Coincidence half-width in ps (>= 0).
        delay: Delay of stream B in ps.
        a0, a1, b0, b1: The index ranges.
        out_a, out_b: int64 buffers, pairs written from index ``n``.
        n: First index of the buffers to write.

    Returns:
        The index after the last pair written (pairs in increasing A index).
    """
    i = a0
    j = b0
    while i < a1:
        c = t_a[i] + delay
        low = c - window
        while j < b1 and t_b[j] < low:
            j += 1
        if j >= b1:
            break
        tb = t_b[j]
        if tb > c + window:
            i += 1
            continue
        if (j + 1 >= b1 or t_b[j + 1] > c + window) and (
            i + 1 >= a1 or t_a[i + 1] + delay - window > tb
        ):
            out_a[n] = i
            out_b[n] = j
            n += 1
            i += 1
            j += 1
            continue
        # Grow the cluster: B events the last A event reaches, A events that
        # reach the last B event, until neither grows.
        ea = i + 1
        eb = j + 1
        grown = True
        while grown:
            grown = False
            while eb < b1 and t_b[eb] <= t_a[ea - 1] + delay + window:
                eb += 1
                grown = True
            while ea < a1 and t_a[ea] + delay - window <= t_b[eb - 1]:
                ea += 1
                grown = True
        n = _resolve_cluster(t_a, t_b, window, delay, i, ea, j, eb, out_a, out_b, n)
        i = ea
        j = eb
    return n


@cached_njit()
def match_one(t_a: np.ndarray, t_b: np.ndarray, window: int, delay: int
              ) -> tuple[np.ndarray, np.ndarray]:
    """One-thread matching of two whole sorted streams: ``(i_a, i_b)``."""
    size = min(t_a.size, t_b.size)
    out_a = np.empty(size, np.int64)
    out_b = np.empty(size, np.int64)
    n = match_range(t_a, t_b, window, delay, 0, t_a.size, 0, t_b.size, out_a, out_b, 0)
    return out_a[:n], out_b[:n]


@cached_njit()
def _cut(t_a: np.ndarray, t_b: np.ndarray, window: int, delay: int, i: int, lo_a: int,
         lo_b: int) -> tuple[int, int]:
    """A cut ``(i, j)`` at or after A index ``i``: no pair joins A[<i] or B[<j]
    with A[>=i] or B[>=j]; ``(-1, -1)`` if none within the tries."""
    n_a = t_a.size
    n_b = t_b.size
    for _ in range(_CUT_TRIES):
        if i >= n_a:
            return -1, -1
        j = lo_b + np.searchsorted(t_b[lo_b:], t_a[i] + delay)
        left_ok = i == lo_a or j >= n_b or t_b[j] - delay - t_a[i - 1] > window
        right_ok = j == lo_b or t_a[i] - (t_b[j - 1] - delay) > window
        if i > lo_a and left_ok and right_ok:
            return i, j
        i += 1
    return -1, -1


@cached_njit(parallel=True)
def match_parallel(t_a: np.ndarray, t_b: np.ndarray, window: int, delay: int, blocks: int
                   ) -> tuple[np.ndarray, np.ndarray]:
    """:func:`match_one` with the streams cut into ``blocks`` blocks on all threads."""
    n_a = t_a.size
    cuts_a = np.zeros(blocks + 1, np.int64)
    cuts_b = np.zeros(blocks + 1, np.int64)
    k = 1
    for blk in range(1, blocks):
        target = max(n_a * blk // blocks, cuts_a[k - 1] + 1)
        i, j = _cut(t_a, t_b, window, delay, target, cuts_a[k - 1], cuts_b[k - 1])
        if i < 0:
            break
        cuts_a[k] = i
        cuts_b[k] = j
        k += 1
    cuts_a[k] = n_a
    cuts_b[k] = t_b.size
    # Block m writes its pairs from out index cuts_a[m] (at most one per A event).
    out_a = np.empty(n_a, np.int64)
    out_b = np.empty(n_a, np.int64)
    ends = np.zeros(k, np.int64)
    for m in numba.prange(k):
        ends[m] = match_range(t_a, t_b, window, delay, cuts_a[m], cuts_a[m + 1], cuts_b[m],
                              cuts_b[m + 1], out_a, out_b, cuts_a[m])
    # Close the gaps between the blocks' pairs in place (each moves down), so
    # that no second array is allocated and touched.
    pos = ends[0]
    for m in range(1, k):
        for q in range(cuts_a[m], ends[m]):
            out_a[pos] = out_a[q]
            out_b[pos] = out_b[q]
            pos += 1
    return out_a[:pos], out_b[:pos]
