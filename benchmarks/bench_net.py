"""Benchmark: the networked system's decisions and its end-to-end throughput (docs/network.md).

Run on demand (not part of the tests)::

    python benchmarks/bench_net.py [--requests 20000] [--repeats 5] [--skip-system]

1. Decision inside a node, one request at a time: a :class:`BalancerNode`
   in this process, its links to 8 backends writing into memory, is handed
   requests one by one (``node.request``); the node records each decision's
   time from the request read to its job written. Strategies: classical-best
   (shared randomness), consistent-hash, and quantum from its own buffer (the
   pair oracle's answer handed in at once, as a local measurement would
   give it; the two halves of the decision are summed). Baseline, in the same
   loop: the forwarding step any Python proxy does per request (pick a
   backend with ``random.randrange``, format the line, queue it on the same
   link), timed the same way. Medians of the per-request p50 and p99 over the
   repeats. Budget: p99 at most 5 us.
2. The whole system: 8 balancer nodes and 8 backends as separate processes
   (``qnic lb-net`` machinery, zero service time), offered rates stepped up
   until requests are lost or the generator falls behind by more than 20 %;
   reported: the highest rate served with no request lost, for the quantum
   strategy and, as the baseline, random routing (no pairs, no oracle) in the
   same run. Median over the repeats at each rate.

The machine is named in the output (``platform``, ``os.cpu_count()``).

The runner (``python -m benchmarks --only net``) reports part 1 as one row
per strategy (p99 against the baseline's p99; 5e3 requests with
``--quick``) and part 2 as one row, quantum against random routing; with
``--quick`` part 2 is skipped.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import math
import os
import platform
import random
import statistics
import time
from typing import Any

from qnic.experiments.net.backend import ServiceTimes
from qnic.experiments.net.loadgen import TraceSpec
from qnic.experiments.net.node import BalancerNode
from qnic.experiments.net.source import PairTable
from qnic.experiments.net.study import CHSH_RULES, NetConfig, run_study
from qnic.experiments.net.wire import Address, Link, tune_gc

try:
    from benchmarks.common import Row, compare, print_row
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_net.py
    from common import Row, compare, print_row  # type: ignore[no-redef]

BUDGET_US = 5.0
R = math.cos(math.pi / 4)
IDEAL = PairTable.from_correlations([[R, R], [R, -R]], "ideal")


class _MemoryWriter:
    """Stands for a socket: takes the bytes, never blocks."""

    def __init__(self) -> None:
        self.bytes = 0

    def write(self, data: bytes) -> None:
        self.bytes += len(data)

    def is_closing(self) -> bool:
        return False

    def close(self) -> None:
        """Nothing to close."""


def _quantiles_us(ns: list[int]) -> tuple[float, float]:
    ordered = sorted(ns)
    return ordered[len(ordered) // 2] / 1e3, ordered[int(0.99 * len(ordered))] / 1e3


async def _decisions(strategy: str, requests: int) -> tuple[float, float]:
    node = BalancerNode(Address("127.0.0.1", 0), 0, [Address("127.0.0.1", 1)] * 8)
    node._backends = [Link(_MemoryWriter()) for _ in range(8)]  # type: ignore[arg-type]
    client = Link(_MemoryWriter())  # type: ignore[arg-type]
    await node._configure({"strategy": "classical-best", "seed": 1, "rule": CHSH_RULES[0]})
    from qnic.experiments.net.strategies import NETWORK_STRATEGIES

    node.strategy = NETWORK_STRATEGIES[strategy]
    node._source = Link(_MemoryWriter())  # type: ignore[arg-type]
    node._held_until = node._ask_at = 1 << 40  # every round's pair held
    rng = random.Random(3)
    for rid in range(requests):
        x = rng.getrandbits(1)
        node.request(rid, x, 0 if x else -1, client)
        if strategy == "quantum":  # the measurement's answer, at once
            node._on_source(["OUT", "0", str(rid), str(rng.getrandbits(1))])
        if rid % 4096 == 4095:
            await asyncio.sleep(0)  # let the links write out, as the event loop would
    return _quantiles_us([r[5] for r in node.records])


async def _baseline(requests: int) -> tuple[float, float]:
    links = [Link(_MemoryWriter()) for _ in range(8)]  # type: ignore[arg-type]
    rng = random.Random(3)
    times = []
    for rid in range(requests):
        t_in = time.perf_counter_ns()
        links[rng.randrange(8)].send(f"JOB {rid} {rid & 1} -1")
        times.append(time.perf_counter_ns() - t_in)
        if rid % 4096 == 4095:
            await asyncio.sleep(0)
    return _quantiles_us(times)


NODE_ROWS = ("classical-best", "consistent-hash", "quantum")
PROXY = "proxy baseline"


def decision_quantiles(requests: int, repeats: int) -> dict[str, list[tuple[float, float]]]:
    """(p50, p99) in us of each strategy and the proxy baseline, per repeat."""
    out: dict[str, list[tuple[float, float]]] = {}
    for _ in range(repeats):  # interleaved, so load changes hit every row alike
        for name in (PROXY, *NODE_ROWS):
            run = _baseline(requests) if name == PROXY else _decisions(name, requests)
            out.setdefault(name, []).append(asyncio.run(run))
    return out


def decision_rows(requests: int, repeats: int) -> list[Row]:
    """p99 of each strategy's decision against the proxy's forwarding step."""
    q = decision_quantiles(requests, repeats)
    base = ("plain Python forwarding step (random.randrange backend, format, queue the "
            "line), timed the same way")
    rows = []
    for name in NODE_ROWS:
        p50 = statistics.median(r[0] for r in q[name])
        base50 = statistics.median(r[0] for r in q[PROXY])
        p99 = [r[1] * 1e-6 for r in q[name]]
        verdict = "within" if statistics.median(p99) <= BUDGET_US * 1e-6 else "OVER"
        rows.append(compare(
            "net", f"{name} decision inside a BalancerNode, one request at a time: p99 over "
            f"{requests:,} requests", "s", p99, base, [r[1] * 1e-6 for r in q[PROXY]],
            higher_is_better=False,
            notes=f"p50 {p50:.2f} us (baseline {base50:.2f} us); {verdict} the p99 budget of "
                  f"{BUDGET_US:g} us" + ("; quantum: measurement answered at once, as a "
                                         "local one would be" if name == "quantum" else "")))
    return rows


def bench_decisions(requests: int, repeats: int) -> None:
    print(f"1. decision inside a node, one request at a time ({requests} requests, "
          f"medians of {repeats} repeats)")
    for row in decision_rows(requests, repeats):
        print_row(row)


def _served_rate(strategy: str, rate_hz: float, requests: int) -> dict[str, Any]:
    trace = TraceSpec(8, requests, "step", step_us=8 / rate_hz * 1e6, seed=5)
    config = NetConfig(8, 8, trace, IDEAL, service=ServiceTimes(0, 0, 0, 4),
                       strategies=(strategy,), block=1 << 20, timeout_s=10.0)
    row = run_study(config)["strategies"][strategy]
    return {"rate": row["throughput_rps"], "lost": row["requests"]["failed"],
            "lag_ms": row["send_lag_us"]["mean"] / 1e3, "p99_ms": row["latency_us"]["p99"] / 1e3}


def system_runs(requests: int, repeats: int) -> dict[str, list[float]]:
    """Per strategy, the served rates of the repeats at its highest rate served with no loss."""
    print(f"2. the whole system: 8 nodes + 8 backends + source + coordinator + load generator, "
          f"{requests} requests per point, medians of {repeats}")
    best: dict[str, list[float]] = {"random": [0.0], "quantum": [0.0]}
    saturated: set[str] = set()
    for offered in (10_000, 15_000, 20_000, 25_000, 30_000, 40_000):
        for strategy in [s for s in best if s not in saturated]:  # interleaved per rate
            runs = [_served_rate(strategy, offered, requests) for _ in range(repeats)]
            served = statistics.median(r["rate"] for r in runs)
            lost = max(r["lost"] for r in runs)
            ok = lost == 0 and served >= 0.8 * offered
            print(f"   offered {offered:6d}/s {strategy:8} served {served:8.0f}/s  lost {lost}  "
                  f"generator lag {statistics.median(r['lag_ms'] for r in runs):6.1f} ms  "
                  f"p99 {statistics.median(r['p99_ms'] for r in runs):7.1f} ms"
                  f"{'' if ok else '  (saturated)'}", flush=True)
            if ok and served > statistics.median(best[strategy]):
                best[strategy] = [r["rate"] for r in runs]
            elif not ok:
                saturated.add(strategy)
    return best


def system_rows(requests: int, repeats: int) -> list[Row]:
    """The quantum strategy's highest lossless rate against random routing's."""
    best = system_runs(requests, repeats)
    return [compare(
        "net", "whole system, 19 processes (8 nodes, 8 backends, source, coordinator, load "
        "generator; zero service time): highest request rate served with none lost, quantum "
        "strategy", "requests/s", best["quantum"],
        "random routing on the same system in the same run (no pairs, no oracle)",
        best["random"], higher_is_better=True,
        notes="offered 10,000 to 40,000/s in steps, each rate kept if every repeat lost "
              "nothing and the median served >= 80 % of it; spread over the repeats at the "
              "highest rate kept")]


def run(quick: bool) -> list[Row]:
    """In-node decisions (5e3 requests with ``quick``), 5 interleaved repeats; the whole
    system's run (3 repeats per rate) only without ``quick``."""
    threshold = gc.get_threshold()
    tune_gc()  # as every process of the system runs (qnic.experiments.net.wire.run_server)
    try:
        rows = decision_rows(5_000 if quick else 20_000, 5)
    finally:
        gc.unfreeze()
        gc.set_threshold(*threshold)
    if quick:
        print("  --quick: the whole-system run (minutes, 19 processes) is skipped")
        return rows
    return rows + system_rows(40_000, 3)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=20_000)
    parser.add_argument("--system-requests", type=int, default=40_000)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-system", action="store_true")
    args = parser.parse_args()
    print(f"machine: {platform.machine()} {platform.processor() or ''} {os.cpu_count()} cores, "
          f"{platform.system()} {platform.release()}, Python {platform.python_version()}")
    tune_gc()  # as every process of the system runs (qnic.experiments.net.wire.run_server)
    bench_decisions(args.requests, args.repeats)
    if not args.skip_system:
        for row in system_rows(args.system_requests, max(1, min(args.repeats, 3))):
            print_row(row)


if __name__ == "__main__":
    main()
