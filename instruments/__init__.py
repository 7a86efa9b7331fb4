"""Instrument drivers, one family per folder, each a QCoDeS Instrument over a transport.

Importing this package makes pyserial's ``serial_for_url`` know the URL
schemes that installed packages declare in the entry-point group
``qnic.serial_url_handlers`` (the simulated bench's ``sim://``), so a
station file loaded by QCoDeS alone (``qcodes.Station``) opens ``sim://``
ports like any other (docs/station.md). Only a package name is appended to
``serial.protocol_handler_packages`` here; nothing is read or imported until
a port of such a scheme is opened.
"""

from __future__ import annotations

import serial

from qnic.instruments.url_handlers import PACKAGE as _URL_HANDLERS

if _URL_HANDLERS not in serial.protocol_handler_packages:
    serial.protocol_handler_packages.append(_URL_HANDLERS)
