"""``qnic lb-sim``: the load-balancing queueing study (docs/balancing.md, docs/commands.md; the paper's Figure 4)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from qnic.cli.common import EXIT_BAD_INPUT, EXIT_OK, positive_int, seed


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_parser(sub: Any) -> None:
    lb = sub.add_parser(
        "lb-sim", help="load-balancing queueing study: mean queue against N/M, knees",
        description="N load balancers (2k and 2k+1 paired), M servers; each step each balancer "
                    "gets a type-C request with probability 1/2, else type E; a server serves "
                    "two type-C requests that reached it in the same step together, or one "
                    "request. The load N/M is swept by changing M. Quantum strategies consume "
                    "heralded (coincidence-matched) pairs; a deployment needs heralded or "
                    "stored pairs.")
    lb.add_argument("--balancers", type=positive_int, default=100, metavar="N",
                    help="number of load balancers N (default 100; even for pairwise strategies)")
    lb.add_argument("--ratios", nargs="+", metavar="R",
                    help="loads N/M to sweep, space or comma separated (default 0.5 .. 1.5, "
                         "dense around 1)")
    lb.add_argument("--strategies", nargs="+", metavar="S",
                    help="strategies (default random round-robin power-of-two separate "
                         "dedicated-c quantum-ideal, plus quantum-visibility with --visibility "
                         "and quantum-measured with --chsh-json)")
    lb.add_argument("--steps", type=positive_int, default=20_000, metavar="N",
                    help="steps per point (default 20000; the first 10%% are warm-up)")
    lb.add_argument("--seeds", type=positive_int, default=3, metavar="N",
                    help="repetitions per point for the confidence intervals (default 3)")
    lb.add_argument("--seed", type=seed, default=0, metavar="N", help="seed of the study (default 0)")
    lb.add_argument("--visibility", type=number, metavar="V",
                    help="visibility for quantum-visibility (correlators scaled by V)")
    lb.add_argument("--chsh-json", metavar="FILE",
                    help="output of `qnic chsh --json`: its counts feed quantum-measured")
    lb.add_argument("--threshold", type=number, default=10.0, metavar="Q",
                    help="knee: first N/M where the mean queue exceeds Q requests per server "
                         "(default 10)")
    lb.add_argument("--c-probability", type=number, default=0.5, metavar="P",
                    help="probability that a request is type C (default 0.5)")
    lb.add_argument("--c-subtypes", type=positive_int, default=1, metavar="K",
                    help="type-C subtypes that must not be served together (default 1)")
    lb.add_argument("--service-steps", type=number, default=1.0, metavar="T",
                    help="service time of a job in steps (default 1)")
    lb.add_argument("--service", choices=["fixed", "geometric"], default="fixed",
                    help="service times exactly T steps, or geometric with mean T (default fixed)")
    lb.add_argument("--out", metavar="DIR", help="write lb_study.json and lb_study.png here")
    lb.add_argument("--workers", type=positive_int, metavar="N",
                    help="local processes (default: the machine's cores; 1 runs in process)")
    lb.add_argument("--scheduler", metavar="ADDRESS",
                    help="run the points on this Dask distributed scheduler instead")
    lb.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    lb.set_defaults(func=cmd_lbsim)


def _bad(message: str) -> int:
    print(f"qnic lb-sim: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def _split(values: list[str] | None) -> list[str] | None:
    if values is None:
        return None
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def _config(args: argparse.Namespace) -> Any:
    """The validated StudyConfig (raises ValueError subclasses with clear messages)."""
    from qnic.balancing import DEFAULT_STRATEGIES, ServiceTime, load_chsh_result
    from qnic.experiments.lb_study import DEFAULT_RATIOS, StudyConfig, StudyConfigError

    ratios: tuple[float, ...] = DEFAULT_RATIOS
    if args.ratios is not None:
        try:
            ratios = tuple(number(r) for r in _split(args.ratios) or [])
        except argparse.ArgumentTypeError as exc:
            raise StudyConfigError(f"--ratios: {exc}") from None
    names = _split(args.strategies)
    strategies = tuple(names) if names is not None else DEFAULT_STRATEGIES \
        + (("quantum-visibility",) if args.visibility is not None else ()) \
        + (("quantum-measured",) if args.chsh_json is not None else ())
    if args.visibility is not None and "quantum-visibility" not in strategies:
        raise StudyConfigError("--visibility is used only by quantum-visibility; add it to "
                               "--strategies")
    if args.chsh_json is not None and "quantum-measured" not in strategies:
        raise StudyConfigError("--chsh-json is used only by quantum-measured; add it to "
                               "--strategies")
    try:
        service = ServiceTime(args.service_steps, args.service)
    except ValueError as exc:
        raise StudyConfigError(f"--service-steps: {exc}") from None
    chsh = load_chsh_result(args.chsh_json) if args.chsh_json is not None else None
    return StudyConfig(balancers=args.balancers, ratios=ratios, strategies=strategies,
                       steps=args.steps, seeds=args.seeds, seed=args.seed,
                       threshold=args.threshold, visibility=args.visibility, chsh=chsh,
                       c_probability=args.c_probability, c_subtypes=args.c_subtypes,
                       service=service).validate()


def _progress(enabled: bool) -> Any:
    def show(done: int, total: int) -> None:
        if enabled:
            print(f"\r  point {done}/{total}", end="" if done < total else "\n",
                  file=sys.stderr, flush=True)
    return show


def cmd_lbsim(args: argparse.Namespace) -> int:
    from qnic.experiments.lb_study import (
        default_workers,
        format_study,
        require_distributed,
        run_study,
        save_study,
    )

    try:
        config = _config(args)
        if args.scheduler is not None:
            require_distributed()
    except ValueError as exc:  # StudyConfigError, CHSHInputError
        return _bad(str(exc))
    workers = args.workers if args.workers is not None else default_workers()
    result = run_study(config, workers=workers, scheduler=args.scheduler,
                       progress=_progress(not args.json and sys.stderr.isatty()))
    report = result.to_dict()
    if args.out is not None:
        paths = save_study(result, Path(args.out))
        report["files"] = {kind: str(p.resolve()) for kind, p in paths.items()}
    if args.json:
        print(json.dumps(report))
    else:
        print(format_study(result))
        for kind, path in report.get("files", {}).items():
            print(f"  {kind}: {path}")
    return EXIT_OK
