"""Classical value of an XOR game by exhaustive search (docs/balancing.md).

With the cost matrix C[x, y] = prob[x, y] (-1)^pred[x, y], a deterministic
strategy answers a(x), b(y) in {0, 1}; writing alpha_x = (-1)^a(x) and
beta_y = (-1)^b(y), it wins with probability 1/2 + bias/2, where
bias = sum_xy C[x, y] alpha_x beta_y. For fixed alpha the best beta_y is the
sign of (alpha^T C)_y, so bias(alpha) = sum_y |(alpha^T C)_y|. Flipping every
answer of both players changes nothing, so the first question's answer is
fixed and the 2^(k-1) sign vectors of the side with fewer questions (k) are
enumerated in vectorized chunks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

# 2^23 sign vectors of 24 entries: a few seconds; beyond that enumeration is hopeless.
MAX_ENUMERATED_QUESTIONS = 24
_CHUNK_ROWS = 1 << 15


@dataclass(frozen=True)
class ClassicalResult:
    """The optimal deterministic strategy of an XOR game and its value.

    Attributes:
        value: win probability of the strategy (float in [0, 1]); the
            classical value of the game, since shared randomness never helps.
        a: Alice's answer bit per question, int8 array of shape (m,).
        b: Bob's answer bit per question, int8 array of shape (n,).
        bias: 2 * value - 1 (float in [-1, 1]).
    """

    value: float
    a: NDArray[np.int8]
    b: NDArray[np.int8]
    bias: float

    def signs(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The strategy as +-1 vectors (-1)^a of shape (m,) and (-1)^b of shape (n,)."""
        alpha = (1.0 - 2.0 * self.a).astype(np.float64)
        beta = (1.0 - 2.0 * self.b).astype(np.float64)
        return alpha, beta


def _sign_rows(start: int, stop: int, k: int) -> NDArray[np.float64]:
    """Sign vectors number start..stop-1 (first entry +1), shape (stop - start, k)."""
    idx = np.arange(start, stop, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(k - 1, dtype=np.int64)) & 1
    signs = np.ones((stop - start, k), dtype=np.float64)
    signs[:, 1:] = 1.0 - 2.0 * bits
    return signs


def best_signs(cost: NDArray[np.float64]) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    """The +-1 vectors alpha (rows) and beta (columns) maximising alpha^T C beta.

    Args:
        cost: float64 array of shape (m, n), min(m, n) <= MAX_ENUMERATED_QUESTIONS.

    Returns:
        (alpha, beta), float64 arrays of shape (m,) and (n,) with entries +-1.

    Raises:
        ValueError: if both players have more than MAX_ENUMERATED_QUESTIONS questions.
    """
    transposed = cost.shape[0] > cost.shape[1]
    mat = cost.T if transposed else cost
    k = mat.shape[0]
    if k > MAX_ENUMERATED_QUESTIONS:
        raise ValueError(f"classical value by enumeration needs one player with at most "
                         f"{MAX_ENUMERATED_QUESTIONS} questions; this game has {cost.shape}")
    total = 1 << (k - 1)
    best_bias, best_row = -np.inf, np.ones(k)
    for start in range(0, total, _CHUNK_ROWS):
        signs = _sign_rows(start, min(total, start + _CHUNK_ROWS), k)
        bias = np.abs(signs @ mat).sum(axis=1)
        i = int(np.argmax(bias))
        if bias[i] > best_bias:
            best_bias, best_row = float(bias[i]), signs[i]
    response: NDArray[np.float64] = np.where(best_row @ mat >= 0.0, 1.0, -1.0)
    best: NDArray[np.float64] = np.asarray(best_row, dtype=np.float64)
    return (response, best) if transposed else (best, response)


def solve_classical(prob: NDArray[np.float64], pred: NDArray[np.int8]) -> ClassicalResult:
    """Exact classical value and an optimal deterministic strategy.

    Args:
        prob: question probabilities, float64 array of shape (m, n).
        pred: required a xor b per question pair, int8 array of shape (m, n).

    Returns:
        The optimal strategy; its value is summed directly from the won
        question pairs, so it is exact up to the rounding of that sum.
    """
    cost = prob * (1.0 - 2.0 * pred)
    alpha, beta = best_signs(cost)
    a = ((1.0 - alpha) / 2.0).astype(np.int8)
    b = ((1.0 - beta) / 2.0).astype(np.int8)
    won = (a[:, None] ^ b[None, :]) == pred
    value = float(prob[won].sum())
    return ClassicalResult(value=value, a=a, b=b, bias=2.0 * value - 1.0)
