"""Upper bounds on the quantum value: the first level of the NPA hierarchy.

Navascues, Pironio and Acin (New J. Phys. 10, 073013 (2008)). Any quantum
strategy with projective measurements (no loss of generality) gives a moment
matrix Gamma[s, t] = Re <psi| S^dag T |psi> over the operators
S in {1} U {A_a|x : a < A-1} U {B_b|y : b < B-1} (the last outcome of each
question is 1 minus the others) that is positive semidefinite and obeys

    Gamma[1, 1] = 1,
    Gamma[1, A_a|x] = Gamma[A_a|x, A_a|x]         (A_a|x^2 = A_a|x),
    Gamma[A_a|x, A_a'|x] = 0 for a != a'           (orthogonal projectors),

and likewise for Bob; p(a, b | x, y) = Gamma[A_a|x, B_b|y] for a < A-1, b < B-1,
the others by completeness. Every p(a, b | x, y) is then a linear function
<F_xyab, Gamma> and the win probability is <W, Gamma>, W = sum V F. With
``positivity`` the constraints p(a, b | x, y) >= 0 are added (valid for every
quantum strategy; level 1 alone does not imply them).

The SDP  max <W, Gamma>  s.t. A(Gamma, s) = b, Gamma PSD, s >= 0  (s the
slacks of the positivity constraints) is small (n = 1 + X(A-1) + Y(B-1) is at
most a few dozen) and is solved here by an infeasible-start primal-dual
interior-point method with the HKM search direction and Mehrotra's
predictor-corrector (Helmberg, Rendl, Vanderbei and Wolkowicz, SIAM J. Optim. 6,
342 (1996); Kojima, Shindoh and Hara; Monteiro), the Schur complement formed
densely. Its dual multipliers y give the bound without trusting the solver: with
Z = A*(y) - W (computed here) and any feasible Gamma,
<W, Gamma> = b.y - <Z, Gamma> - z.s <= b.y + max(0, -lambda_min(Z)) tr(Gamma)
+ sum max(0, -z_k) s_k, where tr(Gamma) <= 1 + X + Y and s_k <= 1; so the
reported ``upper_bound`` holds up to float64 rounding in forming Z and its
smallest eigenvalue (~1e-14).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

Real = NDArray[np.float64]


_IPM_MAX_ITER = 80
_IPM_TOL = 1e-10  # relative gap and infeasibilities at which the solve stops
_STEP_FRACTION = 0.98


@dataclass(frozen=True)
class ConicSolution:
    """An interior-point solution of max <C, X> s.t. A(X) + L s = b, X PSD, s >= 0.

    Attributes:
        x: X, float64 array (n, n), positive definite.
        s: the nonnegative variables, shape (k,).
        y: dual multipliers, shape (m,).
        iterations: iterations used.
    """

    x: Real
    s: Real
    y: Real
    iterations: int


def _sym(mat: Real) -> Real:
    return np.asarray((mat + mat.swapaxes(-1, -2)) / 2.0)


def _max_step(mat: Real, direction: Real) -> float:
    """Largest t with mat + t direction PSD (inf if every t is), mat positive definite."""
    inv = np.linalg.inv(np.linalg.cholesky(mat))
    lowest = float(np.linalg.eigvalsh(_sym(inv @ direction @ inv.T))[0])
    return np.inf if lowest >= 0.0 else -1.0 / lowest


def _ratio(vec: Real, direction: Real) -> float:
    neg = direction < 0.0
    return float(np.min(-vec[neg] / direction[neg])) if np.any(neg) else np.inf


class _Ipm:
    """One primal-dual iterate (X, s; y, Z, z) and the HKM Newton step from it."""

    def __init__(self, c: Real, mats: Real, lp: Real, b: Real) -> None:
        self.c, self.mats, self.lp, self.b = c, mats, lp, b
        self.flat = mats.reshape(len(mats), -1)
        size, count = c.shape[0], lp.shape[1]
        self.x, self.z = np.eye(size), np.eye(size) * (1.0 + float(np.abs(c).max()))
        self.s, self.zs = np.ones(count), np.ones(count)
        self.y = np.zeros(len(b))
        self.order = size + count

    def apply(self, x: Real, s: Real) -> Real:
        """A(X) + L s, shape (m,)."""
        return np.asarray(self.flat @ x.ravel() + self.lp @ s)

    def adjoint(self, y: Real) -> Real:
        """A*(y), shape (n, n)."""
        return np.asarray((self.flat.T @ y).reshape(self.c.shape))

    def mu(self) -> float:
        return float(np.sum(self.x * self.z) + self.s @ self.zs) / self.order

    def residuals(self) -> tuple[Real, Real, Real]:
        """(b - A(X) - L s, C + Z - A*(y), z - L^T y)."""
        return (self.b - self.apply(self.x, self.s), self.c + self.z - self.adjoint(self.y),
                self.zs - self.lp.T @ self.y)

    def direction(self, schur: Real, zinv: Real, target: float,
                  corr: tuple[Real, Real] | None) -> tuple[Real, Real, Real, Real, Real]:
        """Newton direction (dX, ds, dy, dZ, dz) aiming at X Z = target I."""
        rp, rd, rl = self.residuals()
        corr_x, corr_s = corr if corr is not None else (np.zeros_like(self.x), np.zeros_like(self.s))
        rc_x = target * zinv - self.x - corr_x + _sym(zinv @ rd @ self.x)
        rc_s = target / self.zs - self.s - corr_s + self.s / self.zs * rl
        rhs = self.apply(rc_x, rc_s) - rp
        try:
            dy = np.asarray(np.linalg.solve(schur, rhs), dtype=np.float64)
        except np.linalg.LinAlgError:
            dy = np.asarray(np.linalg.lstsq(schur, rhs, rcond=None)[0], dtype=np.float64)
        dz = self.adjoint(dy) - rd
        dzs = self.lp.T @ dy - rl
        dx = target * zinv - self.x - corr_x - _sym(zinv @ dz @ self.x)
        ds = target / self.zs - self.s - corr_s - self.s / self.zs * dzs
        return dx, ds, dy, dz, dzs

    def steps(self, dx: Real, ds: Real, dz: Real, dzs: Real) -> tuple[float, float]:
        primal = min(_max_step(self.x, dx), _ratio(self.s, ds))
        dual = min(_max_step(self.z, dz), _ratio(self.zs, dzs))
        return min(1.0, _STEP_FRACTION * primal), min(1.0, _STEP_FRACTION * dual)

    def converged(self) -> bool:
        rp, rd, rl = self.residuals()
        pobj, dobj = float(np.sum(self.c * self.x)), float(self.b @ self.y)
        scale = 1.0 + abs(pobj) + abs(dobj)
        return (abs(dobj - pobj) < _IPM_TOL * scale
                and float(np.linalg.norm(rp)) < _IPM_TOL * (1.0 + float(np.linalg.norm(self.b)))
                and float(np.linalg.norm(rd) + np.linalg.norm(rl)) < _IPM_TOL * scale)

    def iterate(self) -> None:
        """One predictor-corrector step (Mehrotra)."""
        zinv = _sym(np.asarray(np.linalg.inv(self.z), dtype=np.float64))
        gram = np.matmul(zinv, np.matmul(self.mats, self.x))
        ratio = self.s / self.zs
        schur = _sym(self.flat @ gram.reshape(len(gram), -1).T + (self.lp * ratio) @ self.lp.T)
        mu = self.mu()
        dx, ds, _, dz, dzs = self.direction(schur, zinv, 0.0, None)
        tp, td = self.steps(dx, ds, dz, dzs)
        trial = (float(np.sum((self.x + tp * dx) * (self.z + td * dz)))
                 + float((self.s + tp * ds) @ (self.zs + td * dzs))) / self.order
        sigma = min(1.0, max(0.0, trial / mu) ** 3)
        corr = (_sym(dx @ dz @ zinv), ds * dzs / self.zs)
        dx, ds, dy, dz, dzs = self.direction(schur, zinv, sigma * mu, corr)
        tp, td = self.steps(dx, ds, dz, dzs)
        x, z = self.x + tp * dx, self.z + td * dz
        np.linalg.cholesky(x)  # raises at the boundary: rounding has taken over
        np.linalg.cholesky(z)
        self.x, self.s = x, self.s + tp * ds
        self.y, self.z, self.zs = self.y + td * dy, z, self.zs + td * dzs


def solve_conic(c: Real, mats: Real, lp: Real, b: Real) -> ConicSolution:
    """max <C, X> s.t. <A_i, X> + (L s)_i = b_i, X PSD, s >= 0 (small, dense).

    Args:
        c: symmetric objective, shape (n, n).
        mats: symmetric constraint matrices A_i, shape (m, n, n), independent.
        lp: coefficients L of the nonnegative variables, shape (m, k) (k may be 0).
        b: right-hand sides, shape (m,).

    Returns:
        The last interior iterate, with its dual multipliers y.
    """
    ipm = _Ipm(c, mats, lp, b)
    iterations = 0
    while iterations < _IPM_MAX_ITER and not ipm.converged():
        iterations += 1
        try:
            ipm.iterate()
        except np.linalg.LinAlgError:
            break
    return ConicSolution(x=ipm.x, s=ipm.s, y=ipm.y, iterations=iterations)


@dataclass(frozen=True)
class NpaCertificate:
    """The dual point behind an NPA bound.

    Attributes:
        multipliers: y, one per equality constraint, shape (m,).
        min_eigenvalue: smallest eigenvalue of Z = A*(y) - W on the moment
            block (>= 0 for an exactly feasible dual point).
        negative_slack_weight: sum of max(0, -z_k) over positivity constraints.
        dual_value: b.y, the bound if the dual point were exactly feasible.
        trace_bound: the bound 1 + X + Y on tr(Gamma) used for the correction.
    """

    multipliers: Real
    min_eigenvalue: float
    negative_slack_weight: float
    dual_value: float
    trace_bound: float


@dataclass(frozen=True)
class NpaBound:
    """NPA level 1 solved, with its certificate.

    Attributes:
        upper_bound: certified upper bound on the quantum value.
        value: objective at the (nearly feasible) primal moment matrix.
        gap: upper_bound - value (>= 0): typically 1e-10, up to ~1e-7 on
            degenerate games where the primal iterate lags the dual one.
        moment_matrix: Gamma, float64 array (n, n), n = 1 + X(A-1) + Y(B-1).
        certificate: the dual point.
        positivity: whether p(a, b | x, y) >= 0 was imposed.
        iterations: interior-point iterations.
    """

    upper_bound: float
    value: float
    gap: float
    moment_matrix: Real
    certificate: NpaCertificate
    positivity: bool
    iterations: int


def operator_vectors(shape: tuple[int, int, int, int]) -> tuple[Real, Real]:
    """Each projector as a combination of the moment-matrix operators.

    Returns:
        (ea, eb): ea[x, a] of shape (X, A, n) expresses A_a|x (the last outcome
        as 1 minus the others), eb[y, b] of shape (Y, B, n) likewise.
    """
    n_x, n_y, n_a, n_b = shape
    size = 1 + n_x * (n_a - 1) + n_y * (n_b - 1)
    ea, eb = np.zeros((n_x, n_a, size)), np.zeros((n_y, n_b, size))
    for vecs, count, outs, offset in ((ea, n_x, n_a, 1), (eb, n_y, n_b, 1 + n_x * (n_a - 1))):
        for q in range(count):
            vecs[q, -1, 0] = 1.0
            for o in range(outs - 1):
                index = offset + q * (outs - 1) + o
                vecs[q, o, index] = 1.0
                vecs[q, -1, index] = -1.0
    return ea, eb


def probability_maps(shape: tuple[int, int, int, int]) -> Real:
    """F[x, y, a, b] with p(a, b | x, y) = <F, Gamma>, shape (X, Y, A, B, n, n), symmetric."""
    ea, eb = operator_vectors(shape)
    outer = np.einsum("xai,ybj->xyabij", ea, eb)
    return np.asarray((outer + outer.swapaxes(-1, -2)) / 2.0)


def _unit(size: int, i: int, j: int) -> Real:
    mat = np.zeros((size, size))
    mat[i, j] += 0.5
    mat[j, i] += 0.5
    return mat


def moment_constraints(shape: tuple[int, int, int, int]) -> tuple[Real, Real]:
    """The NPA level-1 equality constraints <A_i, Gamma> = b_i.

    Returns:
        (mats, rhs): symmetric matrices of shape (m, n, n) and values (m,).
    """
    n_x, n_y, n_a, n_b = shape
    size = 1 + n_x * (n_a - 1) + n_y * (n_b - 1)
    mats, rhs = [_unit(size, 0, 0)], [1.0]
    blocks = [(1 + q * (n_a - 1), n_a - 1) for q in range(n_x)]
    blocks += [(1 + n_x * (n_a - 1) + q * (n_b - 1), n_b - 1) for q in range(n_y)]
    for start, count in blocks:
        for i in range(start, start + count):
            mats.append(_unit(size, 0, i) - _unit(size, i, i))
            rhs.append(0.0)
            for j in range(i + 1, start + count):
                mats.append(_unit(size, i, j))
                rhs.append(0.0)
    return np.array(mats), np.array(rhs)


def npa1_bound(weights: Real, positivity: bool = True) -> NpaBound:
    """Solve NPA level 1 for the game with weights V = prob * win and certify the bound.

    Args:
        weights: V[x, y, a, b], float64 array of shape (X, Y, A, B).
        positivity: add p(a, b | x, y) >= 0 for every question and answer pair.

    Returns:
        The certified bound, the primal value and the moment matrix.
    """
    n_x, n_y, n_a, n_b = (int(k) for k in weights.shape)
    shape = (n_x, n_y, n_a, n_b)
    fmaps = probability_maps(shape)
    size = fmaps.shape[-1]
    objective = np.einsum("xyab,xyabij->ij", weights, fmaps)
    mats, rhs = moment_constraints(shape)
    n_eq = len(rhs)
    flat_f = fmaps.reshape(-1, size, size)
    if positivity:
        mats = np.concatenate([mats, flat_f])
        rhs = np.concatenate([rhs, np.zeros(len(flat_f))])
        lp = np.zeros((len(rhs), len(flat_f)))
        lp[n_eq:, :] = -np.eye(len(flat_f))  # <F_k, Gamma> - s_k = 0
    else:
        lp = np.zeros((len(rhs), 0))
    sol = solve_conic(objective, mats, lp, rhs)
    return _certify(objective, mats, lp, rhs, sol, positivity, trace_bound=1.0 + n_x + n_y)


def _certify(objective: Real, mats: Real, lp: Real, rhs: Real, sol: ConicSolution,
             positivity: bool, trace_bound: float) -> NpaBound:
    y = sol.y
    zmat = np.einsum("m,mij->ij", y, mats) - objective
    zmat = (zmat + zmat.T) / 2.0
    z_lp = lp.T @ y  # the LP block's objective is zero
    lowest = float(np.linalg.eigvalsh(zmat)[0])
    negative = float(np.sum(np.maximum(0.0, -z_lp)))
    dual_value = float(rhs @ y)
    bound = dual_value + max(0.0, -lowest) * trace_bound + negative
    value = float(np.sum(objective * sol.x))
    cert = NpaCertificate(multipliers=y, min_eigenvalue=lowest, negative_slack_weight=negative,
                          dual_value=dual_value, trace_bound=trace_bound)
    return NpaBound(upper_bound=bound, value=value, gap=max(0.0, bound - value),
                    moment_matrix=sol.x, certificate=cert, positivity=positivity,
                    iterations=sol.iterations)
