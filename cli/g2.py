"""``qnic g2``: heralded g2(0) of arm B's detectors, heralded by arm A (docs/commands.md)."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

from qnic.cli.common import (
    EXIT_FAILED,
    EXIT_OK,
    add_run_options,
    bench_seed,
    home_if_asked,
    positive_float,
    seed_line,
    seed_used,
)
from qnic.cli.preflight import add_long_option


def add_parser(sub: Any) -> None:
    p = sub.add_parser("g2", help="heralded g2(0): arm A heralds, arm B's two detectors are an HBT pair",
                       description="Arm A analyses H/V and one of its detectors heralds; arm B analyses "
                                   "the diagonal basis, so its two detectors split the heralded photon "
                                   "50/50 (Hanbury Brown-Twiss). Reports g2(0) = n_12 n_h / (n_1 n_2) "
                                   "with its error, and on the simulated bench the multi-pair closed form.")
    p.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    p.add_argument("--seconds", type=positive_float, default=2.0, metavar="S", help="acquisition time (default 2)")
    p.add_argument("--herald", type=int, choices=(0, 1), default=0,
                   help="arm A's outcome detector that heralds (default 0, transmitted)")
    p.add_argument("--window-ps", type=positive_float, metavar="PS", help="window around each herald (default: the station's)")
    add_run_options(p)
    add_long_option(p)
    p.set_defaults(func=cmd_g2, safe_interrupts=True, kept_noun="measurement")


def source_model(bench: Any, window_ps: float) -> Any:
    """The closed form (qnic.pair_source.SourceModel) of a simulated bench's parameters."""
    from qnic.pair_source import DetectorModel, SourceModel

    params = bench.params
    dets = [DetectorModel(arm.transmission * d.efficiency, d.dark_count_hz + d.background_hz,
                          d.dead_time_ns * 1e-9, d.afterpulse_probability,
                          float((d.jitter_ps ** 2 + params.tagger.jitter_ps ** 2) ** 0.5))
            for arm in (params.arms["A"], params.arms["B"]) for d in arm.detectors]
    return SourceModel(params.pair_rate_hz, tuple(dets), window_ps,  # type: ignore[arg-type]
                       params.pair_statistics, params.coherence_time_ps)


def predicted_g2(bench: Any, herald: int, window_ps: float) -> float:
    """The closed form's heralded g2(0) for a simulated bench, at qnic g2's bases."""
    from qnic.experiments.g2 import HBT_BASIS_DEG, HERALD_BASIS_DEG

    params = bench.params
    motors = [HERALD_BASIS_DEG / 2 + params.arms["A"].waveplate_zero_deg,
              HBT_BASIS_DEG / 2 + params.arms["B"].waveplate_zero_deg]
    rates = bench.predicted_coincidence_rates(motors[0], motors[1], window_ps=0)
    return float(source_model(bench, window_ps).heralded_g2(rates / rates.sum(), herald))


def cmd_g2(args: argparse.Namespace) -> int:
    from qnic.cli.chsh import use_calibration
    from qnic.experiments.g2 import g2_recorder, measure_g2
    from qnic.cli.preflight import check_addresses, check_run_length, checked_station
    from qnic.station import load_station_config
    from qnic.storage import command_arguments, run_facts, use_database

    check_run_length(args.seconds, args.long, f"--seconds {args.seconds:g}")
    config = load_station_config(args.station)
    check_addresses(config)
    db = use_database(args.db)
    args.calibration, args.uncalibrated = None, False
    with checked_station(config, bench_seed(config, args.seed), args.verbose) as st:
        calibration_file = use_calibration(st, args)
        seed_value = seed_used(st)
        home_if_asked(st)
        window = int(args.window_ps) if args.window_ps else int(st.window_ps)
        recorder = g2_recorder(st)
        with recorder.run():
            recorder.add_facts(run_facts(st, calibration_file, args.seed, command_arguments(args)))
            run = measure_g2(st, args.seconds, window, args.herald)
            recorder.add_row(**run.row())
            run_id = recorder.run_id
        predicted = None if st.bench is None else predicted_g2(st.bench, args.herald, window)
    report = {**run.to_json(), "predicted_g2": predicted, "run_id": run_id, "db": db, "seed": seed_value}
    r = run.result
    # g2 is undefined when an HBT detector saw no heralded click (too short a run)
    silent = [ch for ch, n in zip(run.hbt_channels, (r.herald_1, r.herald_2)) if n == 0]
    if args.json:  # JSON has no NaN: an undefined g2 is null
        print(json.dumps({k: None if isinstance(v, float) and not math.isfinite(v) else v
                          for k, v in report.items()}))
        return EXIT_FAILED if silent else EXIT_OK
    if silent:
        print(f"heralded g2(0) undefined: no heralded click on HBT channel "
              f"{' or '.join(str(c) for c in silent)} in {run.live_s:g} s (measure longer: --seconds)")
    else:
        print(f"heralded g2(0) = {r.g2:.4f} +- {r.g2_err:.4f}  (herald channel {run.herald_channel}, "
              f"HBT channels {run.hbt_channels[0]} and {run.hbt_channels[1]}, window {window} ps, "
              f"{run.live_s:g} s)")
    print(f"  heralds {r.heralds}, with a click on channel {run.hbt_channels[0]} {r.herald_1}, "
          f"on channel {run.hbt_channels[1]} {r.herald_2}, on both (triples) {r.triples}")
    if r.triples == 0 and not silent:
        print("  no triple counted: the error is that of one triple (an upper scale)")
    if predicted is not None:
        print(f"  closed form for this bench (multi-pair, dead time, dark counts): {predicted:.4f}")
    print(f"  recorded in {db} (run {run_id})")
    if seed_value is not None:
        again = "qnic g2" + (f" --station {args.station}" if args.station else "") \
            + f" --seconds {args.seconds:g}" + (f" --herald {args.herald}" if args.herald else "")
        print(seed_line(seed_value, again))
    return EXIT_FAILED if silent else EXIT_OK
