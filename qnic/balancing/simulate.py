"""One point of the load-balancing study: a strategy, N balancers, M servers, one seed.

Each step every balancer receives one request, type C with probability
``c_probability`` (of a subtype drawn uniformly among ``c_subtypes``), else
type E; the router sends each to a server; the server bank
(:mod:`qnic.balancing.queueing`) queues and serves them.

Random streams (``numpy.random.default_rng`` keyed by the run's seed, the
seed index and the stream's role): the workload depends on (seed, seed index)
only, so every strategy and every M sees the same requests; the routing
stream on the strategy's stream id and M (the pairwise strategies share
one); the service stream on M. Steps run in blocks of about 2^18 requests.
Quantum strategies consume heralded (coincidence-matched) pairs; a
deployment needs heralded or stored pairs.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.balancing.game import lb_wins
from qnic.balancing.queueing import ServerBank, ServiceTime
from qnic.balancing.routing import STRATEGIES, StrategyOptions, make_router

BLOCK_REQUESTS = 1 << 18
_WORKLOAD, _ROUTING, _SERVICE = 0, 1, 2


@dataclass(frozen=True, eq=False)
class PointSpec:
    """Everything one simulation point needs (picklable, for worker processes).

    Attributes:
        strategy: registry name.
        balancers: N.
        servers: M (>= 2).
        steps: steps simulated.
        warmup_steps: first steps left out of the mean queue.
        seed: the study's seed.
        seed_index: which repetition (0, 1, ...).
        c_probability: probability that a request is type C.
        c_subtypes: type-C subtypes that must not mix (>= 1).
        service: service time of a job.
        options: visibility or measured statistics for quantum strategies.
    """

    strategy: str
    balancers: int
    servers: int
    steps: int
    warmup_steps: int = 0
    seed: int = 0
    seed_index: int = 0
    c_probability: float = 0.5
    c_subtypes: int = 1
    service: ServiceTime = field(default_factory=ServiceTime)
    options: StrategyOptions = field(default_factory=StrategyOptions)


@dataclass(frozen=True)
class PointResult:
    """What one point measured.

    Attributes:
        strategy, servers, seed_index: identify the point.
        mean_queue: time-averaged requests per server (waiting or in
            service) after the warm-up.
        final_queue: requests per server at the end.
        rounds: pair decisions made (P per step, P = N // 2).
        wins: rounds won in the CHSH load-balancing game (same server
            exactly when both requests are type C).
        pairs_consumed: heralded pairs consumed (quantum strategies).
        c_requests: type-C requests; pair_jobs: pair jobs started.
    """

    strategy: str
    servers: int
    seed_index: int
    mean_queue: float
    final_queue: float
    rounds: int
    wins: int
    pairs_consumed: int
    c_requests: int
    pair_jobs: int

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready fields."""
        return asdict(self)


def _classes(rng: np.random.Generator, steps: int, balancers: int, c_probability: float,
             subtypes: int) -> NDArray[np.int16]:
    """Request classes (0: E, 1 + s: C of subtype s), int16 (steps, N)."""
    is_c = rng.random((steps, balancers)) < c_probability
    if subtypes == 1:
        return is_c.astype(np.int16)
    sub = rng.integers(1, subtypes + 1, (steps, balancers), dtype=np.int16)
    return np.where(is_c, sub, np.int16(0)).astype(np.int16)


def simulate_point(spec: PointSpec) -> PointResult:
    """Simulate one point (deterministic in its seeds).

    Raises:
        StrategyError: unknown strategy or missing option.
        ValueError: fewer than two servers, or steps < 1.
    """
    if spec.servers < 2 or spec.steps < 1 or spec.balancers < 1:
        raise ValueError(f"need servers >= 2, steps >= 1, balancers >= 1: got {spec.servers}, "
                         f"{spec.steps}, {spec.balancers}")
    info = STRATEGIES.get(spec.strategy)
    stream = info.stream if info is not None else -1
    workload = np.random.default_rng([spec.seed, spec.seed_index, _WORKLOAD])
    routing = np.random.default_rng([spec.seed, spec.seed_index, _ROUTING, stream, spec.servers])
    service = np.random.default_rng([spec.seed, spec.seed_index, _SERVICE, spec.servers])
    router = make_router(spec.strategy, spec.servers, spec.balancers, routing, spec.options)
    bank = ServerBank(spec.servers, spec.c_subtypes, spec.service)
    n_pairs = spec.balancers // 2
    warmup = min(max(spec.warmup_steps, 0), spec.steps - 1)
    block = max(1, min(spec.steps, BLOCK_REQUESTS // spec.balancers))
    queue_sum, wins, c_requests, pair_jobs = 0.0, 0, 0, 0
    for t0 in range(0, spec.steps, block):
        steps = min(block, spec.steps - t0)
        req_class = _classes(workload, steps, spec.balancers, spec.c_probability, spec.c_subtypes)
        routes = router.route(t0, req_class)
        queue, pairs = bank.advance(routes.servers, req_class, service, routes.second)
        first_counted = max(0, warmup - t0)
        queue_sum += float(queue[first_counted:].sum())
        pair_jobs += int(pairs.sum())
        c_requests += int(np.count_nonzero(req_class))
        if n_pairs:
            s = routes.servers[:, :2 * n_pairs]
            wins += int(lb_wins(req_class[:, 0::2][:, :n_pairs], req_class[:, 1::2][:, :n_pairs],
                                s[:, 0::2] == s[:, 1::2]).sum())
    counted = spec.steps - warmup
    quantum = info is not None and info.quantum
    return PointResult(spec.strategy, spec.servers, spec.seed_index, queue_sum / counted,
                       float(bank.queue_lengths.mean()), n_pairs * spec.steps, wins,
                       n_pairs * spec.steps if quantum else 0, c_requests, pair_jobs)
