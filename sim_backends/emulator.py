"""Base of every serial device emulator: a byte pipe in virtual time.

The host writes bytes with :meth:`SerialEmulator.receive`; the device answers
by scheduling reply bytes at a virtual instant with :meth:`schedule`. A read
waits (in virtual time, advancing the bench clock) until bytes are due or the
read timeout passes, exactly as a blocking serial read would on hardware.
"""

from __future__ import annotations

import heapq
import itertools
import threading
from abc import ABC, abstractmethod

from qnic.instruments.clock import VirtualClock
from qnic.sim.faults import Fault


class SerialEmulator(ABC):
    """A simulated serial device.

    Args:
        clock: the bench's virtual clock.
    """

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock
        self._pending: list[tuple[float, int, bytes]] = []
        self._seq = itertools.count()
        self._rx = bytearray()
        self.lock = threading.RLock()
        self.connected = True

    # -- host side ------------------------------------------------------
    @abstractmethod
    def receive(self, data: bytes) -> None:
        """Bytes written by the host."""

    def read(self, size: int, timeout_s: float | None) -> bytes:
        """Up to ``size`` bytes, waiting in virtual time at most ``timeout_s``
        (``None``: until bytes are due; 0: only what is due now)."""
        with self.lock:
            self._collect(self.clock.now())
            if not self._rx:
                due = self._pending[0][0] if self._pending else None
                now = self.clock.now()
                if due is not None and (timeout_s is None or due <= now + timeout_s):
                    self.clock.advance_to(due)
                    self._collect(due)
                elif timeout_s is not None:
                    self.clock.advance_to(now + timeout_s)
                    self._collect(self.clock.now())
                else:
                    raise RuntimeError("read without timeout would block forever")
            out = bytes(self._rx[:size])
            del self._rx[:size]
            return out

    def in_waiting(self) -> int:
        with self.lock:
            self._collect(self.clock.now())
            return len(self._rx)

    def reset_input(self) -> None:
        with self.lock:
            self._collect(self.clock.now())
            self._rx.clear()

    # -- device side ----------------------------------------------------
    def schedule(self, data: bytes, at_s: float | None = None) -> None:
        """Make ``data`` readable from virtual time ``at_s`` (default: now)."""
        t = self.clock.now() if at_s is None else at_s
        heapq.heappush(self._pending, (t, next(self._seq), data))

    def cancel_pending(self) -> None:
        """Drop every reply not yet delivered (power cycle, disconnect)."""
        self._pending.clear()

    def apply_link_fault(self, fault: Fault) -> bool:
        """Act at once on DISCONNECT (replies in flight and buffered input
        are lost with the link) or RECONNECT; True when ``fault`` was one."""
        if fault is Fault.DISCONNECT:
            self.connected = False
            self.cancel_pending()
            self._rx.clear()
            self.drop_input()
            return True
        if fault is Fault.RECONNECT:
            self.connected = True
            return True
        return False

    def drop_input(self) -> None:
        """Forget partly received host input (emulators that buffer it override)."""

    def _collect(self, now_s: float) -> None:
        while self._pending and self._pending[0][0] <= now_s:
            self._rx += heapq.heappop(self._pending)[2]
