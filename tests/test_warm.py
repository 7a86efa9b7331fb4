"""Counting kernels compiled ahead of need (qnic.coincidence.warm)."""

from __future__ import annotations

import numba

from qnic.coincidence import warm
from qnic.instruments.kernel_cache import is_cached


def test_once_warm_the_kernels_are_cached_and_nothing_is_started() -> None:
    warm.warm()
    assert warm.cached()
    assert warm.start_warmup() is None


def test_a_kernel_without_a_cache_is_not_cached() -> None:
    @numba.njit
    def plain(x: int) -> int:
        return x + 1

    plain(1)
    assert not is_cached(plain)


def test_a_started_warmup_can_be_waited_for_and_stopped() -> None:
    w = warm.Warmup()
    w.stop()  # killed and reaped: no process left behind
    assert w._proc is None
    w.wait()  # nothing to wait for after a stop
