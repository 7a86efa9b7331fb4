"""The table-driven variates of qnic.sim.physics.sampling against their
true distributions (Kolmogorov-Smirnov on two million draws, fixed seed)."""

from __future__ import annotations

import numpy as np
from scipy import stats

from qnic.sim.physics.sampling import (
    exponential_knots,
    exponentials,
    normals,
    random_words,
    sorted_uniform,
    table_mean,
)

N = 2_000_000


def test_normals_follow_the_standard_normal() -> None:
    x = normals(random_words(np.random.default_rng(1), N))
    # KS distance of an exact sampler is ~ 0.87 / sqrt(N) = 4e-4 at the median;
    # p > 1e-3 rejects any table error larger than that
    assert stats.kstest(x, "norm").pvalue > 1e-3
    assert abs(x.std() - 1.0) < 4 * np.sqrt(0.5 / N)  # std error of a std: 1/sqrt(2N)
    # the tails are resolved: about 2 Phi(-4) N = 253 beyond 4 sigma
    beyond = np.count_nonzero(np.abs(x) > 4)
    assert abs(beyond - 2 * stats.norm.sf(4) * N) < 4 * np.sqrt(2 * stats.norm.sf(4) * N)


def test_exponentials_follow_the_standard_exponential() -> None:
    x = exponentials(random_words(np.random.default_rng(2), N))
    assert stats.kstest(x, "expon").pvalue > 1e-3
    assert abs(x.mean() - 1.0) < 4 / np.sqrt(N)
    assert np.count_nonzero(x > 10) > 0  # the far tail is reached


def test_sorted_uniform_is_sorted_and_uniform() -> None:
    t = sorted_uniform(np.random.default_rng(3), 200_000, 1000, 10**9)
    assert np.all(np.diff(t) >= 0)
    assert t[0] >= 1000 and t[-1] < 1000 + 10**9
    assert stats.kstest((t - 1000) / 1e9, "uniform").pvalue > 1e-3


def test_table_mean_is_the_exact_mean_of_the_sampler() -> None:
    # The sampler is linear in the low bits of a word, so the mean over all
    # 2^32 words equals the mean over each segment's lowest and highest low
    # bits; evaluate the sampler itself on those words and weight them.
    knots = exponential_knots()
    body = np.arange(1, 4095, dtype=np.uint64) << np.uint64(20)
    body_words = np.concatenate([body, body | np.uint64(0xFFFFF)]).astype(np.uint32)
    tail_j = np.arange(4096, dtype=np.uint64) << np.uint64(8)
    tails = np.concatenate([tail_j, tail_j | np.uint64(0xFFF00000)])  # segment 0 and 4095
    tail_words = np.concatenate([tails, tails | np.uint64(0xFF)]).astype(np.uint32)
    mean = (exponentials(body_words).sum() / 2 / 4096
            + exponentials(tail_words).sum() / 2 / 4096**2)
    assert abs(table_mean(knots) - mean) < 1e-12
    assert 1.0 < table_mean(knots) < 1.0001  # the piecewise-linear quantile lies above


def test_the_normal_table_is_scipy_s_ndtri_rounded_to_float32() -> None:
    from scipy.special import ndtri

    from qnic.sim.physics.sampling import _knots, normal_knots

    # the standard library's quantile (no scipy import) gives the same table
    assert np.array_equal(normal_knots(), _knots(ndtri))
