"""Two-qubit polarization states on the basis {HH, HV, VH, VV} (docs/physics.md)."""

from __future__ import annotations

from enum import Enum

import numpy as np

H, V = 0, 1


class BellState(str, Enum):
    """The four Bell states; ``phi+`` is (|HH> + |VV>)/sqrt 2."""

    PHI_PLUS = "phi+"
    PHI_MINUS = "phi-"
    PSI_PLUS = "psi+"
    PSI_MINUS = "psi-"


# (first ket, second ket, sign) in the index of {HH, HV, VH, VV}
_BELL_KETS: dict[BellState, tuple[int, int, float]] = {
    BellState.PHI_PLUS: (0, 3, 1.0),
    BellState.PHI_MINUS: (0, 3, -1.0),
    BellState.PSI_PLUS: (1, 2, 1.0),
    BellState.PSI_MINUS: (1, 2, -1.0),
}


def bell_family(visibility: float = 1.0, coherence: float = 1.0,
                bell: BellState | str = BellState.PHI_PLUS,
                phase_deg: float = 0.0, pump_deg: float = 45.0) -> np.ndarray:
    """The default family of docs/physics.md: rho = V rho_c + (1 - V) I/4.

    rho_c = (|u><u| + |w><w|)/2 + c (s e^{-i phase}|u><w| + h.c.)/2, where
    (|u> + s e^{i phase}|w>)/sqrt 2 is the chosen Bell state.

    A crossed-crystal source pumped at polarization ``pump_deg`` emits the
    first ket with amplitude cos(pump) and the second with sin(pump): 45
    degrees balances them (the Bell state), 0 gives |u> alone (|HH> for
    phi+-), the product state alignment uses as a polarization reference.
    Then rho_c = cos^2 p |u><u| + sin^2 p |w><w| + c sin p cos p (...).

    Args:
        visibility: V in [0, 1], one minus the white-noise weight.
        coherence: c in [0, 1], the coherence between the two kets.
        bell: which Bell state (``"phi+"``, ``"phi-"``, ``"psi+"``, ``"psi-"``).
        phase_deg: an extra relative phase of the second ket (degrees).
        pump_deg: pump polarization (degrees); 45 for the Bell state.

    Returns:
        complex128 array of shape (4, 4).
    """
    if not 0.0 <= visibility <= 1.0:
        raise ValueError(f"visibility must be within [0, 1], got {visibility}")
    if not 0.0 <= coherence <= 1.0:
        raise ValueError(f"coherence must be within [0, 1], got {coherence}")
    u, w, sign = _BELL_KETS[BellState(bell)]
    p = np.deg2rad(pump_deg)
    rho_c = np.zeros((4, 4), dtype=np.complex128)
    rho_c[u, u] = np.cos(p) ** 2
    rho_c[w, w] = np.sin(p) ** 2
    off = np.sin(p) * np.cos(p) * coherence * sign * np.exp(-1j * np.deg2rad(phase_deg))
    rho_c[u, w] = off
    rho_c[w, u] = np.conj(off)
    return visibility * rho_c + (1.0 - visibility) * np.eye(4) / 4.0


def validate_density_matrix(rho: np.ndarray, atol: float = 1e-9) -> np.ndarray:
    """Check a user-given 4x4 density matrix; return it as complex128.

    Raises:
        ValueError: not 4x4, not Hermitian, trace not 1, or not positive
            semidefinite.
    """
    rho = np.asarray(rho, dtype=np.complex128)
    if rho.shape != (4, 4):
        raise ValueError(f"density matrix must be 4x4, got shape {rho.shape}")
    if not np.allclose(rho, rho.conj().T, atol=atol):
        raise ValueError("density matrix is not Hermitian")
    if abs(np.trace(rho).real - 1.0) > 1e-6:
        raise ValueError(f"density matrix trace is {np.trace(rho).real:.6g}, not 1")
    if np.linalg.eigvalsh(rho).min() < -1e-8:
        raise ValueError("density matrix has a negative eigenvalue (not physical)")
    return rho
