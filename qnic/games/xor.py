"""Two-player XOR games (docs/balancing.md, docs/commands.md): ``XorGame(prob, pred)``.

A referee asks Alice question x and Bob question y with probability
prob[x][y]; they answer bits a and b without communicating and win when
a xor b == pred[x][y]. In the load-balancing reading of the paper the
questions are task types (vertices) and pred is the edge label: 0 for
co-locate (same server), 1 for exclusive.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.games.classical import (
    BRACKET_STARTS,
    CUT_ROUNDS,
    MAX_ENUMERATED_QUESTIONS,
    ClassicalBracket,
    ClassicalResult,
    classical_bracket,
    solve_classical,
)
from qnic.games.sdp import QuantumValue, solve_tsirelson
from qnic.games.strategy import RANK_REDUCTION_TOL, QuantumStrategy, reduce_strategy
from qnic.games.waveplates import BenchBases, bench_bases

PROB_SUM_TOL = 1e-9


class InvalidGameError(ValueError):
    """A game's description is malformed; the message says what and where."""


def _as_matrix(data: ArrayLike, name: str) -> NDArray[Any]:
    if isinstance(data, (str, bytes, Mapping)):
        raise InvalidGameError(f"{name} must be a matrix (list of rows), got {type(data).__name__}")
    try:
        arr = np.asarray(data)
    except ValueError as exc:  # ragged rows
        raise InvalidGameError(f"{name} must be a rectangular matrix: {exc}") from None
    if arr.ndim != 2 or arr.shape[0] == 0 or arr.shape[1] == 0:
        raise InvalidGameError(f"{name} must be a non-empty 2-D matrix (rows of equal length), "
                               f"got shape {arr.shape}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidGameError(f"{name} must hold numbers, got entries of type {arr.dtype}")
    return arr


def entry(name: str, index: NDArray[np.intp]) -> str:
    """``name[i][j]...`` of one entry, as messages name it."""
    return name + "".join(f"[{int(i)}]" for i in index)


def check_probabilities(prob: NDArray[np.float64]) -> NDArray[np.float64]:
    """``prob`` (any number of axes) after checking its entries: finite,
    non-negative, summing to one (within PROB_SUM_TOL).

    Raises:
        InvalidGameError: naming the first wrong entry.
    """
    bad = np.argwhere(~np.isfinite(prob))
    if bad.size:
        raise InvalidGameError(f"{entry('prob', bad[0])} is {prob[tuple(bad[0])]}: "
                               "probabilities must be finite")
    bad = np.argwhere(prob < 0)
    if bad.size:
        raise InvalidGameError(f"{entry('prob', bad[0])} = {prob[tuple(bad[0])]} is negative: "
                               "probabilities must be >= 0")
    total = float(prob.sum())
    if abs(total - 1.0) > PROB_SUM_TOL:
        raise InvalidGameError(f"prob must sum to 1, sums to {total!r}")
    return prob


def check_predicates(pred: NDArray[Any], shape: tuple[int, ...], index: str) -> NDArray[np.int8]:
    """``pred`` as int8 after checking it has ``shape`` and only 0 and 1;
    ``index`` says how it is indexed in the message ("pred[x][y] for every
    question pair").

    Raises:
        InvalidGameError: naming the shapes or the first wrong entry.
    """
    if pred.shape != shape:
        raise InvalidGameError(f"pred has shape {pred.shape} but prob has shape {shape}; "
                               f"they must match ({index})")
    bad = np.argwhere((pred != 0) & (pred != 1))
    if bad.size:
        raise InvalidGameError(f"{entry('pred', bad[0])} = {pred[tuple(bad[0])]!r}: "
                               "predicates must be 0 or 1")
    return pred.astype(np.int8)


def _validate_prob(data: ArrayLike) -> NDArray[np.float64]:
    arr = _as_matrix(data, "prob")
    if np.iscomplexobj(arr):
        raise InvalidGameError("prob must be real")
    return check_probabilities(arr.astype(np.float64))


def _validate_pred(data: ArrayLike, shape: tuple[int, ...]) -> NDArray[np.int8]:
    return check_predicates(_as_matrix(data, "pred"), shape,
                            "pred[x][y] for every question pair")


class XorGame:
    """A two-player XOR game.

    Args:
        prob: prob[x][y], probability of questions (x, y); shape (m, n),
            non-negative, summing to 1.
        pred: pred[x][y] in {0, 1}, the value a xor b must take to win;
            shape (m, n).

    Raises:
        InvalidGameError: naming the entry or property that is wrong.
    """

    def __init__(self, prob: ArrayLike, pred: ArrayLike) -> None:
        self._prob = _validate_prob(prob)
        self._pred = _validate_pred(pred, self._prob.shape)
        self._prob.flags.writeable = False
        self._pred.flags.writeable = False
        self._classical: ClassicalResult | None = None
        self._quantum: QuantumValue | None = None
        self._strategy: QuantumStrategy | None = None

    @classmethod
    def from_dict(cls, data: Any) -> XorGame:
        """A game from ``{"prob": [[...]], "pred": [[...]]}`` (the JSON form)."""
        if not isinstance(data, Mapping):
            raise InvalidGameError(f"a game must be an object with keys 'prob' and 'pred', "
                                   f"got {type(data).__name__}")
        missing = [key for key in ("prob", "pred") if key not in data]
        if missing:
            raise InvalidGameError(f"a game needs keys 'prob' and 'pred'; missing {missing}")
        return cls(data["prob"], data["pred"])

    def to_dict(self) -> dict[str, list[list[float]] | list[list[int]]]:
        """The JSON form ``{"prob": ..., "pred": ...}``."""
        return {"prob": self._prob.tolist(), "pred": self._pred.astype(int).tolist()}

    @property
    def prob(self) -> NDArray[np.float64]:
        """Question probabilities, read-only float64 array of shape (m, n)."""
        return self._prob

    @property
    def pred(self) -> NDArray[np.int8]:
        """Winning values of a xor b, read-only int8 array of shape (m, n)."""
        return self._pred

    @property
    def shape(self) -> tuple[int, int]:
        """(m, n): the numbers of Alice's and Bob's questions."""
        m, n = self._prob.shape
        return int(m), int(n)

    @property
    def cost_matrix(self) -> NDArray[np.float64]:
        """C[x, y] = prob[x, y] (-1)^pred[x, y], shape (m, n)."""
        return self._prob * (1.0 - 2.0 * self._pred)

    def win_probability(self, correlations: ArrayLike) -> float:
        """Win probability of a strategy with correlators E[x, y] = <(-1)^(a xor b)>.

        Args:
            correlations: E, shape (m, n), entries in [-1, 1].
        """
        corr = np.asarray(correlations, dtype=np.float64)
        if corr.shape != self._prob.shape:
            raise ValueError(f"correlations must have shape {self._prob.shape}, got {corr.shape}")
        return float(0.5 + 0.5 * np.sum(self.cost_matrix * corr))

    def classical_value(self) -> ClassicalResult:
        """Exact classical value with an optimal deterministic strategy (cached).

        Exhaustive over the player with fewer questions (k): 2^(k-1)
        strategies, numpy up to k = 16, compiled on all cores above (32 x 32
        in seconds to tens of seconds).

        Raises:
            ClassicalTooLargeError: (a ValueError) if both players have more
                than MAX_ENUMERATED_QUESTIONS (32) questions; the message
                points to :meth:`classical_bracket`.
        """
        if self._classical is None:
            self._classical = solve_classical(self._prob, self._pred)
        return self._classical

    def classical_bracket(self, starts: int = BRACKET_STARTS, seed: int = 0,
                          exact_up_to: int = MAX_ENUMERATED_QUESTIONS,
                          cut_rounds: int = CUT_ROUNDS) -> ClassicalBracket:
        """The classical value bracketed: exact when small enough, else certified bounds.

        Args:
            starts: local-search starts for a game too large for exact search.
            seed: seed of those starts.
            exact_up_to: search exhaustively when the smaller side has at
                most this many questions (at most MAX_ENUMERATED_QUESTIONS).
            cut_rounds: rounds of the SDP with triangle cuts that tighten the
                upper bound below the quantum one (one SDP each; 64 x 64:
                20-45 s for 200 on two busy cores); 0 keeps the quantum bound.

        Returns:
            lower (the best strategy's value, with the strategy), upper (the
            exact value, or a certified bound: the SDP with triangle cuts,
            or the Tsirelson SDP's), and which method gave each.
        """
        if min(self.shape) <= min(exact_up_to, MAX_ENUMERATED_QUESTIONS):
            best = self.classical_value()
            return ClassicalBracket(lower=best.value, upper=best.value, strategy=best,
                                    lower_method=f"exact search ({best.method})",
                                    upper_method="exact search")
        quantum = self.quantum_value()
        return classical_bracket(self._prob, self._pred, lambda: quantum.upper_bound, starts,
                                 seed, seeds=quantum.alice_vectors, cut_rounds=cut_rounds)

    def quantum_value(self) -> QuantumValue:
        """Quantum value from Tsirelson's SDP with a dual certificate (cached).

        The SDP alone: no classical search runs here (issue #18: the search
        is exponential in the questions). When the classical value has been
        computed already (:meth:`classical_value`), its optimal strategy
        (rank-one vectors) is a candidate too, so the value is then never
        below it.
        """
        if self._quantum is None:
            result = solve_tsirelson(self.cost_matrix)
            classical = self._classical
            if classical is not None:
                if classical.value >= result.value:
                    alpha, beta = classical.signs()
                    result = dataclasses.replace(
                        result, value=classical.value, alice_vectors=alpha[:, None],
                        bob_vectors=beta[:, None],
                        gap=max(0.0, result.upper_bound - classical.value))
            self._quantum = result
        return self._quantum

    def quantum_strategy(self) -> QuantumStrategy:
        """An optimal quantum strategy in as few dimensions as found (cached).

        Unit vectors for both players and the observables the Tsirelson
        construction builds from them on a maximally entangled state.
        """
        if self._strategy is None:
            q = self.quantum_value()
            u, v = q.alice_vectors, q.bob_vectors
            if self._classical is not None and \
                    self._classical.value >= q.upper_bound - RANK_REDUCTION_TOL / 2:
                alpha, beta = self._classical.signs()  # optimal already: no entanglement needed
                u, v = alpha[:, None], beta[:, None]
            self._strategy = reduce_strategy(self.cost_matrix, u, v, q.upper_bound)
        return self._strategy

    def bench_bases(self) -> BenchBases:
        """Waveplate settings realising the optimal strategy on one Bell pair, if any can."""
        return bench_bases(self.quantum_strategy())

    def __repr__(self) -> str:
        return f"XorGame(shape={self.shape})"
