"""``qnic curve``: a correlation curve E(phi) with its fitted fringe and a PNG."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from qnic.cli.common import EXIT_OK, bench_seed, json_safe, positive_float, seed, seed_line, seed_used
from qnic.cli.preflight import add_long_option


def add_parser(sub: Any) -> None:
    p = sub.add_parser("curve", help="correlation curve E(phi) over a scan of one arm",
                       description="Scan one arm's basis over 0-180 degrees with the other fixed; "
                                   "fit the fringe for the visibility.")
    p.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    p.add_argument("--arm", choices=("A", "B"), default="A", help="the arm to scan (default A)")
    p.add_argument("--fixed-deg", type=float, default=0.0, metavar="PHI",
                   help="polarizer-equivalent angle of the other arm (default 0 = H)")
    p.add_argument("--points", type=int, default=24, metavar="N", help="scan points (default 24)")
    p.add_argument("--dwell", type=positive_float, default=0.5, metavar="S", help="seconds per point")
    p.add_argument("--out", metavar="PNG", default="correlation_curve.png", help="the plot to write")
    p.add_argument("--seed", type=seed, metavar="N", help="seed of the simulated bench")
    p.add_argument("--calibration-dir", metavar="DIR", help="the calibration store")
    p.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_long_option(p)
    p.set_defaults(func=cmd_curve, safe_interrupts=True, kept_noun="point")


def cmd_curve(args: argparse.Namespace) -> int:
    from qnic.cli.chsh import use_calibration
    from qnic.experiments.curve import curve_recorder, measure_curve, save_curve_png
    from qnic.storage import command_arguments, run_facts, use_database

    if args.points < 4:
        raise SystemExit("qnic curve: --points must be at least 4")
    from qnic.cli.preflight import check_addresses, check_run_length, checked_station
    from qnic.station import load_station_config
    check_run_length(args.points * args.dwell, args.long,
                     f"--points {args.points} of --dwell {args.dwell:g} s")
    config = load_station_config(args.station)
    check_addresses(config)
    db = use_database(args.db)
    args.calibration, args.uncalibrated = None, False
    png = Path(args.out)
    with checked_station(config, bench_seed(config, args.seed), args.verbose) as st:
        calibration_file = use_calibration(st, args)
        seed_value = seed_used(st)
        for q in st.qnics.values():
            q.rotator.home()
        recorder = curve_recorder(st)
        with recorder.run():
            recorder.add_facts(run_facts(st, calibration_file, args.seed, command_arguments(args)))
            result = measure_curve(st, args.arm, args.fixed_deg, args.points, args.dwell,
                                   on_point=lambda row: recorder.add_row(**row))
            run_id = recorder.run_id
            fit = result.to_json()
            for key in ("scan_arm", "fixed_phi_deg", "visibility", "visibility_err", "phase_deg",
                        "phase_err_deg", "offset", "chi2_red"):
                recorder.add_metadata(key, fit[key])
            recorder.add_metadata("png", str(png.resolve()))
    save_curve_png(result, png)
    report = {**result.to_json(), "png": str(png.resolve()), "calibration_file": calibration_file,
              "run_id": run_id, "db": db, "seed": seed_value}
    if args.json:
        print(json.dumps(json_safe(report)))
    else:
        print(f"correlation curve, arm {args.arm} scanned, other arm at {args.fixed_deg:g} deg: "
              f"V = {result.fit.amplitude:.4f} +- {result.fit.amplitude_err:.4f}, "
              f"phase {result.fit.phase:.2f} deg, chi2/dof {result.fit.chi2_red:.2f}\n  plot: {png}\n"
              f"  recorded in {db} (run {run_id})")
        if seed_value is not None:
            print(seed_line(seed_value, "qnic curve"))
    return EXIT_OK
