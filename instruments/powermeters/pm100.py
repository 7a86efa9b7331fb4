"""Thorlabs PM100D / PM100USB optical power meter: ``PM100D``.

A QCoDeS VISA instrument speaking the PM100 SCPI command set
(docs/protocols.md section 8): the correction wavelength, the averaging
count, auto-ranging and the power reading in watts. The meter converts its
sensor's photocurrent with the responsivity at the wavelength it is told,
so a reading is right only at the light's wavelength (8.3). On connection
the driver reads the identity and the sensor head (``SYST:SENS:IDN?``),
sets the power unit to watts (``SENS:POW:UNIT W``) and reads the sensor's
wavelength range (``SENS:CORR:WAV? MIN`` / ``MAX``), which becomes the
validator of ``wavelength_nm``. Every set is followed by ``SYST:ERR?``.
"""

from __future__ import annotations

from typing import Any

from qcodes.validators import Bool, Ints, Numbers

from qnic.instruments.errors import ProtocolError
from qnic.instruments.scpi import Identity, ScpiInstrument, format_number

WAVELENGTH = "SENS:CORR:WAV"
AVERAGING = "SENS:AVER:COUN"
AUTO_RANGE = "SENS:POW:RANG:AUTO"
POWER = "MEAS:POW?"
SENSOR = "SYST:SENS:IDN?"
WAVELENGTH_RANGE_NM = (185.0, 25_000.0)
"""Bounds before the sensor's own range is read: the span of Thorlabs' sensor
heads (photodiode to thermal; *unverified*, 8.2)."""
MAX_AVERAGING = 10_000
"""Largest averaging count the driver accepts (*unverified*; about 30 s of samples, 8.2)."""


class PM100D(ScpiInstrument):
    """Thorlabs PM100D (PM100USB, PM100A) optical power meter.

    Args:
        name: instrument name.
        address: VISA resource (``USB0::0x1313::0x8078::P0001234::INSTR``) or
            ``sim://pm100d?bench=NAME`` (the simulated bench's pump pick-off).
        **kwargs: see :class:`~qnic.instruments.scpi.ScpiInstrument`.
    """

    models = ("PM100D", "PM100USB", "PM100A")

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        self.sensor: tuple[str, str] | None = None
        lo, hi = WAVELENGTH_RANGE_NM
        self.wavelength_nm = self.add_parameter(
            "wavelength_nm", label="Correction wavelength", unit="nm",
            get_cmd=lambda: self.ask_float(f"{WAVELENGTH}?"),
            set_cmd=lambda v: self.write(f"{WAVELENGTH} {format_number(v)}"),
            vals=Numbers(lo, hi),
            docstring="Control the wavelength whose responsivity converts the reading, in nm "
                      "(float, the sensor's range, read on connection).")
        self.averaging_count = self.add_parameter(
            "averaging_count", label="Averaging count", unit="",
            get_cmd=lambda: round(self.ask_float(f"{AVERAGING}?")),
            set_cmd=lambda v: self.write(f"{AVERAGING} {int(v)}"),
            vals=Ints(1, MAX_AVERAGING),
            docstring=f"Control how many samples (about 3 ms each) one reading averages "
                      f"(int, 1 to {MAX_AVERAGING}).")
        self.auto_range_enabled = self.add_parameter(
            "auto_range_enabled", label="Auto range", unit="",
            get_cmd=lambda: self.ask_bool(f"{AUTO_RANGE}?"),
            set_cmd=lambda v: self.write(f"{AUTO_RANGE} {'ON' if v else 'OFF'}"), vals=Bool(),
            docstring="Control automatic power ranging (bool, True: the meter picks its range).")
        self.power_w = self.add_parameter(
            "power_w", label="Optical power", unit="W",
            get_cmd=lambda: self.ask_float(POWER), set_cmd=False, vals=Numbers(),
            docstring="Get one power reading in W (float), averaged over averaging_count "
                      "samples.")

    def _after_identity(self, identity: Identity) -> None:
        reply = self.ask(SENSOR)
        fields = [f.strip() for f in reply.split(",")]
        if len(fields) < 2 or not fields[0]:
            raise ProtocolError(self.name, SENSOR, reply.encode(),
                                "expected the sensor's name and serial first")
        self.sensor = (fields[0], fields[1])
        self.write("SENS:POW:UNIT W")
        lo = self.ask_float(f"{WAVELENGTH}? MIN")
        hi = self.ask_float(f"{WAVELENGTH}? MAX")
        if not 0 < lo <= hi:
            raise ProtocolError(self.name, f"{WAVELENGTH}? MIN/MAX", f"{lo},{hi}".encode(),
                                "expected a wavelength range 0 < min <= max")
        self.wavelength_nm.vals = Numbers(lo, hi)

    # -- the PowerMeter protocol (qnic.instruments.lasers.protocol) -----------------
    def read_power_w(self) -> float:
        """One power reading (W)."""
        return float(self.power_w())
