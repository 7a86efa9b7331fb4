"""Load-balancing queueing study (the paper's Figure 4; docs/balancing.md).

N load balancers (balancers 2k and 2k + 1 share a pair of servers and, for
quantum strategies, heralded photon pairs), M servers. Each step each
balancer receives a type-C request with probability 1/2, else type E. By
default the servers follow the paper's rule: an idle server runs two waiting
type-C requests (of one subtype) together first, then type-E requests one at
a time, then a lone type C; the same-step rule (two type-C requests pair only
if they reached the server in the same step) is an option
(:class:`qnic.balancing.ServerRule`). The load N/M is swept by changing M for
fixed N (M = round(N / ratio)).

Reported per strategy: the time-averaged queue length per server against N/M
with t confidence intervals over seeds; the knee, the load at which that mean
first exceeds ``threshold`` (from the seed-averaged curve, and per seed for
its interval); and the CHSH load-balancing game's win rate in the study's own
accounting (pair k wins a step when its two requests share a server exactly
when both are type C of one subtype). Quantum strategies consume heralded
(coincidence-matched) pairs; a deployment needs heralded or stored pairs.

prepare: :meth:`StudyConfig.validate` (all checks before any work); run:
points in this process (workers = 1), on local processes, or as tasks on a
Dask cluster (:mod:`qnic.experiments.lb_cluster`); analyze and save: pure,
JSON and PNG.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.balancing import (
    DEFAULT_STRATEGIES,
    HERALDING_NOTE,
    STRATEGIES,
    MeasuredCHSH,
    PointResult,
    PointSpec,
    ServerRule,
    ServiceModel,
    ServiceTime,
    StrategyError,
    StrategyOptions,
    simulate_point,
    validate_strategies,
)
from qnic.balancing.simulate import point_pair_strategy
from qnic.balancing.subtypes import subtype_win_probability
from qnic.experiments.lb_cluster import ClusterSpec, require_distributed, run_on_dask
from qnic.experiments import lb_report

DEFAULT_RATIOS: tuple[float, ...] = (0.5, 0.6, 0.7, 0.8, 0.9, 0.95, 1.0, 1.02, 1.04, 1.06, 1.08,
                                     1.1, 1.12, 1.14, 1.16, 1.18, 1.2, 1.25, 1.3, 1.4, 1.5)
DEFAULT_BALANCERS, DEFAULT_STEPS, DEFAULT_SEEDS = 100, 20_000, 3
DEFAULT_THRESHOLD = 10.0
JSON_NAME, PNG_NAME = "lb_study.json", "lb_study.png"
MODELS = {
    ServerRule.C_PAIRS_FIRST: "each step each balancer gets one request, type C with probability "
    "p_C (subtype uniform), else E; an idle server starts two waiting type-C requests of one "
    "subtype together first (the subtype with the most waiting), then one type-E request, "
    "then a lone type C (the paper's rule)",
    ServerRule.SAME_STEP: "each step each balancer gets one request, type C with probability "
    "p_C (subtype uniform), else E; a server serves two type-C requests of one subtype that "
    "reached it in the same step together, or one request alone; random order of service",
}

Progress = Callable[[int, int], None]  # (points done, points in all)


class StudyConfigError(ValueError):
    """A study configuration that cannot run (raised before any work starts)."""


@dataclass(frozen=True, eq=False)
class StudyConfig(lb_report.QueueSweep):
    """A sweep of the load N/M for several strategies.

    Attributes:
        balancers: N.
        ratios: loads N/M (positive); sorted ascending.
        strategies: names from :data:`qnic.balancing.STRATEGIES`.
        steps: steps per point; the first ``WARMUP_FRACTION`` are left out.
        seeds: repetitions per point; seed: the study's seed.
        threshold: queue length (requests per server) that defines the knee.
        visibility: V for ``quantum-visibility``.
        chsh: measured statistics for ``quantum-measured``.
        c_probability: probability that a request is type C.
        c_subtypes: type-C subtypes that must not mix.
        service: service time of a job.
        rule: the servers' rule (default: the paper's).
    """

    balancers: int = DEFAULT_BALANCERS
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    steps: int = DEFAULT_STEPS
    seeds: int = DEFAULT_SEEDS
    seed: int = 0
    threshold: float = DEFAULT_THRESHOLD
    visibility: float | None = None
    chsh: MeasuredCHSH | None = None
    c_probability: float = 0.5
    c_subtypes: int = 1
    service: ServiceTime = field(default_factory=ServiceTime)
    rule: ServerRule = ServerRule.C_PAIRS_FIRST

    @property
    def options(self) -> StrategyOptions:
        """What the quantum strategies need."""
        return StrategyOptions(self.visibility, self.chsh.table if self.chsh else None)

    def validate(self) -> StudyConfig:
        """Check everything; return the config with ratios sorted.

        Raises:
            StudyConfigError: with a message naming the bad value.
        """
        def bad(message: str) -> StudyConfigError:
            return StudyConfigError(message)
        if not isinstance(self.balancers, int) or self.balancers < 1:
            raise bad(f"balancers must be a positive integer, got {self.balancers!r}")
        if not self.ratios:
            raise bad("no ratios given")
        for r in self.ratios:
            if not lb_report.positive_ratio(r):
                raise bad(f"ratios N/M must be positive numbers, got {r!r}")
        for r in self.ratios:
            m = int(round(self.balancers / r))
            if m < 2:
                raise bad(f"ratio {r:g} with {self.balancers} balancers gives M = {m} server(s); "
                          "at least two servers are needed")
        lb_report.check_run(self.steps, self.seeds, self.threshold, bad)
        if not 0.0 <= self.c_probability <= 1.0:
            raise bad(f"c_probability must lie within [0, 1], got {self.c_probability}")
        if not isinstance(self.c_subtypes, int) or self.c_subtypes < 1:
            raise bad(f"c_subtypes must be a positive integer, got {self.c_subtypes!r}")
        try:
            validate_strategies(tuple(self.strategies), self.balancers, self.options)
        except StrategyError as exc:
            raise bad(str(exc)) from None
        try:
            rule = ServerRule(self.rule)
        except ValueError:
            raise bad(f"unknown server rule {self.rule!r}; known: "
                      f"{', '.join(r.value for r in ServerRule)}") from None
        return replace(self, ratios=tuple(sorted(float(r) for r in self.ratios)),
                       strategies=tuple(self.strategies), rule=rule)

    def point_specs(self) -> list[PointSpec]:
        """Every (strategy, ratio, seed) point, strategy-major."""
        return [PointSpec(s, self.balancers, m, self.steps, self.warmup_steps, self.seed, k,
                          self.c_probability, self.c_subtypes, self.service, self.options,
                          ServerRule(self.rule))
                for s in self.strategies for m in self.servers() for k in range(self.seeds)]


def run_points(specs: Sequence[PointSpec], workers: int = 1,
               cluster: ClusterSpec | None = None,
               progress: Progress | None = None) -> list[PointResult]:
    """Simulate points, results in the order of ``specs``.

    Args:
        specs: the points.
        workers: local processes (1: in this process).
        cluster: run each point as a task on a Dask cluster instead (a
            scheduler's address, or a LocalCluster to start).
        progress: called after each point.
    """
    if cluster is not None:
        return run_on_dask(simulate_point, list(specs), cluster, progress)
    results: list[PointResult] = []
    if workers <= 1:
        for spec in specs:
            results.append(simulate_point(spec))
            if progress is not None:
                progress(len(results), len(specs))
        return results
    with ProcessPoolExecutor(max_workers=workers) as pool:
        for result in pool.map(simulate_point, specs):
            results.append(result)
            if progress is not None:
                progress(len(results), len(specs))
    return results


@dataclass(frozen=True, eq=False)
class StudyResult(lb_report.QueueSweepResult):
    """The sweep's measurements.

    Attributes:
        config: the validated configuration.
        queue: mean queue per server, float64 (strategies, ratios, seeds).
        wins: game rounds won per strategy, summed over points, int64 (strategies,).
        rounds: game rounds per strategy, int64 (strategies,).
        pairs_consumed: heralded pairs consumed per strategy, int64 (strategies,).
        c_in_pairs: fraction of type-C requests served in pair jobs, (strategies,).
    """

    config: StudyConfig
    queue: NDArray[np.float64]
    wins: NDArray[np.int64]
    rounds: NDArray[np.int64]
    pairs_consumed: NDArray[np.int64]
    c_in_pairs: NDArray[np.float64]

    def mean_queue(self, i: int) -> NDArray[np.float64]:
        """Seed-averaged queue of strategy i, shape (R,)."""
        return self.queue[i].mean(axis=1)

    def win_rate(self, i: int) -> float | None:
        """Fraction of game rounds won by strategy i (None without pairs of balancers)."""
        return float(self.wins[i] / self.rounds[i]) if self.rounds[i] else None

    def predicted_win(self, name: str) -> float | None:
        """Analytic win probability of a pairwise strategy that keeps to its pair's two
        servers (None for the others), in the game with the study's K subtypes."""
        c = self.config
        if not STRATEGIES[name].pairwise or name == "hash-subtype":
            return None
        spec = PointSpec(name, c.balancers, 2, 1, c_subtypes=c.c_subtypes,
                         c_probability=c.c_probability, options=c.options)
        strategy, full = point_pair_strategy(spec)
        return subtype_win_probability(strategy, c.c_probability, c.c_subtypes, full)

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report (keys of docs/commands.md and more)."""
        c, ratios = self.config, self.effective_ratios
        out: dict[str, Any] = {key: {} for key in (
            *lb_report.QUEUE_KEYS, "win_rate", "win_rate_predicted", "pairs_consumed", "c_in_pairs",
            "description", "communicates")}
        for i, name in enumerate(c.strategies):
            lb_report.queue_entries(out, name, self.queue[i], ratios, c.threshold)
            out["win_rate"][name] = self.win_rate(i)
            out["win_rate_predicted"][name] = self.predicted_win(name)
            out["pairs_consumed"][name] = int(self.pairs_consumed[i])
            out["c_in_pairs"][name] = float(self.c_in_pairs[i])
            out["description"][name] = STRATEGIES[name].description
            out["communicates"][name] = STRATEGIES[name].communicates
        return {"ratios": list(c.ratios), "effective_ratios": ratios, "servers": c.servers(),
                "balancers": c.balancers, "steps": c.steps, "warmup_steps": c.warmup_steps,
                "seeds": c.seeds, "seed": c.seed, "threshold": c.threshold,
                "strategies": list(c.strategies), **out,
                "workload": {"c_probability": c.c_probability, "c_subtypes": c.c_subtypes},
                **lb_report.service_entries(c.rule, c.service),
                "visibility": c.visibility, "chsh": c.chsh.to_dict() if c.chsh else None,
                "queue_unit": "requests per server (waiting or in service), time-averaged "
                              "after the warm-up, mean over seeds (95% t intervals)",
                "knee_definition": lb_report.knee_definition(c.threshold),
                "model": MODELS[ServerRule(c.rule)], "heralding": HERALDING_NOTE}


def run_study(config: StudyConfig, workers: int = 1, cluster: ClusterSpec | None = None,
              progress: Progress | None = None) -> StudyResult:
    """Validate, simulate every point and collect the results.

    Raises:
        StudyConfigError: before any work, if the configuration cannot run.
        ClusterError: no scheduler answers at the address, or ``distributed``
            is missing.
    """
    config = config.validate()
    if cluster is not None:
        require_distributed()
    results = run_points(config.point_specs(), workers, cluster, progress)
    return collect(config, results)


def collect(config: StudyConfig, results: Sequence[PointResult]) -> StudyResult:
    """The study's arrays from its points' results (in :meth:`StudyConfig.point_specs` order)."""
    s, r, k = len(config.strategies), len(config.ratios), config.seeds
    queue = np.array([p.mean_queue for p in results], dtype=np.float64).reshape(s, r, k)
    per = np.array([[p.wins, p.rounds, p.pairs_consumed, p.c_requests, p.pair_jobs]
                    for p in results], dtype=np.int64).reshape(s, r * k, 5).sum(axis=1)
    c_in_pairs = np.where(per[:, 3] > 0, 2.0 * per[:, 4] / np.maximum(per[:, 3], 1), 0.0)
    return StudyResult(config, queue, per[:, 0], per[:, 1], per[:, 2], c_in_pairs)


def plot_study(result: StudyResult, path: Path) -> None:
    """Mean queue against N/M with confidence intervals and knees (PNG, Agg)."""
    report, c = result.to_dict(), result.config
    fig, ax = lb_report.queue_figure()
    lb_report.plot_queues(ax, report, c.strategies, c.strategies, c.threshold, knee_spans=True)
    ax.set_title(f"N = {c.balancers}, K = {c.c_subtypes}, rule {ServerRule(c.rule).value}, "
                 f"{c.steps} steps, {c.seeds} seeds; bands: 95% intervals over seeds;\n"
                 "dotted: knees, shaded: their 95% intervals", fontsize=8)
    lb_report.finish_figure(fig, HERALDING_NOTE, 0.03, path)


def save_study(result: StudyResult, out_dir: Path) -> dict[str, Path]:
    """Write ``lb_study.json`` and ``lb_study.png`` into out_dir (created if needed)."""
    return lb_report.save_report(result.to_dict(), lambda png: plot_study(result, png), out_dir,
                                 JSON_NAME, PNG_NAME)


def format_study(result: StudyResult) -> str:
    """A table of mean queues, then knees and win rates, then the heralding note."""
    report, c = result.to_dict(), result.config
    width = lb_report.column_width(c.strategies)
    lines = [f"Load-balancing study: N = {c.balancers} balancers, {c.steps} steps per point, "
             f"{c.seeds} seeds, service {c.service.describe()}, "
             f"C subtypes {c.c_subtypes}, server rule {ServerRule(c.rule).value}",
             *lb_report.queue_table(report, c.strategies, width)]
    lines.append(f"knee (mean queue first above {c.threshold:g}), per-seed 95% interval, "
                 "game win rate (predicted):")

    def win_text(s: str) -> str:
        win, pred = report["win_rate"][s], report["win_rate_predicted"][s]
        return "-" if win is None else f"{win:.4f}" + ("" if pred is None else f" ({pred:.4f})")
    lines += lb_report.knee_rows(report, c.strategies, width, win_text, gap="  ")
    lines.append(HERALDING_NOTE)
    return "\n".join(lines)


def default_workers() -> int:
    """Local processes by default: the machine's cores."""
    return max(1, os.cpu_count() or 1)


__all__ = ["DEFAULT_RATIOS", "DEFAULT_STEPS", "DEFAULT_THRESHOLD", "ServerRule", "ServiceModel",
           "StudyConfig", "StudyConfigError", "StudyResult", "collect", "default_workers",
           "format_study", "plot_study", "run_points", "run_study", "save_study"]
