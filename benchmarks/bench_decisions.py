"""Benchmark: per-decision cost of the decision layer once heralded pairs are buffered.

Run on demand (not part of the tests)::

    python benchmarks/bench_decisions.py [--pairs 1000000] [--repeats 5]

A decision is one balancer's choice of server for one request: its question
(request type) and its own outcome bit in, one of its pair's two servers out.
Measured in this process, in ns per decision:

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

All are timed in turn within each repeat (interleaved); the median and the
range of the repeats are reported. The runner (``python -m benchmarks
--only decisions``) uses the defaults (2e5 pairs and 5e4 requests with
``--quick``).
"""

from __future__ import annotations

import argparse

import numpy as np

from qnic.balancing import PairBuffer, chsh_strategy, ideal_table, quantum_chsh

try:
    from benchmarks.common import Row, compare, interleaved, print_row
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_decisions.py
    from common import Row, compare, interleaved, print_row  # type: ignore[no-redef]

BUDGET_NS = 5_000.0


def timings(n: int, k: int, repeats: int) -> dict[str, list[float]]:
    """Seconds per decision (per pair drawn for ``nature``) of each call, interleaved."""
    rng = np.random.default_rng(2025)
    table = ideal_table(chsh_strategy())
    strategy = quantum_chsh(table)
    side_a, side_b = strategy.balancers()
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

    seconds = interleaved({"batch": batch, "buffer": batch_with_buffer, "scalar": scalar,
                           "dict": dict_baseline, "gather": gather_baseline, "nature": nature},
                          repeats, setup={"buffer": fill})
    per = {"batch": 2 * n, "buffer": 2 * n, "scalar": k, "dict": k, "gather": 2 * n, "nature": n}
    return {name: [s / per[name] for s in v] for name, v in seconds.items()}


def measure(n: int, k: int, repeats: int) -> list[Row]:
    """Rows: each way of deciding against a dict lookup per request."""
    t = timings(n, k, repeats)
    dict_base = "Python dict lookup per request (request type -> server) in a list comprehension"
    budget = f"budget {BUDGET_NS / 1e3:g} us per decision"
    return [
        compare("decisions", f"Balancer.decide_batch, both sides, {n:,} decision pairs "
                "(outcome bits buffered)", "s", t["batch"], dict_base, t["dict"],
                higher_is_better=False, notes=budget),
        compare("decisions", f"Balancer.decide_batch plus PairBuffer.take, {n:,} decision "
                "pairs", "s", t["buffer"], dict_base, t["dict"], higher_is_better=False,
                notes=budget),
        compare("decisions", f"Balancer.decide_batch, {n:,} decision pairs", "s", t["batch"],
                f"numpy fancy-index gather of the same size ({2 * n:,} elements)", t["gather"],
                higher_is_better=False, notes="the memory traffic of any vectorized decision"),
        compare("decisions", f"Balancer.decide once per request in a Python loop, {k:,} "
                "requests", "s", t["scalar"], dict_base, t["dict"], higher_is_better=False,
                notes=f"{budget}; context, not a decision: nature's joint draw "
                      f"{np.median(t['nature']) * 1e9:.1f} ns per pair"),
    ]


def run(quick: bool) -> list[Row]:
    """1e6 decision pairs and 2e5 requests (2e5 and 5e4 with ``quick``), 5 repeats."""
    return measure(200_000, 50_000, 5) if quick else measure(1_000_000, 200_000, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--pairs", type=int, default=1_000_000)
    parser.add_argument("--scalar", type=int, default=200_000, help="requests in the Python loops")
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for row in measure(args.pairs, args.scalar, args.repeats):
        print_row(row)


if __name__ == "__main__":
    main()
