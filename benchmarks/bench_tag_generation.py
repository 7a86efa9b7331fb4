"""Tag generation speed of the simulated bench (docs/physics.md: >= 20 M tags/s on one core).

Run on demand: ``python benchmarks/bench_tag_generation.py``. It streams
bench time through the simulated tagger (full physics: source, optics, loss,
jitter, dead time, afterpulsing, dark counts, tagger merge) and reports tags
per second of wall time, twice: with ideal timing (no cable or input
delays, 1 ps resolution: the tagger passes pulses through untouched) and
with the default station's cable delays, a tagger input delay and a 4 ps
resolution (the tagger's own pass runs too). Beside them a baseline
measured in the same process, interleaved: the numpy SPDC generator a user
would write, streamed in the same batches (per batch: emission times as a
Poisson process, cumulated exponential gaps, per arm a detection draw, a random outcome
bit correlated across the arms, Gaussian jitter, dark counts, then one
stable sort of the batch), which has far less physics (no polarization
optics, dead time, afterpulsing, saturation or tagger) than ours.

The runner (``python -m benchmarks --only tag_generation``) uses the
defaults (0.5 s of bench time with ``--quick``), 5 repeats.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from numpy.typing import NDArray

from qnic.sim.bench import Bench
from qnic.sim.params import bench_params
from qnic.sim.registry import registered
from qnic.sim.tagger import SimulatedTimeTagger

try:
    from benchmarks.common import Row, compare, print_row
except ModuleNotFoundError:  # run as a script: python benchmarks/bench_tag_generation.py
    from common import Row, compare, print_row  # type: ignore[no-redef]

# cable delays of the embedded default station (qnic/stations/default.yaml)
_STATION_DELAYS_PS = {"A": (0, 150), "B": (2300, 2420)}


def simulated(pair_rate_hz: float, seconds: float, chunk_s: float,
              station_timing: bool) -> tuple[int, float]:
    sim: dict = {"name": "bench", "seed": 1, "pair_rate_hz": pair_rate_hz,
                 "A": {"transmission": 0.5}, "B": {"transmission": 0.5}}
    if station_timing:  # cable delays, tagger resolution and an input delay: the tagger's pass runs
        for arm, (ch0, ch1) in (("A", (1, 2)), ("B", (3, 4))):
            sim[arm]["detectors"] = {ch: {"outcome": k, "delay_ps": _STATION_DELAYS_PS[arm][k]}
                                     for k, ch in enumerate((ch0, ch1))}
        sim["tagger"] = {"resolution_ps": 4}
    with registered(Bench(bench_params(sim))):
        tagger = SimulatedTimeTagger("bench_tagger", bench="bench")
        try:
            if station_timing:
                tagger.set_input_delay(3, -2300)
            for _ in tagger.stream(chunk_s, chunk_s):  # warm-up: numba caches, tables
                pass
            n = 0
            t0 = time.perf_counter()
            for batch in tagger.stream(seconds, chunk_s):
                n += batch.timestamps.size
            return n, time.perf_counter() - t0
        finally:
            tagger.close()


DETECTION = 0.5 * 0.65  # arm transmission x detector efficiency, as the simulated bench
JITTER_PS = 350.0
DARK_HZ = 300.0
ERROR = 0.03  # outcomes of a pair's two clicks differ this often


def numpy_spdc(pair_rate_hz: float, seconds: float, chunk_s: float,
               seed: int = 1) -> tuple[int, float]:
    """The plain numpy generator (module doc), batch by batch; (tags, wall s)."""
    rng = np.random.default_rng(seed)
    chunk_ps = round(chunk_s * 1e12)
    n_tags = 0
    t0 = time.perf_counter()
    for k in range(max(1, round(seconds / chunk_s))):
        start = k * chunk_ps  # a Poisson process: exponential gaps, already sorted
        gaps = rng.exponential(1e12 / pair_rate_hz, round(pair_rate_hz * chunk_s))
        emit = start + np.cumsum(gaps).astype(np.int64)
        bit_a = rng.integers(0, 2, emit.size, dtype=np.int32)
        bit_b = bit_a ^ (rng.random(emit.size) < ERROR)
        parts_t: list[NDArray[np.int64]] = []
        parts_c: list[NDArray[np.int32]] = []
        for first, bits in ((1, bit_a), (3, bit_b)):
            seen = rng.random(emit.size) < DETECTION
            jitter = rng.normal(0.0, JITTER_PS, int(seen.sum())).astype(np.int64)
            parts_t.append(emit[seen] + jitter)
            parts_c.append(first + bits[seen])
        n_dark = rng.poisson(4 * DARK_HZ * chunk_s)
        parts_t.append(rng.integers(start, start + chunk_ps, n_dark))
        parts_c.append(rng.integers(1, 5, n_dark, dtype=np.int32))
        ts, ch = np.concatenate(parts_t), np.concatenate(parts_c)
        order = np.argsort(ts, kind="stable")
        ts, ch = ts[order], ch[order]
        n_tags += ts.size
    return n_tags, time.perf_counter() - t0


LABELS = ("ideal timing", "station timing", "numpy generator")


def measure(pair_rate: float, seconds: float, chunk: float, repeats: int) -> list[Row]:
    """Both timings of ours against the numpy generator, interleaved."""
    rates: dict[str, list[float]] = {label: [] for label in LABELS}
    for _ in range(repeats):  # shared machines vary run to run: interleaved
        for label, station_timing in (("ideal timing", False), ("station timing", True)):
            n, wall = simulated(pair_rate, seconds, chunk, station_timing)
            rates[label].append(n / wall)
        n_base, wall = numpy_spdc(pair_rate, seconds, chunk)
        rates["numpy generator"].append(n_base / wall)
    run = (f"{pair_rate:g} pairs/s, {seconds:g} s of bench time in {chunk:g} s batches "
           f"({n:,} tags)")
    base = ("plain numpy SPDC generator per batch (pairs, detection, outcome bits, jitter, "
            "darks, one stable sort; no optics, dead time or tagger)")
    what = {"ideal timing": "full physics, ideal timing (tagger passes pulses through)",
            "station timing": "full physics, the default station's cable delays, an input "
                              "delay and 4 ps resolution (the tagger's own pass runs)"}
    return [compare("tag_generation", f"simulated tagger stream, {what[label]}: {run}", "tags/s",
                    rates[label], base, rates["numpy generator"], higher_is_better=True,
                    notes="target >= 20 M tags/s on one core (docs/physics.md)")
            for label in ("ideal timing", "station timing")]


def run(quick: bool) -> list[Row]:
    """1e7 pairs/s, 2 s of bench time (0.5 s with ``quick``), 50 ms batches, 5 repeats."""
    return measure(1e7, 0.5 if quick else 2.0, 0.05, 5)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair-rate", type=float, default=1e7, help="pairs per second (default 1e7)")
    ap.add_argument("--seconds", type=float, default=2.0, help="bench seconds (default 2)")
    ap.add_argument("--chunk", type=float, default=0.05, help="stream chunk in s (default 0.05)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    args = ap.parse_args()
    for row in measure(args.pair_rate, args.seconds, args.chunk, args.repeats):
        print_row(row)


if __name__ == "__main__":
    main()
