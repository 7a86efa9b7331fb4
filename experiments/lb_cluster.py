"""The study's points as tasks on a Dask cluster (``qnic lb-sim --scheduler/--local-cluster``).

Each point is one task (``client.map(simulate_point, specs, pure=False)``);
the results come back in the order of the specs, so a sweep on a cluster
gives exactly the numbers of a local run with the same seeds (every point is
deterministic in its seeds). Workers need qnic-bench installed in the same
version; the compiled kernel is built (and cached) once per worker machine.

Needs the ``distributed`` package (``pip install qnic-bench[cluster]``).
"""

from __future__ import annotations

import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

CONNECT_TIMEOUT_S = 5.0
"""Seconds to wait for a scheduler to answer before giving up."""

T = TypeVar("T")
R = TypeVar("R")


class ClusterError(RuntimeError):
    """The cluster cannot be used: ``distributed`` is missing, or no scheduler answers."""


@dataclass(frozen=True)
class ClusterSpec:
    """Where the tasks go: a running scheduler, or a LocalCluster started for the run.

    Attributes:
        address: the scheduler's address (``tcp://host:8786``), or None.
        local_workers: start a ``distributed.LocalCluster`` of this many
            single-threaded worker processes on 127.0.0.1 instead (and close it
            after the run).
    """

    address: str | None = None
    local_workers: int | None = None

    def __post_init__(self) -> None:
        if (self.address is None) == (self.local_workers is None):
            raise ValueError("give either a scheduler address or a number of local workers")
        if self.local_workers is not None and self.local_workers < 1:
            raise ValueError(f"a local cluster needs at least one worker, got {self.local_workers}")

    def describe(self) -> str:
        """E.g. "scheduler tcp://10.0.0.5:8786" or "local cluster of 2 workers"."""
        if self.address is not None:
            return f"scheduler {self.address}"
        return f"local cluster of {self.local_workers} workers"


def require_distributed() -> Any:
    """The ``distributed`` module, or a ClusterError naming the missing package."""
    try:
        import distributed
    except ImportError as exc:
        raise ClusterError("a Dask cluster needs the 'distributed' package (pip install "
                           f"'qnic-bench[cluster]', or pip install 'dask[distributed]'): {exc}"
                           ) from None
    return distributed


def _probe(address: str, timeout_s: float) -> None:
    """Open and close a TCP connection to a tcp:// or tls:// address (fails fast when
    nothing listens), so a dead address never reaches ``distributed.Client``."""
    from distributed.comm.addressing import parse_address, parse_host_port

    try:
        scheme, location = parse_address(address)
        host, port = parse_host_port(location)
    except (ValueError, TypeError) as exc:
        raise ClusterError(f"{address!r} is not a Dask scheduler address "
                           f"(tcp://HOST:PORT): {exc}") from None
    if scheme not in ("tcp", "tls"):
        return
    try:
        socket.create_connection((host, int(port)), timeout=timeout_s).close()
    except OSError as exc:
        raise ClusterError(f"no Dask scheduler answers at {address} "
                           f"({exc.strerror or type(exc).__name__}, waited at most "
                           f"{timeout_s:g} s)") from None


def connect(address: str, timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """A ``distributed.Client`` of the scheduler at ``address``.

    Raises:
        ClusterError: no scheduler answers within ``timeout_s`` (the message
            names the address), or the address is malformed.
    """
    distributed = require_distributed()
    _probe(address, timeout_s)
    try:
        return distributed.Client(address, timeout=f"{timeout_s}s", set_as_default=False)
    except Exception as exc:  # anything listening there that is not a scheduler
        raise ClusterError(f"no Dask scheduler answers at {address} within {timeout_s:g} s "
                           f"({type(exc).__name__}: {str(exc)[:200]})") from None


def run_on_dask(fn: Callable[[T], R], items: Sequence[T], cluster: ClusterSpec,
                progress: Callable[[int, int], None] | None = None) -> list[R]:
    """``[fn(item) for item in items]``, each call a task on the cluster.

    Args:
        fn: a module-level function (workers import it by name).
        items: picklable arguments.
        cluster: where to run.
        progress: called with (done, total) as tasks finish.

    Raises:
        ClusterError: as :func:`connect`.
    """
    distributed = require_distributed()
    local = None
    if cluster.address is not None:
        client = connect(cluster.address)
    else:
        # its HTTP server on a free port: the default, 8787, may be another cluster's
        local = distributed.LocalCluster(
            n_workers=cluster.local_workers, threads_per_worker=1, processes=True,
            host="127.0.0.1", dashboard_address="127.0.0.1:0")
        client = distributed.Client(local, set_as_default=False)
    try:
        with client.as_current():
            futures = client.map(fn, list(items), pure=False)
            if progress is not None:
                for done, _ in enumerate(distributed.as_completed(futures), start=1):
                    progress(done, len(futures))
            return list(client.gather(futures))
    finally:
        client.close()
        if local is not None:
            local.close()
