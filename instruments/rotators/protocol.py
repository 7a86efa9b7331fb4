"""The ``Rotator`` protocol the QNIC and procedures depend on.

A move can be started without waiting, so both arms of a CHSH setting turn
together and a setting costs the slower move, not the sum.
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
        """Wait for the move in progress to end; return the final angle (deg)."""
        ...

    def is_moving(self) -> bool:
        """True while a move started by :meth:`move_to` is in progress."""
        ...

    def stop(self) -> None:
        """Stop any motion the device allows to be stopped."""
        ...

    def position_deg(self) -> float:
        """Read the current angle from the device (degrees)."""
        ...
