"""Clocks: every wait in the project goes through one.

Hardware runs on :class:`RealClock`; the simulated bench runs on a
:class:`VirtualClock`, whose time only moves when something advances it, so
ten seconds of bench time cost a fraction of that and tests never sleep.
"""

from __future__ import annotations

import threading
import time
from typing import Protocol, runtime_checkable


@runtime_checkable
class Clock(Protocol):
    """A source of time in seconds that can also wait."""

    def now(self) -> float:
        """Return the current time in seconds (monotonic, arbitrary origin)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Wait for ``seconds`` (float, >= 0)."""
        ...


class RealClock:
    """Wall-clock time from :func:`time.monotonic`."""

    def now(self) -> float:
        return time.monotonic()

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        time.sleep(seconds)


class VirtualClock:
    """Simulated time: starts at ``start_s`` and moves only when advanced.

    ``sleep`` advances it at once. It is thread-safe, and time never runs
    backwards: ``advance_to`` a past instant is a no-op.
    """

    def __init__(self, start_s: float = 0.0) -> None:
        self._now = float(start_s)
        self._lock = threading.Lock()

    def now(self) -> float:
        with self._lock:
            return self._now

    def sleep(self, seconds: float) -> None:
        if seconds < 0:
            raise ValueError(f"cannot sleep a negative time ({seconds} s)")
        with self._lock:
            self._now += seconds

    def advance_to(self, t_s: float) -> float:
        """Move the clock forward to ``t_s`` (seconds); return the new time."""
        with self._lock:
            if t_s > self._now:
                self._now = float(t_s)
            return self._now
