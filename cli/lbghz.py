"""``qnic lb-ghz``: groups of n >= 3 load balancers sharing GHZ states (docs/balancing.md).

The GHZ statistics are simulated (Born rule, optional white noise), not
measured: the bench has two arms.
"""

from __future__ import annotations

import argparse
from typing import Any

from qnic.cli.common import positive_int
from qnic.cli.lbsim import (
    add_service_options,
    add_sweep_options,
    bad_input,
    emit_report,
    number,
    parse_ratios,
    parse_service,
    split_values,
)


def add_parser(sub: Any) -> None:
    p = sub.add_parser(
        "lb-ghz", help="groups of n >= 3 balancers sharing GHZ states: game win rates and "
                       "queues against N/M (simulated GHZ statistics)",
        description="N load balancers in groups of n >= 3, M servers; each step each group "
                    "plays Mermin's n-player game read as a routing round (type C or E as "
                    "questions, an even number of C per group; each balancer's bit picks the "
                    "group's server u or v of the step) and its requests queue at the servers "
                    "under the rule of `qnic lb-sim`. Compared: random routing, a coin per "
                    "balancer, the best classical strategy, the GHZ strategy. The GHZ "
                    "statistics are simulated from the Born rule (optionally with white "
                    "noise), not measured on the bench, which has two arms.")
    p.add_argument("--group-size", type=int, default=3, metavar="n",
                   help="balancers per group sharing one GHZ state per step (>= 3, default 3)")
    p.add_argument("--balancers", type=positive_int, default=120, metavar="N",
                   help="load balancers N, a multiple of the group size (default 120)")
    add_sweep_options(
        p, ratios_help="loads N/M to sweep, space or comma separated (default 0.6 .. 1.3)",
        strategies_help="strategies (default random coin classical ghz)",
        seeds_help="repetitions per point (default 3)")
    p.add_argument("--visibility", type=number, default=1.0, metavar="V",
                   help="visibility of the simulated GHZ statistics: with probability 1 - V a "
                        "round's answers are uniform (default 1)")
    p.add_argument("--threshold", type=number, default=10.0, metavar="Q",
                   help="knee: first N/M where the mean queue exceeds Q (default 10)")
    add_service_options(p, "the servers' rule, as in `qnic lb-sim` (default c-pairs-first, "
                           "the paper's)")
    p.add_argument("--out", metavar="DIR", help="write lb_groups.json and lb_groups.png here")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_lbghz)


def _config(args: argparse.Namespace) -> Any:
    """The validated study config; ValueError (GroupError) naming the option otherwise."""
    from qnic.balancing.groups import GroupError
    from qnic.experiments.lb_groups import DEFAULT_RATIOS, DEFAULT_STRATEGIES, GroupStudyConfig

    if args.group_size < 3:
        raise GroupError(f"--group-size must be at least 3 (GHZ groups), got {args.group_size}")
    if args.balancers % args.group_size:
        raise GroupError(f"--balancers {args.balancers} is not a multiple of --group-size "
                         f"{args.group_size}")
    ratios = parse_ratios(args.ratios, DEFAULT_RATIOS, GroupError)
    names = split_values(args.strategies)
    service = parse_service(args, GroupError)
    if not 0.0 <= args.visibility <= 1.0:
        raise GroupError(f"--visibility must lie within [0, 1], got {args.visibility:g}")
    return GroupStudyConfig(group_size=args.group_size, balancers=args.balancers, ratios=ratios,
                            strategies=tuple(names) if names is not None else DEFAULT_STRATEGIES,
                            steps=args.steps, seeds=args.seeds, seed=args.seed,
                            threshold=args.threshold, visibility=args.visibility,
                            service=service, rule=args.server_rule).validate()


def cmd_lbghz(args: argparse.Namespace) -> int:
    from qnic.experiments.lb_groups import format_group_study, run_group_study, save_group_study

    try:
        config = _config(args)
    except ValueError as exc:  # GroupError
        return bad_input("lb-ghz", str(exc))
    result = run_group_study(config)
    return emit_report(args, result.to_dict(), lambda out: save_group_study(result, out),
                       lambda: format_group_study(result))
