"""``qnic net ROLE``: one process of the networked system (docs/network.md, docs/commands.md).

Each role listens on ``--listen HOST:PORT`` (default 127.0.0.1 and a port the
system chooses), prints one readiness line ``READY {json}`` on stdout once
it listens, and runs until asked to stop (or SIGINT / SIGTERM). ``qnic
lb-net`` starts them all on one machine; on several hosts start each role
yourself and give every process the others' addresses.
"""

from __future__ import annotations

import argparse
import math
from typing import Any

from qnic.cli.common import (
    EXIT_BAD_INPUT,
    non_negative,
    non_negative_int,
    non_negative_or_inf,
    positive_int,
    probability,
    seed,
)

ROLES = ("source", "node", "backend", "loadgen", "coordinator")


def add_detector_args(p: argparse.ArgumentParser, what: str) -> None:
    """A node's detector: --efficiency, --dark-hz, --jitter-ps (``what`` opens each help)."""
    p.add_argument("--efficiency", type=probability, default=0.3, metavar="ETA",
                   help=f"{what}probability that a photon of the arm is detected (default 0.3)")
    p.add_argument("--dark-hz", type=non_negative, default=500.0, metavar="HZ",
                   help=f"{what}dark counts per second per node (default 500)")
    p.add_argument("--jitter-ps", type=non_negative, default=350.0, metavar="PS",
                   help=f"{what}RMS timing jitter of a click (default 350)")


def add_service_args(p: argparse.ArgumentParser) -> None:
    """A backend's service times and cache: --c-hit-us, --miss-penalty-us, --e-us, --cache-size."""
    p.add_argument("--c-hit-us", type=non_negative, default=1000.0, metavar="US",
                   help="service time of a type-C request whose key is cached (default 1000)")
    p.add_argument("--miss-penalty-us", type=non_negative, default=4000.0, metavar="US",
                   help="added to a type-C request whose key is not cached (default 4000)")
    p.add_argument("--e-us", type=non_negative, default=2000.0, metavar="US",
                   help="service time of a type-E request (default 2000)")
    p.add_argument("--cache-size", type=non_negative_int, default=4, metavar="K",
                   help="keys each backend keeps in its cache (default 4)")


def add_heralding_args(p: argparse.ArgumentParser, what: str) -> None:
    """The heralded source: --pair-rate-hz and --window-ps (``what`` opens each help)."""
    p.add_argument("--pair-rate-hz", type=non_negative, default=200_000.0, metavar="R",
                   help=f"{what}pairs emitted per second per partner group (default 2e5)")
    p.add_argument("--window-ps", type=positive_int, default=1000, metavar="PS",
                   help=f"{what}coincidence window, half-width (default 1000)")


def _common(p: argparse.ArgumentParser) -> None:
    p.add_argument("--listen", default="127.0.0.1:0", metavar="HOST:PORT",
                   help="where to listen (default 127.0.0.1:0, a free port)")
    p.add_argument("--delay-us", type=non_negative, default=0.0, metavar="US",
                   help="one-way delay added to every line this process sends (default 0)")
    p.add_argument("--jitter-us", type=non_negative, default=0.0, metavar="US",
                   help="uniform jitter of that delay, +-US (default 0)")
    p.add_argument("--seed", type=seed, default=0, metavar="N", help="this process's seed")
    p.add_argument("--watch-stdin", action="store_true",
                   help="also stop when standard input closes (how qnic lb-net starts its "
                        "children, so none outlives it)")


def add_parser(sub: Any) -> None:
    net = sub.add_parser("net", help="one process of the networked load-balancing system",
                         description=__doc__.split("\n\n", 1)[1] if __doc__ else None)
    roles = net.add_subparsers(dest="role", required=True, metavar="ROLE")
    p = roles.add_parser("source", help="pair source and pair oracle")
    _common(p)
    p.add_argument("--table", required=True, metavar="P,...",
                   help="P(a,b|x,y): 16 numbers in [x][y][a][b] order")
    p.add_argument("--block", type=positive_int, default=4096, metavar="N",
                   help="pairs per distribution block (default 4096)")
    p.add_argument("--coherence-us", type=non_negative_or_inf, default=math.inf, metavar="T2",
                   help="QNIC memory coherence time (default inf: no decoherence)")
    p.add_argument("--herald", action="store_true",
                   help="send the nodes photons and herald pairs from their clicks (default: "
                        "numbered pairs)")
    add_heralding_args(p, "with --herald: ")
    p.add_argument("--block-ms", type=non_negative, default=20.0, metavar="MS",
                   help="with --herald: emission time per block (default 20)")
    p.add_argument("--search-ns", type=non_negative, default=2_000_000.0, metavar="NS",
                   help="with --herald: the nodes' clocks differ by at most this (default 2e6)")
    p = roles.add_parser("node", help="balancer node with its QNIC")
    _common(p)
    p.add_argument("--index", type=int, required=True, metavar="I",
                   help="node index; nodes 2g and 2g+1 are partners")
    p.add_argument("--backends", required=True, metavar="HOST:PORT,...", help="backend addresses")
    p.add_argument("--source", metavar="HOST:PORT", help="the pair source")
    p.add_argument("--coordinator", metavar="HOST:PORT", help="the coordinator")
    p.add_argument("--clock-offset-ns", type=float, default=0.0, metavar="NS",
                   help="this node's clock offset from the source's (simulation; default 0)")
    p.add_argument("--clock-drift-ppm", type=float, default=0.0, metavar="PPM",
                   help="this node's clock rate error (simulation; default 0)")
    add_detector_args(p, "")
    p = roles.add_parser("backend", help="backend server: a queue and a cache")
    _common(p)
    p.add_argument("--index", type=int, default=0, metavar="I", help="backend index (reports)")
    add_service_args(p)
    p = roles.add_parser("loadgen", help="load generator")
    _common(p)
    p.add_argument("--nodes", required=True, metavar="HOST:PORT,...", help="node addresses, by index")
    p = roles.add_parser("coordinator", help="coordinator for the coordinator strategy")
    _common(p)
    p.add_argument("--backends", type=positive_int, required=True, metavar="M",
                   help="number of backends")
    net.set_defaults(func=cmd_net)


def _addresses(text: str, what: str) -> list[Any]:
    from qnic.experiments.net.wire import parse_address

    parts = text.split(",")
    if any(not part.strip() for part in parts):
        raise ValueError(f"{what} addresses: an empty entry in {text!r}")
    return [parse_address(part.strip(), f"{what} {i}") for i, part in enumerate(parts)]


def cmd_net(args: argparse.Namespace) -> int:
    import sys

    from qnic.experiments.net.wire import Delay, parse_address, run_server

    try:
        listen = parse_address(args.listen, "--listen")
        delay = Delay(args.delay_us, args.jitter_us)
        if args.role == "source" and not delay.is_zero:
            raise ValueError("--delay-us: the source's links stand for physics (the pair "
                             "oracle) and take no delay")
        server = _factory(args, listen, delay)()  # built here, so a bad value exits 2
    except ValueError as exc:
        print(f"qnic net {args.role}: {exc}", file=sys.stderr)
        return EXIT_BAD_INPUT
    return run_server(lambda: server, watch_stdin=args.watch_stdin)


def _factory(args: argparse.Namespace, listen: Any, delay: Any) -> Any:
    role = args.role
    if role == "backend":
        from qnic.experiments.net.backend import Backend, ServiceTimes

        times = ServiceTimes(args.c_hit_us, args.miss_penalty_us, args.e_us, args.cache_size)
        return lambda: Backend(listen, args.index, times, delay, args.seed)
    if role == "source":
        from qnic.experiments.net.source import HeraldSpec, PairSource, PairTable

        try:
            values = [float(v) for v in args.table.split(",")]
        except ValueError:
            raise ValueError(f"--table: expected 16 comma-separated numbers, got {args.table!r}"
                             ) from None
        table = PairTable.from_flat(values, (2, 2), "given table")
        herald = None if not args.herald else HeraldSpec(
            args.pair_rate_hz, args.block_ms * 1e-3, args.window_ps, int(args.search_ns * 1e3))
        return lambda: PairSource(listen, table, args.block, args.coherence_us, delay, args.seed,
                                  herald)
    if role == "node":
        from qnic.experiments.net.node import BalancerNode, NodeClock
        from qnic.experiments.net.wire import parse_address

        backends = _addresses(args.backends, "backend")
        source = parse_address(args.source, "--source") if args.source else None
        coordinator = parse_address(args.coordinator, "--coordinator") if args.coordinator else None
        if len(backends) < 2:
            raise ValueError(f"--backends: a node needs at least 2, got {len(backends)}")
        clock = NodeClock(args.clock_offset_ns, args.clock_drift_ppm, args.efficiency,
                          args.dark_hz, args.jitter_ps)
        return lambda: BalancerNode(listen, args.index, backends, source, coordinator, delay,
                                    args.seed, clock=clock)
    if role == "loadgen":
        from qnic.experiments.net.loadgen import LoadGenerator

        nodes = _addresses(args.nodes, "node")
        return lambda: LoadGenerator(listen, nodes, delay, args.seed)
    from qnic.experiments.net.coordinator import Coordinator

    return lambda: Coordinator(listen, args.backends, delay, args.seed)
