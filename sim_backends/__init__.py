"""The simulated bench: physics model, virtual clock, and device emulators.

Drivers never import this package; they reach it through ``sim://`` serial
addresses and through the station file (docs/station.md). pyserial finds the
``sim://`` port class through the entry point ``sim`` of the group
``qnic.serial_url_handlers``, which ``qnic.instruments`` consults when such a
port opens; :func:`register_serial_scheme` lists this package's handler with
pyserial directly (for a checkout used without installing it).
"""

from __future__ import annotations

import serial

_HANDLER_PACKAGE = "qnic.sim.serial_url"


def register_serial_scheme() -> None:
    """Make ``serial.serial_for_url('sim://...')`` open device emulators."""
    if _HANDLER_PACKAGE not in serial.protocol_handler_packages:
        serial.protocol_handler_packages.append(_HANDLER_PACKAGE)
