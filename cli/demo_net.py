"""Running ``qnic demo --net``: the live demo on the networked system (docs/network.md).

The view is a table redrawn after each strategy's chunk (rich, on a
terminal), then the summary; ``--json`` prints one object with ``win_rate``
{strategy: value} and ``rounds``, as ``qnic demo`` does.
"""

from __future__ import annotations

import argparse
import json
import sys
from typing import Any

from qnic.cli.common import EXIT_BAD_INPUT, EXIT_FAILED, EXIT_INTERRUPTED, EXIT_OK

ALIASES = {"separate": "classical-best"}
"""``qnic demo``'s names for strategies that ``qnic lb-net`` calls otherwise."""


def _table(strategies: dict[str, dict[str, Any]], title: str) -> Any:
    from rich.table import Table

    from qnic.experiments.net.live import sigmas_from_prediction

    table = Table(title=title, title_justify="left")
    for column in ("strategy", "rounds", "win", "95% interval", "predicted", "sigma",
                   "latency p50 / p99 ms", "decision p99 us", "pairs", "fallbacks"):
        table.add_column(column, justify="left" if column == "strategy" else "right")

    def num(value: float | None, fmt: str) -> str:
        return "-" if value is None else format(value, fmt)

    for name, s in strategies.items():
        ci = s["win_rate_ci"]
        lat = "-" if s["latency_p50_us"] is None else (
            f"{s['latency_p50_us'] / 1e3:.1f} / {s['latency_p99_us'] / 1e3:.1f}")
        table.add_row(name, str(s["rounds"]), num(s["win_rate"], ".3f"),
                      "-" if ci is None else f"[{ci[0]:.3f}, {ci[1]:.3f}]",
                      num(s["win_rate_predicted"], ".3f"), num(sigmas_from_prediction(s), "+.1f"),
                      lat, num(s["decision_p99_us"], ".0f"), str(s["pairs_used"]),
                      str(s["fallbacks"]))
    return table


def demo_config(args: argparse.Namespace) -> Any:
    """The networked system the demo's options describe (ValueError names a bad option)."""
    from qnic.cli.lbnet import pair_table
    from qnic.experiments.net.loadgen import TraceSpec
    from qnic.experiments.net.source import HeraldSpec
    from qnic.experiments.net.study import NetConfig, sweep_names
    from qnic.experiments.net.wire import Delay

    classical = [ALIASES.get(c, c) for c in (args.classical or ["classical-best", "coordinator"])]
    unused = [option for option, given in (
        ("--trace", args.trace), ("--memory-us", args.memory_us),
        ("--memory-sweep-us", args.memory_sweep_us), ("--out", args.out),
        ("--calibration", args.calibration), ("--uncalibrated", args.uncalibrated),
        ("--db", args.db))
        if given not in (None, False)]
    if unused:
        raise ValueError(f"{', '.join(unused)}: not used with --net (see qnic lb-net for the "
                         "networked system's options)")
    if args.balancers % 2:
        raise ValueError(f"--balancers must be even (partners 2g, 2g+1), got {args.balancers}")
    rounds = args.rounds or args.default_rounds
    per_chunk = max(1, rounds // args.chunks) * args.balancers  # requests: N per round
    args.visibility = None  # pair_table: the station's bench, or --chsh-json's statistics
    seed = args.seed or 0
    trace = TraceSpec(args.balancers, per_chunk, "step", 4000.0, seed=seed)
    return NetConfig(args.balancers, max(2, args.servers), trace, pair_table(args),
                     Delay(args.rtt_us / 2), strategies=sweep_names(["quantum", *classical]),
                     seed=seed, herald=HeraldSpec())


def run_net_demo(args: argparse.Namespace) -> int:
    from qnic.experiments.net.live import PER_REQUEST_NOTE, run_live
    from qnic.experiments.net.wire import NetError

    try:
        config = demo_config(args)
    except ValueError as exc:
        print(f"qnic demo: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    title = (f"qnic demo --net: {args.balancers} balancer nodes, {config.backends} backends, "
             f"pairs: {config.table.label} (S = {config.table.chsh_value():.3f})")
    live = None
    if sys.stdout.isatty() and not args.json:
        from rich.live import Live

        live = Live(_table({}, title), auto_refresh=False)
        live.start()

    def update(chunk: int, name: str, strategies: dict[str, dict[str, Any]]) -> None:
        if live is not None:
            live.update(_table(strategies, f"{title}; chunk {chunk + 1} of {args.chunks}"),
                        refresh=True)
        else:
            win = strategies[name]["win_rate"]
            print(f"  chunk {chunk + 1}/{args.chunks} {name}: win "
                  f"{'-' if win is None else format(win, '.3f')}", file=sys.stderr, flush=True)

    try:
        result = run_live(config, args.chunks, update)
    except NetError as exc:
        print(f"qnic demo: {exc}", file=sys.stderr)
        return EXIT_FAILED
    finally:
        if live is not None:
            live.stop()
    report = {"win_rate": {n: s["win_rate"] for n, s in result["strategies"].items()},
              "rounds": min((s["rounds"] for s in result["strategies"].values()), default=0),
              "strategies": result["strategies"], "chunks": result["chunks"],
              "processes": result["processes"], "mode": "net", "note": PER_REQUEST_NOTE,
              **({"interrupted": True} if result.get("interrupted") else {})}
    if args.json:
        print(json.dumps(report))
    else:
        from rich.console import Console

        console = Console() if sys.stdout.isatty() else Console(width=140)
        console.print(_table(result["strategies"], title))
        print(PER_REQUEST_NOTE)
    if result.get("interrupted"):
        print("qnic demo: interrupted; the rounds measured so far are shown, every process "
              "stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK
