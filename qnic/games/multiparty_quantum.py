"""Quantum value of a multi-player XOR game, bracketed (docs/balancing.md).

Lower bound: an explicit strategy on the N-qubit GHZ state
(|0...0> + |1...1>)/sqrt 2, each player measuring a +-1 observable A_i(x_i)
per question, optimised by see-saw: with every other player fixed, the bias
sum_x C[x] <GHZ| A_1(x_1) ... A_N(x_N) |GHZ> is linear in player i's
observables, sum_{x_i} tr(A_i(x_i) M_i(x_i)), and the best +-1 observable for
each M is its sign (+1 on the non-negative eigenspace, -1 on the negative),
so each step is exact and the bias never decreases. The value is that of the
returned observables on the returned state.

Upper bound: grouping players 2..N into one party that gets their joint
question and answers the XOR of their bits can only help them (the group may
act jointly), so the quantum value is at most that of the two-player XOR game
"player i against the rest", whose value Tsirelson's SDP gives with a dual
certificate. The same holds for any split of the players into two groups;
the smallest bound over the splits is reported. (The first NPA level does
not hold the N-body correlators these games score.)
"""

from __future__ import annotations

import string
from dataclasses import dataclass, field

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.games.sdp import solve_tsirelson

Complex = NDArray[np.complex128]
Real = NDArray[np.float64]

_TOL = 1e-10  # a restart stops once a round improves its bias by no more than this
_MAX_ROUNDS = 300
_MAX_SPLIT_QUESTIONS = 400  # splits into two groups of players tried up to this m + n
_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=np.complex128)


def ghz_state(players: int) -> Complex:
    """(|0...0> + |1...1>)/sqrt 2 on N qubits, shape (2^N,), player 1 the most significant."""
    state = np.zeros(1 << players, dtype=np.complex128)
    state[0] = state[-1] = 1.0 / np.sqrt(2.0)
    return state


@dataclass(frozen=True)
class GhzStrategy:
    """Qubit observables on a GHZ state: what each player measures, and the outcomes' law.

    Attributes:
        observables: per player, A_i(x_i) as complex128 arrays (q_i, 2, 2),
            Hermitian with eigenvalues +-1 (outcome bit 0 for +1).
        state: the shared state, shape (2^N,), player 1 the most significant qubit.
        value: win probability of the strategy in its game.
    """

    observables: tuple[Complex, ...]
    state: Complex = field(repr=False)
    value: float
    _law: Real | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def players(self) -> int:
        """N."""
        return len(self.observables)

    def bloch_vectors(self, player: int) -> Real:
        """(r_X, r_Y, r_Z) of each question's observable A = r . sigma, shape (q_i, 3).

        A deterministic answer (A = +-I) has the zero vector; see :meth:`projectors`.
        """
        obs = self.observables[player]
        return np.einsum("kab,qba->qk", _PAULI, obs).real / 2.0

    def projectors(self, player: int) -> Complex:
        """P(a | x) = (I + (-1)^a A(x)) / 2 of one player, shape (q_i, 2, 2, 2) [x, a]."""
        obs = self.observables[player]
        eye = np.eye(2)
        return np.stack([(eye + obs) / 2.0, (eye - obs) / 2.0], axis=1)

    def correlations(self) -> Real:
        """E[x] = <state| A_1(x_1) ... A_N(x_N) |state>, shape (q_1, ..., q_N)."""
        return _expectations(self.state, list(self.observables))

    def outcome_probabilities(self) -> Real:
        """p(a_1..a_N | x_1..x_N), shape (q_1, ..., q_N, 2, ..., 2)."""
        return _joint_law(self.state, [self.projectors(i) for i in range(self.players)])

    def sample(self, questions: ArrayLike, rng: np.random.Generator) -> NDArray[np.int8]:
        """Answers drawn from the Born rule for each round's question tuple.

        Args:
            questions: int array (rounds, N), player i's question in column i.
            rng: the source of randomness.

        Returns:
            int8 array (rounds, N) of answer bits.
        """
        x = np.asarray(questions, dtype=np.int64)
        shape = tuple(o.shape[0] for o in self.observables)
        if x.ndim != 2 or x.shape[1] != self.players:
            raise ValueError(f"questions must have shape (rounds, {self.players}), got {x.shape}")
        if np.any(x < 0) or np.any(x >= np.array(shape)):
            raise ValueError(f"questions out of range for a game of shape {shape}")
        law = self._law
        if law is None:  # computed once: (question tuples, 2^N) outcome law
            law = np.clip(self.outcome_probabilities(), 0.0, None).reshape(-1, 1 << self.players)
            object.__setattr__(self, "_law", law)
        rows: NDArray[np.intp] = np.asarray(np.ravel_multi_index(tuple(x.T), shape))
        cumulative: Real = np.cumsum(law[rows], axis=1)
        draw = rng.random((x.shape[0], 1)) * cumulative[:, -1:]
        outcome = np.minimum((draw >= cumulative).sum(axis=1), (1 << self.players) - 1)
        return ((outcome[:, None] >> np.arange(self.players)[::-1]) & 1).astype(np.int8)


def _letters(count: int) -> list[str]:
    return list(string.ascii_letters[:count])


def _expectations(state: Complex, ops: list[Complex]) -> Real:
    """<state| O_1(x_1) ... O_N(x_N) |state> for every question tuple, shape (q_1, ..., q_N)."""
    n = len(ops)
    names = _letters(3 * n)
    bra, ket, qs = names[:n], names[n:2 * n], names[2 * n:]
    spec = ["".join(bra)] + [f"{qs[i]}{bra[i]}{ket[i]}" for i in range(n)] + ["".join(ket)]
    psi = state.reshape((2,) * n)
    out = np.einsum(",".join(spec) + "->" + "".join(qs), psi.conj(), *ops, psi, optimize=True)
    return np.asarray(out.real, dtype=np.float64)


def _joint_law(state: Complex, projs: list[Complex]) -> Real:
    """p(a | x) = <state| P_1(a_1|x_1) ... P_N(a_N|x_N) |state>: (q_1..q_N, 2..2)."""
    n = len(projs)
    names = _letters(4 * n)
    bra, ket, qs, outs = names[:n], names[n:2 * n], names[2 * n:3 * n], names[3 * n:]
    spec = ["".join(bra)] + [f"{qs[i]}{outs[i]}{bra[i]}{ket[i]}" for i in range(n)] + ["".join(ket)]
    psi = state.reshape((2,) * n)
    out = np.einsum(",".join(spec) + "->" + "".join(qs + outs), psi.conj(), *projs, psi,
                    optimize=True)
    return np.asarray(out.real, dtype=np.float64)


# On the GHZ state, <GHZ| A_1 ... A_N |GHZ> = 1/2 sum over the four patterns (u, v)
# of prod_j A_j[u, v]: the two diagonal ones (all 0s, all 1s) and the two coherences.
_PATTERNS = ((0, 0), (1, 1), (0, 1), (1, 0))


def _pattern_entries(ops: list[Complex]) -> list[Complex]:
    """Per player, A_j(x_j)[u, v] for the four patterns: arrays (4, q_j)."""
    return [np.stack([o[:, u, v] for u, v in _PATTERNS]) for o in ops]


def _contract_others(cost: Real, entries: list[Complex], player: int) -> Complex:
    """K[p, x_i] = sum over the other questions of C[x] prod_{j != i} entries_j[p, x_j]: (4, q_i)."""
    t = np.broadcast_to(cost.astype(np.complex128), (4, *cost.shape))
    for j in reversed(range(cost.ndim)):  # highest axis first: lower axes keep their place
        if j != player:
            t = np.einsum("p...q,pq->p...", np.moveaxis(t, j + 1, -1), entries[j])
    return np.asarray(t)


def ghz_correlations(ops: list[Complex]) -> Real:
    """<GHZ| A_1(x_1) ... A_N(x_N) |GHZ> for every question tuple, shape (q_1, ..., q_N)."""
    entries = _pattern_entries(ops)
    total = np.zeros(tuple(o.shape[0] for o in ops), dtype=np.complex128)
    for p in range(4):
        term = np.ones((), dtype=np.complex128)
        for e in entries:
            term = np.multiply.outer(term, e[p])
        total += term
    return np.asarray(total.real / 2.0)


def _response_operators(cost: Real, ops: list[Complex], player: int) -> Complex:
    """M_i(x_i) on the GHZ state, with bias = sum_{x_i} tr(A_i(x_i) M_i(x_i)): (q_i, 2, 2)."""
    k = _contract_others(cost, _pattern_entries(ops), player) / 2.0  # (4, q_i)
    n = np.zeros((k.shape[1], 2, 2), dtype=np.complex128)  # bias = sum A[u, v] n[u, v]
    for p, (u, v) in enumerate(_PATTERNS):
        n[:, u, v] = k[p]
    m = np.swapaxes(n, 1, 2)  # tr(A M) = sum A[u, v] M[v, u]
    return np.asarray((m + np.swapaxes(m, 1, 2).conj()) / 2.0)


def _sign_of(mats: Complex) -> Complex:
    """The +-1 observable maximising tr(A M) for each Hermitian M: (q, 2, 2)."""
    values, vecs = np.linalg.eigh(mats)
    signs = np.where(values >= 0.0, 1.0, -1.0)
    return np.asarray(np.einsum("qij,qj,qkj->qik", vecs, signs, vecs.conj()))


def _random_observables(shape: tuple[int, ...], rng: np.random.Generator) -> list[Complex]:
    out = []
    for q in shape:
        r = rng.standard_normal((q, 3))
        r /= np.linalg.norm(r, axis=1, keepdims=True)
        out.append(np.asarray(np.einsum("qk,kab->qab", r.astype(np.complex128), _PAULI)))
    return out


def ghz_seesaw(cost: Real, restarts: int = 20,
               rng: np.random.Generator | None = None) -> GhzStrategy:
    """The best GHZ-state strategy found by see-saw from ``restarts`` random starts.

    Args:
        cost: C = prob (-1)^pred of the game, shape (q_1, ..., q_N).
        restarts: random starting observables (>= 1).
        rng: their source (default: seed 0).

    Raises:
        ValueError: if restarts < 1.
    """
    if restarts < 1:
        raise ValueError(f"restarts must be >= 1, got {restarts}")
    rng = rng if rng is not None else np.random.default_rng(0)
    players, shape = cost.ndim, tuple(int(q) for q in cost.shape)
    state = ghz_state(players)
    best_bias, best_ops = -np.inf, _random_observables(shape, rng)
    for _ in range(restarts):
        ops = _random_observables(shape, rng)
        bias = -np.inf
        for _ in range(_MAX_ROUNDS):
            for i in range(players):
                ops[i] = _sign_of(_response_operators(cost, ops, i))
            new = float(np.sum(cost * ghz_correlations(ops)))
            if new - bias <= _TOL:
                bias = max(bias, new)
                break
            bias = new
        if bias > best_bias:
            best_bias, best_ops = bias, [o.copy() for o in ops]
    # the value from the state itself (the general contraction), not the GHZ shortcut
    value = float(0.5 + 0.5 * np.sum(cost * _expectations(state, best_ops)))
    return GhzStrategy(observables=tuple(best_ops), state=state, value=value)


@dataclass(frozen=True)
class MultipartyQuantumValue:
    """The quantum value of a multi-player XOR game, bracketed.

    Attributes:
        lower: the value ``strategy`` achieves (GHZ state, see-saw).
        upper: certified upper bound (bipartite Tsirelson SDP, best split).
        strategy: the GHZ-state strategy behind ``lower``.
        lower_method: how ``lower`` was found.
        upper_method: which split gave ``upper``.
    """

    lower: float
    upper: float
    strategy: GhzStrategy
    lower_method: str
    upper_method: str

    @property
    def width(self) -> float:
        """upper - lower (>= 0)."""
        return max(0.0, self.upper - self.lower)


def bipartite_bound(cost: Real) -> tuple[float, tuple[int, ...]]:
    """The smallest Tsirelson bound over the splits of the players into two groups.

    Each group acts as one player (joint question, XOR of its bits as
    answer), which can only help; the split "one player against the rest"
    is always tried, the others while the two-player game has at most
    ``_MAX_SPLIT_QUESTIONS`` questions in all.

    Args:
        cost: C = prob (-1)^pred of the game, shape (q_1, ..., q_N).

    Returns:
        (bound on the win probability, the players of the group holding player 1).
    """
    players = cost.ndim
    best = np.inf
    group: tuple[int, ...] = (0,)
    for mask in range(1 << (players - 1)):  # player 1 always in the first group
        first = (0,) + tuple(i + 1 for i in range(players - 1) if (mask >> i) & 1)
        if len(first) == players:
            continue
        rest = tuple(i for i in range(players) if i not in first)
        rows = int(np.prod([cost.shape[i] for i in first]))
        cols = cost.size // rows
        if len(first) > 1 and len(rest) > 1 and rows + cols > _MAX_SPLIT_QUESTIONS:
            continue
        split = np.transpose(cost, first + rest).reshape(rows, cols)
        bound = solve_tsirelson(np.ascontiguousarray(split)).upper_bound
        if bound < best:
            best, group = bound, first
    return float(min(best, 1.0)), group


def quantum_bracket(cost: Real, restarts: int = 20, seed: int = 0) -> MultipartyQuantumValue:
    """GHZ see-saw lower bound and the bipartite Tsirelson upper bound of the game with cost C."""
    strategy = ghz_seesaw(cost, restarts, np.random.default_rng(seed))
    bound, group = bipartite_bound(cost)
    names = ", ".join(str(i + 1) for i in group)
    who = f"player {names} against the others" if len(group) == 1 else \
        f"players {names} against the rest"
    return MultipartyQuantumValue(
        lower=strategy.value, upper=max(bound, strategy.value), strategy=strategy,
        lower_method=f"GHZ-state see-saw, {restarts} restarts (seed {seed})",
        upper_method=f"Tsirelson SDP dual bound of {who}, each group acting jointly")
