"""Compile the counting kernels ahead of need, in a process of their own.

The first ``qnic chsh`` after an install compiles every kernel it meets
(numba; the results are cached per user, docs/architecture.md): the
simulated bench's and the counting ones, some 10 s each on a 2-core machine.
They do not depend on each other, so the command starts this module as a
child process (:func:`start_warmup`) that compiles the counting kernels into
the cache while the command itself imports QCoDeS, opens the station and
compiles the bench's; it waits for the child just before it first counts
(:meth:`Warmup.wait`), and then loads the counting kernels from the cache.
When they are cached already, nothing is started.

Run as ``python -m qnic.coincidence.warm`` it compiles them in the
foreground.
"""

from __future__ import annotations

import subprocess
import sys

import numpy as np

from qnic.coincidence._outcome_pass import count_plain, count_shifted
from qnic.coincidence.outcome_stream import outcome_counts_at
from qnic.instruments.kernel_cache import is_cached


def cached() -> bool:
    """Whether the counting kernels are compiled in the cache."""
    return is_cached(count_plain) and is_cached(count_shifted)


def warm() -> None:
    """Compile (or load) the counting kernels by counting a few tags."""
    t = np.arange(0, 64_000, 1000, dtype=np.int64)
    ch = (np.arange(t.size) % 4 + 1).astype(np.int32)
    outcome_counts_at(t, ch, (1, 2), (3, 4), 10, {3: 5}, (0,), threads=1)
    outcome_counts_at(t, ch, (1, 2), (3, 4), 10, {3: 5}, (0, 5000), threads=1)


class Warmup:
    """A child process compiling the counting kernels (see the module doc)."""

    def __init__(self) -> None:
        self._proc: subprocess.Popen[bytes] | None = subprocess.Popen(
            [sys.executable, "-m", "qnic.coincidence.warm"], stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    def wait(self) -> None:
        """Wait for the child to finish (at once if it has)."""
        if self._proc is not None:
            self._proc.wait()
            self._proc = None

    def stop(self) -> None:
        """Stop the child if it still runs (on errors and Ctrl-C)."""
        if self._proc is not None:
            self._proc.kill()
            self._proc.wait()
            self._proc = None


def start_warmup() -> Warmup | None:
    """Start compiling the counting kernels in a child process, unless cached."""
    return None if cached() else Warmup()


if __name__ == "__main__":
    warm()
