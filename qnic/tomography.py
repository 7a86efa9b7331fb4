"""Two-qubit polarization state tomography (docs/tomography.md): pure analysis.

A measurement is a list of two-qubit projectors with their coincidence
counts. Projectors are grouped: the counts of one group share one unknown
number of pairs (a setting's run time, rate and efficiencies), so only the
ratios within a group carry information. With two detectors per arm one
setting of both analysers gives a complete group of four projectors
(P_a (x) P_b, a, b in {0, 1}); the James-Kwiat-Munro-White table of 16
single-output counts is one group of 16.

The estimate is the maximum of the Poisson likelihood over physical states,
rho = T T^dagger / Tr(T T^dagger) (James, Kwiat, Munro and White, "Measurement
of qubits", Phys. Rev. A 64, 052312 (2001)), with each group's intensity
profiled out: log L = sum_i n_i log(p_i / P_g(i)), p_i = Tr(M_i rho),
P_g = sum over the group of p_j. Errors are the spread over Poisson
resamples of the counts (parametric bootstrap on the data).

Single-photon states (Jones vectors on {H, V}): D = (H + V)/sqrt 2,
A = (H - V)/sqrt 2, R = (H - iV)/sqrt 2, L = (H + iV)/sqrt 2 (the
convention of James et al. 2001). Two-qubit matrices are on {HH, HV, VH,
VV}, arm A's photon first.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from qnic.bases import CHSH_ANGLES_DEG

_S = 1.0 / math.sqrt(2.0)
STATES: dict[str, NDArray[np.complex128]] = {
    "H": np.array([1.0, 0.0], dtype=np.complex128),
    "V": np.array([0.0, 1.0], dtype=np.complex128),
    "D": np.array([_S, _S], dtype=np.complex128),
    "A": np.array([_S, -_S], dtype=np.complex128),
    "R": np.array([_S, -1j * _S], dtype=np.complex128),
    "L": np.array([_S, 1j * _S], dtype=np.complex128),
}
"""Single-photon polarization states by name (Jones vectors on {H, V})."""

PAULI_SETTINGS: tuple[str, ...] = tuple(a + b for a in "HDR" for b in "HDR")
"""The 9 Pauli basis pairs (Z, X, Y per arm, named by outcome 0's state):
with both PBS outputs of each arm, 36 projectors."""

JKMW_SETTINGS: tuple[str, ...] = ("HH", "HV", "VV", "VH", "RH", "RV", "DV", "DH",
                                  "DR", "DD", "RD", "HD", "VD", "VL", "HL", "RL")
"""The 16 settings of James et al. 2001 (their table's order), outcome 0 of each arm."""

SETTING_SETS: dict[str, tuple[str, ...]] = {"pauli": PAULI_SETTINGS, "jkmw": JKMW_SETTINGS}

BELL_STATES: dict[str, NDArray[np.complex128]] = {
    "phi+": np.array([_S, 0, 0, _S], dtype=np.complex128),
    "phi-": np.array([_S, 0, 0, -_S], dtype=np.complex128),
    "psi+": np.array([0, _S, _S, 0], dtype=np.complex128),
    "psi-": np.array([0, _S, -_S, 0], dtype=np.complex128),
}

_PAULI = np.array([[[0, 1], [1, 0]], [[0, -1j], [1j, 0]], [[1, 0], [0, -1]]], dtype=np.complex128)
_YY = np.kron(_PAULI[1], _PAULI[1])


@functools.cache
def _blas() -> Any:
    from threadpoolctl import ThreadpoolController

    return ThreadpoolController()


@contextmanager
def _one_blas_thread() -> Iterator[None]:
    """4 x 4 algebra on one BLAS thread: OpenBLAS splitting even these
    across threads stalls on busy cores (a fit took 1 s instead of 10 ms on
    2 shared cores; the same cause as qnic/games/blas.py)."""
    with _blas().limit(limits=1, user_api="blas"):
        yield


class TomographyError(ValueError):
    """Tomography input that cannot be analysed (names what is wrong)."""


@dataclass(frozen=True)
class TomographyData:
    """Projectors, their counts and their groups.

    Attributes:
        povm: complex128 (K, 4, 4), the two-qubit projectors (or POVM elements).
        counts: float64 (K,), coincidences of each (>= 0).
        groups: int64 (K,), projectors with the same group share one
            unknown number of pairs.
    """

    povm: NDArray[np.complex128]
    counts: NDArray[np.float64]
    groups: NDArray[np.int64]

    def __post_init__(self) -> None:
        k = self.counts.shape[0]
        if self.povm.shape != (k, 4, 4) or self.groups.shape != (k,):
            raise TomographyError(f"need (K, 4, 4) projectors, K counts and K groups; got "
                                  f"{self.povm.shape}, {self.counts.shape}, {self.groups.shape}")
        if not np.all(np.isfinite(self.counts)) or np.any(self.counts < 0):
            raise TomographyError("counts must be finite and >= 0")
        if self.counts.sum() <= 0:
            raise TomographyError("no counts: nothing to reconstruct")

    def with_counts(self, counts: NDArray[np.float64]) -> TomographyData:
        return TomographyData(self.povm, np.asarray(counts, dtype=np.float64), self.groups)


def projector(psi: ArrayLike) -> NDArray[np.complex128]:
    """|psi><psi| of a normalised copy of ``psi``."""
    v = np.asarray(psi, dtype=np.complex128)
    v = v / np.linalg.norm(v)
    return np.outer(v, v.conj())


def setting_povm(psi_a: ArrayLike, psi_b: ArrayLike) -> NDArray[np.complex128]:
    """The four projectors P_a (x) P_b of one setting, a, b in {0, 1}, shape
    (4, 4, 4) in the order 2a + b; outcome 0 of arm A analyses ``psi_a``."""
    eye = np.eye(2, dtype=np.complex128)
    pa, pb = projector(psi_a), projector(psi_b)
    arms_a, arms_b = (pa, eye - pa), (pb, eye - pb)
    return np.array([np.kron(arms_a[a], arms_b[b]) for a in (0, 1) for b in (0, 1)])


def settings_data(analysed: Sequence[tuple[ArrayLike, ArrayLike]],
                  counts: ArrayLike) -> TomographyData:
    """Data of settings measured with both outputs per arm.

    Args:
        analysed: per setting, the Jones vectors arm A and arm B analysed
            (outcome 0), as the plates actually stood.
        counts: (S, 4) coincidences n00, n01, n10, n11 per setting.
    """
    n = np.asarray(counts, dtype=np.float64)
    if n.shape != (len(analysed), 4):
        raise TomographyError(f"need 4 counts per setting for {len(analysed)} settings, got shape {n.shape}")
    povm = np.concatenate([setting_povm(a, b) for a, b in analysed])
    return TomographyData(povm, n.ravel(), np.repeat(np.arange(len(analysed)), 4))


def named_data(settings: Sequence[str], counts: ArrayLike) -> TomographyData:
    """Single-output data as in James et al. 2001: ``settings`` names arm
    A's and B's states ("HD"), ``counts`` one number each, one group."""
    povm = np.array([np.kron(projector(STATES[s[0]]), projector(STATES[s[1]])) for s in settings])
    n = np.asarray(counts, dtype=np.float64)
    return TomographyData(povm, n, np.zeros(len(settings), dtype=np.int64))


def _negative_log_likelihood(x: NDArray[np.float64], data: TomographyData,
                             n_group: NDArray[np.float64]) -> tuple[float, NDArray[np.float64]]:
    t = (x[:16] + 1j * x[16:]).reshape(4, 4)
    a = t @ t.conj().T
    p = np.maximum(np.einsum("kij,ji->k", data.povm, a).real, 1e-300)
    big_p = np.bincount(data.groups, p)
    trace = float(np.trace(a).real)
    value = -float(np.sum(data.counts * (np.log(p) - np.log(big_p[data.groups])))) + (trace - 1.0) ** 2
    weights = -data.counts / p + (n_group / big_p)[data.groups]
    g = np.einsum("k,kij->ij", weights, data.povm) + 2.0 * (trace - 1.0) * np.eye(4)
    b = g @ t
    return value, np.concatenate([2.0 * b.real.ravel(), 2.0 * b.imag.ravel()])


def maximum_likelihood(data: TomographyData, start: NDArray[np.complex128] | None = None
                       ) -> NDArray[np.complex128]:
    """The physical density matrix (complex (4, 4)) of greatest likelihood.

    Args:
        data: projectors, counts, groups.
        start: a density matrix to start from (default: maximally mixed).
    """
    from scipy.optimize import minimize

    if start is None:
        t0 = np.eye(4, dtype=np.complex128) / 2.0
    else:  # a full-rank square root of a nearby state
        w, v = np.linalg.eigh((start + start.conj().T) / 2.0)
        t0 = v @ np.diag(np.sqrt(np.clip(w, 1e-3, None)))
    n_group = np.bincount(data.groups, data.counts)
    x0 = np.concatenate([t0.real.ravel(), t0.imag.ravel()])
    with _one_blas_thread():
        res = minimize(_negative_log_likelihood, x0, args=(data, n_group), jac=True,
                       method="L-BFGS-B", options={"maxiter": 5000, "ftol": 1e-15, "gtol": 1e-10})
    t = (res.x[:16] + 1j * res.x[16:]).reshape(4, 4)
    rho = t @ t.conj().T
    return np.asarray(rho / np.trace(rho).real, dtype=np.complex128)


def _sqrtm_psd(m: NDArray[np.complex128]) -> NDArray[np.complex128]:
    w, v = np.linalg.eigh((m + m.conj().T) / 2.0)
    return np.asarray((v * np.sqrt(np.clip(w, 0.0, None))) @ v.conj().T, dtype=np.complex128)


def fidelity(rho: NDArray[np.complex128], target: ArrayLike | str) -> float:
    """Uhlmann fidelity (Tr sqrt(sqrt(sigma) rho sqrt(sigma)))^2 to ``target``:
    a Bell state's name, a ket (4,) or a density matrix (4, 4). For a ket
    it is <psi|rho|psi>."""
    t = BELL_STATES[target] if isinstance(target, str) else np.asarray(target, dtype=np.complex128)
    if t.ndim == 1:
        t = t / np.linalg.norm(t)
        return float(np.real(t.conj() @ rho @ t))
    root = _sqrtm_psd(t)
    inner = np.linalg.eigvalsh(root @ rho @ root)
    return float(np.sum(np.sqrt(np.clip(inner, 0.0, None))) ** 2)


def concurrence(rho: NDArray[np.complex128]) -> float:
    """Wootters' concurrence max(0, l1 - l2 - l3 - l4), l the decreasing
    square roots of the eigenvalues of rho (Y (x) Y) rho* (Y (x) Y)."""
    root = _sqrtm_psd(rho)
    tilde = _YY @ rho.conj() @ _YY
    lam = np.sort(np.sqrt(np.clip(np.linalg.eigvalsh(root @ tilde @ root), 0.0, None)))[::-1]
    return float(max(0.0, lam[0] - lam[1] - lam[2] - lam[3]))


def purity(rho: NDArray[np.complex128]) -> float:
    """Tr rho^2."""
    return float(np.real(np.trace(rho @ rho)))


def correlation_matrix(rho: NDArray[np.complex128]) -> NDArray[np.float64]:
    """T_ij = Tr[rho (sigma_i (x) sigma_j)], i, j over (X, Y, Z), shape (3, 3)."""
    return np.array([[np.real(np.trace(rho @ np.kron(si, sj))) for sj in _PAULI] for si in _PAULI])


def chsh_max(rho: NDArray[np.complex128]) -> float:
    """The greatest CHSH value the state allows with the best linear or
    elliptical settings: 2 sqrt(m1 + m2), m1, m2 the two largest eigenvalues
    of T^T T (R., P. and M. Horodecki, Phys. Lett. A 200, 340 (1995))."""
    t = correlation_matrix(rho)
    m = np.sort(np.linalg.eigvalsh(t.T @ t))[::-1]
    return float(2.0 * math.sqrt(max(0.0, m[0] + m[1])))


def chsh_at_bench_angles(rho: NDArray[np.complex128],
                         angles_deg: Mapping[str, tuple[float, float]] = CHSH_ANGLES_DEG) -> float:
    """S = E00 + E01 + E10 - E11 the state gives at the linear CHSH bases
    ``qnic chsh`` uses (polarizer-equivalent angles, docs/chsh.md), with
    ideal analysers: O(phi) = cos 2phi Z + sin 2phi X."""
    def obs(phi_deg: float) -> NDArray[np.complex128]:
        p = math.radians(2.0 * phi_deg)
        return np.asarray(math.cos(p) * _PAULI[2] + math.sin(p) * _PAULI[0], dtype=np.complex128)
    e = [[float(np.real(np.trace(rho @ np.kron(obs(a), obs(b))))) for b in angles_deg["B"]]
         for a in angles_deg["A"]]
    return e[0][0] + e[0][1] + e[1][0] - e[1][1]


@dataclass
class TomographyResult:
    """A reconstruction with its figures and their bootstrap errors.

    Attributes:
        rho: complex (4, 4) maximum-likelihood density matrix.
        target: the Bell state the fidelity refers to.
        fidelity, concurrence, purity: of ``rho``.
        chsh_max: the best CHSH value ``rho`` allows (Horodecki).
        chsh: S at the bench's CHSH angles (docs/chsh.md).
        errors: standard deviation over the bootstrap of each figure, and
            of rho's parts ("rho_real", "rho_imag", (4, 4) lists).
        n_bootstrap: resamples behind ``errors``.
    """

    rho: NDArray[np.complex128]
    target: str
    fidelity: float
    concurrence: float
    purity: float
    chsh_max: float
    chsh: float
    errors: dict[str, Any] = field(default_factory=dict)
    n_bootstrap: int = 0

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready form (docs/tomography.md)."""
        return {"rho": {"real": self.rho.real.tolist(), "imag": self.rho.imag.tolist()},
                "target": self.target, "fidelity": self.fidelity,
                "concurrence": self.concurrence, "purity": self.purity,
                "chsh_max": self.chsh_max, "chsh": self.chsh,
                "errors": self.errors, "n_bootstrap": self.n_bootstrap}


_FIGURES = ("fidelity", "concurrence", "purity", "chsh_max", "chsh")


def _figures(rho: NDArray[np.complex128], target: str) -> dict[str, float]:
    return {"fidelity": fidelity(rho, target), "concurrence": concurrence(rho),
            "purity": purity(rho), "chsh_max": chsh_max(rho), "chsh": chsh_at_bench_angles(rho)}


def bootstrap(data: TomographyData, rho: NDArray[np.complex128], n: int,
              rng: np.random.Generator) -> list[NDArray[np.complex128]]:
    """Reconstructions of ``n`` Poisson resamples of the counts (each count
    redrawn from a Poisson law of its own mean), started from ``rho``."""
    return [maximum_likelihood(data.with_counts(rng.poisson(data.counts).astype(np.float64)), rho)
            for _ in range(n)]


def analyze(data: TomographyData, target: str = "phi+", n_bootstrap: int = 50,
            seed: int = 0) -> TomographyResult:
    """Reconstruct, compute the figures and their bootstrap errors.

    Args:
        data: the measurement.
        target: the Bell state for the fidelity ("phi+", "phi-", "psi+", "psi-").
        n_bootstrap: Poisson resamples for the errors (0: none).
        seed: the resampling's random seed.

    Raises:
        TomographyError: an unknown target or a bad number of resamples.
    """
    if target not in BELL_STATES:
        raise TomographyError(f"unknown target {target!r} (expected one of {', '.join(BELL_STATES)})")
    if n_bootstrap < 0:
        raise TomographyError(f"bootstrap resamples must be >= 0, got {n_bootstrap}")
    with _one_blas_thread():
        rho = maximum_likelihood(data)
        figs = _figures(rho, target)
        reps = bootstrap(data, rho, n_bootstrap, np.random.default_rng(seed))
        values = [_figures(r, target) for r in reps]
    errors: dict[str, Any] = {}
    if n_bootstrap:
        errors = {k: float(np.std([v[k] for v in values], ddof=1)) if n_bootstrap > 1 else 0.0
                  for k in _FIGURES}
        stack = np.array(reps)
        ddof = 1 if n_bootstrap > 1 else 0
        errors["rho_real"] = np.std(stack.real, axis=0, ddof=ddof).tolist()
        errors["rho_imag"] = np.std(stack.imag, axis=0, ddof=ddof).tolist()
    return TomographyResult(rho, target, figs["fidelity"], figs["concurrence"], figs["purity"],
                            figs["chsh_max"], figs["chsh"], errors, n_bootstrap)
