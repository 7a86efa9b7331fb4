"""The ``Rotator`` protocol the QNIC and procedures depend on.

A move can be started without waiting, so both arms of a CHSH setting turn
together and a setting costs the slower move, not the sum. What happens when
such a move fails is the same for every driver (the move state machine of
:mod:`qnic.instruments.rotators.move_state`, docs/protocols.md): the call that
sees the fault raises it, ``wait_for_move`` raises it again, and
``is_moving`` is false from then on.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable


@runtime_checkable
class Rotator(Protocol):
    """A rotation stage holding a waveplate; angles in degrees."""

    name: str

    def home(self) -> None:
        """Find the home position and wait until there."""
        ...

    def move_to(self, angle_deg: float, wait: bool = True) -> None:
        """Move to ``angle_deg`` (degrees); if ``wait`` is false, return at once."""
        ...

    def wait_for_move(self) -> float:
        """Wait for the move in progress to end; return the final angle (deg).
        A failed move raises here, also when another call saw it first."""
        ...

    def is_moving(self) -> bool:
        """True while a move started by :meth:`move_to` is in progress; false
        after any failure (a failure it sees, it raises)."""
        ...

    def stop(self) -> None:
        """Stop any motion the device allows to be stopped."""
        ...

    def position_deg(self) -> float:
        """Read the current angle from the device (degrees); during a failed
        move, raise its fault instead (never a stale angle)."""
        ...
