"""qnic.tomography, pure: maximum likelihood, figures, bootstrap, bad input
(docs/tomography.md). Statistical checks use fixed seeds and 4 sigma."""

from __future__ import annotations

import math

import numpy as np
import pytest
from scipy.optimize import minimize

from qnic.bases import Waveplate, analysed_state
from qnic.tomography import (
    BELL_STATES,
    JKMW_SETTINGS,
    PAULI_SETTINGS,
    STATES,
    TomographyData,
    TomographyError,
    analyze,
    chsh_at_bench_angles,
    chsh_max,
    concurrence,
    fidelity,
    maximum_likelihood,
    named_data,
    purity,
    settings_data,
)

# D. F. V. James, P. G. Kwiat, W. J. Munro and A. G. White, "Measurement of
# qubits", Phys. Rev. A 64, 052312 (2001), the table of their two-photon
# tomography: coincidences in 10 s for the 16 settings JKMW_SETTINGS (their
# order; R = (H - iV)/sqrt 2, L = (H + iV)/sqrt 2), a state near
# (HH + VV)/sqrt 2.
JKMW_COUNTS = [34749, 324, 35805, 444, 16324, 17521, 13441, 16901,
               17932, 32028, 15132, 17238, 13171, 17170, 16722, 33586]


def werner(p: float) -> np.ndarray:
    phi = BELL_STATES["phi+"]
    return p * np.outer(phi, phi.conj()) + (1 - p) * np.eye(4) / 4


def random_state(rng: np.random.Generator, rank: int = 4) -> np.ndarray:
    g = rng.normal(size=(4, rank)) + 1j * rng.normal(size=(4, rank))
    rho = g @ g.conj().T
    return rho / np.trace(rho).real


def exact_pauli_data(rho: np.ndarray, pairs: float = 1e9, hwp: Waveplate | None = None) -> TomographyData:
    """Noise-free counts of the 9 Pauli settings (both outputs per arm); with an
    imperfect ``hwp`` the analysers sit at the ideal angles, so the analysed
    states are the plate's, not the named ones."""
    analysed = []
    for key in PAULI_SETTINGS:
        if hwp is None:
            analysed.append((STATES[key[0]], STATES[key[1]]))
        else:  # HWP only, at the ideal angle of a linear state: H 0, D 22.5; R via a QWP at 0 and HWP 22.5
            pair = []
            for s in key:
                hwp_deg, qwp_deg = {"H": (0.0, 0.0), "D": (22.5, 45.0), "R": (22.5, 0.0)}[s]
                pair.append(analysed_state(hwp_deg, hwp, qwp_deg))
            analysed.append((pair[0], pair[1]))
    probe = settings_data(analysed, np.ones((len(analysed), 4)))
    p = np.einsum("kij,ji->k", probe.povm, rho).real
    return settings_data(analysed, (pairs * p).reshape(-1, 4))


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_exact_counts_give_back_the_state(seed: int) -> None:
    rho = random_state(np.random.default_rng(seed))
    est = maximum_likelihood(exact_pauli_data(rho))
    assert np.abs(est - rho).max() < 1e-5


def test_projectors_of_imperfect_plates_give_back_the_state() -> None:
    # a HWP 20 degrees off analyses elliptical states; with the projectors the
    # plates really realise, the reconstruction is exact, with the named ones it is not
    rho = werner(0.9)
    data = exact_pauli_data(rho, hwp=Waveplate(0.5, retardance_error_deg=20.0))
    assert np.abs(maximum_likelihood(data) - rho).max() < 1e-5
    named = settings_data([(STATES[k[0]], STATES[k[1]]) for k in PAULI_SETTINGS],
                          data.counts.reshape(-1, 4))
    assert np.abs(maximum_likelihood(named) - rho).max() > 0.02


def test_figures_of_known_states() -> None:
    phi = BELL_STATES["phi+"]
    bell = np.outer(phi, phi.conj())
    assert fidelity(bell, "phi+") == pytest.approx(1.0)
    assert fidelity(bell, "psi-") == pytest.approx(0.0, abs=1e-12)
    assert concurrence(bell) == pytest.approx(1.0)
    assert purity(bell) == pytest.approx(1.0)
    assert chsh_max(bell) == pytest.approx(2 * math.sqrt(2))
    assert chsh_at_bench_angles(bell) == pytest.approx(2 * math.sqrt(2))
    for p in (0.2, 1 / 3, 0.6, 0.9):  # Werner states: closed forms
        rho = werner(p)
        assert fidelity(rho, "phi+") == pytest.approx((1 + 3 * p) / 4)
        assert fidelity(rho, rho) == pytest.approx(1.0)
        assert concurrence(rho) == pytest.approx(max(0.0, (3 * p - 1) / 2), abs=1e-9)
        assert purity(rho) == pytest.approx((1 + 3 * p * p) / 4)
        assert chsh_max(rho) == pytest.approx(2 * math.sqrt(2) * p)
    product = np.kron(np.diag([1.0, 0.0]), np.diag([0.5, 0.5])).astype(complex)
    assert concurrence(product) == pytest.approx(0.0, abs=1e-12)
    assert fidelity(product, np.eye(4) / 4) == pytest.approx(0.5)  # (sum sqrt(1/8)*2)^2


def test_bench_family_predicts_the_chsh_closed_form() -> None:
    # docs/physics.md section 8: S = sqrt 2 V (1 + c) at the qnic chsh angles
    v, c = 0.96, 0.95
    rho = v * np.diag([0.5, 0, 0, 0.5]).astype(complex) + (1 - v) * np.eye(4) / 4
    rho[0, 3] = rho[3, 0] = v * c / 2
    assert chsh_at_bench_angles(rho) == pytest.approx(math.sqrt(2) * v * (1 + c))


def _jkmw_reference(counts: np.ndarray) -> np.ndarray:
    """James et al.'s own fit (their section on maximum likelihood): the
    Gaussian approximation to Poisson statistics with N fixed by the four H/V
    counts, minimised over T T^dagger / Tr -- an independent route."""
    data = named_data(JKMW_SETTINGS, counts)
    n_pairs = counts[:4].sum()

    def cost(x: np.ndarray) -> float:
        t = (x[:16] + 1j * x[16:]).reshape(4, 4)
        rho = t @ t.conj().T
        rho = rho / np.trace(rho).real
        expected = n_pairs * np.einsum("kij,ji->k", data.povm, rho).real
        return float(np.sum((expected - counts) ** 2 / (2 * expected)))
    x0 = np.concatenate([np.eye(4).ravel() / 2, np.zeros(16)])
    x = minimize(cost, x0, method="BFGS", options={"gtol": 1e-8}).x
    t = (x[:16] + 1j * x[16:]).reshape(4, 4)
    rho = t @ t.conj().T
    return rho / np.trace(rho).real


def test_published_jkmw_data() -> None:
    counts = np.array(JKMW_COUNTS, dtype=float)
    result = analyze(named_data(JKMW_SETTINGS, counts), "phi+", n_bootstrap=20, seed=3)
    # the two likelihoods differ only in how the pairs' number is handled:
    # with these counts the states agree to far below the statistical errors
    reference = _jkmw_reference(counts)
    assert np.abs(result.rho - reference).max() < 2e-3
    err = result.errors
    assert np.abs(result.rho - reference).max() < np.max(err["rho_real"])
    # a state close to (HH + VV)/sqrt 2, as James et al. report: HH and VV
    # near 1/2, coherence near 0.47, the rest small
    assert result.rho[0, 0].real == pytest.approx(0.50, abs=0.01)
    assert result.rho[3, 3].real == pytest.approx(0.48, abs=0.01)
    assert abs(result.rho[0, 3]) == pytest.approx(0.466, abs=0.01)
    assert result.fidelity == pytest.approx(0.96, abs=4 * err["fidelity"])
    assert 0 < err["fidelity"] < 0.01 and 0 < err["concurrence"] < 0.02
    assert np.all(np.linalg.eigvalsh(result.rho) > -1e-9)  # physical
    assert result.concurrence > 0.85 and result.chsh_max > 2.6


def test_estimate_and_bootstrap_errors_on_simulated_counts() -> None:
    # Poisson counts of the bench's default state: the estimate lands within
    # 4 bootstrap sigmas of the true figures, and the bootstrap sigma matches
    # the spread over independent repetitions (within 40%: 12 repetitions)
    rng = np.random.default_rng(7)
    v, c = 0.96, 0.95
    rho = v * np.diag([0.5, 0, 0, 0.5]).astype(complex) + (1 - v) * np.eye(4) / 4
    rho[0, 3] = rho[3, 0] = v * c / 2
    mean = exact_pauli_data(rho, pairs=10_000).counts
    analysed = [(STATES[k[0]], STATES[k[1]]) for k in PAULI_SETTINGS]
    fids = []
    result = None
    for i in range(12):
        counts = rng.poisson(mean).reshape(-1, 4)
        r = analyze(settings_data(analysed, counts), "phi+", n_bootstrap=30 if i == 0 else 0, seed=i)
        result = result or r
        fids.append(r.fidelity)
    assert result is not None
    sigma = result.errors["fidelity"]
    assert abs(result.fidelity - fidelity(rho, "phi+")) < 4 * sigma
    assert abs(result.concurrence - concurrence(rho)) < 4 * result.errors["concurrence"]
    assert 0.6 < sigma / np.std(fids, ddof=1) < 1.6


def test_bad_input_is_named() -> None:
    analysed = [(STATES["H"], STATES["H"])]
    with pytest.raises(TomographyError, match="4 counts per setting"):
        settings_data(analysed, [[1, 2, 3]])
    with pytest.raises(TomographyError, match=">= 0"):
        settings_data(analysed, [[1, -2, 3, 4]])
    with pytest.raises(TomographyError, match="no counts"):
        settings_data(analysed, [[0, 0, 0, 0]])
    data = settings_data(analysed, [[1, 2, 3, 4]])
    with pytest.raises(TomographyError, match="unknown target"):
        analyze(data, "bell")
    with pytest.raises(TomographyError, match="resamples"):
        analyze(data, "phi+", n_bootstrap=-1)
