"""The live demo on the networked system (docs/network.md; ``qnic demo --net``).

The system of ``qnic lb-net`` (separate processes, heralded pairs across
drifting clocks) routes the requests in chunks. In every chunk each
strategy (quantum beside the best classical one and a coordinator, by
default) routes the same requests, and the running totals are handed to a
view after each one. Each balancer node decides each request when it
arrives, from its own request type and its own pair half measured in that
type's basis; on the simulated bench the measurement is the source's pair
oracle (docs/network.md explains why). On a bench of motorised waveplates,
per-request basis choice is not possible (a plate turns in tens of
milliseconds), which is why ``qnic demo`` without ``--net`` batches rounds
by setting.
"""

from __future__ import annotations

import math
import statistics
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

from qnic.experiments.demo_view import wilson_interval
from qnic.experiments.net.orchestrate import Cluster, interrupts_as_keyboard_interrupt
from qnic.experiments.net.study import NetConfig, XorSetup, run_strategy, start_system, xor_setup

PER_REQUEST_NOTE = ("per-request decisions: each node measures its own pair half in the basis of "
                    "its request the moment the request arrives (on the simulated bench through "
                    "the source's pair oracle); on motorised waveplates this is not possible, "
                    "and `qnic demo` without --net batches rounds by setting")


@dataclass
class Tally:
    """One strategy's running totals over the chunks so far."""

    wins: float = 0.0
    rounds: int = 0
    predicted_sum: float = 0.0
    predicted_rounds: int = 0
    served: int = 0
    failed: int = 0
    pairs_used: int = 0
    fallbacks: int = 0
    p50_us: list[float] = field(default_factory=list)
    p99_us: list[float] = field(default_factory=list)
    decision_p99_us: list[float] = field(default_factory=list)

    def add(self, row: dict[str, Any]) -> None:
        """Fold in one chunk's row."""
        if row["win_rate"] is not None:
            self.wins += row["win_rate"] * row["rounds"]
            self.rounds += row["rounds"]
        if row["win_rate_predicted"] is not None:
            self.predicted_sum += row["win_rate_predicted"] * row["rounds"]
            self.predicted_rounds += row["rounds"]
        self.served += row["requests"]["served"]
        self.failed += row["requests"]["failed"]
        self.pairs_used += row["pairs_used"]
        self.fallbacks += row["fallbacks"]
        for store, value in ((self.p50_us, row["latency_us"]["p50"]),
                             (self.p99_us, row["latency_us"]["p99"]),
                             (self.decision_p99_us, row["decision_us"]["p99"])):
            if value is not None:
                store.append(value)

    def summary(self) -> dict[str, Any]:
        """The totals as reported: win rate, its Wilson interval and prediction, medians
        over the chunks of the latency percentiles."""
        wins = round(self.wins)

        def median(values: list[float]) -> float | None:
            return statistics.median(values) if values else None

        return {"win_rate": wins / self.rounds if self.rounds else None,
                "win_rate_ci": wilson_interval(wins, self.rounds),
                "win_rate_predicted": (self.predicted_sum / self.predicted_rounds
                                       if self.predicted_rounds else None),
                "rounds": self.rounds, "served": self.served, "failed": self.failed,
                "pairs_used": self.pairs_used, "fallbacks": self.fallbacks,
                "latency_p50_us": median(self.p50_us), "latency_p99_us": median(self.p99_us),
                "decision_p99_us": median(self.decision_p99_us)}


def run_live(config: NetConfig, chunks: int,
             on_update: Callable[[int, str, dict[str, dict[str, Any]]], None] | None = None
             ) -> dict[str, Any]:
    """Run ``config.strategies`` chunk by chunk on one system; the view gets the totals.

    Args:
        config: the system; its trace is one chunk's (each chunk draws its own
            requests from the seed plus the chunk's number).
        chunks: how many chunks.
        on_update: called with (chunk, strategy, every strategy's summary)
            after each strategy's chunk.

    Returns:
        ``strategies`` (name -> summary), ``chunks`` done, ``processes``,
        ``interrupted`` when stopped early (the totals so far are kept).
    """
    tallies = {name: Tally() for name in config.strategies}
    result: dict[str, Any] = {"strategies": {}, "chunks": 0, "processes": []}
    with interrupts_as_keyboard_interrupt(), Cluster() as cluster:
        try:
            start_system(cluster, config)
            result["processes"] = cluster.listing()
            xor: XorSetup | None = None
            if config.trace.c_subtypes > 1 or "xor" in config.strategies:
                xor = xor_setup(config.trace.c_subtypes, config.trace.c_probability, config.table)
            for chunk in range(chunks):
                part = replace(config, trace=replace(config.trace, seed=config.trace.seed + chunk))
                for name in config.strategies:
                    tallies[name].add(run_strategy(cluster, part, name, xor))
                    result["strategies"] = {n: t.summary() for n, t in tallies.items()}
                    if on_update is not None:
                        on_update(chunk, name, result["strategies"])
                result["chunks"] = chunk + 1
        except KeyboardInterrupt:
            result["interrupted"] = True
    return result


def sigmas_from_prediction(summary: dict[str, Any]) -> float | None:
    """How many binomial standard deviations the win rate lies from its prediction."""
    p, w, n = summary["win_rate_predicted"], summary["win_rate"], summary["rounds"]
    if p is None or w is None or not n or p in (0.0, 1.0):
        return None
    return (w - p) / math.sqrt(p * (1 - p) / n)
