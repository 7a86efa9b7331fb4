"""One detector of a Single Quantum Eos, as a :class:`Detector`.

Its bias and trigger level are elements of the controller's per-detector
lists (``SetAllBiasCurrents``, ``SetAllTriggerLevels``, docs/protocols.md
5.3): setting one sends the whole list with that element changed. The
figures are the system's test report (defaults: UNVERIFIED typical SNSPD
values, docs/protocols.md 6.3).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, cast

from qcodes.instrument import InstrumentChannel
from qcodes.validators import Ints, Numbers

from qnic.instruments.detectors.protocol import DetectorFigures
from qnic.instruments.detectors.single_quantum_codec import (
    BIAS_LIMIT_UA,
    TRIGGER_LIMIT_MV,
)

if TYPE_CHECKING:
    from qcodes.instrument import InstrumentBase
    from qcodes.parameters import Parameter


class EosControls(Protocol):
    """What a detector channel uses of its controller (the Eos driver)."""

    bias_currents_ua: Parameter
    trigger_levels_mv: Parameter
    detectors_enabled: Parameter


class EosChannel(InstrumentChannel):
    """One SNSPD of the controller, a :class:`Detector` feeding one tagger channel.

    ``disable`` removes its bias (a latched or overexposed nanowire recovers
    at zero bias); ``enable`` restores the operating bias.
    """

    def __init__(self, parent: InstrumentBase, name: str, index: int, tagger_channel: int) -> None:
        super().__init__(parent, name)
        self.index = index
        self.eos = cast(EosControls, parent)
        eos = self.eos
        self.bias_current_ua = self.add_parameter(
            "bias_current_ua", label=f"Detector {index + 1} bias current", unit="uA",
            get_cmd=lambda: eos.bias_currents_ua()[index], set_cmd=self._set_bias,
            vals=Numbers(-BIAS_LIMIT_UA, BIAS_LIMIT_UA),
            docstring="Control the bias current in uA (float, -90.9 to 90.9).")
        self.trigger_level_mv = self.add_parameter(
            "trigger_level_mv", label=f"Detector {index + 1} trigger level", unit="mV",
            get_cmd=lambda: eos.trigger_levels_mv()[index], set_cmd=self._set_trigger,
            vals=Numbers(-TRIGGER_LIMIT_MV, TRIGGER_LIMIT_MV),
            docstring="Control the counter's trigger level in mV (float, -1000 to 1000).")
        self.operating_bias_ua = self.add_parameter(
            "operating_bias_ua", label=f"Detector {index + 1} operating bias", unit="uA",
            initial_value=None, get_cmd=None, set_cmd=None,
            vals=Numbers(-BIAS_LIMIT_UA, BIAS_LIMIT_UA),
            docstring="Control the bias that enable() restores in uA (float, -90.9 to 90.9).")
        self.tagger_channel = self.add_parameter(
            "tagger_channel", label=f"Detector {index + 1} tagger channel", unit="",
            initial_value=tagger_channel, get_cmd=None, set_cmd=None, vals=Ints(0, 1023),
            docstring="Control the tagger channel this detector feeds (int, 0 to 1023).")
        for pname, label, unit, default, hi in (
                ("dead_time_ns", "dead time", "ns", 50.0, 1e4),
                ("jitter_ps", "timing jitter (RMS)", "ps", 20.0, 1e5),
                ("dark_count_hz", "dark-count rate at the operating bias", "Hz", 100.0, 1e7),
                ("efficiency", "detection efficiency at the operating bias", "", 0.85, 1.0)):
            self.add_parameter(
                pname, label=f"Detector {index + 1} {label}", unit=unit, initial_value=default,
                get_cmd=None, set_cmd=None, vals=Numbers(0.0, hi),
                docstring=f"Control the test-report {label}"
                          f"{' in ' + unit if unit else ''} (float, 0 to {hi:g}).")

    def _set_bias(self, value_ua: float) -> None:
        values = list(self.eos.bias_currents_ua())
        values[self.index] = float(value_ua)
        self.eos.bias_currents_ua(values)

    def _set_trigger(self, value_mv: float) -> None:
        values = list(self.eos.trigger_levels_mv())
        values[self.index] = float(value_mv)
        self.eos.trigger_levels_mv(values)

    @property
    def channel(self) -> int:
        """The tagger channel this detector feeds."""
        return int(self.tagger_channel())

    def figures(self) -> DetectorFigures:
        """The detector's figures at its operating bias."""
        p = self.parameters
        return DetectorFigures(dead_time_ns=p["dead_time_ns"](), jitter_ps=p["jitter_ps"](),
                               dark_count_hz=p["dark_count_hz"](), efficiency=p["efficiency"]())

    def enable(self) -> None:
        """Restore the operating bias (and enable the controller's outputs)."""
        bias = self.operating_bias_ua()
        if bias is None:
            raise ValueError(f"{self.full_name}: no operating bias known; set operating_bias_ua")
        self.bias_current_ua(bias)
        if not self.eos.detectors_enabled():
            self.eos.detectors_enabled(True)

    def disable(self) -> None:
        """Remove the bias (0 uA), remembering it as the operating bias."""
        bias = self.bias_current_ua()
        if bias != 0.0:
            self.operating_bias_ua(bias)
        self.bias_current_ua(0.0)

    def is_enabled(self) -> bool:
        """Biased, with the controller's outputs enabled."""
        return bool(self.eos.detectors_enabled()) and self.bias_current_ua() != 0.0
