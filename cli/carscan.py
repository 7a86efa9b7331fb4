"""``qnic car-scan``: rates, CAR and visibility against pump power, with the closed form (docs/commands.md)."""

from __future__ import annotations

import argparse
import json
import math
import sys
from pathlib import Path
from typing import Any

from qnic.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_OK,
    add_run_options,
    bench_seed,
    home_if_asked,
    json_safe,
    positive_float,
    seed_line,
    seed_used,
)
from qnic.cli.preflight import add_long_option


def rates(text: str) -> list[float]:
    """A comma-separated list of pair rates in Hz, each > 0."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected pair rates in Hz separated by commas, got {text!r}") from None
    if not values or any(not (math.isfinite(v) and v > 0) for v in values):
        raise argparse.ArgumentTypeError(f"every pair rate must be a finite number > 0 Hz, got {text!r}")
    return values


def currents(text: str) -> list[float]:
    """A comma-separated list of pump currents in mA, each >= 0 (returned in A)."""
    try:
        values = [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected pump currents in mA separated by commas, got {text!r}") from None
    if len(values) < 2 or any(not (math.isfinite(v) and v >= 0) for v in values):
        raise argparse.ArgumentTypeError(f"give at least two pump currents, each a finite number >= 0 mA, "
                                         f"got {text!r}")
    return [v / 1e3 for v in values]


def add_parser(sub: Any) -> None:
    p = sub.add_parser("car-scan", help="CAR, rates and visibility against the pair rate (pump power)",
                       description="Sweep the source's pair rate (the pump power), measure singles, "
                                   "coincidences, accidentals under the peak and the diagonal-basis "
                                   "visibility at each, fit the closed form (docs/physics.md) and plot "
                                   "them, to choose a pump power.")
    p.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    p.add_argument("--rates", type=rates, metavar="HZ,HZ,...",
                   help="pair rates to set (default: 8 from 1e4 to 2e6 Hz, evenly on a log scale)")
    p.add_argument("--currents-ma", type=currents, metavar="MA,MA,...",
                   help="on a station with a pump controller: the pump currents to set, in mA "
                        "(the power meter, if any, is read at each)")
    p.add_argument("--seconds", type=positive_float, default=0.5, metavar="S",
                   help="seconds of acquisition per rate (default 0.5)")
    p.add_argument("--window-ps", type=positive_float, metavar="PS", help="coincidence window (default: the station's)")
    p.add_argument("--out", metavar="PNG", default="car_scan.png", help="the plot to write (default car_scan.png)")
    add_run_options(p)
    add_long_option(p)
    p.set_defaults(func=cmd_car_scan, safe_interrupts=True, kept_noun="point")


def cmd_car_scan(args: argparse.Namespace) -> int:
    from qnic.cli.chsh import use_calibration
    from qnic.experiments.car_scan import (
        car_recorder,
        fit_points,
        point_row,
        run_pump_scan,
        run_scan,
        save_scan_png,
        to_json,
    )
    from qnic.instruments.lasers.protocol import find_pump
    from qnic.cli.preflight import check_addresses, check_run_length, checked_station
    from qnic.station import load_station_config
    from qnic.storage import command_arguments, run_facts, use_database

    pair_rates = args.rates or [1e4 * 200 ** (k / 7) for k in range(8)]  # 1e4 to 2e6 Hz
    points_n = len(args.currents_ma) if args.currents_ma else len(pair_rates)
    check_run_length(points_n * args.seconds, args.long,
                     f"{points_n} points of --seconds {args.seconds:g}")
    config = load_station_config(args.station)
    check_addresses(config)
    db = use_database(args.db)
    args.calibration, args.uncalibrated = None, False
    png = Path(args.out)
    if not png.parent.is_dir():
        print(f"qnic car-scan: --out {png}: the folder {png.parent} does not exist", file=sys.stderr)
        return EXIT_BAD_INPUT
    with checked_station(config, bench_seed(config, args.seed), args.verbose) as st:
        pump = find_pump(st.station)
        problem = _control_problem(st, pump, args)
        if problem:
            print(f"qnic car-scan: {problem}", file=sys.stderr)
            return EXIT_BAD_INPUT
        calibration_file = use_calibration(st, args)
        seed_value = seed_used(st)
        home_if_asked(st)
        window = int(args.window_ps) if args.window_ps else int(st.window_ps)
        recorder = car_recorder(st, pump=pump is not None)
        with recorder.run():
            recorder.add_facts(run_facts(st, calibration_file, args.seed, command_arguments(args)))
            if pump is not None:
                points = run_pump_scan(st, pump, args.currents_ma, args.seconds, window,
                                       on_point=lambda p: recorder.add_row(**point_row(p)))
            else:
                points = run_scan(st, pair_rates, args.seconds, window,
                                  on_point=lambda p: recorder.add_row(**point_row(p)))
            fit = fit_points(points, window) if len(points) >= 3 else None
            run_id = recorder.run_id
            if fit is not None:
                recorder.add_metadata("fit", json.dumps(to_json([], fit)["fit"]))
    save_scan_png(points, fit, png)
    report = {**to_json(points, fit), "window_ps": window, "seconds_per_point": args.seconds,
              "png": str(png.resolve()), "run_id": run_id, "db": db, "seed": seed_value}
    if args.json:
        print(json.dumps(json_safe(report)))
        return EXIT_OK
    what = "pair rates" if not points or points[0].pump_current_a is None else "pump currents"
    print(f"CAR scan, {len(points)} {what}, {args.seconds:g} s each, window {window} ps, run {run_id}")
    head = "    pair rate" if not points or points[0].pump_current_a is None else "   pump (mA)"
    print(f"{head}   singles A   singles B        CAR      V raw   V corrected")
    for p in points:
        x = p.pair_rate_hz if p.pump_current_a is None else p.pump_current_a * 1e3
        print(f"  {x:11.4g} {p.singles_a_hz:11.4g} {p.singles_b_hz:11.4g} "
              f"{p.car:10.4g} {p.visibility_raw:10.4f} {p.visibility:8.4f} +- {p.visibility_err:.4f}")
    if fit is not None:
        per = "" if not points or points[0].pump_current_a is None else \
            (" per W of pump" if points[0].pump_power_w is not None else " per A of pump")
        e = fit.errors or {}
        print(f"  closed form: detection{per} {fit.efficiency[0]:.4g} +- {e.get('efficiency_a', 0):.2g} (A), "
              f"{fit.efficiency[1]:.4g} +- {e.get('efficiency_b', 0):.2g} (B); "
              f"dark {fit.dark_hz[0]:.4g} +- {e.get('dark_hz_a', 0):.2g} Hz (A), "
              f"{fit.dark_hz[1]:.4g} +- {e.get('dark_hz_b', 0):.2g} Hz (B); dead time "
              f"{fit.dead_time_s * 1e9:.1f} +- {e.get('dead_time_s', 0) * 1e9:.1f} ns; "
              # against pump power or current the share of pairs counted has no meaning
              + (f"pairs counted {fit.pair_window:.3f} +- {e.get('pair_window', 0):.3f}; " if not per else "")
              + f"V {fit.visibility:.4f} +- {e.get('visibility', 0):.4f}")
    print(f"  plot: {png}\n  recorded in {db} (run {run_id})")
    if seed_value is not None:
        again = "qnic car-scan" + (f" --station {args.station}" if args.station else "") \
            + f" --seconds {args.seconds:g}" \
            + (f" --rates {','.join(f'{r:g}' for r in args.rates)}" if args.rates else "") \
            + (f" --currents-ma {','.join(f'{c * 1e3:g}' for c in args.currents_ma)}"
               if args.currents_ma else "")
        print(seed_line(seed_value, again))
    return EXIT_OK


def _control_problem(st: Any, pump: Any, args: argparse.Namespace) -> str | None:
    """Why this station cannot be scanned as asked, or None."""
    from qnic.experiments.car_scan import NoRateControl, rate_setter

    if pump is not None:
        if args.rates:
            return ("the station drives its pump through a controller: give --currents-ma, "
                    "not --rates")
        if not args.currents_ma:
            return (f"the station has a pump controller ({getattr(pump, 'name', 'pump')}): give the "
                    "currents to scan with --currents-ma, e.g. --currents-ma 40,50,60,70,80")
        top = pump.max_current_a
        over = [c for c in args.currents_ma if c > top]
        if over:
            return f"--currents-ma: {over[0] * 1e3:g} mA is above the controller's {top * 1e3:g} mA"
        return None
    if args.currents_ma:
        return "--currents-ma needs a pump controller in the station, and it has none"
    try:
        rate_setter(st)
    except NoRateControl as exc:
        return str(exc)
    param = st.source.parameters["pair_rate"]
    for rate in args.rates or ():  # before anything is measured
        try:
            param.validate(float(rate))
        except (TypeError, ValueError):
            return f"--rates: {rate:g} Hz is not a pair rate source {st.source.name!r} can set " \
                   f"({param.vals})"
    return None
