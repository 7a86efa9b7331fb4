"""Jones optics of one analyser arm: (QWP), HWP, then a PBS (docs/physics.md).

Light passes the optional quarter-wave plate, then the half-wave plate, then
the PBS, whose transmitted port is outcome 0 (H) and reflected port outcome 1
(V). A plate whose fast axis is at theta from H with retardance delta has
Jones matrix R(theta) diag(1, e^{i delta}) R(-theta); for delta = pi this is
[[cos 2t, sin 2t], [sin 2t, -cos 2t]] up to a phase.

A real plate has its nominal retardance at one wavelength only
(:func:`plate_retardance_rad`): a plate of order m made for lambda0 holds
d (n_e - n_o)(lambda0) = (m + f) lambda0 with f = 1/2 (HWP) or 1/4 (QWP),
so at lambda its retardance is 2 pi (m + f) (lambda0 / lambda)
(dn(lambda) / dn(lambda0)), with the birefringence dn of crystal quartz
from Ghosh's dispersion equations (docs/physics.md section 2).
"""

from __future__ import annotations

import math

import numpy as np

# Crystal quartz, room temperature: n^2 = 1 + B0 + B1 L^2/(L^2 - C1) + B2 L^2/(L^2 - C2),
# L in micrometres, valid 0.198 to 2.05 um. G. Ghosh, "Dispersion-equation
# coefficients for the refractive index and birefringence of calcite and quartz
# crystals", Opt. Commun. 163, 95-102 (1999), as tabulated by the public
# refractiveindex.info database (SiO2, Ghosh-o and Ghosh-e).
_QUARTZ_O = (0.28604141, 1.07044083, 1.00585997e-2, 1.10202242, 100.0)
_QUARTZ_E = (0.28851804, 1.09509924, 1.02101864e-2, 1.15662475, 100.0)
QUARTZ_RANGE_NM = (198.0, 2053.0)
HALF_WAVE = 0.5
QUARTER_WAVE = 0.25


def _quartz_index(coef: tuple[float, ...], wavelength_nm: float) -> float:
    l2 = (wavelength_nm * 1e-3) ** 2
    b0, b1, c1, b2, c2 = coef
    return math.sqrt(1.0 + b0 + b1 * l2 / (l2 - c1) + b2 * l2 / (l2 - c2))


def quartz_birefringence(wavelength_nm: float) -> float:
    """n_e - n_o of crystal quartz at ``wavelength_nm`` (Ghosh 1999; about 0.0089 at 810 nm)."""
    return _quartz_index(_QUARTZ_E, wavelength_nm) - _quartz_index(_QUARTZ_O, wavelength_nm)


def plate_retardance_rad(waves: float, order: int, design_wavelength_nm: float,
                         wavelength_nm: float, error_deg: float = 0.0) -> float:
    """Retardance (rad) of a quartz plate at ``wavelength_nm``.

    Args:
        waves: the nominal retardance in waves: 0.5 (HWP) or 0.25 (QWP).
        order: the plate's order m (0 for a zero-order plate, true or
            compound: its two crossed plates cancel all but ``waves``).
        design_wavelength_nm: the wavelength at which it is exact.
        wavelength_nm: the light's wavelength.
        error_deg: a fixed extra error (degrees), added.

    Returns:
        2 pi (m + waves) (lambda0 / lambda) (dn(lambda) / dn(lambda0)) + error.
    """
    disp = quartz_birefringence(wavelength_nm) / quartz_birefringence(design_wavelength_nm)
    return (2.0 * math.pi * (order + waves) * design_wavelength_nm / wavelength_nm * disp
            + math.radians(error_deg))


def waveplate(theta_deg: np.ndarray, retardance_rad: float) -> np.ndarray:
    """Jones matrices of plates at fast-axis angles ``theta_deg`` (shape (N,)).

    Returns:
        complex128 array of shape (N, 2, 2).
    """
    t = np.deg2rad(np.asarray(theta_deg, dtype=np.float64))
    c, s = np.cos(t), np.sin(t)
    e = np.exp(1j * retardance_rad)
    out = np.empty(t.shape + (2, 2), dtype=np.complex128)
    out[..., 0, 0] = c * c + e * s * s
    out[..., 0, 1] = (1 - e) * c * s
    out[..., 1, 0] = (1 - e) * c * s
    out[..., 1, 1] = s * s + e * c * c
    return out


def analyser_povm(hwp_deg: np.ndarray, extinction_ratio: float = np.inf,
                  hwp_retardance_error_deg: float = 0.0,
                  qwp_deg: np.ndarray | None = None,
                  qwp_retardance_error_deg: float = 0.0) -> np.ndarray:
    """POVM elements of the arm's two outcomes at the given plate angles.

    Args:
        hwp_deg: HWP fast-axis angles from H (degrees), shape (N,).
        extinction_ratio: PBS extinction ratio (transmitted H : leaked V);
            ``inf`` for an ideal PBS.
        hwp_retardance_error_deg: deviation of the HWP from pi (degrees).
        qwp_deg: QWP fast-axis angles (degrees), shape (N,), or None.
        qwp_retardance_error_deg: deviation of the QWP from pi/2 (degrees).

    Returns:
        complex128 array of shape (N, 2, 2, 2): [n, outcome] -> 2x2 element.
    """
    hwp_deg = np.atleast_1d(np.asarray(hwp_deg, dtype=np.float64))
    u = waveplate(hwp_deg, np.pi + np.deg2rad(hwp_retardance_error_deg))
    if qwp_deg is not None:
        q = waveplate(np.broadcast_to(qwp_deg, hwp_deg.shape),
                      np.pi / 2 + np.deg2rad(qwp_retardance_error_deg))
        u = u @ q  # the QWP acts first
    leak = 0.0 if np.isinf(extinction_ratio) else 1.0 / (1.0 + extinction_ratio)
    ports = np.array([[1.0 - leak, leak], [leak, 1.0 - leak]])  # diagonals of P_0, P_1
    u_dag = np.conj(np.swapaxes(u, -1, -2))
    # M_k = U^dagger P_k U for each angle n and outcome k (P_k diagonal)
    return np.stack([(u_dag * p[None, None, :]) @ u for p in ports], axis=1)


def joint_probabilities(rho: np.ndarray, povm_a: np.ndarray, povm_b: np.ndarray) -> np.ndarray:
    """Tr[(M_a (x) M_b) rho] for every row and outcome pair.

    Args:
        rho: complex (4, 4) density matrix on {HH, HV, VH, VV}.
        povm_a, povm_b: (N, 2, 2, 2) from :func:`analyser_povm` (N may be 1
            on either side and broadcasts).

    Returns:
        float64 array (N, 4): column 2 a + b holds P(a, b).
    """
    n = max(povm_a.shape[0], povm_b.shape[0])
    povm_a = np.broadcast_to(povm_a, (n,) + povm_a.shape[1:])
    povm_b = np.broadcast_to(povm_b, (n,) + povm_b.shape[1:])
    r = rho.reshape(2, 2, 2, 2)  # r[i, j, k, l] = <ij| rho |kl>
    # two explicit contractions: a three-operand einsum is slow for large N
    x = np.einsum("nakc,cdkl->nadl", povm_a, r)
    p = np.einsum("nadl,nbld->nab", x, povm_b)
    p = np.clip(p.real, 0.0, None)
    return p.reshape(p.shape[0], 4)
