"""The simulated bench: physics model, virtual clock, and device emulators.

Drivers never import this package; they reach it through ``sim://`` serial
addresses (after :func:`register_serial_scheme`) and through the station file.
"""

from __future__ import annotations

import serial

_HANDLER_PACKAGE = "qnic.sim.serial_url"


def register_serial_scheme() -> None:
    """Make ``serial.serial_for_url('sim://...')`` open device emulators."""
    if _HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(_HANDLER_PACKAGE)
