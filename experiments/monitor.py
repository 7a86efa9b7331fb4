"""Live singles and coincidence rates: the operator's alignment aid.

Each reading acquires for a short interval and reports, per channel, the
singles rate and, per A-B detector pair, the coincidence rate, the
accidental rate expected from the singles (R1 R2 2 window, docs/conventions.md) and
their ratio (CAR). :class:`RateHistory` keeps a rolling history that never
grows: when full, its older half is averaged in pairs, so hours of readings
fit in a fixed size at a resolution that coarsens with age.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from qnic.coincidence import outcome_counts
from qnic.station import LoadedStation


@dataclass(frozen=True)
class Reading:
    """Rates of one acquisition (Hz), keyed by channel or "chA-chB"."""

    time_s: float
    live_s: float
    singles_hz: dict[str, float]
    coincidences_hz: dict[str, float]
    accidentals_hz: dict[str, float]
    counts: dict[str, int]

    @property
    def car(self) -> dict[str, float]:
        return {k: (v / self.accidentals_hz[k] if self.accidentals_hz[k] > 0 else float("inf"))
                for k, v in self.coincidences_hz.items()}


def read_rates(station: LoadedStation, seconds: float) -> Reading:
    """Acquire ``seconds`` and compute the rates (delays and window of the
    station or its calibration)."""
    a, b = station.qnics["A"], station.qnics["B"]
    batch = a.tagger.acquire(seconds)
    live = max(batch.duration_s - batch.lost_s, 1e-12)
    window = station.window_ps
    delays = {**a.channel_delays, **b.channel_delays}
    # One pass over the tags: coincidences per outcome pair (double clicks apart).
    oc = outcome_counts(batch.timestamps, batch.channels, a.channels, b.channels, window, delays)
    singles = {str(ch): n / live for ch, n in oc.singles.items()}
    coinc, acc, counts = {}, {}, {}
    for i, ca in enumerate(a.channels):
        for j, cb in enumerate(b.channels):
            key = f"{ca}-{cb}"
            n = int(oc.n[i, j])
            counts[key] = n
            coinc[key] = n / live
            acc[key] = singles[str(ca)] * singles[str(cb)] * 2 * window * 1e-12
    return Reading(batch.stop_ps * 1e-12, live, singles, coinc, acc, counts)


class RateHistory:
    """A bounded history of one rate: full resolution for the newest points,
    pairwise averages for older ones.

    Args:
        capacity: most points kept (even, >= 4).
    """

    def __init__(self, capacity: int = 240) -> None:
        if capacity < 4 or capacity % 2:
            raise ValueError(f"capacity must be an even number >= 4, got {capacity}")
        self.capacity = capacity
        self.times: list[float] = []
        self.values: list[float] = []

    def add(self, t: float, value: float) -> None:
        self.times.append(t)
        self.values.append(value)
        if len(self.values) > self.capacity:
            half = self.capacity // 2
            old_t = np.asarray(self.times[:half])
            old_v = np.asarray(self.values[:half])
            self.times = list(old_t.reshape(-1, 2).mean(axis=1)) + self.times[half:]
            self.values = list(old_v.reshape(-1, 2).mean(axis=1)) + self.values[half:]

    def sparkline(self, width: int = 40) -> str:
        """The newest ``width`` points as a unicode sparkline."""
        vals = np.asarray(self.values[-width:], dtype=float)
        if vals.size == 0:
            return ""
        lo, hi = float(vals.min()), float(vals.max())
        bars = "▁▂▃▄▅▆▇█"
        if hi <= lo:
            return bars[0] * vals.size
        idx = ((vals - lo) / (hi - lo) * (len(bars) - 1)).round().astype(int)
        return "".join(bars[i] for i in idx)
