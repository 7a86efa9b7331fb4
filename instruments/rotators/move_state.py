"""One move state machine for every rotator driver (ELL14, APT, CONEX).

A move started with ``move_to(wait=False)`` is IDLE -> MOVING -> IDLE when
it ends well, or MOVING -> FAILED when any call sees it fail. The rules,
the same for every driver:

- A fault seen by any call while a move is in progress (``position_deg``,
  ``is_moving``, ``wait_for_move``, another device's traffic on a shared bus)
  is latched: that call raises it, with the device, the command and the
  meaning, and :meth:`MovingRotator.wait_for_move` raises it again and
  clears it. A failed move never yields a position: while the fault is
  latched, ``position_deg`` raises it too.
- ``is_moving()`` is false after any failure, and stays false.
- A move the device never acknowledged (the command could not be sent, or
  it was refused, or the device is at rest away from the target with no
  end-of-move report) raises.
- Starting another move (``move_to``, ``home``) first settles the one in
  progress, so a latched fault is raised (and cleared) there as well.
- A reply lost or damaged on the link is not a fault of the move: the
  driver asks the device for its state and position, and a move it finds
  at its target is accepted with a logged warning (the position returned
  is read afresh, never a stale one); anything else raises.

Drivers mix :class:`MovingRotator` in and supply three device operations:
a non-blocking look at the move (:meth:`MovingRotator._poll_move`), a
bounded wait for its end (:meth:`MovingRotator._await_move`) and a plain
position read (:meth:`MovingRotator._read_position_deg`).
"""

from __future__ import annotations

import enum
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

from qnic.instruments.errors import (
    DeviceFaultError,
    InstrumentError,
    ProtocolError,
    TransportError,
)

log = logging.getLogger(__name__)

M = TypeVar("M", bound="Move")


class Phase(enum.Enum):
    """Where a rotator's move stands."""

    IDLE = "idle"
    """No move in progress and no fault latched."""
    MOVING = "moving"
    """A move was sent and its end has not been seen."""
    FAILED = "failed"
    """A move failed; the fault is latched until ``wait_for_move`` raises it."""


@dataclass
class Move:
    """A move sent to a device.

    Drivers may subclass it to keep what they need to judge the move's end.

    Attributes:
        request: the bytes that started it (named in every error about it).
        target_deg: where it should end (degrees); None for homing.
    """

    request: bytes
    target_deg: float | None


class MoveState:
    """The phase of one rotator's moves and its latched fault."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.move: Move | None = None
        self.fault: InstrumentError | None = None

    @property
    def phase(self) -> Phase:
        if self.fault is not None:
            return Phase.FAILED
        return Phase.IDLE if self.move is None else Phase.MOVING

    def begin(self, move: Move) -> None:
        """A move was (or is about to be) sent."""
        self.move, self.fault = move, None

    def succeed(self) -> None:
        """The move in progress ended well."""
        self.move = None

    def fail(self, fault: InstrumentError) -> InstrumentError:
        """Latch ``fault`` as the outcome of the move in progress; return it."""
        request = self.move.request if self.move is not None else b""
        log.warning("%s: move %r failed: %s", self.device, request, fault)
        self.move, self.fault = None, fault
        return fault

    def raise_latched(self) -> None:
        """Raise the latched fault, keeping it latched."""
        if self.fault is not None:
            raise self.fault.with_traceback(None)

    def take(self) -> None:
        """Raise the latched fault and clear it (the move is then over)."""
        fault, self.fault = self.fault, None
        if fault is not None:
            raise fault.with_traceback(None)


class MovingRotator:
    """The Rotator protocol's move calls on top of :class:`MoveState`.

    The driver sets ``self._moves = MoveState(name)`` and implements the
    three hooks below; its own ``move_to``, ``home`` and ``move_by`` start
    moves through :meth:`_launch`.
    """

    name: str
    _moves: MoveState

    # -- hooks the driver supplies -------------------------------------------
    def _poll_move(self, move: Move) -> float | None:
        """Look at ``move`` without waiting: None while it runs, the final
        angle (deg) when it ended well; raise :class:`InstrumentError` when
        it failed."""
        raise NotImplementedError

    def _await_move(self, move: Move) -> float:
        """Wait (bounded) for ``move`` to end; return the final angle (deg)
        or raise :class:`InstrumentError`."""
        raise NotImplementedError

    def _read_position_deg(self) -> float:
        """Read the position from the device (degrees)."""
        raise NotImplementedError

    # -- the protocol ------------------------------------------------------------
    def is_moving(self) -> bool:
        """True while a move started by ``move_to`` is in progress; a failure
        seen here is latched and raised; false ever after a failure."""
        move = self._moves.move
        if move is None or self._moves.fault is not None:
            return False
        self._observe(lambda: self._poll_move(move))
        return self._moves.phase is Phase.MOVING

    def wait_for_move(self) -> float:
        """Wait for the move in progress to end; return the final angle (deg).

        Raises:
            InstrumentError: the move failed (also when another call saw the
                failure first; the fault is then cleared).
        """
        self._moves.take()
        move = self._moves.move
        if move is None:
            return self._read_position_deg()
        angle = self._observe(lambda: self._await_move(move), clear=True)
        assert angle is not None  # _await_move returns a float or raises
        return angle

    def position_deg(self) -> float:
        """Read the current angle (degrees). During a move its progress is
        checked first: a failure seen here is latched and raised."""
        self._moves.raise_latched()
        self.is_moving()
        return self._read_position_deg()

    # -- for the driver ------------------------------------------------------------
    def _settle(self) -> None:
        """Before a new move: wait for the move in progress and raise
        (clearing) any latched fault."""
        if self._moves.move is not None or self._moves.fault is not None:
            self.wait_for_move()

    def _launch(self, move: M, send: Callable[[M], None], wait: bool) -> None:
        """Settle the previous move, send ``move`` and, if ``wait``, wait for it.

        ``send`` raises when the device did not take the move; the fault is
        raised here, and latched for ``wait_for_move`` when not waiting.
        """
        self._settle()
        self._moves.begin(move)
        try:
            send(move)
        except InstrumentError as exc:
            self._moves.fail(exc)
            if wait:
                self._moves.take()
            raise
        if wait:
            self.wait_for_move()

    def _observe(self, step: Callable[[], float | None], clear: bool = False) -> float | None:
        """Run ``step`` on the move in progress; latch (and raise) what fails.
        A float from ``step`` ends the move well."""
        move = self._moves.move
        try:
            result = step()
        except InstrumentError as exc:
            if self._moves.move is move:
                self._moves.fail(exc)
                if clear:
                    self._moves.take()
            raise
        if result is not None and self._moves.move is move:
            self._moves.succeed()
        return result

    def _finish_own_move(self) -> None:
        """Wait for the move in progress as part of another call (a device
        that takes no query while it moves): a failure is latched and raised
        by that call."""
        move = self._moves.move
        if move is not None and self._moves.fault is None:
            self._observe(lambda: self._await_move(move))

    def _finish_for_other(self) -> None:
        """Wait for this device's move for another device's traffic on a
        shared bus: a failure stays latched here, for this device's calls."""
        try:
            self._finish_own_move()
        except InstrumentError as exc:
            log.debug("%s: move fault latched for later: %s", self.name, exc)


def with_detail(fault: InstrumentError, extra: str) -> InstrumentError:
    """The same kind of error as ``fault`` with ``extra`` added to its detail."""
    if isinstance(fault, DeviceFaultError):
        return DeviceFaultError(fault.instrument, fault.code, f"{fault.meaning}; {extra}",
                                fault.request)
    if isinstance(fault, ProtocolError):
        return ProtocolError(fault.instrument, fault.request, fault.reply,
                             f"{fault.detail}; {extra}")
    if isinstance(fault, TransportError):
        return TransportError(fault.instrument, fault.request, f"{fault.detail}; {extra}")
    return InstrumentError(f"{fault}; {extra}")
