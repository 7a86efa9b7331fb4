"""Live rates and the cross-correlation histogram (docs/dashboard.md).

The dashboard sees every batch the bench acquires (:mod:`.tap`): while
idle, one monitor reading per interval; during a run, the run's own
batches. :class:`LiveRates` gathers them until an interval of live time is
full and publishes:

- ``rates``: singles per channel and coincidences per A-B detector pair,
  counted as ``qnic monitor`` counts them (:func:`reading_from_batch` is
  :func:`qnic.experiments.monitor.read_rates` on a batch in hand: the
  station's delays and coincidence window, double clicks apart), with the
  accidental rate R1 R2 2 window, the CAR and a bounded history per rate;
- ``histogram``: the cross-correlation of arm A's clicks against arm B's
  (:func:`qnic.coincidence.cross_correlation`), each click's channel delay
  subtracted first, so the peak sits at 0 and the coincidence window is the
  band ``[-window_ps, +window_ps]`` the page draws.
"""

from __future__ import annotations

from itertools import pairwise
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.coincidence import cross_correlation
from qnic.experiments.dashboard.board import Board
from qnic.experiments.monitor import RateHistory, Reading, rates_of
from qnic.instruments.timetaggers.protocol import TagBatch
from qnic.station import LoadedStation

HISTORY_POINTS = 120
"""Newest points of each rate's history sent to the page."""
HISTOGRAM_BINS = 120
MIN_RANGE_PS = 5_000
"""The histogram spans at least +-5 ns, and at least four windows each side."""


def reading_from_batch(station: LoadedStation, batch: TagBatch) -> Reading:
    """Rates of one batch, counted as :func:`qnic.experiments.monitor.read_rates`
    counts its acquisition (the same function, :func:`~qnic.experiments.monitor.rates_of`)."""
    return rates_of(station, batch)


def arm_times(station: LoadedStation, arm: str, batch: TagBatch) -> NDArray[np.int64]:
    """An arm's clicks (both outcomes) with each channel's delay subtracted,
    int64 ps, sorted, shape (n,)."""
    q = station.qnics[arm]
    parts = [batch.timestamps[batch.channels == ch] - d for ch, d in q.channel_delays.items()]
    return np.sort(np.concatenate(parts)) if parts else np.empty(0, np.int64)


def histogram(station: LoadedStation, batch: TagBatch) -> dict[str, Any]:
    """The A-B cross-correlation of one batch, as the page draws it.

    Returns:
        ``window_ps``, ``range_ps``, ``bin_ps``, ``centers_ps`` and ``counts``
        (lists of ``HISTOGRAM_BINS`` or so), ``live_s`` and ``centroid_ps``
        (the mean difference of the pairs in the bins inside the window, None
        if there are none).
    """
    window = int(station.window_ps)
    range_ps = max(MIN_RANGE_PS, 4 * window)
    bin_ps = max(1, -(-2 * range_ps // HISTOGRAM_BINS))
    centers, counts = cross_correlation(arm_times(station, "A", batch),
                                        arm_times(station, "B", batch), range_ps, bin_ps)
    inside = np.abs(centers) <= window
    n_inside = int(counts[inside].sum())
    centroid = float((centers[inside] * counts[inside]).sum() / n_inside) if n_inside else None
    return {"window_ps": window, "range_ps": range_ps, "bin_ps": bin_ps,
            "centers_ps": centers, "counts": counts, "centroid_ps": centroid,
            "live_s": max(batch.duration_s - batch.lost_s, 0.0)}


def join_batches(batches: list[TagBatch]) -> TagBatch:
    """Consecutive batches as one (their live times add; gaps between them,
    such as waveplate moves, hold no tags and count as lost)."""
    if len(batches) == 1:
        return batches[0]
    gaps = tuple((p.stop_ps, n.start_ps) for p, n in pairwise(batches)
                 if n.start_ps > p.stop_ps)
    return TagBatch(np.concatenate([b.timestamps for b in batches]),
                    np.concatenate([b.channels for b in batches]),
                    batches[0].start_ps, batches[-1].stop_ps,
                    tuple(o for b in batches for o in b.overflows) + gaps,
                    sum(b.missed_events for b in batches))


class LiveRates:
    """Gathers batches and publishes ``rates`` and ``histogram`` on ``board``.

    Args:
        board: where to publish.
        station: the open station (channels, delays, window).
        interval_s: live time per published reading (s, > 0).
    """

    def __init__(self, board: Board, station: LoadedStation, interval_s: float) -> None:
        self.board = board
        self.station = station
        self.interval_s = interval_s
        self.source = "monitor"
        self.history: dict[str, RateHistory] = {}
        self._held: list[TagBatch] = []
        self._held_s = 0.0

    def add(self, batch: TagBatch) -> None:
        """Take one batch; publish once an interval of live time is held."""
        self._held.append(batch)
        self._held_s += batch.duration_s - batch.lost_s
        if self._held_s >= self.interval_s * (1 - 1e-9):
            self.flush()

    def flush(self) -> None:
        """Publish what is held (nothing if nothing is)."""
        if not self._held:
            return
        batch = join_batches(self._held)
        self._held, self._held_s = [], 0.0
        reading = reading_from_batch(self.station, batch)
        for key, value in (*reading.singles_hz.items(), *reading.coincidences_hz.items()):
            self.history.setdefault(key, RateHistory()).add(reading.time_s, value)
        self.board.publish(rates=self.rates_section(reading),
                           histogram=histogram(self.station, batch))

    def drop(self) -> None:
        """Forget what is held (a new stretch begins)."""
        self._held, self._held_s = [], 0.0

    def rates_section(self, r: Reading) -> dict[str, Any]:
        """The ``rates`` section of one reading."""
        a, b = self.station.qnics["A"], self.station.qnics["B"]
        return {
            "source": self.source, "time_s": r.time_s, "live_s": r.live_s,
            "window_ps": int(self.station.window_ps),
            "channels": {"A": list(a.channels), "B": list(b.channels)},
            "singles_hz": r.singles_hz, "coincidences_hz": r.coincidences_hz,
            "accidentals_hz": r.accidentals_hz, "car": r.car, "counts": r.counts,
            "history": {k: h.values[-HISTORY_POINTS:] for k, h in self.history.items()},
        }
