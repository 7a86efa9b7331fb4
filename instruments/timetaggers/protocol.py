"""The ``TimeTagger`` protocol that QNICs and procedures use.

Every tagger, hardware, replayed file or simulator, hands out
:class:`TagBatch` objects: int64 picosecond timestamps sorted in time, the
hardware channel of each, and the intervals in which the tagger lost events
(buffer overflow), so analysis never mistakes a gap for darkness.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

import numpy as np


@dataclass(frozen=True)
class TagBatch:
    """Tags of one acquisition.

    Attributes:
        timestamps: int64 ps, shape (N,), sorted ascending.
        channels: int32 hardware channel numbers, shape (N,).
        start_ps: start of the acquisition interval (ps, tagger time).
        stop_ps: end of the acquisition interval (ps).
        overflows: (start_ps, stop_ps) intervals in which events were lost.
        missed_events: how many events the tagger knows it lost.
    """

    timestamps: np.ndarray
    channels: np.ndarray
    start_ps: int
    stop_ps: int
    overflows: tuple[tuple[int, int], ...] = field(default=())
    missed_events: int = 0

    def __post_init__(self) -> None:
        if self.timestamps.shape != self.channels.shape or self.timestamps.ndim != 1:
            raise ValueError("timestamps and channels must be 1-D arrays of equal length")
        if self.timestamps.dtype != np.int64:
            raise TypeError(f"timestamps must be int64 ps, got {self.timestamps.dtype}")

    @property
    def duration_s(self) -> float:
        """Length of the acquisition interval in seconds."""
        return (self.stop_ps - self.start_ps) * 1e-12

    @property
    def lost_s(self) -> float:
        """Total time (s) covered by overflow intervals."""
        return sum(b - a for a, b in self.overflows) * 1e-12

    def of_channel(self, channel: int) -> np.ndarray:
        """Sorted int64 timestamps of one channel."""
        return self.timestamps[self.channels == channel]

    def counts(self) -> dict[int, int]:
        """Tags per channel."""
        ch, n = np.unique(self.channels, return_counts=True)
        return {int(c): int(k) for c, k in zip(ch, n)}


@runtime_checkable
class TimeTagger(Protocol):
    """What the QNIC and the procedures need of a time tagger."""

    @property
    def input_channels(self) -> tuple[int, ...]:
        """The hardware channel numbers this tagger has."""
        ...

    def acquire(self, duration_s: float) -> TagBatch:
        """Record every tag for ``duration_s`` seconds and return them."""
        ...

    def stream(self, duration_s: float, chunk_s: float) -> Iterator[TagBatch]:
        """Record for ``duration_s`` seconds, yielding batches of ``chunk_s``."""
        ...

    def set_input_delay(self, channel: int, delay_ps: int) -> None:
        """Delay channel ``channel`` by ``delay_ps`` picoseconds (int)."""
        ...

    def set_trigger_level(self, channel: int, level_v: float) -> None:
        """Set the input discriminator of ``channel`` to ``level_v`` volts."""
        ...

    def count_rates(self, duration_s: float) -> Mapping[int, float]:
        """Count every channel for ``duration_s`` s; return rates in Hz."""
        ...
