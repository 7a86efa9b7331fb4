"""Excelitas SPCM-AQRH silicon SPAD module as a :class:`Detector`.

Facts: docs/protocols.md section 5.1. The module has no data
interface: a power input, a TTL gate input (high = enabled) and a TTL pulse
out per detection, which a time tagger counts. The driver therefore holds
the module's figures (from the unit's test sheet; the defaults are the
reference's datasheet values, marked UNVERIFIED there), the tagger channel
its output feeds, and drives its gate through a :class:`DigitalLine`.
"""

from __future__ import annotations

import logging
from typing import Any

from qcodes.instrument import Instrument
from qcodes.validators import Bool, Ints, Numbers

from qnic.instruments.detectors.protocol import DetectorFigures, DigitalLine
from qnic.instruments.errors import InstrumentError, TransportError

log = logging.getLogger(__name__)

FWHM_PER_RMS = 2.3548  # Gaussian: FWHM = 2 sqrt(2 ln 2) sigma

# docs/protocols.md 5.1 (UNVERIFIED datasheet values): dead time about 22-24 ns,
# about 350 ps FWHM timing resolution, about 65-70 % efficiency at 650-700 nm,
# afterpulsing about 0.5 %, saturation well below 30 Mcounts/s; dark counts
# depend on the grade (under 25 to about 1500 counts/s).
DATASHEET = DetectorFigures(dead_time_ns=22.0, jitter_ps=350.0 / FWHM_PER_RMS,
                            dark_count_hz=250.0, efficiency=0.65,
                            afterpulse_probability=0.005, max_count_rate_hz=30e6)


class SPCMAQRH(Instrument):
    """One Excelitas SPCM-AQRH module, gated through a TTL line.

    Args:
        name: instrument name.
        gate: the TTL line wired to the module's gate input: a
            :class:`DigitalLine`, or the name of a QCoDeS instrument that is
            one (looked up on first use, so a station can list it later).
        channel: the tagger channel the module's output feeds (int).
        figures: the unit's test-sheet figures (default: :data:`DATASHEET`).
        serial: the module's serial number (reported by ``get_idn``).
        port: a gate line to use instead of ``gate`` (the uniform driver
            seam ``(name, address, port=...)``; never touched until used).
    """

    def __init__(self, name: str, gate: DigitalLine | str, channel: int = 1,
                 figures: DetectorFigures = DATASHEET, serial: str | None = None,
                 port: Any = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        self._gate_spec: DigitalLine | str = port if port is not None else gate
        self._line: DigitalLine | None = None
        self.serial = serial
        self.tagger_channel = self.add_parameter(
            "tagger_channel", label="Tagger channel", unit="", initial_value=channel,
            get_cmd=None, set_cmd=None, vals=Ints(0, 1023),
            docstring="Control the tagger channel the output pulses feed (int, 0 to 1023).")
        self.gate_enabled = self.add_parameter(
            "gate_enabled", label="Gate enabled", unit="",
            get_cmd=self.is_enabled, set_cmd=self._set_gate, vals=Bool(),
            docstring="Control the gate (bool; True drives the gate TTL high: counting).")
        self.dead_time_ns = self.add_parameter(
            "dead_time_ns", label="Dead time", unit="ns", initial_value=figures.dead_time_ns,
            get_cmd=None, set_cmd=None, vals=Numbers(0.0, 1e4),
            docstring="Control the test-sheet dead time in ns (float, 0 to 1e4).")
        self.jitter_ps = self.add_parameter(
            "jitter_ps", label="Timing jitter (RMS)", unit="ps", initial_value=figures.jitter_ps,
            get_cmd=None, set_cmd=None, vals=Numbers(0.0, 1e5),
            docstring="Control the timing jitter, Gaussian RMS in ps (float, 0 to 1e5).")
        self.dark_count_hz = self.add_parameter(
            "dark_count_hz", label="Dark-count rate", unit="Hz",
            initial_value=figures.dark_count_hz, get_cmd=None, set_cmd=None,
            vals=Numbers(0.0, 1e7),
            docstring="Control the test-sheet dark-count rate in Hz (float, 0 to 1e7).")
        self.efficiency = self.add_parameter(
            "efficiency", label="Detection efficiency", unit="", initial_value=figures.efficiency,
            get_cmd=None, set_cmd=None, vals=Numbers(0.0, 1.0),
            docstring="Control the photon detection efficiency (float, 0 to 1).")
        self.afterpulse_probability = self.add_parameter(
            "afterpulse_probability", label="Afterpulse probability", unit="",
            initial_value=figures.afterpulse_probability, get_cmd=None, set_cmd=None,
            vals=Numbers(0.0, 1.0),
            docstring="Control the afterpulse probability per click (float, 0 to 1).")
        self.max_count_rate_hz = self.add_parameter(
            "max_count_rate_hz", label="Maximum count rate", unit="Hz",
            initial_value=figures.max_count_rate_hz, get_cmd=None, set_cmd=None,
            vals=Numbers(0.0),
            docstring="Control the count rate above which the module saturates in Hz "
                      "(float, >= 0).")

    # -- the gate line -------------------------------------------------------
    @property
    def line(self) -> DigitalLine:
        """The gate line (looked up by name on first use)."""
        if self._line is None:
            spec = self._gate_spec
            if isinstance(spec, str):
                try:
                    found: Any = Instrument.find_instrument(spec)
                except KeyError:
                    raise InstrumentError(
                        f"{self.name}: gate line {spec!r} is not an open instrument; expected "
                        "the name of a DigitalLine (set_high, set_low, is_high)") from None
                spec = found
            if not isinstance(spec, DigitalLine):
                raise InstrumentError(
                    f"{self.name}: gate {spec!r} is not a DigitalLine "
                    "(expected set_high, set_low and is_high)")
            self._line = spec
        return self._line

    def _set_gate(self, enabled: bool) -> None:
        """Drive the gate and read it back (TTL high = enabled, docs/protocols.md 5.1)."""
        line = self.line
        if enabled:
            line.set_high()
        else:
            line.set_low()
        level = line.is_high()
        if level != bool(enabled):
            request = "gate high" if enabled else "gate low"
            raise TransportError(self.name, request,
                                 f"gate line {line.name} reads back "
                                 f"{'high' if level else 'low'} after being driven "
                                 f"{'high' if enabled else 'low'}")
        log.info("%s: gate %s", self.name, "on" if enabled else "off")

    # -- Detector -------------------------------------------------------------
    @property
    def channel(self) -> int:
        """The tagger channel the module's output feeds."""
        return int(self.tagger_channel())

    def figures(self) -> DetectorFigures:
        """The module's figures for the physics."""
        return DetectorFigures(
            dead_time_ns=float(self.dead_time_ns()), jitter_ps=float(self.jitter_ps()),
            dark_count_hz=float(self.dark_count_hz()), efficiency=float(self.efficiency()),
            afterpulse_probability=float(self.afterpulse_probability()),
            max_count_rate_hz=float(self.max_count_rate_hz()))

    def enable(self) -> None:
        """Gate the module on (TTL high) and check the line reads back high."""
        self.gate_enabled(True)

    def disable(self) -> None:
        """Gate the module off (TTL low) and check the line reads back low."""
        self.gate_enabled(False)

    def is_enabled(self) -> bool:
        """Whether the gate line reads back high."""
        return bool(self.line.is_high())

    def get_idn(self) -> dict[str, str | None]:
        """Vendor and model (the module has no data interface to ask)."""
        return {"vendor": "Excelitas", "model": "SPCM-AQRH", "serial": self.serial,
                "firmware": None}
