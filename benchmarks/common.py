"""What every benchmark shares: timing, the result row, the machine.

Timing is ``time.perf_counter`` around one call; the functions compared are
called in turn within each repeat (interleaved), so a change of load on a
shared machine hits ours and the baseline alike, and each row reports the
median and the spread (min-max, and the quartiles in the JSON file) of the
repeats. The ratio of a row is taken per repeat and its median reported,
oriented so that > 1 means ours is better (faster, or smaller).
"""

from __future__ import annotations

import datetime as dt
import functools
import os
import platform
import statistics
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class Stats:
    """Median and spread of one measurement's repeats, in the row's unit."""

    median: float
    low: float
    high: float
    q1: float
    q3: float
    n: int

    @classmethod
    def of(cls, samples: Sequence[float]) -> Stats:
        """Stats of the samples (at least one)."""
        if not samples:
            raise ValueError("no samples")
        q1, _, q3 = np.percentile(np.asarray(samples, float), [25, 50, 75])
        return cls(float(statistics.median(samples)), float(min(samples)), float(max(samples)),
                   float(q1), float(q3), len(samples))


@functools.cache
def machine() -> dict[str, Any]:
    """The machine and software the benchmarks run on (CPU, cores, versions)."""
    try:
        import numba
        numba_version = numba.__version__
    except ImportError:
        numba_version = "not installed"
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return {"cpu": _cpu_model(), "cores": os.cpu_count(), "usable_cores": usable,
            "system": f"{platform.system()} {platform.release()}",
            "python": platform.python_version(), "numpy": np.__version__, "numba": numba_version}


def _cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text(encoding="utf-8").splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine() or "unknown CPU"


def machine_text(m: Mapping[str, Any]) -> str:
    """One line naming a :func:`machine` description."""
    cores = f"{m['cores']} cores"
    if m.get("usable_cores") not in (None, m["cores"]):
        cores += f" ({m['usable_cores']} usable)"
    return (f"{m['cpu']}, {cores}, {m['system']}; Python {m['python']}, numpy {m['numpy']}, "
            f"numba {m['numba']}")


def now() -> str:
    """The local date and time, ISO 8601 to the second."""
    return dt.datetime.now().astimezone().isoformat(timespec="seconds")


@dataclass(frozen=True)
class Row:
    """One measurement of ours beside its baseline, measured in the same run.

    Attributes:
        benchmark: the runner's name of the benchmark (``matching``, ...).
        measured: what is measured, on which input.
        unit: unit of the values (``tags/s``, ``MB/s``, ``MB``; times always
            in ``s``, printed in ms, us or ns as they fit).
        higher_is_better: True for rates, False for times and memory.
        ours: our repeats' median and spread.
        baseline: what the baseline is (or why there is none).
        baseline_stats: its repeats' median and spread; None without one.
        ratio: median over the repeats of ours/baseline for rates and
            baseline/ours for times and memory: > 1 means ours is better.
        notes: targets, checks, anything a reader needs to judge the row.
        reference: a figure quoted from elsewhere, not measured here.
        quick: measured with ``--quick`` (smaller inputs).
        machine: :func:`machine` of the run.
        date: when it ran (ISO 8601).
    """

    benchmark: str
    measured: str
    unit: str
    higher_is_better: bool
    ours: Stats
    baseline: str
    baseline_stats: Stats | None = None
    ratio: float | None = None
    notes: str = ""
    reference: str = ""
    quick: bool = False
    machine: dict[str, Any] = field(default_factory=machine)
    date: str = field(default_factory=now)

    @property
    def ratio_basis(self) -> str:
        """How :attr:`ratio` is taken (so that > 1 means ours is better)."""
        if self.higher_is_better:
            return "ours / baseline"
        return "baseline time / ours" if self.unit == "s" else "baseline / ours"


def compare(benchmark: str, measured: str, unit: str, ours: Sequence[float], baseline: str,
            base: Sequence[float] | None = None, *, higher_is_better: bool, notes: str = "",
            reference: str = "") -> Row:
    """A row from the samples of ours and of the baseline.

    When both have one sample per repeat (interleaved), the ratio is the
    median of the per-repeat ratios; otherwise the ratio of the medians.
    """
    ratio = None
    if base:
        if len(base) == len(ours):
            pairs = [(o / b if higher_is_better else b / o) for o, b in zip(ours, base)]
            ratio = float(statistics.median(pairs))
        else:
            mo, mb = statistics.median(ours), statistics.median(base)
            ratio = float(mo / mb if higher_is_better else mb / mo)
    return Row(benchmark, measured, unit, higher_is_better, Stats.of(ours), baseline,
               Stats.of(base) if base else None, ratio, notes, reference)


def interleaved(calls: Mapping[str, Callable[[], object]], repeats: int, *,
                setup: Mapping[str, Callable[[], object]] | None = None,
                warm_up: bool = True) -> dict[str, list[float]]:
    """Wall seconds of each call, the calls taken in turn within each repeat.

    Args:
        calls: name -> function to time (called with no arguments).
        repeats: timed calls of each function.
        setup: name -> function called untimed before each call of that name.
        warm_up: call each function once, untimed, first (numba compilation
            or cache loading, first-touch of memory).

    Returns:
        name -> ``repeats`` durations in seconds.
    """
    setup = setup or {}
    if warm_up:
        for name, fn in calls.items():
            setup.get(name, _nothing)()
            fn()
    out: dict[str, list[float]] = {name: [] for name in calls}
    for _ in range(repeats):
        for name, fn in calls.items():
            setup.get(name, _nothing)()
            start = time.perf_counter()
            fn()
            out[name].append(time.perf_counter() - start)
    return out


def _nothing() -> None:
    return None


def rates(count: float, seconds: Sequence[float]) -> list[float]:
    """``count`` per second for each duration."""
    return [count / s for s in seconds]


_PREFIXES = ((1e9, "G "), (1e6, "M "), (1e3, "k "))
_TIME_SCALES = ((1.0, "s"), (1e-3, "ms"), (1e-6, "us"), (1e-9, "ns"))


def _scale(value: float, unit: str) -> tuple[float, str]:
    """(divisor, unit label) that puts ``value`` in a readable range."""
    if unit == "s":
        return next(((f, label) for f, label in _TIME_SCALES if abs(value) >= f), (1e-9, "ns"))
    if unit.endswith("/s") and not unit.startswith(("kB", "MB", "GB")):
        for factor, prefix in _PREFIXES:
            if abs(value) >= factor:
                return factor, prefix + unit
    return 1.0, unit


def _num(x: float) -> str:
    return f"{x:.3g}" if abs(x) < 1000 else f"{x:,.0f}"


def format_stats(stats: Stats, unit: str) -> str:
    """``median unit (min-max)``, the three in one scale."""
    factor, label = _scale(stats.median, unit)
    text = f"{_num(stats.median / factor)} {label}"
    if stats.n > 1:
        text += f" ({_num(stats.low / factor)}-{_num(stats.high / factor)})"
    return text


def format_ratio(row: Row) -> str:
    """The row's ratio with its basis, or ``-``."""
    return "-" if row.ratio is None else f"{row.ratio:.2f}x ({row.ratio_basis})"


def print_row(row: Row) -> None:
    """A row on the terminal, for the scripts and the runner."""
    base = "-" if row.baseline_stats is None else format_stats(row.baseline_stats, row.unit)
    print(f"  {row.measured}\n    ours {format_stats(row.ours, row.unit)}  |  "
          f"{row.baseline}: {base}  |  {format_ratio(row)}")
    for extra in (row.notes, row.reference and f"reference, not measured: {row.reference}"):
        if extra:
            print(f"    {extra}")
