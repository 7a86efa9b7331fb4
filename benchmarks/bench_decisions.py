"""Benchmark: per-decision cost of the decision layer once heralded pairs are buffered.

Run on demand (not part of the tests)::

    python benchmarks/bench_decisions.py [--pairs 1000000] [--repeats 5]

A decision is one balancer's choice of server for one request: its question
(request type) and its own outcome bit in, one of its pair's two servers out.
Measured in this process, best of the repeats, in ns per decision:

- batch: ``Balancer.decide_batch`` of both sides over ``--pairs`` decision
  pairs whose outcome bits are already in memory (pairs buffered);
- batch + buffer: the same plus ``PairBuffer.take`` consuming the pairs from
  a per-setting buffer of heralded pairs;
- scalar: ``Balancer.decide`` once per request in a Python loop;
- baselines: a plain Python dict lookup (request type -> server) per request
  in a list comprehension (the cheapest decision a Python service could
  make), and a numpy fancy-index gather of the same size (memory traffic of
  any vectorized decision).

Also reported, as context: drawing the joint outcomes from the ideal table
(``OutcomeTable.sample``), which stands for nature in the simulation and is
not part of a decision. The budget is 5 microseconds per decision.
"""

from __future__ import annotations

import argparse
import time
from collections.abc import Callable

import numpy as np

from qnic.balancing import PairBuffer, chsh_strategy, ideal_table, quantum_chsh

BUDGET_NS = 5_000.0


def best_seconds(fn: Callable[[], object], repeats: int) -> float:
    """Best wall time of ``repeats`` calls after one warm-up call."""
    fn()
    best = float("inf")
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - t0)
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--scalar", type=int, default=200_000, help="requests in the Python loops")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(2025)
    table = ideal_table(chsh_strategy())
    strategy = quantum_chsh(table)
    side_a, side_b = strategy.balancers()
    n = args.pairs
    x = rng.integers(0, 2, n).astype(np.int8)
    y = rng.integers(0, 2, n).astype(np.int8)
    servers = np.stack((rng.integers(0, 100, n), rng.integers(100, 200, n)), axis=1)
    a, b = table.sample(x, y, rng.random(n))

    def batch() -> object:
        return side_a.decide_batch(x, a, servers), side_b.decide_batch(y, b, servers)

    buffers: list[PairBuffer] = []

    def fill() -> None:
        buffers.append(PairBuffer.from_table(table, n, rng))

    def batch_with_buffer() -> object:
        aa, bb = buffers.pop().take(x, y)
        return side_a.decide_batch(x, aa, servers), side_b.decide_batch(y, bb, servers)

    def timed_with_buffer() -> float:
        best = float("inf")
        for _ in range(args.repeats + 1):
            fill()
            t0 = time.perf_counter()
            batch_with_buffer()
            best = min(best, time.perf_counter() - t0)
        return best

    k = args.scalar
    xs, os_, ps = x[:k].tolist(), a[:k].tolist(), [(int(u), int(v)) for u, v in servers[:k]]
    decide = side_a.decide

    def scalar() -> object:
        return [decide(q, o, p) for q, o, p in zip(xs, os_, ps)]

    route = {0: 17, 1: 42}  # request type -> server, no pair, no bit

    def dict_baseline() -> object:
        return [route[q] for q in xs]

    flat = servers.ravel()
    index = rng.integers(0, flat.size, 2 * n)

    def gather_baseline() -> object:
        return flat[index]

    def nature() -> object:
        return table.sample(x, y, rng.random(n))

    rows = [
        ("batch (pairs buffered)", best_seconds(batch, args.repeats) / (2 * n)),
        ("batch + PairBuffer.take", timed_with_buffer() / (2 * n)),
        ("scalar Balancer.decide", best_seconds(scalar, args.repeats) / k),
        ("baseline: dict lookup per decision", best_seconds(dict_baseline, args.repeats) / k),
        ("baseline: numpy gather, same size", best_seconds(gather_baseline, args.repeats) / (2 * n)),
        ("context: nature's joint draw per pair", best_seconds(nature, args.repeats) / n),
    ]
    print(f"decision layer, {n} decision pairs (batch), {k} requests (Python loops), "
          f"best of {args.repeats}")
    for name, seconds in rows:
        ns = seconds * 1e9
        verdict = "" if name.startswith(("baseline", "context")) else \
            ("  within 5 us" if ns <= BUDGET_NS else "  OVER the 5 us budget")
        print(f"  {name:<40} {ns:9.1f} ns per decision{verdict}")


if __name__ == "__main__":
    main()
