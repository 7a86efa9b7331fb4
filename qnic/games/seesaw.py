"""See-saw lower bounds on the quantum value of a nonlocal game.

Both players share |Phi_d> = sum_i |i>|i> / sqrt(d) and measure projectively:
Alice {P^x_a}, Bob {Q^y_b}, so p(a, b | x, y) = tr(P^x_a (Q^y_b)^T) / d and the
win probability is sum V[x, y, a, b] tr(P^x_a conj(Q^y_b)) / d with
V = prob * win. For Bob fixed this is sum_{x,a} tr(P^x_a M^x_a) with
M^x_a = sum_{y,b} V[x, y, a, b] conj(Q^y_b) / d, to be maximised over each
projective measurement separately, and symmetrically for Bob.

A projective measurement is an orthonormal basis (the columns of a unitary
U) with each basis vector assigned to an outcome. With two outcomes the
best one is exact: the projector onto the positive eigenspace of M_0 - M_1
and its complement. With more, the step alternates (i) giving every basis
vector the outcome a maximising <u|M_a|u> and (ii) Jacobi sweeps: for each
pair of basis vectors, the best orthonormal pair in their span, whose first
member is the top eigenvector of the 2 x 2 restriction of M_g(i) - M_g(j).
This polishes two candidates, the current basis and a greedy one (built a
vector at a time from top eigenvectors), and the better is kept unless both
fall below the current measurement. Every step is non-decreasing, so the
see-saw is monotone. Restarts begin from Haar-random bases with outcome
ranks as equal as possible (random ranks strand many restarts in poor local
optima: the magic square at d = 4 then rarely reaches 1), and all restarts
are iterated together as one batch until each stops improving.

The value returned is that of explicit projectors on an explicit state, so
it is a lower bound on the quantum value (up to float64 rounding, ~1e-15);
it can stay below the quantum value where the optimum needs a state that is
not maximally entangled, a larger dimension, or a non-projective step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Complex = NDArray[np.complex128]
Real = NDArray[np.float64]

_SWEEPS = 2  # Jacobi sweeps per measurement update (more than two outcomes)
_TOL = 1e-12  # a restart stops once a round improves it by no more than this


@dataclass(frozen=True)
class SeesawResult:
    """The best see-saw strategy found.

    Attributes:
        value: its win probability, a lower bound on the quantum value.
        dim: local dimension d of the maximally entangled state.
        alice: Alice's projectors P^x_a, complex128 array (X, A, d, d).
        bob: Bob's projectors Q^y_b, complex128 array (Y, B, d, d).
        behaviour: p(a, b | x, y), float64 array (X, Y, A, B).
        restart_values: final value of every restart, shape (restarts,).
        iterations: see-saw rounds run.
    """

    value: float
    dim: int
    alice: Complex
    bob: Complex
    behaviour: Real
    restart_values: Real
    iterations: int


def random_unitaries(shape: tuple[int, ...], dim: int, rng: np.random.Generator) -> Complex:
    """Haar-random unitaries (QR of complex Gaussians), array shape (*shape, dim, dim)."""
    g = rng.standard_normal((*shape, dim, dim)) + 1j * rng.standard_normal((*shape, dim, dim))
    q, r = np.linalg.qr(g)
    phases = np.diagonal(r, axis1=-2, axis2=-1)
    return q * (phases / np.abs(phases))[..., None, :]


def balanced_outcomes(shape: tuple[int, ...], dim: int, outputs: int,
                      rng: np.random.Generator) -> NDArray[np.int64]:
    """Random outcome labels of d basis vectors with ranks as equal as possible: (*shape, d).

    Outcomes are drawn without replacement from range(outputs) repeated, so
    with d <= A all ranks are 0 or 1 and with d > A they differ by at most one.
    """
    pool = np.resize(np.arange(outputs), max(dim, outputs))  # 0..A-1, repeated to length >= d
    keys = rng.random((*shape, pool.size))
    return np.asarray(pool[np.argsort(keys, axis=-1)[..., :dim]], dtype=np.int64)


def projectors(basis: Complex, outcome: NDArray[np.int64], outputs: int) -> Complex:
    """P_a = sum of |u_i><u_i| over basis vectors i with outcome[i] = a.

    Args:
        basis: unitaries with the basis vectors as columns, shape (..., d, d).
        outcome: outcome of each basis vector, int array (..., d), in range(outputs).
        outputs: number of outcomes A.

    Returns:
        Projectors of shape (..., A, d, d), summing to the identity.
    """
    onehot = (outcome[..., None] == np.arange(outputs)).astype(np.float64)  # (..., d, A)
    return np.einsum("...ia,...ki,...li->...akl", onehot, basis, basis.conj())


def _assign(ops: Complex, basis: Complex) -> NDArray[np.int64]:
    """The outcome a maximising <u_i|M_a|u_i> for every basis vector, shape (..., d)."""
    scores = np.einsum("...ki,...akl,...li->...ia", basis.conj(), ops, basis).real
    return np.asarray(np.argmax(scores, axis=-1), dtype=np.int64)


def _score(ops: Complex, basis: Complex, outcome: NDArray[np.int64]) -> Real:
    """sum_i <u_i|M_outcome(i)|u_i>, shape (...)."""
    onehot = outcome[..., None] == np.arange(ops.shape[-3])
    return np.asarray(np.einsum("...ki,...akl,...li,...ia->...", basis.conj(), ops, basis,
                                onehot).real)


def greedy_basis(ops: Complex) -> Complex:
    """A basis built one vector at a time: the best |u><u| for any outcome, orthogonal to the rest.

    Each step takes the top eigenvector of P (M_a + c) P over all a, where P
    projects onto the complement of the vectors chosen so far and c makes
    every M_a + c positive definite (which moves every candidate by c alike).
    """
    dim = ops.shape[-1]
    eye = np.eye(dim)
    shift = np.abs(ops).sum(axis=(-3, -2, -1))[..., None, None, None] + 1.0
    shifted = ops + shift * eye
    comp = np.broadcast_to(eye.astype(np.complex128), (*ops.shape[:-3], dim, dim)).copy()
    basis = np.zeros_like(comp)
    for k in range(dim):
        values, vecs = np.linalg.eigh(comp[..., None, :, :] @ shifted @ comp[..., None, :, :])
        best = np.argmax(values[..., -1], axis=-1)[..., None, None, None]
        vec = np.take_along_axis(vecs[..., -1], best[..., 0], axis=-2)[..., 0, :]
        basis[..., k] = vec
        comp -= vec[..., :, None] * vec.conj()[..., None, :]
    return basis


def _top_first_eigenbasis(h: Complex) -> Complex:
    """Eigenvectors of Hermitian 2 x 2 matrices in closed form, the top one first: (..., 2, 2).

    For h = [[p, q], [q*, r]] the top eigenvalue is (p + r)/2 + rho with
    rho = sqrt(((p - r)/2)^2 + |q|^2); of its two (parallel) eigenvector forms
    (q, lambda - p) and (lambda - r, q*) the longer one is used, whose norm is
    at least rho; rho = 0 (a multiple of the identity) keeps the pair as it is.
    """
    p, r, q = h[..., 0, 0].real, h[..., 1, 1].real, h[..., 0, 1]
    rho = np.sqrt(((p - r) / 2.0) ** 2 + np.abs(q) ** 2)
    top = (p + r) / 2.0 + rho
    first = np.where(p < r, q, top - r)
    second = np.where(p < r, top - p, q.conj())
    norm = np.sqrt(np.abs(first) ** 2 + np.abs(second) ** 2)
    flat = norm <= 1e-300
    first = np.where(flat, 1.0, first / np.where(flat, 1.0, norm))
    second = np.where(flat, 0.0, second / np.where(flat, 1.0, norm))
    out = np.empty((*h.shape[:-2], 2, 2), dtype=np.complex128)
    out[..., 0, 0], out[..., 1, 0] = first, second
    out[..., 0, 1], out[..., 1, 1] = -second.conj(), first.conj()
    return out


def _jacobi(ops: Complex, basis: Complex) -> tuple[Complex, NDArray[np.int64]]:
    """Alternate outcome assignment and sweeps of optimal pairwise rotations."""
    dim = ops.shape[-1]
    basis = basis.copy()
    for _ in range(_SWEEPS):
        outcome = _assign(ops, basis)
        chosen = np.take_along_axis(ops, outcome[..., None, None], axis=-3)  # M_g(i), (..., d, d, d)
        for i in range(dim):
            for j in range(i + 1, dim):
                pair = basis[..., [i, j]]  # (..., d, 2)
                small = pair.conj().swapaxes(-1, -2) @ (chosen[..., i, :, :] - chosen[..., j, :, :]) @ pair
                basis[..., [i, j]] = pair @ _top_first_eigenbasis(small)
    return basis, _assign(ops, basis)


def best_projective(ops: Complex, basis: Complex,
                    outcome: NDArray[np.int64]) -> tuple[Complex, NDArray[np.int64]]:
    """A projective measurement with sum_a tr(P_a M_a) at least that of (basis, outcome).

    Args:
        ops: Hermitian M_a, shape (..., A, d, d).
        basis: current basis vectors as columns, shape (..., d, d).
        outcome: current outcome of each basis vector, shape (..., d).

    Returns:
        (basis, outcome) of the improved measurement; exactly optimal for
        A <= 2. With more outcomes the better of the current measurement and
        the greedy basis, each polished by Jacobi sweeps.
    """
    outputs = ops.shape[-3]
    if outputs == 1:
        return basis, np.zeros_like(outcome)
    if outputs == 2:
        values, vecs = np.linalg.eigh(ops[..., 0, :, :] - ops[..., 1, :, :])
        return vecs, np.asarray(np.where(values > 0.0, 0, 1), dtype=np.int64)
    current = _score(ops, basis, outcome)
    basis_1, outcome_1 = _jacobi(ops, basis)
    basis_2, outcome_2 = _jacobi(ops, greedy_basis(ops))
    score_1, score_2 = _score(ops, basis_1, outcome_1), _score(ops, basis_2, outcome_2)
    keep = np.maximum(score_1, score_2) < current  # never step down (rounding aside)
    take_2 = (score_2 > score_1) & ~keep
    basis_out = np.where(keep[..., None, None], basis, np.where(take_2[..., None, None], basis_2, basis_1))
    outcome_out = np.where(keep[..., None], outcome, np.where(take_2[..., None], outcome_2, outcome_1))
    return basis_out, np.asarray(outcome_out, dtype=np.int64)


def behaviour_of(alice: Complex, bob: Complex) -> Real:
    """p(a, b | x, y) = tr(P^x_a (Q^y_b)^T) / d on |Phi_d>, shape (..., X, Y, A, B).

    Args:
        alice: projectors, shape (..., X, A, d, d).
        bob: projectors, shape (..., Y, B, d, d).
    """
    dim = alice.shape[-1]
    p = np.einsum("...xaij,...ybij->...xyab", alice, bob).real / dim
    return np.asarray(p, dtype=np.float64)


def _values(weights: Real, alice: Complex, bob: Complex) -> Real:
    return np.asarray(np.einsum("xyab,...xyab->...", weights, behaviour_of(alice, bob)))


def run_seesaw(weights: Real, dim: int, restarts: int, rng: np.random.Generator,
               max_iter: int = 500) -> SeesawResult:
    """See-saw from ``restarts`` random projective strategies, all iterated together.

    Args:
        weights: V[x, y, a, b] = prob[x, y] win[x, y, a, b], shape (X, Y, A, B).
        dim: local dimension d (>= 1).
        restarts: number of random starting points (>= 1).
        rng: source of the random starting points.
        max_iter: maximum rounds (>= 1); a round updates Bob, then Alice.

    Returns:
        The best restart's strategy.

    Raises:
        ValueError: if dim, restarts or max_iter is below 1.
    """
    for name, value in (("dim", dim), ("restarts", restarts), ("max_iter", max_iter)):
        if value < 1:
            raise ValueError(f"{name} must be >= 1, got {value}")
    n_x, n_y, n_a, n_b = weights.shape
    basis_a = random_unitaries((restarts, n_x), dim, rng)
    out_a = balanced_outcomes((restarts, n_x), dim, n_a, rng)
    basis_b = random_unitaries((restarts, n_y), dim, rng)
    out_b = balanced_outcomes((restarts, n_y), dim, n_b, rng)
    values = np.full(restarts, -np.inf)
    active = np.arange(restarts)  # restarts still improving
    iterations = 0
    for iterations in range(1, max_iter + 1):
        alice = projectors(basis_a[active], out_a[active], n_a)
        ops_b = np.einsum("xyab,rxaij->rybij", weights, alice.conj()) / dim
        basis_b[active], out_b[active] = best_projective(ops_b, basis_b[active], out_b[active])
        bob = projectors(basis_b[active], out_b[active], n_b)
        ops_a = np.einsum("xyab,rybij->rxaij", weights, bob.conj()) / dim
        basis_a[active], out_a[active] = best_projective(ops_a, basis_a[active], out_a[active])
        new = _values(weights, projectors(basis_a[active], out_a[active], n_a), bob)
        improving = new - values[active] > _TOL
        values[active] = new
        active = active[improving]
        if active.size == 0:
            break
    best = int(np.argmax(values))
    alice = projectors(basis_a[best], out_a[best], n_a)
    bob = projectors(basis_b[best], out_b[best], n_b)
    behaviour = behaviour_of(alice, bob)
    return SeesawResult(value=float(np.sum(weights * behaviour)), dim=dim, alice=alice,
                        bob=bob, behaviour=behaviour, restart_values=values,
                        iterations=iterations)
