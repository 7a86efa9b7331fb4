"""The simulated SPDC source as an instrument: its shutter and pump polarization.

A lab's source has a shutter (block the pump to measure dark counts) and,
on crossed-crystal sources, a motorized pump half-wave plate: at 45 degrees
both crystals emit (the entangled state), at 0 only one does (|HH>), which
alignment uses as an absolute polarization reference.
"""

from __future__ import annotations

from typing import Any

from qcodes.instrument import Instrument
from qcodes.validators import Bool, Numbers

from qnic.sim.bench import Bench
from qnic.sim.registry import registry


class SimulatedSource(Instrument):
    """The source of a simulated bench.

    Args:
        name: instrument name.
        bench: the name of a bench in the ``qnic.sim`` registry.
    """

    def __init__(self, name: str, bench: str = "default", **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self.bench_name = bench
        self._pump_deg = 45.0
        self.shutter_open = self.add_parameter(
            "shutter_open", label="Shutter open", unit="",
            get_cmd=lambda: self.bench.source_enabled, set_cmd=self._set_shutter, vals=Bool(),
            docstring="Control the source shutter (bool, True lets the pump through).")
        self.pump_polarization = self.add_parameter(
            "pump_polarization", label="Pump polarization", unit="deg",
            get_cmd=lambda: self._pump_deg, set_cmd=self._set_pump, vals=Numbers(0.0, 180.0),
            docstring="Control the pump polarization in degrees (float, 0 to 180; 45 entangles).")

        self.pair_rate = self.add_parameter(
            "pair_rate", label="Pair rate", unit="Hz",
            get_cmd=lambda: self.bench.params.pair_rate_hz, set_cmd=self._set_pair_rate,
            vals=Numbers(0.0, 1e9),
            docstring="Control the rate of emitted pairs in Hz (float, 0 to 1e9): the pump power.")

    @property
    def bench(self) -> Bench:
        """The bench this source belongs to."""
        return registry().get(self.bench_name)

    def _set_shutter(self, is_open: bool) -> None:
        self.bench.source_enabled = bool(is_open)

    def _set_pair_rate(self, hz: float) -> None:
        self.bench.set_pair_rate(float(hz))

    def _set_pump(self, deg: float) -> None:
        self.bench.set_pump_polarization(float(deg))
        self._pump_deg = float(deg)

    def get_idn(self) -> dict[str, str | None]:
        """Identity of the simulated source."""
        return {"vendor": "qnic-bench", "model": "SimulatedSource", "serial": self.bench_name,
                "firmware": None}
