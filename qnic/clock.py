"""Clocks (:mod:`qnic.instruments.clock`), named here too for the core's users.

The clock lives at the bottom of the house, with the drivers, because the
simulated bench and its emulators keep time with it and must not import the
core (docs/architecture.md).
"""

from qnic.instruments.clock import Clock, RealClock, VirtualClock

__all__ = ["Clock", "RealClock", "VirtualClock"]
