"""What one point of a queueing study measured, alike for the pairs of the two-player study
(:mod:`qnic.balancing.simulate`) and the GHZ groups (:mod:`qnic.balancing.group_queue`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from qnic.balancing import _point_kernel
from qnic.balancing.queueing import ServerRule


@dataclass(frozen=True)
class QueuePointResult:
    """The fields every point reports first (subclasses add theirs after them).

    Attributes:
        strategy, servers, seed_index: identify the point.
        mean_queue: time-averaged requests per server (waiting or in
            service) after the warm-up.
        final_queue: requests per server at the end.
        rounds: game rounds played; wins: rounds won.
    """

    strategy: str
    servers: int
    seed_index: int
    mean_queue: float
    final_queue: float
    rounds: int
    wins: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def counted_warmup(steps: int, warmup_steps: int) -> int:
    """The warm-up steps a point leaves out of its mean queue: within [0, steps - 1]."""
    return min(max(warmup_steps, 0), steps - 1)


def block_steps(steps: int, balancers: int, block_requests: int) -> int:
    """Steps per block of a vectorized engine: about ``block_requests`` requests, at least one
    step, at most all of them."""
    return max(1, min(steps, block_requests // balancers))


_KERNEL_RULES = {ServerRule.C_PAIRS_FIRST: _point_kernel.C_PAIRS_FIRST,
                 ServerRule.SAME_STEP: _point_kernel.SAME_STEP}


def kernel_rule(rule: ServerRule | str) -> int:
    """The compiled kernels' code of a server rule (its enum or value)."""
    return _KERNEL_RULES[ServerRule(rule)]


__all__ = ["QueuePointResult", "block_steps", "counted_warmup", "kernel_rule"]
