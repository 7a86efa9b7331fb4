"""``qnic tomography``: two-qubit state tomography (docs/tomography.md, docs/commands.md)."""

from __future__ import annotations

import argparse
import importlib.resources
import json
import sys
from pathlib import Path
from typing import Any

from qnic.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    bench_seed,
    non_negative_int,
    positive_float,
    seed,
    seed_line,
)
from qnic.cli.preflight import add_long_option

TARGETS = ("phi+", "phi-", "psi+", "psi-")


def tomography_station_path() -> Path:
    """The embedded tomography station (the default bench with a QWP per arm)."""
    return Path(str(importlib.resources.files("qnic") / "stations" / "tomography.yaml"))


def add_parser(sub: Any) -> None:
    p = sub.add_parser("tomography", help="two-qubit state tomography (QWP and HWP per arm)",
                       description="Measure the pairs' polarization state: a QWP and a HWP per "
                       "arm analyse the Pauli (or James et al.) settings, maximum likelihood "
                       "gives a physical density matrix, with fidelity to a Bell state, "
                       "concurrence, purity, the CHSH value it predicts and bootstrap errors.")
    p.add_argument("--station", metavar="FILE",
                   help="station file; every arm needs a qwp_rotator (default: the embedded "
                        "simulated tomography station)")
    p.add_argument("--seconds", type=positive_float, default=1.0, metavar="S",
                   help="seconds of acquisition per setting (default 1)")
    p.add_argument("--seed", type=seed, metavar="N", help="seed of the simulated bench")
    p.add_argument("--settings", choices=("pauli", "jkmw"), default="pauli",
                   help="pauli: 9 basis pairs, 36 projectors (default); jkmw: the 16 settings "
                        "of James et al. 2001, 64 projectors")
    p.add_argument("--target", choices=TARGETS, default="phi+",
                   help="the Bell state the fidelity is to (default phi+)")
    p.add_argument("--bootstrap", type=non_negative_int, default=30, metavar="N",
                   help="Poisson resamples of the counts for the errors (default 30; 0: none)")
    p.add_argument("--subtract-accidentals", action="store_true",
                   help="reconstruct from counts less the accidentals under the peak")
    p.add_argument("--window-ps", type=positive_float, metavar="PS",
                   help="coincidence window (default: the station's)")
    p.add_argument("--png", metavar="FILE", default="tomography.png",
                   help="the plot of rho's real and imaginary parts (default tomography.png)")
    p.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    p.add_argument("--calibration", metavar="FILE",
                   help="calibration file to use (default: the bench's newest in the store)")
    p.add_argument("--calibration-dir", metavar="DIR",
                   help="the calibration store (default ~/.qnic-bench/calibrations)")
    p.add_argument("--uncalibrated", action="store_true",
                   help="use the station file's zeros and delays, not a calibration")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    add_long_option(p)
    p.set_defaults(func=cmd_tomography, safe_interrupts=True, kept_noun="setting")


def _progress(enabled: bool) -> Any:
    def show(key: str, i: int, total: int) -> None:
        if enabled:
            print(f"  setting {key} ({i + 1}/{total})", file=sys.stderr, flush=True)
    return show


def cmd_tomography(args: argparse.Namespace) -> int:
    from qnic.experiments.tomography import (
        TomographyRun,
        plot_density_matrix,
        summary_facts,
        tomography_recorder,
    )
    from qnic.cli.chsh import use_calibration
    from qnic.cli.preflight import check_addresses, check_run_length, checked_station
    from qnic.station import load_station_config
    from qnic.storage import calibration_in_use, command_arguments, run_facts, use_database

    settings_n = 9 if args.settings == "pauli" else 16
    check_run_length(settings_n * args.seconds, args.long,
                     f"--seconds {args.seconds:g} per setting, {settings_n} settings,")
    station_file = args.station or str(tomography_station_path())
    config = load_station_config(station_file)
    check_addresses(config)
    png = Path(args.png)
    if not png.parent.is_dir():
        print(f"qnic tomography: --png {args.png}: the folder {png.parent} does not exist",
              file=sys.stderr)
        return EXIT_BAD_INPUT
    db = use_database(args.db)
    with checked_station(config, bench_seed(config, args.seed), args.verbose) as st:
        seed_value = None if st.bench is None else int(st.bench.params.seed)
        calibration_file = use_calibration(st, args)
        run = TomographyRun(st, args.seconds, args.settings,
                            int(args.window_ps) if args.window_ps else None,
                            progress=_progress(not args.json and sys.stderr.isatty()))
        run.prepare()  # a station without QWPs stops here, before any dataset
        recorder = tomography_recorder(st)
        with recorder.run():
            recorder.add_facts(run_facts(st, calibration_file, args.seed, command_arguments(args)))
            recorder.add_metadata("seconds_per_setting", args.seconds)
            recorder.add_metadata("setting_keys", [d for d in _keys(args.settings)])
            run.run(recorder)
            result = run.analyze(args.target, args.bootstrap, seed=seed_value or 0,
                                 subtract_accidentals=args.subtract_accidentals)
            recorder.add_metadata("tomography", summary_facts(result))
            recorder.add_metadata("png", str(png.resolve()))
            run_id = recorder.run_id
        calibration = calibration_in_use(st, calibration_file)
        true_rho = None if st.bench is None else st.bench.rho
    title = (f"tomography run {run_id}: F({args.target}) = {result.fidelity:.4f}, "
             f"C = {result.concurrence:.4f}")
    plot_density_matrix(result.rho, png, title)
    report = {**result.to_dict(), "run_id": run_id, "db": db, "png": str(png.resolve()),
              "station": args.station or "embedded simulated tomography station",
              "simulated": config.sim is not None, "seed": seed_value,
              "seconds_per_setting": args.seconds, "settings": args.settings,
              "window_ps": int(run.window_ps or 0),
              "counts": {d.key: [int(v) for v in d.counts] for d in run.settings},
              "accidentals_subtracted": bool(args.subtract_accidentals),
              "calibration": calibration}
    if true_rho is not None:
        from qnic.tomography import fidelity

        report["fidelity_to_bench_state"] = fidelity(result.rho, true_rho)
        report["bench_state_fidelity"] = fidelity(true_rho, args.target)
    if args.json:
        print(json.dumps(report))
    else:
        print(format_tomography(report))
    return EXIT_OK


def _keys(setting_set: str) -> list[str]:
    from qnic.tomography import SETTING_SETS

    return list(SETTING_SETS[setting_set])


def _pm(report: dict[str, Any], key: str) -> str:
    err = report["errors"].get(key)
    return f"{report[key]:.4f}" + (f" +- {err:.4f}" if err is not None else "")


def format_tomography(r: dict[str, Any]) -> str:
    """The readable summary of a tomography run."""
    sim = " (simulated)" if r["simulated"] else ""
    lines = [f"Tomography on the {r['station']}{sim}: {len(r['counts'])} settings "
             f"({r['settings']}), {r['seconds_per_setting']:g} s each, run {r['run_id']}",
             f"  fidelity to {r['target']}: {_pm(r, 'fidelity')}",
             f"  concurrence: {_pm(r, 'concurrence')}   purity: {_pm(r, 'purity')}",
             f"  CHSH predicted: {_pm(r, 'chsh')} at the qnic chsh angles, "
             f"{_pm(r, 'chsh_max')} at the best ones",
             "  rho (real part, rows and columns HH HV VH VV):"]
    lines += ["    " + "  ".join(f"{v:+.3f}" for v in row) for row in r["rho"]["real"]]
    lines.append("  rho (imaginary part):")
    lines += ["    " + "  ".join(f"{v:+.3f}" for v in row) for row in r["rho"]["imag"]]
    if "bench_state_fidelity" in r:
        lines.append(f"  the simulated bench's own state: fidelity to {r['target']} "
                     f"{r['bench_state_fidelity']:.4f}; reconstruction's fidelity to it "
                     f"{r['fidelity_to_bench_state']:.4f}")
    errs = f"{r['n_bootstrap']} Poisson resamples" if r["n_bootstrap"] else "none asked for"
    lines.append(f"  errors: {errs}")
    cal = r["calibration"]
    lines.append(f"  calibration: {cal['file']}" if cal.get("file") else
                 "  calibration: none, the station file's waveplate zeros and delays")
    again = "qnic tomography" + (f" --station {r['station']}" if r["station"] !=
                                 "embedded simulated tomography station" else "") \
        + f" --seconds {r['seconds_per_setting']:g}" \
        + (f" --settings {r['settings']}" if r["settings"] != "pauli" else "") \
        + (" --subtract-accidentals" if r.get("accidentals_subtracted") else "")
    if r.get("seed") is not None:
        lines.append(seed_line(r["seed"], again))
    lines += [f"  plot: {r['png']}", f"  recorded in {r['db']} (run {r['run_id']})"]
    return "\n".join(lines)
