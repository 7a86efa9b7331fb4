"""One BLAS thread for the small dense algebra of the game solvers.

The matrices of XOR-game SDPs have tens to a few hundred rows. OpenBLAS
splits even these across its threads, and on a machine whose cores are
busy a thread that is descheduled stalls every call: measured on 2 shared
cores, the 64 x 64 Tsirelson SDP took 3.2 s with OpenBLAS's default two
threads and 0.09 s with one. The solvers therefore run their linear algebra
(numpy's and the one numba calls through scipy) on one thread, restored on
exit; threadpoolctl finds and sets both libraries.
"""

from __future__ import annotations

import functools
from collections.abc import Iterator
from contextlib import contextmanager

from threadpoolctl import ThreadpoolController


@functools.cache
def _controller() -> ThreadpoolController:
    import scipy.linalg.cython_lapack  # noqa: F401  (numba's LAPACK: loaded before the scan)

    return ThreadpoolController()


@contextmanager
def one_blas_thread() -> Iterator[None]:
    """Run the block with every loaded BLAS on one thread (about 10 us to enter)."""
    with _controller().limit(limits=1, user_api="blas"):
        yield
