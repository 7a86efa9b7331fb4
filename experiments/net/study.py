"""A study on the networked system (docs/network.md; ``qnic lb-net``).

Starts the system (backends, pair source, coordinator, balancer nodes, load
generator, each its own process on 127.0.0.1), then replays one seeded
trace through it once per strategy, and reports each strategy's row
(:mod:`qnic.experiments.net.report`). Every process is stopped at the end,
also on errors and Ctrl-C; what was measured before an interrupt is kept.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from typing import Any

from qnic.balancing.game import TSIRELSON_BOUND
from qnic.experiments.net.backend import ServiceTimes
from qnic.experiments.net.loadgen import TraceSpec
from qnic.experiments.net.orchestrate import Cluster, interrupts_as_keyboard_interrupt
from qnic.experiments.net.report import strategy_metrics
from qnic.experiments.net.node import NodeClock
from qnic.experiments.net.source import HeraldSpec, PairTable
from qnic.experiments.net.strategies import (
    DEFAULT_NETWORK_STRATEGIES,
    NETWORK_STRATEGIES,
    same_backend_probability,
    win_given,
)
from qnic.experiments.net.wire import LOOPBACK, Delay, NetError

CHSH_RULES = ([[0, 1], [0, 1]], [[1, 0], [1, 0]])
"""The quantum strategy's output bit per side: the even node outputs its
outcome, the odd node its complement (docs/balancing.md)."""


@dataclass(frozen=True)
class NetConfig:
    """One study's system and workload.

    Attributes:
        balancers: N balancer nodes (even: partners 2g, 2g+1).
        backends: M backend servers.
        trace: the requests (its ``nodes`` must be N).
        delay: one-way delay on every message between processes (the pair
            oracle's excepted).
        service: the backends' service times and cache.
        table: the distributed pairs' statistics.
        strategies: in the order they run.
        seed: shared randomness of the nodes (and the processes' own seeds).
        block: pairs per distribution block.
        coherence_us: QNIC memory coherence time T2 (inf: no decoherence).
        timeout_s: how long to wait for answers after the last request.
        herald: heralded pairs (photons, clicks on the nodes' clocks, the
            herald) instead of numbered ones.
        clocks: each node's clock and detector (default: ideal clocks).
    """

    balancers: int
    backends: int
    trace: TraceSpec
    table: PairTable
    delay: Delay = Delay()
    service: ServiceTimes = ServiceTimes()
    strategies: tuple[str, ...] = DEFAULT_NETWORK_STRATEGIES
    seed: int = 0
    block: int = 4096
    coherence_us: float = math.inf
    timeout_s: float = 10.0
    herald: HeraldSpec | None = None
    clocks: tuple[NodeClock, ...] = ()

    def __post_init__(self) -> None:
        if self.balancers < 2 or self.balancers % 2:
            raise ValueError(f"--balancers must be even and at least 2 (partners 2g, 2g+1), "
                             f"got {self.balancers}")
        if self.backends < 2:
            raise ValueError(f"--backends must be at least 2, got {self.backends}")
        if self.trace.nodes != self.balancers:
            raise ValueError(f"the trace is for {self.trace.nodes} nodes, not {self.balancers}")
        unknown = [s for s in self.strategies if s not in NETWORK_STRATEGIES]
        if unknown or not self.strategies:
            raise ValueError(f"unknown strategies {unknown}; known: {', '.join(NETWORK_STRATEGIES)}")
        if self.clocks and len(self.clocks) != self.balancers:
            raise ValueError(f"{len(self.clocks)} node clocks given for {self.balancers} nodes")
        if self.table.questions != (2, 2):
            raise ValueError(f"the CHSH strategy needs a 2 x 2 pair table, got {self.table.questions}")


def _delay_args(delay: Delay) -> list[str]:
    return ["--delay-us", repr(delay.one_way_us), "--jitter-us", repr(delay.jitter_us)]


def start_system(cluster: Cluster, config: NetConfig) -> None:
    """Start every process of the system, bottom up, each waiting for its readiness."""
    delay = _delay_args(config.delay)
    s = config.service
    listen = ["--listen", f"{LOOPBACK}:0"]
    for b in range(config.backends):
        cluster.start("backend", f"backend {b}", [*listen, "--index", str(b), *delay,
                      "--c-hit-us", repr(s.c_hit_us), "--miss-penalty-us", repr(s.miss_penalty_us),
                      "--e-us", repr(s.e_us), "--cache-size", str(s.cache_size),
                      "--seed", str(config.seed + 1000 + b)])
    backends = ",".join(str(p.address) for p in cluster.by_role("backend"))
    table = ",".join(repr(v) for v in config.table.flat())
    herald = [] if config.herald is None else [
        "--herald", "--pair-rate-hz", repr(config.herald.pair_rate_hz),
        "--block-ms", repr(config.herald.block_s * 1e3), "--window-ps", str(config.herald.window_ps),
        "--search-ns", repr(config.herald.search_ps / 1e3)]
    source = cluster.start("source", "pair source", [
        *listen, "--table", table, "--block", str(config.block), *herald,
        "--coherence-us", repr(config.coherence_us), "--seed", str(config.seed + 1)])
    coordinator = cluster.start("coordinator", "coordinator", [
        *listen, "--backends", str(config.backends), *delay, "--seed", str(config.seed + 2)])
    for n in range(config.balancers):
        c = config.clocks[n] if config.clocks else NodeClock()
        clock = ["--clock-offset-ns", repr(c.offset_ns), "--clock-drift-ppm", repr(c.drift_ppm),
                 "--efficiency", repr(c.efficiency), "--dark-hz", repr(c.dark_hz),
                 "--jitter-ps", repr(c.jitter_ps)]
        cluster.start("node", f"node {n}", [
            *listen, "--index", str(n), "--backends", backends, "--source", str(source.address),
            "--coordinator", str(coordinator.address), *delay, *clock,
            "--seed", str(config.seed + 100 + n)])
    nodes = ",".join(str(p.address) for p in cluster.by_role("node"))
    cluster.start("loadgen", "load generator", [*listen, "--nodes", nodes, *delay,
                                                 "--seed", str(config.seed + 3)])


@dataclass(frozen=True)
class XorSetup:
    """The XOR game of C subtypes and its solved strategy, as the pair source plays it.

    Attributes:
        table: the pairs' statistics: the solved correlators scaled by the
            bench's visibility equivalent S / (2 sqrt 2) (white noise).
        rules: each side's output bit per question and outcome (the outcome itself).
        classical: each side's answer bit per question in the optimal classical
            strategy (``classical-best`` plays it).
        info: the game's classical and quantum values and what the strategy needs.
    """

    table: PairTable
    rules: tuple[list[list[int]], list[list[int]]]
    classical: tuple[list[int], list[int]]
    info: dict[str, Any]


def xor_setup(subtypes: int, c_probability: float, pairs: PairTable) -> XorSetup:
    """Solve the XOR game whose questions are E and the K C subtypes.

    Two requests should share a backend exactly when both are type C of one
    subtype (pred 0), else be apart (pred 1); questions are E with
    probability 1 - p and each subtype with p / K, on each side independently.
    """
    from qnic.games import XorGame

    n = subtypes + 1
    weights = [1.0 - c_probability] + [c_probability / subtypes] * subtypes
    game = XorGame([[wa * wb for wb in weights] for wa in weights],
                   [[0 if a == b and a > 0 else 1 for b in range(n)] for a in range(n)])
    strategy = game.quantum_strategy()
    visibility = min(1.0, max(0.0, pairs.chsh_value() / TSIRELSON_BOUND))
    correlations = (strategy.correlations() * visibility).tolist()
    table = PairTable.from_correlations(correlations, f"XOR game of {subtypes} C subtypes, "
                                        f"solved, at visibility {visibility:.3f}")
    identity = [[0, 1] for _ in range(n)]
    best = game.classical_value()
    classical = ([int(v) for v in best.a], [int(v) for v in best.b])
    info = {"subtypes": subtypes, "classical_value": float(best.value),
            "quantum_value": float(game.quantum_value().value), "visibility": visibility,
            "bell_pairs_needed": int(strategy.bell_pairs_needed)}
    return XorSetup(table, (identity, identity), classical, info)


def prepare_strategy(cluster: Cluster, config: NetConfig, name: str,
                     xor: XorSetup | None = None) -> list[str]:
    """Reset the backends and the source, configure everyone for ``name``, and wait
    until every node holds its first pairs (strategies that measure pairs).

    Returns:
        Warnings: nodes that hold no pairs after the wait (they will fall back).
    """
    for process in cluster.by_role("backend") + cluster.by_role("source"):
        if process.popen.poll() is None:
            process.call("reset")
    table, rules = config.table, CHSH_RULES
    if name == "xor":
        if xor is None:
            raise ValueError("the xor strategy needs the solved game (xor_setup)")
        table, rules = xor.table, xor.rules
    source = cluster.by_role("source")[0]
    paired = NETWORK_STRATEGIES[name].consumes_pairs
    if paired and source.popen.poll() is None:
        source.call("configure", table=table.flat(), questions=list(table.questions),
                    label=table.label)
    coordinator = cluster.by_role("coordinator")[0]
    if coordinator.popen.poll() is None:  # a dead one: its nodes fall back, and say so
        coordinator.call("configure", seed=config.seed)
    for n, process in enumerate(cluster.by_role("node")):
        process.call("configure", strategy=name, seed=config.seed, rule=rules[n % 2],
                     classical=None if xor is None else xor.classical[n % 2])
    warnings = []
    if paired:  # every node has asked: wait for the first pairs
        for process in cluster.by_role("node"):
            ready = process.call("ready", timeout_s=10.0)
            if not ready["held"]:
                warnings.append(f"{process.name} held no pairs when the run started"
                                + (" (its source is lost)" if ready["source_lost"] else ""))
    return warnings


def run_strategy(cluster: Cluster, config: NetConfig, name: str,
                 xor: XorSetup | None = None) -> dict[str, Any]:
    """Replay the trace under one strategy and return its row."""
    warnings = prepare_strategy(cluster, config, name, xor)
    trace = config.trace
    duration_s = (trace.requests / trace.nodes * trace.step_us * 1e-6 if trace.model == "step"
                  else trace.requests / trace.rate_hz)
    load = cluster.by_role("loadgen")[0].call(
        "run", wait_s=3 * duration_s + config.timeout_s + 30.0, trace=asdict(trace),
        timeout_s=config.timeout_s)
    nodes = [p.call("stats") for p in cluster.by_role("node")]
    backends = [p.call("stats") for p in cluster.by_role("backend") if p.popen.poll() is None]
    strategy = NETWORK_STRATEGIES[name]
    source = cluster.by_role("source")[0]
    herald_stats = None
    if strategy.consumes_pairs and config.herald is not None and source.popen.poll() is None:
        herald_stats = source.call("stats")
    k = trace.c_subtypes
    classical = None if xor is None else xor.classical
    chsh_same, xor_same = _same_backend(config, xor, herald_stats)
    talks_to = "oracle" if strategy.consumes_pairs else ("network" if strategy.talks else None)
    # memories that decohere mix each pair with a coin by its own storage time: no closed form
    decohering = strategy.consumes_pairs and math.isfinite(config.coherence_us)
    row = strategy_metrics(name, load, nodes, backends,
                           None if decohering else
                           win_given(name, config.backends, k, chsh_same, xor_same, classical),
                           talks_to, k,
                           win_given("classical-best", config.backends, k, None, None, classical))
    row["description"] = strategy.description
    if warnings:
        row["warnings"] = warnings
    if name == "xor" and xor is not None:
        row["game"] = xor.info
    if herald_stats is not None:
        row["heralding"] = {"heralded": herald_stats["heralded"],
                            "true": herald_stats["heralded_true"],
                            "clock_tracking": clock_tracking(herald_stats["clock_fits"], nodes)}
    return row


def _same_backend(config: NetConfig, xor: XorSetup | None, herald_stats: dict[str, Any] | None
                  ) -> tuple[list[list[float]], list[list[float]] | None]:
    """P(same backend | questions) of the CHSH and XOR pair tables, with accidental
    heralds (independent outcomes: the same backend half the time) counted in."""
    chsh_same = same_backend_probability(config.table.flat(), (CHSH_RULES[0], CHSH_RULES[1]))
    xor_same = None if xor is None else same_backend_probability(xor.table.flat(), xor.rules)
    if herald_stats and herald_stats["heralded"]:
        f = herald_stats["heralded_true"] / herald_stats["heralded"]
        chsh_same = [[f * v + (1 - f) * 0.5 for v in row] for row in chsh_same]
        if xor_same is not None:
            xor_same = [[f * v + (1 - f) * 0.5 for v in row] for row in xor_same]
    return chsh_same, xor_same


def true_line(a: dict[str, float], b: dict[str, float], ref_ps: float) -> tuple[float, float]:
    """(t_b - t_a at t_a = ref_ps, relative drift) of two nodes' clocks, in ps and ppm.

    A node's clock reads ``(1 + drift) T + offset`` at source time T.
    """
    da, db = a["drift_ppm"] * 1e-6, b["drift_ppm"] * 1e-6
    oa, ob = a["offset_ns"] * 1e3, b["offset_ns"] * 1e3
    t = (ref_ps - oa) / (1 + da)
    return (1 + db) * t + ob - ref_ps, ((1 + db) / (1 + da) - 1) * 1e6


def clock_tracking(fits: dict[str, list[dict[str, Any]]], nodes: Sequence[dict[str, Any]]
                   ) -> dict[str, Any]:
    """How well the herald found and tracked each group's relative clock: per group, the
    true and fitted offset and drift of the last block, and the largest offset error."""
    out: dict[str, Any] = {}
    for group, blocks in fits.items():
        g = int(group)
        a, b = nodes[2 * g]["clock"], nodes[2 * g + 1]["clock"]
        errors = [f["offset_ps"] - true_line(a, b, f["ref_ps"])[0] for f in blocks]
        last = blocks[-1]
        offset, drift = true_line(a, b, last["ref_ps"])
        out[group] = {"blocks": len(blocks), "offset_ns": offset / 1e3,
                      "offset_ns_fitted": last["offset_ps"] / 1e3,
                      "drift_ppm": drift, "drift_ppm_fitted": last["drift_ppm"],
                      "offset_error_ps_max": max(abs(e) for e in errors)}
    return out


def run_study(config: NetConfig, on_row: Callable[[str, dict[str, Any]], None] | None = None,
              cluster_hook: Callable[[Cluster], None] | None = None,
              rtts_us: Sequence[float] | None = None, jitter_us: float = 0.0) -> dict[str, Any]:
    """Start the system, run every strategy on the same trace, stop the system.

    Args:
        config: the study.
        on_row: called with each strategy's row as it completes.
        cluster_hook: called once the system is up (tests use it to inject faults).
        rtts_us: sweep these round-trip times (the same processes, their
            delays changed between points) instead of ``config.delay``.
        jitter_us: the sweep's jitter on each one-way delay (at most half
            the smallest RTT).

    Returns:
        ``strategies`` (name -> row; the first point's in a sweep),
        ``processes`` (role, name, pid, address of every process that took
        part), ``config``; in a sweep ``rtt_sweep`` (``rtt_us``, ``ratio``:
        RTT over the mean service time, ``points``: each point's
        strategies); when interrupted, ``interrupted: True`` with the rows
        measured so far; when a process failed mid-study, ``error`` with the
        rows measured before it (a failure to start the system raises
        :class:`NetError`).
    """
    result: dict[str, Any] = {"strategies": {}, "processes": [], "config": describe(config)}
    delays = [config.delay] if not rtts_us else [Delay(r / 2.0, jitter_us) for r in rtts_us]
    points: list[dict[str, Any]] = []
    with interrupts_as_keyboard_interrupt(), Cluster() as cluster:
        try:
            start_system(cluster, config)
            result["processes"] = cluster.listing()
            if cluster_hook is not None:
                cluster_hook(cluster)
            # with several C subtypes the game changes: classical-best plays its solved
            # classical strategy, xor its solved quantum one
            k = config.trace.c_subtypes
            xor = (xor_setup(k, config.trace.c_probability, config.table)
                   if k > 1 or "xor" in config.strategies else None)
            for delay in delays:
                if rtts_us:
                    set_delay(cluster, delay)
                rows: dict[str, Any] = {}
                points.append({"rtt_us": 2 * delay.one_way_us, "strategies": rows})
                for name in config.strategies:
                    rows[name] = row = run_strategy(cluster, config, name, xor)
                    if on_row is not None:
                        on_row(name, row)
        except KeyboardInterrupt:
            result["interrupted"] = True
            result["processes"] = cluster.listing()
        except NetError as exc:  # keep what was measured; the caller reports the error
            if not result["processes"]:
                raise
            result["error"] = str(exc)
            result["processes"] = cluster.listing()
    if points:
        result["strategies"] = points[0]["strategies"]
    if rtts_us:
        service = mean_service_us(config)
        result["rtt_sweep"] = {"rtt_us": [p["rtt_us"] for p in points],
                               "ratio": [p["rtt_us"] / service if service > 0 else None
                                         for p in points],
                               "mean_service_us": service, "points": points}
    return result


def set_delay(cluster: Cluster, delay: Delay) -> None:
    """Give every process but the source (the oracle's link is physics) a new delay."""
    for process in cluster.processes:
        if process.role != "source" and process.popen.poll() is None:
            process.call("delay", one_way_us=delay.one_way_us, jitter_us=delay.jitter_us)


def run_load_sweep(config: NetConfig, backends: Sequence[int],
                   on_row: Callable[[str, dict[str, Any]], None] | None = None) -> dict[str, Any]:
    """The study at each number of backends M (load N/M), a fresh system per point."""
    result: dict[str, Any] = {"strategies": {}, "processes": [], "config": describe(config)}
    points = []
    for m in backends:
        point = run_study(replace(config, backends=m), on_row)
        result["processes"] += point["processes"]
        points.append({"backends": m, "load": config.balancers / m,
                       "strategies": point["strategies"]})
        if point.get("interrupted"):
            result["interrupted"] = True
            break
    result["strategies"] = points[0]["strategies"] if points else {}
    result["load_sweep"] = {"backends": [p["backends"] for p in points],
                            "load": [p["load"] for p in points], "points": points}
    return result


def mean_service_us(config: NetConfig) -> float:
    """Mean service time of a request with its key cached: p c_hit + (1 - p) e."""
    p = config.trace.c_probability
    return p * config.service.c_hit_us + (1 - p) * config.service.e_us


def describe(config: NetConfig) -> dict[str, Any]:
    """The study's settings, for the report."""
    return {"balancers": config.balancers, "backends": config.backends,
            "trace": asdict(config.trace), "one_way_delay_us": config.delay.one_way_us,
            "jitter_us": config.delay.jitter_us, "service": asdict(config.service),
            "pair_table": config.table.label, "chsh_value": config.table.chsh_value(),
            "block": config.block,
            "coherence_us": None if math.isinf(config.coherence_us) else config.coherence_us,
            "seed": config.seed}


def sweep_names(names: Sequence[str] | None, subtypes: int = 1) -> tuple[str, ...]:
    """The strategies to run, checked: by default every one, ``xor`` only with
    several C subtypes (with one it is the CHSH game ``quantum`` plays)."""
    default = DEFAULT_NETWORK_STRATEGIES + (("xor",) if subtypes > 1 else ())
    chosen = tuple(names) if names else default
    unknown = [s for s in chosen if s not in NETWORK_STRATEGIES]
    if unknown:
        raise ValueError(f"unknown strategies {unknown}; known: {', '.join(NETWORK_STRATEGIES)}")
    return chosen
