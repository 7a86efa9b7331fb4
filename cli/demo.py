"""``qnic demo``: the live load-balancing demo on the bench (docs/commands.md).

The command's options; the run itself is in :mod:`qnic.cli.demo_run`, imported
only when the command runs, so ``qnic --help`` stays quick.
"""

from __future__ import annotations

import argparse
from typing import Any

from qnic.cli.common import non_negative, positive_float, positive_int, seed

DEFAULT_ROUNDS = 2000
DEFAULT_COHERENCE_US = 100.0
STORAGE_POLICIES = ("fixed", "refresh")
"""Values of :class:`qnic.balancing.memory.StoragePolicy` (tests/test_cli_startup.py checks)."""


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "demo", help="live load-balancing demo: quantum CHSH strategy beside the classical ones",
        description="Two load balancers route type-C and type-E requests: per round both QNICs "
                    "measure in the bases of the requests, the next heralded pair decides, "
                    "each side from its own bit; classical shared-randomness strategies run "
                    "on the same requests. Quantum strategies consume heralded "
                    "(coincidence-matched) pairs; a deployment needs heralded or stored pairs.")
    p.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    p.add_argument("--rounds", type=positive_int, metavar="N",
                   help=f"rounds (default {DEFAULT_ROUNDS}, or the whole trace)")
    p.add_argument("--seed", type=seed, metavar="N",
                   help="seed of the requests, server pairs and memories, and of the simulated "
                        "bench (default: requests 0, the station's bench seed)")
    p.add_argument("--trace", metavar="FILE",
                   help="request types per round: lines 'C,E' (A's type, B's type), C or E")
    p.add_argument("--servers", type=positive_int, default=2, metavar="M",
                   help="servers; each round the pair shares two of them (default 2)")
    p.add_argument("--service-steps", type=positive_float, default=1.0, metavar="T",
                   help="service time of a job in rounds (default 1)")
    p.add_argument("--service", choices=["fixed", "geometric"], default="fixed",
                   help="service times exactly T rounds or geometric with mean T (default fixed)")
    p.add_argument("--classical", nargs="+", metavar="S",
                   help="classical strategies beside the quantum one (default dedicated-c "
                        "separate; with --net classical-best coordinator, any of qnic lb-net's)")
    p.add_argument("--rtt-us", type=non_negative, default=50.0, metavar="US",
                   help="classical round-trip time between the balancers in us (default 50)")
    p.add_argument("--memory-us", type=non_negative, metavar="T",
                   help="store each pair in QNIC memories for T us before its requests measure it")
    p.add_argument("--coherence-us", type=positive_float, metavar="T2",
                   help=f"memories' coherence time in us (default {DEFAULT_COHERENCE_US:g}; the "
                        "paper cites 16-160 us at room temperature)")
    p.add_argument("--storage", choices=STORAGE_POLICIES, default="fixed",
                   help="fixed: every pair waits T; refresh: a new pair every T, requests at "
                        "random times (default fixed)")
    p.add_argument("--memory-sweep-us", type=non_negative, nargs="+", metavar="T",
                   help="also report the win rate at these storage times (same pairs)")
    p.add_argument("--chsh-json", metavar="FILE",
                   help="`qnic chsh --json` output: its S gives the predicted quantum rate")
    p.add_argument("--block", type=positive_int, default=250, metavar="N",
                   help="rounds per block: each setting is visited once per block (default 250)")
    p.add_argument("--batch-s", type=positive_float, default=0.02, metavar="S",
                   help="longest acquisition batch in s (default 0.02)")
    p.add_argument("--calibration", metavar="FILE", help="calibration file (default: the newest)")
    p.add_argument("--calibration-dir", metavar="DIR", help="the calibration store")
    p.add_argument("--uncalibrated", action="store_true",
                   help="use the station file's zeros and delays, not a calibration")
    p.add_argument("--out", metavar="PNG", help="write win rate and queues over rounds to this PNG")
    p.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    p.add_argument("--no-pace", action="store_true",
                   help="live view: do not pace a simulated bench to wall time")
    p.add_argument("--net", action="store_true",
                   help="run on the networked system of `qnic lb-net` (separate processes, "
                        "heralded pairs, per-request decisions) instead of batching by setting")
    p.add_argument("--balancers", type=positive_int, default=2, metavar="N",
                   help="with --net: balancer nodes, partners 2g and 2g+1 (default 2)")
    p.add_argument("--chunks", type=positive_int, default=10, metavar="K",
                   help="with --net: update the view after each of K chunks of rounds (default 10)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_demo, default_rounds=DEFAULT_ROUNDS,
                   default_coherence_us=DEFAULT_COHERENCE_US)


def cmd_demo(args: argparse.Namespace) -> int:
    if args.net:
        from qnic.cli.demo_net import run_net_demo

        return run_net_demo(args)
    if args.classical is None:
        args.classical = ["dedicated-c", "separate"]
    from qnic.cli.demo_run import run_demo

    return run_demo(args)
