"""The ``sim://`` scheme for pyserial: ``serial.serial_for_url("sim://ell14?...")``.

pyserial looks for a module ``protocol_<scheme>`` in each package listed in
``serial.protocol_handler_packages``: ``qnic.instruments.url_handlers`` (listed
when ``qnic.instruments`` is imported) hands ``sim://`` ports to :class:`Serial`,
declared as the entry point ``sim`` of the group ``qnic.serial_url_handlers``,
and :func:`qnic.sim.register_serial_scheme` lists this package itself. The URL's host part names the device model, its query the
bench and the device's place on it, e.g.
``sim://ell14?bench=default&arm=A&addr=0``. The device emulator behind the
port is built by the factory registered for the model in
:mod:`qnic.sim.devices`.
"""

from __future__ import annotations

import urllib.parse

import serial
from serial.serialutil import PortNotOpenError, SerialBase, SerialException

from qnic.sim.devices import build_emulator
from qnic.sim.emulator import SerialEmulator


def parse_url(url: str) -> tuple[str, dict[str, str]]:
    """Split ``sim://model?key=value&...`` into the model and its options."""
    parts = urllib.parse.urlsplit(url)
    if parts.scheme != "sim":
        raise SerialException(f"expected a sim:// URL, got {url!r}")
    model = (parts.netloc or parts.path.lstrip("/")).lower()
    if not model:
        raise SerialException(f"sim:// URL names no device model: {url!r}")
    query = urllib.parse.parse_qs(parts.query, keep_blank_values=True, strict_parsing=False)
    return model, {k: v[-1] for k, v in query.items()}


class Serial(SerialBase):
    """A pyserial port whose far end is a device emulator in virtual time."""

    def __init__(self, *args: object, **kwargs: object) -> None:
        self.emulator: SerialEmulator | None = None
        super().__init__(*args, **kwargs)

    def open(self) -> None:
        if self._port is None:
            raise SerialException("port must be configured before it can be used")
        if self.is_open:  # type: ignore[has-type]  # set by SerialBase
            raise SerialException("port already open")
        model, options = parse_url(self.portstr)
        try:
            self.emulator = build_emulator(model, options)
        except (KeyError, ValueError) as exc:
            raise SerialException(f"cannot open {self.portstr!r}: {exc}") from exc
        self.is_open = True

    def close(self) -> None:
        self.is_open = False
        self.emulator = None

    def _reconfigure_port(self) -> None:
        """Baud rate and framing have no effect on an emulator."""

    def _check(self) -> SerialEmulator:
        if not self.is_open or self.emulator is None:
            raise PortNotOpenError()
        if not self.emulator.connected:
            raise SerialException(f"{self.portstr}: device disconnected")
        return self.emulator

    @property
    def in_waiting(self) -> int:
        return self._check().in_waiting()

    def read(self, size: int = 1) -> bytes:
        emu = self._check()
        return emu.read(size, self._timeout)

    def write(self, data: bytes) -> int | None:
        emu = self._check()
        data = serial.to_bytes(data)
        with emu.lock:
            emu.receive(bytes(data))
        return len(data)

    def reset_input_buffer(self) -> None:
        self._check().reset_input()

    def reset_output_buffer(self) -> None:
        self._check()

    def flush(self) -> None:
        self._check()

    @property
    def cts(self) -> bool:
        return True

    @property
    def dsr(self) -> bool:
        return True

    @property
    def ri(self) -> bool:
        return False

    @property
    def cd(self) -> bool:
        return True
