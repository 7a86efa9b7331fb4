"""Numba kernel of the server bank: arrivals, pairing of type-C requests, service.

The queue recursion is sequential in time (each step starts from the last
one's queues), so numpy cannot vectorize it across steps; this loop does one
pass over the step's requests and one over the servers. Compiled with
``cache=True`` so the compilation cost is paid once per machine.
"""

from __future__ import annotations

import math

import numpy as np

from qnic.instruments.kernel_cache import cached_njit


@cached_njit()
def advance_block(servers: np.ndarray, second: np.ndarray, req_class: np.ndarray,
                  subtypes: int, service_u: np.ndarray, length_u: np.ndarray,
                  waiting_pairs: np.ndarray, waiting_singles: np.ndarray,
                  remaining: np.ndarray, in_service: np.ndarray, open_c: np.ndarray,
                  service_steps: int, log_q: float, choose_shorter: bool,
                  queue_mean: np.ndarray, pair_jobs: np.ndarray) -> None:
    """Advance the servers through a block of B steps (in place).

    Args:
        servers: int64 (B, N): each request's server; with ``choose_shorter``
            its first candidate, overwritten with the server chosen.
        second: int64 (B, N): second candidates (read only with ``choose_shorter``).
        req_class: int16 (B, N): 0 for type E, k >= 1 for type C of subtype k - 1.
        subtypes: number of type-C subtypes K.
        service_u: float64 (B, M): uniform draws choosing the job to start.
        length_u: float64 (B, M): uniform draws for geometric service times
            (unused when ``log_q == 0``).
        waiting_pairs, waiting_singles: int64 (M,): jobs waiting per server
            (a pair job holds two type-C requests).
        remaining: int64 (M,): steps left of the job in service (0: idle).
        in_service: int64 (M,): requests in the job in service (0, 1, 2).
        open_c: int8 (M * K,): scratch, all zero between steps.
        service_steps: fixed service time in steps (when ``log_q == 0``).
        log_q: log(1 - 1/mean) for geometric service times, 0 for fixed.
        choose_shorter: power of two choices: take the candidate with the
            shorter queue at the start of the step (ties: the first).
        queue_mean: float64 (B,) out: mean requests per server after each step.
        pair_jobs: int64 (B,) out: pair jobs started in each step.
    """
    n_steps, n_req = req_class.shape
    n_srv = waiting_pairs.size
    for t in range(n_steps):
        if choose_shorter:
            for i in range(n_req):
                s1 = servers[t, i]
                s2 = second[t, i]
                q1 = 2 * waiting_pairs[s1] + waiting_singles[s1] + in_service[s1]
                q2 = 2 * waiting_pairs[s2] + waiting_singles[s2] + in_service[s2]
                if q2 < q1:
                    servers[t, i] = s2
        for i in range(n_req):
            s = servers[t, i]
            c = req_class[t, i]
            if c == 0:
                waiting_singles[s] += 1
            else:
                key = s * subtypes + c - 1
                if open_c[key] == 1:  # second C of its subtype here this step: one job
                    open_c[key] = 0
                    waiting_singles[s] -= 1
                    waiting_pairs[s] += 1
                else:
                    open_c[key] = 1
                    waiting_singles[s] += 1
        for i in range(n_req):
            c = req_class[t, i]
            if c > 0:
                open_c[servers[t, i] * subtypes + c - 1] = 0
        total = 0
        started = 0
        for m in range(n_srv):
            if remaining[m] == 0:
                w = waiting_pairs[m] + waiting_singles[m]
                if w > 0:  # random order of service among the waiting jobs
                    if service_u[t, m] * w < waiting_pairs[m]:
                        waiting_pairs[m] -= 1
                        in_service[m] = 2
                        started += 1
                    else:
                        waiting_singles[m] -= 1
                        in_service[m] = 1
                    if log_q < 0.0:
                        remaining[m] = 1 + int(math.floor(math.log(1.0 - length_u[t, m]) / log_q))
                    else:
                        remaining[m] = service_steps
            if remaining[m] > 0:
                remaining[m] -= 1
                if remaining[m] == 0:
                    in_service[m] = 0
            total += 2 * waiting_pairs[m] + waiting_singles[m] + in_service[m]
        queue_mean[t] = total / n_srv
        pair_jobs[t] = started


def empty_draws() -> np.ndarray:
    """A (0, 0) float64 placeholder for draws a configuration does not use."""
    return np.zeros((0, 0), dtype=np.float64)
