"""Measurement bases and the waveplate angles that realise them (docs/conventions.md).

A linear basis is named by its polarizer-equivalent angle phi (degrees from
H): outcome 0 is the polarization at phi. A half-wave plate whose fast axis
is at theta from H analyses phi = 2 theta, so the rotator goes to
theta = phi / 2 + waveplate_zero_deg.

Real plates (:class:`Waveplate`) have their nominal retardance at one
wavelength only. An ideal HWP at theta and at theta + 90 is the same
operator, so the angle may be folded into 90 degrees; an imperfect one is
not (theta + 90 is a plate of the opposite retardance error, whose analysed
state has the opposite ellipticity), so :func:`hwp_angle_deg` keeps only
the angles whose Jones matrix is the plate's at phi / 2
(docs/conventions.md, docs/physics.md section 2).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from numpy.typing import ArrayLike, NDArray

# Crystal quartz birefringence from G. Ghosh, Opt. Commun. 163, 95-102 (1999)
# (the refractiveindex.info tabulation, SiO2 Ghosh-o / Ghosh-e): the same
# numbers as the simulated bench's optics, kept here because the core does
# not import the simulation (docs/architecture.md).
_QUARTZ_O = (0.28604141, 1.07044083, 1.00585997e-2, 1.10202242, 100.0)
_QUARTZ_E = (0.28851804, 1.09509924, 1.02101864e-2, 1.15662475, 100.0)
_EQUIVALENT_TOL = 1e-9  # 1 - |<W1, W2>|/2 below this: the same operator up to a phase

# docs/chsh.md: polarizer-equivalent CHSH angles per question bit
CHSH_ANGLES_DEG: dict[str, tuple[float, float]] = {"A": (0.0, 45.0), "B": (22.5, -22.5)}


@dataclass(frozen=True)
class LinearBasis:
    """A linear polarization basis at ``phi_deg`` (outcome 0 along phi)."""

    phi_deg: float

    def __post_init__(self) -> None:
        if not math.isfinite(self.phi_deg):
            raise ValueError(f"basis angle must be finite, got {self.phi_deg}")

    def hwp_angle_deg(self, waveplate_zero_deg: float = 0.0) -> float:
        """The rotator angle (degrees) that analyses this basis."""
        return hwp_angle_deg(self.phi_deg, waveplate_zero_deg)


def hwp_angle_deg(phi_deg: float, waveplate_zero_deg: float = 0.0,
                  plate: Waveplate | None = None) -> float:
    """Rotator angle for polarizer-equivalent angle ``phi_deg``.

    An ideal HWP's period is 90 degrees of plate angle (180 of phi), so the
    result is reduced into [0, 90) + the zero's own wrap, keeping moves
    short. For an imperfect ``plate`` the candidates theta + k 90 (k = 0..3)
    are checked against the plate's own Jones matrix at phi / 2, and the
    first that is the same operator (up to a phase) is taken: theta + 90
    would analyse the opposite ellipticity.

    Args:
        phi_deg: polarizer-equivalent angle (degrees from H).
        waveplate_zero_deg: motor angle at which the fast axis is along H.
        plate: the HWP as it is (None: ideal).
    """
    base = (phi_deg / 2.0) % 90.0 + waveplate_zero_deg % 90.0
    if plate is None or plate.is_ideal:
        return base
    want = plate.jones(phi_deg / 2.0)
    for k in range(4):
        motor = (base + 90.0 * k) % 360.0
        if _same_operator(plate.jones(motor - waveplate_zero_deg), want):
            return motor
    raise AssertionError("theta + 180 is always the same plate")  # pragma: no cover


def _same_operator(w1: NDArray[np.complex128], w2: NDArray[np.complex128]) -> bool:
    return 1.0 - abs(np.trace(w1.conj().T @ w2)) / 2.0 < _EQUIVALENT_TOL


def phi_from_hwp_deg(motor_deg: float, waveplate_zero_deg: float = 0.0) -> float:
    """Polarizer-equivalent angle (degrees, in [0, 180)) analysed at a motor angle."""
    return (2.0 * (motor_deg - waveplate_zero_deg)) % 180.0


def quartz_birefringence(wavelength_nm: float) -> float:
    """n_e - n_o of crystal quartz at ``wavelength_nm`` (Ghosh 1999, 198 to 2053 nm)."""
    def index(coef: tuple[float, ...]) -> float:
        l2 = (wavelength_nm * 1e-3) ** 2
        b0, b1, c1, b2, c2 = coef
        return math.sqrt(1.0 + b0 + b1 * l2 / (l2 - c1) + b2 * l2 / (l2 - c2))
    return index(_QUARTZ_E) - index(_QUARTZ_O)


def waveplate_jones(theta_deg: float, retardance_rad: float) -> NDArray[np.complex128]:
    """Jones matrix R(theta) diag(1, e^{i delta}) R(-theta), shape (2, 2)."""
    t = math.radians(theta_deg)
    c, s, e = math.cos(t), math.sin(t), complex(np.exp(1j * retardance_rad))
    return np.array([[c * c + e * s * s, (1 - e) * c * s],
                     [(1 - e) * c * s, s * s + e * c * c]], dtype=np.complex128)


@dataclass(frozen=True)
class Waveplate:
    """A quartz waveplate as it is at the light's wavelength.

    Attributes:
        waves: nominal retardance in waves: 0.5 (HWP) or 0.25 (QWP).
        order: the plate's order m (0: zero-order, true or compound).
        design_wavelength_nm: where the retardance is nominal.
        wavelength_nm: the light's wavelength (the source's).
        retardance_error_deg: a fixed extra error (degrees).
    """

    waves: float = 0.5
    order: int = 0
    design_wavelength_nm: float = 810.0
    wavelength_nm: float = 810.0
    retardance_error_deg: float = 0.0

    @property
    def retardance_rad(self) -> float:
        """2 pi (m + waves) (lambda0/lambda) (dn(lambda)/dn(lambda0)) + the fixed error."""
        disp = quartz_birefringence(self.wavelength_nm) / quartz_birefringence(self.design_wavelength_nm)
        return (2.0 * math.pi * (self.order + self.waves) * self.design_wavelength_nm
                / self.wavelength_nm * disp + math.radians(self.retardance_error_deg))

    @property
    def deviation_deg(self) -> float:
        """Retardance minus the nominal one, degrees in (-180, 180]."""
        dev = math.degrees(self.retardance_rad - 2.0 * math.pi * self.waves) % 360.0
        return dev - 360.0 if dev > 180.0 else dev

    @property
    def is_ideal(self) -> bool:
        return abs(self.deviation_deg) < 1e-9

    def jones(self, theta_deg: float) -> NDArray[np.complex128]:
        """Jones matrix with the fast axis at ``theta_deg`` from H, shape (2, 2)."""
        return waveplate_jones(theta_deg, self.retardance_rad)


HWP = Waveplate(0.5)
QWP = Waveplate(0.25)


def analysed_state(hwp_deg: float, hwp: Waveplate = HWP, qwp_deg: float | None = None,
                   qwp: Waveplate = QWP) -> NDArray[np.complex128]:
    """Jones vector sent to the PBS's transmitted port (outcome 0), shape (2,).

    Light crosses the QWP (if any) and then the HWP; angles are fast-axis
    angles from H (motor angle minus zero), degrees.
    """
    u = hwp.jones(hwp_deg)
    if qwp_deg is not None:
        u = u @ qwp.jones(qwp_deg)
    return np.asarray(u.conj().T @ np.array([1.0, 0.0]), dtype=np.complex128)


def _ideal_plate_angles(psi: NDArray[np.complex128]) -> tuple[float, float]:
    """(QWP, HWP) fast-axis angles (degrees) analysing ``psi`` with ideal plates:
    the QWP along the ellipse's major axis makes the light linear, the HWP
    turns that onto H."""
    s1 = abs(psi[0]) ** 2 - abs(psi[1]) ** 2
    s2 = 2.0 * float(np.real(np.conj(psi[0]) * psi[1]))
    azimuth = math.degrees(math.atan2(s2, s1)) / 2.0
    out = waveplate_jones(azimuth, math.pi / 2) @ psi
    out = out * np.exp(-1j * np.angle(out[int(np.argmax(np.abs(out)))]))
    return azimuth, math.degrees(math.atan2(float(out[1].real), float(out[0].real))) / 2.0


def plate_angles_deg(target: ArrayLike, hwp: Waveplate = HWP,
                     qwp: Waveplate = QWP) -> tuple[float, float, float]:
    """(QWP, HWP) fast-axis angles (degrees, each in [0, 180)) that analyse
    the Jones vector ``target`` (outcome 0) with these plates, and the
    fidelity |<target|analysed>|^2 reached.

    With ideal plates the closed form is exact; otherwise it is refined on
    the plates' own Jones matrices (a real pair reaches every state unless
    a plate is far from its nominal retardance; the fidelity says how close).
    """
    psi = np.asarray(target, dtype=np.complex128)
    psi = psi / np.linalg.norm(psi)
    q0, h0 = _ideal_plate_angles(psi)

    def orthogonal(x: NDArray[np.float64]) -> NDArray[np.float64]:
        """The analysed state's part orthogonal to the target (zero at a solution)."""
        a = analysed_state(float(x[1]), hwp, float(x[0]), qwp)
        r = a - psi * np.vdot(psi, a)
        return np.concatenate([r.real, r.imag])

    def miss(x: NDArray[np.float64]) -> float:
        return float(np.sum(orthogonal(x) ** 2))
    best = np.array([q0, h0])
    if miss(best) > 1e-14:
        from scipy.optimize import least_squares

        # from the closed form first; further starts only if it stalls
        starts = [best] + [np.array([q0 + dq, h0 + dh]) for dq in (-30, 30) for dh in (-20, 20)]
        for x in starts:
            found = least_squares(orthogonal, x, method="lm", xtol=1e-15, ftol=1e-15, gtol=1e-15).x
            best = found if miss(found) < miss(best) else best
            if miss(best) < 1e-14:
                break
    return float(best[0] % 180.0), float(best[1] % 180.0), min(1.0, 1.0 - float(miss(best)))
