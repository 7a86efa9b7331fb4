"""One Elliptec multidrop bus: a serial port shared by up to 16 devices.

Devices on one bus share its port and its lock. Replies are routed by their
address character, so a device may start a move (whose reply comes when the
motion ends) while another device on the bus is addressed.
"""

from __future__ import annotations

import logging
import math
import threading
from collections import defaultdict, deque
from typing import Any

import serial

from qnic.instruments.errors import ProtocolError, TransportError
from qnic.instruments.rotators.elliptec_codec import TERMINATOR, Reply, parse_reply

log = logging.getLogger(__name__)

# docs/protocols.md 1.2: 9600 baud, 8 data bits, no parity, 1 stop bit
SERIAL_SETTINGS: dict[str, Any] = {"baudrate": 9600, "bytesize": 8, "parity": "N", "stopbits": 1}


class ElliptecBus:
    """A serial port carrying Elliptec frames.

    Args:
        address: a serial port (``/dev/ttyUSB0``, ``COM3``) or a pyserial URL
            such as ``sim://ell14?bench=default&arm=A&addr=0``.
        timeout_s: read timeout of one line (seconds).
        port: an already-open pyserial-like port (tests); skips opening.
    """

    _shared: dict[str, ElliptecBus] = {}
    _shared_lock = threading.Lock()

    def __init__(self, address: str, timeout_s: float = 1.0, port: Any = None) -> None:
        self.address = address
        self.timeout_s = timeout_s
        self._port = port
        self.lock = threading.RLock()
        self._inbox: dict[str, deque[Reply]] = defaultdict(deque)
        self._users = 0
        self.mover: Any = None  # the device whose move reply is outstanding

    @classmethod
    def shared(cls, address: str, timeout_s: float = 1.0) -> ElliptecBus:
        """The bus for ``address``, shared by every device opened on it."""
        with cls._shared_lock:
            bus = cls._shared.get(address)
            if bus is None:
                bus = cls._shared[address] = cls(address, timeout_s)
            bus._users += 1
            return bus

    def release(self) -> None:
        """Drop one user; the last one closes the port."""
        with self._shared_lock:
            self._users -= 1
            if self._users <= 0:
                if self._shared.get(self.address) is self:
                    del self._shared[self.address]
                self.close()

    def close(self) -> None:
        with self.lock:
            if self._port is not None:
                try:
                    self._port.close()
                finally:
                    self._port = None

    @property
    def port(self) -> Any:
        if self._port is None:
            try:
                self._port = serial.serial_for_url(self.address, timeout=self.timeout_s,
                                                   **SERIAL_SETTINGS)
            except (serial.SerialException, ValueError) as exc:
                raise TransportError(self.address, b"", f"cannot open port: {exc}") from exc
        return self._port

    def write(self, device: str, frame: bytes) -> None:
        """Send one frame."""
        with self.lock:
            try:
                self.port.write(frame)
            except serial.SerialException as exc:
                raise TransportError(device, frame, f"write failed: {exc}") from exc

    def read_reply(self, device: str, address: str, request: bytes, wait_s: float) -> Reply:
        """The next reply from ``address``, waiting up to ``wait_s`` seconds.

        The wait is counted in read timeouts, not wall-clock time, so it holds
        on a virtual clock too. Replies from other addresses are kept for
        their devices.

        Raises:
            TransportError: nothing from ``address`` within ``wait_s``.
            ProtocolError: a truncated or malformed line.
        """
        timeouts_left = max(1, math.ceil(wait_s / self.timeout_s))
        with self.lock:
            while timeouts_left > 0:
                if self._inbox[address]:
                    return self._inbox[address].popleft()
                line = self._read_line(device, request)
                if not line:
                    timeouts_left -= 1
                    continue
                reply = self._parse(device, request, line)
                if reply.address == address:
                    return reply
                log.debug("%s: reply %r for address %s kept", self.address, line, reply.address)
                self._inbox[reply.address].append(reply)
        raise TransportError(device, request, f"no reply within {wait_s:g} s")

    def has_input(self, device: str, address: str, request: bytes) -> bool:
        """True when a reply for ``address`` (or any input) is waiting, without
        waiting; False on a port that cannot tell (no ``in_waiting``)."""
        with self.lock:
            if self._inbox[address]:
                return True
            try:
                return bool(getattr(self.port, "in_waiting", 0))
            except (serial.SerialException, OSError) as exc:
                raise TransportError(device, request, f"read failed: {exc}") from exc

    def discard_pending(self, address: str) -> None:
        """Forget replies kept for ``address``."""
        with self.lock:
            self._inbox.pop(address, None)

    def _read_line(self, device: str, request: bytes) -> bytes:
        try:
            line: bytes = self.port.read_until(TERMINATOR)
        except serial.SerialException as exc:
            raise TransportError(device, request, f"read failed: {exc}") from exc
        if line and not line.endswith(TERMINATOR):
            raise ProtocolError(device, request, line, "truncated reply (no CR LF)")
        return line

    @staticmethod
    def _parse(device: str, request: bytes, line: bytes) -> Reply:
        try:
            return parse_reply(line)
        except ValueError as exc:
            raise ProtocolError(device, request, line, str(exc)) from None
