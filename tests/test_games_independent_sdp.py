"""The Tsirelson SDP against an independent solver (cvxpy, test-only) and the
refusal to return a value when the solve falls short of its tolerance."""

from __future__ import annotations

import numpy as np
import pytest

import qnic.games.sdp as sdp
from qnic.games import SolveError, XorGame

cp = pytest.importorskip("cvxpy")


def random_game(rng: np.random.Generator, m: int, n: int) -> XorGame:
    prob = rng.random((m, n))
    return XorGame(prob / prob.sum(), rng.integers(0, 2, (m, n)))


def cvxpy_value(game: XorGame) -> float:
    """max 1/2 + <W, X>/2 over X PSD with unit diagonal, solved by cvxpy."""
    cost = np.asarray(game.prob) * (1 - 2 * np.asarray(game.pred))
    m, n = cost.shape
    w = np.block([[np.zeros((m, m)), cost / 2], [cost.T / 2, np.zeros((n, n))]])
    x = cp.Variable((m + n, m + n), symmetric=True)
    problem = cp.Problem(cp.Maximize(cp.trace(w @ x)), [x >> 0, cp.diag(x) == 1])
    problem.solve(solver=cp.CLARABEL, tol_gap_abs=1e-10, tol_gap_rel=1e-10, tol_feas=1e-10)
    return 0.5 + 0.5 * float(problem.value)


@pytest.mark.parametrize("seed", range(6))
def test_quantum_value_equals_an_independent_sdp(seed: int) -> None:
    rng = np.random.default_rng(seed)
    m, n = (12, 12) if seed < 3 else tuple(int(v) for v in rng.integers(2, 13, 2))
    game = random_game(rng, m, n)
    q = game.quantum_value()
    assert q.gap < 1e-7
    assert q.value == pytest.approx(cvxpy_value(game), abs=1e-6)


def test_a_32_by_32_game_equals_a_tightly_solved_sdp() -> None:
    """Issue #18 item 1: the same value as a tightly solved SDP to 1e-6, at a size past 24."""
    game = random_game(np.random.default_rng(32), 32, 32)
    q = game.quantum_value()
    assert q.gap < 1e-7
    assert q.value == pytest.approx(cvxpy_value(game), abs=1e-6)


def test_the_solve_leaves_blas_threads_as_it_found_them() -> None:
    from qnic.games.blas import _controller, one_blas_thread

    def blas_threads() -> list[int]:  # (OpenMP runtimes, also listed, are left alone)
        return [lib["num_threads"] for lib in _controller().info() if lib["user_api"] == "blas"]

    before = blas_threads()
    with one_blas_thread():
        assert blas_threads() and all(n == 1 for n in blas_threads())
    random_game(np.random.default_rng(1), 20, 20).quantum_value()
    assert blas_threads() == before


def test_a_solve_short_of_its_tolerance_returns_no_value(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sdp, "_IPM_MAX_ITER", 1)
    monkeypatch.setattr(sdp, "_POLISH_ITER", 0)
    game = random_game(np.random.default_rng(7), 8, 8)
    with pytest.raises(SolveError, match="no value is returned"):
        game.quantum_value()
