"""Running ``qnic demo`` (options in :mod:`qnic.cli.demo`; docs/commands.md).

Also reads trace files: one round per line, balancer A's then balancer B's
request type, C (co-locate) or E (exclusive), e.g. ``C,E`` or ``C E`` or
``CE``; '#' starts a comment; a first line ``A,B`` is a header.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from qnic.balancing import CHSHInputError, RequestType, ServiceTime, load_chsh_result
from qnic.balancing.memory import US, QuantumMemory, StoragePolicy
from qnic.cli.common import (
    EXIT_BAD_INPUT,
    EXIT_FAILED,
    EXIT_INTERRUPTED,
    EXIT_OK,
    bench_seed,
    seed_used,
)
from qnic.experiments.demo import DemoConfig, DemoError, DemoRun, Trace, draw_trace
from qnic.station import StationError, load_station_config, open_station

TRACE_TYPES = {"C": RequestType.COLOCATE, "E": RequestType.EXCLUSIVE}


def parse_trace(text: str, name: str = "<trace>") -> Trace:
    """Read a trace: one round per line, A's then B's request type, C or E.

    Fields are separated by commas, semicolons, tabs or spaces ("C,E", "C E")
    or written together ("CE"); case does not matter. Blank lines and text
    after '#' are ignored, and a first line "A,B" is taken as a header.

    Raises:
        DemoError: naming the file and line, for an unknown request type, a
            line without exactly two types, or a trace without rounds.
    """
    x: list[int] = []
    y: list[int] = []
    for number, raw in enumerate(text.splitlines(), start=1):
        line = raw.split("#", 1)[0].strip()
        if not line:
            continue
        fields = line.replace(",", " ").replace(";", " ").split()
        if len(fields) == 1 and len(fields[0]) == 2:
            fields = list(fields[0])
        if not x and [f.upper() for f in fields] == ["A", "B"]:
            continue
        if len(fields) != 2:
            raise DemoError(f"{name} line {number}: expected two request types (balancer A, "
                            f"balancer B), got {len(fields)} field(s) in {raw.strip()!r}")
        for f, out in zip(fields, (x, y)):
            kind = TRACE_TYPES.get(f.upper())
            if kind is None:
                raise DemoError(f"{name} line {number}: unknown request type {f!r} (expected C "
                                "for co-locate or E for exclusive)")
            out.append(int(kind))
    if not x:
        raise DemoError(f"{name}: no rounds (expected lines such as 'C,E')")
    return Trace(np.array(x, dtype=np.int8), np.array(y, dtype=np.int8), name)


def read_trace(path: str | Path) -> Trace:
    """Read a trace file (see :func:`parse_trace`); unreadable files raise DemoError."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DemoError(f"cannot read trace file {path}: {getattr(exc, 'strerror', None) or exc}"
                        ) from None
    return parse_trace(text, str(path))


def _bad(message: str, code: int = EXIT_BAD_INPUT) -> int:
    print(f"qnic demo: {message}", file=sys.stderr)
    return code


def demo_inputs(args: argparse.Namespace) -> tuple[DemoConfig, Trace]:
    """The validated configuration and requests (before any work).

    Raises:
        DemoError, CHSHInputError, ValueError: with a message naming the input.
    """
    used = args.memory_us is not None or args.memory_sweep_us
    if args.coherence_us is not None and not used:
        raise DemoError("--coherence-us is used only with --memory-us or --memory-sweep-us")
    coherence_s = (args.coherence_us or args.default_coherence_us) * US
    if args.trace is not None:
        trace = read_trace(args.trace)
        if args.rounds is not None and args.rounds > trace.rounds:
            raise DemoError(f"--rounds {args.rounds}: {args.trace} has only {trace.rounds} rounds")
        trace = trace.head(args.rounds or trace.rounds)
    else:
        trace = draw_trace(args.rounds or args.default_rounds, args.seed or 0)
    memory = None
    if args.memory_us is not None:
        memory = QuantumMemory(args.memory_us * US, coherence_s, StoragePolicy(args.storage))
    elif args.storage != "fixed":
        raise DemoError("--storage applies to the memories: give --memory-us")
    chsh = load_chsh_result(args.chsh_json) if args.chsh_json is not None else None
    try:
        service = ServiceTime(args.service_steps, args.service)
    except ValueError as exc:
        raise DemoError(f"--service-steps: {exc}") from None
    config = DemoConfig(seed=args.seed or 0, servers=args.servers, service=service,
                        classical=tuple(args.classical), block_rounds=args.block,
                        max_batch_s=args.batch_s, rtt_s=args.rtt_us * US, memory=memory,
                        chsh=chsh, sweep_storage_s=tuple(t * US for t in args.memory_sweep_us or ()),
                        sweep_coherence_s=coherence_s if args.memory_sweep_us else None)
    return config.validate(), trace


def run_demo(args: argparse.Namespace) -> int:
    from qnic.cli.chsh import use_calibration
    from qnic.experiments.demo_store import demo_recorder, record_rounds
    from qnic.experiments.demo_view import demo_report, format_demo, plot_demo
    from qnic.storage import command_arguments, run_facts, use_database

    try:
        config, trace = demo_inputs(args)
        station_config = load_station_config(args.station)
    except (DemoError, CHSHInputError) as exc:
        return _bad(str(exc))
    except StationError as exc:
        return _bad(f"bad station file: {exc}")
    db = use_database(args.db)
    label = "embedded simulated bench" if args.station is None else str(args.station)
    live = sys.stdout.isatty() and not args.json
    interrupted = False
    run_id = None
    with open_station(station_config, seed=bench_seed(station_config, args.seed)) as st:
        seed_value = seed_used(st)
        try:
            calibration = use_calibration(st, args)
        except ValueError as exc:  # CalibrationFileError, an unfinished calibration
            return _bad(str(exc))
        run = DemoRun(st, config, trace)
        recorder = demo_recorder(st, run.systems)
        recorded = 0

        def on_block(r: DemoRun) -> None:
            nonlocal recorded
            recorded = record_rounds(recorder, r.record(), recorded)

        try:
            run.prepare()
            with recorder.run():
                recorder.add_facts(run_facts(st, calibration, args.seed, command_arguments(args)))
                recorder.add_metadata("trace", trace.source)
                if live:
                    interrupted = _live_run(run, label, st.bench is not None and not args.no_pace,
                                            on_block)
                else:
                    run.run(on_block)
                if interrupted:
                    recorder.outcome = "interrupted"
                if recorder.started:
                    run_id = recorder.run_id
                    summary = demo_report(run.record(), label)
                    for key in ("rounds", "win_rate", "S_measured", "predicted_quantum"):
                        recorder.add_metadata(key, summary[key])
        except DemoError as exc:
            return _bad(str(exc), EXIT_FAILED)
    record = run.record()
    extra: dict[str, Any] = {"calibration": calibration, "interrupted": interrupted,
                             "run_id": run_id, "db": db, "bench_seed": seed_value}
    if args.out is not None and record.rounds:
        plot_demo(record, demo_report(record, label), Path(args.out))
        extra["files"] = {"png": str(Path(args.out).resolve())}
    report = demo_report(record, label, extra)
    print(json.dumps(report) if args.json else format_demo(report))
    if not args.json and run_id is not None:
        print(f"  recorded in {db} (run {run_id})")
    if not args.json and seed_value is not None:
        # (--seed would also re-seed the requests, so it is no way to repeat this run)
        print(f"  bench seed {seed_value} (drawn for this run; a seed: in the station file "
              "fixes it)")
    return EXIT_INTERRUPTED if interrupted else EXIT_OK


def _live_run(run: DemoRun, label: str, paced: bool,
              on_block: Callable[[DemoRun], None] | None = None) -> bool:
    """Run under a rich live dashboard; a simulated bench is paced to wall time;
    ``on_block`` is called after each block.

    Returns:
        Whether the run was interrupted (Ctrl-C).
    """
    from rich.live import Live

    from qnic.experiments.demo_view import dashboard, demo_report

    clock = run.station.clock
    history: dict[str, list[float]] = {name: [] for name in run.systems}
    bench0, wall0 = clock.now(), time.monotonic()
    shown = 0

    def update(r: DemoRun) -> None:
        nonlocal shown
        if on_block is not None:
            on_block(r)
        record = r.record()
        for name, track in record.tracks.items():
            history[name].append(float(track.queue_total[shown:].mean()))
        shown = record.rounds
        live.update(dashboard(demo_report(record, label), history, r.trace.rounds))
        if paced:  # the lab's pace: a waveplate move takes its real time on screen
            time.sleep(max(0.0, (clock.now() - bench0) - (time.monotonic() - wall0)))

    with Live(refresh_per_second=8) as live:
        try:
            run.run(update)
        except KeyboardInterrupt:
            return True
    return False
