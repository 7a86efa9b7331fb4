"""The servers of the group study, stepped in one numba loop over a block of routed steps.

Routing of the groups (:mod:`qnic.balancing.group_queue`) is vectorized in
numpy over a block of steps; each step's arrivals and service then run the
point kernel's own server functions (:func:`qnic.balancing._point_kernel.arrive`,
``serve_unit`` and ``serve``), so the group study queues exactly as the
pairwise study does under either server rule.
"""

from __future__ import annotations

import numpy as np

from qnic.balancing import _point_kernel as pk
from qnic.instruments.kernel_cache import cached_njit


@cached_njit()
def serve_block(rule: int, classes: np.ndarray, servers: np.ndarray, state: np.ndarray,
                open_c: np.ndarray, stats: np.ndarray, ctr: np.uint64, service_steps: int,
                log_q: float, queue: np.ndarray) -> np.uint64:
    """Let B routed steps arrive and be served; returns the service counter.

    Args:
        rule: ``_point_kernel.C_PAIRS_FIRST`` or ``SAME_STEP``.
        classes: int64 (B, N): 0 for type E, 1 for type C (one subtype).
        servers: int64 (B, N): each request's server in [0, M).
        state: int32 (W, M): the point kernel's server state, carried between blocks.
        open_c: int8 (2 M,): the same-step rule's partner slots (zero between steps).
        stats: int64 (2,): requests in the system, pair jobs started (+=).
        ctr: SplitMix64 counter of the service draws.
        service_steps, log_q: fixed service time, or log(1 - 1/mean) < 0 for geometric.
        queue: float64 (B,) out: requests per server after each step.
    """
    unit_service = service_steps == 1 and log_q == 0.0
    n_srv = state.shape[1]
    for t in range(classes.shape[0]):
        pk.arrive(rule, classes[t], servers[t], state, 1, open_c)
        if unit_service:
            ctr = pk.serve_unit(rule, ctr, 1, state, stats)
        else:
            ctr = pk.serve(rule, ctr, 1, service_steps, log_q, state, stats)
        queue[t] = stats[0] / n_srv
    return ctr
