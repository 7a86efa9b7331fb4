"""What every calibration step works with: the station and what it knows so far.

Steps use the instruments only through the station (rotators, tagger,
source); they never read a simulator's parameters.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from qnic.coincidence import accidentals_under_peak, outcome_counts_at
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.node import QNIC, set_bases_together
from qnic.station import LoadedStation

# accidentals are counted with arm B shifted by k us, far from any true pair
ACCIDENTAL_OFFSETS_PS = (1_000_000, 2_000_000, 3_000_000, 4_000_000)


@dataclass
class Settings:
    """Durations and scan sizes of the calibration (seconds, points)."""

    dark_s: float = 2.0
    delay_s: float = 2.0
    scan_points: int = 24
    dwell_s: float = 0.5
    window_fraction: float = 0.99
    delay_range_ps: int = 120_000  # pair differences of delays up to +-50 ns each
    delay_bin_ps: int = 20


@dataclass
class Context:
    """The open station plus the values found by earlier steps."""

    station: LoadedStation
    settings: Settings = field(default_factory=Settings)
    source: Any = None  # instrument with shutter_open and pump_polarization, if any
    ask_operator: Callable[[str], None] | None = None
    zeros_deg: dict[str, float] = field(default_factory=dict)
    delays_ps: dict[int, int] = field(default_factory=dict)
    window_ps: int | None = None
    dark_hz: dict[int, float] = field(default_factory=dict)

    @property
    def a(self) -> QNIC:
        return self.station.qnics["A"]

    @property
    def b(self) -> QNIC:
        return self.station.qnics["B"]

    def acquire(self, seconds: float) -> TagBatch:
        return self.a.tagger.acquire(seconds)

    def set_motor_angles(self, angle_a_deg: float | None, angle_b_deg: float | None) -> None:
        """Turn the rotators (motor angles, degrees) together; None leaves one."""
        for q, angle in ((self.a, angle_a_deg), (self.b, angle_b_deg)):
            if angle is not None:
                q.rotator.move_to(angle % 360.0, wait=False)
        for q, angle in ((self.a, angle_a_deg), (self.b, angle_b_deg)):
            if angle is not None:
                q.rotator.wait_for_move()

    def set_bases(self, phi_a_deg: float, phi_b_deg: float) -> None:
        """Polarizer-equivalent bases, using the zeros found so far."""
        for q in (self.a, self.b):
            q.waveplate_zero_deg = self.zeros_deg.get(q.name, q.waveplate_zero_deg)
        set_bases_together([(self.a, phi_a_deg), (self.b, phi_b_deg)])

    def counts(self, batch: TagBatch, window_ps: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Coincidences per outcome (n00, n01, n10, n11) and the accidentals
        expected under the true peak in the same cells (offset windows scaled
        to the free events, docs/coincidences.md section 4)."""
        window = int(window_ps if window_ps is not None else (self.window_ps or self.station.window_ps))
        delays = self.delays_ps or {**self.a.channel_delays, **self.b.channel_delays}
        args = (batch.timestamps, batch.channels, self.a.channels, self.b.channels, window, delays)
        true, *shifted = outcome_counts_at(*args, (0, *ACCIDENTAL_OFFSETS_PS))
        n = true.n.ravel().astype(np.float64)
        acc = accidentals_under_peak(true, shifted, self.a.channels, self.b.channels).mean.ravel()
        return n, acc

    def set_source(self, shutter_open: bool | None = None, pump_deg: float | None = None) -> None:
        if self.source is None:
            return
        if shutter_open is not None:
            self.source.shutter_open(shutter_open)
        if pump_deg is not None:
            self.source.pump_polarization(pump_deg)
