"""The Eos driver's transport: addresses and buffered TCP links (no protocol).

A link wraps anything socket-like (``sendall``, ``recv``, ``settimeout``,
``close``): a real socket, or a scripted fake in tests. A receive that
comes back empty has waited out its timeout, so a fake's timeout costs no
time.
"""

from __future__ import annotations

import socket
import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

from qnic.instruments.detectors.single_quantum_codec import CONTROL_PORT
from qnic.instruments.errors import TransportError


def parse_address(address: str) -> tuple[str, int, int | None]:
    """``HOST``, ``HOST:PORT`` or ``tcp://HOST:PORT[?counts=PORT]`` ->
    (host, control port, counts port or None).

    Raises:
        ValueError: another URL scheme, or no host.
    """
    if "://" in address:
        url = urlsplit(address)
        if url.scheme != "tcp" or not url.hostname:
            raise ValueError(f"expected tcp://HOST:PORT, got {address!r}")
        counts = parse_qs(url.query).get("counts")
        return url.hostname, url.port or CONTROL_PORT, int(counts[0]) if counts else None
    host, _, port = address.rpartition(":")
    if not host:
        return address, CONTROL_PORT, None
    return host, int(port), None


class SocketLink:
    """One TCP link with a receive buffer.

    Args:
        sock: the socket-like object.
        instrument: the driver's name, for errors.
    """

    def __init__(self, sock: Any, instrument: str) -> None:
        self.sock = sock
        self.instrument = instrument
        self.rx = bytearray()

    @classmethod
    def open(cls, instrument: str, host: str, port: int, timeout_s: float) -> SocketLink:
        """Connect to ``host:port``.

        Raises:
            TransportError: the connection failed.
        """
        try:
            return cls(socket.create_connection((host, port), timeout=timeout_s), instrument)
        except OSError as exc:
            raise TransportError(instrument, f"connect {host}:{port}", str(exc)) from None

    def send(self, data: bytes) -> None:
        """Send every byte of ``data``.

        Raises:
            TransportError: the link failed.
        """
        try:
            self.sock.sendall(data)
        except OSError as exc:
            raise TransportError(self.instrument, data, f"send failed: {exc}") from None

    def recv_some(self, timeout_s: float) -> bool:
        """Append what arrives within ``timeout_s`` (0: only what is there);
        False when nothing came.

        Raises:
            OSError: the link failed (ConnectionError: the peer closed it).
        """
        self.sock.settimeout(max(timeout_s, 0.0))
        try:
            data = self.sock.recv(65536)
        except (TimeoutError, BlockingIOError):
            return False
        if not data:
            raise ConnectionError("the peer closed the connection")
        self.rx += data
        return True

    def drain(self, request: bytes) -> None:
        """Take in everything already arrived, without waiting."""
        try:
            while self.recv_some(0.0):
                pass
        except OSError as exc:
            raise TransportError(self.instrument, request, str(exc)) from None

    def drop_lines(self) -> None:
        """Forget every complete line received; keep a partial last one."""
        self.drain(b"counts")
        del self.rx[: self.rx.rfind(b"\n") + 1]

    def read_line(self, wait_s: float) -> bytes:
        """The next line (ending ``\\n``), waiting at most ``wait_s`` seconds.

        Raises:
            TransportError: no complete line in time, or the link failed.
        """
        deadline = time.monotonic() + wait_s
        while (end := self.rx.find(b"\n")) < 0:
            left = deadline - time.monotonic()
            try:
                if left <= 0 or not self.recv_some(left):
                    raise TransportError(self.instrument, b"counts",
                                         f"no count line within {wait_s:g} s")
            except OSError as exc:
                raise TransportError(self.instrument, b"counts", str(exc)) from None
        line = bytes(self.rx[: end + 1])
        del self.rx[: end + 1]
        return line

    def close(self) -> None:
        """Close the socket (a dead one too)."""
        try:
            self.sock.close()
        except OSError:  # closing a dead socket: nothing left to release
            pass
