"""``qnic monitor``: live singles and coincidence rates (docs/commands.md)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from typing import Any

from qnic.cli.common import EXIT_OK, bench_seed, positive_float, seed, seed_used


def add_parser(sub: Any) -> None:
    p = sub.add_parser("monitor", help="live singles and coincidence rates (alignment aid)",
                       description="Show singles per channel, coincidences per A-B pair and the "
                                   "coincidence-to-accidental ratio, refreshed live.")
    p.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    p.add_argument("--seconds", type=positive_float, metavar="S",
                   help="stop after S seconds (with --json: one reading of S seconds)")
    p.add_argument("--interval", type=positive_float, default=0.25, metavar="S",
                   help="acquisition per refresh in seconds (default 0.25)")
    p.add_argument("--seed", type=seed, metavar="N", help="seed of the simulated bench")
    p.add_argument("--calibration-dir", metavar="DIR", help="the calibration store to take delays from")
    p.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    p.add_argument("--json", action="store_true", help="print one JSON object (needs --seconds)")
    p.set_defaults(func=cmd_monitor, safe_interrupts=True, kept_noun="reading")


def cmd_monitor(args: argparse.Namespace) -> int:
    from qnic.cli.chsh import use_calibration
    from qnic.experiments.monitor import monitor_recorder, read_rates, record_reading
    from qnic.storage import command_arguments, run_facts, use_database

    if args.json and args.seconds is None:
        raise SystemExit("qnic monitor: --json needs --seconds")
    from qnic.cli.preflight import check_addresses, checked_station
    from qnic.station import load_station_config
    config = load_station_config(args.station)
    check_addresses(config)
    db = use_database(args.db)
    args.calibration, args.uncalibrated = None, False
    with checked_station(config, bench_seed(config, args.seed), args.verbose) as st:
        calibration_file = use_calibration(st, args)
        recorder = monitor_recorder(st)
        with recorder.run():
            recorder.add_facts(run_facts(st, calibration_file, args.seed, command_arguments(args)))
            recorder.add_metadata("window_ps", st.window_ps)
            if args.json:
                r = read_rates(st, args.seconds)
                record_reading(recorder, r)
                print(json.dumps({"singles_hz": r.singles_hz, "coincidences_hz": r.coincidences_hz,
                                  "accidentals_hz": r.accidentals_hz, "car": r.car,
                                  "window_ps": st.window_ps, "seconds": r.live_s,
                                  "run_id": recorder.run_id, "db": db,
                                  "seed": seed_used(st)}))
                return EXIT_OK
            live_view(st, args.interval, args.seconds, lambda r: record_reading(recorder, r))
            if recorder.started:  # rich leaves a file (not a terminal) without a line end
                print(("" if sys.stdout.isatty() else "\n") + f"  recorded in {db} (run {recorder.run_id})")
    return EXIT_OK


def live_view(st: Any, interval: float, seconds: float | None,
              on_reading: Callable[[Any], None] | None = None) -> int:
    """Refresh a rich table every ``interval`` of wall time (a simulated
    bench is paced to real time so the view reads like the lab's);
    ``on_reading`` gets each reading as it is taken."""
    from rich.live import Live

    from qnic.experiments.monitor import RateHistory, read_rates

    history: dict[str, RateHistory] = {}
    start = time.monotonic()
    with Live(refresh_per_second=8) as live:
        try:
            while seconds is None or time.monotonic() - start < seconds:
                t0 = time.monotonic()
                r = read_rates(st, interval)
                if on_reading is not None:
                    on_reading(r)
                for key, v in (*r.singles_hz.items(), *r.coincidences_hz.items()):
                    history.setdefault(key, RateHistory()).add(r.time_s, v)
                live.update(_table(r, history, st.window_ps))
                time.sleep(max(0.0, interval - (time.monotonic() - t0)))
        except KeyboardInterrupt:
            pass
    return EXIT_OK


def _table(r: Any, history: dict[str, Any], window_ps: int) -> Any:
    from rich.table import Table

    table = Table(title=f"qnic monitor: window {window_ps} ps, {r.live_s:.2f} s per reading",
                  caption="history: bars from 0 to the highest reading shown; Ctrl-C to quit")
    for col in ("", "rate (Hz)", "accidentals (Hz)", "CAR", "history"):
        table.add_column(col, justify="right")
    for ch, v in r.singles_hz.items():
        table.add_row(f"singles ch {ch}", f"{v:,.0f}", "", "", history[ch].sparkline())
    car = r.car
    for key, v in r.coincidences_hz.items():
        table.add_row(f"coinc {key}", f"{v:,.1f}", f"{r.accidentals_hz[key]:,.2f}",
                      f"{car[key]:,.0f}", history[key].sparkline())
    return table
