"""Accidentals under the true coincidence peak (docs/coincidences.md section 4).

An offset window counts every accidental pair of single-click events. Under
the true peak fewer can form: each event is used once, so an event already
matched with its own partner photon cannot also make an accidental. Only
*free* events (dark counts, afterpulses, photons whose partner was lost) are
left to coincide by chance. With ``s_a`` single-click events of outcome a in
arm A, ``p_a`` of them paired with their partner, the free fraction is
``g_a = 1 - p_a / s_a`` (likewise ``h_b`` in arm B), and the accidentals in
cell (a, b) under the peak are

    mu_ab = O_ab * g_a * h_b,

``O_ab`` being the mean count of the offset windows. The paired events are
the true coincidences, ``p_a = sum_b (N_ab - mu_ab)`` plus the true part of
the coincidences set apart because arm B double-clicked (arm A's outcome of
those is not recorded; they are shared over a in proportion to the true
pairs), so ``mu`` solves a fixed point, found by iteration. Single-click
events exclude the clicks merged into double clicks (each double click takes
one click of each outcome of its arm), which offset windows exclude as well.
Dead time needs no term of its own: a photon lost to it leaves its partner
free, and the measured ``p`` shows it.

Variance (delta method, the offset windows independent Poisson counts, the
free fractions binomial):

    Var mu_ab = g_a^2 h_b^2 Var O_ab
                + mu_ab^2 (Var g_a / g_a^2 + Var h_b / h_b^2),
    Var O_ab = O_ab / K,   Var g_a = g_a (1 - g_a) / s_a.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import numpy as np
from numpy.typing import NDArray

from qnic.coincidence.outcomes import OutcomeCounts

_ITERATIONS = 100
_TOLERANCE = 1e-12


class PeakAccidentals(NamedTuple):
    """Accidental coincidences expected under the true peak, per outcome cell.

    Attributes:
        mean: ``mean[a, b]``, float64 (2, 2): expected accidentals in the
            true window for single-click outcomes a (arm A) and b (arm B).
        var: Its variance, float64 (2, 2).
        offset_mean: The plain offset-window mean ``O[a, b]`` it scales,
            float64 (2, 2).
        free_a: Free fraction ``g_a`` of arm A's single-click events per
            outcome, float64 (2,).
        free_b: Likewise ``h_b`` for arm B.
    """

    mean: NDArray[np.float64]
    var: NDArray[np.float64]
    offset_mean: NDArray[np.float64]
    free_a: NDArray[np.float64]
    free_b: NDArray[np.float64]


def _single_events(counts: OutcomeCounts, arm: tuple[int, int], events: int, name: str
                   ) -> NDArray[np.float64]:
    """Single-click events per outcome of one arm: raw clicks less doubles."""
    try:
        clicks = np.array([counts.singles[arm[0]], counts.singles[arm[1]]], dtype=np.float64)
    except KeyError as exc:
        raise ValueError(f"{name}: the counts hold no singles of channel {exc.args[0]} "
                         f"(channels counted: {sorted(counts.singles)})") from None
    doubles = clicks.sum() - events
    if doubles < 0:
        raise ValueError(f"{name}: {events} events from {int(clicks.sum())} clicks is impossible")
    return np.maximum(clicks - doubles, 0.0)


def _fraction(paired: NDArray[np.float64], events: NDArray[np.float64]) -> NDArray[np.float64]:
    with np.errstate(divide="ignore", invalid="ignore"):
        g = np.where(events > 0, 1.0 - paired / events, 1.0)
    return np.clip(g, 0.0, 1.0)


def accidentals_under_peak(
    true: OutcomeCounts,
    shifted: Sequence[OutcomeCounts],
    arm_a: tuple[int, int],
    arm_b: tuple[int, int],
) -> PeakAccidentals:
    """Expected accidentals under the true peak from offset-window counts.

    Args:
        true: Counts at the true delay (offset 0), with ``singles``.
        shifted: Counts of K >= 1 offset windows, counted in the same pass
            (:class:`~qnic.coincidence.OutcomeStream` with ``offsets_ps``).
        arm_a: ``(channel of outcome 0, channel of outcome 1)`` of arm A.
        arm_b: Likewise for arm B.

    Returns:
        :class:`PeakAccidentals`: the estimate and its variance per cell.

    Raises:
        ValueError: No offset window, or the counts lack an arm's singles.
    """
    if len(shifted) == 0:
        raise ValueError("shifted: at least one offset window is needed")
    k = len(shifted)
    offset = np.mean([c.n for c in shifted], axis=0).astype(np.float64)
    off_da = float(np.mean([c.double_a for c in shifted]))
    off_db = float(np.mean([c.double_b for c in shifted]))
    s_a = _single_events(true, arm_a, true.events_a, "arm A")
    s_b = _single_events(true, arm_b, true.events_b, "arm B")
    n = true.n.astype(np.float64)
    true_db = max(true.double_b - off_db, 0.0)  # B double-clicked, A single: A events paired
    true_da = max(true.double_a - off_da, 0.0)  # A double-clicked: B events paired
    mu = offset.copy()
    g = h = np.ones(2)
    for _ in range(_ITERATIONS):
        pairs = np.maximum(n - mu, 0.0)
        total = pairs.sum()
        row = pairs.sum(axis=1)
        col = pairs.sum(axis=0)
        share_a = row / total if total > 0 else np.full(2, 0.5)
        share_b = col / total if total > 0 else np.full(2, 0.5)
        g = _fraction(row + true_db * share_a, s_a)
        h = _fraction(col + true_da * share_b, s_b)
        new = offset * g[:, None] * h[None, :]
        done = np.max(np.abs(new - mu)) <= _TOLERANCE * max(1.0, float(np.max(mu)))
        mu = new
        if done:
            break
    with np.errstate(divide="ignore", invalid="ignore"):
        rel_g = np.where((s_a > 0) & (g > 0), (1.0 - g) / (g * s_a), 0.0)
        rel_h = np.where((s_b > 0) & (h > 0), (1.0 - h) / (h * s_b), 0.0)
    var = (g[:, None] * h[None, :]) ** 2 * offset / k + mu**2 * (rel_g[:, None] + rel_h[None, :])
    return PeakAccidentals(mu, var, offset, g, h)
