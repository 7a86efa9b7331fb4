"""Queueing study of groups of n >= 3 balancers sharing GHZ states (docs/balancing.md).

N balancers in N/n groups of n, M servers. Each step every group gets a
question tuple of the group game (Mermin's game read as a routing round,
:mod:`qnic.balancing.groups`) and a pair of servers (u, v) from shared
randomness; strategies ``random`` (a uniform server of all M), ``coin``
(each balancer's own coin between u and v), ``classical`` (the exact
classical search's optimal strategy) and ``ghz`` (simulated GHZ answers,
optionally at visibility V). The servers follow the pairwise study's rule
(by default the paper's). Reported per strategy: mean queue against N/M with
t intervals over seeds, the knee (as ``qnic lb-sim`` finds it) with its
per-seed interval, and the group game's win rate with its Wilson 95%
interval beside the predicted value.

The GHZ statistics are simulated (Born rule of the GHZ strategy, white noise
at visibility V), not measured on the bench, which has two arms.

prepare: :meth:`GroupStudyConfig.validate`; run: points in this process;
analyze and save: pure, JSON and PNG.
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from numpy.typing import NDArray

from qnic.balancing import ServerRule, ServiceTime
from qnic.balancing.group_queue import GroupPointResult, GroupPointSpec, simulate_group_point
from qnic.balancing.groups import (
    SIMULATED_NOTE,
    GroupError,
    GroupStrategyName,
    WinRate,
    check_group_size,
    check_visibility,
    classical_closed_form,
    group_game,
    predicted_win,
)
from qnic.experiments import lb_report

DEFAULT_RATIOS: tuple[float, ...] = (0.6, 0.7, 0.8, 0.9, 1.0, 1.05, 1.1, 1.15, 1.2, 1.25, 1.3)
DEFAULT_STRATEGIES: tuple[str, ...] = tuple(s.value for s in GroupStrategyName)
DEFAULT_BALANCERS, DEFAULT_STEPS, DEFAULT_SEEDS = 120, 20_000, 3
JSON_NAME, PNG_NAME = "lb_groups.json", "lb_groups.png"
GAME_TEXT = ("Mermin's game as a routing round: question x_i = 1 for type C, 0 for type E, an "
             "even number of C per group (uniform over such tuples); answer bit 0 sends the "
             "request to the group's server u, 1 to v; the group wins when the number of its "
             "requests on v is (number of C / 2) mod 2")

Progress = Callable[[int, int], None]


@dataclass(frozen=True, eq=False)
class GroupStudyConfig(lb_report.QueueSweep):
    """A sweep of N/M for the group strategies.

    Attributes:
        group_size: n >= 3; balancers: N, a multiple of n.
        ratios: loads N/M (sorted ascending by :meth:`validate`).
        strategies: names of :class:`GroupStrategyName`.
        steps, seeds, seed: steps per point (first 10% warm-up), repetitions, the seed.
        threshold: queue length (requests per server) that defines the knee.
        visibility: V of the simulated GHZ statistics.
        service, rule: service time and server rule (default: the paper's).
    """

    group_size: int = 3
    balancers: int = DEFAULT_BALANCERS
    ratios: tuple[float, ...] = DEFAULT_RATIOS
    strategies: tuple[str, ...] = DEFAULT_STRATEGIES
    steps: int = DEFAULT_STEPS
    seeds: int = DEFAULT_SEEDS
    seed: int = 0
    threshold: float = 10.0
    visibility: float = 1.0
    service: ServiceTime = field(default_factory=ServiceTime)
    rule: ServerRule = ServerRule.C_PAIRS_FIRST

    def validate(self) -> GroupStudyConfig:
        """Check everything before any work; ratios sorted.

        Raises:
            GroupError: naming the value that cannot run.
        """
        n = check_group_size(self.group_size)
        if not isinstance(self.balancers, int) or self.balancers < n or self.balancers % n:
            raise GroupError(f"balancers N = {self.balancers!r} must be a positive multiple of "
                             f"the group size n = {n}")
        if not self.ratios:
            raise GroupError("no ratios given")
        for r in self.ratios:
            if not lb_report.positive_ratio(r):
                raise GroupError(f"ratios N/M must be positive numbers, got {r!r}")
            if round(self.balancers / r) < 2:
                raise GroupError(f"ratio {r:g} with {self.balancers} balancers leaves fewer "
                                 "than two servers")
        lb_report.check_run(self.steps, self.seeds, self.threshold, GroupError)
        known = [s.value for s in GroupStrategyName]
        for s in self.strategies:
            if s not in known:
                raise GroupError(f"unknown strategy {s!r}; known: {', '.join(known)}")
        if not self.strategies:
            raise GroupError("no strategies given")
        check_visibility(self.visibility)
        return replace(self, ratios=tuple(sorted(float(r) for r in self.ratios)),
                       strategies=tuple(dict.fromkeys(self.strategies)), rule=ServerRule(self.rule))

    def point_specs(self) -> list[GroupPointSpec]:
        """Every (strategy, ratio, seed) point, strategy-major."""
        return [GroupPointSpec(GroupStrategyName(s), self.group_size, self.balancers, m,
                               self.steps, self.warmup_steps, self.seed, k, self.visibility,
                               self.service, self.rule)
                for s in self.strategies for m in self.servers() for k in range(self.seeds)]


@dataclass(frozen=True, eq=False)
class GroupStudyResult(lb_report.QueueSweepResult):
    """The sweep's measurements.

    Attributes:
        config: the validated configuration.
        queue: mean queue per server, float64 (strategies, ratios, seeds).
        wins, rounds: group rounds won and played per strategy at the first load (the
            other loads replay its requests), int64 (strategies,).
        c_in_pairs: fraction of type-C requests served in pair jobs, (strategies,).
        seconds: wall time of the points; request_steps: N * steps summed over points.
    """

    config: GroupStudyConfig
    queue: NDArray[np.float64]
    wins: NDArray[np.int64]
    rounds: NDArray[np.int64]
    c_in_pairs: NDArray[np.float64]
    seconds: float
    request_steps: int

    def game_dict(self) -> dict[str, Any]:
        """The group game's values: exact classical, closed form, GHZ bracket."""
        n = self.config.group_size
        q = group_game(n).quantum_value()
        return {"name": f"mermin-{n}", "description": GAME_TEXT, "players": n,
                "classical_value": group_game(n).classical_value().value,
                "classical_closed_form": classical_closed_form(n),
                "quantum_value": q.lower, "quantum_upper_bound": q.upper,
                "quantum_method": q.lower_method}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready report."""
        c, ratios = self.config, self.effective_ratios
        out: dict[str, Any] = {key: {} for key in (
            *lb_report.QUEUE_KEYS, "win_rate", "win_rate_ci", "win_rate_predicted", "rounds",
            "c_in_pairs")}
        for i, name in enumerate(c.strategies):
            lb_report.queue_entries(out, name, self.queue[i], ratios, c.threshold)
            won = WinRate(int(self.wins[i]), int(self.rounds[i])) if self.rounds[i] else None
            out["win_rate"][name] = won.rate if won else None
            out["win_rate_ci"][name] = list(won.interval) if won else None
            out["win_rate_predicted"][name] = predicted_win(GroupStrategyName(name),
                                                            c.group_size, c.visibility)
            out["rounds"][name] = int(self.rounds[i])
            out["c_in_pairs"][name] = float(self.c_in_pairs[i])
        return {"group_size": c.group_size, "balancers": c.balancers,
                "groups": c.balancers // c.group_size, "ratios": list(c.ratios),
                "effective_ratios": ratios, "servers": c.servers(), "steps": c.steps,
                "warmup_steps": c.warmup_steps, "seeds": c.seeds, "seed": c.seed,
                "threshold": c.threshold, "visibility": c.visibility,
                "strategies": list(c.strategies), "game": self.game_dict(), **out,
                **lb_report.service_entries(c.rule, c.service),
                "speed": {"seconds": self.seconds, "request_steps": self.request_steps,
                          "request_steps_per_s": self.request_steps / max(self.seconds, 1e-9)},
                "knee_definition": lb_report.knee_definition(c.threshold),
                "win_rate_interval": "Wilson score interval, 95% (scipy), over the rounds of "
                                     "the first load (the other loads replay its requests)",
                "simulated": SIMULATED_NOTE}


def run_group_study(config: GroupStudyConfig,
                    progress: Progress | None = None) -> GroupStudyResult:
    """Validate, simulate every point in this process, collect.

    Raises:
        GroupError: before any work, if the configuration cannot run.
    """
    config = config.validate()
    specs = config.point_specs()
    results: list[GroupPointResult] = []
    start = time.perf_counter()
    for spec in specs:
        results.append(simulate_group_point(spec))
        if progress is not None:
            progress(len(results), len(specs))
    seconds = time.perf_counter() - start
    s, r, k = len(config.strategies), len(config.ratios), config.seeds
    queue = np.array([p.mean_queue for p in results], dtype=np.float64).reshape(s, r, k)
    per = np.array([[p.wins, p.rounds, p.c_requests, p.pair_jobs] for p in results],
                   dtype=np.int64).reshape(s, r, k, 4)
    # every M replays the same requests (the workload is keyed by seed only), so the
    # independent rounds are those of one load: the win rate counts the first load's
    first = per[:, 0].sum(axis=1)
    total = per.sum(axis=(1, 2))
    c_in_pairs = np.where(total[:, 2] > 0, 2.0 * total[:, 3] / np.maximum(total[:, 2], 1), 0.0)
    return GroupStudyResult(config, queue, first[:, 0], first[:, 1], c_in_pairs, seconds,
                            config.balancers * config.steps * len(specs))


def plot_group_study(result: GroupStudyResult, path: Path) -> None:
    """Mean queue against N/M with intervals and knees (PNG, Agg)."""
    report, c = result.to_dict(), result.config
    fig, ax = lb_report.queue_figure()
    labels = [name if win is None else f"{name} (win {win:.3f})"
              for name, win in ((n, report["win_rate"][n]) for n in c.strategies)]
    lb_report.plot_queues(ax, report, c.strategies, labels, c.threshold, knee_spans=False)
    ax.set_title(f"groups of n = {c.group_size} sharing GHZ states (V = {c.visibility:g}), "
                 f"N = {c.balancers}, rule {ServerRule(c.rule).value},\n{c.steps} steps, "
                 f"{c.seeds} seeds; bands: 95% intervals over seeds; dotted: knees", fontsize=8)
    lb_report.finish_figure(fig, "\n".join(textwrap.wrap(SIMULATED_NOTE + ".", 140)), 0.05, path)


def save_group_study(result: GroupStudyResult, out_dir: Path) -> dict[str, Path]:
    """Write ``lb_groups.json`` and ``lb_groups.png`` into out_dir (created if needed)."""
    return lb_report.save_report(result.to_dict(), lambda png: plot_group_study(result, png),
                                 out_dir, JSON_NAME, PNG_NAME)


def format_group_study(result: GroupStudyResult) -> str:
    """The game's values, a table of mean queues, knees and win rates, the simulation note."""
    report, c = result.to_dict(), result.config
    game = report["game"]
    width = lb_report.column_width(c.strategies)
    lines = [f"Groups of n = {c.group_size} balancers sharing GHZ states: N = {c.balancers} "
             f"({report['groups']} groups), {c.steps} steps per point, {c.seeds} seeds, "
             f"server rule {ServerRule(c.rule).value}, service {c.service.describe()}",
             f"game: {GAME_TEXT}",
             f"  classical value {game['classical_value']:.6f} (1/2 + 2^-ceil(n/2) = "
             f"{game['classical_closed_form']:.6f}); quantum value {game['quantum_value']:.6f} "
             f"(certified bound {game['quantum_upper_bound']:.6f})",
             *lb_report.queue_table(report, c.strategies, width)]
    lines.append(f"knee (mean queue first above {c.threshold:g}) [per-seed 95% interval]; "
                 "win rate over the first load's rounds [Wilson 95%] (predicted):")

    def win_text(s: str) -> str:
        win, wci = report["win_rate"][s], report["win_rate_ci"][s]
        pred = report["win_rate_predicted"][s]
        return "- (plays no game)" if win is None else \
            f"{win:.4f} [{wci[0]:.4f}, {wci[1]:.4f}] ({pred:.4f})"
    lines += lb_report.knee_rows(report, c.strategies, width, win_text)
    speed = report["speed"]
    lines.append(f"  {speed['request_steps']:.3g} request-steps in {speed['seconds']:.1f} s "
                 f"({speed['request_steps_per_s']:.3g} per second, one core)")
    lines.append(f"Note: {SIMULATED_NOTE}.")
    return "\n".join(lines)


__all__ = ["DEFAULT_RATIOS", "DEFAULT_STRATEGIES", "GroupStudyConfig", "GroupStudyResult",
           "format_group_study", "plot_group_study", "run_group_study", "save_group_study"]
