"""The nearest-first rule on a short stretch, in plain loops (docs/coincidences.md).

:func:`greedy_pairs` resolves one cluster or run: it lists the candidate
pairs of two short sorted arrays (two pointers), orders them by
``(|dt|, i, j)`` and accepts a pair when both its ends are free. Everything
lives in the caller's scratch array and the code is loops over integers
only: it compiles in a fraction of the time numpy's sorts take to compile,
which matters because the first run after an install compiles every kernel
it meets (docs/architecture.md).
"""

from __future__ import annotations

import numpy as np

from qnic.instruments.kernel_cache import cached_njit


@cached_njit()
def candidates(ta: np.ndarray, tb: np.ndarray, window: int, shift: int) -> int:
    """The number of candidate pairs of :func:`greedy_pairs` (two pointers)."""
    n = 0
    lo = 0
    for i in range(ta.size):
        while lo < tb.size and tb[lo] - shift < ta[i] - window:
            lo += 1
        j = lo
        while j < tb.size and tb[j] - shift <= ta[i] + window:
            n += 1
            j += 1
    return n


@cached_njit()
def scratch_size(n_a: int, n_b: int, n_candidates: int) -> int:
    """Entries of scratch :func:`greedy_pairs` needs."""
    return 4 * n_candidates + n_a + n_b


@cached_njit()
def before(x: np.ndarray, y: np.ndarray, z: np.ndarray, p: int, q: int) -> bool:
    """Entry p comes before entry q in (x, y, z) order."""
    if x[p] != x[q]:
        return x[p] < x[q]
    if y[p] != y[q]:
        return y[p] < y[q]
    return z[p] < z[q]


@cached_njit()
def shell_sort(order: np.ndarray, n: int, x: np.ndarray, y: np.ndarray, z: np.ndarray) -> None:
    """Sort ``order[:n]`` (indices) by (x, y, z): Shell sort with Ciura's gaps,
    short code that compiles fast and stays far from quadratic."""
    for gap in (701, 301, 132, 57, 23, 10, 4, 1):
        for p in range(gap, n):
            cur = order[p]
            q = p
            while q >= gap and before(x, y, z, cur, order[q - gap]):
                order[q] = order[q - gap]
                q -= gap
            order[q] = cur


@cached_njit()
def greedy_pairs(
    ta: np.ndarray,
    tb: np.ndarray,
    window: int,
    shift: int,
    pa: np.ndarray,
    pb: np.ndarray,
    work: np.ndarray,
) -> int:
    """Nearest-first matching of two short sorted arrays.

    Args:
        ta: int64 ps (n_a,), sorted.
        tb: int64 ps (n_b,), sorted; (i, j) is a candidate when
            ``|tb[j] - shift - ta[i]| <= window``.
        window: Half-width in ps (>= 0).
        shift: Shift of ``tb`` in ps.
        pa, pb: int64, at least ``min(n_a, n_b)``: the pairs, in the order
            they were accepted (nearest first).
        work: int64 scratch of at least ``scratch_size(n_a, n_b,
            candidates(ta, tb, window, shift))``.

    Returns:
        The number of pairs written.
    """
    n_a = ta.size
    n_b = tb.size
    cap = (work.size - n_a - n_b) // 4
    d = work[:cap]
    ci = work[cap:2 * cap]
    cj = work[2 * cap:3 * cap]
    order = work[3 * cap:4 * cap]
    used_a = work[4 * cap:4 * cap + n_a]
    used_b = work[4 * cap + n_a:4 * cap + n_a + n_b]
    # candidates in (i, j) order
    n = 0
    lo = 0
    for i in range(n_a):
        while lo < n_b and tb[lo] - shift < ta[i] - window:
            lo += 1
        j = lo
        while j < n_b and tb[j] - shift <= ta[i] + window:
            d[n] = abs(tb[j] - shift - ta[i])
            ci[n] = i
            cj[n] = j
            order[n] = n
            n += 1
            j += 1
    shell_sort(order, n, d, ci, cj)
    for i in range(n_a):
        used_a[i] = 0
    for j in range(n_b):
        used_b[j] = 0
    n_pairs = 0
    for p in range(n):
        k = order[p]
        i = ci[k]
        j = cj[k]
        if used_a[i] == 0 and used_b[j] == 0:
            used_a[i] = 1
            used_b[j] = 1
            pa[n_pairs] = i
            pb[n_pairs] = j
            n_pairs += 1
    return n_pairs
