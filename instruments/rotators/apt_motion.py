"""Moves of the Thorlabs APT rotators: starting them, waiting for their
end message, and what to make of an end that is missing, garbled or off
target (docs/protocols.md section 2.4). Mixed into the
drivers of :mod:`qnic.instruments.rotators.apt`, which supply the link, the
stage and the queries.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import TYPE_CHECKING, ClassVar

from qcodes.parameters import Parameter
from qcodes.validators import Numbers

from qnic.instruments.errors import (
    DeviceFaultError,
    InstrumentError,
    MoveIncompleteError,
    ProtocolError,
    TransportError,
)
from qnic.instruments.rotators.apt_codec import (
    CHANNEL,
    Frame,
    MessageId,
    Stage,
    StatusBits,
    StatusPayload,
    describe_status,
    encode_chan_i32,
    encode_short,
    message_name,
)
from qnic.instruments.rotators.apt_transport import AptLink
from qnic.instruments.rotators.move_state import Move, MovingRotator, with_detail

log = logging.getLogger(__name__)

M = MessageId
_STOP_PROFILED = 0x02  # MOT_MOVE_STOP param2: 0x01 immediate, 0x02 profiled (2.4)


@dataclasses.dataclass
class AptMove(Move):
    """A move sent, with what its end message must be."""

    expect: int = M.MOT_MOVE_COMPLETED  # MOT_MOVE_HOMED for homing
    target_counts: int | None = None  # None: homing
    end: Frame | None = None  # the end message, when seen while doing something else


class AptMotion(MovingRotator):
    """Homing, moves and stops of an APT rotator (see the module docstring)."""

    if TYPE_CHECKING:  # supplied by the driver
        MODEL: ClassVar[str]
        name: str
        address: str
        stage: Stage
        move_timeout_s: float
        stop_timeout_s: float
        position_tolerance_deg: float
        angle: Parameter
        _link: AptLink

        def connect(self) -> object: ...
        def position_counts(self) -> int: ...
        def status_bits(self) -> StatusBits: ...

    def home(self) -> None:
        """Home the stage and wait until MOT_MOVE_HOMED."""
        self.connect()
        self._launch(AptMove(encode_short(M.MOT_MOVE_HOME, CHANNEL), None, M.MOT_MOVE_HOMED),
                     self._send, wait=True)

    def move_to(self, angle_deg: float, wait: bool = True) -> None:
        """Move to ``angle_deg`` degrees; with ``wait=False`` return at once
        (the move's outcome then follows the rules of :mod:`.move_state`)."""
        self.angle.validate(angle_deg)
        counts = self.stage.counts(angle_deg)
        self.connect()
        self._launch(AptMove(encode_chan_i32(M.MOT_MOVE_ABSOLUTE, counts),
                             self.stage.degrees(counts), M.MOT_MOVE_COMPLETED, counts),
                     self._send, wait)

    def move_by(self, delta_deg: float, wait: bool = True) -> None:
        """Move by ``delta_deg`` degrees (signed, -360 to 360). The position is
        read first, so that the target can be checked against a limited
        travel before moving, and the arrival against the target after."""
        Numbers(-360.0, 360.0).validate(delta_deg)
        delta = self.stage.counts(delta_deg)
        self.connect()
        self._settle()
        target = self.position_counts() + delta
        if self.stage.travel_deg is not None:  # limited travel: refuse before moving
            self.angle.validate(self.stage.degrees(target))
        self._launch(AptMove(encode_chan_i32(M.MOT_MOVE_RELATIVE, delta),
                             self.stage.degrees(target), M.MOT_MOVE_COMPLETED, target),
                     self._send, wait)

    def _send(self, move: AptMove) -> None:
        """Send a move. Stale input (a late end message) is dropped first,
        so it cannot be taken for the end of this move. Set commands have no
        reply (2.4): a move is acknowledged by its end message only."""
        with self._link.lock:
            self._link.purge_input()
            try:
                self._link.write(move.request)
            except TransportError as exc:
                raise with_detail(exc, "the move was not sent") from exc

    def _pending_move(self) -> AptMove | None:
        move = self._moves.move
        return move if isinstance(move, AptMove) else None

    def _note_move_end(self, frame: Frame) -> None:
        move = self._pending_move()
        if move is not None and move.end is None and frame.msg_id in (move.expect,
                                                                        M.MOT_MOVE_STOPPED):
            move.end = frame
        else:
            log.debug("%s: %s with no move outstanding skipped", self.name, frame.name)

    def _poll_move(self, move: Move) -> float | None:
        """Read what the unit sent; if no end message came, ask the status
        bits: still moving is None, at rest with no end message is a lost
        end message (checked as in :meth:`_recover`)."""
        assert isinstance(move, AptMove)
        with self._link.lock:
            if move.end is None:
                try:
                    self._link.drain(move.request, self._note_move_end)
                except DeviceFaultError as exc:
                    self._halt(exc)
                    raise
                except (TransportError, ProtocolError) as exc:
                    return self._recover(move, exc)
            if move.end is None:
                bits = self.status_bits()
                if move.end is None and bits.is_moving:
                    return None
                if move.end is None:
                    return self._recover(move, TransportError(
                        self.name, move.request,
                        f"no {message_name(move.expect)}, and the unit reports no motion "
                        f"(status {describe_status(bits)}): the move was not acknowledged"))
            return self._arrived(move, move.end)

    def _await_move(self, move: Move) -> float:
        """Wait for the move's end message; bounded by ``move_timeout_s``.

        After a fault (no end message, a malformed one, a device error
        notice) the stage is stopped and its position read back: a move
        whose end message was lost or garbled but which reached its target
        is accepted with a warning; anything else raises. A move is never
        repeated.

        Raises:
            MoveIncompleteError: the move ended off target (beyond
                ``position_tolerance_deg``) with no fault bit set.
            DeviceFaultError: an error notice, or an end whose status bits
                report a fault (a stall), or homing cut short.
            TransportError, ProtocolError: the end message was lost or
                malformed and the stage, stopped, is not at the target.
        """
        assert isinstance(move, AptMove)
        with self._link.lock:
            try:
                end = move.end or self._link.await_reply(
                    move.request, (move.expect, M.MOT_MOVE_STOPPED), self.move_timeout_s)
            except InstrumentError as exc:
                return self._recover(move, exc)
            return self._arrived(move, end)

    def _read_position_deg(self) -> float:
        """Read the position (MOT_REQ_POSCOUNTER) in degrees."""
        return self.stage.degrees(self.position_counts())

    def _arrived(self, move: AptMove, end: Frame) -> float:
        if end.msg_id == M.MOT_MOVE_HOMED:
            here = self._read_position_deg()
            log.info("%s: homed, at %.4f deg", self.name, here)
            return here
        try:
            payload = StatusPayload.parse(end.data)
        except ValueError as exc:
            return self._recover(move, ProtocolError(self.name, move.request, end.raw, str(exc)))
        here = self.stage.degrees(payload.position_counts)
        if move.target_counts is not None and self._near(payload.position_counts,
                                                         move.target_counts):
            return here
        if payload.status.faults or move.target_counts is None:
            # a stall, or homing cut short: the status word is the device's report
            raise DeviceFaultError(
                self.name, payload.status,
                f"{end.name} with {describe_status(payload.status)}: "
                f"{self._where(payload.position_counts, move)}", move.request)
        raise MoveIncompleteError(self.name, move.request,
                                  self.stage.degrees(move.target_counts), here,
                                  self.position_tolerance_deg)

    def _near(self, counts: int, target_counts: int) -> bool:
        off = self.stage.degrees(counts - target_counts)
        if self.stage.travel_deg is None:  # a rotation stage: the same orientation counts
            off = (off + 180.0) % 360.0 - 180.0
        return abs(off) <= self.position_tolerance_deg

    def _where(self, counts: int, move: AptMove) -> str:
        here = self.stage.degrees(counts)
        if move.target_counts is None:
            return (f"{self.MODEL} {self.name!r} on port {self.address} did not finish homing; "
                    f"the stage stopped at {here:.4f} deg")
        target = self.stage.degrees(move.target_counts)
        return (f"the stage stopped at {here:.4f} deg, {here - target:+.4f} deg from the target "
                f"{target:.4f} deg")

    def _recover(self, move: AptMove, fault: InstrumentError) -> float:
        """After a fault during a move: stop, read the position back, and
        accept the move only if a lost or garbled end message hid an arrival."""
        self._link.purge_input()  # the rest of a garbled message
        if not self._halt(fault):
            raise fault
        try:
            here = self.position_counts()
        except InstrumentError as exc:
            fault.add_note(f"{self.name}: reading the position back after the fault failed: {exc}")
            raise fault from None
        if (move.target_counts is not None and not isinstance(fault, DeviceFaultError)
                and self._near(here, move.target_counts)):
            log.warning("%s: %s failed (%s) but the stage reached its target, at %.4f deg; "
                        "accepted", self.name, move.request, fault, self.stage.degrees(here))
            return self.stage.degrees(here)
        raise with_detail(fault, self._where(here, move)) from fault

    def _halt(self, fault: InstrumentError) -> bool:
        """Stop after ``fault``; on failure note it on the fault, return False."""
        log.warning("%s: fault during a move (%s); stopping the stage", self.name, fault)
        try:
            self._stop_now()
        except InstrumentError as exc:
            log.error("%s: the stop after a fault failed: %s", self.name, exc)
            fault.add_note(f"{self.name}: the stop after this fault failed too: {exc}")
            return False
        return True

    def stop(self) -> None:
        """Stop any motion (profiled MOT_MOVE_STOP) and wait until stopped."""
        self.connect()
        with self._link.lock:
            if self._moves.move is not None:
                self._moves.succeed()  # ended by the caller, not failed
            self._stop_now()

    def _stop_now(self) -> None:
        """Send a profiled stop and wait for MOT_MOVE_STOPPED. A unit already
        at rest may send none: then the status bits decide."""
        request = encode_short(M.MOT_MOVE_STOP, CHANNEL, _STOP_PROFILED)
        self._link.write(request)
        try:
            self._link.await_reply(request, (M.MOT_MOVE_STOPPED,), self.stop_timeout_s)
            return
        except ProtocolError:
            self._link.purge_input()
            raise
        except TransportError:
            status = self.status_bits()
        if status.is_moving:
            raise TransportError(self.name, request, f"still moving {self.stop_timeout_s:g} s "
                                 f"after MOT_MOVE_STOP (status bits {status!r})")
        log.debug("%s: no MOT_MOVE_STOPPED; the status bits show the stage at rest", self.name)


