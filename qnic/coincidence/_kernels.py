"""Small numba kernels: order check and cross-correlation histogram.

They take contiguous int64 arrays of timestamps in ps and are compiled with
``cache=True`` so the compilation cost is paid once per machine. The matching
kernel lives in :mod:`qnic.coincidence._matching_kernel`.
"""

from __future__ import annotations

import numpy as np

from qnic.instruments.kernel_cache import cached_njit


@cached_njit()
def first_decrease(t: np.ndarray) -> int:
    """Return the first index k with ``t[k] < t[k - 1]``, or -1 if sorted.

    Args:
        t: int64 array, shape (n,).

    Returns:
        Index of the first decrease, or -1.
    """
    for k in range(1, t.size):
        if t[k] < t[k - 1]:
            return k
    return -1


@cached_njit()
def correlation_histogram(
    t_a: np.ndarray, t_b: np.ndarray, range_ps: int, bin_ps: int, n_bins: int
) -> np.ndarray:
    """Histogram all differences ``t_b[j] - t_a[i]`` in ``[-range, -range + n_bins * bin)``.

    Bin m holds the differences ``-range + m * bin`` to ``-range + (m + 1) *
    bin - 1``. Linear in the number of pairs in range (two-pointer scan).

    Args:
        t_a: int64 timestamps in ps, sorted, shape (n_a,).
        t_b: int64 timestamps in ps, sorted, shape (n_b,).
        range_ps: Start of the histogram is ``-range_ps`` (ps, >= 0).
        bin_ps: Bin width in ps (> 0).
        n_bins: Number of bins (>= 1).

    Returns:
        Counts per bin, int64, shape (n_bins,).
    """
    counts = np.zeros(n_bins, np.int64)
    n_b = t_b.size
    span = n_bins * bin_ps
    lo = 0
    for i in range(t_a.size):
        low = t_a[i] - range_ps
        while lo < n_b and t_b[lo] < low:
            lo += 1
        j = lo
        while j < n_b and t_b[j] - low < span:
            counts[(t_b[j] - low) // bin_ps] += 1
            j += 1
    return counts
