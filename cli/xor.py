"""``qnic xor``: XOR-game values, strategies and bench bases; the Figure 3 study (docs/balancing.md, docs/commands.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qnic.cli.common import EXIT_BAD_INPUT, EXIT_OK, bench_seed, positive_int, seed, seed_used

_FIGURE3_ONLY = ("trials", "out")


def add_parser(sub: Any) -> None:
    xor = sub.add_parser(
        "xor", help="XOR game values, optimal strategy and waveplate bases; the Figure 3 study",
        description="Classical and quantum (Tsirelson SDP, certified) values of an XOR game, "
                    "the optimal strategy as waveplate settings on one Bell pair where possible; "
                    "or the random-graph-game study of the paper's Figure 3.")
    mode = xor.add_mutually_exclusive_group(required=True)
    mode.add_argument("--game", metavar="FILE",
                      help='JSON file {"prob": [[...]], "pred": [[...]]} (prob[x][y] sums to 1; '
                           "pred[x][y] in {0, 1} is the a xor b that wins)")
    mode.add_argument("--figure3", action="store_true",
                      help="run the Figure 3 study: random games on K_n, n = 3..7, p = 0..1")
    xor.add_argument("--trials", type=positive_int, metavar="N",
                     help="Figure 3: games per point (default 200)")
    xor.add_argument("--seed", type=seed, metavar="N",
                     help="Figure 3 or --bench: seed (default 0 / the station's)")
    xor.add_argument("--out", metavar="DIR", help="Figure 3: output directory (default .)")
    xor.add_argument("--bench", action="store_true",
                     help="also play the game on the bench (the station's QNICs)")
    xor.add_argument("--station", metavar="FILE", help="--bench: station file (default: simulated bench)")
    xor.add_argument("--seconds", type=float, default=1.0, metavar="S",
                     help="--bench: acquisition per question pair (default 1)")
    xor.add_argument("--db", metavar="FILE",
                     help="--bench: QCoDeS database (default: QCoDeS's configured one)")
    xor.add_argument("--visibility", type=float, metavar="V",
                     help="--bench: the bench's visibility, to predict the strategy's value there")
    xor.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    xor.set_defaults(func=cmd_xor)


def _bad(message: str) -> int:
    print(f"qnic xor: {message}", file=sys.stderr)
    return EXIT_BAD_INPUT


def cmd_xor(args: argparse.Namespace) -> int:
    if args.figure3:
        return _figure3(args)
    given = [f"--{name}" for name in _FIGURE3_ONLY if getattr(args, name) is not None]
    if given:
        return _bad(f"{', '.join(given)} can only be used with --figure3")
    return _game(args)


def _load_game(path: str) -> Any:
    """The XorGame in ``path``, or an error message (str) saying what is wrong."""
    from qnic.games import InvalidGameError, XorGame

    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        return f"cannot read game file {path}: {exc}"
    try:
        data = json.loads(text)
    except json.JSONDecodeError as exc:
        return f"{path} is not valid JSON: {exc}"
    try:
        return XorGame.from_dict(data)
    except InvalidGameError as exc:
        return f"invalid game in {path}: {exc}"


def game_report(game: Any, path: str) -> dict[str, Any]:
    """The JSON report of one game (keys of docs/commands.md and more)."""
    # exact up to MAX_ENUMERATED_QUESTIONS on the smaller side, else a
    # certified bracket (docs/balancing.md)
    bracket, quantum = game.classical_bracket(), game.quantum_value()
    classical = bracket.strategy
    strategy, bases = game.quantum_strategy(), game.bench_bases()
    return {
        "game": path, "shape": list(game.shape),
        "classical_value": bracket.lower if bracket.is_exact else None,
        "classical_bracket": {"lower": bracket.lower, "upper": bracket.upper,
                              "lower_method": bracket.lower_method,
                              "upper_method": bracket.upper_method, "exact": bracket.is_exact},
        "classical_strategy": {"a": classical.a.tolist(), "b": classical.b.tolist()},
        "quantum_value": quantum.value, "quantum_upper_bound": quantum.upper_bound,
        "duality_gap": quantum.gap, "quantum_advantage": quantum.value - bracket.upper,
        "strategy": {"dimension": strategy.dimension, "value": strategy.value,
                     "bell_pairs_needed": strategy.bell_pairs_needed,
                     "alice_vectors": strategy.alice_vectors.tolist(),
                     "bob_vectors": strategy.bob_vectors.tolist()},
        "realizable_with_waveplates": bases.realizable,
        "bell_state": bases.bell_state if bases.realizable else None,
        "bases": {"A": [b.to_dict() for b in bases.alice], "B": [b.to_dict() for b in bases.bob]}
        if bases.realizable else None,
        "note": bases.note,
    }


def _game(args: argparse.Namespace) -> int:
    game = _load_game(args.game)
    if isinstance(game, str):
        return _bad(game)
    report = game_report(game, args.game)
    if args.bench:
        bench = _bench(args, game)
        if isinstance(bench, str):
            return _bad(bench)
        report["bench"] = bench
    print(json.dumps(report) if args.json else format_game(report))
    return EXIT_OK


def _bench(args: argparse.Namespace, game: Any) -> dict[str, Any] | str:
    """Play the game on the bench; a message (str) when it cannot be."""
    from qnic.cli.chsh import use_calibration
    from qnic.experiments.xor_bench import NotRealizableError, play_on_bench, xor_bench_recorder
    from qnic.station import load_station_config, open_station
    from qnic.storage import command_arguments, run_facts, use_database

    if not args.seconds > 0:
        return f"--seconds must be positive, got {args.seconds}"
    if args.visibility is not None and not 0 <= args.visibility <= 1:
        return f"--visibility must be within [0, 1], got {args.visibility}"
    config = load_station_config(args.station)
    db = use_database(args.db)
    args.calibration, args.uncalibrated, args.calibration_dir = None, False, None
    with open_station(config, seed=bench_seed(config, args.seed)) as st:
        calibration_file = use_calibration(st, args)
        seed_value = seed_used(st)
        recorder = xor_bench_recorder(st)
        try:
            with recorder.run():
                recorder.add_facts(run_facts(st, calibration_file, args.seed, command_arguments(args)))
                recorder.add_metadata("game", str(Path(args.game).resolve()))
                recorder.add_metadata("seconds_per_question", args.seconds)
                result = play_on_bench(st, game, args.seconds, args.visibility,
                                       on_question=lambda row: recorder.add_row(**row))
                run_id = recorder.run_id
                for key, value in result.to_json().items():
                    if key != "per_question":
                        recorder.add_metadata(key, value)
        except NotRealizableError as exc:
            return str(exc)
    return {**result.to_json(), "run_id": run_id, "db": db, "seed": seed_value}


def _angle(value: float | None) -> str:
    return "-" if value is None else f"{value:+8.3f}"


def _classical_line(r: dict[str, Any], a: str, b: str) -> str:
    br = r["classical_bracket"]
    if br["exact"]:
        return f"  classical value  {br['lower']:.8f}   (a = {a}; b = {b})"
    return (f"  classical value  in [{br['lower']:.6f}, {br['upper']:.6f}]: the best strategy found "
            f"({br['lower_method']}; a = {a}; b = {b}) and a certified bound ({br['upper_method']})")


def format_game(r: dict[str, Any]) -> str:
    """The readable summary of one game."""
    s = r["strategy"]
    a = " ".join(map(str, r["classical_strategy"]["a"]))
    b = " ".join(map(str, r["classical_strategy"]["b"]))
    lines = [
        f"XOR game {r['game']}: {r['shape'][0]} x {r['shape'][1]} questions",
        _classical_line(r, a, b),
        (f"  quantum value    {r['quantum_value']:.8f}   (certified bound "
         f"{r['quantum_upper_bound']:.8f}, gap {r['duality_gap']:.1e})"),
        f"  advantage        {r['quantum_advantage']:+.8f}"
        + ("" if r["classical_bracket"]["exact"] else "   (at least: quantum value less the bracket's top)"),
        (f"  optimal strategy found spans {s['dimension']} dimension(s): "
         f"{s['bell_pairs_needed']} Bell pair(s)"),
        f"  {r['note']}",
    ]
    if r["bases"] is not None:
        lines += ["", "  player  question   Stokes (S1, S2, S3)        phi(deg)  HWP(deg)  QWP(deg)"]
        for player in ("A", "B"):
            for x, basis in enumerate(r["bases"][player]):
                st = "(" + ", ".join(f"{c:+.3f}" for c in basis["stokes"]) + ")"
                qwp = basis["qwp_deg"] if basis["needs_qwp"] else None
                lines.append(f"  {player:>6}  {x:>8}   {st:<25} {_angle(basis['phi_deg']):>9} "
                             f"{_angle(basis['hwp_deg']):>9} {_angle(qwp):>9}")
        lines.append("  (fast-axis angles from H; light passes the QWP, then the HWP, then the "
                     "PBS, whose transmitted port is outcome 0)")
    if "bench" in r:
        bench = r["bench"]
        lines += ["", f"  on the bench: win rate {bench['win_rate']:.4f} +- {bench['win_rate_err']:.4f} "
                      f"(quantum {bench['quantum_value']:.4f}, classical {bench['classical_value']:.4f}"
                      + (f", predicted at V = {bench['visibility']:g}: {bench['predicted_at_visibility']:.4f}"
                         if bench["predicted_at_visibility"] is not None else "") + ")",
                  f"  ({bench['heralding']})"]
        if bench.get("run_id") is not None:
            lines.append(f"  recorded in {bench['db']} (run {bench['run_id']})")
    return "\n".join(lines)


def _progress(enabled: bool) -> Any:
    def show(n: int, p: float, done: int, total: int) -> None:
        if enabled:
            print(f"  n = {n}, p = {p:.2f} ({done}/{total})", file=sys.stderr, flush=True)
    return show


def _figure3(args: argparse.Namespace) -> int:
    from qnic.experiments.xor_figure3 import (
        DEFAULT_TRIALS,
        format_figure3,
        run_figure3,
        save_figure3,
    )

    out = Path(args.out if args.out is not None else ".")
    if out.exists() and not out.is_dir():
        return _bad(f"--out {out} exists and is not a directory")
    result = run_figure3(trials=args.trials or DEFAULT_TRIALS,
                         seed=args.seed if args.seed is not None else 0,
                         progress=_progress(not args.json and sys.stderr.isatty()))
    try:
        paths = save_figure3(result, out)
    except OSError as exc:
        return _bad(f"cannot write the results to {out}: {exc}")
    if args.json:
        print(json.dumps({**result.to_dict(), "files": {k: str(p) for k, p in paths.items()}}))
    else:
        print(format_figure3(result))
        print(f"\n  written: {paths['json']}, {paths['png']}")
    return EXIT_OK
