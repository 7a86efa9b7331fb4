"""Small helpers to build simulated benches in tests."""

from __future__ import annotations

from typing import Any

from qnic.sim.bench import Bench
from qnic.sim.params import bench_params
from qnic.sim.registry import registry


def ideal_detectors(arm: str, **overrides: Any) -> dict[int, dict[str, Any]]:
    """Two detectors with no dark counts, jitter, dead time or afterpulsing."""
    ch0, ch1 = (1, 2) if arm == "A" else (3, 4)
    base = {"efficiency": 1.0, "dark_count_hz": 0.0, "jitter_ps": 0.0, "dead_time_ns": 0.0,
            "afterpulse_probability": 0.0, **overrides}
    return {ch0: {"outcome": 0, **base}, ch1: {"outcome": 1, **base}}


def make_bench(sim: dict[str, Any] | None = None, register: bool = True) -> Bench:
    """A bench from a ``sim:`` mapping, registered under its name."""
    bench = Bench(bench_params(sim or {}))
    if register:
        registry().add(bench)
    return bench
