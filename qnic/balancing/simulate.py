"""One point of the load-balancing study: a strategy, N balancers, M servers, one seed.

Each step every balancer receives one request, type C with probability
``c_probability`` (of a subtype drawn uniformly among ``c_subtypes``), else
type E; the router sends each to a server; the servers queue and serve them
under the point's server rule (:class:`~qnic.balancing.queueing.ServerRule`).

:func:`simulate_point` runs the point in one compiled loop
(:mod:`qnic.balancing._point_kernel`): arrivals, routing and service per
step, no arrays of the whole run. Its random streams are SplitMix64 counters
keyed (``numpy.random.SeedSequence``) by the run's seed, the seed index and
the stream's role: the workload by (seed, seed index) only, so every
strategy and every M sees the same requests; the server pairs and the
outcomes of heralded pairs by the strategy's stream id and M (the pairwise
strategies share one, so within a run they see the same server pairs and
the same outcome draws); the service by M.

:func:`simulate_point_blocks` is the engine this replaced (numpy routing of
blocks of steps, then :class:`~qnic.balancing.queueing.ServerBank`; the
same-step rule and the strategies of the CHSH game only), kept as the
reference of the benchmark and of a cross-check test.

Quantum strategies consume heralded (coincidence-matched) pairs; a
deployment needs heralded or stored pairs.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from numpy.typing import NDArray

from qnic.balancing import _point_kernel as kernel
from qnic.balancing.decisions import PairStrategy
from qnic.balancing.game import lb_wins
from qnic.balancing.points import QueuePointResult, block_steps, counted_warmup, kernel_rule
from qnic.balancing.queueing import ServerBank, ServerRule, ServiceTime
from qnic.balancing.routing import (
    STRATEGIES,
    StrategyError,
    StrategyOptions,
    make_router,
    pair_strategy,
)
from qnic.balancing.subtypes import solved_subtype_strategy

BLOCK_REQUESTS = 1 << 18
_WORKLOAD, _ROUTING, _SERVICE, _NATURE = 0, 1, 2, 3


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
        rule: the servers' rule (default: the paper's, C pairs first).
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
    rule: ServerRule = ServerRule.C_PAIRS_FIRST


@dataclass(frozen=True)
class PointResult(QueuePointResult):
    """What one point measured (the fields of :class:`QueuePointResult`, then its own).

    Attributes:
        rounds: pair decisions made (P per step, P = N // 2).
        wins: rounds won in the load-balancing game (same server exactly
            when both requests are type C of one subtype).
        pairs_consumed: heralded pairs consumed (quantum strategies).
        c_requests: type-C requests; pair_jobs: pair jobs started.
    """

    pairs_consumed: int
    c_requests: int
    pair_jobs: int


def _classes(rng: np.random.Generator, steps: int, balancers: int, c_probability: float,
             subtypes: int) -> NDArray[np.int16]:
    """Request classes (0: E, 1 + s: C of subtype s), int16 (steps, N)."""
    is_c = rng.random((steps, balancers)) < c_probability
    if subtypes == 1:
        return is_c.astype(np.int16)
    sub = rng.integers(1, subtypes + 1, (steps, balancers), dtype=np.int16)
    return np.where(is_c, sub, np.int16(0)).astype(np.int16)


_FUSED_ONLY = ("quantum-xor", "hash-subtype")
_NO_TABLE = np.zeros((2, 2), dtype=np.int8)
_NO_SOURCE = np.zeros((4, 3), dtype=np.uint64)
_MODES = {"random": kernel.RANDOM, "round-robin": kernel.ROUND_ROBIN,
          "power-of-two": kernel.POWER_OF_TWO, "hash-subtype": kernel.HASH_SUBTYPE}


def _check(spec: PointSpec) -> None:
    if spec.servers < 2 or spec.steps < 1 or spec.balancers < 1 or spec.c_subtypes < 1:
        raise ValueError(f"need servers >= 2, steps >= 1, balancers >= 1, subtypes >= 1: got "
                         f"{spec.servers}, {spec.steps}, {spec.balancers}, {spec.c_subtypes}")
    if spec.strategy not in STRATEGIES:
        raise StrategyError(f"unknown strategy {spec.strategy!r}; known: {', '.join(STRATEGIES)}")


def point_pair_strategy(spec: PointSpec) -> tuple[PairStrategy, bool]:
    """The decision-layer strategy of a table-driven pairwise point, and whether it
    asks the request's class (K + 1 questions) rather than C or E."""
    if spec.strategy == "quantum-xor":
        return solved_subtype_strategy(spec.c_subtypes, float(spec.c_probability)), True
    return pair_strategy(spec.strategy, spec.options), False


def stream_seed(*key: int) -> np.uint64:
    """A 64-bit SplitMix64 counter start from integers (numpy's SeedSequence)."""
    return np.random.SeedSequence(list(key)).generate_state(1, np.uint64)[0]


@dataclass(frozen=True, eq=False)
class KernelRouting:
    """How the compiled kernel routes a point's requests.

    Attributes:
        mode: the kernel's routing mode (``_point_kernel.RANDOM`` ... ``HASH_SUBTYPE``).
        table_a, table_b: int8 (Q, 2): each side's output bit per question and
            outcome (PAIR_TABLE).
        cum: uint64 (Q * Q, 3): cumulative P of outcomes 00, 01, 10 per setting,
            times 2^32 (compared with 32-bit draws).
        full_questions: the question is the request's class (K + 1 of them).
        has_source: quantum: one heralded pair (a nature draw) per decision pair.
    """

    mode: int
    table_a: NDArray[np.int8] = field(default_factory=lambda: _NO_TABLE)
    table_b: NDArray[np.int8] = field(default_factory=lambda: _NO_TABLE)
    cum: NDArray[np.uint64] = field(default_factory=lambda: _NO_SOURCE)
    full_questions: bool = False
    has_source: bool = False


def kernel_routing(spec: PointSpec) -> KernelRouting:
    """The kernel's routing inputs for a point's strategy."""
    mode = _MODES.get(spec.strategy, kernel.PAIR_TABLE)
    if mode != kernel.PAIR_TABLE:
        return KernelRouting(mode)
    strategy, full = point_pair_strategy(spec)
    cum = _NO_SOURCE
    if strategy.source is not None:
        prob = strategy.source.prob.reshape(-1, 4)
        cum = np.round(np.cumsum(prob, axis=1)[:, :3] * 2.0 ** 32).astype(np.uint64)
    # writable copies where the tables are read-only: the kernel is compiled
    # for one array type, not again for read-only ones (a first run's 1 s)
    return KernelRouting(mode, np.require(strategy.rule_a.table, requirements=("C", "W")),
                         np.require(strategy.rule_b.table, requirements=("C", "W")), cum, full,
                         strategy.source is not None)


def simulate_point(spec: PointSpec) -> PointResult:
    """Simulate one point in the compiled kernel (deterministic in its seeds).

    Raises:
        StrategyError: unknown strategy or missing option.
        ValueError: fewer than two servers, or steps < 1.
    """
    _check(spec)
    info = STRATEGIES[spec.strategy]
    m, n = spec.servers, spec.balancers
    seeds = np.array([stream_seed(spec.seed, spec.seed_index, _WORKLOAD),
                      stream_seed(spec.seed, spec.seed_index, _ROUTING, info.stream, m),
                      stream_seed(spec.seed, spec.seed_index, _NATURE, info.stream, m),
                      stream_seed(spec.seed, spec.seed_index, _SERVICE, m)], dtype=np.uint64)
    offsets = np.random.default_rng([spec.seed, spec.seed_index, _ROUTING, info.stream, m]
                                    ).integers(0, m, n, dtype=np.int64)
    r = kernel_routing(spec)
    warmup = counted_warmup(spec.steps, spec.warmup_steps)
    c_threshold = np.uint64(min(round(spec.c_probability * 2.0 ** 32), 2 ** 32))
    out = np.zeros(5, dtype=np.int64)
    mean_queue = kernel.run_point(
        r.mode, kernel_rule(spec.rule), n, m, spec.steps, warmup, c_threshold,
        spec.c_subtypes, int(spec.service.mean_steps) if not spec.service.is_random else 1,
        spec.service.log_q, seeds, offsets, r.full_questions, r.table_a, r.table_b, r.cum,
        r.has_source, out)
    n_pairs, quantum = n // 2, info.quantum
    return PointResult(spec.strategy, m, spec.seed_index, float(mean_queue),
                       float(out[kernel.FINAL]) / m, n_pairs * spec.steps,
                       int(out[kernel.WINS]), n_pairs * spec.steps if quantum else 0,
                       int(out[kernel.C_REQUESTS]), int(out[kernel.PAIR_JOBS]))


def simulate_point_blocks(spec: PointSpec) -> PointResult:
    """Simulate one point with the step-block engine (the same-step rule only).

    Its game accounting is the CHSH game's (same server exactly when both
    are type C, subtypes aside).

    Raises:
        StrategyError: unknown strategy or missing option, or one only
            :func:`simulate_point` runs (``quantum-xor``, ``hash-subtype``).
        ValueError: fewer than two servers, steps < 1, or the paper's rule.
    """
    _check(spec)
    if spec.rule is not ServerRule.SAME_STEP:
        raise ValueError("the step-block engine runs the same-step rule only")
    if spec.strategy in _FUSED_ONLY:
        raise StrategyError(f"{spec.strategy} runs in the compiled point kernel only")
    info = STRATEGIES.get(spec.strategy)
    stream = info.stream if info is not None else -1
    workload = np.random.default_rng([spec.seed, spec.seed_index, _WORKLOAD])
    routing = np.random.default_rng([spec.seed, spec.seed_index, _ROUTING, stream, spec.servers])
    service = np.random.default_rng([spec.seed, spec.seed_index, _SERVICE, spec.servers])
    router = make_router(spec.strategy, spec.servers, spec.balancers, routing, spec.options)
    bank = ServerBank(spec.servers, spec.c_subtypes, spec.service)
    n_pairs = spec.balancers // 2
    warmup = counted_warmup(spec.steps, spec.warmup_steps)
    block = block_steps(spec.steps, spec.balancers, BLOCK_REQUESTS)
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
