"""What a networked study measured, per strategy (docs/network.md): pure functions on the processes' records.

Win rate: partners 2g and 2g+1 play round i with their i-th requests; the
round is won when the two requests share a backend exactly when both are
type C. Rounds whose request never reached a backend on either side do not
count. Latency: the load generator's per-request times, answered requests
only. Decision time: inside the node, from a request read to its job
written, less any wait for an answer from elsewhere (reported apart: the
pair oracle's as physics, a backend's or the coordinator's as network).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from qnic.experiments.demo_view import wilson_interval
from qnic.experiments.net.strategies import question

Record = Sequence[int]
"""A node's record of one request: (round, x, key, backend, fallback, decision_ns, wait_ns)."""


def percentiles(values: Sequence[float], points: Sequence[float] = (50.0, 99.0, 99.9)
                ) -> dict[str, float | None]:
    """Nearest-rank percentiles (keys ``p50``, ``p99``, ``p999``); None when empty."""
    keys = ["p" + format(p, "g").replace(".", "") for p in points]
    if not values:
        return dict.fromkeys(keys)
    ordered = sorted(values)
    n = len(ordered)
    return {k: float(ordered[min(n - 1, max(0, math.ceil(round(p * n / 100.0, 9)) - 1))])
            for k, p in zip(keys, points, strict=True)}


@dataclass
class Rounds:
    """The game's rounds as both partners decided them.

    Attributes:
        wins: rounds won.
        rounds: rounds both sides decided.
        mix: rounds per question pair [qa][qb] that both sides decided by
            the strategy.
        fallback_mix: the same for rounds both sides decided by the best
            classical rule for want of a pair.
        mixed: rounds one side decided each way (their outputs are
            independent: same backend half the time).
    """

    wins: int
    rounds: int
    mix: list[list[int]]
    fallback_mix: list[list[int]]
    mixed: int


def game_rounds(records: Sequence[Sequence[Record]], subtypes: int = 1) -> Rounds:
    """Every partner group's rounds that both sides decided.

    A round is won when the two requests share a backend exactly when both
    are type C of the same subtype (:func:`~qnic.experiments.net.strategies.question`).
    """
    n = subtypes + 1
    out = Rounds(0, 0, [[0] * n for _ in range(n)], [[0] * n for _ in range(n)], 0)
    for g in range(len(records) // 2):
        even = {r[0]: (question(r[1], r[2]), r[3], r[4]) for r in records[2 * g]}
        odd = {r[0]: (question(r[1], r[2]), r[3], r[4]) for r in records[2 * g + 1]}
        for i, (qa, b, fa) in even.items():
            other = odd.get(i)
            if other is None:
                continue
            qb, c, fb = other
            out.rounds += 1
            if fa and fb:
                out.fallback_mix[qa][qb] += 1
            elif fa or fb:
                out.mixed += 1
            else:
                out.mix[qa][qb] += 1
            out.wins += int((b == c) == (qa == qb and qa > 0))
    return out


def predicted_rate(rounds: Rounds, win_given: list[list[float]] | None,
                   fallback_given: list[list[float]] | None) -> float | None:
    """The win rate these rounds should reach: each round's P(win | questions) by how it
    was decided (the strategy, the fallback rule, or one side each: 1/2)."""
    if win_given is None or not rounds.rounds:
        return None
    n = len(rounds.mix)
    total = sum(rounds.mix[a][b] * win_given[a][b] for a in range(n) for b in range(n))
    if any(any(row) for row in rounds.fallback_mix):
        if fallback_given is None:
            return None
        total += sum(rounds.fallback_mix[a][b] * fallback_given[a][b]
                     for a in range(n) for b in range(n))
    return (total + 0.5 * rounds.mixed) / rounds.rounds


def strategy_metrics(name: str, load: dict[str, Any], nodes: Sequence[dict[str, Any]],
                     backends: Sequence[dict[str, Any]], win_given: list[list[float]] | None,
                     talks_to: str | None = None, subtypes: int = 1,
                     fallback_given: list[list[float]] | None = None) -> dict[str, Any]:
    """One strategy's row of the study.

    Args:
        name: the strategy.
        load: the load generator's run result.
        nodes: each node's stats (with ``records``), by node index.
        backends: each backend's stats.
        win_given: P(win | x, y) of the strategy (None if no closed form); the
            prediction weighs it by the rounds' own question pairs.
        talks_to: what a node waits on before deciding (``oracle``,
            ``network``), for naming the waits.
        subtypes: K, the number of C subtypes of the game.
        fallback_given: P(win | qa, qb) of the rule rounds fall back to.
    """
    played = game_rounds([n["records"] for n in nodes], subtypes)
    wins, rounds = played.wins, played.rounds
    predicted = predicted_rate(played, win_given, fallback_given)
    latency_us = [v / 1000.0 for v in load["latency_ns"] if v >= 0]
    records = [r for n in nodes for r in n["records"]]
    decision_us = [r[5] / 1000.0 for r in records]
    waits_us = [r[6] / 1000.0 for r in records if r[6] > 0]
    c_served = sum(1 for x, v in zip(load["x"], load["latency_ns"], strict=True) if x and v >= 0)
    c_hits = sum(h for x, h, v in zip(load["x"], load["hit"], load["latency_ns"], strict=True)
                 if x and v >= 0)
    sent = len(load["latency_ns"])
    served = len(latency_us)
    jobs = sum(b["jobs"] for b in backends)
    row: dict[str, Any] = {
        "win_rate": wins / rounds if rounds else None,
        "win_rate_predicted": predicted,
        "win_rate_ci": wilson_interval(wins, rounds),
        "rounds": rounds,
        "cache_hit_rate": c_hits / c_served if c_served else None,
        "latency_us": percentiles(latency_us),
        "decision_us": {k: v for k, v in percentiles(decision_us, (50.0, 99.0)).items()},
        "throughput_rps": served / load["wall_s"] if load["wall_s"] > 0 else None,
        "queue": {"mean_at_arrival": sum(b["queue_sum"] for b in backends) / jobs if jobs else 0.0,
                  "max": max((b["max_queue"] for b in backends), default=0)},
        "messages_between_balancers": sum(n["messages_between_balancers"] for n in nodes),
        "coordination_messages": sum(n["messages_to_coordinator"] + n["load_probes"]
                                     for n in nodes),
        "pairs_used": sum(n["pairs_used"] for n in nodes),
        "fallbacks": sum(n["fallbacks"] for n in nodes),
        "failovers": sum(n["failovers"] for n in nodes),
        "requests": {"sent": sent, "served": served, "failed": sent - served},
        "send_lag_us": load["send_lag_us"],
        "trace_digest": load["trace_digest"],
    }
    if talks_to is not None:
        row[f"{talks_to}_wait_us"] = percentiles(waits_us, (50.0, 99.0))
    return row


def table(result: dict[str, Any]) -> str:
    """The study as a readable table (one line per strategy)."""
    head = (f"{'strategy':16} {'win':>6} {'pred':>6} {'95% CI':>15} {'hits':>5} {'p50 us':>8} "
            f"{'p99 us':>8} {'p99.9':>8} {'dec p99':>7} {'req/s':>7} {'pairs':>6} {'fallb':>5} "
            f"{'coord':>6} {'failed':>6}")
    lines = [head, "-" * len(head)]

    def num(v: float | None, fmt: str) -> str:
        return "-" if v is None else format(v, fmt)

    for name, row in result["strategies"].items():
        ci = row["win_rate_ci"]
        ci_text = "-" if ci is None else f"[{ci[0]:.3f},{ci[1]:.3f}]"
        lines.append(
            f"{name:16} {num(row['win_rate'], '.3f'):>6} {num(row['win_rate_predicted'], '.3f'):>6} "
            f"{ci_text:>15} {num(row['cache_hit_rate'], '.2f'):>5} "
            f"{num(row['latency_us']['p50'], '.0f'):>8} {num(row['latency_us']['p99'], '.0f'):>8} "
            f"{num(row['latency_us']['p999'], '.0f'):>8} {num(row['decision_us']['p99'], '.1f'):>7} "
            f"{num(row['throughput_rps'], '.0f'):>7} {row['pairs_used']:>6} {row['fallbacks']:>5} "
            f"{row['coordination_messages']:>6} {row['requests']['failed']:>6}")
    return "\n".join(lines)
