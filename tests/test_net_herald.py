"""Heralding across two clocks (docs/network.md): offset and drift found and tracked from
the clicks alone, and the pairs it heralds are the true ones.

Clicks are simulated here with numpy from a fixed seed: Poisson emission, detection
with efficiency 0.3 per arm, Gaussian jitter of 350 ps per click, dark counts, and each
node's clock reading (1 + drift) T + offset. Tolerances: the offset of a block is fitted
to N ~ 350 pairs whose differences scatter by 350 ps * sqrt 2, so its standard error is
about 30 ps; the checks allow 300 ps (10 sigma, since the fit also extrapolates to the
block's start). The drift over a 20 ms block is known to sigma ~ 30 ps / 6 ms, 0.005
ppm; the checks allow 0.05 ppm.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnic.experiments.net.herald import ClockLine, herald_block
from qnic.experiments.net.study import true_line

RATE_HZ, ETA, BLOCK_S, JITTER_PS, DARK_HZ = 2e5, 0.3, 0.02, 350.0, 500.0


def _clicks(rng: np.random.Generator, emitted: np.ndarray, offset_ns: float, drift_ppm: float
            ) -> tuple[np.ndarray, np.ndarray]:
    keep = rng.random(emitted.size) < ETA
    d, o = drift_ppm * 1e-6, offset_ns * 1e3
    times = (1 + d) * emitted[keep] + o + rng.normal(0.0, JITTER_PS, int(keep.sum()))
    dark = rng.uniform(emitted[0], emitted[-1], rng.poisson(DARK_HZ * BLOCK_S)) * (1 + d) + o
    ids = np.concatenate([np.flatnonzero(keep), -np.ones(dark.size, np.int64)])
    times = np.concatenate([times, dark])
    order = np.argsort(times)
    return np.rint(times[order]).astype(np.int64), ids[order]


@pytest.mark.parametrize(("clock_a", "clock_b"), [
    ((250_000.0, -12.0), (-480_000.0, 9.0)),
    ((0.0, 0.0), (1_400_000.0, -35.0)),
])
def test_offset_and_drift_are_found_and_tracked(clock_a: tuple[float, float],
                                                clock_b: tuple[float, float]) -> None:
    rng = np.random.default_rng(7)
    a = {"offset_ns": clock_a[0], "drift_ppm": clock_a[1]}
    b = {"offset_ns": clock_b[0], "drift_ppm": clock_b[1]}
    line: ClockLine | None = None
    for block in range(6):
        emitted = np.sort(rng.uniform(block, block + 1, rng.poisson(RATE_HZ * BLOCK_S))) * BLOCK_S * 1e12
        t_a, id_a = _clicks(rng, emitted, *clock_a)
        t_b, id_b = _clicks(rng, emitted, *clock_b)
        i_a, i_b, line = herald_block(t_a, t_b, 1000, line, 3_000_000_000)
        assert line is not None
        offset, drift = true_line(a, b, line.ref_ps)
        assert abs(line.offset_ps - offset) < 300, block
        assert abs(line.drift * 1e6 - drift) < 0.05, block
        true = (id_a[i_a] == id_b[i_b]) & (id_a[i_a] >= 0)
        both = np.intersect1d(id_a[id_a >= 0], id_b[id_b >= 0]).size  # pairs both detected
        # a pair both nodes detected is heralded when its two clicks fall within the 1 ns
        # window: their difference scatters by 350 ps * sqrt 2, so with probability
        # erf(1000 / (2 * 350)); checked to 4 binomial sigma. What is heralded is true
        # (accidentals: 6e4 clicks/s on each side * 2 ns * 6e4/s ~ 7/s, none expected).
        p = math.erf(1000 / (2 * JITTER_PS))
        assert abs(true.sum() - p * both) <= 4 * math.sqrt(both * p * (1 - p))
        assert true.mean() > 0.99


def test_uncorrelated_clicks_herald_nothing() -> None:
    rng = np.random.default_rng(8)
    t_a = np.sort(rng.integers(0, 20_000_000_000, 1200))
    t_b = np.sort(rng.integers(0, 20_000_000_000, 1200))
    i_a, i_b, line = herald_block(t_a, t_b, 1000, None, 2_000_000_000)
    assert i_a.size == 0 and i_b.size == 0 and line is None


def test_the_true_line_of_two_clocks() -> None:
    a = {"offset_ns": 1000.0, "drift_ppm": 0.0}
    b = {"offset_ns": 3000.0, "drift_ppm": 10.0}
    # at t_a = 1 s + 1 us (source time 1 s): t_b - t_a = 10 us of drift + 2 us of offset
    offset, drift = true_line(a, b, 1e12 + 1e6)
    assert offset == pytest.approx(10e6 + 2e6, abs=1e-3)
    assert drift == pytest.approx(10.0)
