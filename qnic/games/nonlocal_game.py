"""Two-player nonlocal games with more than two outputs (issue #6, "Beyond XOR").

``NonlocalGame(prob, win)``: a referee asks Alice question x and Bob
question y with probability prob[x][y]; they answer a in range(A) and b in
range(B) without communicating and win when win[x][y][a][b] is 1. The
classical value is found exactly by enumeration (small games), the quantum
value is bracketed by a see-saw lower bound (``qnic.games.seesaw``) and the
first level of the NPA hierarchy as an upper bound (``qnic.games.npa``).
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.games.npa import NpaBound, npa1_bound
from qnic.games.seesaw import SeesawResult, run_seesaw
from qnic.games.xor import InvalidGameError, XorGame, _validate_prob

WinPredicate = Callable[[int, int, int, int], Any]

# One player's deterministic strategies are enumerated: A^X of them. 2^22 take
# a few seconds in chunks; beyond that exhaustive search is the wrong tool.
MAX_CLASSICAL_STRATEGIES = 1 << 22
_CHUNK = 1 << 14


@dataclass(frozen=True)
class NonlocalClassicalResult:
    """An optimal deterministic strategy of a nonlocal game and its value.

    Attributes:
        value: win probability of the strategy: the classical value, since
            shared randomness is a mixture of deterministic strategies.
        a: Alice's answer per question, int64 array of shape (X,).
        b: Bob's answer per question, int64 array of shape (Y,).
        strategies_searched: deterministic strategies of the enumerated player.
    """

    value: float
    a: NDArray[np.int64]
    b: NDArray[np.int64]
    strategies_searched: int


def _win_from_array(data: ArrayLike, shape: tuple[int, int]) -> NDArray[np.bool_]:
    if isinstance(data, (str, bytes, Mapping)):
        raise InvalidGameError(f"win must be a 4-D array win[x][y][a][b] or a predicate, "
                               f"got {type(data).__name__}")
    try:
        arr = np.asarray(data)
    except ValueError as exc:  # ragged nesting
        raise InvalidGameError(f"win must be a rectangular 4-D array: {exc}") from None
    if arr.ndim != 4:
        raise InvalidGameError(f"win must be 4-D (win[x][y][a][b]), got {arr.ndim}-D "
                               f"with shape {arr.shape}")
    if arr.shape[:2] != shape:
        raise InvalidGameError(f"win has questions of shape {arr.shape[:2]} but prob has "
                               f"shape {shape}; they must match")
    if arr.shape[2] == 0 or arr.shape[3] == 0:
        raise InvalidGameError(f"each player needs at least one output, win has shape {arr.shape}")
    if arr.dtype == object or not (np.issubdtype(arr.dtype, np.number) or arr.dtype == bool):
        raise InvalidGameError(f"win must hold 0/1 or booleans, got entries of type {arr.dtype}")
    bad = np.argwhere((arr != 0) & (arr != 1))
    if bad.size:
        x, y, a, b = bad[0]
        raise InvalidGameError(f"win[{x}][{y}][{a}][{b}] = {arr[x, y, a, b].item()!r}: "
                               "entries must be 0 or 1")
    return arr.astype(bool)


def _win_from_predicate(pred: WinPredicate, shape: tuple[int, int],
                        outputs: int | tuple[int, int] | None) -> NDArray[np.bool_]:
    if outputs is None:
        raise InvalidGameError("a win predicate needs outputs=K (both players) or (A, B)")
    sizes = (outputs, outputs) if isinstance(outputs, int) else tuple(outputs)
    if len(sizes) != 2 or not all(isinstance(k, (int, np.integer)) and k >= 1 for k in sizes):
        raise InvalidGameError(f"outputs must be a positive int or a pair of them, got {outputs!r}")
    out = np.zeros((*shape, int(sizes[0]), int(sizes[1])), dtype=bool)
    for x, y, a, b in itertools.product(*(range(k) for k in out.shape)):
        try:
            verdict = pred(x, y, a, b)
        except Exception as exc:
            raise InvalidGameError(f"win({x}, {y}, {a}, {b}) raised "
                                   f"{type(exc).__name__}: {exc}") from exc
        is_bool = isinstance(verdict, (bool, np.bool_))
        if not is_bool and not (isinstance(verdict, (int, np.integer)) and verdict in (0, 1)):
            raise InvalidGameError(f"win({x}, {y}, {a}, {b}) returned {verdict!r}; "
                                   "it must return a bool (or 0/1)")
        out[x, y, a, b] = bool(verdict)
    return out


class NonlocalGame:
    """A two-player nonlocal game with finitely many questions and answers.

    Args:
        prob: prob[x][y], probability of questions (x, y); shape (X, Y),
            non-negative, summing to 1.
        win: win[x][y][a][b] in {0, 1}, shape (X, Y, A, B); or a predicate
            ``win(x, y, a, b) -> bool``, in which case ``outputs`` is needed.
        outputs: with a predicate, the number of answers K of both players,
            or (A, B); ignored (but checked) with an array.

    Raises:
        InvalidGameError: naming the entry or property that is wrong.
    """

    def __init__(self, prob: ArrayLike, win: ArrayLike | WinPredicate,
                 outputs: int | tuple[int, int] | None = None) -> None:
        self._prob = _validate_prob(prob)
        shape = (int(self._prob.shape[0]), int(self._prob.shape[1]))
        if callable(win):
            self._win = _win_from_predicate(win, shape, outputs)
        else:
            self._win = _win_from_array(win, shape)
            if outputs is not None:
                sizes = (outputs, outputs) if isinstance(outputs, int) else tuple(outputs)
                if tuple(sizes) != self._win.shape[2:]:
                    raise InvalidGameError(f"outputs={outputs!r} but win has outputs "
                                           f"{self._win.shape[2:]}")
        self._prob.flags.writeable = False
        self._win.flags.writeable = False
        self._classical: NonlocalClassicalResult | None = None
        self._npa: dict[bool, NpaBound] = {}

    @classmethod
    def from_xor(cls, game: XorGame) -> NonlocalGame:
        """The XOR game as a nonlocal game with bits a, b: win when a xor b = pred[x][y]."""
        pred = game.pred.astype(bool)
        xor = np.array([[0, 1], [1, 0]], dtype=bool)
        win = xor[None, None, :, :] == pred[:, :, None, None]
        return cls(game.prob, win)

    @property
    def prob(self) -> NDArray[np.float64]:
        """Question probabilities, read-only float64 array of shape (X, Y)."""
        return self._prob

    @property
    def win(self) -> NDArray[np.bool_]:
        """Winning answers, read-only bool array of shape (X, Y, A, B)."""
        return self._win

    @property
    def shape(self) -> tuple[int, int, int, int]:
        """(X, Y, A, B): numbers of questions and of answers of Alice and Bob."""
        x, y, a, b = self._win.shape
        return int(x), int(y), int(a), int(b)

    @property
    def weights(self) -> NDArray[np.float64]:
        """V[x, y, a, b] = prob[x, y] win[x, y, a, b], shape (X, Y, A, B)."""
        return self._prob[:, :, None, None] * self._win

    def win_probability(self, behaviour: ArrayLike) -> float:
        """Win probability of a strategy with conditional distribution p(a, b | x, y).

        Args:
            behaviour: p[x, y, a, b], shape (X, Y, A, B).

        Raises:
            ValueError: if the shape does not match the game.
        """
        p = np.asarray(behaviour, dtype=np.float64)
        if p.shape != self._win.shape:
            raise ValueError(f"behaviour must have shape {self._win.shape}, got {p.shape}")
        return float(np.sum(self.weights * p))

    def classical_value(self) -> NonlocalClassicalResult:
        """Exact classical value and an optimal deterministic strategy (cached).

        The player with fewer deterministic strategies (A^X or B^Y) is
        enumerated; the other best-responds question by question.

        Raises:
            ValueError: if both players have more than 2^22 strategies.
        """
        if self._classical is None:
            self._classical = _solve_classical(self.weights)
        return self._classical

    def seesaw(self, dim: int = 2, restarts: int = 20, seed: int = 0,
               max_iter: int = 500) -> SeesawResult:
        """Lower bound on the quantum value by see-saw on a maximally entangled state.

        Args:
            dim: local dimension d of the state sum_i |ii> / sqrt(d) (>= 1).
            restarts: random starting points, all iterated together (>= 1).
            seed: seed of ``numpy.random.default_rng``.
            max_iter: maximum see-saw rounds (one round: Bob then Alice).

        Returns:
            The best strategy found: projectors, behaviour and value.
        """
        return run_seesaw(self.weights, dim, restarts, np.random.default_rng(seed), max_iter)

    def npa1_upper_bound(self, positivity: bool = True) -> NpaBound:
        """Certified upper bound on the quantum value from NPA level 1 (cached).

        Args:
            positivity: also require every p(a, b | x, y) >= 0 (valid for
                every quantum strategy; level 1 alone does not imply it).

        Returns:
            The bound with its dual certificate and the primal value reached.
        """
        if positivity not in self._npa:
            self._npa[positivity] = npa1_bound(self.weights, positivity)
        return self._npa[positivity]

    def __repr__(self) -> str:
        return f"NonlocalGame(shape={self.shape})"


def _solve_classical(weights: NDArray[np.float64]) -> NonlocalClassicalResult:
    """Enumerate Alice's (or, if fewer, Bob's) deterministic strategies."""
    transposed = weights.shape[3] ** weights.shape[1] < weights.shape[2] ** weights.shape[0]
    v = weights.transpose(1, 0, 3, 2) if transposed else weights
    n_q, _, n_a, _ = v.shape
    total = n_a ** n_q
    if total > MAX_CLASSICAL_STRATEGIES:
        raise ValueError(f"classical value by enumeration needs one player with at most "
                         f"{MAX_CLASSICAL_STRATEGIES} deterministic strategies; "
                         f"this game has shape {weights.shape}")
    radix = n_a ** np.arange(n_q, dtype=np.int64)
    best_score, best_index = -np.inf, 0
    for start in range(0, total, _CHUNK):
        digits = (np.arange(start, min(total, start + _CHUNK))[:, None] // radix) % n_a
        # gains[s, y, b] = sum_x V[x, y, s_x, b]
        gains = sum(v[x][:, digits[:, x], :].transpose(1, 0, 2) for x in range(n_q))
        score = np.asarray(gains).max(axis=2).sum(axis=1)
        i = int(np.argmax(score))
        if score[i] > best_score:
            best_score, best_index = float(score[i]), start + i
    own = (best_index // radix) % n_a
    response = sum(v[x][:, own[x], :] for x in range(n_q)).argmax(axis=1)
    a, b = (response, own) if transposed else (own, response)
    value = float(sum(weights[x, y, a[x], b[y]]
                      for x in range(weights.shape[0]) for y in range(weights.shape[1])))
    return NonlocalClassicalResult(value=value, a=np.asarray(a, dtype=np.int64),
                                   b=np.asarray(b, dtype=np.int64), strategies_searched=total)


def chsh_nonlocal_game() -> NonlocalGame:
    """CHSH as a nonlocal game: a xor b = x AND y (values 3/4 and cos^2(pi/8))."""
    return NonlocalGame(np.full((2, 2), 0.25), lambda x, y, a, b: (a ^ b) == (x & y), outputs=2)


def magic_square_game() -> NonlocalGame:
    """The Mermin-Peres magic square game (classical value 8/9, quantum value 1).

    Alice gets a row x, Bob a column y, uniformly; Alice answers the three
    bits of her row with even parity, Bob those of his column with odd
    parity, each as the index 0..3 of the first two bits (the third is fixed
    by the parity); they win when they agree on the shared cell.
    """
    def bits(answer: int, parity: int) -> tuple[int, int, int]:
        first, second = answer >> 1, answer & 1
        return first, second, first ^ second ^ parity

    return NonlocalGame(np.full((3, 3), 1.0 / 9.0),
                        lambda x, y, a, b: bits(a, 0)[y] == bits(b, 1)[x], outputs=4)


def linear_game(q: int, questions: int | None = None) -> NonlocalGame:
    """The CHSH_q game: x, y uniform in range(questions), win when a + b = x y (mod q).

    Args:
        q: number of answers (>= 2); q = 2 with two questions is CHSH.
        questions: number of questions per player (default q).
    """
    if q < 2:
        raise ValueError(f"the linear game needs q >= 2 answers, got {q}")
    m = q if questions is None else questions
    if m < 1:
        raise ValueError(f"questions must be >= 1, got {m}")
    return NonlocalGame(np.full((m, m), 1.0 / (m * m)),
                        lambda x, y, a, b: (a + b) % q == (x * y) % q, outputs=q)
