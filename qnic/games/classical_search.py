"""Searches for good classical strategies of XOR games (docs/balancing.md).

Two searches over the +-1 answer vectors alpha of one player, the other
best-responding (beta_y = sign((alpha^T C)_y), bias(alpha) = sum_y |(alpha^T C)_y|):

- :func:`local_search`: from many starts (random, and the quantum strategy's
  vectors cut by random hyperplanes), steepest ascent by single answer flips
  with the other player re-optimised, until no flip helps. Its best bias is
  achieved by an explicit strategy: a lower bound on the classical value.
- :func:`exhaustive_signs`: every alpha, by the compiled Gray-code walk of
  :mod:`qnic.games.classical_kernel` on both cores, pruned by a bias already
  found: the exact value.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from qnic.games.blas import one_blas_thread
from qnic.games.classical_kernel import gray_blocks

Array = NDArray[np.float64]

_BATCH = 128  # starts ascended together (fewer for large games: see _batch)
_BATCH_ENTRIES = 1 << 22  # floats of the (starts, m, n) flip table held at once
# blocks: at least 2^10 (to balance the cores), and free rows at most 15, so that
# the blocks are many and small and the bound (fixed rows + free rows' own bias) prunes
_MIN_OUTER_BITS = 10
_MAX_INNER_BITS = 15


def _signs(x: Array) -> Array:
    return np.where(x >= 0.0, 1.0, -1.0)


def _ascend(cost: Array, alpha: Array) -> Array:
    """Single-flip steepest ascent of bias(alpha) for a batch of starts (s, m) -> (s, m)."""
    alpha = alpha.copy()
    rows = np.arange(alpha.shape[0])
    for _ in range(8 * cost.shape[0]):
        sums = alpha @ cost  # (s, n)
        bias = np.abs(sums).sum(axis=1)
        # bias after flipping answer x: sum_y |s_y - 2 alpha_x C_xy|, shape (s, m)
        flipped = np.abs(sums[:, None, :] - 2.0 * alpha[:, :, None] * cost[None, :, :]).sum(axis=2)
        best = np.argmax(flipped, axis=1)
        gain = flipped[rows, best] - bias
        moving = gain > 1e-13 * np.maximum(1.0, bias)
        if not moving.any():
            break
        alpha[rows[moving], best[moving]] *= -1.0
    return alpha


def local_search(cost: Array, starts: int, rng: np.random.Generator,
                 seeds: Array | None = None) -> tuple[Array, int]:
    """The best alpha found by single-flip ascent from ``starts`` starts.

    Args:
        cost: C, float64 array (m, n).
        starts: number of starting points (>= 1).
        rng: source of the random starts and hyperplanes.
        seeds: optional unit vectors u_x, shape (m, d) (the quantum
            strategy): half the starts are sign(u g) for Gaussian g.

    Returns:
        (alpha, local optima reached): alpha of shape (m,) with entries +-1.
    """
    if starts < 1:
        raise ValueError(f"starts must be >= 1, got {starts}")
    m = cost.shape[0]
    if seeds is not None:
        rounded = starts // 2
        first = _signs(rng.standard_normal((rounded, seeds.shape[1])) @ seeds.T)
    else:
        first = np.empty((0, m))
    pool = np.vstack([first, _signs(rng.standard_normal((starts - first.shape[0], m)))])
    best, best_bias = np.ones(m), -np.inf
    batch = max(1, min(_BATCH, _BATCH_ENTRIES // cost.size))
    with one_blas_thread():
        for lo in range(0, starts, batch):
            ends = _ascend(cost, pool[lo:lo + batch])
            bias = np.abs(ends @ cost).sum(axis=1)
            i = int(np.argmax(bias))
            if bias[i] > best_bias:
                best, best_bias = ends[i].copy(), float(bias[i])
    return best, starts


def exhaustive_signs(cost: Array, floor: float = -1.0) -> Array | None:
    """The alpha of largest bias over all 2^(m-1) sign vectors (alpha_0 = +1).

    Args:
        cost: C, float64 array (m, n), m >= 1.
        floor: a bias already achieved; vectors that cannot beat it are
            skipped (their blocks' bound is at most ``floor``).

    Returns:
        alpha of shape (m,), or None when nothing beats ``floor``.
    """
    m = cost.shape[0]
    outer = min(m - 1, max(_MIN_OUTER_BITS, m - 1 - _MAX_INNER_BITS))
    # the heaviest rows number the blocks and the lightest are walked: the
    # block bound (fixed rows summed, free rows' |C| added) then prunes more
    heavy = np.argsort(-np.abs(cost).sum(axis=1), kind="stable")
    order = np.concatenate([heavy[:1], heavy[outer + 1:], heavy[1:outer + 1]])
    mat = np.ascontiguousarray(cost[order], dtype=np.float64)
    # a tiny margin: a block whose bound ties the floor holds nothing better
    inner = m - 1 - outer
    inner_bias = np.inf
    if floor > 0 and inner > 0:  # the free rows' own classical bias bounds every block's part
        sub = np.ascontiguousarray(mat[1:1 + inner])
        inner_bias = float(np.max(gray_blocks(sub, min(inner - 1, _MIN_OUTER_BITS), -1.0,
                                              np.inf)[0]))
        inner_bias *= 1.0 + 1e-12  # the walk's rounding: keep the bound above the true one
    bias, code = gray_blocks(mat, outer, floor * (1.0 - 1e-12) if floor > 0 else floor,
                             inner_bias)
    i = int(np.argmax(bias))
    if bias[i] < 0.0 or bias[i] <= floor:
        return None
    alpha = np.empty(m)
    alpha[order] = np.where((int(code[i]) >> np.arange(m)) & 1, -1.0, 1.0)
    return alpha
