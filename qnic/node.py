"""The QNIC: one arm of the bench, a rotator and two tagger channels.

A QNIC sets its measurement basis and turns a tagger's clicks into outcome
bits. It knows its devices only through the ``Rotator`` and ``TimeTagger``
protocols, so it is built the same from real or simulated instruments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnic.bases import HWP, QWP, Waveplate, analysed_state, hwp_angle_deg, plate_angles_deg
from qnic.instruments.rotators.protocol import Rotator
from qnic.instruments.timetaggers.protocol import TagBatch, TimeTagger


@dataclass
class QNIC:
    """One arm: a HWP on ``rotator``, outcome 0 on ``channels[0]`` and
    outcome 1 on ``channels[1]`` of ``tagger``.

    Attributes:
        name: arm name ("A" or "B").
        rotator: the rotator holding the HWP.
        tagger: the time tagger the detectors feed.
        channels: tagger channels of outcome 0 (transmitted, H) and 1 (V).
        waveplate_zero_deg: motor angle at which the HWP fast axis is at H.
        delays_ps: per-channel delay (ps) to subtract before matching.
        hwp: the HWP as it is at the source's wavelength (ideal by default).
        qwp_rotator: the rotator holding a QWP before the HWP, if any.
        qwp_zero_deg: motor angle at which the QWP fast axis is at H.
        qwp: the QWP as it is.
    """

    name: str
    rotator: Rotator
    tagger: TimeTagger
    channels: tuple[int, int]
    waveplate_zero_deg: float = 0.0
    delays_ps: tuple[int, int] = (0, 0)
    hwp: Waveplate = HWP
    qwp_rotator: Rotator | None = None
    qwp_zero_deg: float = 0.0
    qwp: Waveplate = QWP

    def __post_init__(self) -> None:
        if len(self.channels) != 2 or self.channels[0] == self.channels[1]:
            raise ValueError(f"QNIC {self.name}: needs two distinct channels, got {self.channels}")

    def basis_angle_deg(self, phi_deg: float) -> float:
        """HWP rotator angle (degrees) for the polarizer-equivalent angle
        ``phi_deg``, chosen by the plate's own Jones matrix (qnic.bases)."""
        return hwp_angle_deg(phi_deg, self.waveplate_zero_deg, self.hwp)

    def start_basis(self, phi_deg: float) -> None:
        """Start turning to basis ``phi_deg`` without waiting (with a QWP,
        both plates turn, so the analysed state is linear at phi)."""
        if self.qwp_rotator is not None:
            phi = np.deg2rad(phi_deg)
            self.start_state(np.array([np.cos(phi), np.sin(phi)]))
            return
        self.rotator.move_to(self.basis_angle_deg(phi_deg), wait=False)

    def set_basis(self, phi_deg: float) -> None:
        """Turn to basis ``phi_deg`` and wait until there."""
        self.start_basis(phi_deg)
        self.wait_for_move()

    def state_angles_deg(self, target: np.ndarray) -> tuple[float, float]:
        """(QWP, HWP) rotator angles (degrees) whose outcome 0 is the Jones
        vector ``target`` (shape (2,)), on this arm's plates as they are.

        Raises:
            ValueError: the arm has no QWP rotator.
        """
        if self.qwp_rotator is None:
            raise ValueError(f"QNIC {self.name}: an elliptical state needs a QWP rotator "
                             "(wiring key qwp_rotator)")
        q, h, _ = plate_angles_deg(target, self.hwp, self.qwp)
        return (q + self.qwp_zero_deg % 180.0, h + self.waveplate_zero_deg % 180.0)

    def start_state(self, target: np.ndarray) -> None:
        """Start turning both plates to analyse the Jones vector ``target``."""
        q, h = self.state_angles_deg(target)
        assert self.qwp_rotator is not None  # state_angles_deg checked
        self.qwp_rotator.move_to(q, wait=False)
        self.rotator.move_to(h, wait=False)

    def wait_for_move(self) -> None:
        """Wait until this arm's plates stand still."""
        self.rotator.wait_for_move()
        if self.qwp_rotator is not None:
            self.qwp_rotator.wait_for_move()

    def analysed_state(self, hwp_motor_deg: float, qwp_motor_deg: float | None = None) -> np.ndarray:
        """Jones vector of outcome 0 (shape (2,)) with the plates at these
        rotator angles, by this arm's plate models."""
        qwp = None if qwp_motor_deg is None else qwp_motor_deg - self.qwp_zero_deg
        return analysed_state(hwp_motor_deg - self.waveplate_zero_deg, self.hwp, qwp, self.qwp)

    def clicks(self, batch: TagBatch) -> tuple[np.ndarray, np.ndarray]:
        """This arm's clicks in a batch: (int64 ps times after delays,
        uint8 outcome bits), sorted by time."""
        masks = [batch.channels == ch for ch in self.channels]
        times = [batch.timestamps[m] - d for m, d in zip(masks, self.delays_ps)]
        t = np.concatenate(times)
        bits = np.concatenate([np.zeros(times[0].size, np.uint8), np.ones(times[1].size, np.uint8)])
        order = np.argsort(t, kind="stable")
        return t[order], bits[order]

    @property
    def channel_delays(self) -> dict[int, int]:
        return dict(zip(self.channels, self.delays_ps))


def set_bases_together(settings: list[tuple[QNIC, float]]) -> None:
    """Start every QNIC's move, then wait for all: a setting change costs the
    slowest move, not the sum."""
    for qnic, phi in settings:
        qnic.start_basis(phi)
    for qnic, _ in settings:
        qnic.wait_for_move()
