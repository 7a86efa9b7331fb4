"""``qnic chsh``: a Bell/CHSH measurement (docs/chsh.md, docs/commands.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qnic.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    CommandError,
    bench_seed,
    bounded_float,
    json_safe,
    positive_float,
    positive_int,
    seed,
)
from qnic.cli.preflight import add_long_option


MAX_WINDOW_PS = 1e9
"""No coincidence window is wider than 1 ms (a pair's photons arrive within ns)."""


def add_parser(sub: Any) -> None:
    chsh = sub.add_parser("chsh", help="run a Bell/CHSH measurement",
                          description="Measure CHSH S over the four settings of docs/chsh.md.")
    chsh.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    chsh.add_argument("--seconds", type=positive_float, default=1.0, metavar="S",
                      help="seconds of acquisition per setting (default 1)")
    chsh.add_argument("--seed", type=seed, metavar="N", help="seed of the simulated bench")
    chsh.add_argument("--window-ps", type=bounded_float(MAX_WINDOW_PS, "ps (1 ms)"), metavar="PS",
                      help="coincidence window (default: the station's)")
    chsh.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    chsh.add_argument("--save-tags", metavar="FILE",
                      help="also write the raw tags to this file: a Generic T2 PTU if it "
                           "ends in .ptu (settings one after another, rotator moves cut "
                           "out), else a .npz file")
    chsh.add_argument("--calibration", metavar="FILE",
                      help="calibration file to use (default: the bench's newest in the store)")
    chsh.add_argument("--calibration-dir", metavar="DIR",
                      help="the calibration store (default ~/.qnic-bench/calibrations)")
    chsh.add_argument("--uncalibrated", action="store_true",
                      help="use the station file's zeros and delays, not a calibration")
    chsh.add_argument("--blocks", type=positive_int, default=1, metavar="N",
                      help="measure the settings in N blocks, each in a fresh random order "
                           "(--seconds split over them; default 1)")
    chsh.add_argument("--order-seed", type=seed, metavar="N",
                      help="seed of the settings' random order (default: drawn, and reported)")
    chsh.add_argument("--target-sigma", type=positive_float, metavar="S",
                      help="plan the time to reach this standard error of S from a first block "
                           "of a tenth of --seconds; --seconds is then the most per setting")
    chsh.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_long_option(chsh)
    chsh.set_defaults(func=cmd_chsh, safe_interrupts=True, kept_noun="setting")


def use_calibration(st: Any, args: argparse.Namespace) -> str | None:
    """Apply the calibration the arguments ask for; return its file (or None)."""
    from qnic.calibration.runner import apply_calibration, bench_name
    from qnic.calibration.store import CalibrationFileError, CalibrationRecord, CalibrationStore

    if args.uncalibrated:
        return None
    if args.calibration:
        path, record = Path(args.calibration), CalibrationRecord.load(Path(args.calibration))
        if not record.complete:
            raise CalibrationFileError(f"{path}: this calibration is unfinished; rerun "
                                       "`qnic calibrate --resume`")
    else:
        store = CalibrationStore(Path(args.calibration_dir) if args.calibration_dir else None)
        found = store.newest(bench_name(st))
        if found is None:
            return None
        path, record = found
    apply_calibration(st, record)
    return str(path)


def _progress(enabled: bool) -> Any:
    def show(key: str, i: int, total: int) -> None:
        if enabled:
            # one write, so that Ctrl-C cannot land between the line and its end
            sys.stderr.write(f"  setting {key} ({i + 1}/{total})\n")
            sys.stderr.flush()
    return show


def cmd_chsh(args: argparse.Namespace) -> int:
    from qnic.chsh import SETTINGS
    from qnic.cli.preflight import check_addresses, check_run_length, check_writable
    from qnic.coincidence import warm as count_warm
    from qnic.station import load_station_config

    if args.target_sigma is not None and args.blocks != 1:  # it plans its own blocks
        print("qnic chsh: give --blocks or --target-sigma, not both: --target-sigma plans its "
              "blocks (each a tenth of --seconds) from the first", file=sys.stderr)
        return EXIT_BAD_INPUT
    check_run_length(args.seconds * len(SETTINGS), args.long,
                     f"--seconds {args.seconds:g} per setting, {len(SETTINGS)} settings,")
    if args.save_tags:
        check_writable(Path(args.save_tags), "--save-tags")
    config = load_station_config(args.station)
    check_addresses(config)
    # A first run after an install compiles its kernels in two child processes
    # (the counting ones, and the simulated bench's) beside its own start
    # (docs/architecture.md); nothing starts when they are cached.
    warmups = [count_warm.start_warmup()]
    if config.sim is not None:
        from qnic.sim import warm as sim_warm

        warmups.append(sim_warm.start_warmup())
    try:
        return _chsh(args, config, warmups[0], warmups[1] if len(warmups) > 1 else None)
    finally:
        for w in warmups:
            if w is not None:
                w.stop()


def _chsh(args: argparse.Namespace, config: Any, count_warmup: Any, bench_warmup: Any) -> int:
    from qnic.bell_test import TargetUnreachable
    from qnic.cli.preflight import checked_station
    from qnic.experiments.chsh import CHSHRun, chsh_recorder
    from qnic.interrupts import protected
    from qnic.storage import calibration_in_use, command_arguments, run_facts, use_database
    db = use_database(args.db)
    station_name = "embedded simulated bench" if args.station is None else args.station
    with checked_station(config, bench_seed(config, args.seed), args.verbose) as st:
        calibration_file = use_calibration(st, args)
        seed_used = None if st.bench is None else int(st.bench.params.seed)
        recorder = chsh_recorder(st)
        window = int(args.window_ps) if args.window_ps else None
        sink = None
        if args.save_tags:  # written as the run goes: a killed run leaves it readable
            from qnic.experiments.raw_tags import RawTagFile

            sink = RawTagFile(Path(args.save_tags),
                              [c for q in st.qnics.values() for c in q.channels])
        run = CHSHRun(st, args.seconds, window, keep_tags=bool(args.save_tags), tag_sink=sink,
                      progress=_progress(not args.json and sys.stderr.isatty()),
                      before_counting=None if count_warmup is None else count_warmup.wait,
                      blocks=args.blocks, order_seed=args.order_seed, target_sigma=args.target_sigma)
        if bench_warmup is not None:
            bench_warmup.wait()  # the bench's kernels, before its first tags
        with recorder.run():
            recorder.add_facts(run_facts(st, calibration_file, args.seed, command_arguments(args)))
            recorder.add_metadata("seconds_per_setting", args.seconds)
            if sink is not None:  # named from the first row on, before the file is finished
                recorder.add_metadata("raw_tags_file", str(sink.path.resolve()))
            try:
                run.run(recorder)
            except TargetUnreachable as exc:  # the first block stays recorded
                first = run.analyze()
                print(f"qnic chsh: {exc}; the first block (S = {first.S:.4f} +- {first.S_err:.4f}) "
                      f"is kept in run {recorder.run_id}", file=sys.stderr)
                return EXIT_BAD_INPUT
            finally:
                if sink is not None:
                    with protected():
                        sink.close(run.settings)
            run_id = recorder.run_id
            try:
                result = run.analyze()
            except ValueError as exc:  # no coincidences in a setting: E is undefined
                raise CommandError(f"{exc}; the counts are kept in run {run_id} of {db} "
                                   "(measure longer: --seconds)") from exc
            result.metadata["run_id"] = run_id
            result.metadata["calibration"] = calibration_in_use(st, calibration_file)
            for key in ("S", "S_err", "S_corrected", "S_corrected_err"):
                recorder.add_metadata(key, float(getattr(result, key)))
            recorder.add_metadata("window_ps", int(run.window_ps or 0))
            recorder.add_metadata("order_seed", int(run.order_seed or 0))
            recorder.add_metadata("orders", ";".join(result.metadata["orders"]))
    report = {
        "S": result.S, "S_err": result.S_err, "E": result.E, "E_err": result.E_err,
        "counts": result.counts,
        "S_corrected": result.S_corrected, "S_corrected_err": result.S_corrected_err,
        "accidentals": result.accidentals,
        "sigmas_above_2": result.sigmas_above_local,
        "window_ps": int(run.window_ps or 0), "seconds_per_setting": args.seconds,
        "run_id": run_id, "db": db, "station": station_name,
        "simulated": config.sim is not None,
        "double_clicks": result.metadata["double_clicks"],
        "raw_tags_file": str(Path(args.save_tags).resolve()) if args.save_tags else None,
        "calibration": result.metadata["calibration"],
        "seed": seed_used,
        "bound_violations": list(result.bound_violations),
        "blocks": result.metadata["blocks"], "order_seed": result.metadata["order_seed"],
        "orders": result.metadata["orders"],
        "local_realism": result.metadata["local_realism"],
        "target_sigma": args.target_sigma,
        # with --target-sigma, --seconds is the most per setting: blocks of a
        # tenth of it were measured until the planned time
        "seconds_measured_per_setting": args.seconds if args.target_sigma is None
        else args.seconds / 10 * result.metadata["blocks"],
    }
    for problem in result.bound_violations:  # the correction is not to be trusted
        print(f"qnic chsh: warning: {problem}", file=sys.stderr)
    if args.json:
        print(json.dumps(json_safe(report)))
    else:
        print(format_chsh(report, result.metadata["angles_deg"]))
    return EXIT_OK


def _p_value(log10_p: float) -> str:
    """A p-value from its log10: as a number near 1 (S at or below 2), else as a power of ten."""
    return f"{10 ** log10_p:.3g}" if log10_p > -3 else f"10^{log10_p:.1f}"


def format_chsh(r: dict[str, Any], angles: dict[str, list[float]]) -> str:
    """The readable summary of a CHSH run."""
    sim = " (simulated)" if r["simulated"] else ""
    per_setting = f"{r['seconds_per_setting']:g} s per setting"
    if r.get("target_sigma") is not None:
        per_setting = (f"{r['seconds_measured_per_setting']:g} s per setting (planned for sigma_S "
                       f"{r['target_sigma']:g}, at most {r['seconds_per_setting']:g})")
    lines = [
        f"CHSH on the {r['station']}{sim}: {per_setting}, "
        f"window {r['window_ps']} ps, run {r['run_id']}",
        f"  S = {r['S']:.4f} +- {r['S_err']:.4f}   "
        f"({abs(r['sigmas_above_2']):.1f} sigma {'above' if r['sigmas_above_2'] >= 0 else 'below'} "
        "the local bound 2)",
        f"  accidentals subtracted: S = {r['S_corrected']:.4f} +- {r['S_corrected_err']:.4f}",
        f"  against local realism (raw counts): p <= {_p_value(r['local_realism']['log10_p_hoeffding'])} "
        f"(Hoeffding bound, settings in random order); p = {_p_value(r['local_realism']['log10_p_gaussian'])} "
        f"(Gaussian)",
        f"  settings in {r['blocks']} block(s), order seed {r['order_seed']}: "
        + " | ".join(r["orders"]),
        "",
        "  setting  A (deg)  B (deg)      n00      n01      n10      n11        E   doubles",
    ]
    for key in ("00", "01", "10", "11"):
        n = r["counts"][key]
        da, db = r["double_clicks"][key]
        lines.append(f"  {key:>7}  {angles[key][0]:7.2f}  {angles[key][1]:7.2f}  "
                     + "".join(f"{v:>9d}" for v in n) + f"  {r['E'][key]:+7.4f}  {da + db:>8d}")
    cal = r["calibration"]
    lines += [""]
    if cal.get("file"):
        lines.append(f"  calibration: {cal['file']} (written {cal.get('written') or 'at an unknown time'})")
    else:
        lines.append("  calibration: none, the station file's waveplate zeros and delays")
    if r.get("seed") is not None:
        again = f"qnic chsh --seconds {r['seconds_per_setting']:g} --seed {r['seed']}"
        if r["station"] != "embedded simulated bench":
            again = f"qnic chsh --station {r['station']} --seconds {r['seconds_per_setting']:g} " \
                    f"--seed {r['seed']}"
        again += f" --order-seed {r['order_seed']}"
        if r.get("target_sigma") is not None:  # the same first block plans the same blocks
            again += f" --target-sigma {r['target_sigma']:g}"
        elif r["blocks"] > 1:
            again += f" --blocks {r['blocks']}"
        lines.append(f"  seed {r['seed']} ({again} repeats this run)")
    lines += [f"  recorded in {r['db']} (run {r['run_id']})"]
    if r["raw_tags_file"]:
        lines.append(f"  raw tags in {r['raw_tags_file']}")
    return "\n".join(lines)


