"""``qnic calibrate``: find the bench's unknowns and keep them (docs/storage.md, docs/commands.md)."""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

from qnic.cli.common import EXIT_FAILED, EXIT_OK, bench_seed, json_safe, seed, seed_line, seed_used


def add_parser(sub: Any) -> None:
    p = sub.add_parser("calibrate", help="calibrate the bench (zeros, delays, visibility, dark counts)",
                       description="Home, dark counts, channel delays and window, waveplate zeros, "
                                   "visibilities and relative efficiencies, from the instruments alone.")
    p.add_argument("--station", metavar="FILE", help="station file (default: embedded simulated bench)")
    p.add_argument("--out", metavar="FILE", help="calibration file to write (default: a new file in the store)")
    p.add_argument("--calibration-dir", metavar="DIR", help="the calibration store (default ~/.qnic-bench/calibrations)")
    p.add_argument("--resume", action="store_true", help="continue the newest unfinished calibration")
    p.add_argument("--show", action="store_true", help="print the bench's calibration history and exit")
    p.add_argument("--seed", type=seed, metavar="N", help="seed of the simulated bench")
    p.add_argument("--db", metavar="FILE", help="QCoDeS database (default: QCoDeS's configured one)")
    p.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    p.set_defaults(func=cmd_calibrate, safe_interrupts=True, kept_noun="row")


def cmd_calibrate(args: argparse.Namespace) -> int:
    from qnic.calibration.context import Context
    from qnic.calibration.errors import CalibrationError
    from qnic.calibration.plots import save_fit_plots
    from qnic.calibration.record import calibration_recorder, record_step
    from qnic.calibration.runner import Calibration, bench_name
    from qnic.calibration.store import CalibrationStore
    from qnic.cli.preflight import check_addresses, checked_station
    from qnic.station import load_station_config
    from qnic.storage import command_arguments, run_facts, use_database
    config = load_station_config(args.station)
    check_addresses(config)
    store = CalibrationStore(Path(args.calibration_dir) if args.calibration_dir else None)
    db = None if args.show else use_database(args.db)
    run_id = None
    with checked_station(config, bench_seed(config, args.seed), args.verbose) as st:
        if args.show:
            return show_history(store, bench_name(st), args.json)
        seed_value = seed_used(st)
        ask = _ask if sys.stdin.isatty() else None
        ctx = Context(st, source=st.source, ask_operator=ask)
        cal = Calibration.start(ctx, store, Path(args.out) if args.out else None, args.resume)
        plots: dict[str, Any] = {}
        steps = cal.remaining()
        recorder = calibration_recorder(st)
        try:
            with recorder.run(), _Progress(len(steps), enabled=not args.json) as progress:
                recorder.add_facts(run_facts(st, None, args.seed, command_arguments(args)))
                recorder.add_metadata("calibration_file", str(cal.path))
                for name, step in steps:
                    progress.step(name)
                    result = cal.run_step(name, step)
                    record_step(recorder, result)
                    recorder.add_metadata("steps_done", cal.record.steps_done)
                    plots.update(result.plots)
                    progress.done()
                if recorder.started:
                    run_id = recorder.run_id
                    recorder.add_metadata("summary", summary(cal.record))
        except CalibrationError as exc:
            print(f"qnic: {exc}\n  steps kept in {cal.path}: {', '.join(cal.record.steps_done) or 'none'};"
                  " fix the cause and rerun with --resume", file=sys.stderr)
            return EXIT_FAILED
        pngs = save_fit_plots(plots, cal.path)
    report = summary(cal.record)
    report.update({"file": str(cal.path), "plots": [str(p) for p in pngs], "bench": cal.record.bench,
                   "run_id": run_id, "db": db, "seed": seed_value})
    if args.json:
        print(json.dumps(json_safe(report)))
    else:
        print(format_summary(report))
    return EXIT_OK


def summary(record: Any) -> dict[str, Any]:
    """The docs/commands.md keys (values) and their uncertainties."""
    keys = ("waveplate_zero_deg", "delay_ps", "visibility", "dark_count_hz")
    out: dict[str, Any] = {k: {n: m.value for n, m in record.values.get(k, {}).items()} for k in keys}
    out["window_ps"] = record.value("window_ps", "A-B")
    out["relative_efficiency"] = {n: m.value for n, m in record.values.get("relative_efficiency", {}).items()}
    out["uncertainties"] = {k: {n: m.err for n, m in record.values.get(k, {}).items()}
                            for k in (*keys, "relative_efficiency")}
    return out


def format_summary(r: dict[str, Any]) -> str:
    u = r["uncertainties"]
    lines = [f"calibration of bench {r['bench']!r} -> {r['file']}"]
    for arm, v in r["waveplate_zero_deg"].items():
        lines.append(f"  waveplate zero {arm}: {v:8.3f} +- {u['waveplate_zero_deg'][arm]:.3f} deg (mod 90)")
    for ch, v in r["delay_ps"].items():
        lines.append(f"  delay ch {ch}: {v:10.1f} +- {u['delay_ps'][ch]:.1f} ps")
    lines.append(f"  window: {r['window_ps']} ps")
    for basis, v in r["visibility"].items():
        lines.append(f"  visibility {basis}: {v:.4f} +- {u['visibility'][basis]:.4f}")
    for ch, v in r["dark_count_hz"].items():
        lines.append(f"  dark counts ch {ch}: {v:9.1f} +- {u['dark_count_hz'][ch]:.1f} Hz")
    lines += [f"  plot: {p}" for p in r["plots"]]
    if r.get("run_id") is not None:
        lines.append(f"  recorded in {r['db']} (run {r['run_id']})")
    if r.get("seed") is not None:
        lines.append(seed_line(r["seed"], "qnic calibrate"))
    return "\n".join(lines)


def show_history(store: Any, bench: str, as_json: bool) -> int:
    rows = []
    for path, rec in store.history(bench):
        z = rec.values.get("waveplate_zero_deg", {})
        v = rec.values.get("visibility", {})
        rows.append({"file": str(path), "time": rec.time, "complete": rec.complete,
                     "zero_A": z["A"].value if "A" in z else None,
                     "zero_B": z["B"].value if "B" in z else None,
                     "visibility_HV": v["HV"].value if "HV" in v else None,
                     "visibility_DA": v["DA"].value if "DA" in v else None})
    if as_json:
        print(json.dumps({"bench": bench, "history": rows}))
        return EXIT_OK
    from rich.console import Console
    from rich.table import Table

    table = Table(title=f"calibrations of bench {bench!r}")
    for col in ("time", "complete", "zero A", "zero B", "V HV", "V DA", "file"):
        table.add_column(col)
    fmt = lambda x: "-" if x is None else f"{x:.3f}"  # noqa: E731
    for r in rows:
        table.add_row(r["time"], "yes" if r["complete"] else "no", fmt(r["zero_A"]), fmt(r["zero_B"]),
                      fmt(r["visibility_HV"]), fmt(r["visibility_DA"]), Path(r["file"]).name)
    Console().print(table)
    return EXIT_OK


def _ask(message: str) -> None:
    input(message)


class _Progress:
    """A rich progress bar with ETA across the steps (on stderr, when a terminal)."""

    def __init__(self, total: int, enabled: bool) -> None:
        self.total = total
        self.enabled = enabled and sys.stderr.isatty()
        self._progress: Any = None
        self._task: Any = None

    def __enter__(self) -> _Progress:
        if self.enabled:
            from rich.console import Console
            from rich.progress import (
                BarColumn,
                Progress,
                TextColumn,
                TimeRemainingColumn,
            )

            self._progress = Progress(TextColumn("{task.description}"), BarColumn(),
                                      TextColumn("{task.completed}/{task.total}"),
                                      TimeRemainingColumn(), console=Console(stderr=True))
            self._progress.__enter__()
            self._task = self._progress.add_task("calibrating", total=self.total)
        return self

    def step(self, name: str) -> None:
        if self._progress is not None:
            self._progress.update(self._task, description=f"calibrating: {name}")

    def done(self) -> None:
        if self._progress is not None:
            self._progress.advance(self._task)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.__exit__(None, None, None)
