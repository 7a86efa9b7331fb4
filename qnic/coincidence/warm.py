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
foreground; with ``--lab``, the kernels of the other lab commands
(:func:`warm_lab`).
"""

from __future__ import annotations

import numpy as np

from qnic.coincidence import _greedy, _outcome_kernel, _outcome_pass, outcome_stream
from qnic.coincidence.outcome_stream import outcome_counts_at
from qnic.instruments import kernel_cache
from qnic.instruments.kernel_cache import Warmup

MODULES = (_greedy, _outcome_kernel, _outcome_pass, outcome_stream)
"""The modules whose kernels the warm-up compiles (their sources key the marker)."""


def warm() -> None:
    """Compile (or load) the kernels ``qnic chsh`` counts with (true and
    accidental windows) by counting a few tags. Counting without offset
    windows (the monitor) compiles on its own first use."""
    t = np.arange(0, 64_000, 1000, dtype=np.int64)
    ch = (np.arange(t.size) % 4 + 1).astype(np.int32)
    outcome_counts_at(t, ch, (1, 2), (3, 4), 10, {3: 5}, (0, 5000), threads=1)
    kernel_cache.mark_warm(MODULES)


def warm_lab() -> None:
    """Compile (or load) the kernels the other lab commands start with:
    counting without offset windows (``qnic monitor``, calibration),
    matching and the cross-correlation (calibration, ``qnic demo``) and an
    arm's outcome events (``qnic demo``). Not started by any command; a
    wheel's build runs it (``python -m qnic.coincidence.warm --lab``,
    :mod:`qnic.instruments.kernel_bundle`)."""
    from qnic.coincidence import cross_correlation, find_coincidences, merge_arm, outcome_counts

    t = np.arange(0, 64_000, 1000, dtype=np.int64)
    ch = (np.arange(t.size) % 4 + 1).astype(np.int32)
    outcome_counts(t, ch, (1, 2), (3, 4), 10, {3: 5}, threads=1)
    find_coincidences(t[::2], t[1::2] + 5, 1000)
    cross_correlation(t[::2], t[1::2], 5000, 100)
    merge_arm(t[::2], t[1::2] + 3, 10)


def cached() -> bool:
    """Whether the counting kernels are marked compiled in the cache."""
    return kernel_cache.warm_marker(MODULES).exists()


def start_warmup() -> Warmup | None:
    """Start compiling the counting kernels in a child process, unless cached."""
    return kernel_cache.start_warmup("qnic.coincidence.warm", MODULES)


if __name__ == "__main__":
    import sys

    warm_lab() if sys.argv[1:] == ["--lab"] else warm()
