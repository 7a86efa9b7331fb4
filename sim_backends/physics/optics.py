"""Jones optics of one analyser arm: (QWP), HWP, then a PBS (docs/physics.md).

Light passes the optional quarter-wave plate, then the half-wave plate, then
the PBS, whose transmitted port is outcome 0 (H) and reflected port outcome 1
(V). A plate whose fast axis is at theta from H with retardance delta has
Jones matrix R(theta) diag(1, e^{i delta}) R(-theta); for delta = pi this is
[[cos 2t, sin 2t], [sin 2t, -cos 2t]] up to a phase.
"""

from __future__ import annotations

import numpy as np


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
