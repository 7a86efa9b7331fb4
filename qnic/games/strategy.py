"""Optimal quantum strategies of XOR games: vectors and observables (docs/balancing.md).

Tsirelson's construction: for unit vectors in R^d take d anticommuting
Hermitian involutions Gamma_i on C^D, D = 2^floor(d/2) (Jordan-Wigner:
Z..Z X I..I and Z..Z Y I..I, plus Z..Z when d is odd; the Pauli matrices X,
Y, Z for d <= 3), and the maximally entangled state |Phi> = sum_i |ii>/sqrt D.
Alice measures A_x = sum_i u_xi Gamma_i and Bob B_y = sum_i v_yi Gamma_i^T;
then <Phi| A_x (x) B_y |Phi> = Tr(A_x B_y^T)/D = <u_x, v_y>. Strategies in
d dimensions need floor(d/2) Bell pairs.

The interior-point solution lies in the relative interior of the optimal
face, so its rank can exceed what an optimal strategy needs; the vectors are
therefore re-optimised at each lower rank (Burer-Monteiro with mixing ascent)
and the lowest rank that reaches the certified bound is kept.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qnic.games.sdp import Array, mixing_ascent, normalize_rows

# a lower-rank strategy is accepted when its bias is within this of the dual bound
RANK_REDUCTION_TOL = 1e-8
_RANDOM_STARTS = 3
_PAULI = {
    "I": np.eye(2, dtype=np.complex128),
    "X": np.array([[0, 1], [1, 0]], dtype=np.complex128),
    "Y": np.array([[0, -1j], [1j, 0]], dtype=np.complex128),
    "Z": np.array([[1, 0], [0, -1]], dtype=np.complex128),
}


def _kron_word(word: str) -> NDArray[np.complex128]:
    """The tensor product of the Pauli matrices named by ``word`` (e.g. "ZZX")."""
    out: NDArray[np.complex128] = np.eye(1, dtype=np.complex128)
    for letter in word:
        out = np.kron(out, _PAULI[letter]).astype(np.complex128)
    return out


def clifford_generators(d: int) -> NDArray[np.complex128]:
    """d pairwise anticommuting Hermitian involutions, shape (d, D, D).

    D = 2 for d <= 3 (the Pauli matrices X, Y, Z, the first d of them) and
    2^floor(d/2) above (Jordan-Wigner).
    """
    if d < 1:
        raise ValueError(f"dimension must be >= 1, got {d}")
    if d <= 3:
        return np.stack([_PAULI[p] for p in "XYZ"[:d]])
    qubits = d // 2
    words = []
    for k in range(qubits):
        for p in "XY":
            words.append("Z" * k + p + "I" * (qubits - k - 1))
    if d % 2:
        words.append("Z" * qubits)
    return np.stack([_kron_word(word) for word in words])


def maximally_entangled_state(local_dimension: int) -> NDArray[np.complex128]:
    """sum_i |ii> / sqrt(D), shape (D * D,); for D = 2 this is |Phi+> = (HH + VV)/sqrt 2."""
    return np.eye(local_dimension, dtype=np.complex128).reshape(-1) / np.sqrt(local_dimension)


@dataclass(frozen=True)
class QuantumStrategy:
    """A quantum strategy of an XOR game built from unit vectors.

    Attributes:
        alice_vectors: u_x, float64 array of shape (m, d).
        bob_vectors: v_y, float64 array of shape (n, d).
        value: win probability the strategy achieves.
        upper_bound: certified upper bound on the quantum value of the game.
        alice_observables: A_x, complex128 array of shape (m, D, D).
        bob_observables: B_y, complex128 array of shape (n, D, D).
        state: the shared maximally entangled state, shape (D * D,), with
            Alice's factor first.
    """

    alice_vectors: Array
    bob_vectors: Array
    value: float
    upper_bound: float
    alice_observables: NDArray[np.complex128] = field(repr=False)
    bob_observables: NDArray[np.complex128] = field(repr=False)
    state: NDArray[np.complex128] = field(repr=False)

    @classmethod
    def from_vectors(cls, cost: Array, u: Array, v: Array, upper_bound: float) -> QuantumStrategy:
        """Build the observables and the state for vectors u (m, d) and v (n, d)."""
        gammas = clifford_generators(u.shape[1])
        alice = np.einsum("xi,iab->xab", u.astype(np.complex128), gammas)
        bob = np.einsum("yi,iab->yab", v.astype(np.complex128), np.swapaxes(gammas, 1, 2))
        value = 0.5 + 0.5 * float(np.sum(cost * (u @ v.T)))
        return cls(alice_vectors=u, bob_vectors=v, value=value, upper_bound=upper_bound,
                   alice_observables=alice, bob_observables=bob,
                   state=maximally_entangled_state(gammas.shape[1]))

    @property
    def dimension(self) -> int:
        """d, the dimension the vectors span."""
        return int(self.alice_vectors.shape[1])

    @property
    def local_dimension(self) -> int:
        """D, the Hilbert-space dimension of each player's share."""
        return int(self.alice_observables.shape[1])

    @property
    def bell_pairs_needed(self) -> int:
        """floor(d/2): 0 for a deterministic (classical) strategy, 1 for d = 2, 3."""
        return self.dimension // 2

    def correlations(self) -> Array:
        """Predicted correlators <u_x, v_y>, shape (m, n)."""
        return self.alice_vectors @ self.bob_vectors.T

    def observable_correlations(self) -> Array:
        """<state| A_x (x) B_y |state> computed from the matrices, shape (m, n)."""
        dim = self.local_dimension
        psi = self.state.reshape(dim, dim)
        # <psi| A (x) B |psi> = sum conj(psi_ij) A_ik B_jl psi_kl
        corr = np.einsum("ij,xik,yjl,kl->xy", psi.conj(), self.alice_observables,
                         self.bob_observables, psi)
        return np.asarray(corr.real, dtype=np.float64)


def compress(u: Array, v: Array, rel_tol: float = 1e-9) -> tuple[Array, Array]:
    """Rotate the vectors into the coordinates of their span, (m, d), (n, d) -> (m, k), (n, k)."""
    stacked = np.vstack([u, v])
    _, sing, vt = np.linalg.svd(stacked, full_matrices=False)
    k = max(1, int(np.sum(sing > rel_tol * sing[0])))
    reduced = stacked @ vt[:k].T
    reduced = normalize_rows(reduced, np.eye(1, k).repeat(reduced.shape[0], axis=0))
    return reduced[: u.shape[0]], reduced[u.shape[0]:]


def _starts(u: Array, v: Array, rank: int,
            rng: np.random.Generator) -> list[tuple[Array, Array]]:
    """Starting points of rank ``rank``: the truncated principal components, then random."""
    stacked = np.vstack([u, v])
    _, _, vt = np.linalg.svd(stacked, full_matrices=False)
    first = np.eye(1, rank).repeat(stacked.shape[0], axis=0)
    pca = normalize_rows(stacked @ vt[:rank].T, first)
    starts = [(pca[: u.shape[0]], pca[u.shape[0]:])]
    for _ in range(_RANDOM_STARTS):
        g = normalize_rows(rng.standard_normal((stacked.shape[0], rank)), first)
        starts.append((g[: u.shape[0]], g[u.shape[0]:]))
    return starts


def reduce_strategy(cost: Array, u: Array, v: Array, upper_bound: float,
                    seed: int = 0) -> QuantumStrategy:
    """The lowest-rank strategy found that reaches the certified bound.

    Args:
        cost: C, shape (m, n).
        u, v: optimal unit vectors, shapes (m, d) and (n, d).
        upper_bound: certified upper bound on the value (from the dual).
        seed: seed of the random restarts (results are deterministic).

    Returns:
        The strategy of lowest rank r (tried 2 .. d - 1) whose bias is
        within RANK_REDUCTION_TOL of the bound, else the given vectors.
    """
    u, v = compress(u, v)
    target = 2.0 * upper_bound - 1.0
    rng = np.random.default_rng(seed)
    for rank in range(2, u.shape[1]):
        best = max((mixing_ascent(cost, su, sv) for su, sv in _starts(u, v, rank, rng)),
                   key=lambda t: t[2])
        if best[2] >= target - RANK_REDUCTION_TOL:
            u, v = compress(best[0], best[1])
            break
    return QuantumStrategy.from_vectors(cost, u, v, upper_bound)
