"""Compile the queue kernel of ``qnic demo`` ahead of need.

``python -m qnic.balancing.warm`` steps a small bank of servers once, which
compiles (or loads) :func:`qnic.balancing._queue_kernel.advance_block` with
the argument types :meth:`qnic.balancing.queueing.ServerBank.advance`
passes. No command starts it; a wheel's build runs it beside the other
warm-ups, so the first ``qnic demo`` after an install compiles nothing
(:mod:`qnic.instruments.kernel_bundle`, docs/architecture.md).
"""

from __future__ import annotations

import numpy as np

from qnic.balancing.queueing import ServerBank, ServiceModel, ServiceTime


def warm() -> None:
    """Step a bank of fixed and of geometric service times (the demo's two models)."""
    for service in (ServiceTime(), ServiceTime(2.0, ServiceModel.GEOMETRIC)):
        bank = ServerBank(4, 1, service)
        bank.advance(np.zeros((2, 3), np.int64), np.zeros((2, 3), np.int16),
                     np.random.default_rng(0))


if __name__ == "__main__":
    warm()
