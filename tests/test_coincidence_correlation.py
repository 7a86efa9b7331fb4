"""Cross-correlation histogram and sub-bin delay estimation."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from qnic.coincidence import cross_correlation, estimate_delay

stamps = st.lists(st.integers(min_value=0, max_value=200), max_size=30).map(sorted)


@settings(max_examples=100, deadline=None)
@given(t_a=stamps, t_b=stamps, range_ps=st.integers(0, 60), bin_ps=st.integers(1, 25))
def test_histogram_equals_all_pair_differences(
    t_a: list[int], t_b: list[int], range_ps: int, bin_ps: int
) -> None:
    centers, counts = cross_correlation(np.array(t_a, np.int64), np.array(t_b, np.int64),
                                        range_ps, bin_ps)
    n_bins = max(1, math.ceil(2 * range_ps / bin_ps))
    assert centers.shape == counts.shape == (n_bins,)
    assert counts.dtype == np.int64
    # Centre of a bin: the mean of the integer differences it holds.
    np.testing.assert_allclose(centers, -range_ps + np.arange(n_bins) * bin_ps + (bin_ps - 1) / 2)
    expected = np.zeros(n_bins, np.int64)
    for ta in t_a:
        for tb in t_b:
            m = (tb - ta + range_ps) // bin_ps
            if tb - ta >= -range_ps and m < n_bins:
                expected[m] += 1
    np.testing.assert_array_equal(counts, expected)


def _correlated_streams(
    seed: int, delay_ps: int, jitter_ps: float, n_pairs: int = 20_000
) -> tuple[np.ndarray, np.ndarray]:
    """Pairs with Gaussian jitter on each side plus uncorrelated background."""
    rng = np.random.default_rng(seed)
    span = 100_000_000_000  # 0.1 s in ps: 2e5 pairs/s
    emission = rng.integers(0, span, size=n_pairs)
    jitter_a = np.rint(rng.normal(0.0, jitter_ps, n_pairs)).astype(np.int64)
    jitter_b = np.rint(rng.normal(0.0, jitter_ps, n_pairs)).astype(np.int64)
    t_a = np.concatenate((emission + jitter_a, rng.integers(0, span, size=n_pairs)))
    t_b = np.concatenate((emission + delay_ps + jitter_b, rng.integers(0, span, size=n_pairs)))
    return np.sort(t_a), np.sort(t_b)


@pytest.mark.parametrize(("jitter_ps", "tolerance_bins"), [(200.0, 0.1), (20.0, 0.25)])
def test_injected_delay_is_recovered_to_a_fraction_of_a_bin(
    jitter_ps: float, tolerance_bins: float
) -> None:
    delay_ps, bin_ps = 1234, 100
    t_a, t_b = _correlated_streams(seed=7, delay_ps=delay_ps, jitter_ps=jitter_ps)
    centers, counts = cross_correlation(t_a, t_b, range_ps=5000, bin_ps=bin_ps)
    assert abs(centers[np.argmax(counts)] - delay_ps) <= bin_ps
    estimate, err = estimate_delay(centers, counts)
    assert abs(estimate - delay_ps) < tolerance_bins * bin_ps
    assert abs(estimate - delay_ps) < 4 * err
    assert 0 < err < tolerance_bins * bin_ps


def test_peak_inside_one_bin_falls_back_to_centroid() -> None:
    # Almost no jitter: the whole peak sits in the bin [1200, 1300); the
    # position inside the bin is unknowable, so the error is >= bin / sqrt(12).
    t_a, t_b = _correlated_streams(seed=8, delay_ps=1234, jitter_ps=1.0)
    centers, counts = cross_correlation(t_a, t_b, range_ps=5000, bin_ps=100)
    estimate, err = estimate_delay(centers, counts)
    assert 1200 <= estimate < 1300
    assert err >= 100 / math.sqrt(12) * 0.999


def test_estimate_delay_rejects_bad_input() -> None:
    centers = np.arange(10, dtype=float)
    with pytest.raises(ValueError, match="no peak"):
        estimate_delay(centers, np.zeros(10))
    with pytest.raises(ValueError, match="equally spaced"):
        estimate_delay(centers[::-1], np.ones(10))
    with pytest.raises(ValueError):
        estimate_delay(centers, np.ones(9))


def test_cross_correlation_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="bin_ps"):
        cross_correlation([1], [1], 10, 0)
    with pytest.raises(ValueError, match="t_b.*index 1"):
        cross_correlation([1], [5, 1], 10, 1)
