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
from pathlib import Path

import numpy as np

from qnic.coincidence import outcome_counts
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.station import LoadedStation
from qnic.storage import Quantity, RunRecorder

TIME = Quantity("time_s", "Tagger time at the end of the reading", "s")
SERIES: list[tuple[tuple[Quantity, ...], tuple[Quantity, ...]]] = [
    ((TIME,), (Quantity("live_s", "Live acquisition time of the reading", "s"),)),
    ((TIME, Quantity("channel", "Tagger channel")), (Quantity("singles_hz", "Singles rate", "Hz"),)),
    ((TIME, Quantity("channel_a", "Arm A tagger channel"), Quantity("channel_b", "Arm B tagger channel")),
     (Quantity("coincidences", "Coincidences", "counts"),
      Quantity("coincidences_hz", "Coincidence rate", "Hz"),
      Quantity("accidentals_hz", "Accidental rate expected from the singles (R1 R2 2 window)", "Hz"),
      Quantity("car", "Coincidence-to-accidental ratio"))),
]
"""The series of a monitor dataset: (setpoints, values), rows per reading."""


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
    return rates_of(station, station.qnics["A"].tagger.acquire(seconds))


def rates_of(station: LoadedStation, batch: TagBatch) -> Reading:
    """The rates of one acquired batch: singles per channel, coincidences per
    A-B outcome pair (one pass, double clicks apart) and accidentals from the
    singles, with the station's delays and window."""
    a, b = station.qnics["A"], station.qnics["B"]
    live = max(batch.duration_s - batch.lost_s, 1e-12)
    window = station.window_ps
    delays = {**a.channel_delays, **b.channel_delays}
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


def monitor_recorder(st: LoadedStation) -> RunRecorder:
    """The recorder of ``qnic monitor`` (run name ``monitor``, docs/storage.md)."""
    recorder = RunRecorder("monitor", Path(st.config.path).stem, st.station, row_noun="reading")
    for setpoints, values in SERIES:
        recorder.add_series(setpoints, values)
    return recorder


def record_reading(recorder: RunRecorder, r: Reading) -> None:
    """Add one reading's rows: its live time, each channel's singles, each A-B pair's rates."""
    recorder.add_row(time_s=r.time_s, live_s=r.live_s)
    channels = sorted(r.singles_hz, key=int)
    recorder.add_rows(time_s=[r.time_s] * len(channels), channel=[int(c) for c in channels],
                      singles_hz=[r.singles_hz[c] for c in channels])
    pairs = list(r.coincidences_hz)
    car = r.car
    recorder.add_rows(time_s=[r.time_s] * len(pairs),
                      channel_a=[int(p.split("-")[0]) for p in pairs],
                      channel_b=[int(p.split("-")[1]) for p in pairs],
                      coincidences=[r.counts[p] for p in pairs],
                      coincidences_hz=[r.coincidences_hz[p] for p in pairs],
                      accidentals_hz=[r.accidentals_hz[p] for p in pairs],
                      car=[car[p] for p in pairs])


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
        """The newest ``width`` points as a unicode sparkline on a fixed baseline.

        Bars run from 0 (a rate's floor) to the highest point shown, so a
        steady rate with counting noise is a row of nearly full bars and a
        real drop stands out; scaling to the points' own range would blow
        the noise up to full height.
        """
        vals = np.asarray(self.values[-width:], dtype=float)
        if vals.size == 0:
            return ""
        lo, hi = min(0.0, float(vals.min())), float(vals.max())
        bars = "▁▂▃▄▅▆▇█"
        if hi <= lo:
            return bars[0] * vals.size
        idx = ((vals - lo) / (hi - lo) * (len(bars) - 1)).round().astype(int)
        return "".join(bars[i] for i in idx)
