"""Servers of the load-balancing study (docs/balancing.md; paper section 4.1).

:class:`ServerBank` is the step-block engine of the same-step rule
(:attr:`ServerRule.SAME_STEP`), kept as the reference the compiled point
kernel (:mod:`qnic.balancing.simulate`) is checked and benchmarked against.
Per step every request arrives at its server first, then each idle server
starts a job and each busy one works. A server serves one job at a time: a
type-E request alone, or a type-C request alone, or two type-C requests of
one subtype together. Two type-C requests of one subtype form a pair job when
they reach the same server in the same step (co-location is a decision of the
balancers, made together); a type-C request that arrived alone stays a single
job. Of several waiting jobs an idle server starts one chosen uniformly at
random (random order of service: the number of jobs waiting does not depend
on the order, the number of requests a little).

Service takes ``mean_steps`` steps exactly (fixed) or a geometric number of
steps with that mean; with one step a server clears one job per step.
The queue length of a server is the number of requests waiting or in
service at the end of a step.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import Enum
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.balancing._queue_kernel import advance_block, empty_draws


class ServerRule(str, Enum):
    """Which job an idle server starts (docs/balancing.md)."""

    C_PAIRS_FIRST = "c-pairs-first"
    """The paper's rule, the default: two waiting type-C requests of one subtype together
    first (whenever they arrived), then type-E requests one at a time, then a lone C."""
    SAME_STEP = "same-step"
    """Two type-C requests of one subtype form a pair job only when they reach the server
    in the same step; every job waits in random order of service (:class:`ServerBank`)."""


class ServiceModel(str, Enum):
    """How long a job occupies its server."""

    FIXED = "fixed"
    """Exactly ``mean_steps`` steps (an integer)."""
    GEOMETRIC = "geometric"
    """Geometric with mean ``mean_steps`` (memoryless, >= 1 step)."""


@dataclass(frozen=True)
class ServiceTime:
    """Service time of one job (pair or single), in steps.

    Attributes:
        mean_steps: mean steps per job (>= 1; an integer for FIXED).
        model: FIXED or GEOMETRIC.
    """

    mean_steps: float = 1.0
    model: ServiceModel = ServiceModel.FIXED

    def __post_init__(self) -> None:
        object.__setattr__(self, "model", ServiceModel(self.model))
        if not (math.isfinite(self.mean_steps) and self.mean_steps >= 1.0):
            raise ValueError(f"service time must be at least one step, got {self.mean_steps}")
        if self.model is ServiceModel.FIXED and self.mean_steps != int(self.mean_steps):
            raise ValueError(f"a fixed service time is a whole number of steps, "
                             f"got {self.mean_steps}")

    @property
    def is_random(self) -> bool:
        """Whether service times are drawn (geometric with mean > 1)."""
        return self.model is ServiceModel.GEOMETRIC and self.mean_steps > 1.0

    @property
    def log_q(self) -> float:
        """log(1 - 1/mean) for geometric times, 0 for fixed ones (the kernel's flag)."""
        return math.log1p(-1.0 / self.mean_steps) if self.is_random else 0.0

    def describe(self) -> str:
        """E.g. "fixed, 1 step" or "geometric, mean 2.5 steps"."""
        unit = "step" if self.mean_steps == 1 else "steps"
        if self.model is ServiceModel.FIXED:
            return f"fixed, {int(self.mean_steps)} {unit}"
        return f"geometric, mean {self.mean_steps:g} {unit}"


class ServerBank:
    """M servers with their queues.

    Args:
        servers: M (>= 1).
        subtypes: K, the number of type-C subtypes that must not mix (>= 1).
        service: service time of a job.
    """

    def __init__(self, servers: int, subtypes: int = 1,
                 service: ServiceTime | None = None) -> None:
        if servers < 1 or subtypes < 1:
            raise ValueError(f"need servers >= 1 and subtypes >= 1, got {servers}, {subtypes}")
        self.servers = int(servers)
        self.subtypes = int(subtypes)
        self.service = service or ServiceTime()
        self.waiting_pairs = np.zeros(servers, dtype=np.int64)
        self.waiting_singles = np.zeros(servers, dtype=np.int64)
        self.remaining = np.zeros(servers, dtype=np.int64)
        self.in_service = np.zeros(servers, dtype=np.int64)
        self._open = np.zeros(servers * subtypes, dtype=np.int8)

    @property
    def queue_lengths(self) -> NDArray[np.int64]:
        """Requests waiting or in service per server, int64 (M,)."""
        return 2 * self.waiting_pairs + self.waiting_singles + self.in_service

    def advance(self, servers: NDArray[np.int64], req_class: NDArray[np.int16],
                rng: np.random.Generator, second: NDArray[np.int64] | None = None,
                ) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
        """Run B steps.

        Args:
            servers: int64 (B, N): each request's server (its first candidate
                when ``second`` is given; then overwritten with the choice).
            req_class: int16 (B, N): 0 for type E, 1 + s for type C of subtype s.
            rng: draws the order of service and geometric service times.
            second: int64 (B, N): second candidates for the power of two
                choices (the shorter queue at the start of the step wins).

        Returns:
            (mean queue length per server after each step, float64 (B,);
            pair jobs started per step, int64 (B,)).
        """
        steps = req_class.shape[0]
        for name, arr in (("servers", servers), ("second", second)):
            if arr is None:
                continue
            if arr.dtype != np.int64 or not arr.flags.c_contiguous:
                raise TypeError(f"{name} must be a C-contiguous int64 array")
            if arr.shape != req_class.shape:
                raise ValueError(f"{name} {arr.shape} and classes {req_class.shape} differ")
            if arr.size and (arr.min() < 0 or arr.max() >= self.servers):
                raise ValueError(f"{name}: server indices must lie within [0, {self.servers})")
        if req_class.dtype != np.int16 or not req_class.flags.c_contiguous:
            raise TypeError("req_class must be a C-contiguous int16 array")
        if req_class.size and (req_class.min() < 0 or req_class.max() > self.subtypes):
            raise ValueError(f"request classes must lie within [0, {self.subtypes}]")
        service_u = rng.random((steps, self.servers))
        length_u = rng.random((steps, self.servers)) if self.service.is_random else empty_draws()
        queue = np.empty(steps, dtype=np.float64)
        pairs = np.empty(steps, dtype=np.int64)
        advance_block(servers, servers if second is None else second, req_class, self.subtypes,
                      service_u, length_u, self.waiting_pairs, self.waiting_singles,
                      self.remaining, self.in_service, self._open,
                      int(self.service.mean_steps), self.service.log_q, second is not None,
                      queue, pairs)
        return queue, pairs

    def snapshot(self) -> dict[str, Any]:
        """Totals over the servers (for reports and tests)."""
        return {"requests": int(self.queue_lengths.sum()),
                "pair_jobs_waiting": int(self.waiting_pairs.sum()),
                "single_jobs_waiting": int(self.waiting_singles.sum()),
                "busy_servers": int(np.count_nonzero(self.remaining))}
