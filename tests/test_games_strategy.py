"""Quantum strategies of XOR games: observables, dimensions, waveplate bases.

The bench bases are checked against the simulated bench's own Jones optics
and Bell state (qnic.sim.physics), an implementation independent of
qnic.games.waveplates.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
from test_games_values import sign_vector_game

from qnic.games import (
    WaveplateBasis,
    XorGame,
    analysed_stokes,
    chsh_game,
    clifford_generators,
    odd_cycle_game,
    phi_plus_correlation,
    waveplate_basis,
)
from qnic.sim.physics.optics import analyser_povm, joint_probabilities
from qnic.sim.physics.state import bell_family

PHI_PLUS = bell_family(1.0, 1.0, "phi+")
PAULI_STOKES = np.array([[[1, 0], [0, -1]], [[0, 1], [1, 0]], [[0, -1j], [1j, 0]]])  # S1, S2, S3


def sim_correlations(alice: tuple[WaveplateBasis, ...], bob: tuple[WaveplateBasis, ...],
                     use_qwp: bool) -> np.ndarray:
    """E[x, y] of the simulated bench at the reported plate angles, shape (m, n)."""
    def povm(basis: WaveplateBasis) -> np.ndarray:
        if use_qwp or basis.needs_qwp:
            return analyser_povm(np.array([basis.hwp_deg]), qwp_deg=np.array([basis.qwp_deg]))
        return analyser_povm(np.array([basis.hwp_deg]))
    corr = np.empty((len(alice), len(bob)))
    for x, a in enumerate(alice):
        for y, b in enumerate(bob):
            p = joint_probabilities(PHI_PLUS, povm(a), povm(b))[0]
            corr[x, y] = p[0] - p[1] - p[2] + p[3]
    return corr


def test_clifford_generators_anticommute() -> None:
    for d in range(1, 8):
        g = clifford_generators(d)
        dim = g.shape[1]
        assert g.shape[0] == d and dim == (2 if d <= 3 else 2 ** (d // 2))
        for i in range(d):
            assert np.allclose(g[i], g[i].conj().T)
            for j in range(d):
                expected = 2 * np.eye(dim) if i == j else np.zeros((dim, dim))
                assert np.allclose(g[i] @ g[j] + g[j] @ g[i], expected)


@pytest.mark.parametrize("game", [chsh_game(), odd_cycle_game(5), sign_vector_game(3),
                                  sign_vector_game(4)], ids=["chsh", "c5", "sign3", "sign4"])
def test_observables_reproduce_the_vectors(game: XorGame) -> None:
    s = game.quantum_strategy()
    dim = s.local_dimension
    assert np.vdot(s.state, s.state).real == pytest.approx(1.0)
    for obs in (*s.alice_observables, *s.bob_observables):
        assert np.allclose(obs, obs.conj().T) and np.allclose(obs @ obs, np.eye(dim))
    assert np.allclose(s.observable_correlations(), s.correlations(), atol=1e-12)
    assert game.win_probability(s.observable_correlations()) == pytest.approx(
        game.quantum_value().value, abs=1e-9)


def test_dimensions_and_realizability() -> None:
    assert chsh_game().quantum_strategy().dimension == 2
    assert odd_cycle_game(7).quantum_strategy().dimension == 2
    three, four = sign_vector_game(3), sign_vector_game(4)
    assert three.quantum_strategy().dimension == 3 and three.bench_bases().realizable
    bases = four.bench_bases()
    assert four.quantum_strategy().dimension == 4 and four.quantum_strategy().local_dimension == 4
    assert not bases.realizable and bases.bell_pairs_needed == 2
    assert bases.alice == () and "2 Bell pairs" in bases.note
    trivial = XorGame(np.full((2, 2), 0.25), np.zeros((2, 2)))
    b = trivial.bench_bases()
    assert trivial.quantum_strategy().dimension == 1 and b.realizable and b.bell_pairs_needed == 0


def test_rank_is_reduced_below_the_interior_point_solution() -> None:
    """A question never asked leaves its vector free; the analytic centre of the optimal face
    spends a dimension on it, the reported strategy must not."""
    prob = np.zeros((3, 2))
    prob[:2] = 0.25
    game = XorGame(prob, [[0, 0], [0, 1], [1, 1]])
    q, s = game.quantum_value(), game.quantum_strategy()
    assert np.linalg.matrix_rank(np.vstack([q.alice_vectors, q.bob_vectors]), tol=1e-6) == 3
    assert s.dimension == 2
    assert s.value == pytest.approx(math.cos(math.pi / 8) ** 2, abs=1e-9)
    assert game.bench_bases().realizable


def test_phi_plus_correlation_is_derived_from_the_state() -> None:
    """<(s.sigma) (x) (t.sigma)> on (HH + VV)/sqrt 2 is s1 t1 + s2 t2 - s3 t3."""
    rng = np.random.default_rng(3)
    for _ in range(20):
        s, t = (v / np.linalg.norm(v) for v in rng.standard_normal((2, 3)))
        a = np.einsum("i,ijk->jk", s, PAULI_STOKES)
        b = np.einsum("i,ijk->jk", t, PAULI_STOKES)
        direct = np.real(np.trace(PHI_PLUS @ np.kron(a, b)))
        assert phi_plus_correlation(s, t) == pytest.approx(direct, abs=1e-12)
        assert phi_plus_correlation(s, t) != pytest.approx(float(s @ t), abs=1e-6)


def test_waveplate_angles_analyse_the_basis_in_the_bench_optics() -> None:
    """The sim's POVM at the reported angles is (I + s.sigma)/2 for outcome 0."""
    rng = np.random.default_rng(4)
    vectors = [v / np.linalg.norm(v) for v in rng.standard_normal((30, 3))]
    vectors += [np.array([0, 0, 1.0]), np.array([0, 0, -1.0]), np.array([-1.0, 0, 0])]
    for s in vectors:
        basis = waveplate_basis(s)
        m0 = analyser_povm(np.array([basis.hwp_deg]), qwp_deg=np.array([basis.qwp_deg]))[0, 0]
        expected = (np.eye(2) + np.einsum("i,ijk->jk", s, PAULI_STOKES)) / 2
        assert np.allclose(m0, expected, atol=1e-12), (s, basis)
        assert np.allclose(analysed_stokes(basis.hwp_deg, basis.qwp_deg), s, atol=1e-12)
        assert -45 < basis.hwp_deg <= 45 and -90 < basis.qwp_deg <= 90


def test_linear_basis_needs_only_a_hwp() -> None:
    for phi in (0.0, 30.0, 45.0, -22.5, 90.0, 120.0):
        s = [math.cos(math.radians(2 * phi)), math.sin(math.radians(2 * phi)), 0.0]
        basis = waveplate_basis(s)
        assert not basis.needs_qwp and basis.phi_deg is not None
        assert (basis.phi_deg - phi) % 180 == pytest.approx(0, abs=1e-9) or \
            (basis.phi_deg - phi) % 180 == pytest.approx(180, abs=1e-9)
        assert (2 * basis.hwp_deg - basis.phi_deg) % 180 == pytest.approx(0, abs=1e-9)
        m0 = analyser_povm(np.array([basis.hwp_deg]))[0, 0]
        assert np.allclose(m0, (np.eye(2) + np.einsum("i,ijk->jk", s, PAULI_STOKES)) / 2)


def test_chsh_bench_bases_are_design_6() -> None:
    bases = chsh_game().bench_bases()
    assert bases.realizable and bases.bell_state == "phi+" and bases.dimension == 2
    assert not any(b.needs_qwp for b in bases.alice + bases.bob)
    phi = [float(b.phi_deg or 0.0) for b in bases.alice + bases.bob]
    hwp = [b.hwp_deg for b in bases.alice + bases.bob]
    assert phi == pytest.approx([0.0, 45.0, 22.5, -22.5], abs=1e-7)
    assert hwp == pytest.approx([0.0, 22.5, 11.25, -11.25], abs=1e-7)
    # linear bases on Phi+: E = cos 2(phi_A - phi_B)
    e = sim_correlations(bases.alice, bases.bob, use_qwp=False)
    expected = [[math.cos(math.radians(2 * (a - b))) for b in phi[2:]] for a in phi[:2]]
    assert np.allclose(e, expected, atol=1e-12)
    assert chsh_game().win_probability(e) == pytest.approx(math.cos(math.pi / 8) ** 2, abs=1e-9)


@pytest.mark.parametrize("game", [chsh_game(), odd_cycle_game(3), sign_vector_game(3)],
                         ids=["chsh", "c3", "sign3"])
@pytest.mark.parametrize("use_qwp", [False, True])
def test_bench_bases_reproduce_the_strategy(game: XorGame, use_qwp: bool) -> None:
    bases, strategy = game.bench_bases(), game.quantum_strategy()
    e = sim_correlations(bases.alice, bases.bob, use_qwp)
    assert np.allclose(e, strategy.correlations(), atol=1e-9)
    assert np.allclose(bases.predicted_correlations(), e, atol=1e-9)
    assert game.win_probability(e) == pytest.approx(game.quantum_value().value, abs=1e-8)


def test_three_dimensional_strategy_needs_elliptical_bases() -> None:
    bases = sign_vector_game(3).bench_bases()
    assert any(b.needs_qwp for b in bases.alice + bases.bob)
    assert not bases.alice[0].needs_qwp and bases.alice[0].phi_deg == pytest.approx(0.0)
    assert "elliptical" in bases.note
