"""Benchmark: request-steps per second of the queueing study's point kernel, on one core.

Run on demand (not part of the tests)::

    python benchmarks/bench_queueing.py [--balancers 10000] [--steps 2000] [--repeats 5]

A request-step is one request of one balancer in one step: drawn, routed,
queued and (in that step or later) served; a point of N balancers run for T
steps is N * T request-steps, and the rate is N * T over the point's wall
time (compilation excluded: one untimed warm-up call). Each row times, in
turn within each repeat (interleaved), in this process:

- ours: :func:`qnic.balancing.simulate_point`, the point compiled end to end
  (arrivals, routing and service in one numba loop);
- baseline: :func:`qnic.balancing.simulate_point_blocks`, the engine it
  replaced (numpy routing of blocks of steps, then the numba server bank),
  on the same point under the same-step rule (the only rule it runs).

Rows: quantum-ideal and random under the same-step rule (the same model in
both engines), and the sweep's mix: the 8 default strategies under the
paper's rule (ours) against the 6 strategies the old engine ran, under its
rule. The load is N/M = 1.1. The target is 2e8 request-steps per second per
core. The runner (``python -m benchmarks --only queueing``) uses N = 10000
and 2000 steps (N = 2000 and 1000 steps with ``--quick``).
"""

from __future__ import annotations

import argparse
from collections.abc import Callable
from functools import partial

from qnic.balancing import (
    DEFAULT_STRATEGIES,
    PointSpec,
    ServerRule,
    simulate_point,
    simulate_point_blocks,
)

try:
    from benchmarks.common import Row, compare, interleaved, print_row, rates
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_queueing.py
    from common import Row, compare, interleaved, print_row, rates  # type: ignore[no-redef]

TARGET = 2e8
OLD_STRATEGIES = ("random", "round-robin", "power-of-two", "separate", "dedicated-c",
                  "quantum-ideal")


def spec(strategy: str, n: int, steps: int, rule: ServerRule) -> PointSpec:
    return PointSpec(strategy, n, round(n / 1.1), steps, steps // 10, rule=rule)


def each(fn: Callable[[PointSpec], object], specs: list[PointSpec]) -> list[object]:
    """fn of every spec, in turn."""
    return [fn(s) for s in specs]


def measure(n: int, steps: int, repeats: int) -> list[Row]:
    """Rows: each engine's request-steps per second, interleaved."""
    same = ServerRule.SAME_STEP
    calls: dict[str, Callable[[], object]] = {}
    for name in ("quantum-ideal", "random"):
        calls[f"new {name}"] = partial(simulate_point, spec(name, n, steps, same))
        calls[f"old {name}"] = partial(simulate_point_blocks, spec(name, n, steps, same))
    new_mix = [spec(s, n, steps, ServerRule.C_PAIRS_FIRST) for s in DEFAULT_STRATEGIES]
    old_mix = [spec(s, n, steps, same) for s in OLD_STRATEGIES]
    calls["new mix"] = partial(each, simulate_point, new_mix)
    calls["old mix"] = partial(each, simulate_point_blocks, old_mix)
    seconds = interleaved(calls, repeats)
    per_point = float(n * steps)
    unit, target = "request-steps/s", f"target {TARGET:.0e} request-steps/s per core"
    base = "simulate_point_blocks (numpy routing per block of steps, then the numba server bank)"
    rows = [compare("queueing", f"simulate_point, {name}, same-step rule, N = {n:,}, "
                    f"M = {round(n / 1.1):,}, {steps:,} steps", unit,
                    rates(per_point, seconds[f"new {name}"]), base + ", same point",
                    rates(per_point, seconds[f"old {name}"]), higher_is_better=True,
                    notes=target) for name in ("quantum-ideal", "random")]
    rows.append(compare(
        "queueing", f"simulate_point, the 8 default strategies in turn, the paper's rule, "
        f"N = {n:,}, {steps:,} steps each", unit,
        rates(per_point * len(new_mix), seconds["new mix"]),
        base + ", its 6 strategies under the same-step rule",
        rates(per_point * len(old_mix), seconds["old mix"]), higher_is_better=True,
        notes=f"{target}; the N = 10,000 sweep is 2.4e11 request-steps"))
    return rows


def run(quick: bool) -> list[Row]:
    """N = 10000, 2000 steps (2000 and 1000 with ``quick``), 5 repeats."""
    return measure(2000, 1000, 5) if quick else measure(10_000, 2000, 5)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--balancers", type=int, default=10_000)
    parser.add_argument("--steps", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    for row in measure(args.balancers, args.steps, args.repeats):
        print_row(row)


if __name__ == "__main__":
    main()
