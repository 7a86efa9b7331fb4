"""Quantum value of an XOR game: Tsirelson's semidefinite program (docs/balancing.md).

Tsirelson: the best quantum bias is the maximum over unit vectors u_x, v_y of
sum_xy C[x, y] <u_x, v_y>, with C[x, y] = prob[x, y] (-1)^pred[x, y]. With the
Gram matrix G of all N = m + n vectors this is the SDP

    primal  max <W, G>   s.t. diag(G) = 1, G >= 0,   W = [[0, C/2], [C^T/2, 0]]
    dual    min sum(z)   s.t. Diag(z) - W >= 0,

and for every feasible pair sum(z) - <W, G> = <Diag(z) - W, G> >= 0: a dual
feasible z certifies the upper bound sum(z).

It is solved with the primal-dual interior-point method of Helmberg, Rendl,
Vanderbei and Wolkowicz (SIAM J. Optim. 6, 342 (1996)), whose Newton system
for this constraint set is one N x N solve, then the vectors are read off the
Gram matrix and polished by block-coordinate ascent on the vectors (the
"mixing method", a Burer-Monteiro scheme), which keeps them exactly unit length.
The reported value is the one these vectors achieve (a lower bound) and the
gap is measured against the certified dual bound.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from qnic.games.blas import one_blas_thread
from qnic.instruments.kernel_cache import cached_njit

Array = NDArray[np.float64]

_IPM_MAX_ITER = 100
_IPM_GAP = 1e-10  # stop when <X, Z> (the bias gap) is below this
_STEP_SHRINK = 0.95
_MAX_GAP = 1e-7  # a solve whose certified gap is larger returns no value
_POLISH_ITER = 50  # ascent steps on the interior-point vectors (they are within ~1e-12 already)


@dataclass(frozen=True)
class DualCertificate:
    """A dual feasible point of Tsirelson's SDP.

    Attributes:
        alice: dual variables of Alice's unit-norm constraints, shape (m,).
        bob: dual variables of Bob's unit-norm constraints, shape (n,).
        min_eigenvalue: smallest eigenvalue of Diag(z) - W (>= 0 for a
            certificate; computed in float64).
        bias_bound: sum(z), an upper bound on the quantum bias.
    """

    alice: Array
    bob: Array
    min_eigenvalue: float
    bias_bound: float

    @property
    def value_bound(self) -> float:
        """The certified upper bound on the quantum value, 1/2 + sum(z)/2."""
        return 0.5 + 0.5 * self.bias_bound


@dataclass(frozen=True)
class QuantumValue:
    """Tsirelson's SDP solved, with its certificate.

    Attributes:
        value: win probability achieved by ``alice_vectors``/``bob_vectors``
            (a lower bound on the quantum value).
        upper_bound: certified upper bound 1/2 + sum(z)/2.
        gap: upper_bound - value (>= 0).
        certificate: the dual feasible point behind ``upper_bound``.
        alice_vectors: unit vectors u_x, shape (m, d).
        bob_vectors: unit vectors v_y, shape (n, d).
        iterations: interior-point iterations used.
    """

    value: float
    upper_bound: float
    gap: float
    certificate: DualCertificate
    alice_vectors: Array
    bob_vectors: Array
    iterations: int


class SolveError(RuntimeError):
    """The SDP did not reach its tolerance: no value is returned."""


def tsirelson_matrix(cost: Array) -> Array:
    """W = [[0, C/2], [C^T/2, 0]] of shape (m + n, m + n) for cost C of shape (m, n)."""
    m, n = cost.shape
    w = np.zeros((m + n, m + n))
    w[:m, m:] = cost / 2.0
    w[m:, :m] = cost.T / 2.0
    return w


@cached_njit()
def _step_from(scaled: Array) -> float:
    """Largest step in [0, 1] (shrunk by 0.95) keeping M + step D PD, given
    the scaled direction L^-1 D L^-T (L the Cholesky factor of M)."""
    lowest = np.linalg.eigvalsh((scaled + scaled.T) / 2.0)[0]
    return 1.0 if lowest >= 0 else min(1.0, _STEP_SHRINK / -lowest)


@cached_njit()
def _centering(iteration: int, last_step: float) -> float:
    """The centering parameter sigma: aim at mu = sigma <X, Z> / N.

    Short steps mean the iterate drifted from the central path, which the
    symmetric graph games (large optimal faces) provoke; centering harder
    then keeps the steps long.
    """
    if iteration == 1:
        return 0.5
    return 0.1 if last_step > 0.7 else 0.3 if last_step > 0.3 else 0.6


@cached_njit()
def _cholesky(mat: Array) -> tuple[Array, bool]:
    """Lower Cholesky factor of ``mat`` and whether it is positive definite
    (a failed factorisation cannot be caught inside numba, so it is done
    here, with a flag; the matrices are the game's size, tens of rows)."""
    n = mat.shape[0]
    low = np.zeros((n, n))
    for j in range(n):
        d = mat[j, j]
        for k in range(j):
            d -= low[j, k] * low[j, k]
        if not d > 0.0:
            return low, False
        root = np.sqrt(d)
        low[j, j] = root
        for i in range(j + 1, n):
            acc = mat[i, j]
            for k in range(j):
                acc -= low[i, k] * low[j, k]
            low[i, j] = acc / root
    return low, True


@cached_njit()
def _lower_inverse(low: Array) -> Array:
    """Inverse of a lower-triangular matrix by forward substitution."""
    n = low.shape[0]
    inv = np.zeros((n, n))
    for j in range(n):
        inv[j, j] = 1.0 / low[j, j]
        for i in range(j + 1, n):
            acc = 0.0
            for k in range(j, i):
                acc += low[i, k] * inv[k, j]
            inv[i, j] = -acc / low[i, i]
    return inv


@cached_njit()
def _solve_pd(mat: Array, rhs: Array) -> tuple[Array, bool]:
    """Solve ``mat @ x = rhs`` for a positive definite ``mat`` by its
    Cholesky factor (forward, then back substitution) and say whether it
    was positive definite. numba's ``np.linalg.solve`` compiles a shape
    check that formats its error message, 2 s of a first run."""
    n = mat.shape[0]
    low, ok = _cholesky(mat)
    x = np.zeros(n)
    if not ok:
        return x, False
    for i in range(n):
        acc = rhs[i]
        for k in range(i):
            acc -= low[i, k] * x[k]
        x[i] = acc / low[i, i]
    for i in range(n - 1, -1, -1):
        acc = x[i]
        for k in range(i + 1, n):
            acc -= low[k, i] * x[k]
        x[i] = acc / low[i, i]
    return x, True


@cached_njit()
def _interior_point(w: Array, max_iter: int, gap_tol: float) -> tuple[Array, Array, int]:
    size = w.shape[0]
    x = np.eye(size)
    # row sums in a loop: sum(axis=1) compiles an axis check that formats
    # its error message, 2 s of a first run (docs/architecture.md)
    z = np.empty(size)
    for i in range(size):
        acc = 0.0
        for j in range(size):
            acc += abs(w[i, j])
        z[i] = 1.1 * acc + 1.0
    chol_x = np.eye(size)
    chol_z, _ = _cholesky(np.diag(z) - w)
    iterations, step = 0, 1.0
    while iterations < max_iter:
        zmat = np.diag(z) - w
        gap = np.sum(x * zmat)
        if gap < gap_tol:
            break
        iterations += 1
        sigma = _centering(iterations, step)
        mu = sigma * gap / size
        # the Cholesky factors of X and Z from the last step give Z^-1 and
        # both step lengths (eigenvalues of L^-1 D L^-T)
        inv_lz = _lower_inverse(chol_z)
        zinv = inv_lz.T @ inv_lz
        # Z^-1 o X is positive definite (Schur product of two PD matrices)
        dz, ok = _solve_pd(zinv * x, mu * np.diag(zinv).copy() - 1.0)
        if not ok:
            break  # rounding at the boundary, as below
        dx = -zinv @ (dz.reshape(-1, 1) * x) + mu * zinv - x
        dx = (dx + dx.T) / 2.0  # diag(dx) = 0 by construction of dz
        inv_lx = _lower_inverse(chol_x)
        step_x = _step_from(inv_lx @ dx @ inv_lx.T)
        step_z = _step_from((inv_lz * dz) @ inv_lz.T)
        new_x = x + step_x * dx
        new_z = z + step_z * dz
        new_chol_x, ok_x = _cholesky(new_x)
        new_chol_z, ok_z = _cholesky(np.diag(new_z) - w)
        if not (ok_x and ok_z):
            break  # rounding at the boundary: the last iterate is as good as it gets
        x, z, step = new_x, new_z, min(step_x, step_z)
        chol_x, chol_z = new_chol_x, new_chol_z
    return x, z, iterations


def interior_point(w: Array, gap_tol: float = _IPM_GAP) -> tuple[Array, Array, int]:
    """Primal-dual interior-point solve of max <W, X>, diag(X) = 1, X PSD
    (compiled with numba: at the sizes of XOR games the cost is call overhead).

    Args:
        w: symmetric float64 array of shape (N, N).
        gap_tol: stop once <X, Diag(z) - W> is below this.

    Returns:
        (X, z, iterations): X of shape (N, N) with unit diagonal, PD; z of
        shape (N,) with Diag(z) - W PD.
    """
    x, z, iterations = _interior_point(np.ascontiguousarray(w, dtype=np.float64),
                                       _IPM_MAX_ITER, gap_tol)
    return x, z, int(iterations)


def certify(w: Array, z: Array) -> tuple[Array, float]:
    """Shift z by its infeasibility so that Diag(z) - W is PSD.

    Returns:
        (z', min eigenvalue of Diag(z') - W).
    """
    lowest = float(np.linalg.eigvalsh(np.diag(z) - w)[0])
    if lowest < 0:
        z = z - lowest * (1.0 + 1e-9) + 1e-15
        lowest = float(np.linalg.eigvalsh(np.diag(z) - w)[0])
    return z, lowest


def gram_vectors(gram: Array, rel_tol: float = 1e-9) -> Array:
    """Unit vectors whose Gram matrix approximates ``gram`` (N, N) -> (N, d).

    Eigen-directions with eigenvalue below rel_tol * largest are dropped, so d
    is the numerical rank.
    """
    values, vecs = np.linalg.eigh(gram)
    keep = values > rel_tol * max(1.0, float(values[-1]))
    out = vecs[:, keep] * np.sqrt(values[keep])
    return normalize_rows(out, np.eye(1, out.shape[1]).repeat(out.shape[0], axis=0))


def normalize_rows(mat: Array, fallback: Array) -> Array:
    """Rows of mat scaled to unit length; zero rows take the row of fallback."""
    norms = np.sqrt(np.einsum("ij,ij->i", mat, mat))
    ok = norms > 1e-300
    out = np.array(fallback, dtype=np.float64, copy=True)
    out[ok] = mat[ok] / norms[ok, None]
    return out


def mixing_ascent(cost: Array, u: Array, v: Array, max_iter: int = 20000,
                  tol: float = 1e-15) -> tuple[Array, Array, float]:
    """Block-coordinate ascent of sum C[x, y] <u_x, v_y> over unit vectors.

    Each half-step is the exact maximiser for one player given the other
    (u_x along (C v)_x), so the bias never decreases.

    Args:
        cost: C, shape (m, n).
        u, v: unit-row starting vectors, shapes (m, d) and (n, d).

    Returns:
        (u, v, bias) at convergence.
    """
    u2, v2, bias = _mixing_ascent(np.ascontiguousarray(cost, dtype=np.float64),
                                  np.ascontiguousarray(u, dtype=np.float64),
                                  np.ascontiguousarray(v, dtype=np.float64), max_iter, tol)
    return u2, v2, float(bias)


@cached_njit()
def _unit_rows(mat: Array, fallback: Array) -> Array:
    out = fallback.copy()
    for i in range(mat.shape[0]):
        norm = np.sqrt(np.sum(mat[i] * mat[i]))
        if norm > 1e-300:
            for k in range(mat.shape[1]):  # (a loop: a row assignment compiles a shape check)
                out[i, k] = mat[i, k] / norm
    return out


@cached_njit()
def _mixing_ascent(cost: Array, u: Array, v: Array, max_iter: int,
                   tol: float) -> tuple[Array, Array, float]:
    previous = -np.inf
    bias = np.sum(cost * (u @ v.T))
    for _ in range(max_iter):
        u = _unit_rows(cost @ v, u)
        v = _unit_rows(cost.T.copy() @ u, v)
        bias = np.sum(cost * (u @ v.T))
        if bias - previous < tol:
            break
        previous = bias
    return u, v, bias


def solve_tsirelson(cost: Array) -> QuantumValue:
    """Quantum value of the XOR game with cost matrix C, certified.

    Args:
        cost: C[x, y] = prob[x, y] (-1)^pred[x, y], float64 array of shape (m, n).

    Returns:
        The value achieved by the returned vectors, the dual certificate and
        the gap between them (about 1e-10 or below for games up to 16 x 16).

    Raises:
        SolveError: the certified gap exceeds 1e-7.
    """
    m = cost.shape[0]
    w = tsirelson_matrix(cost)
    with one_blas_thread():  # see qnic.games.blas: small matrices, shared cores
        gram, z, iterations = interior_point(w)
        vectors = gram_vectors(gram)
        u, v, bias = mixing_ascent(cost, vectors[:m], vectors[m:], max_iter=_POLISH_ITER)
        z, lowest = certify(w, z)
    bound = float(z.sum())
    cert = DualCertificate(alice=z[:m].copy(), bob=z[m:].copy(), min_eigenvalue=lowest,
                           bias_bound=bound)
    value = 0.5 + 0.5 * bias
    gap = max(0.0, cert.value_bound - value)
    if gap > _MAX_GAP:
        raise SolveError(f"the Tsirelson SDP stopped after {iterations} iterations with a certified "
                         f"gap of {gap:.2e} (tolerance {_MAX_GAP:.0e}): the value lies in "
                         f"[{value:.9f}, {cert.value_bound:.9f}]; no value is returned")
    return QuantumValue(value=value, upper_bound=cert.value_bound, gap=gap, certificate=cert,
                        alice_vectors=u, bob_vectors=v, iterations=iterations)
