"""Classical value of an XOR game: exact search, or a certified bracket (docs/balancing.md).

With the cost matrix C[x, y] = prob[x, y] (-1)^pred[x, y], a deterministic
strategy answers a(x), b(y) in {0, 1}; writing alpha_x = (-1)^a(x) and
beta_y = (-1)^b(y), it wins with probability 1/2 + bias/2, where
bias = sum_xy C[x, y] alpha_x beta_y. For fixed alpha the best beta_y is the
sign of (alpha^T C)_y, so bias(alpha) = sum_y |(alpha^T C)_y|. Flipping every
answer of both players changes nothing, so the first question's answer is
fixed and the 2^(k-1) sign vectors of the side with fewer questions (k) are
searched: in vectorized numpy chunks up to 16 questions, above that by the
compiled Gray-code walk on all cores (:mod:`qnic.games.classical_kernel`),
pruned by the best strategy that local search found first. That is exact up
to ``MAX_ENUMERATED_QUESTIONS`` (32 x 32: 2^31 vectors, seconds to tens of
seconds on two cores). Larger games get a certified bracket
(:func:`classical_bracket`): the value of the best strategy local search finds
(a lower bound) and an upper bound: the Tsirelson SDP's dual bound (shared
entanglement can only help), tightened by triangle cuts
(:mod:`qnic.games.classical_bound`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qnic.games.classical_bound import triangle_bound
from qnic.games.classical_search import exhaustive_signs, local_search

# the side searched exhaustively: 2^31 sign vectors of 32 entries take seconds
# to tens of seconds on two cores; every further question doubles that
MAX_ENUMERATED_QUESTIONS = 32
_NUMPY_QUESTIONS = 16  # up to here numpy's chunks (no compiled kernel to load)
_CHUNK_ROWS = 1 << 15
_PRUNING_STARTS = 64  # local-search starts that give the exhaustive search its floor
BRACKET_STARTS = 2000  # default local-search starts of a bracket
CUT_ROUNDS = 200  # default rounds of the triangle-cut bound (64 x 64: 20-45 s on two busy cores)
BRACKET_GOAL = 1e-3  # the cut rounds stop once the bracket is this narrow
# m + n above which no cuts are added (their separation scans all (m + n)^3 / 6 triangles)
MAX_CUT_QUESTIONS = 256


class ClassicalTooLargeError(ValueError):
    """The game is too large for the exact classical value; the message offers the bracket."""


@dataclass(frozen=True)
class ClassicalResult:
    """The optimal deterministic strategy of an XOR game and its value.

    Attributes:
        value: win probability of the strategy (float in [0, 1]); the
            classical value of the game, since shared randomness never helps.
        a: Alice's answer bit per question, int8 array of shape (m,).
        b: Bob's answer bit per question, int8 array of shape (n,).
        bias: 2 * value - 1 (float in [-1, 1]).
        method: how it was found: "enumeration" (numpy, up to 16 questions
            on the smaller side) or "gray-code" (compiled, both cores).
    """

    value: float
    a: NDArray[np.int8]
    b: NDArray[np.int8]
    bias: float
    method: str = "enumeration"

    def signs(self) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """The strategy as +-1 vectors (-1)^a of shape (m,) and (-1)^b of shape (n,)."""
        alpha = (1.0 - 2.0 * self.a).astype(np.float64)
        beta = (1.0 - 2.0 * self.b).astype(np.float64)
        return alpha, beta


@dataclass(frozen=True)
class ClassicalBracket:
    """The classical value of an XOR game bracketed, with the strategy behind the lower end.

    Attributes:
        lower: win probability of ``strategy`` (a lower bound on the value).
        upper: certified upper bound on the classical value.
        strategy: the best deterministic strategy found (``strategy.value == lower``).
        lower_method: what found it ("exact search ..." or "local search, N starts").
        upper_method: what bounds the value ("exact search" or "Tsirelson SDP dual bound").
    """

    lower: float
    upper: float
    strategy: ClassicalResult
    lower_method: str
    upper_method: str

    @property
    def width(self) -> float:
        """upper - lower (0 when exact)."""
        return max(0.0, self.upper - self.lower)

    @property
    def is_exact(self) -> bool:
        """True when the search was exhaustive (lower is the classical value)."""
        return self.upper_method.startswith("exact")


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
        ClassicalTooLargeError: if both players have more than
            MAX_ENUMERATED_QUESTIONS questions.
    """
    transposed = cost.shape[0] > cost.shape[1]
    mat = np.ascontiguousarray(cost.T if transposed else cost, dtype=np.float64)
    k = mat.shape[0]
    if k > MAX_ENUMERATED_QUESTIONS:
        raise ClassicalTooLargeError(
            f"the exact classical value searches 2^(k-1) strategies of the player with fewer "
            f"questions (k), up to k = {MAX_ENUMERATED_QUESTIONS}; this game has "
            f"{cost.shape[0]} x {cost.shape[1]} questions. XorGame.classical_bracket() gives a "
            f"certified bracket instead (best strategy found, and an upper bound)")
    best_row = _numpy_search(mat) if k <= _NUMPY_QUESTIONS else _compiled_search(mat)
    response: NDArray[np.float64] = np.where(best_row @ mat >= 0.0, 1.0, -1.0)
    best: NDArray[np.float64] = np.asarray(best_row, dtype=np.float64)
    return (response, best) if transposed else (best, response)


def _numpy_search(mat: NDArray[np.float64]) -> NDArray[np.float64]:
    k = mat.shape[0]
    total = 1 << (k - 1)
    best_bias, best_row = -np.inf, np.ones(k)
    for start in range(0, total, _CHUNK_ROWS):
        signs = _sign_rows(start, min(total, start + _CHUNK_ROWS), k)
        bias = np.abs(signs @ mat).sum(axis=1)
        i = int(np.argmax(bias))
        if bias[i] > best_bias:
            best_bias, best_row = float(bias[i]), signs[i]
    return np.asarray(best_row, dtype=np.float64)


def _compiled_search(mat: NDArray[np.float64]) -> NDArray[np.float64]:
    """Gray-code search with the floor of a short local search (same result, fewer blocks)."""
    found, _ = local_search(mat, _PRUNING_STARTS, np.random.default_rng(0))
    found = found * found[0]  # alpha_0 = +1, as the exhaustive search fixes it
    better = exhaustive_signs(mat, float(np.abs(found @ mat).sum()))
    return found if better is None else better


def _result(prob: NDArray[np.float64], pred: NDArray[np.int8], alpha: NDArray[np.float64],
            beta: NDArray[np.float64], method: str) -> ClassicalResult:
    a = ((1.0 - alpha) / 2.0).astype(np.int8)
    b = ((1.0 - beta) / 2.0).astype(np.int8)
    won = (a[:, None] ^ b[None, :]) == pred
    value = float(prob[won].sum())
    return ClassicalResult(value=value, a=a, b=b, bias=2.0 * value - 1.0, method=method)


def solve_classical(prob: NDArray[np.float64], pred: NDArray[np.int8]) -> ClassicalResult:
    """Exact classical value and an optimal deterministic strategy.

    Args:
        prob: question probabilities, float64 array of shape (m, n).
        pred: required a xor b per question pair, int8 array of shape (m, n).

    Returns:
        The optimal strategy; its value is summed directly from the won
        question pairs, so it is exact up to the rounding of that sum.

    Raises:
        ClassicalTooLargeError: both players have more than MAX_ENUMERATED_QUESTIONS.
    """
    cost = prob * (1.0 - 2.0 * pred)
    alpha, beta = best_signs(cost)
    method = "enumeration" if min(cost.shape) <= _NUMPY_QUESTIONS else "gray-code"
    return _result(prob, pred, alpha, beta, method)


def classical_bracket(prob: NDArray[np.float64], pred: NDArray[np.int8],
                      upper_bound: Callable[[], float], starts: int = BRACKET_STARTS,
                      seed: int = 0, seeds: NDArray[np.float64] | None = None,
                      cut_rounds: int = CUT_ROUNDS) -> ClassicalBracket:
    """The best strategy local search finds and a certified upper bound.

    Args:
        prob, pred: the game, float64 and int8 arrays of shape (m, n).
        upper_bound: returns a certified upper bound on the value (the
            quantum value's dual bound).
        starts: local-search starts (>= 1).
        seed: seed of the starts.
        seeds: optional unit vectors of Alice's quantum strategy, (m, d):
            half the starts round them by random hyperplanes.
        cut_rounds: rounds of the SDP with triangle cuts
            (:mod:`qnic.games.classical_bound`) that tighten the upper
            bound; 0 keeps the quantum bound. The rounds stop early once
            the bracket is narrower than ``BRACKET_GOAL``; games of more
            than ``MAX_CUT_QUESTIONS`` questions in all keep the quantum bound.
    """
    cost = prob * (1.0 - 2.0 * pred)
    alpha, _ = local_search(cost, starts, np.random.default_rng(seed), seeds)
    beta = np.where(alpha @ cost >= 0.0, 1.0, -1.0)
    found = _result(prob, pred, alpha, beta, "local search")
    bound, method = float(upper_bound()), "Tsirelson SDP dual bound"
    if sum(cost.shape) > MAX_CUT_QUESTIONS:
        method += f" (no triangle cuts above {MAX_CUT_QUESTIONS} questions in all)"
    elif cut_rounds > 0 and bound - found.value > BRACKET_GOAL:
        cut = triangle_bound(cost, found.bias, cut_rounds,
                             stop_bias=found.bias + 2.0 * BRACKET_GOAL)
        if 0.5 + 0.5 * cut.bias_bound < bound:
            bound = 0.5 + 0.5 * cut.bias_bound
            method = (f"SDP with triangle cuts, dual bound ({cut.rounds} Lagrangian rounds, "
                      f"{cut.cuts} cuts)")
    return ClassicalBracket(lower=found.value, upper=max(found.value, bound), strategy=found,
                            lower_method=f"local search, {starts} starts (seed {seed})",
                            upper_method=method)
