"""One point of the group study: N balancers in N/n groups of n, M servers, one seed.

Each step every group draws its question tuple from the group game
(:mod:`qnic.balancing.groups`: an even number of type-C requests among its
n balancers, uniform over such tuples) and a pair of distinct servers
(u, v) from shared randomness, as the pairs of the two-player study do.
Each balancer then routes its request: ``random`` to a uniform server of
all M; ``coin``, ``classical`` and ``ghz`` to u or v by its answer bit.
Arrivals and service follow the pairwise study's server rules and service
times (the point kernel's own server functions, :mod:`qnic.balancing._group_kernel`).

Routing is vectorized in numpy over blocks of steps. Random streams
(``numpy.random.Generator`` keyed by ``SeedSequence``): the workload by
(seed, seed index) only, so every strategy and every M sees the same
requests; the server pairs by (seed, seed index, M), shared by every
strategy; the GHZ outcomes, coins and noise by (seed, seed index, M,
strategy); the service by (seed, seed index, M). Block sizes depend on N
only, so a point is deterministic in its seeds.

The GHZ statistics are simulated (Born rule of the GHZ strategy, with white
noise at visibility V), not taken from the bench, which has two arms.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qnic.balancing import _group_kernel, _point_kernel
from qnic.balancing.groups import (
    GroupError,
    GroupStrategyName,
    answer_bits,
    check_group_size,
    check_visibility,
    draw_questions,
    wins_of,
)
from qnic.balancing.points import QueuePointResult, block_steps, counted_warmup, kernel_rule
from qnic.balancing.queueing import ServerRule, ServiceTime

BLOCK_REQUESTS = 1 << 17
_WORKLOAD, _PAIRS, _NATURE, _SERVICE = 0, 1, 2, 3
_STREAM = {GroupStrategyName.RANDOM: 0, GroupStrategyName.COIN: 1,
           GroupStrategyName.CLASSICAL: 2, GroupStrategyName.GHZ: 3}


@dataclass(frozen=True, eq=False)
class GroupPointSpec:
    """Everything one point of the group study needs (picklable).

    Attributes:
        strategy: how the groups route.
        group_size: n >= 3 balancers per group (one GHZ state per group per step).
        balancers: N, a multiple of n.
        servers: M >= 2.
        steps: steps simulated; warmup_steps: first steps left out of the mean queue.
        seed, seed_index: the study's seed and the repetition.
        visibility: V of the simulated GHZ statistics (``ghz`` only).
        service: service time of a job; rule: the servers' rule (default: the paper's).
    """

    strategy: GroupStrategyName
    group_size: int
    balancers: int
    servers: int
    steps: int
    warmup_steps: int = 0
    seed: int = 0
    seed_index: int = 0
    visibility: float = 1.0
    service: ServiceTime = field(default_factory=ServiceTime)
    rule: ServerRule = ServerRule.C_PAIRS_FIRST

    def check(self) -> None:
        """Raise GroupError naming the first field that cannot run."""
        n = check_group_size(self.group_size)
        if self.balancers < n or self.balancers % n:
            raise GroupError(f"balancers N = {self.balancers} must be a positive multiple of "
                             f"the group size n = {n}")
        if self.servers < 2 or self.steps < 1:
            raise GroupError(f"need servers >= 2 and steps >= 1, got {self.servers}, "
                             f"{self.steps}")
        check_visibility(self.visibility)


@dataclass(frozen=True)
class GroupPointResult(QueuePointResult):
    """What one point measured (the fields of :class:`QueuePointResult`, then its own).

    Attributes:
        rounds: group rounds played (N/n per step; 0 for ``random``).
        wins: rounds won in the group game.
        c_requests: type-C requests; pair_jobs: pair jobs started.
    """

    c_requests: int
    pair_jobs: int


def route_block(spec: GroupPointSpec, questions: NDArray[np.int64], pairs: np.random.Generator,
                nature: np.random.Generator) -> tuple[NDArray[np.int64], int]:
    """Servers of one block's requests, int64 (B, N), and the group rounds won.

    Args:
        questions: int64 (B, G, n): each group's question tuple per step.
        pairs: draws each group's (u, v) per step (and ``random``'s servers).
        nature: draws GHZ outcomes, noise and coins.
    """
    steps, groups, n = questions.shape
    m = spec.servers
    u = pairs.integers(0, m, size=(steps, groups))
    v = (u + 1 + pairs.integers(0, m - 1, size=(steps, groups))) % m
    if spec.strategy is GroupStrategyName.RANDOM:
        return pairs.integers(0, m, size=(steps, groups * n)), 0
    flat = questions.reshape(-1, n)
    bits = answer_bits(spec.strategy, flat, nature, spec.visibility)
    won = int(wins_of(flat, bits).sum())
    servers = np.where(bits.reshape(steps, groups, n) == 1, v[..., None], u[..., None])
    return np.ascontiguousarray(servers.reshape(steps, groups * n), dtype=np.int64), won


def simulate_group_point(spec: GroupPointSpec) -> GroupPointResult:
    """Simulate one point (deterministic in its seeds).

    Raises:
        GroupError: a group size, N, M, steps or visibility that cannot run.
    """
    spec.check()
    n, m = spec.group_size, spec.servers
    groups = spec.balancers // n
    key = (spec.seed, spec.seed_index)
    workload = np.random.default_rng([*key, _WORKLOAD])
    pairs = np.random.default_rng([*key, _PAIRS, m])
    nature = np.random.default_rng([*key, _NATURE, m, _STREAM[spec.strategy]])
    ctr = np.random.SeedSequence([*key, _SERVICE, m]).generate_state(1, np.uint64)[0]
    state = np.zeros((_point_kernel.state_width(1), m), dtype=np.int32)
    open_c = np.zeros(2 * m, dtype=np.int8)
    stats = np.zeros(2, dtype=np.int64)
    warmup = counted_warmup(spec.steps, spec.warmup_steps)
    block = block_steps(spec.steps, spec.balancers, BLOCK_REQUESTS)
    service_steps = int(spec.service.mean_steps) if not spec.service.is_random else 1
    queue_sum, wins, c_requests = 0.0, 0, 0
    for t0 in range(0, spec.steps, block):
        steps = min(block, spec.steps - t0)
        questions = draw_questions(n, steps * groups, workload).reshape(steps, groups, n)
        servers, won = route_block(spec, questions, pairs, nature)
        classes = np.ascontiguousarray(questions.reshape(steps, groups * n))
        queue = np.empty(steps, dtype=np.float64)
        ctr = np.uint64(_group_kernel.serve_block(  # numba returns a Python int
            kernel_rule(spec.rule), classes, servers, state, open_c, stats, ctr,
            service_steps, spec.service.log_q, queue))
        queue_sum += float(queue[max(0, warmup - t0):].sum())
        wins += won
        c_requests += int(classes.sum())
    rounds = 0 if spec.strategy is GroupStrategyName.RANDOM else groups * spec.steps
    return GroupPointResult(spec.strategy.value, m, spec.seed_index,
                            queue_sum / (spec.steps - warmup), float(stats[0]) / m, rounds,
                            wins, c_requests, int(stats[1]))
