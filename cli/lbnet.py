"""``qnic lb-net``: the networked load-balancing system on loopback (docs/network.md, docs/commands.md).

Starts every process of the system on 127.0.0.1 (backends, pair source,
coordinator, balancer nodes, load generator), replays one seeded trace
through it per strategy and prints each strategy's row; every process it
started is stopped at the end, also on errors and Ctrl-C.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Any

from qnic.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    non_negative,
    non_negative_or_inf,
    positive_int,
    probability,
    seed,
)
from qnic.cli.net import add_detector_args, add_heralding_args, add_service_args


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lb-net", help="the networked load-balancing system on loopback: real processes",
        description="Balancer nodes, backends with caches, a pair source, a coordinator and a "
                    "load generator, each its own process on 127.0.0.1; every strategy routes "
                    "the same seeded trace. On the simulated bench the pairs' joint statistics "
                    "come from a pair oracle in the source process (Bell: independent processes "
                    "cannot reproduce them); its time is reported apart as physics.")
    p.add_argument("--balancers", type=positive_int, default=8, metavar="N",
                   help="balancer nodes, partners 2g and 2g+1 (default 8; even)")
    p.add_argument("--backends", type=positive_int, default=8, metavar="M",
                   help="backend servers (default 8)")
    p.add_argument("--requests", type=positive_int, default=4000, metavar="R",
                   help="requests per strategy (default 4000)")
    p.add_argument("--strategies", nargs="+", metavar="S",
                   help="strategies, in order (default: random round-robin power-of-two "
                        "coordinator classical-best dedicated-c consistent-hash quantum, and xor "
                        "with --c-subtypes above 1)")
    p.add_argument("--rtt-us", type=non_negative, default=0.0, metavar="T",
                   help="round-trip time added between processes: T/2 on every message "
                        "(default 0: bare loopback)")
    p.add_argument("--jitter-us", type=non_negative, default=0.0, metavar="J",
                   help="uniform jitter +-J on each one-way delay (default 0)")
    p.add_argument("--arrivals", choices=["step", "poisson"], default="step",
                   help="step: each node one request per step (the paper's model); poisson")
    p.add_argument("--step-us", type=non_negative, default=4000.0, metavar="US",
                   help="step of the step model (default 4000)")
    p.add_argument("--rate-hz", type=non_negative, default=2000.0, metavar="R",
                   help="total arrival rate of the poisson model (default 2000)")
    p.add_argument("--c-probability", type=probability, default=0.5, metavar="P",
                   help="probability that a request is type C (default 0.5)")
    p.add_argument("--c-subtypes", type=positive_int, default=1, metavar="K",
                   help="C subtypes (cache keys) (default 1)")
    add_service_args(p)
    p.add_argument("--pairs", choices=["heralded", "numbered"], default="heralded",
                   help="heralded: the source sends each node its photons, the nodes detect them "
                        "on their own clocks and the herald matches their clicks (default); "
                        "numbered: pairs numbered by round, no photons")
    p.add_argument("--clock-offset-ns", type=non_negative, default=500_000.0, metavar="NS",
                   help="heralded: each node's clock is off by up to +-NS (drawn from the seed; "
                        "default 5e5)")
    p.add_argument("--clock-drift-ppm", type=non_negative, default=20.0, metavar="PPM",
                   help="heralded: each node's clock runs fast or slow by up to PPM (default 20)")
    add_heralding_args(p, "heralded: ")
    add_detector_args(p, "heralded: ")
    p.add_argument("--herald-block-ms", type=non_negative, default=20.0, metavar="MS",
                   help="heralded: emission time per block (default 20)")
    p.add_argument("--block", type=positive_int, default=4096, metavar="N",
                   help="numbered: pairs per distribution block (default 4096)")
    p.add_argument("--coherence-us", type=non_negative_or_inf, default=math.inf, metavar="T2",
                   help="QNIC memory coherence time (default inf: no decoherence)")
    p.add_argument("--station", metavar="FILE",
                   help="station whose simulated bench predicts the pairs' statistics "
                        "(default: the embedded bench)")
    p.add_argument("--visibility", type=probability, metavar="V",
                   help="use ideal CHSH statistics at visibility V instead of a station")
    p.add_argument("--chsh-json", metavar="FILE",
                   help="use the statistics measured by `qnic chsh --json` instead of a station")
    p.add_argument("--timeout-s", type=non_negative, default=10.0, metavar="S",
                   help="wait this long for answers after the last request (default 10)")
    p.add_argument("--seed", type=seed, default=0, metavar="N", help="seed of the trace and the "
                   "shared randomness (default 0)")
    p.add_argument("--sweep-rtt-us", type=non_negative, nargs="+", metavar="T",
                   help="run the study at each of these round-trip times (same processes)")
    p.add_argument("--sweep-backends", type=positive_int, nargs="+", metavar="M",
                   help="run the study at each of these numbers of backends (load N/M)")
    p.add_argument("--out", metavar="DIR",
                   help="write lb_net.json and the plots (lb_net.png; lb_net_rtt.png, "
                        "lb_net_load.png for the sweeps) here")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_lb_net)


def pair_table(args: argparse.Namespace) -> Any:
    """The distributed pairs' statistics: a visibility, a CHSH result, or the station's bench."""
    from qnic.balancing import chsh_strategy, load_chsh_result, visibility_table
    from qnic.experiments.net.source import PairTable

    if args.visibility is not None:
        table = visibility_table(chsh_strategy(), args.visibility)
        return PairTable.from_flat(table.prob.ravel().tolist(), (2, 2), table.label)
    if args.chsh_json is not None:
        measured = load_chsh_result(args.chsh_json)
        return PairTable.from_flat(measured.table.prob.ravel().tolist(), (2, 2),
                                   measured.table.label)
    from qnic.experiments.demo import bench_correlations
    from qnic.station import load_station_config, open_station

    config = load_station_config(args.station)
    with open_station(config) as st:
        e = bench_correlations(st)
    if e is None:
        raise ValueError(f"{config.path}: no simulated bench to predict the pairs' statistics; "
                         "give the statistics a CHSH run measured (--chsh-json FILE)"
                         + (" or a visibility (--visibility V)" if hasattr(args, "sweep_rtt_us")
                            else ""))
    label = "bench prediction (" + ("embedded bench" if args.station is None else str(args.station)) + ")"
    return PairTable.from_correlations(e.tolist(), label)


def _write_out(result: dict[str, Any], out: str) -> list[str]:
    from pathlib import Path

    from qnic.experiments.net.plots import write_plots

    folder = Path(out)
    written = write_plots(result, folder)
    data = folder / "lb_net.json"
    data.write_text(json.dumps(result, indent=1))
    return [str(data), *(str(p) for p in written)]


def _herald(args: argparse.Namespace) -> Any:
    from qnic.experiments.net.source import HeraldSpec

    if args.pairs != "heralded":
        return None
    search_ps = int(max(2 * args.clock_offset_ns * 1e3, 100 * args.window_ps) * 1.5)
    return HeraldSpec(args.pair_rate_hz, args.herald_block_ms * 1e-3, args.window_ps, search_ps)


def _clocks(args: argparse.Namespace) -> tuple[Any, ...]:
    """Each node's clock, drawn from the seed within the given bounds."""
    import random

    from qnic.experiments.net.node import NodeClock

    rng = random.Random(args.seed ^ 0xC10C)
    return tuple(NodeClock(rng.uniform(-args.clock_offset_ns, args.clock_offset_ns),
                           rng.uniform(-args.clock_drift_ppm, args.clock_drift_ppm),
                           args.efficiency, args.dark_hz, args.jitter_ps)
                 for _ in range(args.balancers))


def net_config(args: argparse.Namespace) -> Any:
    """The study the options describe.

    Raises:
        ValueError: naming the option that is wrong.
    """
    from qnic.experiments.net.backend import ServiceTimes
    from qnic.experiments.net.loadgen import TraceSpec
    from qnic.experiments.net.study import NetConfig, sweep_names
    from qnic.experiments.net.wire import Delay

    given = [name for name, value in (("--visibility", args.visibility),
                                      ("--chsh-json", args.chsh_json), ("--station", args.station))
             if value is not None]
    if len(given) > 1:
        raise ValueError(f"give one of --visibility, --chsh-json and --station, not "
                         f"{' and '.join(given)}")
    if args.sweep_rtt_us and args.sweep_backends:
        raise ValueError("give --sweep-rtt-us or --sweep-backends, not both")
    if any(m < 2 for m in args.sweep_backends or []):
        raise ValueError("--sweep-backends: every point needs at least 2 backends")
    for option, value in (("--step-us", args.step_us), ("--rate-hz", args.rate_hz),
                          ("--coherence-us", args.coherence_us)):
        if value == 0:
            raise ValueError(f"{option} must be above 0")
    for rtt in args.sweep_rtt_us or []:
        if args.jitter_us > rtt / 2:
            raise ValueError(f"--jitter-us {args.jitter_us:g} exceeds the one-way delay of the "
                             f"sweep's RTT {rtt:g} us")
    trace = TraceSpec(args.balancers, args.requests, args.arrivals, args.step_us,
                      args.rate_hz, args.c_probability, args.c_subtypes, args.seed)
    config = NetConfig(
        args.balancers, args.backends, trace, pair_table(args),
        Delay(args.rtt_us / 2, args.jitter_us if not args.sweep_rtt_us else 0.0),
        ServiceTimes(args.c_hit_us, args.miss_penalty_us, args.e_us, args.cache_size),
        sweep_names(args.strategies, args.c_subtypes), args.seed, args.block,
        args.coherence_us, args.timeout_s,
        herald=_herald(args), clocks=_clocks(args))
    if args.requests % args.balancers:
        raise ValueError(f"--requests ({args.requests}) must be a multiple of --balancers "
                         f"({args.balancers}): each node gets R / N")
    return config


def _progress(name: str, row: dict[str, Any]) -> None:
    win, p99 = row["win_rate"], row["latency_us"]["p99"]
    print(f"  {name}: win {'-' if win is None else format(win, '.3f')}, p99 "
          f"{'-' if p99 is None else format(p99, '.0f')} us", file=sys.stderr, flush=True)


def cmd_lb_net(args: argparse.Namespace) -> int:
    from qnic.experiments.net.study import run_load_sweep, run_study
    from qnic.experiments.net.wire import NetError

    try:
        config = net_config(args)
    except ValueError as exc:
        print(f"qnic lb-net: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    try:
        if args.sweep_backends:
            result = run_load_sweep(config, args.sweep_backends, _progress)
        else:
            result = run_study(config, _progress, rtts_us=args.sweep_rtt_us,
                               jitter_us=args.jitter_us)
    except NetError as exc:
        print(f"qnic lb-net: {exc}", file=sys.stderr)
        return EXIT_FAILED
    if args.out is not None:
        try:
            result["files"] = _write_out(result, args.out)
        except OSError as exc:
            print(f"qnic lb-net: --out {args.out}: {exc.strerror or exc}", file=sys.stderr)
            return EXIT_BAD_INPUT
    print(json.dumps(result) if args.json else report_text(result, args.rtt_us))
    if result.get("error"):
        print(f"qnic lb-net: {result['error']}; the strategies measured before it are shown, "
              "every process stopped", file=sys.stderr)
        return EXIT_FAILED
    if result.get("interrupted"):
        print("qnic lb-net: interrupted; the strategies measured so far are shown, every process "
              "stopped", file=sys.stderr)
        return EXIT_INTERRUPTED
    return EXIT_OK


def report_text(result: dict[str, Any], rtt_us: float) -> str:
    """The study as a person reads it: settings, the table (one per sweep point), the
    clocks the herald found, the files written."""
    from qnic.experiments.net.report import table

    c = result["config"]
    where = ("RTT swept" if result.get("rtt_sweep") else
             "backends swept" if result.get("load_sweep") else f"RTT {rtt_us:g} us")
    lines = [f"{c['balancers']} balancer nodes, {c['backends']} backends, "
             f"{c['trace']['requests']} requests per strategy, {where}; "
             f"pairs: {c['pair_table']} (S = {c['chsh_value']:.3f})"]
    sweep = result.get("rtt_sweep") or result.get("load_sweep")
    if sweep:
        axis = "rtt_us" if "rtt_us" in sweep else "backends"
        for value, point in zip(sweep[axis], sweep["points"], strict=False):
            lines.append(f"\n{'RTT' if axis == 'rtt_us' else 'backends'} {value:g}"
                         f"{' us' if axis == 'rtt_us' else ''}:")
            lines.append(table({"strategies": point["strategies"]}))
    else:
        lines.append(table(result))
    for name, row in result["strategies"].items():
        tracking = row.get("heralding", {}).get("clock_tracking", {})
        for group, track in sorted(tracking.items(), key=lambda item: int(item[0])):
            lines.append(f"{name}, group {group}: clocks {track['offset_ns'] / 1e3:+.3f} us apart "
                         f"and {track['drift_ppm']:+.3f} ppm; the herald found "
                         f"{track['offset_ns_fitted'] / 1e3:+.3f} us (largest error "
                         f"{track['offset_error_ps_max']:.0f} ps over {track['blocks']} blocks) "
                         f"and {track['drift_ppm_fitted']:+.3f} ppm")
    lines += [f"wrote {path}" for path in result.get("files", [])]
    lines.append("quantum decisions measure pairs through the source's pair oracle (physics, "
                 "timed apart); nodes never message each other")
    return "\n".join(lines)
