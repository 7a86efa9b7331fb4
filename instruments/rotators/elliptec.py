"""Thorlabs Elliptec ELL14 rotation mount, a QCoDeS Instrument over pyserial.

Facts: docs/protocols.md section 1. Pulses per revolution are
read from the ``IN`` reply at connection, never assumed. A move is answered
once, when the motion ends, with ``PO`` (or ``GS`` and an error code); the
device may send interim ``GS09`` (busy) frames first (1.7).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from qcodes.instrument import Instrument
from qcodes.validators import Enum, Ints, Numbers

from qnic.instruments.errors import (
    DeviceFaultError,
    InstrumentError,
    MoveIncompleteError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators.elliptec_bus import ElliptecBus
from qnic.instruments.rotators.elliptec_codec import (
    DeviceInfo,
    ElliptecStatus,
    Reply,
    decode_long,
    encode,
    encode_char,
    encode_long,
    status_meaning,
)
from qnic.instruments.rotators.move_state import Move, MoveState, MovingRotator, with_detail

log = logging.getLogger(__name__)

_HOME_DIRECTION = {"cw": "0", "ccw": "1"}  # docs/protocols.md 1.4 / 1.7
T = TypeVar("T")


@dataclass
class _EllMove(Move):
    target_counts: int | None = None


class ELL14(MovingRotator, Instrument):
    """Thorlabs ELL14 / ELL14K motorized rotation mount.

    Args:
        name: instrument name.
        address: serial port or pyserial URL (``sim://ell14?...``).
        device_id: the device's bus address, one hex digit (factory ``"0"``).
        timeout_s: read timeout of one reply line (seconds).
        move_timeout_s: longest a move or homing may take (seconds).
        position_tolerance_deg: how far from its target a move that reports
            a mechanical time out may end and still be accepted (degrees).
        port: an open pyserial-like port to use instead of ``address`` (tests).
    """

    def __init__(self, name: str, address: str, device_id: str = "0", timeout_s: float = 1.0,
                 move_timeout_s: float = 30.0, position_tolerance_deg: float = 0.05,
                 port: Any = None, **kwargs: Any) -> None:
        super().__init__(name, **kwargs)
        encode(device_id, "gs")  # validates the address before any traffic
        self.address = address
        self.device_id = device_id.upper()
        self.move_timeout_s = move_timeout_s
        self._own_bus = port is not None
        self._bus: ElliptecBus | None = ElliptecBus(address, timeout_s, port) if port else None
        self._timeout_s = timeout_s
        self.position_tolerance_deg = position_tolerance_deg
        self._info: DeviceInfo | None = None
        self._moves = MoveState(name)
        self._late_po = False

        self.angle = self.add_parameter(
            "angle", label="Fast-axis angle", unit="deg",
            get_cmd=self.position_deg, set_cmd=lambda a: self.move_to(a, wait=True),
            vals=Numbers(-360.0, 360.0),
            docstring="Control the rotation angle in degrees (float, -360 to 360).")
        self.velocity = self.add_parameter(
            "velocity", label="Velocity", unit="%",
            get_cmd=self._get_velocity, set_cmd=self._set_velocity, vals=Ints(0, 100),
            docstring="Control the velocity in percent of maximum (int, 0 to 100).")
        self.jog_step = self.add_parameter(
            "jog_step", label="Jog step", unit="deg",
            get_cmd=self._get_jog_step, set_cmd=self._set_jog_step, vals=Numbers(0.0, 360.0),
            docstring="Control the jog step in degrees (float, 0 to 360; 0 jogs continuously).")
        self.home_direction = self.add_parameter(
            "home_direction", label="Homing direction", unit="",
            initial_value="cw", get_cmd=None, set_cmd=None, vals=Enum("cw", "ccw"),
            docstring="Control the homing direction (str, 'cw' or 'ccw').")

    # -- connection ---------------------------------------------------------
    @property
    def bus(self) -> ElliptecBus:
        """The serial bus this device is on (opened on first use)."""
        if self._bus is None:
            self._bus = ElliptecBus.shared(self.address, self._timeout_s)
        return self._bus

    def connect(self) -> DeviceInfo:
        """Read the device information (``in``); done on first use."""
        if self._info is None:
            reply = self._retry_once("identification", lambda: self._transact("in", expect="IN"))
            try:
                self._info = DeviceInfo.parse(reply.data)
            except ValueError as exc:
                raise ProtocolError(self.name, b"in", reply.data.encode(), str(exc)) from None
            log.info("%s: %s serial %s firmware %s, %d pulses per %d", self.name,
                     self._info.model_name, self._info.serial, self._info.firmware,
                     self._info.pulses_per_unit, self._info.travel)
        return self._info

    @property
    def info(self) -> DeviceInfo:
        """Device information from the ``IN`` reply."""
        return self.connect()

    def get_idn(self) -> dict[str, str | None]:
        """Vendor, model, serial number and firmware from the ``IN`` reply."""
        info = self.connect()
        return {"vendor": "Thorlabs", "model": info.model_name, "serial": info.serial,
                "firmware": info.firmware}

    def close(self) -> None:
        """Release the bus (the last device on it closes the port)."""
        if self._bus is not None:
            if self._own_bus:
                self._bus.close()
            else:
                self._bus.release()
            self._bus = None
        super().close()

    # -- units --------------------------------------------------------------
    def _counts(self, angle_deg: float) -> int:
        info = self.connect()
        # on rotary stages the pulses field is per full travel (docs/protocols.md 1.5)
        return round(angle_deg * info.pulses_per_unit / info.travel)

    def _degrees(self, counts: int) -> float:
        info = self.connect()
        return counts * info.travel / info.pulses_per_unit

    # -- the wire -------------------------------------------------------------
    def _transact(self, command: str, data: str = "", expect: str = "GS",
                  wait_s: float | None = None) -> Reply:
        """Send one command and return its reply of mnemonic ``expect``.

        Interim ``GS09`` frames are skipped while waiting for a move; any
        other non-zero ``GS`` raises :class:`DeviceFaultError`. Write and
        read hold the bus lock together.
        """
        with self.bus.lock:
            self._finish_bus_move()
            frame = encode(self.device_id, command, data)
            self.bus.write(self.name, frame)
            return self._await(frame, expect, self._timeout_s if wait_s is None else wait_s)

    def _await(self, frame: bytes, expect: str, wait_s: float) -> Reply:
        try:
            return self._read_expected(frame, expect, wait_s)
        except (TransportError, ProtocolError):
            self._resync()
            raise

    def _resync(self) -> None:
        """After a lost or garbled reply: drop what is buffered and read the
        status until a ``GS`` comes, so the next command gets its own reply.
        A device still moving answers ``GS09``; its late ``PO`` is then
        skipped when it arrives."""
        frame = encode(self.device_id, "gs")
        try:
            self.bus.port.reset_input_buffer()
            self.bus.discard_pending(self.device_id)
            self.bus.write(self.name, frame)
            for _ in range(8):
                reply = self.bus.read_reply(self.name, self.device_id, frame, self._timeout_s)
                if reply.mnemonic == "GS":
                    self._late_po = reply.data == "09"
                    return
        except Exception as exc:  # the original error is what the caller must see
            log.warning("%s: could not resynchronise after an error: %s", self.name, exc)

    def _read_expected(self, frame: bytes, expect: str, wait_s: float) -> Reply:
        while True:
            reply = self.bus.read_reply(self.name, self.device_id, frame, wait_s)
            if reply.mnemonic in ("BO", "BS"):
                continue  # unsolicited front-panel messages (docs/protocols.md 1.4)
            if reply.mnemonic == "PO" and expect != "PO" and self._late_po:
                self._late_po = False  # the end of a move whose reply timed out
                continue
            if reply.mnemonic == "GS":
                code = self._status_code(frame, reply)
                if code == ElliptecStatus.BUSY and expect != "GS":
                    continue  # interim busy frame before a move's reply (1.7)
                if code != ElliptecStatus.OK and not (expect == "GS" and frame[1:3] == b"gs"):
                    self._clear_fault()
                    raise DeviceFaultError(self.name, code, status_meaning(code), frame)
                if expect == "GS":
                    return reply
            if reply.mnemonic == expect:
                return reply
            raise ProtocolError(self.name, frame, self._raw(reply),
                                f"expected a {expect} reply, got {reply.mnemonic}")

    def _retry_once(self, what: str, query: Callable[[], T]) -> T:
        """Run an idempotent query; after a lost or garbled reply (the bus
        already resynchronised) try it once more, and log that it did."""
        with self.bus.lock:
            self._finish_bus_move()  # a move's failure is not this query's to retry
        try:
            return query()
        except (TransportError, ProtocolError) as exc:
            log.warning("%s: %s failed (%s); retrying once", self.name, what, exc)
            return query()

    def _status_code(self, frame: bytes, reply: Reply) -> int:
        if len(reply.data) != 2:
            raise ProtocolError(self.name, frame, self._raw(reply), "GS reply needs 2 hex digits")
        return int(reply.data, 16)

    @staticmethod
    def _raw(reply: Reply) -> bytes:
        return f"{reply.address}{reply.mnemonic}{reply.data}\r\n".encode()

    def _clear_fault(self) -> None:
        """Reading the status clears a latched error (docs/protocols.md 1.4)."""
        frame = encode(self.device_id, "gs")
        try:
            self.bus.write(self.name, frame)
            self.bus.read_reply(self.name, self.device_id, frame, self._timeout_s)
        except Exception as exc:  # the original fault is what the caller must see
            log.warning("%s: could not clear the latched fault: %s", self.name, exc)

    def _long(self, frame: bytes, reply: Reply) -> int:
        try:
            return decode_long(reply.data)
        except ValueError as exc:
            raise ProtocolError(self.name, frame, self._raw(reply), str(exc)) from None

    # -- status ------------------------------------------------------------------
    def status(self) -> ElliptecStatus | int:
        """Read (and so clear) the device status code."""
        reply = self._retry_once("status", lambda: self._transact("gs", expect="GS"))
        code = self._status_code(b"gs", reply)
        try:
            return ElliptecStatus(code)
        except ValueError:
            return code

    # -- motion ----------------------------------------------------------------
    def home(self, direction: str | None = None) -> None:
        """Home the stage, clockwise or counter-clockwise; wait until done."""
        direction = self.home_direction() if direction is None else direction
        if direction not in _HOME_DIRECTION:
            raise ValueError(f"{self.name}: homing direction must be 'cw' or 'ccw', got {direction!r}")
        self.connect()
        self._start("ho", _HOME_DIRECTION[direction], None, wait=True)

    def move_to(self, angle_deg: float, wait: bool = True) -> None:
        """Move to ``angle_deg`` degrees; with ``wait=False`` return at once
        (the move's outcome then follows the rules of :mod:`.move_state`)."""
        self.angle.validate(angle_deg)
        self._start("ma", encode_long(self._counts(angle_deg)), self._counts(angle_deg), wait)

    def move_by(self, delta_deg: float, wait: bool = True) -> None:
        """Move by ``delta_deg`` degrees (signed)."""
        Numbers(-360.0, 360.0).validate(delta_deg)
        self._start("mr", encode_long(self._counts(delta_deg)), None, wait)

    def _start(self, command: str, data: str, target_counts: int | None, wait: bool) -> None:
        """Send a move. Only one device on a bus may move at a time, with one
        reply outstanding (docs/protocols.md 1.7): another device's move on the
        same bus is waited for first."""
        self.connect()
        target = None if target_counts is None else self._degrees(target_counts)
        move = _EllMove(encode(self.device_id, command, data), target, target_counts)
        self._launch(move, self._send_move, wait)

    def _send_move(self, move: _EllMove) -> None:
        with self.bus.lock:
            if self.bus.mover is self:  # a move of ours that failed; it was settled
                self.bus.mover = None
            self._finish_bus_move()
            self.bus.write(self.name, move.request)
            self.bus.mover = self

    def _poll_move(self, move: Move) -> float | None:
        """The move's reply, if it has come; None while none is waiting."""
        with self.bus.lock:
            if not self.bus.has_input(self.name, self.device_id, move.request):
                return None
            return self._await_move(move)

    def _await_move(self, move: Move) -> float:
        """Wait for the move's reply (``PO``, or ``GS`` and a code).

        A move answered ``GS02`` (mechanical time out, which the device also
        reports after some good moves, docs/protocols.md 1.6) is checked by
        reading the position back: within ``position_tolerance_deg`` of the
        target it is accepted with a warning, otherwise it raises. A reply
        lost or damaged on the link is checked the same way. A move is never
        repeated blindly.
        """
        assert isinstance(move, _EllMove)
        with self.bus.lock:
            if self.bus.mover is self:
                self.bus.mover = None
            try:
                reply = self._await(move.request, "PO", self.move_timeout_s)
            except DeviceFaultError as exc:
                if exc.code != ElliptecStatus.MECHANICAL_TIMEOUT or move.target_counts is None:
                    raise
                return self._check_arrival(move, exc)
            except (TransportError, ProtocolError) as exc:
                return self._check_arrival(move, exc)
            reached = self._degrees(self._long(move.request, reply))
            if move.target_deg is not None:
                if abs(reached - move.target_deg) > self.position_tolerance_deg:
                    raise MoveIncompleteError(self.name, move.request, move.target_deg, reached,
                                              self.position_tolerance_deg)
            return reached

    def _check_arrival(self, move: _EllMove, fault: InstrumentError) -> float:
        """After a fault report or a lost reply: where is the stage? At its
        target (and at rest) the move is accepted with a warning."""
        if self._late_po:  # the device still answers busy: the move goes on
            raise fault
        try:
            here = self._read_position_deg()
        except InstrumentError as exc:
            fault.add_note(f"{self.name}: reading the position back failed: {exc}")
            raise fault from None
        if move.target_deg is None:
            raise fault
        off = here - move.target_deg
        if abs(off) <= self.position_tolerance_deg:
            log.warning("%s: %r ended with %s but the stage reached %.4f deg; accepted",
                        self.name, move.request, fault, here)
            return here
        where = (f"the stage stopped at {here:.4f} deg, {off:+.4f} deg from the target "
                 f"{move.target_deg:.4f} deg")
        if isinstance(fault, DeviceFaultError):
            raise DeviceFaultError(self.name, fault.code, f"{fault.meaning}; {where}",
                                   move.request) from fault
        if isinstance(fault, TransportError):
            where = f"the move was not acknowledged: {where}"
        raise with_detail(fault, where) from fault

    def _finish_bus_move(self) -> None:
        """Wait for any move in flight on this bus: this device's (a failure
        is raised) or another's (its failure stays latched there)."""
        mover = self.bus.mover
        if mover is self:
            self._finish_own_move()
        elif mover is not None:
            mover._finish_for_other()
        if self.bus.mover is mover:
            self.bus.mover = None

    def stop(self) -> None:
        """Stop jogging (``st``); bounded moves run to their end (1.4)."""
        self.bus.write(self.name, encode(self.device_id, "st"))

    def _read_position_deg(self) -> float:
        """Read the position (``gp``) in degrees."""
        self.connect()
        return self._retry_once("position", lambda: self._degrees(
            self._long(b"gp", self._transact("gp", expect="PO"))))

    # -- parameters --------------------------------------------------------------
    def _get_velocity(self) -> int:
        def query() -> int:
            reply = self._transact("gv", expect="GV")
            try:
                return int(reply.data, 16)
            except ValueError:
                raise ProtocolError(self.name, b"gv", self._raw(reply), "GV is not hex") from None
        return self._retry_once("velocity", query)

    def _set_velocity(self, percent: int) -> None:
        self._transact("sv", encode_char(percent))

    def _get_jog_step(self) -> float:
        return self._retry_once("jog step", lambda: self._degrees(
            self._long(b"gj", self._transact("gj", expect="GJ"))))

    def _set_jog_step(self, step_deg: float) -> None:
        self._transact("sj", encode_long(self._counts(step_deg)))
