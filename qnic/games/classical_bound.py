"""A certified upper bound on the classical value tighter than the quantum one (docs/balancing.md).

A deterministic strategy (alpha, beta) of an XOR game is the rank-one Gram
matrix X = v v^T of v = (alpha, beta) in {+-1}^(m+n), with bias <W, X>
(W = [[0, C/2], [C^T/2, 0]] as in :mod:`qnic.games.sdp`). Such an X obeys
every triangle inequality s_1 X_ij + s_2 X_jk + s_3 X_ik >= -1 with signs
(s_1, s_2, s_3) in {(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)}, which
the Tsirelson SDP's feasible set (the elliptope) does not; adding them is
what closes most of the gap between the quantum and the classical value
(on random 20 x 20 games, from 0.032 to 0.0003 with a few hundred cuts).

They enter by Lagrangian relaxation, so that each step stays the fast
unit-diagonal SDP: for multipliers lambda_t >= 0 on cuts T_t (written
<T_t, X> + 1 >= 0), every deterministic strategy has
<W, X> <= <W, X> + sum_t lambda_t (<T_t, X> + 1)
<= max over the elliptope of <W + sum lambda_t T_t, X> + sum lambda_t
<= sum(z) + sum lambda_t for any z with Diag(z) - W - sum lambda_t T_t PSD.
So every round gives a certified bound, whatever the multipliers; they are
improved by projected subgradient steps (Polyak's step toward the best bias
found, shrunk when the bound stalls), with the most violated triangles of
the current SDP solution added each round.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qnic.games.blas import one_blas_thread
from qnic.games.sdp import certify, interior_point, tsirelson_matrix
from qnic.instruments.kernel_cache import cached_njit

Array = NDArray[np.float64]
Index = NDArray[np.int64]

_SIGNS = np.array([(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)], dtype=np.float64)
_VIOLATION = 1e-7  # a triangle counts as violated below -1 - this
_STALL_ROUNDS = 8  # rounds without a better bound before the step shrinks
_SHRINK = 0.6
_ROUND_GAP = 1e-7  # each round's SDP solved to this bias gap: the bound is loose by at most that


@dataclass(frozen=True)
class TriangleBound:
    """A certified bound on the classical bias from the SDP with triangle cuts.

    Attributes:
        bias_bound: sum(z) + sum(lambda) of the best round (>= the classical bias).
        rounds: subgradient rounds run.
        cuts: triangle inequalities carried at the end.
        first_bias_bound: the bound of round one (no cuts: the Tsirelson bound).
    """

    bias_bound: float
    rounds: int
    cuts: int
    first_bias_bound: float


def _slack(x: Array, cuts: Index) -> Array:
    """<T_t, X> + 1 of each cut (a, b, c, sign row): >= 0 at every deterministic strategy."""
    s = _SIGNS[cuts[:, 3]]
    a, b, c = cuts[:, 0], cuts[:, 1], cuts[:, 2]
    return s[:, 0] * x[a, b] + s[:, 1] * x[b, c] + s[:, 2] * x[a, c] + 1.0


def most_violated(x: Array, count: int) -> Index:
    """Up to ``count`` triangle cuts (a, b, c, sign) that X violates most, shape (k, 4)."""
    cuts, worst = _violated(np.ascontiguousarray(x, dtype=np.float64), _VIOLATION)
    if worst.size > count:
        cuts = cuts[np.argpartition(worst, count)[:count]]
    return cuts


@cached_njit()
def _violated(x: Array, tol: float) -> tuple[Index, Array]:
    """Every triangle i < j < k whose worst sign pattern has slack below -tol: (cuts, slacks)."""
    size = x.shape[0]
    cap = 1 << 16
    cuts = np.empty((cap, 4), dtype=np.int64)
    worst = np.empty(cap)
    found = 0
    for a in range(size):
        for b in range(a + 1, size):
            xab = x[a, b]
            for c in range(b + 1, size):
                xbc, xac = x[b, c], x[a, c]
                low, sign = xab + xbc + xac, 0
                for k, value in enumerate((xab - xbc - xac, -xab + xbc - xac, -xab - xbc + xac)):
                    if value < low:
                        low, sign = value, k + 1
                if low + 1.0 < -tol:
                    if found == cap:  # grow
                        cap *= 2
                        cuts = _grown(cuts, cap)
                        worst = np.concatenate((worst, np.empty(cap - worst.size)))
                    cuts[found, 0], cuts[found, 1], cuts[found, 2], cuts[found, 3] = a, b, c, sign
                    worst[found] = low + 1.0
                    found += 1
    return cuts[:found].copy(), worst[:found].copy()


@cached_njit()
def _grown(cuts: Index, cap: int) -> Index:
    out = np.empty((cap, 4), dtype=np.int64)
    out[: cuts.shape[0]] = cuts
    return out


def _with_cuts(w: Array, cuts: Index, lam: Array) -> Array:
    """W + sum_t lambda_t T_t (T_t symmetric, half of each sign on both triangles)."""
    out = w.copy()
    s = _SIGNS[cuts[:, 3]] * lam[:, None] / 2.0
    for (p, q), col in (((0, 1), 0), ((1, 2), 1), ((0, 2), 2)):
        np.add.at(out, (cuts[:, p], cuts[:, q]), s[:, col])
        np.add.at(out, (cuts[:, q], cuts[:, p]), s[:, col])
    return out


def _round(w: Array, cuts: Index, lam: Array) -> tuple[float, Array]:
    """The certified bound of these multipliers and the SDP solution X."""
    shifted = _with_cuts(w, cuts, lam)
    x, z, _ = interior_point(shifted, _ROUND_GAP)
    z, _ = certify(shifted, z)
    return float(z.sum() + lam.sum()), x


def triangle_bound(cost: Array, target_bias: float, rounds: int = 200, cuts_per_round: int = 300,
                   max_cuts: int = 6000, stop_bias: float | None = None) -> TriangleBound:
    """Certified upper bound on the classical bias max alpha^T C beta.

    Args:
        cost: C, float64 array (m, n).
        target_bias: a bias some strategy achieves (the steps aim at it).
        rounds: subgradient rounds (one SDP each); 1 gives the plain SDP bound.
        cuts_per_round: most violated triangles added per round.
        max_cuts: cuts carried at most (those of smallest multiplier dropped).
        stop_bias: stop once the bound is at most this (default: target_bias).
    """
    if rounds < 1:
        raise ValueError(f"rounds must be >= 1, got {rounds}")
    w = tsirelson_matrix(np.asarray(cost, dtype=np.float64))
    cuts = np.zeros((0, 4), dtype=np.int64)
    lam = np.zeros(0)
    best = first = np.inf
    factor, stall, done = 1.0, 0, 0
    stop = target_bias if stop_bias is None else stop_bias
    with one_blas_thread():
        for done in range(1, rounds + 1):
            bound, x = _round(w, cuts, lam)
            first = bound if done == 1 else first
            if bound < best - 1e-12:
                best, stall = bound, 0
            else:
                stall += 1
                if stall >= _STALL_ROUNDS:
                    factor, stall = factor * _SHRINK, 0
            if best - stop <= 1e-12 or done == rounds:
                break
            cuts, lam = _add_cuts(cuts, lam, most_violated(x, cuts_per_round))
            slack = _slack(x, cuts)
            slack[(lam <= 0.0) & (slack > 0.0)] = 0.0  # projected: lambda stays >= 0
            norm = float(slack @ slack)
            if norm < 1e-18:
                break
            lam = np.maximum(0.0, lam - factor * (bound - target_bias) / norm * slack)
            if lam.size > max_cuts:
                keep = np.argsort(-lam, kind="stable")[:max_cuts]
                cuts, lam = cuts[keep], lam[keep]
    return TriangleBound(bias_bound=best, rounds=done, cuts=int(lam.size), first_bias_bound=first)


def _add_cuts(cuts: Index, lam: Array, new: Index) -> tuple[Index, Array]:
    if new.size == 0:
        return cuts, lam
    seen = {tuple(row) for row in cuts.tolist()}
    fresh = np.array([row for row in new.tolist() if tuple(row) not in seen], dtype=np.int64)
    if fresh.size == 0:
        return cuts, lam
    return np.vstack([cuts, fresh.reshape(-1, 4)]), np.concatenate([lam, np.zeros(len(fresh))])
