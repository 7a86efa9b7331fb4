"""XOR games of N >= 2 players (docs/balancing.md): ``MultipartyXorGame(prob, pred)``.

A referee asks player i question x_i with probability prob[x_1, ..., x_N];
each answers one bit a_i without communicating, and they win when
a_1 xor ... xor a_N == pred[x_1, ..., x_N]. The paper notes that the
coordination games extend to more than two players, where the quantum
advantage grows: the Mermin-GHZ game (:func:`mermin_game`) is won with
certainty on a GHZ state, classically with 1/2 + 2^-ceil(N/2).

With C = prob (-1)^pred and alpha_i(x_i) = (-1)^(a_i(x_i)), a deterministic
strategy wins with 1/2 + bias/2, bias = sum_x C[x] prod_i alpha_i(x_i). The
classical value enumerates the strategies of all players but the one with
most questions, who best-responds question by question (|sum| of the rest);
each enumerated player's first answer is fixed (flipping it and the
responder's answers changes nothing). The quantum value is bracketed in
:mod:`qnic.games.multiparty_quantum`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.games.multiparty_quantum import MultipartyQuantumValue, quantum_bracket
from qnic.games.xor import InvalidGameError, check_predicates, check_probabilities

# deterministic strategies enumerated (all players but the responder): 2^22 in seconds
MAX_MULTIPARTY_STRATEGIES = 1 << 22
_CHUNK = 1 << 12
_CHUNK_ENTRIES = 1 << 22


def _as_tensor(data: ArrayLike, name: str) -> NDArray[Any]:
    if isinstance(data, (str, bytes, dict)):
        raise InvalidGameError(f"{name} must be an N-dimensional array, got {type(data).__name__}")
    try:
        arr = np.asarray(data)
    except ValueError as exc:  # ragged nesting
        raise InvalidGameError(f"{name} must be a rectangular array: {exc}") from None
    if arr.ndim < 2 or 0 in arr.shape:
        raise InvalidGameError(f"{name} must have one non-empty axis per player (N >= 2 axes), "
                               f"got shape {arr.shape}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidGameError(f"{name} must hold numbers, got entries of type {arr.dtype}")
    if np.iscomplexobj(arr):
        raise InvalidGameError(f"{name} must be real")
    return arr


def validate_multiparty(prob: ArrayLike, pred: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.int8]]:
    """Checked copies of prob (float64) and pred (int8), same shape (q_1, ..., q_N).

    Raises:
        InvalidGameError: naming the array and the entry that is wrong.
    """
    p = check_probabilities(_as_tensor(prob, "prob").astype(np.float64))
    w = check_predicates(_as_tensor(pred, "pred"), p.shape,
                         "pred[x_1]...[x_N] for every question tuple")
    return p, w


@dataclass(frozen=True)
class MultipartyClassicalResult:
    """An optimal deterministic strategy of a multi-player XOR game.

    Attributes:
        value: its win probability, the classical value.
        answers: per player, the answer bit per question (int8 arrays (q_i,)).
        strategies_searched: deterministic strategies enumerated.
    """

    value: float
    answers: tuple[NDArray[np.int8], ...]
    strategies_searched: int

    def answer(self, questions: ArrayLike) -> NDArray[np.int8]:
        """Answers to question tuples, int (rounds, N) -> int8 (rounds, N)."""
        x = np.asarray(questions, dtype=np.int64)
        if x.ndim != 2 or x.shape[1] != len(self.answers):
            raise ValueError(f"questions must have shape (rounds, {len(self.answers)}), "
                             f"got {x.shape}")
        return np.stack([a[x[:, i]] for i, a in enumerate(self.answers)], axis=1)


class MultipartyXorGame:
    """An XOR game of N >= 2 players with one bit of answer each.

    Args:
        prob: prob[x_1, ..., x_N], probability of the question tuple;
            shape (q_1, ..., q_N), non-negative, summing to 1.
        pred: pred[x_1, ..., x_N] in {0, 1}, the required XOR of all answers.

    Raises:
        InvalidGameError: naming the array and entry that is wrong.
    """

    def __init__(self, prob: ArrayLike, pred: ArrayLike) -> None:
        self._prob, self._pred = validate_multiparty(prob, pred)
        self._prob.flags.writeable = False
        self._pred.flags.writeable = False
        self._classical: MultipartyClassicalResult | None = None
        self._quantum: dict[tuple[int, int], MultipartyQuantumValue] = {}

    @property
    def prob(self) -> NDArray[np.float64]:
        """Question probabilities, read-only float64 array (q_1, ..., q_N)."""
        return self._prob

    @property
    def pred(self) -> NDArray[np.int8]:
        """Required XOR of the answers, read-only int8 array (q_1, ..., q_N)."""
        return self._pred

    @property
    def players(self) -> int:
        """N, the number of players."""
        return self._prob.ndim

    @property
    def shape(self) -> tuple[int, ...]:
        """(q_1, ..., q_N): questions per player."""
        return tuple(int(q) for q in self._prob.shape)

    @property
    def cost(self) -> NDArray[np.float64]:
        """C = prob (-1)^pred, shape (q_1, ..., q_N)."""
        return self._prob * (1.0 - 2.0 * self._pred)

    def win_probability(self, correlations: ArrayLike) -> float:
        """Win probability from correlators E[x] = <(-1)^(a_1 xor ... xor a_N)>, shape of prob."""
        corr = np.asarray(correlations, dtype=np.float64)
        if corr.shape != self._prob.shape:
            raise ValueError(f"correlations must have shape {self._prob.shape}, got {corr.shape}")
        return float(0.5 + 0.5 * np.sum(self.cost * corr))

    def classical_value(self) -> MultipartyClassicalResult:
        """Exact classical value and an optimal deterministic strategy (cached).

        Raises:
            ValueError: if the players other than the one with most questions
                have more than 2^22 deterministic strategies together.
        """
        if self._classical is None:
            self._classical = solve_multiparty_classical(self.cost, self._prob, self._pred)
        return self._classical

    def quantum_value(self, restarts: int = 20, seed: int = 0) -> MultipartyQuantumValue:
        """The quantum value bracketed (cached per arguments).

        Lower: a GHZ-state strategy optimised by see-saw from ``restarts``
        random starts (seeded), returned with it. Upper: the certified
        Tsirelson bound of the best split "one player against the rest"
        (:mod:`qnic.games.multiparty_quantum`).
        """
        key = (restarts, seed)
        if key not in self._quantum:
            self._quantum[key] = quantum_bracket(self.cost, restarts, seed)
        return self._quantum[key]

    def __repr__(self) -> str:
        return f"MultipartyXorGame(shape={self.shape})"


def _signs(index: NDArray[np.int64], bits: int) -> NDArray[np.float64]:
    """Sign vectors with first entry +1 from integers (rows), shape (len(index), bits + 1)."""
    out = np.ones((index.size, bits + 1))
    out[:, 1:] = 1.0 - 2.0 * ((index[:, None] >> np.arange(bits)) & 1)
    return out


def solve_multiparty_classical(cost: NDArray[np.float64], prob: NDArray[np.float64],
                               pred: NDArray[np.int8]) -> MultipartyClassicalResult:
    """Enumerate all players but the one with most questions, who best-responds."""
    responder = int(np.argmax(cost.shape))
    mat = np.moveaxis(cost, responder, -1)  # (q_others..., q_responder)
    sizes = mat.shape[:-1]
    bits = [q - 1 for q in sizes]
    total = 1 << sum(bits)
    if total > MAX_MULTIPARTY_STRATEGIES:
        raise ValueError(f"the exact classical value enumerates 2^{sum(bits)} strategies of the "
                         f"players other than the one with most questions (limit "
                         f"2^{int(math.log2(MAX_MULTIPARTY_STRATEGIES))}); this game has "
                         f"questions {cost.shape}")
    best_bias, best_index = -np.inf, 0
    chunk = max(1, min(_CHUNK, _CHUNK_ENTRIES // mat.size))  # bounded memory for large tensors
    for start in range(0, total, chunk):
        index = np.arange(start, min(total, start + chunk), dtype=np.int64)
        contracted = np.broadcast_to(mat, (index.size, *mat.shape))
        shift = 0
        for q_bits in bits:  # contract the players' axes one by one with their signs
            signs = _signs((index >> shift) & ((1 << q_bits) - 1), q_bits)
            contracted = np.einsum("cq...,cq->c...", contracted, signs)
            shift += q_bits
        bias = np.abs(contracted).sum(axis=-1)
        i = int(np.argmax(bias))
        if bias[i] > best_bias:
            best_bias, best_index = float(bias[i]), int(index[i])
    answers = _answers_of(mat, bits, best_index)
    order = list(range(len(sizes)))
    order.insert(responder, len(sizes))
    answers = [answers[k] for k in order]
    won = _xor_table(answers)
    value = float(prob[won == pred].sum())
    return MultipartyClassicalResult(value=value, answers=tuple(answers), strategies_searched=total)


def _answers_of(mat: NDArray[np.float64], bits: list[int], index: int) -> list[NDArray[np.int8]]:
    """Answer bits of the enumerated players (strategy number ``index``) and the responder."""
    signs, shift = [], 0
    contracted = mat
    for q_bits in bits:
        s = _signs(np.array([(index >> shift) & ((1 << q_bits) - 1)]), q_bits)[0]
        signs.append(s)
        contracted = np.tensordot(s, contracted, axes=(0, 0))
        shift += q_bits
    signs.append(np.where(contracted >= 0.0, 1.0, -1.0))
    return [((1.0 - s) / 2.0).astype(np.int8) for s in signs]


def _xor_table(answers: list[NDArray[np.int8]]) -> NDArray[np.int8]:
    """a_1(x_1) xor ... xor a_N(x_N) for every question tuple, shape (q_1, ..., q_N)."""
    out = np.zeros(tuple(a.size for a in answers), dtype=np.int8)
    for i, a in enumerate(answers):
        shape = [1] * len(answers)
        shape[i] = a.size
        out ^= a.reshape(shape)
    return out


def mermin_game(players: int = 3) -> MultipartyXorGame:
    """The Mermin-GHZ game of N >= 3 players (GHZ for N = 3).

    Questions x_i in {0, 1}, uniform over the tuples with an even sum; win
    when the XOR of the answers is (sum x_i / 2) mod 2. Quantum value 1 (GHZ
    state, X for question 0 and Y for 1; Mermin, Phys. Rev. Lett. 65, 1838
    (1990)); classical value 1/2 + 2^-ceil(N/2) (Brassard, Broadbent and
    Tapp, Found. Phys. 35, 1877 (2005)).
    """
    if players < 3:
        raise ValueError(f"the Mermin game needs at least 3 players, got {players}")
    grid = np.indices((2,) * players).sum(axis=0)
    even = grid % 2 == 0
    prob = even / even.sum()
    pred = ((grid // 2) % 2) * even
    return MultipartyXorGame(prob, pred.astype(np.int8))
