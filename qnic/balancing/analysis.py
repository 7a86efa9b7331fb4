"""Pure analysis of the load-balancing study: knees and confidence intervals.

The knee of a curve of mean queue length against load N/M is the load at
which the mean queue first exceeds a threshold, interpolated between the last
point at or below it and the first point above it, linearly in log(queue)
(queues grow roughly exponentially in load past saturation; linearly in the
queue when the lower point is empty).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from enum import Enum

import numpy as np
from numpy.typing import ArrayLike
from scipy import stats


class KneeStatus(str, Enum):
    """How a knee was found."""

    CROSSED = "crossed"
    """Interpolated between two loads of the sweep."""
    ABOVE_AT_FIRST = "above at the first load"
    """Already above the threshold at the lowest load: the knee is at or below it."""
    NOT_REACHED = "not reached"
    """Never above the threshold: the knee lies beyond the highest load."""


@dataclass(frozen=True)
class Knee:
    """A knee: the load (N/M) or None when not reached, and how it was found."""

    ratio: float | None
    status: KneeStatus


def find_knee(ratios: ArrayLike, mean_queue: ArrayLike, threshold: float) -> Knee:
    """The first load at which the mean queue exceeds ``threshold``.

    Args:
        ratios: loads N/M, ascending, shape (R,).
        mean_queue: mean queue length per server at each load, shape (R,).
        threshold: queue length (requests per server) that defines the knee.

    Returns:
        The interpolated knee; ``ratios[0]`` with ABOVE_AT_FIRST when the
        first point already exceeds the threshold; None with NOT_REACHED.
    """
    r = np.asarray(ratios, dtype=np.float64)
    q = np.asarray(mean_queue, dtype=np.float64)
    if r.shape != q.shape or r.ndim != 1 or r.size == 0:
        raise ValueError(f"ratios {r.shape} and mean_queue {q.shape} must be equal 1-D shapes")
    if np.any(np.diff(r) < 0):
        raise ValueError("ratios must be ascending")
    above = np.flatnonzero(q > threshold)
    if above.size == 0:
        return Knee(None, KneeStatus.NOT_REACHED)
    k = int(above[0])
    if k == 0:
        return Knee(float(r[0]), KneeStatus.ABOVE_AT_FIRST)
    r0, r1, q0, q1 = r[k - 1], r[k], q[k - 1], q[k]
    if q0 > 0:
        frac = math.log(threshold / q0) / math.log(q1 / q0)
    else:
        frac = (threshold - q0) / (q1 - q0)
    return Knee(float(r0 + frac * (r1 - r0)), KneeStatus.CROSSED)


@dataclass(frozen=True)
class Estimate:
    """Mean of repeated measurements with a two-sided t confidence interval.

    ``low`` and ``high`` are None when fewer than two values were given.
    """

    mean: float
    low: float | None
    high: float | None
    n: int


def mean_ci(values: Sequence[float], confidence: float = 0.95) -> Estimate:
    """Mean and Student-t confidence interval over seeds.

    Args:
        values: one value per seed (finite).
        confidence: coverage of the interval, within (0, 1).
    """
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        raise ValueError("no values")
    mean = float(v.mean())
    if v.size < 2:
        return Estimate(mean, None, None, 1)
    half = float(stats.t.ppf(0.5 + confidence / 2.0, v.size - 1) * v.std(ddof=1)
                 / math.sqrt(v.size))
    return Estimate(mean, mean - half, mean + half, int(v.size))


def binomial_sigma(p: float, n: int) -> float:
    """Standard deviation sqrt(p (1 - p) / n) of a fraction of n Bernoulli(p) trials."""
    return math.sqrt(max(p * (1.0 - p), 0.0) / n)
