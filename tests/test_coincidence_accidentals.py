"""Accidental coincidences: closed form R1 R2 2w T against independent Poisson streams."""

from __future__ import annotations

import math

import numpy as np
import pytest

from qnic.coincidence import (
    accidentals_from_offset,
    accidentals_from_rates,
    find_coincidences,
)

RATE_A_HZ = 2.0e5
RATE_B_HZ = 3.0e5
DURATION_S = 1.0
WINDOW_PS = 5_000


def _poisson_stream(rng: np.random.Generator, rate_hz: float, duration_s: float) -> np.ndarray:
    n = rng.poisson(rate_hz * duration_s)
    return np.sort(rng.integers(0, int(duration_s * 1e12), size=n, dtype=np.int64))


def test_closed_form() -> None:
    assert accidentals_from_rates(1e5, 1e5, 1000, 10.0) == pytest.approx(200.0)
    assert accidentals_from_rates(0.0, 1e5, 1000, 10.0) == 0.0
    with pytest.raises(ValueError, match="window_ps"):
        accidentals_from_rates(1e5, 1e5, -1, 1.0)
    with pytest.raises(ValueError, match="duration_s"):
        accidentals_from_rates(1e5, 1e5, 1, math.nan)


def test_independent_poisson_streams_match_closed_form() -> None:
    rng = np.random.default_rng(20250611)
    t_a = _poisson_stream(rng, RATE_A_HZ, DURATION_S)
    t_b = _poisson_stream(rng, RATE_B_HZ, DURATION_S)
    # Rates measured from the streams themselves, so only the coincidence
    # count fluctuates. Expected: R1 R2 2 w T = 600 accidentals.
    expected = accidentals_from_rates(t_a.size / DURATION_S, t_b.size / DURATION_S,
                                      WINDOW_PS, DURATION_S)
    assert 500 < expected < 700

    # The coincidence count is Poisson, so its sigma is sqrt(expected);
    # accept within 4 sigma.
    counted = find_coincidences(t_a, t_b, WINDOW_PS)[0].size
    assert abs(counted - expected) < 4 * math.sqrt(expected)

    # Averaged over 8 offset windows: the mean is Poisson with variance
    # expected / 8, so sigma = sqrt(expected / 8); again within 4 sigma, and
    # the reported standard error is that same Poisson sigma (to 20 %).
    n_offsets = 8
    estimate = accidentals_from_offset(t_a, t_b, WINDOW_PS, offset_ps=1_000_000,
                                       n_offsets=n_offsets)
    sigma = math.sqrt(expected / n_offsets)
    assert abs(estimate.mean - expected) < 4 * sigma
    assert estimate.std_err == pytest.approx(sigma, rel=0.2)


def test_offset_window_removes_true_pairs() -> None:
    # Perfectly correlated streams: every event pairs at delay 0, none at an offset.
    t = np.arange(0, 10**9, 10**6, dtype=np.int64)
    assert find_coincidences(t, t + 20, 100, delay_ps=20)[0].size == t.size
    mean, err = accidentals_from_offset(t, t + 20, 100, offset_ps=3000, delay_ps=20, n_offsets=4)
    assert (mean, err) == (0.0, 0.0)


def test_offset_must_clear_the_window() -> None:
    with pytest.raises(ValueError, match="offset_ps"):
        accidentals_from_offset([1], [1], window_ps=100, offset_ps=200)
    with pytest.raises(ValueError, match="n_offsets"):
        accidentals_from_offset([1], [1], window_ps=100, offset_ps=1000, n_offsets=0)
