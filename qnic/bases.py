"""Measurement bases and the waveplate angles that realise them (docs/conventions.md).

A linear basis is named by its polarizer-equivalent angle phi (degrees from
H): outcome 0 is the polarization at phi. A half-wave plate whose fast axis
is at theta from H analyses phi = 2 theta, so the rotator goes to
theta = phi / 2 + waveplate_zero_deg.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

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


def hwp_angle_deg(phi_deg: float, waveplate_zero_deg: float = 0.0) -> float:
    """Rotator angle for polarizer-equivalent angle ``phi_deg``.

    The HWP's period is 90 degrees of plate angle (180 of phi), so the result
    is reduced into [0, 90) + the zero's own wrap, keeping moves short.

    Args:
        phi_deg: polarizer-equivalent angle (degrees from H).
        waveplate_zero_deg: motor angle at which the fast axis is along H.
    """
    return (phi_deg / 2.0) % 90.0 + waveplate_zero_deg % 90.0


def phi_from_hwp_deg(motor_deg: float, waveplate_zero_deg: float = 0.0) -> float:
    """Polarizer-equivalent angle (degrees, in [0, 180)) analysed at a motor angle."""
    return (2.0 * (motor_deg - waveplate_zero_deg)) % 180.0
