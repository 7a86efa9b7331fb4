"""Emulator of a Thorlabs Elliptec ELL14 multidrop bus, from qnic.docs/protocols.md section 1.

One :class:`ElliptecBusEmulator` is one serial port with one or more
:class:`ElliptecDevice` mounts on hex addresses, each turning a
:class:`~qnic.sim.motion.RotatorMotion` (a bench arm's HWP motor or a
private one), answering byte for byte as docs/protocols.md 1.3-1.7 say, in
virtual time. Choices where the reference is silent:

- Before homing, moves are accepted (the reference lists no refusal code), but
  the counter reads 0 wherever the rotor stood at power-up, so angles mean
  nothing until ``ho`` (docs/physics.md: rotators must be homed after power-up).
- Travel is one turn from home either way; a target beyond it gets ``GS0C``
  (1.6: "told to move beyond its travel"), and continuous jogs stop there.
- ``ho0`` (CW) turns towards increasing counts, ``ho1`` (CCW) the other way, a
  bare ``ho`` as CW; home is ``zero_deg`` plus the ``so`` offset; one interim
  ``GS09`` precedes the homing reply (1.7).
- A move command during the device's own move is answered ``GS09`` and
  ignored; ``gp`` during motion answers the present position.
- An error reply latches its code until a ``gs`` reads it (1.4); ``gs`` while
  moving answers ``GS09`` and keeps the latch.
- Malformed data (cut by CR/LF, not upper-case hex) gets ``GS03``; a value out
  of its range (``sv`` over 100, a negative jog step) ``GS04``.
- Below ``stall_below_pct`` velocity (25 %; 1.4: "about 25-45 % is the typical
  minimum before stalling") every move stalls: ``GS02`` at once.
- ``st`` ends a ``fw``/``bw`` move with ``PO`` at the stop position; otherwise
  it has no reply (1.4). Power-up: velocity 100 %, jog step 45 degrees.
- Commands the reference lists but this emulator does not model (``f1``,
  ``s1``, ``om``, ``cm``, ``is``, ``ga``, ``c1`` ...) are read at their
  documented lengths and answered ``GS03``.
- Queries are answered at once and moves when the motion ends: no wire time
  or command overhead is modelled.
- A frame ends with its mnemonic's data field, so ``ho`` at the very end of a
  write is a bare ``ho``. Two devices given one address both answer.
"""

from __future__ import annotations

import enum
import heapq
import math
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import NamedTuple, Protocol

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

__all__ = ["ElliptecBusEmulator", "ElliptecDevice", "Fault", "FaultSpec", "Status"]

DEFAULT_PULSES_PER_REV = 0x23000  # docs/protocols.md 1.5: 143,360 counts per revolution
TRAVEL_DEG = 0x168  # 1.5: the IN travel field of a rotary stage, 360 degrees
MODEL_ELL14 = 0x0E  # 1.5: IN model byte
# 1.5: the manual's I1 example `0I1100428FFFFFFFF00BD008B` (motor 2 taken alike)
DEFAULT_MOTOR_INFO = "100428FFFFFFFF00BD008B"
_HEX = frozenset(b"0123456789ABCDEF")
_LOWER = frozenset(b"abcdefghijklmnopqrstuvwxyz")
_EOL = frozenset(b"\r\n")

# Data-field length in characters by host mnemonic (1.4). `ho` takes an
# optional direction char and is handled apart. The last row is known to the
# reference but not emulated.
_DATA_LEN: dict[str, int] = {
    "in": 0, "gs": 0, "ma": 8, "mr": 8, "fw": 0, "bw": 0, "st": 0, "gp": 0,
    "go": 0, "so": 8, "gj": 0, "sj": 8, "gv": 0, "sv": 2, "us": 0, "ca": 1,
    "i1": 0, "i2": 0,
    "f1": 4, "b1": 4, "f2": 4, "b2": 4, "s1": 0, "s2": 0, "om": 0, "cm": 0,
    "sk": 0, "is": 2, "ga": 1, "c1": 0, "c2": 0,
}
_URL_OPTIONS = frozenset({"bench", "arm", "addr", "devices", "serial", "fw", "year",
                          "pulses", "homed", "zero_deg", "home_busy", "fault", "plate"})


class Status(enum.IntEnum):
    """``GS`` status codes (docs/protocols.md 1.6, the manual's table)."""

    OK = 0x00
    COMMUNICATION_TIMEOUT = 0x01
    MECHANICAL_TIMEOUT = 0x02
    COMMAND_ERROR = 0x03
    VALUE_OUT_OF_RANGE = 0x04
    MODULE_ISOLATED = 0x05
    MODULE_OUT_OF_ISOLATION = 0x06
    INITIALIZING_ERROR = 0x07
    THERMAL_ERROR = 0x08
    BUSY = 0x09
    SENSOR_ERROR = 0x0A
    MOTOR_ERROR = 0x0B
    OUT_OF_RANGE = 0x0C
    OVER_CURRENT = 0x0D


class BenchLike(Protocol):
    """What the emulator needs of a simulated bench."""

    clock: VirtualClock

    def motor(self, arm: str) -> RotatorMotion:
        """The half-wave-plate motor of arm ``arm`` ("A" or "B")."""
        ...

    def qwp_motor(self, arm: str) -> RotatorMotion:
        """The quarter-wave-plate motor of arm ``arm`` ("A" or "B")."""
        ...


class _Reply(NamedTuple):
    at_s: float
    body: str  # mnemonic and data, without address and CR LF
    jog: bool = False  # the final reply of a fw/bw move, which `st` can cut short


def _long(value: int) -> str:
    """8 hex digits, 32-bit two's complement (1.3: -10 deg = FFFFF072)."""
    return f"{value & 0xFFFFFFFF:08X}"


def _signed(text: str) -> int:
    value = int(text, 16)
    return value - (1 << 32) if value & 0x80000000 else value


class ElliptecDevice:
    """State of one ELL14 rotation mount on the bus.

    Args:
        address: bus address, one hex digit "0" to "F" (1.3).
        motor: the rotor; the bench's HWP motor or a private one.
        now_s: virtual time of power-up (seconds).
        serial: serial number, 8 decimal digits (1.5).
        firmware: firmware release, 2 characters (1.5).
        year: year of manufacture, 4 digits (1.5).
        pulses_per_rev: encoder counts per revolution (int, default 0x23000).
        zero_deg: angle of ``motor`` at the home sensor (degrees).
        homed: True to power up with the counter referenced to home.
        stall_below_pct: velocity (percent) below which moves stall.
    """

    def __init__(self, address: str, motor: RotatorMotion, *, now_s: float = 0.0,
                 serial: str = "11400000", firmware: str = "17", year: str = "2023",
                 pulses_per_rev: int = DEFAULT_PULSES_PER_REV, zero_deg: float = 0.0,
                 homed: bool = False, stall_below_pct: int = 25) -> None:
        if len(address) != 1 or ord(address) not in _HEX:
            raise ValueError(f"Elliptec address must be one hex digit 0-F, got {address!r}")
        if len(serial) != 8 or not serial.isdigit():
            raise ValueError(f"serial must be 8 decimal digits, got {serial!r}")
        if len(firmware) != 2 or not set(firmware.encode()) <= _HEX:
            raise ValueError(f"firmware must be 2 upper-case hex characters, got {firmware!r}")
        if len(year) != 4 or not year.isdigit():
            raise ValueError(f"year must be 4 digits, got {year!r}")
        if not 0 < pulses_per_rev <= 0x7FFFFFFF:
            raise ValueError(f"pulses per revolution must be in 1..0x7FFFFFFF, got {pulses_per_rev}")
        self.saved_address = address
        self.motor = motor
        self.serial, self.firmware, self.year = serial, firmware, year
        self.pulses = pulses_per_rev
        self.zero_deg = float(zero_deg)
        self.stall_below_pct = stall_below_pct
        self.home_offset_counts = 0
        self.motor_info = {1: DEFAULT_MOTOR_INFO, 2: DEFAULT_MOTOR_INFO}
        self.power_up(now_s, homed=homed)

    def power_up(self, now_s: float, homed: bool = False) -> None:
        """Power-on state: saved address, 100 % velocity, 45 degree jog, no error.

        Not homed, the counter reads 0 wherever the rotor stands (emulator
        choice); homed, it reads the angle from home in [0, 360) degrees.
        """
        self.address = self.saved_address
        self.velocity_pct = 100
        self.jog_counts = self.pulses // 8  # 45 deg; the reference gives no factory value
        self.latched: int = Status.OK
        self.busy_until_s = -math.inf
        self.jog_frame: bytes | None = None
        self.is_homed = homed
        here = self.angle_deg(now_s)
        home = self.home_angle_deg()
        self.ref_deg = home + 360.0 * math.floor((here - home) / 360.0) if homed else here

    def angle_deg(self, t_s: float) -> float:
        """Motor angle (degrees, unwrapped) at virtual time ``t_s``."""
        return float(self.motor.angle_at(np.array([t_s]))[0])

    def counts_at(self, t_s: float) -> int:
        """Position counter (counts) at ``t_s``: degrees x pulses / 360 (1.5)."""
        return round((self.angle_deg(t_s) - self.ref_deg) * self.pulses / 360.0)

    def angle_of(self, counts: int) -> float:
        """Motor angle (degrees) where the counter reads ``counts``."""
        return self.ref_deg + counts * 360.0 / self.pulses

    def home_angle_deg(self) -> float:
        """Motor angle of the home position: the sensor plus the home offset."""
        return self.zero_deg + self.home_offset_counts * 360.0 / self.pulses

    def is_busy(self, t_s: float) -> bool:
        """True while this device's own move runs."""
        return t_s < self.busy_until_s

    def info(self) -> str:
        """The 30 data characters of the ``IN`` reply (1.5)."""
        return (f"{MODEL_ELL14:02X}{self.serial}{self.year}{self.firmware}"
                f"01{TRAVEL_DEG:04X}{self.pulses:08X}")  # 01: metric thread, hardware 1


_Handler = Callable[[ElliptecDevice, str, float], list[_Reply]]


class ElliptecBusEmulator(SerialEmulator):
    """One Elliptec bus (docs/protocols.md 1.2-1.3) with ELL14 devices on it.

    Args:
        clock: the bench's virtual clock.
        devices: the devices on the bus (distinct addresses, at least one).
        home_busy_enabled: send one interim ``GS09`` before a homing reply (1.7).
    """

    def __init__(self, clock: VirtualClock, devices: Iterable[ElliptecDevice], *,
                 home_busy_enabled: bool = True) -> None:
        super().__init__(clock)
        self.devices = list(devices)
        addresses = [d.address for d in self.devices]
        if not addresses or len(set(addresses)) != len(addresses):
            raise ValueError(f"a bus needs devices with distinct addresses, got {addresses}")
        self.home_busy_enabled = home_busy_enabled
        self.faults = FaultQueue()
        self._buf = bytearray()
        self._handlers: dict[str, _Handler] = {
            "in": lambda d, _, t: [_Reply(t, "IN" + d.info())],
            "gs": self._gs, "ho": self._ho, "st": self._st,
            "ma": lambda d, x, t: self._move_to(d, _signed(x), t),
            "mr": lambda d, x, t: self._move_to(d, d.counts_at(t) + _signed(x), t),
            "fw": lambda d, _, t: self._jog(d, +1, t),
            "bw": lambda d, _, t: self._jog(d, -1, t),
            "gp": lambda d, _, t: [_Reply(t, "PO" + _long(d.counts_at(t)))],
            "go": lambda d, _, t: [_Reply(t, "HO" + _long(d.home_offset_counts))],
            "so": self._setter("home_offset_counts", _signed, lambda d, v: abs(v) <= d.pulses),
            "gj": lambda d, _, t: [_Reply(t, "GJ" + _long(d.jog_counts))],
            "sj": self._setter("jog_counts", _signed, lambda d, v: 0 <= v <= d.pulses),
            "gv": lambda d, _, t: [_Reply(t, f"GV{d.velocity_pct:02X}")],
            # 1.4: velocity is a percentage, 0-100
            "sv": self._setter("velocity_pct", lambda x: int(x, 16), lambda d, v: v <= 100),
            "us": self._us, "ca": self._ca,
            "i1": lambda d, _, t: [_Reply(t, "I1" + d.motor_info[1])],
            "i2": lambda d, _, t: [_Reply(t, "I2" + d.motor_info[2])],
        }

    @classmethod
    def from_url_options(cls, bench: BenchLike, options: Mapping[str, str]) -> ElliptecBusEmulator:
        """Build a bus from ``sim://ell14?...`` options (see module docs and ``_placements``).

        Options: ``arm`` (A, B or ``-`` for a private motor) and ``addr``, or
        ``devices=0:A,1:B,2:-``; ``serial`` (8 digits, the first device's; the
        others count up), ``fw``, ``year``, ``pulses`` (per revolution),
        ``homed`` (0/1), ``zero_deg``, ``home_busy`` (0/1), ``fault`` and
        ``plate`` (``hwp``, the default, or ``qwp``: which of the arm's
        plates the devices turn).

        Raises:
            ValueError: an unknown option or a malformed value.
        """
        unknown = set(options) - _URL_OPTIONS
        if unknown:
            raise ValueError(f"unknown sim://ell14 option(s) {sorted(unknown)} "
                             f"(known: {', '.join(sorted(_URL_OPTIONS))})")
        now = bench.clock.now()
        serial = options.get("serial", "11400000")
        if len(serial) != 8 or not serial.isdigit():
            raise ValueError(f"sim://ell14 option serial={serial!r}: expected 8 digits")
        try:
            pulses = int(options.get("pulses", str(DEFAULT_PULSES_PER_REV)), 0)
            zero_deg = float(options.get("zero_deg", "0"))
        except ValueError as exc:
            raise ValueError(f"sim://ell14 option pulses or zero_deg: {exc}") from exc
        plate = options.get("plate", "hwp")
        if plate not in ("hwp", "qwp"):
            raise ValueError(f"sim://ell14 option plate={plate!r}: expected hwp or qwp")
        motor_of = bench.qwp_motor if plate == "qwp" else bench.motor
        devices = [
            ElliptecDevice(addr, motor_of(arm) if arm else RotatorMotion(), now_s=now,
                           serial=f"{(int(serial) + i) % 10**8:08d}",
                           firmware=options.get("fw", "17"), year=options.get("year", "2023"),
                           pulses_per_rev=pulses, zero_deg=zero_deg,
                           homed=_flag(options, "homed", False))
            for i, (addr, arm) in enumerate(_placements(options))
        ]
        bus = cls(bench.clock, devices, home_busy_enabled=_flag(options, "home_busy", True))
        for spec in parse_fault_option(options.get("fault", "")):
            bus.inject_spec(spec)
        return bus

    # -- test and bench controls -----------------------------------------
    def device(self, address: str) -> ElliptecDevice:
        """The device now answering on ``address``."""
        for dev in self.devices:
            if dev.address == address:
                return dev
        raise KeyError(f"no Elliptec device on address {address!r}")

    def inject(self, fault: Fault, count: int = 1, *, addr: str | None = None,
               code: int = Status.OVER_CURRENT, offset_counts: int = 40,
               stall_fraction: float = 0.5) -> None:
        """Queue ``fault`` for the next ``count`` commands it can affect (see
        :mod:`qnic.sim.faults`); ``DISCONNECT``/``RECONNECT`` act at once."""
        self.inject_spec(FaultSpec(fault, count, addr, int(code), offset_counts, stall_fraction))

    def drop_input(self) -> None:
        self._buf.clear()

    def inject_spec(self, spec: FaultSpec) -> None:
        """Queue (or, for link faults, apply) a prepared :class:`FaultSpec`."""
        with self.lock:
            if not self.apply_link_fault(spec.fault):
                self.faults.add(spec)

    def power_cycle(self) -> None:
        """Switch the bus off and on: every device stops and loses its homing."""
        with self.lock:
            now = self.clock.now()
            self.cancel_pending()
            self._buf.clear()
            for dev in self.devices:
                if dev.is_busy(now):
                    dev.motor.stop(now)
                dev.power_up(now, homed=False)

    # -- host side --------------------------------------------------------
    def receive(self, data: bytes) -> None:
        """Buffer bytes from the host and act on every complete frame (1.3)."""
        with self.lock:
            if not self.connected:
                return
            self._buf += data
            for addr, mnemonic, payload in self._frames():
                for dev in [d for d in self.devices if d.address == addr]:
                    self._serve(dev, mnemonic, payload, self.clock.now())

    def _frames(self) -> Iterator[tuple[str, str, str | None]]:
        """Complete frames ``(address, mnemonic, data)``; data None if malformed."""
        buf = self._buf
        while True:
            # bytes before an address character (the host's CR LF, noise) are skipped
            start = next((i for i, b in enumerate(buf) if b in _HEX), len(buf))
            del buf[:start]
            cut = next((i for i, b in enumerate(buf[1:3]) if b in _EOL), None)
            if buf and cut is not None:  # CR/LF inside the mnemonic: a broken frame
                addr, head = chr(buf[0]), bytes(buf[1:1 + cut]).decode("latin-1")
                del buf[:1 + cut]
                yield addr, head, None
                continue
            if len(buf) < 3:
                return
            mnemonic = bytes(buf[1:3]).decode("latin-1")
            split = _split_data(bytes(buf[3:]), mnemonic)
            if split is None:
                return  # a partial frame: wait for the rest
            size, payload = split
            addr = chr(buf[0])
            del buf[:3 + size]
            yield addr, mnemonic, payload

    # -- device side ------------------------------------------------------
    def _serve(self, dev: ElliptecDevice, mnemonic: str, data: str | None, now: float) -> None:
        addr = dev.address
        if self.faults.take({Fault.TIMEOUT}, addr):
            return  # the device never heard the command
        injected = self.faults.take({Fault.ERROR_CODE}, addr)
        if injected is not None:
            replies = [self._error(dev, injected.code, now)]
        elif data is None or mnemonic not in self._handlers:
            replies = [self._error(dev, Status.COMMAND_ERROR, now)]
        else:
            replies = self._handlers[mnemonic](dev, data, now)
        damage = self.faults.take(REPLY_FAULTS, addr) if replies else None
        for i, reply in enumerate(replies):
            # 1.3: replies start with the (possibly new) address and end CR LF
            frame = f"{dev.address}{reply.body}\r\n".encode("ascii")
            if damage is not None and i == len(replies) - 1:
                frame = truncate(frame) if damage.fault is Fault.TRUNCATED else garble(frame)
            self.schedule(frame, at_s=reply.at_s)
            if reply.jog:
                dev.jog_frame = frame

    @staticmethod
    def _error(dev: ElliptecDevice, code: int, now: float) -> _Reply:
        if code not in (Status.OK, Status.BUSY):
            dev.latched = code
        return _Reply(now, f"GS{int(code):02X}")

    def _gs(self, dev: ElliptecDevice, data: str, now: float) -> list[_Reply]:
        # 1.7: GS09 while moving; 1.4: reading the status clears a latched error
        if dev.is_busy(now):
            return [_Reply(now, "GS09")]
        code, dev.latched = dev.latched, Status.OK
        return [_Reply(now, f"GS{int(code):02X}")]

    def _move_to(self, dev: ElliptecDevice, counts: int, now: float) -> list[_Reply]:
        if dev.is_busy(now):
            return [_Reply(now, "GS09")]
        if abs(counts) > dev.pulses:  # 1.6 code 0C: beyond the travel
            return [self._error(dev, Status.OUT_OF_RANGE, now)]
        return [self._start_move(dev, counts, now)]

    def _start_move(self, dev: ElliptecDevice, counts: int, now: float) -> _Reply:
        """Start an accepted move to ``counts``; return its final reply (1.7)."""
        fault = self.faults.take(MOVE_FAULTS, dev.address)
        dev.jog_frame = None
        v_dps = dev.motor.v_max_dps * dev.velocity_pct / 100.0
        too_slow = dev.velocity_pct == 0 or dev.velocity_pct < dev.stall_below_pct
        if too_slow or (fault is not None and fault.fault is Fault.STALL):
            start = dev.angle_deg(now)
            end = now
            if not too_slow and fault is not None:
                stop = start + fault.stall_fraction * (dev.angle_of(counts) - start)
                end = dev.motor.move(now, stop, v_dps)
            dev.busy_until_s = end
            return self._error(dev, Status.MECHANICAL_TIMEOUT, end)
        if fault is not None:  # OFF_TARGET: it ends elsewhere and says so
            counts += fault.offset_counts
        dev.busy_until_s = dev.motor.move(now, dev.angle_of(counts), v_dps)
        return _Reply(dev.busy_until_s, "PO" + _long(counts))

    def _ho(self, dev: ElliptecDevice, data: str, now: float) -> list[_Reply]:
        if dev.is_busy(now):
            return [_Reply(now, "GS09")]
        here, home = dev.angle_deg(now), dev.home_angle_deg()
        # 1.7: ho0 homes CW, ho1 CCW (CW taken as increasing counts); bare `ho` as CW
        travel = -((here - home) % 360.0) if data == "1" else (home - here) % 360.0
        old_ref, dev.ref_deg = dev.ref_deg, here + travel
        final = self._start_move(dev, 0, now)
        if final.body.startswith("PO"):
            dev.is_homed = True
        else:
            dev.ref_deg = old_ref  # a stalled homing leaves the counter as it was
        busy = [_Reply(now, "GS09")] if self.home_busy_enabled else []
        return busy + [final]

    def _jog(self, dev: ElliptecDevice, sign: int, now: float) -> list[_Reply]:
        # 1.4: fw/bw move by the jog step; a step of 0 moves continuously until
        # `st` (here: at most to the travel limit, one turn from home)
        if dev.jog_counts == 0:
            target = sign * dev.pulses
        else:
            target = dev.counts_at(now) + sign * dev.jog_counts
        replies = self._move_to(dev, target, now)
        if dev.is_busy(now) and replies[-1].at_s > now:
            replies[-1] = replies[-1]._replace(jog=True)
        return replies

    def _st(self, dev: ElliptecDevice, data: str, now: float) -> list[_Reply]:
        # 1.4: st stops jog motion; it does not abort a bounded ma/mr/ho
        if dev.jog_frame is None or not dev.is_busy(now):
            return []
        frame, dev.jog_frame = dev.jog_frame, None
        self._pending = [p for p in self._pending if p[2] is not frame]
        heapq.heapify(self._pending)
        dev.motor.stop(now)
        dev.busy_until_s = now
        return [_Reply(now, "PO" + _long(dev.counts_at(now)))]

    def _setter(self, attr: str, parse: Callable[[str], int],
                valid: Callable[[ElliptecDevice, int], bool]) -> _Handler:
        """A handler storing a parsed value in ``attr``; GS04 (1.6) when ``valid`` fails."""
        def handler(dev: ElliptecDevice, data: str, now: float) -> list[_Reply]:
            value = parse(data)
            if not valid(dev, value):
                return [self._error(dev, Status.VALUE_OUT_OF_RANGE, now)]
            setattr(dev, attr, value)
            return [_Reply(now, "GS00")]
        return handler

    def _us(self, dev: ElliptecDevice, data: str, now: float) -> list[_Reply]:
        dev.saved_address = dev.address  # 1.4: saves user data, the address among them
        return [_Reply(now, "GS00")]

    def _ca(self, dev: ElliptecDevice, data: str, now: float) -> list[_Reply]:
        dev.address = data  # 1.3: the GS reply comes from the new address
        return [_Reply(now, "GS00")]


def _split_data(rest: bytes, mnemonic: str) -> tuple[int, str | None] | None:
    """Length and text of the data field at the start of ``rest`` (1.3).

    Returns None when the field is not complete yet, and data None when it is
    malformed (cut by CR/LF or not upper-case hex).
    """
    if mnemonic == "ho":  # 1.4: direction 0 (CW) or 1 (CCW), or bare on old firmware
        size = 1 if rest[:1] in (b"0", b"1") else 0
        return size, rest[:size].decode("ascii")
    want = _DATA_LEN.get(mnemonic)
    if want is None:  # unknown: data runs to CR/LF, a non-hex byte, or the next frame
        size = 0
        while (size < len(rest) and rest[size] in _HEX
               and not (size + 1 < len(rest) and rest[size + 1] in _LOWER)):
            size += 1
        return size, rest[:size].decode("ascii")
    for i in range(want):
        if i == len(rest):
            return None
        if rest[i] not in _HEX:
            return i, None
    return want, rest[:want].decode("ascii")


def _flag(options: Mapping[str, str], key: str, default: bool) -> bool:
    raw = options.get(key)
    if raw is None:
        return default
    if raw not in ("0", "1"):
        raise ValueError(f"sim://ell14 option {key}={raw!r}: expected 0 or 1")
    return raw == "1"


def _placements(options: Mapping[str, str]) -> list[tuple[str, str | None]]:
    """``(address, arm or None)`` per device: ``arm=A&addr=0`` or ``devices=0:A,1:B,2:-``."""
    if "devices" in options:
        if "arm" in options or "addr" in options:
            raise ValueError("sim://ell14: give devices=... or arm=/addr=, not both")
        items = [item.split(":") for item in options["devices"].split(",") if item]
    elif "arm" in options:
        items = [[options.get("addr", "0"), options["arm"]]]
    else:
        raise ValueError("sim://ell14 needs arm=A|B|- (with addr=) or devices=ADDR:ARM,...")
    placements: list[tuple[str, str | None]] = []
    for item in items:
        if len(item) != 2 or len(item[0]) != 1 or ord(item[0].upper()) not in _HEX:
            raise ValueError(f"sim://ell14 device {':'.join(item)!r}: expected ADDR:ARM "
                             "with ADDR one hex digit 0-F and ARM A, B or -")
        placements.append((item[0].upper(), None if item[1] == "-" else item[1]))
    return placements
