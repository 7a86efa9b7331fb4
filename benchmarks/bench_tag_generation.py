"""Tag generation speed of the simulated bench (docs/physics.md: >= 20 M tags/s on one core).

Run on demand: ``python benchmarks/bench_tag_generation.py``. It streams
bench time through the simulated tagger (full physics: source, optics, loss,
jitter, dead time, afterpulsing, dark counts, tagger merge) and reports tags
per second of wall time, twice: with ideal timing (no cable or input
delays, 1 ps resolution: the tagger passes pulses through untouched) and
with the default station's cable delays, a tagger input delay and a 4 ps
resolution (the tagger's own pass runs too). Beside them a baseline
measured in the same process: the plainest numpy generator of the same
number of tags (uniform random timestamps and channels, then one sort),
with no physics at all.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

from qnic.sim.bench import Bench
from qnic.sim.params import bench_params
from qnic.sim.registry import registered
from qnic.sim.tagger import SimulatedTimeTagger

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


def baseline(n: int, seconds: float) -> float:
    rng = np.random.default_rng(1)
    t0 = time.perf_counter()
    ts = rng.integers(0, int(seconds * 1e12), n)
    ch = rng.integers(1, 5, n).astype(np.int32)
    order = np.argsort(ts)
    ts, ch = ts[order], ch[order]
    return time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--pair-rate", type=float, default=1e7, help="pairs per second (default 1e7)")
    ap.add_argument("--seconds", type=float, default=2.0, help="bench seconds (default 2)")
    ap.add_argument("--chunk", type=float, default=0.05, help="stream chunk in s (default 0.05)")
    ap.add_argument("--repeats", type=int, default=5, help="interleaved repeats (default 5)")
    args = ap.parse_args()
    # shared machines vary run to run: the three are interleaved and repeated,
    # and the median and range reported
    rates: dict[str, list[float]] = {"ideal timing": [], "station timing": [], "numpy baseline": []}
    for _ in range(args.repeats):
        for label, station_timing in (("ideal timing", False), ("station timing", True)):
            n, wall = simulated(args.pair_rate, args.seconds, args.chunk, station_timing)
            rates[label].append(n / wall / 1e6)
        rates["numpy baseline"].append(n / baseline(n, args.seconds) / 1e6)
    print(f"{n:,} tags per run ({args.pair_rate:g} pairs/s, {args.seconds:g} s of bench time, "
          f"{args.chunk:g} s batches), {args.repeats} repeats")
    for label, r in rates.items():
        print(f"{label:15s}: median {np.median(r):6.1f} M tags/s (range {min(r):.1f}-{max(r):.1f})")
    ratio = np.median(np.array(rates["station timing"]) / np.array(rates["numpy baseline"]))
    print(f"station timing / baseline: {ratio:.2f}x (median of the repeats); "
          "the baseline is uniform times + one sort, no physics")


if __name__ == "__main__":
    main()
