"""``qnic lb-sim``: the load-balancing queueing study (docs/balancing.md, docs/commands.md; the paper's Figure 4)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from qnic.cli.common import EXIT_BAD_INPUT, EXIT_OK, json_safe, positive_int, seed


def number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, got {text!r}")
    return value


def add_sweep_options(p: Any, ratios_help: str, strategies_help: str, seeds_help: str) -> None:
    """--ratios, --strategies, --steps, --seeds, --seed: the sweep of the queueing studies
    (``qnic lb-sim``, ``qnic lb-ghz``)."""
    p.add_argument("--ratios", nargs="+", metavar="R", help=ratios_help)
    p.add_argument("--strategies", nargs="+", metavar="S", help=strategies_help)
    p.add_argument("--steps", type=positive_int, default=20_000, metavar="N",
                   help="steps per point (default 20000; the first 10%% are warm-up)")
    p.add_argument("--seeds", type=positive_int, default=3, metavar="N", help=seeds_help)
    p.add_argument("--seed", type=seed, default=0, metavar="N",
                   help="seed of the study (default 0)")


def add_service_options(p: Any, rule_help: str) -> None:
    """--server-rule, --service-steps, --service: the servers of the queueing studies."""
    p.add_argument("--server-rule", choices=["c-pairs-first", "same-step"],
                   default="c-pairs-first", help=rule_help)
    p.add_argument("--service-steps", type=number, default=1.0, metavar="T",
                   help="service time of a job in steps (default 1)")
    p.add_argument("--service", choices=["fixed", "geometric"], default="fixed",
                   help="service times exactly T steps, or geometric with mean T (default fixed)")


def bad_input(command: str, message: str) -> int:
    """Say what is wrong on stderr; the exit code of bad input."""
    print(f"qnic {command}: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def split_values(values: list[str] | None) -> list[str] | None:
    """Space or comma separated option values, flattened (None when not given)."""
    if values is None:
        return None
    return [part.strip() for v in values for part in v.split(",") if part.strip()]


def parse_ratios(values: list[str] | None, default: tuple[float, ...],
                 error: Callable[[str], Exception]) -> tuple[float, ...]:
    """The loads of --ratios (default when not given); ``error(message)`` raised otherwise."""
    if values is None:
        return default
    try:
        return tuple(number(r) for r in split_values(values) or [])
    except argparse.ArgumentTypeError as exc:
        raise error(f"--ratios: {exc}") from None


def parse_service(args: argparse.Namespace, error: Callable[[str], Exception]) -> Any:
    """The ServiceTime of --service-steps and --service; ``error(message)`` raised otherwise."""
    from qnic.balancing import ServiceTime

    try:
        return ServiceTime(args.service_steps, args.service)
    except ValueError as exc:
        raise error(f"--service-steps: {exc}") from None


def emit_report(args: argparse.Namespace, report: dict[str, Any],
                save: Callable[[Path], dict[str, Path]], text: Callable[[], str]) -> int:
    """Save into --out (its files added to the report), then print the report as JSON
    (--json) or as text with the files' paths."""
    if args.out is not None:
        paths = save(Path(args.out))
        report["files"] = {kind: str(p.resolve()) for kind, p in paths.items()}
    if args.json:
        print(json.dumps(json_safe(report)))
    else:
        print(text())
        for kind, path in report.get("files", {}).items():
            print(f"  {kind}: {path}")
    return EXIT_OK


def add_parser(sub: Any) -> None:
    lb = sub.add_parser(
        "lb-sim", help="load-balancing queueing study: mean queue against N/M, knees",
        description="N load balancers (2k and 2k+1 paired), M servers; each step each balancer "
                    "gets a type-C request with probability 1/2, else type E; by default an "
                    "idle server runs two waiting type-C requests together first, then type-E "
                    "requests one at a time (the paper's rule). The load N/M is swept by "
                    "changing M. Quantum strategies consume heralded (coincidence-matched) "
                    "pairs; a deployment needs heralded or stored pairs.")
    lb.add_argument("--balancers", type=positive_int, nargs="+", default=[100], metavar="N",
                    help="number of load balancers N (default 100; even for pairwise "
                         "strategies); several values run one study each, to compare knees "
                         "over N")
    add_sweep_options(
        lb, ratios_help="loads N/M to sweep, space or comma separated (default 0.5 .. 1.5, "
                        "dense around 1)",
        strategies_help="strategies (default random round-robin power-of-two separate "
                        "dedicated-c hash-subtype quantum-ideal quantum-xor, plus "
                        "quantum-visibility with --visibility and quantum-measured with "
                        "--chsh-json)",
        seeds_help="repetitions per point for the confidence intervals (default 3)")
    lb.add_argument("--visibility", type=number, metavar="V",
                    help="visibility for quantum-visibility (correlators scaled by V)")
    lb.add_argument("--chsh-json", metavar="FILE",
                    help="output of `qnic chsh --json`: its counts feed quantum-measured")
    lb.add_argument("--threshold", type=number, default=10.0, metavar="Q",
                    help="knee: first N/M where the mean queue exceeds Q requests per server "
                         "(default 10)")
    lb.add_argument("--c-probability", type=number, default=0.5, metavar="P",
                    help="probability that a request is type C (default 0.5)")
    lb.add_argument("--c-subtypes", type=positive_int, nargs="+", default=[1], metavar="K",
                    help="type-C subtypes that must not be served together (default 1); "
                         "several values run one study each")
    add_service_options(lb, "c-pairs-first (the paper's, default): two waiting type-C requests "
                            "together first, then type E one at a time, then a lone C; "
                            "same-step: two type-C requests pair only if they arrived in the "
                            "same step, random order of service")
    lb.add_argument("--out", metavar="DIR", help="write lb_study.json and lb_study.png here")
    lb.add_argument("--workers", type=positive_int, metavar="N",
                    help="local processes (default: the machine's cores; 1 runs in process)")
    where = lb.add_mutually_exclusive_group()
    where.add_argument("--scheduler", metavar="ADDRESS",
                       help="send each point as a task to this Dask scheduler "
                            "(tcp://HOST:8786; needs qnic-bench[cluster])")
    where.add_argument("--local-cluster", type=positive_int, metavar="N",
                       help="start a Dask LocalCluster of N worker processes on 127.0.0.1 "
                            "for the run (needs qnic-bench[cluster])")
    lb.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    lb.set_defaults(func=cmd_lbsim)


def _config(args: argparse.Namespace) -> Any:
    """The base StudyConfig, validated for every N and K asked (raises ValueError subclasses
    with clear messages)."""
    from qnic.balancing import DEFAULT_STRATEGIES, load_chsh_result
    from qnic.experiments.lb_study import DEFAULT_RATIOS, StudyConfig, StudyConfigError

    ratios = parse_ratios(args.ratios, DEFAULT_RATIOS, StudyConfigError)
    names = split_values(args.strategies)
    strategies = tuple(names) if names is not None else DEFAULT_STRATEGIES \
        + (("quantum-visibility",) if args.visibility is not None else ()) \
        + (("quantum-measured",) if args.chsh_json is not None else ())
    if args.visibility is not None and "quantum-visibility" not in strategies:
        raise StudyConfigError("--visibility is used only by quantum-visibility; add it to "
                               "--strategies")
    if args.chsh_json is not None and "quantum-measured" not in strategies:
        raise StudyConfigError("--chsh-json is used only by quantum-measured; add it to "
                               "--strategies")
    service = parse_service(args, StudyConfigError)
    chsh = load_chsh_result(args.chsh_json) if args.chsh_json is not None else None
    return StudyConfig(balancers=args.balancers[0], ratios=ratios, strategies=strategies,
                       steps=args.steps, seeds=args.seeds, seed=args.seed,
                       threshold=args.threshold, visibility=args.visibility, chsh=chsh,
                       c_probability=args.c_probability, c_subtypes=args.c_subtypes[0],
                       service=service, rule=args.server_rule).validate()


class _Bar:
    """A rich progress bar on stderr (points done, elapsed, remaining), when it is a terminal."""

    def __init__(self, enabled: bool) -> None:
        self._progress: Any = None
        self._task: Any = None
        if enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                MofNCompleteColumn,
                Progress,
                TextColumn,
                TimeElapsedColumn,
                TimeRemainingColumn,
            )
            self._progress = Progress(TextColumn("points"), BarColumn(), MofNCompleteColumn(),
                                      TimeElapsedColumn(), TextColumn("left"),
                                      TimeRemainingColumn(), console=Console(stderr=True),
                                      transient=True)

    def __enter__(self) -> _Bar:
        if self._progress is not None:
            self._progress.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()

    def __call__(self, done: int, total: int) -> None:
        if self._progress is None:
            return
        if self._task is None:
            self._task = self._progress.add_task("points", total=total)
        self._progress.update(self._task, completed=done)


def cmd_lbsim(args: argparse.Namespace) -> int:
    from qnic.experiments.lb_cluster import ClusterError, ClusterSpec, connect, require_distributed
    from qnic.experiments.lb_family import (
        family_configs,
        family_dict,
        format_family,
        run_family,
        save_family,
    )
    from qnic.experiments.lb_study import default_workers, format_study, save_study

    cluster = None
    try:
        base = _config(args)
        configs = family_configs(base, list(dict.fromkeys(args.balancers)),
                                 list(dict.fromkeys(args.c_subtypes)))
        if args.scheduler is not None or args.local_cluster is not None:
            require_distributed()
            cluster = ClusterSpec(args.scheduler, args.local_cluster)
        if args.scheduler is not None:
            connect(args.scheduler).close()  # fail now, naming the address, not mid-run
    except (ValueError, ClusterError) as exc:  # StudyConfigError, CHSHInputError
        return bad_input("lb-sim", str(exc))
    workers = args.workers if args.workers is not None else default_workers()
    try:
        with _Bar(sys.stderr.isatty()) as bar:
            results = run_family(configs, workers=workers, cluster=cluster, progress=bar)
    except ClusterError as exc:
        return bad_input("lb-sim", str(exc))
    if len(results) == 1:
        return emit_report(args, results[0].to_dict(), lambda out: save_study(results[0], out),
                           lambda: format_study(results[0]))
    return emit_report(args, family_dict(results), lambda out: save_family(results, out),
                       lambda: format_family(results))
