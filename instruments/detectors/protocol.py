"""The ``Detector`` and ``DigitalLine`` protocols, and one counting period.

Procedures and the QNIC depend on these, never on a concrete detector: an
Excelitas SPCM gated through a TTL line and a channel of a Single Quantum Eos
SNSPD controller are both a :class:`Detector`. A detector names the tagger
channel its pulses feed, carries the figures the physics needs (dead time,
jitter, dark counts, efficiency) and can be switched on and off (a gate
line, or a bias current).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class DetectorFigures:
    """A detector's figures for the physics (from its test sheet).

    Attributes:
        dead_time_ns: non-paralyzable dead time (ns).
        jitter_ps: timing jitter, Gaussian RMS (ps); a datasheet's FWHM is
            2.3548 times the RMS.
        dark_count_hz: dark-count rate (Hz).
        efficiency: photon detection efficiency (0 to 1).
        afterpulse_probability: probability of an afterpulse per click.
        max_count_rate_hz: count rate above which the detector saturates (Hz).
    """

    dead_time_ns: float
    jitter_ps: float
    dark_count_hz: float
    efficiency: float
    afterpulse_probability: float = 0.0
    max_count_rate_hz: float = float("inf")

    def as_sim_params(self) -> dict[str, float]:
        """The figures under the names of a station file's ``sim:`` detector
        entry (docs/commands.md), e.g. to make a simulated bench match a real unit."""
        out = {"efficiency": self.efficiency, "dark_count_hz": self.dark_count_hz,
               "jitter_ps": self.jitter_ps, "dead_time_ns": self.dead_time_ns,
               "afterpulse_probability": self.afterpulse_probability}
        if self.max_count_rate_hz != float("inf"):
            out["saturation_hz"] = self.max_count_rate_hz
        return out


@dataclass(frozen=True)
class CountReading:
    """Counts of one integration period.

    Attributes:
        time_s: when the period ended (seconds; the counter's own time
            base, e.g. Unix time for an Eos, tagger time for a tagger).
        duration_s: the live time counted (seconds, > 0).
        counts: tagger channel -> counts in the period.
    """

    time_s: float
    duration_s: float
    counts: Mapping[int, int] = field(default_factory=dict)

    def rates_hz(self) -> dict[int, float]:
        """Count rate of each channel (Hz)."""
        return {ch: n / self.duration_s for ch, n in self.counts.items()}


@runtime_checkable
class DigitalLine(Protocol):
    """A TTL output line: set it high or low, read back its level."""

    @property
    def name(self) -> str:
        """The line's name (for messages)."""
        ...

    def set_high(self) -> None:
        """Drive the line high (TTL 1)."""
        ...

    def set_low(self) -> None:
        """Drive the line low (TTL 0)."""
        ...

    def is_high(self) -> bool:
        """Read back the level on the line (True: high)."""
        ...


@runtime_checkable
class Detector(Protocol):
    """A single-photon detector that feeds one time-tagger channel."""

    @property
    def name(self) -> str:
        """The detector's name (for messages)."""
        ...

    @property
    def channel(self) -> int:
        """The tagger channel its output pulses feed."""
        ...

    def figures(self) -> DetectorFigures:
        """Its dead time, jitter, dark counts and efficiency."""
        ...

    def enable(self) -> None:
        """Let it count (gate on, bias restored)."""
        ...

    def disable(self) -> None:
        """Stop it counting (gate off, or bias removed)."""
        ...

    def is_enabled(self) -> bool:
        """Whether it is counting (read back from the device)."""
        ...
