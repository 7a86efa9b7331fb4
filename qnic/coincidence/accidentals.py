"""Accidental-coincidence estimates: from singles rates and from offset windows.

Two independent Poisson streams of rates R1 and R2 coincide within a window
of half-width w (|dt| <= w, total width 2w) at the rate R1 * R2 * 2w
(docs/conventions.md); over a duration T the expected number of accidentals is
R1 * R2 * 2w * T. The offset-window estimate measures the same thing from the
data: shifting stream B by an offset much larger than the coincidence peak
destroys the true pairs and leaves only accidental ones.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np
from numpy.typing import ArrayLike

from qnic.coincidence._validate import as_int_ps, as_timestamps
from qnic.coincidence.matching import match_sorted

PS_PER_S = 1e12
"""Picoseconds per second."""


class AccidentalEstimate(NamedTuple):
    """Accidental coincidences measured in offset windows.

    Attributes:
        mean: Mean number of coincidences per offset window (float).
        std_err: Its standard error from Poisson counting,
            sqrt(total count) / number of windows (float).
    """

    mean: float
    std_err: float


def accidentals_from_rates(
    rate_a_hz: float, rate_b_hz: float, window_ps: float, duration_s: float
) -> float:
    """Expected accidental coincidences of two independent streams.

    Args:
        rate_a_hz: Singles rate of stream A in Hz (>= 0).
        rate_b_hz: Singles rate of stream B in Hz (>= 0).
        window_ps: Coincidence half-width in ps (>= 0); the total width is
            ``2 * window_ps``.
        duration_s: Acquisition time in s (>= 0).

    Returns:
        Expected number of accidentals R1 * R2 * 2 * window * T (float).

    Raises:
        ValueError: If any argument is negative or not finite.

    Example:
        >>> accidentals_from_rates(1e5, 1e5, 1000, 10.0)
        200.0
    """
    values = {
        "rate_a_hz": rate_a_hz,
        "rate_b_hz": rate_b_hz,
        "window_ps": window_ps,
        "duration_s": duration_s,
    }
    for name, value in values.items():
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"{name} must be finite and >= 0, got {value!r}")
    return rate_a_hz * rate_b_hz * 2.0 * (window_ps / PS_PER_S) * duration_s


def accidentals_from_offset(
    t_a: ArrayLike,
    t_b: ArrayLike,
    window_ps: int,
    offset_ps: int,
    delay_ps: int = 0,
    n_offsets: int = 1,
) -> AccidentalEstimate:
    """Accidental coincidences counted in windows offset from the true peak.

    Stream B is shifted by ``offset_ps``, ``2 * offset_ps``, ...,
    ``n_offsets * offset_ps`` on top of ``delay_ps``; in each shift the
    coincidences are counted with :func:`~qnic.coincidence.find_coincidences`
    semantics. The offset windows must not overlap the true coincidence
    window, i.e. ``|offset_ps| > 2 * window_ps``; choose it also larger than
    the detector jitter and shorter than the acquisition.

    Args:
        t_a: Timestamps of stream A in ps, 1-D integer, sorted, shape (n_a,).
        t_b: Timestamps of stream B in ps, 1-D integer, sorted, shape (n_b,).
        window_ps: Coincidence half-width in ps (int, >= 0).
        offset_ps: Offset step in ps (int); its sign picks the direction.
        delay_ps: Delay of stream B in ps (int) that aligns the true peak.
        n_offsets: Number of offset windows to average (int, >= 1).

    Returns:
        Mean accidentals per window and its Poisson standard error.

    Raises:
        TypeError: As :func:`~qnic.coincidence.find_coincidences`.
        ValueError: If ``|offset_ps| <= 2 * window_ps``, ``n_offsets < 1`` or
            as :func:`~qnic.coincidence.find_coincidences`.
    """
    window = as_int_ps(window_ps, "window_ps", minimum=0)
    offset = as_int_ps(offset_ps, "offset_ps")
    delay = as_int_ps(delay_ps, "delay_ps")
    if isinstance(n_offsets, bool) or not isinstance(n_offsets, (int, np.integer)):
        raise TypeError(f"n_offsets must be an int, got {n_offsets!r}")
    if n_offsets < 1:
        raise ValueError(f"n_offsets must be >= 1, got {n_offsets}")
    if abs(offset) <= 2 * window:
        raise ValueError(
            f"|offset_ps| must exceed 2 * window_ps = {2 * window} ps so the offset "
            f"window misses the true coincidences, got offset_ps = {offset}"
        )
    a = as_timestamps(t_a, "t_a")
    b = as_timestamps(t_b, "t_b")
    total = 0
    for k in range(1, int(n_offsets) + 1):
        i_a, _ = match_sorted(a, b, window, as_int_ps(delay + k * offset, "delay"))
        total += int(i_a.size)
    n = int(n_offsets)
    return AccidentalEstimate(mean=total / n, std_err=math.sqrt(total) / n)
