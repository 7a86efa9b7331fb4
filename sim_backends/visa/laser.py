"""A Thorlabs ITC4001 laser-diode / TEC controller driving the bench's pump.

Answers the Series 4000 SCPI commands of docs/protocols.md section 7 (the
LD current setpoint and limit, the LD and TEC outputs, the TEC setpoint,
measured current and temperature, interlock and keylock), with the error
queue of :mod:`qnic.sim.visa.scpi`. What it drives goes to the bench's
:class:`~qnic.sim.visa.pump.Pump`, so the pair rate follows the current.

Device choices where the manual excerpts are silent (docs/protocols.md 7.4):
switching the LD on while the interlock is open or the keylock off, or
lowering the limit below the setpoint, is refused with the standard
``-221,"Settings conflict"``; opening the interlock switches the LD off; the
TEC reaches its setpoint at once (22 deg C ambient while the TEC is off).

URL options (``sim://itc4001?bench=NAME&...``): ``output`` (``on``/``off``,
default ``on``: the pump runs at the nominal current when the session
starts, so the bench's ``pair_rate_hz`` holds until the current changes),
``current_ma`` (the starting setpoint, default the pump's nominal current).
"""

from __future__ import annotations

from qnic.sim.bench import Bench
from qnic.sim.visa.pump import Pump, pump_of
from qnic.sim.visa.scpi import (
    SETTINGS_CONFLICT,
    ScpiEmulator,
    ScpiError,
    in_range,
    nr3,
    parse_boolean,
    parse_number,
)

IDENTITY = "THORLABS,ITC4001,M00000001,1.8.0/1.5.0/2.3.0"
MAX_CURRENT_A = 1.0  # ITC4001 (docs/protocols.md 7.1)
TEC_RANGE_C = (10.0, 40.0)  # the emulated sensor's window (deg C)
AMBIENT_C = 22.0


def _keyword(arg: str, lo: float, hi: float, default: float) -> float | None:
    key = arg.strip().upper()[:3]
    return {"MIN": lo, "MAX": hi, "DEF": default}.get(key) if key else None


class Itc4001Emulator(ScpiEmulator):
    """The ITC4001 of a bench (its pump's controller).

    Args:
        bench: the bench whose pump it drives.
        output_on: whether the LD output is on when the session starts.
        current_a: the starting current setpoint (A; default the nominal current).
    """

    def __init__(self, bench: Bench, output_on: bool = True, current_a: float | None = None) -> None:
        super().__init__(bench.clock, IDENTITY)
        self.pump: Pump = pump_of(bench)
        self.current_a = self.pump.model.nominal_current_a if current_a is None else current_a
        self.limit_a = MAX_CURRENT_A
        self.ld_on = output_on
        self.tec_on = True
        self.tec_setpoint_c = 25.0
        self.interlock_closed = True
        self.keylock_on = True
        in_range(self.current_a, 0.0, self.limit_a)
        self._commands_ld()
        self._commands_tec()
        self._apply()

    @classmethod
    def from_url_options(cls, bench: Bench, options: dict[str, str]) -> Itc4001Emulator:
        """Build from ``sim://itc4001?...`` options (see the module)."""
        output = options.get("output", "on").lower()
        if output not in ("on", "off"):
            raise ValueError(f"itc4001: output must be on or off, got {output!r}")
        current = options.get("current_ma")
        return cls(bench, output == "on", None if current is None else float(current) / 1e3)

    # -- the physical world -----------------------------------------------------------
    def open_interlock(self) -> None:
        """Open the interlock circuit: the LD output goes off."""
        self.interlock_closed = False
        self.ld_on = False
        self._apply()

    def close_interlock(self) -> None:
        """Close the interlock circuit again (the output stays off)."""
        self.interlock_closed = True

    def _apply(self) -> None:
        self.pump.drive(self.current_a, self.ld_on)

    # -- commands -------------------------------------------------------------------------
    def _commands_ld(self) -> None:
        self.add("SOURce[1] CURRent [LEVel] [IMMediate] [AMPLitude]",
                 query=self._current_query, setter=self._set_current)
        self.add("SOURce[1] CURRent LIMit [AMPLitude]",
                 query=self._limit_query, setter=self._set_limit)
        self.add("OUTPut[1] PROTection INTLock TRIPped",
                 query=lambda _: "0" if self.interlock_closed else "1")
        self.add("OUTPut[1] PROTection KEYLock TRIPped",
                 query=lambda _: "0" if self.keylock_on else "1")
        self.add("OUTPut[1] [STATe]", query=lambda _: "1" if self.ld_on else "0",
                 setter=self._set_output)
        self.add("MEASure [SCALar] CURRent[1] [DC]",
                 query=lambda _: nr3(self.current_a if self.ld_on else 0.0))

    def _commands_tec(self) -> None:
        self.add("OUTPut2 [STATe]", query=lambda _: "1" if self.tec_on else "0",
                 setter=self._set_tec)
        self.add("SOURce2 TEMPerature [SPOint]", query=self._tec_query, setter=self._set_tec_setpoint)
        self.add("MEASure [SCALar] TEMPerature",
                 query=lambda _: nr3(self.tec_setpoint_c if self.tec_on else AMBIENT_C))

    def _current_query(self, arg: str) -> str:
        value = _keyword(arg, 0.0, self.limit_a, 0.0)
        return nr3(self.current_a if value is None else value)

    def _set_current(self, arg: str) -> None:
        value = _keyword(arg, 0.0, self.limit_a, 0.0)
        self.current_a = in_range(parse_number(arg, ("A",)) if value is None else value,
                                  0.0, self.limit_a)
        self._apply()

    def _limit_query(self, arg: str) -> str:
        value = _keyword(arg, 0.0, MAX_CURRENT_A, MAX_CURRENT_A)
        return nr3(self.limit_a if value is None else value)

    def _set_limit(self, arg: str) -> None:
        value = _keyword(arg, 0.0, MAX_CURRENT_A, MAX_CURRENT_A)
        limit = in_range(parse_number(arg, ("A",)) if value is None else value, 0.0, MAX_CURRENT_A)
        if limit < self.current_a:
            raise ScpiError(SETTINGS_CONFLICT)
        self.limit_a = limit

    def _set_output(self, arg: str) -> None:
        on = parse_boolean(arg)
        if on and not (self.interlock_closed and self.keylock_on):
            raise ScpiError(SETTINGS_CONFLICT)
        self.ld_on = on
        self._apply()

    def _set_tec(self, arg: str) -> None:
        self.tec_on = parse_boolean(arg)

    def _tec_query(self, arg: str) -> str:
        value = _keyword(arg, *TEC_RANGE_C, 25.0)
        return nr3(self.tec_setpoint_c if value is None else value)

    def _set_tec_setpoint(self, arg: str) -> None:
        value = _keyword(arg, *TEC_RANGE_C, 25.0)
        self.tec_setpoint_c = in_range(parse_number(arg, ("C", "CEL")) if value is None else value,
                                       *TEC_RANGE_C)
