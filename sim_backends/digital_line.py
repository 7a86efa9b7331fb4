"""A simulated TTL line wired to the gate input of a detector on a bench.

It implements ``qnic.instruments.detectors.protocol.DigitalLine``: driving it
low gates the detector off on the bench (no pulses at all reach the
tagger), high gates it on. Reading it back reads the wire, i.e. the
bench's detector state, so a fault that leaves the line stuck shows up as
a read-back mismatch in the driver that uses it.
"""

from __future__ import annotations

from typing import Any

from qcodes.instrument import Instrument
from qcodes.validators import Bool, Ints

from qnic.sim.bench import Bench
from qnic.sim.registry import registry


class SimulatedDigitalLine(Instrument):
    """A TTL output driving the gate of the detector on ``channel``.

    The line touches the bench only when driven or read (no traffic at
    construction); until first driven it reads back whatever the bench
    detector's gate is (on at power-up).

    Args:
        name: instrument name.
        bench: the name of a bench in the ``qnic.sim`` registry.
        channel: the tagger channel of the detector whose gate it drives.
    """

    def __init__(self, name: str, bench: str = "default", channel: int = 1,
                 **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.bench_name = bench
        self.stuck_at: bool | None = None
        """Fault injection: a level the wire stays at whatever is driven (None: healthy)."""
        self.channel = self.add_parameter(
            "channel", label="Gated channel", unit="", initial_value=channel,
            get_cmd=None, set_cmd=None, vals=Ints(0, 1023),
            docstring="Control the tagger channel of the gated detector (int, 0 to 1023).")
        self.level = self.add_parameter(
            "level", label="Line level", unit="", get_cmd=self.is_high,
            set_cmd=self._drive, vals=Bool(),
            docstring="Control the line level (bool; True = TTL high).")

    @property
    def bench(self) -> Bench:
        """The bench the gated detector sits on."""
        return registry().get(self.bench_name)

    def _drive(self, high: bool) -> None:
        level = bool(high) if self.stuck_at is None else self.stuck_at
        self.bench.set_detector_state(int(self.channel()), enabled=level)

    def set_high(self) -> None:
        """Drive the line high: the detector counts."""
        self.level(True)

    def set_low(self) -> None:
        """Drive the line low: the detector is gated off."""
        self.level(False)

    def is_high(self) -> bool:
        """Read the wire back (the bench detector's gate)."""
        return self.bench.detector_enabled(int(self.channel()))

    def get_idn(self) -> dict[str, str | None]:
        """Identity of the simulated line."""
        return {"vendor": "qnic-bench", "model": "SimulatedDigitalLine",
                "serial": f"{self.bench_name}:{self.channel()}", "firmware": None}
