"""Heralding pairs across two nodes' clocks, once per block (docs/network.md).

Each balancer node timestamps its detector's clicks on its own clock, which
runs with an offset and a drift (ppm) against its partner's. Once per block
the two nodes' click lists reach the herald, which finds which clicks belong
to one pair without any per-decision message:

1. Without a lock yet, it cuts the block into slices and, in each, finds the
   peak of the cross-correlation of the two lists over the whole search
   range (:func:`qnic.coincidence.cross_correlation`, coarse bins wider than
   the drift's smear within a slice); a straight line through the slices'
   peaks gives offset and drift.
2. With a line (the last block's, or step 1's), it maps the partner's clicks
   onto the first node's clock, matches them in a wide window
   (:func:`qnic.coincidence.find_coincidences`), fits the line again to the
   matched pairs by least squares, and matches once more in the coincidence
   window: those pairs are the block's heralded pairs.

The line carries from block to block (tracking): a block is searched only
around where the last line predicts, and over the whole range again when
that finds nothing (the lock was lost).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qnic.coincidence import cross_correlation, find_coincidences

Int64Array = NDArray[np.int64]


@dataclass(frozen=True)
class ClockLine:
    """The partner's clock against the first node's: ``t_b = t_a + offset + drift (t_a - ref)``.

    Attributes:
        offset_ps: t_b - t_a at ``t_a = ref_ps``.
        drift: relative rate difference (1e-6 is 1 ppm).
        ref_ps: the reference time on the first node's clock.
        pairs: matched pairs the line was fitted to (0 for a prior).
        residual_ps: RMS of the matched pairs' differences about the line.
    """

    offset_ps: float
    drift: float
    ref_ps: float
    pairs: int = 0
    residual_ps: float = 0.0

    def at(self, t_a_ps: float) -> float:
        """t_b - t_a expected at ``t_a_ps``."""
        return self.offset_ps + self.drift * (t_a_ps - self.ref_ps)

    def to_a(self, t_b: Int64Array) -> Int64Array:
        """The partner's timestamps on the first node's clock (int64, order kept)."""
        t = (t_b.astype(np.float64) - self.offset_ps + self.drift * self.ref_ps) / (1.0 + self.drift)
        return np.rint(t).astype(np.int64)


def _fit(t_a: NDArray[np.float64], diff: NDArray[np.float64], ref: float) -> ClockLine:
    if t_a.size >= 3 and np.ptp(t_a) > 0:
        drift, offset = np.polyfit(t_a - ref, diff, 1)
    else:
        drift, offset = 0.0, float(np.median(diff))
    residual = diff - (offset + drift * (t_a - ref))
    return ClockLine(float(offset), float(drift), ref, int(t_a.size),
                     float(np.sqrt(np.mean(residual ** 2))) if residual.size else 0.0)


def coarse_line(t_a: Int64Array, t_b: Int64Array, search_ps: int, slices: int = 8,
                bin_ps: int = 200_000) -> ClockLine | None:
    """Offset and drift from the cross-correlation peaks of ``slices`` slices of the block.

    Args:
        t_a: the first node's clicks (ps, sorted).
        t_b: the partner's clicks (ps, its own clock, sorted).
        search_ps: the offset lies within +-search_ps.
        slices: slices of the block (each short enough that drift smears its
            peak over less than a bin).
        bin_ps: coarse bin width.

    Returns:
        The line, or None when no slice shows a peak above its background.
    """
    if t_a.size < 2 or t_b.size < 2:
        return None
    edges = np.linspace(t_a[0], t_a[-1] + 1, slices + 1)
    mids, peaks = [], []
    for lo, hi in zip(edges[:-1], edges[1:], strict=True):
        a = t_a[(t_a >= lo) & (t_a < hi)]
        if a.size < 5:
            continue
        centers, counts = cross_correlation(a, t_b, search_ps, bin_ps)
        k = int(np.argmax(counts))
        background = float(np.median(counts))
        if counts[k] < max(5.0, background + 5.0 * np.sqrt(background + 1.0)):
            continue  # no peak in this slice
        # refine within the peak's bins: the median difference of the pairs there
        i_a, i_b = find_coincidences(a, t_b, bin_ps, int(round(centers[k])))
        if i_a.size:
            mids.append(float(np.mean(a[i_a])))
            peaks.append(float(np.median(t_b[i_b] - a[i_a])))
    if not mids:
        return None
    m, p = np.asarray(mids), np.asarray(peaks)
    return _fit(m, p, float(t_a[0]))


def herald_block(t_a: Int64Array, t_b: Int64Array, window_ps: int, prior: ClockLine | None,
                 search_ps: int, wide_ps: int = 20_000) -> tuple[Int64Array, Int64Array, ClockLine | None]:
    """The block's heralded pairs and the clock line they give.

    Args:
        t_a: the first node's clicks (ps, sorted int64).
        t_b: the partner's clicks (ps, its own clock, sorted int64).
        window_ps: the coincidence window (half-width).
        prior: the line from the last block (None: search from scratch).
        search_ps: the offset's search range without a prior.
        wide_ps: the window of the first match, about the prior line.

    Returns:
        ``(i_a, i_b, line)``: indices of the matched clicks (ordered by i_a)
        and the line fitted to them; empty arrays and the prior when nothing
        matched.
    """
    empty = np.zeros(0, np.int64)
    if t_a.size == 0 or t_b.size == 0:
        return empty, empty, prior
    line = _refine(t_a, t_b, window_ps, wide_ps, prior) if prior is not None else None
    if line is None:  # no lock yet, or the prior lost it: search the whole range again
        line = _refine(t_a, t_b, window_ps, wide_ps, coarse_line(t_a, t_b, search_ps))
    if line is None:
        return empty, empty, prior
    i_a, i_b = find_coincidences(t_a, line.to_a(t_b), window_ps)
    return i_a, i_b, line


def _refine(t_a: Int64Array, t_b: Int64Array, window_ps: int, wide_ps: int,
            line: ClockLine | None) -> ClockLine | None:
    """Fit the line again to the pairs it matches, in a wide then a narrow window
    (None when it matches fewer than 3 pairs: it has lost the lock)."""
    if line is None:
        return None
    for window in (max(wide_ps, 4 * window_ps), 4 * window_ps):
        i_a, i_b = find_coincidences(t_a, line.to_a(t_b), window)
        if i_a.size < 3:
            return None
        ta = t_a[i_a].astype(np.float64)
        line = _fit(ta, t_b[i_b].astype(np.float64) - ta, float(t_a[0]))
    return line
