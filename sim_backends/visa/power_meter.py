"""A Thorlabs PM100D with a photodiode head on a pick-off of the bench's pump.

Answers the PM100 SCPI commands of docs/protocols.md section 8 (correction
wavelength, averaging, auto range, power unit, sensor identity, power
reading), with the error queue of :mod:`qnic.sim.visa.scpi`.

The reading (8.3): a photodiode's photocurrent is ``R(lambda) * P``; the
meter divides it by the responsivity at the wavelength it was told. With a
constant quantum efficiency ``R`` is proportional to the wavelength, so the
reading is ``P * lambda_pump / lambda_set`` (right only when the meter is set
to the pump's wavelength), plus Gaussian noise of ``noise_w`` per sample,
averaged over the averaging count (standard deviation
``noise_w / sqrt(count)``). A reading takes ``count * 3 ms`` of bench time.
The noise has a generator of its own, seeded from the bench's seed, so reading
the meter never changes the bench's tags.
"""

from __future__ import annotations

import math

import numpy as np

from qnic.sim.bench import Bench
from qnic.sim.visa.pump import Pump, pump_of
from qnic.sim.visa.scpi import (
    DATA_TYPE_ERROR,
    ScpiEmulator,
    ScpiError,
    in_range,
    nr3,
    parse_boolean,
    parse_number,
)

IDENTITY = "Thorlabs,PM100D,P0000001,2.4.0"
SENSOR_IDENTITY = "S120C,00000001,01-Jan-2024,1,18,289"
SENSOR_RANGE_NM = (400.0, 1100.0)  # S120C photodiode head (docs/protocols.md 8.2)
SAMPLE_S = 3e-3  # one averaged sample (8.2)
MAX_AVERAGING = 10_000
_NOISE_STREAM = 0x504D  # "PM": the meter's own generator, apart from the bench's


class Pm100dEmulator(ScpiEmulator):
    """The PM100D of a bench, reading the pump's pick-off.

    Args:
        bench: the bench whose pump it reads.
        noise_w: noise of one sample (W, Gaussian standard deviation).
    """

    def __init__(self, bench: Bench, noise_w: float = 1e-9) -> None:
        super().__init__(bench.clock, IDENTITY)
        if not (math.isfinite(noise_w) and noise_w >= 0):
            raise ValueError(f"pm100d: noise_w must be a finite number >= 0, got {noise_w!r}")
        self.pump: Pump = pump_of(bench)
        self.noise_w = noise_w
        self.rng = np.random.default_rng([bench.params.seed, _NOISE_STREAM])
        self.wavelength_nm = 633.0
        self.averaging = 1
        self.auto_range = True
        self.unit_dbm = False
        self._measuring = False
        self.add("SYSTem SENSor IDN", query=lambda _: SENSOR_IDENTITY)
        self.add("SENSe[1] CORRection [WAVelength]", query=self._wavelength_query,
                 setter=self._set_wavelength)
        self.add("SENSe[1] AVERage [COUNt]", query=lambda _: str(self.averaging),
                 setter=self._set_averaging)
        self.add("SENSe[1] [POWer] [DC] RANGe AUTO", query=lambda _: "1" if self.auto_range else "0",
                 setter=self._set_auto_range)
        self.add("SENSe[1] POWer [DC] UNIT", query=lambda _: "DBM" if self.unit_dbm else "W",
                 setter=self._set_unit)
        self.add("MEASure [SCALar] [POWer]", query=self._measure)

    @classmethod
    def from_url_options(cls, bench: Bench, options: dict[str, str]) -> Pm100dEmulator:
        """Build from ``sim://pm100d?bench=NAME[&noise_w=W]``."""
        return cls(bench, float(options.get("noise_w", 1e-9)))

    def expected_power_w(self) -> float:
        """The mean reading now (W), before noise."""
        return self.pump.pickoff_power_w() * self.pump.model.wavelength_nm / self.wavelength_nm

    def _wavelength_query(self, arg: str) -> str:
        key = arg.strip().upper()[:3]
        lo, hi = SENSOR_RANGE_NM
        return nr3({"MIN": lo, "MAX": hi}.get(key, self.wavelength_nm))

    def _set_wavelength(self, arg: str) -> None:
        self.wavelength_nm = in_range(parse_number(arg, ("NM",)), *SENSOR_RANGE_NM)

    def _set_averaging(self, arg: str) -> None:
        value = parse_number(arg)
        if value != int(value):
            raise ScpiError(DATA_TYPE_ERROR)
        self.averaging = int(in_range(value, 1, MAX_AVERAGING))

    def _set_auto_range(self, arg: str) -> None:
        self.auto_range = parse_boolean(arg)

    def _set_unit(self, arg: str) -> None:
        unit = arg.strip().upper()
        if unit not in ("W", "DBM"):
            raise ScpiError(DATA_TYPE_ERROR)
        self.unit_dbm = unit == "DBM"

    def _measure(self, _: str) -> str:
        self._measuring = True
        sigma = self.noise_w / math.sqrt(self.averaging)
        watts = self.expected_power_w() + (float(self.rng.normal(0.0, sigma)) if sigma else 0.0)
        if self.unit_dbm:
            return nr3(10 * math.log10(max(watts, 1e-15) / 1e-3))
        return nr3(watts)

    def reply_delay_s(self) -> float:
        """A power reading takes its averaging time (8.2)."""
        measuring, self._measuring = self._measuring, False
        return self.reply_latency_s + (self.averaging * SAMPLE_S if measuring else 0.0)
