"""pyserial URL schemes served by other installed packages (docs/station.md).

pyserial opens ``scheme://...`` with the module ``protocol_<scheme>`` of a
package listed in ``serial.protocol_handler_packages``; this package is
listed (by :mod:`qnic.instruments`), and each of its ``protocol_<scheme>``
modules hands the port to the class that the entry point ``<scheme>`` of
the group :data:`ENTRY_POINT_GROUP` names. So the drivers reach an emulator
(``sim://``, declared by ``qnic.sim``) without importing it, and the lookup
happens when such a port opens, never at import.
"""

from __future__ import annotations

import threading
from importlib.metadata import entry_points
from typing import Any

PACKAGE = "qnic.instruments.url_handlers"
ENTRY_POINT_GROUP = "qnic.serial_url_handlers"
"""Entry points ``scheme = module:SerialClass``: pyserial port classes by URL scheme."""

_found: dict[str, Any] = {}
_lock = threading.Lock()


def port_class(scheme: str) -> Any:
    """The pyserial port class an installed package declares for ``scheme``.

    Raises:
        ValueError: no installed package declares the scheme (the message
            names the entry-point group to declare it in).
    """
    with _lock:
        if scheme not in _found:
            declared = [ep for ep in entry_points(group=ENTRY_POINT_GROUP) if ep.name == scheme]
            if not declared:
                raise ValueError(f"protocol {scheme!r}: no installed package declares it "
                                 f"(entry point {scheme!r} in group {ENTRY_POINT_GROUP!r}; "
                                 "is qnic-bench installed?)")
            _found[scheme] = declared[0].load()
        return _found[scheme]
