"""The QNIC: one arm of the bench, a rotator and two tagger channels.

A QNIC sets its measurement basis and turns a tagger's clicks into outcome
bits. It knows its devices only through the ``Rotator`` and ``TimeTagger``
protocols, so it is built the same from real or simulated instruments.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnic.bases import hwp_angle_deg
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
    """

    name: str
    rotator: Rotator
    tagger: TimeTagger
    channels: tuple[int, int]
    waveplate_zero_deg: float = 0.0
    delays_ps: tuple[int, int] = (0, 0)

    def __post_init__(self) -> None:
        if len(self.channels) != 2 or self.channels[0] == self.channels[1]:
            raise ValueError(f"QNIC {self.name}: needs two distinct channels, got {self.channels}")

    def basis_angle_deg(self, phi_deg: float) -> float:
        """Rotator angle (degrees) for the polarizer-equivalent angle ``phi_deg``."""
        return hwp_angle_deg(phi_deg, self.waveplate_zero_deg)

    def start_basis(self, phi_deg: float) -> None:
        """Start turning to basis ``phi_deg`` without waiting."""
        self.rotator.move_to(self.basis_angle_deg(phi_deg), wait=False)

    def set_basis(self, phi_deg: float) -> None:
        """Turn to basis ``phi_deg`` and wait until there."""
        self.start_basis(phi_deg)
        self.rotator.wait_for_move()

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
        qnic.rotator.wait_for_move()
