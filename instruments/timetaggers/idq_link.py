"""The ZeroMQ links of an ID Quantique Time Controller (ID900 / ID1000).

Facts: docs/protocols.md 4d (IDQ's own Python examples). Three kinds of
socket, all ZeroMQ:

- the Time Controller's SCPI port: a REQ socket to ``tcp://<ip>:5555``; one
  command string out, one reply string back; an error reply contains
  ``SCPI_ERR_``;
- the PC-side DataLinkTarget service (DLT): a REQ socket to
  ``tcp://localhost:6060``; text commands (``start-stream --address <ip>
  --channel <n> --stream-port <port>``, ``status --id <id>``, ``stop --id
  <id>``, ``list``) answered with JSON, ``{"error": {"description": ...}}`` on
  failure;
- one PAIR socket per channel, connected to the port the DLT streams to
  (``4241 + channel`` in the examples): each message is a block of 8-byte
  timestamps (little-endian unsigned, ps from the start of the acquisition
  when the channel has no reference, ``RAWn:REF:LINK NONE``).
"""

from __future__ import annotations

import json
import threading
from typing import Any

import numpy as np
import zmq

from qnic.instruments.errors import DeviceFaultError, ProtocolError, TransportError

SCPI_PORT = 5555
DLT_PORT = 6060
STREAM_PORT_BASE = 4241
SCPI_ERROR_MARK = "SCPI_ERR_"
TIMESTAMP_DTYPE = np.dtype("<u8")


def _socket(context: zmq.Context[Any], kind: int, address: str, timeout_s: float) -> Any:
    sock = context.socket(kind)
    sock.setsockopt(zmq.LINGER, 0)
    ms = max(1, round(timeout_s * 1e3))
    sock.setsockopt(zmq.RCVTIMEO, ms)
    sock.setsockopt(zmq.SNDTIMEO, ms)
    sock.connect(address)
    return sock


class RequestLink:
    """A REQ socket: one string out, one string back, under a lock.

    A timed-out request leaves a REQ socket unable to send again, so the
    socket is reopened after one.
    """

    def __init__(self, instrument: str, context: zmq.Context[Any], address: str,
                 timeout_s: float) -> None:
        self.instrument = instrument
        self.context = context
        self.address = address
        self.timeout_s = timeout_s
        self._lock = threading.Lock()
        self._sock: Any = _socket(context, zmq.REQ, address, timeout_s)

    def exchange(self, message: str) -> str:
        """Send ``message``; return the reply (TransportError on silence)."""
        with self._lock:
            try:
                self._sock.send_string(message)
                return str(self._sock.recv().decode("utf-8"))
            except zmq.Again:
                self._sock.close()
                self._sock = _socket(self.context, zmq.REQ, self.address, self.timeout_s)
                raise TransportError(self.instrument, message,
                                     f"no reply from {self.address} within {self.timeout_s} s") from None
            except zmq.ZMQError as exc:
                raise TransportError(self.instrument, message, f"ZeroMQ error: {exc}") from exc

    def close(self) -> None:
        with self._lock:
            self._sock.close()


class ScpiLink(RequestLink):
    """The Time Controller's SCPI port."""

    def command(self, message: str) -> str:
        """Send one SCPI command or query; an error reply raises.

        Raises:
            DeviceFaultError: the reply carries ``SCPI_ERR_`` (code -1: the
                controller names its errors rather than numbering them; the
                reply is the meaning).
        """
        reply = self.exchange(message).strip()
        if SCPI_ERROR_MARK in reply:
            raise DeviceFaultError(self.instrument, -1, reply, message)
        return reply


class DltLink(RequestLink):
    """The DataLinkTarget service."""

    def command(self, message: str) -> Any:
        """Send a DLT command; return its JSON answer (None for an empty one).

        Raises:
            DeviceFaultError: the answer is an ``error`` object.
            ProtocolError: the answer is not JSON.
        """
        raw = self.exchange(message)
        try:
            answer = json.loads(raw) if raw.strip() else None
        except json.JSONDecodeError:
            raise ProtocolError(self.instrument, message, raw.encode(), "expected JSON") from None
        if isinstance(answer, dict) and "error" in answer:
            error = answer.get("error") or {}
            text = error.get("description") if isinstance(error, dict) else str(error)
            raise DeviceFaultError(self.instrument, -1, f"DataLinkTarget: {text or 'unknown error'}",
                                   message)
        return answer


class StreamReceiver:
    """The PAIR socket of one channel's timestamp stream."""

    def __init__(self, context: zmq.Context[Any], address: str) -> None:
        self.address = address
        self._sock: Any = _socket(context, zmq.PAIR, address, 1.0)
        self.blocks: list[np.ndarray] = []

    def drain(self, wait_s: float) -> int:
        """Receive every message that arrives within ``wait_s`` s of the last; return how many."""
        poller = zmq.Poller()
        poller.register(self._sock, zmq.POLLIN)
        n = 0
        while poller.poll(max(0, round(wait_s * 1e3))):
            message = self._sock.recv()
            if len(message) % 8:
                raise ProtocolError("idq stream", self.address, bytes(message[:16]),
                                    "a block of 8-byte timestamps expected")
            self.blocks.append(np.frombuffer(message, dtype=TIMESTAMP_DTYPE).astype(np.int64))
            n += 1
        return n

    def timestamps(self) -> np.ndarray:
        """Every timestamp received (int64 ps, in arrival order)."""
        return np.concatenate(self.blocks) if self.blocks else np.empty(0, np.int64)

    def close(self) -> None:
        self._sock.close()
