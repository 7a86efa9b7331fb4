"""``sim://`` ports for pyserial: the simulated bench's emulators (docs/station.md).

pyserial imports this module for a ``sim://...`` URL and asks it for the
port class; the class is the one the entry point ``sim`` of the group
``qnic.serial_url_handlers`` names (``qnic.sim.serial_url.protocol_sim:Serial``).
"""

from __future__ import annotations

from typing import Any

from qnic.instruments.url_handlers import port_class


def serial_class_for_url(url: str) -> tuple[str, Any]:
    """pyserial's hook: the URL unchanged and the port class that opens it."""
    return url, port_class("sim")
