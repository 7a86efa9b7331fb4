"""Emulator of a Newport CONEX controller, from qnic.docs/protocols.md section 3.

One :class:`ConexEmulator` is one USB port with one controller: a CONEX-AGP
with an AG-PR100P (``model=agp``) or a CONEX-CC with a PR50CC (``model=cc``),
turning a :class:`~qnic.sim.motion.RotatorMotion` (a bench arm's HWP
motor or a private one) in virtual time. Lines ``<addr><CC>[value]`` CR LF;
queries answered ``<addr><CC><value>`` CR LF; states as section 3 tables.
Choices where section 3 is silent (public drivers named where one was read;
all UNVERIFIED against a device):

- Set commands (``OR PA PR ST RS MM VA AC``) have no reply; a refused one is
  not carried out and leaves a code for ``TE``, which answers one character
  and clears it. Codes and texts: the SMC100/CONEX-CC list public drivers
  quote alike (``@``, ``A``-``N``, ``S``, ``U``-``X``), taken for the AGP too.
- ``OR`` outside NOT REFERENCED: ``K`` (READY), ``E`` (HOMING), ``M``, ``J``;
  ``PA``/``PR`` outside READY: ``H``, ``L``, ``M``, ``J``; a ``PA`` target
  outside ``SL``..``SR``: ``C``, a ``PR`` leaving them: ``G``; unknown or
  lower-case mnemonic: ``A``; missing or non-numeric value: ``C``.
- A zero-length move (target equal to ``TH``) skips MOVING and the state
  stays (section 3: "A zero-length move leaves the controller in 32").
- ``TS`` reports positioner error bits (SMC100 list) and clears them. A
  stalled move (``Fault.STALL``) stops part-way with "following error" in
  DISABLE from MOVING (3D); a stalled home search with "homing time-out" in
  NOT REFERENCED from HOMING (0B); the set-point (``TH``) follows the stop.
- ``ST`` stops at once: MOVING -> 33, HOMING -> 0B, else nothing. ``MM0``
  while MOVING stops (3D). ``RS`` reboots at once to 0A.
- Power-up: 0A with the counter at 0 where the rotor stands (``homed=1``:
  32, referenced). The home sensor is at motor angle ``zero_deg`` mod 360;
  ``OR`` turns to the nearest one (at once if already there).
- AG-PR100P: 1.5 deg/s (qudi's figure), the motor's own acceleration, no
  ``VA``/``AC`` (answer ``A``; EPICS AG_CONEX: "the CONEX-AGP does not").
  PR50CC: ``VA`` 20 deg/s at power-up and at most, ``AC`` 80 deg/s^2 at
  power-up, 0 < a < 1e12; the controller sets its motor's ramp per move.
- Both stages turn without end stops: ``SL``/``SR`` default to -360/+360 deg
  (options ``sl``/``sr``); with a value they, like ``ID``, answer ``D``.
- ``1VE CONEX-CC 2.0.1`` (the form in public driver tests); ``ID?`` the
  stage, plus ``_<serial>`` if given (the ``model_...`` form qudi splits);
  ``TB<c>`` -> ``TB<c> <text>``; ``MM?`` the state in hex.
- Numbers have 5 decimals (section 3's ``1TP12.34567``). Lines may end CR,
  LF or both; partial writes are buffered; other addresses are ignored.
- ``Fault.ERROR_CODE`` leaves its code for ``TE`` instead of acting (a query
  then gets no reply); the code is the letter's ASCII value (``error_code:43``
  is ``C``, a bare ``error_code`` ``V``). ``OFF_TARGET`` is in millidegrees.
"""

from __future__ import annotations

import enum
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

import numpy as np

from qnic.instruments.clock import VirtualClock
from qnic.sim.emulator import SerialEmulator
from qnic.sim.faults import (
    MOVE_FAULTS,
    REPLY_FAULTS,
    Fault,
    FaultQueue,
    FaultSpec,
    garble,
    parse_fault_option,
    truncate,
)
from qnic.sim.motion import RotatorMotion

__all__ = ["ConexEmulator", "Fault", "FaultSpec", "MODELS", "PositionerError", "State"]


class State(enum.IntEnum):
    """Controller states (TS low byte) the emulator reaches (section 3 tables)."""

    NOT_REFERENCED_FROM_RESET = 0x0A
    NOT_REFERENCED_FROM_HOMING = 0x0B
    HOMING = 0x1E
    MOVING = 0x28
    READY_FROM_HOMING = 0x32
    READY_FROM_MOVING = 0x33
    READY_FROM_DISABLE = 0x34
    DISABLE_FROM_READY = 0x3C
    DISABLE_FROM_MOVING = 0x3D


class PositionerError(enum.IntFlag):
    """The TS positioner error bits the emulator sets (section 3, SMC100 list:
    bits 0-9 are negative / positive end of run, peak and RMS current limit,
    short circuit, following error, homing time-out, wrong ESP stage, DC
    voltage too low, 80 W output power exceeded)."""

    FOLLOWING_ERROR = 0x0020
    HOMING_TIME_OUT = 0x0040


TE_TEXT: dict[str, str] = {
    "@": "No error.",
    "A": "Unknown message code or floating point controller address.",
    "B": "Controller address not correct.",
    "C": "Parameter missing or out of range.",
    "D": "Command not allowed.",
    "E": "Home sequence already started.",
    "F": "ESP stage name unknown.",
    "G": "Displacement out of limits.",
    "H": "Command not allowed in NOT REFERENCED state.",
    "I": "Command not allowed in CONFIGURATION state.",
    "J": "Command not allowed in DISABLE state.",
    "K": "Command not allowed in READY state.",
    "L": "Command not allowed in HOMING state.",
    "M": "Command not allowed in MOVING state.",
    "N": "Current position out of software limit.",
    "S": "Communication Time Out.",
    "U": "Error during EEPROM access.",
    "V": "Error during command execution.",
    "W": "Command not allowed for PP version.",
    "X": "Command not allowed for CC version.",
}


@dataclass(frozen=True)
class ModelSpec:
    """What differs between the two controllers (choices in the module docs)."""

    controller: str
    stage: str
    speed_dps: float
    accel_dps2: float | None  # None: no VA/AC commands, the motor's own acceleration
    travel_deg: tuple[float, float]


MODELS: dict[str, ModelSpec] = {
    "agp": ModelSpec("CONEX-AGP", "AG-PR100P", 1.5, None, (-360.0, 360.0)),
    "cc": ModelSpec("CONEX-CC", "PR50CC", 20.0, 80.0, (-360.0, 360.0)),
}
_READY = {State.READY_FROM_HOMING, State.READY_FROM_MOVING, State.READY_FROM_DISABLE}
_DISABLE = {State.DISABLE_FROM_READY, State.DISABLE_FROM_MOVING}
_NOT_REFERENCED = {State.NOT_REFERENCED_FROM_RESET, State.NOT_REFERENCED_FROM_HOMING}
_NUMBER = re.compile(r"[+-]?(\d+(\.\d*)?|\.\d+)([eE][+-]?\d+)?")
_URL_OPTIONS = frozenset({"bench", "arm", "model", "addr", "serial", "fw", "homed", "zero_deg",
                          "sl", "sr", "fault"})


class BenchLike(Protocol):
    """What the emulator needs of a simulated bench."""

    clock: VirtualClock

    def motor(self, arm: str) -> RotatorMotion:
        """The half-wave-plate motor of arm ``arm`` ("A" or "B")."""
        ...


class _Refused(Exception):
    """A command refused with a TE code."""


def _fmt(value: float) -> str:
    return f"{round(value, 5) + 0.0:.5f}"


def _number(text: str) -> float:
    if not _NUMBER.fullmatch(text):
        raise _Refused("C")
    return float(text)


class ConexEmulator(SerialEmulator):
    """One CONEX controller on its own port.

    Args:
        clock: the bench's virtual clock.
        motor: the rotor; a bench arm's HWP motor or a private one.
        model: ``"agp"`` (CONEX-AGP, AG-PR100P) or ``"cc"`` (CONEX-CC, PR50CC).
        address: controller address (int, 1 to 31).
        serial: stage serial appended to the ``ID?`` reply (empty: none).
        firmware: version in the ``VE`` reply.
        homed: power up referenced (READY from HOMING) instead of 0A.
        zero_deg: motor angle of the home sensor (degrees, mod 360).
        limits_deg: software limits (SL, SR) in degrees; default the model's.
    """

    def __init__(self, clock: VirtualClock, motor: RotatorMotion, *, model: str = "agp",
                 address: int = 1, serial: str = "", firmware: str = "2.0.1",
                 homed: bool = False, zero_deg: float = 0.0,
                 limits_deg: tuple[float, float] | None = None) -> None:
        super().__init__(clock)
        if model not in MODELS:
            raise ValueError(f"CONEX model must be one of {sorted(MODELS)}, got {model!r}")
        if not 1 <= address <= 31:  # section 3: addresses 1-31
            raise ValueError(f"CONEX address must be 1 to 31, got {address}")
        for name, text in (("serial", serial), ("firmware", firmware)):
            if not re.fullmatch(r"[A-Za-z0-9.\-]*", text):
                raise ValueError(f"CONEX {name} must be letters, digits, '.' or '-', got {text!r}")
        self.spec = MODELS[model]
        self.model, self.address, self.motor = model, address, motor
        self.serial, self.firmware, self.zero_deg = serial, firmware, float(zero_deg)
        self.limits_deg = limits_deg or self.spec.travel_deg
        if not self.limits_deg[0] <= 0.0 <= self.limits_deg[1]:
            raise ValueError(f"software limits must satisfy SL <= 0 <= SR, got {self.limits_deg}")
        self.faults = FaultQueue()
        self._buf = bytearray()
        self._handlers: dict[str, Callable[[str, float], str | None]] = {
            "OR": self._or, "PA": self._pa, "PR": self._pr, "ST": self._st, "RS": self._rs,
            "MM": self._mm, "TB": self._tb, "ID": self._id, "SL": self._limit(0),
            "SR": self._limit(1), "TS": self._query(self._ts), "TE": self._query(self._te),
            "TP": self._query(lambda now: "TP" + _fmt(self.position_deg(now))),
            "TH": self._query(lambda now: "TH" + _fmt(self.target_deg)),
            "VE": self._query(lambda now: f"VE {self.spec.controller} {self.firmware}"),
            "VA": self._setting("VA", "velocity_dps", lambda v: 0 < v <= self.spec.speed_dps),
            "AC": self._setting("AC", "accel_dps2", lambda a: 0 < a < 1e12),
        }
        self.power_up(homed=homed)

    @classmethod
    def from_url_options(cls, bench: BenchLike, options: Mapping[str, str]) -> ConexEmulator:
        """Build from ``sim://conex?...`` options: ``arm`` (A, B, or ``-`` for a
        private motor; required), ``model`` (agp, cc), ``addr`` (1-31),
        ``serial``, ``fw``, ``homed`` (0/1), ``zero_deg``, ``sl``, ``sr`` and
        ``fault`` (see :mod:`qnic.sim.faults`).

        Raises:
            ValueError: an unknown option or a malformed value.
        """
        unknown = set(options) - _URL_OPTIONS
        if unknown or "arm" not in options or options.get("homed", "0") not in ("0", "1"):
            raise ValueError(f"sim://conex needs arm=A|B|- and homed=0|1 if given; unknown "
                             f"options {sorted(unknown)} "
                             f"(known: {', '.join(sorted(_URL_OPTIONS))})")
        spec = MODELS.get(options.get("model", "agp"), MODELS["agp"])  # __init__ checks model
        try:
            address = int(options.get("addr", "1"))
            limits = (float(options.get("sl", spec.travel_deg[0])),
                      float(options.get("sr", spec.travel_deg[1])))
            emu = cls(bench.clock, RotatorMotion() if options["arm"] == "-"
                      else bench.motor(options["arm"]), model=options.get("model", "agp"),
                      address=address, serial=options.get("serial", ""),
                      firmware=options.get("fw", "2.0.1"), homed=options.get("homed") == "1",
                      zero_deg=float(options.get("zero_deg", "0")), limits_deg=limits)
        except ValueError as exc:
            raise ValueError(f"sim://conex options {dict(options)}: {exc}") from exc
        for spec_ in parse_fault_option(options.get("fault", "")):
            emu.inject_spec(spec_)
        return emu

    # -- state ----------------------------------------------------------------
    def power_up(self, homed: bool = False) -> None:
        """Power-on (or ``RS``) state: 0A and the counter at 0 where the rotor
        stands, or READY referenced to the nearest home angle when ``homed``."""
        now = self.clock.now()
        here = self.angle_deg(now)
        self.ref_deg = self._home_near(here) if homed else here
        self.state = State.READY_FROM_HOMING if homed else State.NOT_REFERENCED_FROM_RESET
        self.error_bits = PositionerError(0)
        self.last_error = "@"
        self.target_deg = round(here - self.ref_deg, 5)
        self.velocity_dps = self.spec.speed_dps
        self.accel_dps2 = self.spec.accel_dps2
        self._end: tuple[float, State, PositionerError, float | None] | None = None

    def controller_state(self) -> State:
        """The state ``TS`` would report now."""
        with self.lock:
            self._update(self.clock.now())
            return self.state

    def angle_deg(self, t_s: float) -> float:
        """Motor angle (degrees, unwrapped) at virtual time ``t_s``."""
        return float(self.motor.angle_at(np.array([t_s]))[0])

    def position_deg(self, t_s: float | None = None) -> float:
        """What ``TP`` reads at ``t_s`` (default now): angle from the reference."""
        return self.angle_deg(self.clock.now() if t_s is None else t_s) - self.ref_deg

    def _home_near(self, angle_deg: float) -> float:
        return self.zero_deg + 360.0 * round((angle_deg - self.zero_deg) / 360.0)

    def _update(self, now: float) -> None:
        """Apply the end of a move or home search that has finished by ``now``."""
        if self._end is not None and now >= self._end[0]:
            end_s, self.state, bits, ref = self._end
            self.error_bits |= bits
            if ref is not None:
                self.ref_deg, self.target_deg = ref, 0.0
            elif self.state not in _READY:  # stalled: the set-point is where it stopped
                self.target_deg = round(self.position_deg(end_s), 5)
            self._end = None

    # -- test and bench controls ------------------------------------------------
    def inject(self, fault: Fault, count: int = 1, *, code: str | int = "V",
               offset_mdeg: int = 40, stall_fraction: float = 0.5) -> None:
        """Queue ``fault`` for the next ``count`` commands it can affect;
        ``code`` is a TE letter for ``ERROR_CODE``; link faults act at once."""
        value = ord(code) if isinstance(code, str) else code
        self.inject_spec(FaultSpec(fault, count, None, value, offset_mdeg, stall_fraction))

    def drop_input(self) -> None:
        self._buf.clear()

    def inject_spec(self, spec: FaultSpec) -> None:
        """Queue (or, for link faults, apply) a prepared :class:`FaultSpec`."""
        with self.lock:
            if not self.apply_link_fault(spec.fault):
                if spec.fault is Fault.ERROR_CODE:
                    _fault_letter(spec.code)  # validates
                self.faults.add(spec)

    def power_cycle(self) -> None:
        """Switch off and on: motion stops, the reference is lost."""
        with self.lock:
            self.cancel_pending()
            self._buf.clear()
            self.motor.stop(self.clock.now())
            self.power_up(homed=False)

    # -- host side --------------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Buffer bytes from the host and act on every complete line."""
        with self.lock:
            if not self.connected:
                return
            self._buf += data
            while (end := next((i for i, b in enumerate(self._buf) if b in b"\r\n"), -1)) >= 0:
                line = bytes(self._buf[:end])
                del self._buf[:end + 1]
                if line:
                    self._serve(line, self.clock.now())

    def _serve(self, line: bytes, now: float) -> None:
        m = re.fullmatch(rb"(\d{1,2})(.*)", line, re.S)
        if m is None or int(m[1]) != self.address:
            return  # not addressed to this controller
        self._update(now)
        if self.faults.take({Fault.TIMEOUT}, ""):
            return  # never heard
        injected = self.faults.take({Fault.ERROR_CODE}, "")
        if injected is not None:
            self.last_error = _fault_letter(injected.code)
            return
        text = m[2].decode("latin-1")
        handler = self._handlers.get(text[:2])
        try:
            if handler is None or not text.isascii():
                raise _Refused("A")
            body = handler(text[2:].strip(), now)
        except _Refused as refusal:
            self.last_error = str(refusal)
            return
        if body is not None:
            frame = f"{self.address}{body}\r\n".encode("ascii")
            damage = self.faults.take(REPLY_FAULTS, "")
            if damage is not None:
                frame = truncate(frame) if damage.fault is Fault.TRUNCATED else garble(frame)
            self.schedule(frame, at_s=now)

    # -- motion -------------------------------------------------------------------
    def _refusal(self) -> str:
        """The TE code refusing a command that needs READY, by state."""
        if self.state in _DISABLE:
            return "J"
        return {State.HOMING: "L", State.MOVING: "M"}.get(self.state, "H")

    def _drive(self, now: float, angle_deg: float) -> float:
        if self.accel_dps2 is not None:
            self.motor.accel_dps2 = self.accel_dps2  # the controller sets its motor's ramp
        return self.motor.move(now, angle_deg, self.velocity_dps)

    def _run(self, now: float, goal_deg: float, done: State, failed: State,
             bits: PositionerError, ref: float | None) -> None:
        """Turn the motor to ``goal_deg``, spending one move fault if queued."""
        fault = self.faults.take(MOVE_FAULTS, "")
        if fault is not None and fault.fault is Fault.STALL:
            start = self.angle_deg(now)
            end = self._drive(now, start + fault.stall_fraction * (goal_deg - start))
            self._end = (end, failed, bits, None)
        else:
            offset = fault.offset_counts * 1e-3 if fault is not None else 0.0
            self._end = (self._drive(now, goal_deg + offset), done, PositionerError(0), ref)
        self._update(now)

    def _move(self, target_deg: float, now: float, limit_code: str) -> None:
        if self.state not in _READY:
            raise _Refused(self._refusal())
        if not self.limits_deg[0] <= target_deg <= self.limits_deg[1]:
            raise _Refused(limit_code)
        if target_deg == self.target_deg:
            return  # zero-length: no MOVING, the state stays (section 3)
        self.target_deg = target_deg
        self.state = State.MOVING
        self._run(now, self.ref_deg + target_deg, State.READY_FROM_MOVING,
                  State.DISABLE_FROM_MOVING, PositionerError.FOLLOWING_ERROR, None)

    def _or(self, arg: str, now: float) -> None:
        if arg:
            raise _Refused("C")
        if self.state not in _NOT_REFERENCED:
            raise _Refused("K" if self.state in _READY else
                           "E" if self.state is State.HOMING else self._refusal())
        home = self._home_near(self.angle_deg(now))
        self.state = State.HOMING
        self._run(now, home, State.READY_FROM_HOMING, State.NOT_REFERENCED_FROM_HOMING,
                  PositionerError.HOMING_TIME_OUT, home)

    def _pa(self, arg: str, now: float) -> str | None:
        if arg == "?":
            return "PA" + _fmt(self.target_deg)
        self._move(_number(arg), now, "C")
        return None

    def _pr(self, arg: str, now: float) -> None:
        self._move(round(self.target_deg + _number(arg), 9), now, "G")

    def _halt(self, now: float, state: State) -> None:
        self.motor.stop(now)
        self._end = None
        self.state = state
        self.target_deg = round(self.position_deg(now), 5)

    def _st(self, arg: str, now: float) -> None:
        if self.state is State.MOVING:
            self._halt(now, State.READY_FROM_MOVING)
        elif self.state is State.HOMING:
            self._halt(now, State.NOT_REFERENCED_FROM_HOMING)

    def _rs(self, arg: str, now: float) -> None:
        self.motor.stop(now)
        self.power_up(homed=False)

    def _mm(self, arg: str, now: float) -> str | None:
        if arg == "?":
            return f"MM{self.state:02X}"
        if arg not in ("0", "1"):
            raise _Refused("C")
        if self.state is State.HOMING:
            raise _Refused("L")
        if self.state not in _READY | _DISABLE | {State.MOVING}:
            raise _Refused("H")
        if arg == "0" and self.state is State.MOVING:
            self._halt(now, State.DISABLE_FROM_MOVING)
        elif arg == "0" and self.state in _READY:
            self.state = State.DISABLE_FROM_READY
        elif arg == "1" and self.state in _DISABLE:
            self.state = State.READY_FROM_DISABLE
        return None

    # -- queries and settings -------------------------------------------------------
    @staticmethod
    def _query(reply: Callable[[float], str]) -> Callable[[str, float], str]:
        """A handler for a query that takes no value (a trailing ``?`` is allowed)."""
        def handler(arg: str, now: float) -> str:
            if arg not in ("", "?"):
                raise _Refused("C")
            return reply(now)
        return handler

    def _ts(self, now: float) -> str:
        bits, self.error_bits = self.error_bits, PositionerError(0)
        return f"TS{int(bits):04X}{self.state:02X}"

    def _te(self, now: float) -> str:
        code, self.last_error = self.last_error, "@"
        return "TE" + code

    def _tb(self, arg: str, now: float) -> str:
        code = self.last_error if arg in ("", "?") else arg
        if code not in TE_TEXT:
            raise _Refused("C")
        return f"TB{code} {TE_TEXT[code]}"

    def _id(self, arg: str, now: float) -> str:
        if arg != "?" and arg:
            raise _Refused("D")
        return "ID" + self.spec.stage + (f"_{self.serial}" if self.serial else "")

    def _limit(self, index: int) -> Callable[[str, float], str]:
        def handler(arg: str, now: float) -> str:
            if arg != "?":
                raise _Refused("D" if arg else "C")
            return ("SL", "SR")[index] + _fmt(self.limits_deg[index])
        return handler

    def _setting(self, name: str, attr: str, valid: Callable[[float], bool]
                 ) -> Callable[[str, float], str | None]:
        """``VA``/``AC``: unknown (``A``) on the AGP; query, or set when not moving."""
        def handler(arg: str, now: float) -> str | None:
            if self.spec.accel_dps2 is None:
                raise _Refused("A")
            if arg == "?":
                return name + _fmt(getattr(self, attr))
            value = _number(arg)
            if self.state in (State.MOVING, State.HOMING):
                raise _Refused("M" if self.state is State.MOVING else "L")
            if not valid(value):
                raise _Refused("C")
            setattr(self, attr, value)
            return None
        return handler


def _fault_letter(code: int) -> str:
    """The TE letter of an ``ERROR_CODE`` fault: the ASCII value of A-Z (a
    bare ``error_code``, whose shared default is 0x0D, means ``V``)."""
    if code == 0x0D:
        return "V"
    letter = chr(code)
    if letter not in TE_TEXT or letter == "@":
        raise ValueError(f"CONEX error_code must be the ASCII code of a TE letter A-X "
                         f"(e.g. 43 for C), got {code:#04x}")
    return letter
