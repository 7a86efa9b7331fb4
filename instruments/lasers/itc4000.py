"""Thorlabs ITC4000-series laser-diode and TEC controller (ITC4001): ``ITC4001``.

A QCoDeS VISA instrument speaking the Series 4000 SCPI command set
(docs/protocols.md section 7): the laser-diode (LD) current setpoint and its
limit, the LD output, the TEC output and its temperature setpoint, the
measured current and temperature, and the interlock and keylock
protections. All values are SI units on the wire (A, not mA; 7.2). Every
set is followed by ``SYST:ERR?`` (7.4): a refused command, such as
switching the LD output on while the interlock is open, raises
:class:`~qnic.instruments.errors.DeviceFaultError`.

The hardware maximum of the LD current (``SOUR:CURR:LIM? MAX``) and the
TEC setpoint range (``SOUR2:TEMP? MIN`` / ``MAX``) are read on connection
and become the parameters' validators; before that, the model's nominal
maximum (7.1) bounds them.
"""

from __future__ import annotations

from typing import Any

from qcodes.validators import Bool, Numbers

from qnic.instruments.scpi import Identity, ScpiInstrument, format_number

MAX_CURRENT_A = {"ITC4001": 1.0, "ITC4002QCL": 2.0, "ITC4005": 5.0, "ITC4005QCL": 5.0,
                 "ITC4020": 20.0}
"""Nominal LD current range of each ITC4000 model (A; the model number, 7.1)."""
TEC_RANGE_C = (-45.0, 145.0)
"""TEC setpoint bounds before the device's own MIN/MAX are read (deg C; *unverified*, 7.3)."""
CURRENT = "SOUR:CURR"
CURRENT_LIMIT = "SOUR:CURR:LIM"
LD_OUTPUT = "OUTP"
TEC_OUTPUT = "OUTP2"
TEC_SETPOINT = "SOUR2:TEMP"
INTERLOCK_TRIPPED = "OUTP:PROT:INTL:TRIP?"
KEYLOCK_TRIPPED = "OUTP:PROT:KEYL:TRIP?"


def _on_off(value: bool) -> str:
    return "ON" if value else "OFF"


class ITC4001(ScpiInstrument):
    """Thorlabs ITC4001 (and ITC4000-series) laser-diode / TEC controller.

    Constructing it sends nothing; :meth:`connect` (or the first use) reads
    the identity and the limits.

    Args:
        name: instrument name.
        address: VISA resource (``USB0::0x1313::0x804A::M00123456::INSTR``)
            or ``sim://itc4001?bench=NAME`` (the simulated bench's pump).
        **kwargs: see :class:`~qnic.instruments.scpi.ScpiInstrument`.
    """

    models = tuple(MAX_CURRENT_A)

    def __init__(self, name: str, address: str, **kwargs: Any) -> None:
        super().__init__(name, address, **kwargs)
        top = MAX_CURRENT_A["ITC4001"]
        lo, hi = TEC_RANGE_C
        self.current_a = self.add_parameter(
            "current_a", label="LD current setpoint", unit="A",
            get_cmd=lambda: self.ask_float(f"{CURRENT}?"),
            set_cmd=lambda v: self.write(f"{CURRENT} {format_number(v)}"),
            vals=Numbers(0.0, top),
            docstring=f"Control the laser-diode current setpoint in A (float, 0 to the "
                      f"device's maximum, {top:g} A on the ITC4001); the device refuses a "
                      "value above the current limit.")
        self.current_limit_a = self.add_parameter(
            "current_limit_a", label="LD current limit", unit="A",
            get_cmd=lambda: self.ask_float(f"{CURRENT_LIMIT}?"),
            set_cmd=lambda v: self.write(f"{CURRENT_LIMIT} {format_number(v)}"),
            vals=Numbers(0.0, top),
            docstring=f"Control the laser-diode current limit in A (float, 0 to the device's "
                      f"maximum, {top:g} A on the ITC4001).")
        self.output_enabled = self.add_parameter(
            "output_enabled", label="LD output", unit="",
            get_cmd=lambda: self.ask_bool(f"{LD_OUTPUT}?"),
            set_cmd=lambda v: self.write(f"{LD_OUTPUT} {_on_off(v)}"), vals=Bool(),
            docstring="Control the laser-diode output (bool, True drives the current); "
                      "switching on with the interlock open is refused by the device.")
        self.tec_enabled = self.add_parameter(
            "tec_enabled", label="TEC output", unit="",
            get_cmd=lambda: self.ask_bool(f"{TEC_OUTPUT}?"),
            set_cmd=lambda v: self.write(f"{TEC_OUTPUT} {_on_off(v)}"), vals=Bool(),
            docstring="Control the TEC output (bool, True regulates the temperature).")
        self.temperature_setpoint_c = self.add_parameter(
            "temperature_setpoint_c", label="TEC temperature setpoint", unit="degC",
            get_cmd=lambda: self.ask_float(f"{TEC_SETPOINT}?"),
            set_cmd=lambda v: self.write(f"{TEC_SETPOINT} {format_number(v)}C"),
            vals=Numbers(lo, hi),
            docstring=f"Control the TEC temperature setpoint in deg C (float, {lo:g} to {hi:g} "
                      "until the device's own MIN/MAX are read).")
        self.measured_current_a = self.add_parameter(
            "measured_current_a", label="LD current", unit="A",
            get_cmd=lambda: self.ask_float("MEAS:CURR?"), set_cmd=False, vals=Numbers(),
            docstring="Get the measured laser-diode current in A (float).")
        self.temperature_c = self.add_parameter(
            "temperature_c", label="TEC temperature", unit="degC",
            get_cmd=lambda: self.ask_float("MEAS:TEMP?"), set_cmd=False, vals=Numbers(),
            docstring="Get the measured temperature of the TEC sensor in deg C (float).")
        self.interlock_tripped = self.add_parameter(
            "interlock_tripped", label="Interlock open", unit="",
            get_cmd=lambda: self.ask_bool(INTERLOCK_TRIPPED), set_cmd=False, vals=Bool(),
            docstring="Get whether the interlock circuit is open (bool, True: the LD "
                      "output cannot be on).")
        self.keylock_tripped = self.add_parameter(
            "keylock_tripped", label="Keylock off", unit="",
            get_cmd=lambda: self.ask_bool(KEYLOCK_TRIPPED), set_cmd=False, vals=Bool(),
            docstring="Get whether the keylock switch is off (bool, True: the LD output "
                      "cannot be on).")

    def _after_identity(self, identity: Identity) -> None:
        top = self.ask_float(f"{CURRENT_LIMIT}? MAX")
        lo = self.ask_float(f"{TEC_SETPOINT}? MIN")
        hi = self.ask_float(f"{TEC_SETPOINT}? MAX")
        self.current_a.vals = Numbers(0.0, top)
        self.current_limit_a.vals = Numbers(0.0, top)
        self.temperature_setpoint_c.vals = Numbers(lo, hi)

    # -- the PumpController protocol (qnic.instruments.lasers.protocol) ------------
    @property
    def max_current_a(self) -> float:
        """The device's maximum LD current (A), read on connection."""
        self.connect()
        vals = self.current_a.vals
        assert isinstance(vals, Numbers)
        return float(vals.max_value)

    def set_pump_current(self, current_a: float) -> None:
        """Set the LD current setpoint (A, 0 to the maximum); rejected, never clamped."""
        self.current_a(current_a)

    def pump_current_a(self) -> float:
        """The LD current setpoint (A)."""
        return float(self.current_a())

    def set_pump_enabled(self, enabled: bool) -> None:
        """Switch the LD output on or off."""
        self.output_enabled(enabled)

    def pump_enabled(self) -> bool:
        """Whether the LD output is on."""
        return bool(self.output_enabled())
